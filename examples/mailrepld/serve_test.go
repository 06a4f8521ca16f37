package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/mailrepl/mailrepl/internal/batch"
	"github.com/mailrepl/mailrepl/mailbox"
	"github.com/mailrepl/mailrepl/mailbox/mailboxtest"
	"github.com/mailrepl/mailrepl/mailbox/remote"
	"github.com/mailrepl/mailrepl/uid"
	"github.com/stretchr/testify/require"
)

// TestConformance runs the store conformance suite against remote stores
// served by a mailrepld process over TCP on 127.0.0.1, each a Maildir.
func TestConformance(t *testing.T) {
	dir := t.TempDir()
	tokenFile, _ := writeToken(t, dir)
	srv := startMaildirServer(t, filepath.Join(dir, "mail"), tokenFile, "127.0.0.1:0")
	var n atomic.Int64
	var mu sync.Mutex
	users := map[mailbox.Store]string{}
	mailboxtest.Run(t, mailboxtest.Harness{
		New: func(t *testing.T) mailbox.Store {
			user := "user" + strconv.FormatInt(n.Add(1), 10)
			s := dial(t, srv.addr, user)
			mu.Lock()
			users[s] = user
			mu.Unlock()
			return s
		},
		Reopen: func(t *testing.T, s mailbox.Store) mailbox.Store {
			mu.Lock()
			user := users[s]
			mu.Unlock()
			require.NoError(t, s.Close())
			s = dial(t, srv.addr, user)
			mu.Lock()
			users[s] = user
			mu.Unlock()
			return s
		},
		PrivateFlags: []mailbox.Flag{mailbox.Passed, "%Maildir-X"},
		BadNames:     []string{"...x", "x..", "a.b", "a/b.c", "~x"},
	})
}

// TestRefusals: a wrong token, a plaintext server off loopback, a
// plaintext client off loopback, and hostile user names sent straight to
// the server are refused with a clear error, and nothing is written.
func TestRefusals(t *testing.T) {
	dir := t.TempDir()
	tokenFile, _ := writeToken(t, dir)
	mail := filepath.Join(dir, "mail")
	require.NoError(t, os.MkdirAll(mail, 0o755))
	srv := startMaildirServer(t, mail, tokenFile, "127.0.0.1:0")

	t.Run("WrongToken", func(t *testing.T) {
		_, err := remote.Dial(bg, srv.addr, "alice", &remote.Options{Token: "not-the-token"})
		require.ErrorIs(t, err, remote.ErrUnauthenticated)
		require.NoDirExists(t, filepath.Join(mail, "alice"))
		require.NotContains(t, srv.Stderr(), "not-the-token", "a token in the log")
		require.NotContains(t, srv.Stderr(), token, "a token in the log")
	})
	t.Run("HostileUsers", func(t *testing.T) {
		for _, user := range []string{"../x", "a/b", "a\x00b", "..", ".", "", `a\b`, "x\n"} {
			_, err := remote.Dial(bg, srv.addr, user, &remote.Options{Token: token})
			require.ErrorIs(t, err, remote.ErrUnsafeUser, "user %q", user)
		}
		entries, err := os.ReadDir(dir)
		require.NoError(t, err)
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		require.ElementsMatch(t, []string{"auth", "mail", "token"}, names, "nothing written beside the template")
		entries, err = os.ReadDir(mail)
		require.NoError(t, err)
		require.Empty(t, entries, "nothing written below the template")
	})
	t.Run("PlaintextOffLoopback", func(t *testing.T) {
		p := serveProcess(t, "-listen", "0.0.0.0:0", "-store", "maildir:"+mail+"/{user}", "-token-file", tokenFile)
		require.Equal(t, 1, p.code)
		require.Contains(t, p.stderr, "plaintext off loopback")
		require.NotContains(t, p.stderr, "serving")
	})
	t.Run("PlaintextClientOffLoopback", func(t *testing.T) {
		_, err := remote.Dial(bg, "192.0.2.1:7143", "alice", &remote.Options{Token: token})
		require.ErrorIs(t, err, remote.ErrInsecure)
	})
	t.Run("Usage", func(t *testing.T) {
		p := serveProcess(t)
		require.Equal(t, 2, p.code)
		require.Contains(t, p.stderr, "-listen, -store and -token-file are required")
		code, _, stderr := runMain(t)
		require.Equal(t, 2, code)
		require.Regexp(t, `serve +expose this machine's stores`, stderr)
	})
}

