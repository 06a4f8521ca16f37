package loose

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mailrepl/mailrepl/internal/corpora"
	"github.com/mailrepl/mailrepl/mailbox"
	"github.com/mailrepl/mailrepl/uid"
)

// treeState records every path under dir with the mode, mtime and size
// of files.
func treeState(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		out = append(out, fmt.Sprintf("%s %v %v %d", p, fi.Mode(), fi.ModTime(), fi.Size()))
		return nil
	})
	must(t, err)
	return out
}

// readAll lists every mailbox of s and reads every message, checking
// sizes and listed EmailIDs, and returns the EmailIDs of the bodies read
// with the number of messages per mailbox.
func readAll(t *testing.T, s *Store) (map[mailbox.EmailID]int, map[string]int) {
	t.Helper()
	ids := map[mailbox.EmailID]int{}
	counts := map[string]int{}
	infos, err := s.Mailboxes(t.Context())
	must(t, err)
	for _, info := range infos {
		for _, m := range list(t, s, info.Name) {
			b, err := read(t, s, info.Name, m.UID)
			if err != nil {
				t.Fatalf("%s UID %d: %v", info.Name, m.UID, err)
			}
			id := mailbox.EmailIDOf(b)
			if int64(len(b)) != m.Size || (!m.EmailID.IsZero() && m.EmailID != id) {
				t.Fatalf("%s UID %d: %d bytes, %s; listed %d, %s", info.Name, m.UID, len(b), id.Short(), m.Size, m.EmailID.Short())
			}
			ids[id]++
			counts[info.Name]++
		}
	}
	return ids, counts
}

// TestNotmuchCorpora reads the notmuch test corpora as loose files: every
// corpus directory, one mailbox per directory level (the Maildirs' cur/
// and new/ in theirs), and then the whole tree as one flat mailbox.
// Every regular file is either listed, with its bytes, or skipped with a
// reason; nothing on disk changes.
func TestNotmuchCorpora(t *testing.T) {
	base := corpora.Notmuch(t)
	before := treeState(t, base)
	files := map[mailbox.EmailID]int{}
	nfiles := 0
	must(t, filepath.WalkDir(base, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			b, err := os.ReadFile(p)
			must(t, err)
			files[mailbox.EmailIDOf(b)]++
			nfiles++
		}
		return err
	}))

	s := mustOpen(t, base, &Options{Flat: true, Mailbox: "notmuch"})
	ids, counts := readAll(t, s)
	skipped, err := s.Skipped(t.Context())
	must(t, err)
	for _, sk := range skipped {
		t.Logf("skipped %s", sk)
		b, err := os.ReadFile(sk.Path)
		must(t, err)
		files[mailbox.EmailIDOf(b)]--
	}
	for id, n := range files {
		if n != ids[id] {
			t.Errorf("a file (%s) is there %d times (not skipped), listed %d times", id.Short(), n, ids[id])
		}
	}
	if counts["notmuch"]+len(skipped) != nfiles || counts["notmuch"] < 300 {
		t.Errorf("%d listed and %d skipped of %d files", counts["notmuch"], len(skipped), nfiles)
	}
	t.Logf("flat: %d files: %d listed, %d skipped", nfiles, counts["notmuch"], len(skipped))

	// One mailbox per level: the same messages, spread.
	s2 := mustOpen(t, base, nil)
	ids2, counts2 := readAll(t, s2)
	if !maps2Equal(ids, ids2) {
		t.Errorf("a mailbox per level lists other messages than one flat mailbox")
	}
	var names []string
	for n := range counts2 {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, want := range []string{"default", "default/bar", "default/bar/baz", "default/foo", "lkml"} {
		if counts2[want] == 0 {
			t.Errorf("mailbox %q lists nothing; mailboxes %q", want, names)
		}
	}
	if !slices.Equal(before, treeState(t, base)) {
		t.Error("reading the corpora changed them")
	}
}

func maps2Equal(a, b map[mailbox.EmailID]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// TestLostFound builds a directory as fsck leaves lost+found after a
// crash of a mail volume: spamassassin-ham messages as files named by
// inode, some in a reconnected directory, mixed with what else a file
// system holds (an image, a script, a log, an empty file, a block of
// zeros, a fragment of a message body). Every message is listed with its
// bytes and its mtime as date, in the order of the files' names;
// everything else is skipped with a reason.
func TestLostFound(t *testing.T) {
	hamDir := corpora.Ham(t)
	hams, err := filepath.Glob(filepath.Join(hamDir, "*.eml"))
	must(t, err)
	if len(hams) != corpora.HamMessages {
		t.Fatalf("%d ham messages, want %d", len(hams), corpora.HamMessages)
	}
	slices.Sort(hams)
	root := filepath.Join(t.TempDir(), "lost+found")
	type file struct {
		name string
		id   mailbox.EmailID
		date time.Time
	}
	want := map[string][]file{} // by mailbox
	date := time.Date(2002, 9, 1, 0, 0, 0, 0, time.UTC)
	for i, h := range hams {
		b, err := os.ReadFile(h)
		must(t, err)
		dir, mb := root, mailbox.Inbox
		if i%5 == 4 {
			dir, mb = filepath.Join(root, "#77"), "#77" // a reconnected directory
		}
		name := fmt.Sprintf("#%d", 1000+7*i)
		d := date.Add(time.Duration(i) * time.Minute)
		writeFile(t, filepath.Join(dir, name), string(b))
		must(t, os.Chtimes(filepath.Join(dir, name), d, d))
		want[mb] = append(want[mb], file{name, mailbox.EmailIDOf(b), d})
	}
	junk := map[string]string{
		"#5":     "\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",
		"#6":     "#!/bin/sh\nexec mail -s test root\n",
		"#7":     "",
		"#8":     string(make([]byte, 4096)),
		"#9":     "Sep  1 00:00:01 host postfix/smtpd[123]: connect from unknown\n",
		"#77/#3": strings.Repeat("the middle of a long message body\n", 300),
	}
	for n, data := range junk {
		writeFile(t, filepath.Join(root, filepath.FromSlash(n)), data)
	}

	s := mustOpen(t, root, nil)
	skipped, err := s.Skipped(t.Context())
	must(t, err)
	if len(skipped) != len(junk) {
		t.Errorf("skipped %v, want the %d junk files", skipped, len(junk))
	}
	for _, sk := range skipped {
		rel, _ := filepath.Rel(root, sk.Path)
		if _, ok := junk[filepath.ToSlash(rel)]; !ok {
			t.Errorf("skipped %s, which is mail", sk)
		}
	}
	for mb, files := range want {
		slices.SortFunc(files, func(a, b file) int { return strings.Compare(a.name, b.name) })
		ms := list(t, s, mb)
		if len(ms) != len(files) {
			t.Fatalf("%s: %d listed, want %d", mb, len(ms), len(files))
		}
		for i, m := range ms {
			b, err := read(t, s, mb, m.UID)
			must(t, err)
			if m.UID != uid.UID(i+1) || mailbox.EmailIDOf(b) != files[i].id {
				t.Fatalf("%s UID %d: not the file %s", mb, m.UID, files[i].name)
			}
			if !m.InternalDate.Equal(files[i].date) {
				t.Errorf("%s UID %d: date %v, want the mtime %v", mb, m.UID, m.InternalDate, files[i].date)
			}
		}
	}
}
