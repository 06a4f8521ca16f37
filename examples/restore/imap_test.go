package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mailrepl/mailrepl/internal/dovecottest"
	"github.com/mailrepl/mailrepl/mailbox"
	"github.com/mailrepl/mailrepl/mailbox/imapstore"
	"github.com/mailrepl/mailrepl/uid"
	"github.com/stretchr/testify/require"
)

// TestRestoreIntoIMAP restores an mbox backup into an account on Dovecot
// over IMAP with the built program, logging in as a master user: the
// messages are delivered once, byte for byte (but for CRLF line endings),
// and a second run finds them present.
func TestRestoreIntoIMAP(t *testing.T) {
	srv := dovecottest.Start(t, dovecottest.Config{MailRoot: filepath.Join(t.TempDir(), "imap"), AnyUser: true, Master: "admin"})
	root := t.TempDir()
	msgs := []string{
		"From: a@example.org\nSubject: one\nDate: Sat, 3 Feb 2024 10:00:00 +0000\n\nfirst\n",
		"From: b@example.org\nSubject: two\nDate: Sun, 4 Feb 2024 11:00:00 +0000\n\nsecond\n>From the mbox\n",
	}
	var mb strings.Builder
	for _, m := range msgs {
		mb.WriteString("From sender@example.org Sat Feb  3 10:00:00 2024\n" + strings.ReplaceAll(m, "\n>From", "\n>>From") + "\n")
	}
	require.NoError(t, os.WriteFile(filepath.Join(root, "alice.mbox"), []byte(mb.String()), 0o644))
	auth := filepath.Join(root, "auth")
	require.NoError(t, os.WriteFile(auth, []byte("* admin "+srv.Password+"\n"), 0o600))
	args := []string{"-into", "imap://{user}@" + srv.Addr, "-into-auth", auth, "-from", "mbox:" + root + "/{user}.mbox",
		"-journal", filepath.Join(root, "journal"), "-json", "-user", "alice"}

	code, stdout, stderr := runBinary(t, restoreBin, args...)
	require.Equal(t, exitOK, code, "stdout:\n%s\nstderr:\n%s", stdout, stderr)
	require.Equal(t, 2, byUser(decode(t, stdout))["alice"].Report.Restore.Total.Restored)
	code, stdout, stderr = runBinary(t, restoreBin, args...)
	require.Equal(t, exitOK, code, "stdout:\n%s\nstderr:\n%s", stdout, stderr)
	tot := byUser(decode(t, stdout))["alice"].Report.Restore.Total
	require.Equal(t, 0, tot.Restored, "restored again")
	require.Equal(t, 2, tot.Present)

	s, err := imapstore.Dial(bg, imapstore.Options{Addr: srv.Addr, Security: imapstore.Plain, Auth: imapstore.Auth{User: "alice", Password: srv.Password}})
	require.NoError(t, err)
	defer s.Close()
	var got []mailbox.EmailID
	for m, err := range s.Messages(bg, mailbox.Inbox, uid.All) {
		require.NoError(t, err)
		rc, err := s.Open(bg, mailbox.Inbox, m.UID)
		require.NoError(t, err)
		id, _, err := mailbox.ComputeEmailID(rc)
		rc.Close()
		require.NoError(t, err)
		got = append(got, id)
	}
	require.Equal(t, []mailbox.EmailID{mailbox.EmailIDOf([]byte(msgs[0])), mailbox.EmailIDOf([]byte(msgs[1]))}, got)
}
