package main

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mailrepl/mailrepl/internal/batch"
	"github.com/mailrepl/mailrepl/internal/batchtest"
	"github.com/mailrepl/mailrepl/internal/dovecottest"
	"github.com/mailrepl/mailrepl/journal"
	"github.com/mailrepl/mailrepl/mailbox"
	"github.com/mailrepl/mailrepl/mailbox/maildir"
	"github.com/mailrepl/mailrepl/uid"
	"github.com/stretchr/testify/require"
)

// plainify removes every file Dovecot or the Maildir store keeps beside
// the messages (dovecot-uidlist, dovecot-keywords, …), leaving a Maildir
// as Postfix, procmail or getmail write it, or as a file-level backup of
// one holds it.
func plainify(t testing.TB, root string) {
	t.Helper()
	require.NoError(t, filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && strings.HasPrefix(d.Name(), "dovecot") {
			return os.Remove(p)
		}
		return nil
	}))
}

// messageFiles lists the message files of a Maildir tree (cur/ and new/).
func messageFiles(t testing.TB, root string) []string {
	t.Helper()
	var out []string
	require.NoError(t, filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if dir := filepath.Base(filepath.Dir(p)); !d.IsDir() && (dir == "cur" || dir == "new") {
			out = append(out, p)
		}
		return nil
	}))
	return out
}

// TestPlainMaildirMirror reproduces the first defect of issue 11 as it was
// found: a Maildir without dovecot-uidlist is mirrored (the source opened
// read-only, as by default), a file is deleted from the source's cur/, and
// the mirror runs again. The deleted message was copied back into the
// source, a dovecot-uidlist and index files appeared there, and the target
// ended a message short. Now the deletion is an expunge on the target, the
// source is left byte for byte as it was (names and modes included), and
// later runs (new mail, a flag change, nothing at all) copy only what
// changed.
func TestPlainMaildirMirror(t *testing.T) {
	tr := newTree(t)
	tr.populate(t, "alice", 60, 7)
	src := filepath.Join(tr.src, "alice")
	plainify(t, src)
	snap := func() map[string]string { return batchtest.Snapshot(t, src) }

	before := snap()
	code, stdout, stderr := runInProcess(t, tr.args("-json", "alice")...)
	require.Equal(t, exitOK, code, "stdout:\n%s\nstderr:\n%s", stdout, stderr)
	out := decode(t, stdout)
	require.Equal(t, "no sync state for this pair: first sync", out.Users[0].Report.State)
	require.EqualValues(t, 60, out.Users[0].Counts["appended"])
	batchtest.RequireSame(t, before, snap(), "the first mirror wrote into the source")
	tr.requireMirroredKept(t, "alice")

	// Delete one file from cur/, as a mail client or a user's script does.
	var cur []string
	for _, f := range messageFiles(t, src) {
		if filepath.Base(filepath.Dir(f)) == "cur" {
			cur = append(cur, f)
		}
	}
	require.NotEmpty(t, cur)
	require.NoError(t, os.Remove(cur[0]))
	before = snap()
	code, stdout, stderr = runInProcess(t, tr.args("-json", "alice")...)
	require.Equal(t, exitOK, code, "stdout:\n%s\nstderr:\n%s", stdout, stderr)
	out = decode(t, stdout)
	u := out.Users[0]
	require.EqualValues(t, 1, u.Counts["expunged"], "the deleted message is expunged from the target")
	require.Zero(t, u.Counts["appended"]+u.Counts["appended_to_source"], "nothing copied, nothing copied back")
	require.Zero(t, u.Report.HeldBack)
	require.Empty(t, u.Report.State, "the state of the last run was found")
	require.NotContains(t, stderr, "opened writable")
	batchtest.RequireSame(t, before, snap(), "the second mirror wrote into the source")
	require.Equal(t, count(t, src), count(t, filepath.Join(tr.dst, "alice")))
	require.Equal(t, 59, count(t, filepath.Join(tr.dst, "alice")))
	tr.requireMirroredKept(t, "alice")

	// New mail in new/ (as Postfix delivers it) and a flag change (a
	// rename of cur/'s file): one copy, one flag change.
	body := "From: a@example.org\r\nSubject: late\r\nMessage-ID: <late@example.org>\r\n\r\nlate\r\n"
	require.NoError(t, os.WriteFile(filepath.Join(src, "new", "1800000000.P1Q1.mx"), []byte(body), 0o600))
	require.NoError(t, os.Rename(cur[1], strings.TrimSuffix(cur[1], filepath.Base(cur[1]))+strings.SplitN(filepath.Base(cur[1]), ":", 2)[0]+":2,FS"))
	before = snap()
	code, stdout, stderr = runInProcess(t, tr.args("-json", "alice")...)
	require.Equal(t, exitOK, code, "stdout:\n%s\nstderr:\n%s", stdout, stderr)
	u = decode(t, stdout).Users[0]
	require.EqualValues(t, 1, u.Counts["appended"])
	require.EqualValues(t, 1, u.Counts["flag_changes"])
	require.Zero(t, u.Counts["expunged"]+u.Counts["appended_to_source"])
	batchtest.RequireSame(t, before, snap(), "the third mirror wrote into the source")
	tr.requireMirroredKept(t, "alice")

	// Nothing changed: nothing done.
	code, stdout, stderr = runInProcess(t, tr.args("-json", "alice")...)
	require.Equal(t, exitOK, code, stderr)
	u = decode(t, stdout).Users[0]
	require.Zero(t, u.Counts["appended"]+u.Counts["flag_changes"]+u.Counts["expunged"]+u.Counts["appended_to_source"]+u.Counts["paired"])
	batchtest.RequireSame(t, before, snap(), "the no-op mirror wrote into the source")
	for f := range snap() {
		require.NotContains(t, f, "dovecot", "a file appeared in the source")
	}
}

