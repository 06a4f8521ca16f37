package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mailrepl/mailrepl/internal/batch"
	"github.com/mailrepl/mailrepl/internal/batchtest"
	"github.com/mailrepl/mailrepl/mailbox"
	"github.com/mailrepl/mailrepl/mailbox/maildir"
	"github.com/mailrepl/mailrepl/uid"
	"github.com/stretchr/testify/require"
)

var bg = context.Background()

// Programs built by TestMain: this one, and sync_all_users, which makes
// the replica and the journal's tombstones in the end-to-end tests.
var restoreBin, syncBin string

func TestMain(m *testing.M) {
	flag.Parse()
	dir, err := os.MkdirTemp("", "restore-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	restoreBin, syncBin = filepath.Join(dir, "restore"), filepath.Join(dir, "sync_all_users")
	for bin, pkg := range map[string]string{restoreBin: ".", syncBin: "../sync_all_users"} {
		if out, err := exec.Command("go", "build", "-o", bin, pkg).CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "build %s: %v\n%s", pkg, err, out)
			os.Exit(1)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// runInProcess runs the program in this process.
func runInProcess(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(bg, args, strings.NewReader(""), &out, &errb)
	return code, out.String(), errb.String()
}

// runBinary runs a built program and returns its exit status and output.
func runBinary(t *testing.T, bin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode(), out.String(), errb.String()
	}
	require.NoError(t, err)
	return 0, out.String(), errb.String()
}

// jsonOutput is the program's JSON output, as a test reads it.
type jsonOutput struct {
	output
	Users []jsonUser `json:"users"`
}

type jsonUser struct {
	batch.UserResult
	Report *outcome `json:"report,omitempty"`
}

func decode(t *testing.T, stdout string) jsonOutput {
	t.Helper()
	out := batchtest.DecodeJSON[jsonOutput](t, stdout)
	require.NotNil(t, out.Result)
	return out
}

func byUser(out jsonOutput) map[string]jsonUser {
	m := map[string]jsonUser{}
	for _, u := range out.Users {
		m[u.User] = u
	}
	return m
}

func openMaildir(t testing.TB, root string, readOnly bool) *maildir.Store {
	t.Helper()
	s, err := maildir.Open(root, &maildir.Options{ReadOnly: readOnly})
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	return s
}

// listAll returns the messages of every mailbox of the Maildir at root,
// read-only, by mailbox name.
func listAll(t testing.TB, root string) map[string][]mailbox.Message {
	t.Helper()
	s, err := maildir.Open(root, &maildir.Options{ReadOnly: true})
	require.NoError(t, err)
	defer s.Close()
	infos, err := s.Mailboxes(bg)
	require.NoError(t, err)
	out := map[string][]mailbox.Message{}
	for _, info := range infos {
		for m, err := range s.Messages(bg, info.Name, uid.All) {
			require.NoError(t, err)
			if m.EmailID.IsZero() {
				rc, err := s.Open(bg, info.Name, m.UID)
				require.NoError(t, err)
				b, err := io.ReadAll(rc)
				require.NoError(t, err)
				rc.Close()
				m.EmailID = mailbox.EmailIDOf(b)
			}
			out[info.Name] = append(out[info.Name], m)
		}
	}
	return out
}

// folderDir is the directory of a mailbox with an ASCII name in a
// Maildir++ tree.
func folderDir(root, name string) string {
	if name == mailbox.Inbox {
		return root
	}
	return filepath.Join(root, "."+strings.ReplaceAll(name, "/", "."))
}

// files maps the EmailIDs of a folder's message files to their paths.
func files(t testing.TB, root, folder string) map[mailbox.EmailID]string {
	t.Helper()
	dir := folderDir(root, folder)
	out := map[mailbox.EmailID]string{}
	for _, sub := range []string{"cur", "new"} {
		es, _ := os.ReadDir(filepath.Join(dir, sub))
		for _, e := range es {
			p := filepath.Join(dir, sub, e.Name())
			b, err := os.ReadFile(p)
			require.NoError(t, err)
			out[mailbox.EmailIDOf(b)] = p
		}
	}
	return out
}

// copyDir copies a tree, keeping modes and times (a backup).
func copyDir(t testing.TB, from, to string) {
	t.Helper()
	err := filepath.WalkDir(from, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, p)
		dst := filepath.Join(to, rel)
		fi, err := d.Info()
		if err != nil {
			return err
		}
		if d.IsDir() {
			return os.MkdirAll(dst, fi.Mode().Perm()|0o700)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if err := os.WriteFile(dst, b, fi.Mode().Perm()); err != nil {
			return err
		}
		return os.Chtimes(dst, fi.ModTime(), fi.ModTime())
	})
	require.NoError(t, err)
}

func uidSet(u uid.UID) uid.Set { return uid.SetOf(u) }
