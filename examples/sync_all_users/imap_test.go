package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mailrepl/mailrepl/internal/batch"
	"github.com/mailrepl/mailrepl/internal/batchtest"
	"github.com/mailrepl/mailrepl/internal/dovecottest"
	"github.com/mailrepl/mailrepl/mailbox"
	"github.com/mailrepl/mailrepl/mailbox/imapstore"
	"github.com/mailrepl/mailrepl/mailbox/maildir"
	"github.com/mailrepl/mailrepl/uid"
	"github.com/stretchr/testify/require"
)

// imapServer is a Dovecot serving any user with one password, and a
// master user "admin".
func imapServer(t *testing.T) *dovecottest.Server {
	t.Helper()
	return dovecottest.Start(t, dovecottest.Config{MailRoot: filepath.Join(t.TempDir(), "imap"), AnyUser: true, Master: "admin"})
}

// authFile writes an auth file only its owner may read.
func authFile(t *testing.T, lines ...string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "auth")
	require.NoError(t, os.WriteFile(p, []byte(strings.Join(lines, "\n")+"\n"), 0o600))
	return p
}

// contents is what a store holds, mailbox by mailbox: each message's
// EmailID (read from its body) and flags, sorted, so that stores that
// number messages differently compare equal.
func contents(t *testing.T, r mailbox.Reader) map[string][]string {
	t.Helper()
	infos, err := r.Mailboxes(bg)
	require.NoError(t, err)
	out := map[string][]string{}
	for _, in := range infos {
		var ms []string
		for m, err := range r.Messages(bg, in.Name, uid.All) {
			require.NoError(t, err)
			rc, err := r.Open(bg, in.Name, m.UID)
			require.NoError(t, err)
			id, _, err := mailbox.ComputeEmailID(rc)
			rc.Close()
			require.NoError(t, err)
			fs := m.Flags
			if fs.Has(mailbox.Passed) {
				// Maildir's P is $Forwarded on an IMAP server.
				fs = fs.Without(mailbox.Passed).With(imapstore.Forwarded)
			}
			ms = append(ms, id.Short()+" "+fs.String())
		}
		slices.Sort(ms)
		out[in.Name] = ms
	}
	return out
}

func openIMAP(t *testing.T, srv *dovecottest.Server, user string) *imapstore.Store {
	t.Helper()
	s, err := imapstore.Dial(bg, imapstore.Options{Addr: srv.Addr, Security: imapstore.Plain, Auth: imapstore.Auth{User: user, Password: srv.Password}})
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	return s
}

func openMaildir(t *testing.T, dir string) *maildir.Store {
	t.Helper()
	s, err := maildir.Open(dir, &maildir.Options{ReadOnly: true})
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	return s
}

// runBinary runs the built program and returns its exit status and
// output.
func runBinary(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else {
		require.NoError(t, err)
	}
	return code, out.String(), errb.String()
}

// TestIMAPMigrateAndMirror migrates users' Maildirs into Dovecot over
// IMAP (logging in as a master user), then mirrors the IMAP accounts
// into new Maildirs (logging in as each user), with the built program.
// Each store ends up holding the same messages (by EmailID) with the
// same flags, and a second run copies nothing.
func TestIMAPMigrateAndMirror(t *testing.T) {
	srv := imapServer(t)
	tr := newTree(t)
	users := []string{"alice", "bob"}
	for i, u := range users {
		tr.populate(t, u, 40+10*i, uint64(7+i))
	}
	target := "imap://{user}@" + srv.Addr
	admin := authFile(t, "# Dovecot's master user", "* admin "+srv.Password)
	migrate := func() jsonOutput {
		code, stdout, stderr := runBinary(t, "-source", "maildir:"+tr.src+"/{user}", "-target", target, "-target-auth", admin,
			"-journal", tr.journal, "-mode", "migrate", "-json", "-full", "alice", "bob")
		require.Equal(t, exitOK, code, "stdout:\n%s\nstderr:\n%s", stdout, stderr)
		return decode(t, stdout)
	}
	out := migrate()
	for _, u := range users {
		require.Equal(t, batch.StatusOK, byUser(out)[u].Status, "user %s", u)
		want := contents(t, openMaildir(t, filepath.Join(tr.src, u)))
		require.Equal(t, want, contents(t, openIMAP(t, srv, u)), "user %s: the IMAP account differs from the Maildir migrated", u)
	}
	require.EqualValues(t, 90, out.Result.Total["appended"])
	out = migrate()
	require.EqualValues(t, 0, out.Result.Total["appended"], "a second migration copied mail again")

	// Mirror the IMAP accounts into new Maildirs, logging in as each.
	perUser := authFile(t, "alice "+srv.Password, "bob "+srv.Password)
	replica := filepath.Join(tr.root, "replica")
	journal := filepath.Join(tr.root, "journal2")
	mirror := func() jsonOutput {
		code, stdout, stderr := runBinary(t, "-source", target, "-source-auth", perUser, "-target", "maildir:"+replica+"/{user}",
			"-journal", journal, "-json", "-full", "-server-conns", "2", "alice", "bob")
		require.Equal(t, exitOK, code, "stdout:\n%s\nstderr:\n%s", stdout, stderr)
		return decode(t, stdout)
	}
	out = mirror()
	require.EqualValues(t, 90, out.Result.Total["appended"])
	for _, u := range users {
		want := contents(t, openIMAP(t, srv, u))
		require.Equal(t, want, contents(t, openMaildir(t, filepath.Join(replica, u))), "user %s: the mirror differs from the IMAP account", u)
	}
	out = mirror()
	require.EqualValues(t, 0, out.Result.Total["appended"], "a second mirror copied mail again")
	require.EqualValues(t, 0, out.Result.Total["expunged"])
}

