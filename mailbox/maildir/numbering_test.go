package maildir

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mailrepl/mailrepl/journal"
	"github.com/mailrepl/mailrepl/mailbox"
	"github.com/mailrepl/mailrepl/uid"
	"github.com/stretchr/testify/require"
)

// plainMaildir writes a Maildir++ tree with no dovecot-uidlist, as
// Postfix or procmail leave it: n messages in INBOX's cur/ and new/, and
// m in .Archive.
func plainMaildir(t *testing.T, root string, n, m int) {
	t.Helper()
	for _, d := range []string{"cur", "new", "tmp", ".Archive/cur", ".Archive/new", ".Archive/tmp"} {
		require.NoError(t, os.MkdirAll(filepath.Join(root, d), 0o700))
	}
	for i := range n {
		sub, info := "cur", ":2,S"
		if i%3 == 0 {
			sub, info = "new", ""
		}
		writePlain(t, filepath.Join(root, sub), 1700000000+i, info, fmt.Sprintf("Subject: inbox %d\r\n\r\nbody %d\r\n", i, i))
	}
	for i := range m {
		writePlain(t, filepath.Join(root, ".Archive", "cur"), 1600000000+i, ":2,RS", fmt.Sprintf("Subject: archive %d\r\n\r\n%d\r\n", i, i))
	}
}

func writePlain(t *testing.T, dir string, when int, info, body string) string {
	t.Helper()
	name := fmt.Sprintf("%d.P%dQ1.postfix%s", when, when%997, info)
	require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600))
	return name
}

// treeSnapshot records every entry of a tree: name, mode, size and, for
// files, a hash of the bytes.
func treeSnapshot(t *testing.T, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	require.NoError(t, filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		v := fi.Mode().String()
		if fi.Mode().IsRegular() {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			v += fmt.Sprintf(" %d %x", len(b), sha256.Sum256(b))
		}
		out[rel] = v
		return nil
	}))
	return out
}

type listed struct {
	info mailbox.Info
	uids map[string]uid.UID // subject → UID
}

func listPlain(t *testing.T, root string, keeper mailbox.UIDKeeper, name string) listed {
	t.Helper()
	s := openTest(t, root, &Options{ReadOnly: true, UIDs: keeper})
	defer s.Close()
	info, err := s.Status(context.Background(), name)
	require.NoError(t, err)
	out := listed{info: info, uids: map[string]uid.UID{}}
	for _, m := range list(t, s, name) {
		subj, _, _ := strings.Cut(string(readMsg(t, s, name, m.UID)), "\r\n")
		out.uids[subj] = m.UID
	}
	return out
}