type result struct {
	code   int
	stderr string
}

// serveProcess runs `mailrepld serve` in this process with args.
func serveProcess(t *testing.T, args ...string) result {
	code, _, stderr := runMain(t, append([]string{"serve"}, args...)...)
	return result{code, stderr}
}

func runMain(t *testing.T, args ...string) (int, string, string) {
	var out, errb strings.Builder
	code := run(bg, args, &out, &errb)
	return code, out.String(), errb.String()
}

// TestMirrorKeepsUIDs mirrors a Maildir with sync_all_users to a local
// Maildir and, through mailrepld, to a remote one: the remote replica has
// the source's UIDVALIDITY and UIDs, its flags (private ones too) and
// bytes, as the local one has; a second run after changes propagates
// them, a third copies nothing.
func TestMirrorKeepsUIDs(t *testing.T) {
	dir := t.TempDir()
	tokenFile, authFile := writeToken(t, dir)
	src, local, replica := filepath.Join(dir, "src"), filepath.Join(dir, "local"), filepath.Join(dir, "replica")
	populate(t, filepath.Join(src, "alice"), 150, 1)
	// A private flag, which IMAP would not carry.
	s, err := maildirOpen(filepath.Join(src, "alice"))
	require.NoError(t, err)
	require.NoError(t, s.StoreFlags(bg, mailbox.Inbox, uid.MustParseSet("1:5"), mailbox.FlagsAdd, mailbox.MustFlags(mailbox.Passed)))
	require.NoError(t, s.Close())
	srv := startMaildirServer(t, replica, tokenFile, "127.0.0.1:0")
	remoteTmpl := "mailrepl://" + srv.addr + "/{user}"

	mirror := func() {
		t.Helper()
		code, out := runSync(t, "-source", "maildir:"+src+"/{user}", "-target", "maildir:"+local+"/{user}", "-journal", filepath.Join(dir, "j1"), "alice")
		require.Equal(t, 0, code, out)
		code, out = runSync(t, "-source", "maildir:"+src+"/{user}", "-target", remoteTmpl, "-target-auth", authFile, "-journal", filepath.Join(dir, "j2"), "alice")
		require.Equal(t, 0, code, out)
		require.NotContains(t, out, token)
		compareAll(t, filepath.Join(src, "alice"), filepath.Join(local, "alice"), filepath.Join(replica, "alice"))
	}
	mirror()
	// The replica holds what the private flag became on disk.
	rs := openRO(t, filepath.Join(replica, "alice"))
	for m, err := range rs.Messages(bg, mailbox.Inbox, uid.MustParseSet("1:5")) {
		require.NoError(t, err)
		require.True(t, m.Flags.Has(mailbox.Passed), "uid %d lost %s: %s", m.UID, mailbox.Passed, m.Flags)
	}
	mutate(t, filepath.Join(src, "alice"), 7)
	mirror()
	mirror()
	dovecotSame(t, filepath.Join(src, "alice"), filepath.Join(replica, "alice"))
}

// compareAll checks that local and replica mirror src, and that the two
// replicas agree with each other too.
func compareAll(t *testing.T, src, local, replica string) {
	t.Helper()
	s, l, r := openRO(t, src), openRO(t, local), openRO(t, replica)
	for _, pair := range []struct {
		name string
		a, b mailbox.Reader
	}{{"local mirror", s, l}, {"remote mirror", s, r}, {"remote vs local", l, r}} {
		diffs, err := batch.Compare(bg, pair.a, pair.b, 10)
		require.NoError(t, err)
		require.Empty(t, diffs, pair.name)
	}
}

func maildirOpen(dir string) (mailbox.Store, error) {
	return batch.MustParseTemplate("maildir:"+filepath.Dir(dir)+"/{user}").Open(filepath.Base(dir), batch.OpenOptions{})
}
