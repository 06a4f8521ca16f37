package maildir

import (
	"bytes"
	"context"
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

// treeState records every path under dir, and the mode, mtime and size
// of files.
func treeState(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			t.Fatal(err)
		}
		fi, _ := d.Info()
		if d.IsDir() {
			out = append(out, p+"/")
			return nil
		}
		out = append(out, fmt.Sprintf("%s %v %v %d", p, fi.Mode(), fi.ModTime(), fi.Size()))
		return nil
	})
	return out
}

// TestNotmuchCorpora reads every Maildir of the notmuch test corpora
// (no tmp/, short file names without S=, no dovecot-uidlist) read-only:
// each message file is listed once, with the bytes, size and flags of its
// file, and nothing on disk changes.
func TestNotmuchCorpora(t *testing.T) {
	ctx := context.Background()
	base := corpora.Notmuch(t)
	var roots []string
	filepath.WalkDir(base, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() && d.Name() == "cur" {
			roots = append(roots, filepath.Dir(p))
		}
		return nil
	})
	if len(roots) < 5 {
		t.Fatalf("found only %d Maildirs under %s", len(roots), base)
	}
	before := treeState(t, base)
	total := 0
	for _, root := range roots {
		s := openTest(t, root, &Options{ReadOnly: true})
		want := map[string][]byte{} // file name → bytes
		for _, sub := range []string{"cur", "new"} {
			ents, _ := os.ReadDir(filepath.Join(root, sub))
			for _, e := range ents {
				b, err := os.ReadFile(filepath.Join(root, sub, e.Name()))
				if err != nil {
					t.Fatal(err)
				}
				want[e.Name()] = b
			}
		}
		msgs := list(t, s, "INBOX")
		if len(msgs) != len(want) {
			t.Errorf("%s: listed %d messages, the Maildir has %d files", root, len(msgs), len(want))
		}
		seen := map[string]bool{}
		for _, m := range msgs {
			body := readMsg(t, s, "INBOX", m.UID)
			var name string
			for n, b := range want {
				if bytes.Equal(b, body) && !seen[n] {
					name = n
					break
				}
			}
			if name == "" {
				t.Errorf("%s uid %d: bytes match no file", root, m.UID)
				continue
			}
			seen[name] = true
			fn, _ := parseFileName(name)
			chars, _ := fn.flagChars()
			wantFlags := (&flagDecoder{kw: &keywords{}}).decode(chars)
			if m.Size != int64(len(body)) || !m.Flags.Equal(wantFlags) || m.InternalDate.IsZero() {
				t.Errorf("%s uid %d (%s): size %d flags %s date %v", root, m.UID, name, m.Size, m.Flags, m.InternalDate)
			}
		}
		total += len(msgs)
		info, err := s.Status(ctx, "INBOX")
		if err != nil || info.UIDNext != uid.UID(len(msgs)+1) {
			t.Errorf("%s: status %+v, %v", root, info, err)
		}
		if _, err := s.Append(ctx, "INBOX", mailbox.BytesLiteral([]byte("x\n")), mailbox.AppendMeta{}); !errorsIs(err, mailbox.ErrReadOnly) {
			t.Errorf("append to a read-only store: %v", err)
		}
	}
	if after := treeState(t, base); !slices.Equal(before, after) {
		t.Error("reading the corpora changed them")
	}
	if total < 250 {
		t.Errorf("read %d messages in all", total)
	}
}