// TestKeeperStableUIDs: a read-only Maildir without dovecot-uidlist keeps
// its UIDVALIDITY, ID and UIDs across opens when a keeper is given; a
// removed file is gone and changes nothing else, an added one gets the
// next UID; a tree moved elsewhere keeps all of it; nothing is written
// into the tree.
func TestKeeperStableUIDs(t *testing.T) {
	j, err := journal.Open(t.TempDir(), nil)
	require.NoError(t, err)
	defer j.Close()
	keeper := j.UIDKeeper("alice")
	root := filepath.Join(t.TempDir(), "alice")
	plainMaildir(t, root, 12, 5)
	before := treeSnapshot(t, root)

	first := listPlain(t, root, keeper, "INBOX")
	require.Len(t, first.uids, 12)
	require.Equal(t, uid.UID(13), first.info.UIDNext)
	again := listPlain(t, root, keeper, "INBOX")
	require.Equal(t, first, again)
	arch := listPlain(t, root, keeper, "Archive")
	require.NotEqual(t, first.info.ID, arch.info.ID)

	// Remove a file, add one: the others keep their UIDs.
	cur := filepath.Join(root, "cur")
	names, err := os.ReadDir(cur)
	require.NoError(t, err)
	gone := names[0].Name()
	body, err := os.ReadFile(filepath.Join(cur, gone))
	require.NoError(t, err)
	goneSubj, _, _ := strings.Cut(string(body), "\r\n")
	require.NoError(t, os.Remove(filepath.Join(cur, gone)))
	writePlain(t, filepath.Join(root, "new"), 1800000000, "", "Subject: new one\r\n\r\nx\r\n")
	// A flag change renames a file: its UID stays.
	flagged := names[1].Name()
	require.NoError(t, os.Rename(filepath.Join(cur, flagged), filepath.Join(cur, strings.TrimSuffix(flagged, ":2,S")+":2,FS")))
	changed := listPlain(t, root, keeper, "INBOX")
	require.Equal(t, first.info.UIDValidity, changed.info.UIDValidity)
	require.Equal(t, first.info.ID, changed.info.ID)
	require.Equal(t, uid.UID(14), changed.info.UIDNext)
	require.Equal(t, uid.UID(13), changed.uids["Subject: new one"])
	for subj, u := range first.uids {
		if subj == goneSubj {
			require.NotContains(t, changed.uids, subj)
			continue
		}
		require.Equal(t, u, changed.uids[subj], subj)
	}

	// Moved elsewhere, as cp -a or a remount would: the same numbering.
	moved := filepath.Join(t.TempDir(), "new-mount", "alice")
	require.NoError(t, os.MkdirAll(filepath.Dir(moved), 0o700))
	require.NoError(t, os.Rename(root, moved))
	after := listPlain(t, moved, keeper, "INBOX")
	require.Equal(t, changed, after)
	require.Equal(t, arch, listPlain(t, moved, keeper, "Archive"))

	// A renamed folder keeps its numbering.
	require.NoError(t, os.Rename(filepath.Join(moved, ".Archive"), filepath.Join(moved, ".Old")))
	renamed := listPlain(t, moved, keeper, "Old")
	require.Equal(t, arch.info.ID, renamed.info.ID)
	require.Equal(t, arch.uids, renamed.uids)

	// Nothing was ever written into the tree.
	require.NoError(t, os.Rename(filepath.Join(moved, ".Old"), filepath.Join(moved, ".Archive")))
	now := treeSnapshot(t, moved)
	delete(before, ".")
	delete(now, ".")
	for k := range before {
		if strings.HasPrefix(k, "cur/") || strings.HasPrefix(k, "new/") {
			delete(before, k)
		}
	}
	for k := range now {
		if strings.HasPrefix(k, "cur/") || strings.HasPrefix(k, "new/") {
			delete(now, k)
		}
	}
	require.Equal(t, before, now, "only the files the test changed differ")
	for k := range now {
		require.NotContains(t, k, "dovecot", "the read-only store wrote %s", k)
	}
}

// TestKeeperSeedsTheUidlist: a folder numbered read-only, then opened for
// writing, writes a dovecot-uidlist with the same UIDVALIDITY, GUID and
// UIDs, and the keeper forgets the numbering it took over.
func TestKeeperSeedsTheUidlist(t *testing.T) {
	ctx := context.Background()
	j, err := journal.Open(t.TempDir(), nil)
	require.NoError(t, err)
	defer j.Close()
	keeper := j.UIDKeeper("alice")
	root := filepath.Join(t.TempDir(), "alice")
	plainMaildir(t, root, 6, 0)
	ro := listPlain(t, root, keeper, "INBOX")

	w := openTest(t, root, &Options{UIDs: keeper})
	info, err := w.Status(ctx, mailbox.Inbox)
	require.NoError(t, err)
	require.Equal(t, ro.info.UIDValidity, info.UIDValidity)
	require.Equal(t, ro.info.ID, info.ID)
	require.Equal(t, ro.info.UIDNext, info.UIDNext)
	for _, m := range list(t, w, mailbox.Inbox) {
		subj, _, _ := strings.Cut(string(readMsg(t, w, mailbox.Inbox, m.UID)), "\r\n")
		require.Equal(t, ro.uids[subj], m.UID, subj)
	}
	u := appendMsg(t, w, mailbox.Inbox, "Subject: appended\r\n\r\nx\r\n")
	require.Equal(t, ro.info.UIDNext, u)
	require.NoError(t, w.Close())
	data, err := os.ReadFile(filepath.Join(root, uidlistName))
	require.NoError(t, err)
	require.Contains(t, string(data), fmt.Sprintf("V%d ", ro.info.UIDValidity))
	require.Contains(t, string(data), "G"+string(ro.info.ID))

	// The uidlist lost: a new numbering, under a new UIDVALIDITY, never
	// the old one with other UIDs.
	require.NoError(t, os.Remove(filepath.Join(root, uidlistName)))
	lost := listPlain(t, root, keeper, "INBOX")
	require.NotEqual(t, ro.info.UIDValidity, lost.info.UIDValidity)
}

