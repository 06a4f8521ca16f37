package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/mailrepl/mailrepl/internal/batch"
	"github.com/mailrepl/mailrepl/internal/batchtest"
	"github.com/mailrepl/mailrepl/internal/mailgen"
	"github.com/mailrepl/mailrepl/mailbox/maildir"
	"github.com/mailrepl/mailrepl/replica"
	"github.com/mailrepl/mailrepl/uid"
	"github.com/stretchr/testify/require"
)

var bg = context.Background()

// binary is the program, built by TestMain for the tests that run it as
// a subprocess (killed, interrupted, run as another user).
var binary string

func TestMain(m *testing.M) {
	flag.Parse()
	dir, err := os.MkdirTemp("", "sync_all_users-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	// Readable by all: one test runs the program as an unprivileged user.
	_ = os.Chmod(dir, 0o755)
	binary = filepath.Join(dir, "sync_all_users")
	out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "build the program: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// tree is a test's directories: a source tree, a target tree and a
// journal, each user's store below the tree.
type tree struct {
	root, src, dst, journal string
}

func newTree(t *testing.T) tree {
	root := t.TempDir()
	return tree{root: root, src: filepath.Join(root, "src"), dst: filepath.Join(root, "dst"), journal: filepath.Join(root, "journal")}
}

// args are the flags that name the tree's stores and journal.
func (tr tree) args(more ...string) []string {
	return append([]string{"-source", "maildir:" + tr.src + "/{user}", "-target", "maildir:" + tr.dst + "/{user}",
		"-journal", tr.journal}, more...)
}

// populate writes n small generated messages into user's source.
func (tr tree) populate(t *testing.T, user string, n int, seed uint64) {
	t.Helper()
	s, err := maildir.Open(filepath.Join(tr.src, user), nil)
	require.NoError(t, err)
	g, err := mailgen.NewWithOptions(seed, &mailgen.Options{AttachmentRate: -1, LargeRate: -1})
	require.NoError(t, err)
	_, err = g.Populate(bg, s, mailgen.AccountSpec{Messages: n})
	require.NoError(t, err)
	require.NoError(t, s.Close())
}

// mutate changes user's source as mailgen.Mutate does.
func (tr tree) mutate(t *testing.T, user string, seed uint64, spec mailgen.MutateSpec) mailgen.Stats {
	t.Helper()
	s, err := maildir.Open(filepath.Join(tr.src, user), nil)
	require.NoError(t, err)
	st, err := mailgen.New(seed).Mutate(bg, s, seed, spec)
	require.NoError(t, err)
	require.NoError(t, s.Close())
	return st
}

// count returns the number of messages of a store, read-only (0 when
// it does not exist).
func count(t *testing.T, dir string) int {
	t.Helper()
	if _, err := os.Stat(dir); os.IsNotExist(err) {
		return 0
	}
	s, err := maildir.Open(dir, &maildir.Options{ReadOnly: true})
	require.NoError(t, err)
	defer s.Close()
	infos, err := s.Mailboxes(bg)
	require.NoError(t, err)
	n := 0
	for _, info := range infos {
		for _, err := range s.Messages(bg, info.Name, uid.All) {
			require.NoError(t, err)
			n++
		}
	}
	return n
}

// requireMirrored checks that user's target mirrors the source.
func (tr tree) requireMirrored(t *testing.T, user string) {
	t.Helper()
	src, err := maildir.Open(filepath.Join(tr.src, user), &maildir.Options{ReadOnly: true})
	require.NoError(t, err)
	defer src.Close()
	dst, err := maildir.Open(filepath.Join(tr.dst, user), &maildir.Options{ReadOnly: true})
	require.NoError(t, err)
	defer dst.Close()
	diffs, err := batch.Compare(bg, src, dst, 10)
	require.NoError(t, err)
	require.Empty(t, diffs, "user %s: the target differs from the source", user)
}

// runInProcess runs the program in this process.
func runInProcess(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(bg, args, &out, &errb)
	return code, out.String(), errb.String()
}

// decode parses the -json output.
// jsonOutput is the program's JSON output, as a test reads it.
type jsonOutput struct {
	output
	Users []jsonUser `json:"users"`
}

type jsonUser struct {
	batch.UserResult
	Report *replica.Report `json:"report,omitempty"`
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

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	require.NoError(t, os.WriteFile(path, []byte(content), 0o644))
}

// asNobody makes cmd run as the unprivileged user nobody (uid and gid
// 65534), giving it the tree below dir and a way down to it.
func asNobody(t *testing.T, cmd *exec.Cmd, dir string) {
	t.Helper()
	const nobody = 65534
	for d := dir; d != filepath.Dir(d); d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		require.NoError(t, err)
		if fi.Mode().Perm()&0o005 != 0o005 {
			require.NoError(t, os.Chmod(d, fi.Mode().Perm()|0o005))
		}
	}
	require.NoError(t, filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, nobody, nobody)
	}))
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
}
