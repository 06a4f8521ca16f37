package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/mailrepl/mailrepl/internal/batchtest"
	"github.com/mailrepl/mailrepl/internal/mailgen"
	"github.com/mailrepl/mailrepl/mailbox"
	"github.com/mailrepl/mailrepl/mailbox/maildir"
	"github.com/mailrepl/mailrepl/mailbox/remote"
	"github.com/stretchr/testify/require"
)

var bg = context.Background()

// The programs, built by TestMain: the server, and sync_all_users to
// mirror to it.
var binary, syncBinary, restoreBinary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "mailrepld-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	_ = os.Chmod(dir, 0o755) // the replicate tests run the daemon as an unprivileged user
	binary = filepath.Join(dir, "mailrepld")
	syncBinary = filepath.Join(dir, "sync_all_users")
	restoreBinary = filepath.Join(dir, "restore")
	for _, b := range []struct{ out, pkg string }{{binary, "."}, {syncBinary, "../sync_all_users"}, {restoreBinary, "../restore"}} {
		if out, err := exec.Command("go", "build", "-o", b.out, b.pkg).CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "build %s: %v\n%s", b.pkg, err, out)
			os.Exit(1)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

const token = "the-token-of-the-test"

// writeToken writes a token file, and an auth file for clients of a
// plaintext server on loopback.
func writeToken(t *testing.T, dir string) (tokenFile, authFile string) {
	t.Helper()
	tokenFile = filepath.Join(dir, "token")
	authFile = filepath.Join(dir, "auth")
	require.NoError(t, os.WriteFile(tokenFile, []byte(token+"\n"), 0o600))
	require.NoError(t, os.WriteFile(authFile, []byte(token+"\nplaintext\n"), 0o600))
	return tokenFile, authFile
}

var servingRE = regexp.MustCompile(`mailrepld: serving \S+ on (\S+),`)

// server is a mailrepld serve process.
type server struct {
	*batchtest.Process
	addr string
}

// startServer starts `mailrepld serve` with args after -listen listen;
// it returns once the server listens.
func startServer(t *testing.T, listen string, args ...string) *server {
	t.Helper()
	p := batchtest.Start(t, binary, append([]string{"serve", "-listen", listen}, args...)...)
	p.WaitForMatch(t, servingRE)
	m := servingRE.FindStringSubmatch(p.Stderr())
	return &server{Process: p, addr: m[1]}
}

// startMaildirServer serves maildir:root/{user} in plaintext on
// 127.0.0.1.
func startMaildirServer(t *testing.T, root, tokenFile, listen string, more ...string) *server {
	t.Helper()
	return startServer(t, listen, append([]string{"-store", "maildir:" + root + "/{user}", "-token-file", tokenFile}, more...)...)
}

func dial(t testing.TB, addr, user string) mailbox.Store {
	t.Helper()
	s, err := remote.Dial(bg, addr, user, &remote.Options{Token: token})
	require.NoError(t, err)
	return s
}

// populate writes n small generated messages into the Maildir at dir.
func populate(t *testing.T, dir string, n int, seed uint64) {
	t.Helper()
	s, err := maildir.Open(dir, nil)
	require.NoError(t, err)
	g, err := mailgen.NewWithOptions(seed, &mailgen.Options{AttachmentRate: -1, LargeRate: -1})
	require.NoError(t, err)
	_, err = g.Populate(bg, s, mailgen.AccountSpec{Messages: n})
	require.NoError(t, err)
	require.NoError(t, s.Close())
}

// runSync runs sync_all_users with args and returns its exit status and
// its output.
func runSync(t *testing.T, args ...string) (int, string) {
	t.Helper()
	return runProgram(t, syncBinary, args...)
}

func runProgram(t *testing.T, bin string, args ...string) (int, string) {
	t.Helper()
	out, err := exec.Command(bin, args...).CombinedOutput()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode(), string(out)
	}
	require.NoError(t, err, "%s", out)
	return 0, string(out)
}

func openRO(t *testing.T, dir string) mailbox.Store {
	t.Helper()
	s, err := maildir.Open(dir, &maildir.Options{ReadOnly: true})
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	return s
}

// mutate changes the Maildir at dir as mailgen.Mutate does.
func mutate(t *testing.T, dir string, seed uint64) {
	t.Helper()
	s, err := maildir.Open(dir, nil)
	require.NoError(t, err)
	_, err = mailgen.New(seed).Mutate(bg, s, seed, mailgen.MutateSpec{New: 10, FlagChanges: 20, Expunges: 8})
	require.NoError(t, err)
	require.NoError(t, s.Close())
}