// TestMovedStores reproduces the second defect of issue 11 as it was
// found: two Maildirs are synced two-way, both trees and the journal are
// moved to another directory (a new mount point), and Dovecot changes
// them there: a message expunged on one side, a flag removed on the
// other, a folder renamed on one side, every message of a folder expunged
// on one side. The next sync, with templates naming the new paths,
// behaved as if the pair had never synced: the expunged message and flag
// came back, the renamed folder existed under both names and the emptied
// folder was refilled. Now it takes over the state of the old pair and
// propagates each change, copying nothing.
func TestMovedStores(t *testing.T) {
	if dovecottest.Binary() == "" {
		t.Skip("dovecot is not installed (apt-get install dovecot-core dovecot-imapd): this test changes the moved trees through Dovecot")
	}
	tr := newTree(t)
	tr.populate(t, "alice", 40, 11)
	src := filepath.Join(tr.src, "alice")
	// Two folders with mail: Notes (to rename) and Spam (to empty).
	s, err := maildir.Open(src, nil)
	require.NoError(t, err)
	for _, name := range []string{"Notes", "Spam"} {
		_, err := s.Create(bg, name)
		require.NoError(t, err)
		for i := range 4 {
			_, err := s.Append(bg, name, mailbox.BytesLiteral([]byte("Subject: "+name+" "+string(rune('a'+i))+"\r\n\r\nx\r\n")), mailbox.AppendMeta{Flags: mailbox.MustFlags(mailbox.Seen)})
			require.NoError(t, err)
		}
	}
	require.NoError(t, s.Close())
	code, stdout, stderr := runInProcess(t, tr.args("-mode", "sync", "alice")...)
	require.Equal(t, exitOK, code, "stdout:\n%s\nstderr:\n%s", stdout, stderr)

	// Move everything, as to new storage.
	moved := newTree(t)
	require.NoError(t, os.RemoveAll(moved.root))
	require.NoError(t, os.Rename(tr.root, moved.root))
	msrc, mdst := filepath.Join(moved.src, "alice"), filepath.Join(moved.dst, "alice")

	// Dovecot changes the moved trees: on the source, expunge a message
	// of INBOX, rename Work, empty Junk; on the target, remove \Seen from
	// a message of INBOX.
	srvS := dovecottest.Start(t, dovecottest.Config{MailRoot: msrc})
	srvS.Chown(t)
	c := srvS.Login(t)
	_, err = c.Select("INBOX")
	require.NoError(t, err)
	msgs, err := c.UIDFetch("1:*", "FLAGS")
	require.NoError(t, err)
	require.NotEmpty(t, msgs)
	gone := msgs[0].UID
	require.NoError(t, c.UIDStore(uidString(gone), "+FLAGS", `\Deleted`))
	require.NoError(t, c.Expunge())
	require.NoError(t, c.Rename("Notes", "Projects"))
	_, err = c.Select("Spam")
	require.NoError(t, err)
	require.NoError(t, c.UIDStore("1:*", "+FLAGS", `\Deleted`))
	require.NoError(t, c.Expunge())
	require.NoError(t, c.Logout())
	srvS.Stop()

	srvD := dovecottest.Start(t, dovecottest.Config{MailRoot: mdst})
	srvD.Chown(t)
	c = srvD.Login(t)
	_, err = c.Select("INBOX")
	require.NoError(t, err)
	var seen uid.UID
	dmsgs, err := c.UIDFetch("1:*", "FLAGS")
	require.NoError(t, err)
	for _, m := range dmsgs {
		if m.UID != gone && strings.Contains(strings.Join(m.Flags, " "), `\Seen`) {
			seen = uid.UID(m.UID)
			break
		}
	}
	require.NotZero(t, seen, "a seen message on the target")
	require.NoError(t, c.UIDStore(uidString(uint32(seen)), "-FLAGS", `\Seen`))
	require.NoError(t, c.Logout())
	srvD.Stop()

	code, stdout, stderr = runInProcess(t, moved.args("-mode", "sync", "-json", "alice")...)
	require.Equal(t, exitOK, code, "stdout:\n%s\nstderr:\n%s", stdout, stderr)
	u := decode(t, stdout).Users[0]
	require.Contains(t, u.Report.State, "took over the state of pair", "the moved stores' state was found")
	require.Zero(t, u.Counts["appended"]+u.Counts["appended_to_source"], "nothing copied: %v", u.Counts)
	require.EqualValues(t, 1+4, u.Counts["expunged"], "the INBOX message and Spam's four expunged from the target")

	for _, root := range []string{msrc, mdst} {
		st, err := maildir.Open(root, &maildir.Options{ReadOnly: true})
		require.NoError(t, err)
		infos, err := st.Mailboxes(bg)
		require.NoError(t, err)
		var names []string
		for _, i := range infos {
			names = append(names, i.Name)
		}
		require.Contains(t, names, "Projects", root)
		require.NotContains(t, names, "Notes", "%s: the renamed folder under its old name too", root)
		var inbox []uid.UID
		for m, err := range st.Messages(bg, mailbox.Inbox, uid.All) {
			require.NoError(t, err)
			inbox = append(inbox, m.UID)
			if m.UID == seen {
				require.False(t, m.Flags.Has(mailbox.Seen), "%s: the flag removed on the target came back", root)
			}
		}
		require.NotContains(t, inbox, uid.UID(gone), "%s: the expunged message came back", root)
		for _, err := range st.Messages(bg, "Spam", uid.All) {
			require.NoError(t, err)
			t.Errorf("%s: Spam was emptied on the source but holds mail", root)
		}
		require.NoError(t, st.Close())
	}
	moved.requireSynced(t, "alice")
}

func uidString(u uint32) string { return uid.UID(u).String() }

// requireMirroredKept is requireMirrored for a source without a UID
// list: it reads the source with the journal's UID keeper, as the
// program does.
func (tr tree) requireMirroredKept(t *testing.T, user string) {
	t.Helper()
	j, err := journal.Open(tr.journal, nil)
	require.NoError(t, err)
	defer j.Close()
	src, err := maildir.Open(filepath.Join(tr.src, user), &maildir.Options{ReadOnly: true, UIDs: j.UIDKeeper(user)})
	require.NoError(t, err)
	defer src.Close()
	dst, err := maildir.Open(filepath.Join(tr.dst, user), &maildir.Options{ReadOnly: true})
	require.NoError(t, err)
	defer dst.Close()
	diffs, err := batch.Compare(bg, src, dst, 10)
	require.NoError(t, err)
	require.Empty(t, diffs, "user %s: the target differs from the source", user)
}

// requireSynced checks that user's source and target hold the same
// mailboxes, messages and flags.
func (tr tree) requireSynced(t *testing.T, user string) {
	t.Helper()
	tr.requireMirrored(t, user)
}