// TestCourierUidlist: a Maildir that Courier-IMAP numbered keeps
// Courier's UIDVALIDITY and UIDs, read-only and when first written to.
func TestCourierUidlist(t *testing.T) {
	ctx := context.Background()
	root := filepath.Join(t.TempDir(), "bob")
	plainMaildir(t, root, 0, 0)
	a := writePlain(t, filepath.Join(root, "cur"), 1500000001, ":2,S", "Subject: a\r\n\r\na\r\n")
	b := writePlain(t, filepath.Join(root, "cur"), 1500000002, ":2,", "Subject: b\r\n\r\nb\r\n")
	base := func(n string) string { s, _, _ := strings.Cut(n, ":"); return s }
	courier := fmt.Sprintf("1 1234567 50\n17 %s\n42 %s\n", base(a), base(b))
	require.NoError(t, os.WriteFile(filepath.Join(root, courierUidlistName), []byte(courier), 0o600))

	ro := openTest(t, root, &Options{ReadOnly: true})
	info, err := ro.Status(ctx, mailbox.Inbox)
	require.NoError(t, err)
	require.Equal(t, uid.Validity(1234567), info.UIDValidity)
	require.Equal(t, uid.UID(50), info.UIDNext)
	var got []uid.UID
	for _, m := range list(t, ro, mailbox.Inbox) {
		got = append(got, m.UID)
	}
	require.Equal(t, []uid.UID{17, 42}, got)
	// The ID comes from what the list holds, not from the path.
	moved := filepath.Join(t.TempDir(), "bob")
	require.NoError(t, os.Rename(root, moved))
	ro2 := openTest(t, moved, &Options{ReadOnly: true})
	info2, err := ro2.Status(ctx, mailbox.Inbox)
	require.NoError(t, err)
	require.Equal(t, info.ID, info2.ID)

	w := openTest(t, moved, nil)
	winfo, err := w.Status(ctx, mailbox.Inbox)
	require.NoError(t, err)
	require.Equal(t, info.UIDValidity, winfo.UIDValidity)
	require.Equal(t, uid.UID(50), winfo.UIDNext)
	require.Equal(t, uid.UID(50), appendMsg(t, w, mailbox.Inbox, "Subject: c\r\n\r\nc\r\n"))
	data, err := os.ReadFile(filepath.Join(moved, uidlistName))
	require.NoError(t, err)
	require.Contains(t, string(data), "V1234567 ")
	require.Contains(t, string(data), "\n17 ")

	// A damaged courierimapuiddb is an error naming it.
	require.NoError(t, os.Remove(filepath.Join(moved, uidlistName)))
	require.NoError(t, os.WriteFile(filepath.Join(moved, courierUidlistName), []byte("garbage\n"), 0o600))
	ro3 := openTest(t, moved, &Options{ReadOnly: true})
	_, err = ro3.Status(ctx, mailbox.Inbox)
	require.ErrorIs(t, err, mailbox.ErrCorrupt)
	require.ErrorContains(t, err, courierUidlistName)
}