// TestIMAPAuthFileRefused: an auth file that others may read is refused,
// naming it, and so is an IMAP template without one; a password never
// shows in the output.
func TestIMAPAuthFileRefused(t *testing.T) {
	tr := newTree(t)
	open := authFile(t, "alice s3cret-word")
	require.NoError(t, os.Chmod(open, 0o644))
	code, stdout, stderr := runBinary(t, "-source", "maildir:"+tr.src+"/{user}", "-target", "imaps://{user}@mail.example.org",
		"-target-auth", open, "-journal", tr.journal, "alice")
	require.Equal(t, exitUsage, code, "stdout:\n%s\nstderr:\n%s", stdout, stderr)
	require.Contains(t, stderr, open)
	require.Contains(t, stderr, "group or others may read it")
	require.NotContains(t, stdout+stderr, "s3cret")

	code, _, stderr = runBinary(t, "-source", "maildir:"+tr.src+"/{user}", "-target", "imaps://{user}@mail.example.org",
		"-journal", tr.journal, "alice")
	require.Equal(t, exitUsage, code)
	require.Contains(t, stderr, "-target-auth FILE is needed")
}

// imapCount is the number of messages of an IMAP account.
func imapCount(t *testing.T, srv *dovecottest.Server, user string) int {
	t.Helper()
	s, err := imapstore.Dial(bg, imapstore.Options{Addr: srv.Addr, Security: imapstore.Plain, Auth: imapstore.Auth{User: user, Password: srv.Password}})
	require.NoError(t, err)
	defer s.Close()
	infos, err := s.Mailboxes(bg)
	require.NoError(t, err)
	n := 0
	for _, in := range infos {
		for _, err := range s.Messages(bg, in.Name, uid.All) {
			require.NoError(t, err)
			n++
		}
	}
	return n
}

// killMidway starts the program, waits until its target holds some of
// the total messages and not all, and kills it (SIGKILL).
func killMidway(t *testing.T, args []string, total int, have func() int) {
	t.Helper()
	p := batchtest.Start(t, binary, args...)
	deadline := time.Now().Add(2 * time.Minute)
	for {
		n := have()
		if n >= total {
			t.Fatalf("the program copied all %d messages before it could be killed", total)
		}
		if n >= total/10 {
			t.Logf("killing with %d of %d messages copied", n, total)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("nothing copied in 2 minutes: %s", batchtest.Tail(p.Stderr(), 10))
		}
		time.Sleep(20 * time.Millisecond)
	}
	require.NoError(t, p.Cmd.Process.Signal(syscall.SIGKILL))
	require.Equal(t, -1, p.Wait(t))
}

// TestIMAPKill kills sync_all_users in the middle of a migration from a
// Maildir into Dovecot over IMAP, and in the middle of a mirror from
// Dovecot over IMAP into a Maildir; run again, each target holds every
// message of its source once, with its flags.
func TestIMAPKill(t *testing.T) {
	srv := imapServer(t)
	tr := newTree(t)
	const total = 300
	tr.populate(t, "carol", total, 11)
	target := "imap://{user}@" + srv.Addr
	auth := authFile(t, "carol "+srv.Password)

	into := []string{"-source", "maildir:" + tr.src + "/{user}", "-target", target, "-target-auth", auth,
		"-journal", tr.journal, "-mode", "migrate", "-json", "-rate-msgs", "100", "carol"}
	killMidway(t, into, total, func() int { return imapCount(t, srv, "carol") })
	code, stdout, stderr := runBinary(t, slices.Delete(slices.Clone(into), len(into)-3, len(into)-1)...)
	require.Equal(t, exitOK, code, "stdout:\n%s\nstderr:\n%s", stdout, stderr)
	require.Equal(t, contents(t, openMaildir(t, filepath.Join(tr.src, "carol"))), contents(t, openIMAP(t, srv, "carol")),
		"after a killed migration and a re-run, the IMAP account differs from the Maildir")

	replica := filepath.Join(tr.root, "replica")
	out := []string{"-source", target, "-source-auth", auth, "-target", "maildir:" + replica + "/{user}",
		"-journal", filepath.Join(tr.root, "journal2"), "-json", "-rate-msgs", "100", "carol"}
	killMidway(t, out, total, func() int {
		// Files come and go while the program runs: count what is there.
		n := 0
		for _, sub := range []string{"cur", "new"} {
			es, _ := os.ReadDir(filepath.Join(replica, "carol", sub))
			n += len(es)
		}
		return n
	})
	code, stdout, stderr = runBinary(t, slices.Delete(slices.Clone(out), len(out)-3, len(out)-1)...)
	require.Equal(t, exitOK, code, "stdout:\n%s\nstderr:\n%s", stdout, stderr)
	require.Equal(t, contents(t, openIMAP(t, srv, "carol")), contents(t, openMaildir(t, filepath.Join(replica, "carol"))),
		"after a killed mirror and a re-run, the Maildir differs from the IMAP account")
}