// TestNotmuchCopyReadWrite opens a copy of the default notmuch corpus
// read-write: the store gives UIDs in Dovecot's order, publishes them in a
// new dovecot-uidlist, creates tmp/ only when it delivers, and leaves the
// non-Maildir++ subdirectories alone.
func TestNotmuchCopyReadWrite(t *testing.T) {
	ctx := context.Background()
	src := corpora.Notmuch(t, "default")
	root := filepath.Join(t.TempDir(), "default")
	if err := os.CopyFS(root, os.DirFS(src)); err != nil {
		t.Fatal(err)
	}
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if d.IsDir() {
			os.Chmod(p, 0o755)
		} else {
			os.Chmod(p, 0o644)
		}
		return nil
	})
	s := openTest(t, root, nil)
	msgs := list(t, s, "INBOX")
	var names []string
	for _, sub := range []string{"cur", "new"} {
		ents, _ := os.ReadDir(filepath.Join(root, sub))
		for _, e := range ents {
			fn, _ := parseFileName(e.Name())
			names = append(names, fn.base)
		}
	}
	slices.SortFunc(names, compareBase)
	data, err := os.ReadFile(filepath.Join(root, uidlistName))
	if err != nil {
		t.Fatal(err)
	}
	l, _, err := parseUidlist(data)
	if err != nil {
		t.Fatal(err)
	}
	if len(l.recs) != len(names) || len(msgs) != len(names) {
		t.Fatalf("uidlist has %d lines, listed %d, files %d", len(l.recs), len(msgs), len(names))
	}
	for i, r := range l.recs {
		if r.uid != uid.UID(i+1) || r.base != names[i] {
			t.Errorf("line %d: %d %s, want %d %s", i, r.uid, r.base, i+1, names[i])
		}
	}
	if _, err := os.Stat(filepath.Join(root, "tmp")); err == nil {
		t.Error("tmp/ created before any delivery")
	}
	u, err := s.Append(ctx, "INBOX", mailbox.BytesLiteral([]byte("Subject: new\n\nx\n")), mailbox.AppendMeta{})
	if err != nil || u != uid.UID(len(names)+1) {
		t.Fatalf("Append = %d, %v", u, err)
	}
	if fi, err := os.Stat(filepath.Join(root, "tmp")); err != nil || !fi.IsDir() {
		t.Errorf("tmp/ after delivery: %v", err)
	}
	infos, _ := s.Mailboxes(ctx)
	if len(infos) != 1 {
		t.Errorf("Mailboxes = %v", infos)
	}
}

// TestSpamAssassinHam stores the repository's spamassassin ham, in
// batches, and reads every message back byte for byte.
func TestSpamAssassinHam(t *testing.T) {
	ctx := context.Background()
	dir := corpora.Ham(t)
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), ".eml") {
			files = append(files, e.Name())
		}
	}
	if len(files) != corpora.HamMessages {
		t.Fatalf("%d .eml files in %s", len(files), dir)
	}
	s := openTest(t, t.TempDir(), nil)
	byUID := make(map[uid.UID]string, len(files))
	date := time.Date(2002, 10, 1, 0, 0, 0, 0, time.UTC)
	for start := 0; start < len(files); start += 200 {
		b, err := s.Batch(ctx, "INBOX")
		if err != nil {
			t.Fatal(err)
		}
		for i, name := range files[start:min(start+200, len(files))] {
			body, err := os.ReadFile(filepath.Join(dir, name))
			if err != nil {
				t.Fatal(err)
			}
			u, err := b.Append(ctx, mailbox.BytesLiteral(body), mailbox.AppendMeta{
				EmailID: mailbox.EmailIDOf(body), InternalDate: date.Add(time.Duration(start+i) * time.Minute),
			})
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			byUID[u] = name
		}
		if err := b.Commit(ctx); err != nil {
			t.Fatal(err)
		}
	}
	msgs := list(t, s, "INBOX")
	if len(msgs) != len(files) {
		t.Fatalf("listed %d, stored %d", len(msgs), len(files))
	}
	for _, m := range msgs {
		want, err := os.ReadFile(filepath.Join(dir, byUID[m.UID]))
		if err != nil {
			t.Fatal(err)
		}
		got := readMsg(t, s, "INBOX", m.UID)
		if !bytes.Equal(got, want) || m.Size != int64(len(want)) || m.EmailID != mailbox.EmailIDOf(want) {
			t.Errorf("uid %d (%s): %d bytes, size %d, EmailID %s; want %d bytes", m.UID, byUID[m.UID], len(got), m.Size, m.EmailID.Short(), len(want))
		}
	}
}
