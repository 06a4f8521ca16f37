package loose

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mailrepl/mailrepl/mailbox"
	"github.com/mailrepl/mailrepl/uid"
)

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func writeFile(t *testing.T, path, data string) {
	t.Helper()
	must(t, os.MkdirAll(filepath.Dir(path), 0o700))
	must(t, os.WriteFile(path, []byte(data), 0o600))
}

func mustOpen(t *testing.T, dir string, opts *Options) *Store {
	t.Helper()
	s, err := Open(dir, opts)
	if err != nil {
		t.Fatalf("Open(%s): %v", dir, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func list(t *testing.T, s *Store, name string) []mailbox.Message {
	t.Helper()
	var ms []mailbox.Message
	for m, err := range s.Messages(t.Context(), name, uid.All) {
		if err != nil {
			t.Fatalf("Messages(%q): %v", name, err)
		}
		ms = append(ms, m)
	}
	return ms
}

func read(t *testing.T, s *Store, name string, u uid.UID) ([]byte, error) {
	t.Helper()
	rc, err := s.Open(t.Context(), name, u)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(rc)
}

func wantError(t *testing.T, what string, err, target error, path string, u uid.UID) *mailbox.Error {
	t.Helper()
	var me *mailbox.Error
	switch {
	case err == nil:
		t.Fatalf("%s succeeded, want an error wrapping %v", what, target)
	case !errors.Is(err, target):
		t.Fatalf("%s: %v, want an error wrapping %v", what, err, target)
	case !errors.As(err, &me):
		t.Fatalf("%s: %v (%T) is no *mailbox.Error", what, err, err)
	case me.Store == "" || me.Op == "":
		t.Fatalf("%s: %v names no store or operation", what, err)
	case path != "" && me.Path != path:
		t.Fatalf("%s: %v names path %q, want %q", what, err, me.Path, path)
	case u != 0 && me.UID != u:
		t.Fatalf("%s: %v names UID %d, want %d", what, err, me.UID, u)
	}
	return me
}

func infoNames(infos []mailbox.Info) []string {
	var out []string
	for _, i := range infos {
		out = append(out, i.Name)
	}
	return out
}

const mail = "From: a@example.org\nSubject: hello\n\nbody\n"

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing")
	_, err := Open(missing, nil)
	wantError(t, "Open of a missing directory", err, mailbox.ErrNotFound, missing, 0)
	file := filepath.Join(dir, "file")
	writeFile(t, file, mail)
	_, err = Open(file, nil)
	if me := (*mailbox.Error)(nil); !errors.As(err, &me) || me.Path != file || !strings.Contains(err.Error(), "not a directory") {
		t.Errorf("Open of a file: %v", err)
	}
	if _, err := Open(dir, &Options{Mailbox: "a//b"}); err == nil {
		t.Error("Open with Mailbox a//b succeeded")
	}
}

// TestSkipped: what is not mail, or not safe to follow, is left out and
// reported; nothing of it fails the store.
func TestSkipped(t *testing.T) {
	root := filepath.Join(t.TempDir(), "lost+found")
	outside := filepath.Join(t.TempDir(), "secret")
	writeFile(t, outside, mail)
	writeFile(t, filepath.Join(root, "#100"), mail)
	writeFile(t, filepath.Join(root, "#101"), "")
	writeFile(t, filepath.Join(root, "#102"), "\xff\xd8\xff\xe0\x00\x10JFIF\x00 image")
	writeFile(t, filepath.Join(root, "#103"), "#!/bin/sh\necho hello\n")
	writeFile(t, filepath.Join(root, "#104"), strings.Repeat("x", sniffSize+100)+"\nSubject: too late\n")
	writeFile(t, filepath.Join(root, ".hidden"), mail)
	writeFile(t, filepath.Join(root, ".Sent", "cur", "1:2,S"), mail)
	writeFile(t, filepath.Join(root, "dovecot-uidlist"), "3 V1 N1\n")
	writeFile(t, filepath.Join(root, "bad\x01dir", "m"), mail)
	writeFile(t, filepath.Join(root, "Maildir", "cur", "1700000000.M1P1.h:2,S"), mail)
	writeFile(t, filepath.Join(root, "Maildir", "tmp", "1700000001.M1P1.h"), mail)
	writeFile(t, filepath.Join(root, "Maildir", "new", "sub", "x"), mail)
	writeFile(t, filepath.Join(root, "inbox", "x"), mail) // INBOX is the root's
	must(t, os.Symlink(outside, filepath.Join(root, "#105")))
	must(t, os.Symlink("#100", filepath.Join(root, "#106")))    // inside: followed
	must(t, os.Symlink("Maildir", filepath.Join(root, "#107"))) // a directory
	must(t, os.Symlink("gone", filepath.Join(root, "#108")))
	must(t, syscall.Mkfifo(filepath.Join(root, "#109"), 0o600))

	s := mustOpen(t, root, nil)
	infos, err := s.Mailboxes(t.Context())
	must(t, err)
	if got, want := infoNames(infos), []string{"INBOX", "Maildir"}; !slices.Equal(got, want) {
		t.Errorf("Mailboxes = %q, want %q", got, want)
	}
	if n := len(list(t, s, "INBOX")); n != 2 {
		t.Errorf("INBOX holds %d messages, want #100 and #106", n)
	}
	ms := list(t, s, "Maildir")
	if len(ms) != 1 || ms[0].Flags.String() != `\Seen` {
		t.Errorf("Maildir lists %v", ms)
	}
	skipped, err := s.Skipped(t.Context())
	must(t, err)
	reasons := map[string]string{}
	for _, sk := range skipped {
		rel, _ := filepath.Rel(root, sk.Path)
		reasons[rel] = sk.Reason
	}
	for rel, want := range map[string]string{
		"#101":            "empty file",
		"#102":            "NUL byte at offset 4",
		"#103":            "no header line in its first",
		"#104":            "no header line in its first 8192 bytes",
		".hidden":         "hidden file",
		".Sent":           "hidden directory",
		"dovecot-uidlist": "control file",
		"bad\x01dir":      "no mailbox name",
		"Maildir/tmp":     "tmp/",
		"Maildir/new/sub": "directory inside",
		"inbox":           "mailbox INBOX is another directory",
		"#105":            "outside",
		"#107":            "symlink to a directory",
		"#108":            "broken symlink",
		"#109":            "not a regular file",
	} {
		if !strings.Contains(reasons[rel], want) {
			t.Errorf("%s skipped with reason %q, want one with %q", rel, reasons[rel], want)
		}
	}
	if len(skipped) != 15 {
		t.Errorf("%d skipped, want 15: %v", len(skipped), skipped)
	}
}

func TestUIDOrderAndNames(t *testing.T) {
	root := t.TempDir()
	for _, n := range []string{"box/#20", "box/#100", "box/#3", "box/cur/#1", "box/new/#2", "plain/sub/x", "plain/y"} {
		writeFile(t, filepath.Join(root, filepath.FromSlash(n)), "Subject: "+n+"\n\nx\n")
	}
	s := mustOpen(t, root, &Options{Mailbox: "Top"})
	infos, err := s.Mailboxes(t.Context())
	must(t, err)
	if got, want := infoNames(infos), []string{"Top", "box", "plain", "plain/sub"}; !slices.Equal(got, want) {
		t.Fatalf("Mailboxes = %q, want %q", got, want)
	}
	var subjects []string
	for _, m := range list(t, s, "box") {
		b, err := read(t, s, "box", m.UID)
		must(t, err)
		subjects = append(subjects, strings.TrimPrefix(strings.SplitN(string(b), "\n", 2)[0], "Subject: "))
	}
	// box is a Maildir (it has cur/ and new/): their files are its own.
	// UIDs follow the files' names, byte by byte, wherever they lie.
	if want := []string{"box/cur/#1", "box/#100", "box/new/#2", "box/#20", "box/#3"}; !slices.Equal(subjects, want) {
		t.Errorf("box lists %q, want %q", subjects, want)
	}
}

// TestOpenAfterChanges: a file removed since it was examined is not
// found; one whose size changed fails; one whose bytes changed fails at
// the end of the read when its EmailID was listed.
func TestOpenAfterChanges(t *testing.T) {
	root := t.TempDir()
	for _, n := range []string{"a", "b", "c"} {
		writeFile(t, filepath.Join(root, n), "Subject: "+n+"\n\nbody\n")
	}
	s := mustOpen(t, root, nil)
	ms := list(t, s, "INBOX")
	if len(ms) != 3 || ms[0].EmailID.IsZero() {
		t.Fatalf("listed %v", ms)
	}
	must(t, os.Remove(filepath.Join(root, "a")))
	_, err := read(t, s, "INBOX", 1)
	wantError(t, "Open of a removed file", err, mailbox.ErrNotFound, filepath.Join(root, "a"), 1)
	writeFile(t, filepath.Join(root, "b"), "Subject: b\n\nlonger body\n")
	_, err = read(t, s, "INBOX", 2)
	wantError(t, "Open of a file that grew", err, mailbox.ErrCorrupt, filepath.Join(root, "b"), 2)
	writeFile(t, filepath.Join(root, "c"), "Subject: c\n\nBODY\n")
	_, err = read(t, s, "INBOX", 3)
	me := wantError(t, "reading a file changed in place", err, mailbox.ErrEmailIDMismatch, filepath.Join(root, "c"), 3)
	if me.Op != "read" || me.Mailbox != "INBOX" {
		t.Errorf("error %v", err)
	}
	// The store still lists what it examined: a Store sees the files as
	// they were when first examined.
	if n := len(list(t, s, "INBOX")); n != 3 {
		t.Errorf("lists %d", n)
	}
}

// TestReplacedBySymlink: a file replaced by a symlink after the walk is
// not followed.
func TestReplacedBySymlink(t *testing.T) {
	root := t.TempDir()
	outside := filepath.Join(t.TempDir(), "secret")
	writeFile(t, outside, mail)
	writeFile(t, filepath.Join(root, "a"), mail)
	writeFile(t, filepath.Join(root, "b"), mail)
	s := mustOpen(t, root, nil)
	must(t, os.Remove(filepath.Join(root, "a")))
	must(t, os.Symlink(outside, filepath.Join(root, "a")))
	ms := list(t, s, "INBOX")
	if len(ms) != 1 {
		t.Fatalf("%d messages", len(ms))
	}
	skipped, err := s.Skipped(t.Context())
	must(t, err)
	if len(skipped) != 1 || !strings.Contains(skipped[0].Reason, "cannot be opened") {
		t.Errorf("Skipped = %v", skipped)
	}
	// And after the examination: Open does not follow it either.
	must(t, os.Remove(filepath.Join(root, "b")))
	must(t, os.Symlink(outside, filepath.Join(root, "b")))
	_, err = read(t, s, "INBOX", 1)
	wantError(t, "Open of a file replaced by a symlink", err, syscall.ELOOP, filepath.Join(root, "b"), 1)
}

func TestDates(t *testing.T) {
	root := t.TempDir()
	mtime := time.Date(2021, 3, 4, 5, 6, 7, 0, time.UTC)
	nameTime := time.Date(2019, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, n := range []string{"#1", "1546300800.M1P1.host:2,S"} {
		p := filepath.Join(root, n)
		writeFile(t, p, mail)
		must(t, os.Chtimes(p, mtime, mtime))
	}
	s := mustOpen(t, root, nil)
	ms := list(t, s, "INBOX")
	if len(ms) != 2 || !ms[0].InternalDate.Equal(mtime) || !ms[1].InternalDate.Equal(nameTime) {
		t.Errorf("dates %v, %v; want the mtime %v and the name's %v", ms[0].InternalDate, ms[1].InternalDate, mtime, nameTime)
	}
}

func TestIndexCancelled(t *testing.T) {
	root := t.TempDir()
	for i := range 50 {
		writeFile(t, filepath.Join(root, strings.Repeat("m", i+1)), mail)
	}
	s := mustOpen(t, root, nil)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := s.Status(ctx, "INBOX")
	wantError(t, "Status with a cancelled context", err, context.Canceled, "", 0)
	_, err = s.Skipped(ctx)
	wantError(t, "Skipped with a cancelled context", err, context.Canceled, "", 0)
	if n := len(list(t, s, "INBOX")); n != 50 {
		t.Errorf("lists %d", n)
	}
}

// TestIdentity: UIDVALIDITY and ID follow the files: the same for two
// opens, new when a file is added or its mtime changes.
func TestIdentity(t *testing.T) {
	root := t.TempDir()
	writeFile(t, filepath.Join(root, "a"), mail)
	status := func() mailbox.Info {
		s := mustOpen(t, root, nil)
		info, err := s.Status(t.Context(), "INBOX")
		must(t, err)
		return info
	}
	first := status()
	if again := status(); again != first {
		t.Errorf("two opens: %+v and %+v", first, again)
	}
	later := time.Now().Add(time.Hour)
	must(t, os.Chtimes(filepath.Join(root, "a"), later, later))
	touched := status()
	if touched.UIDValidity == first.UIDValidity || touched.ID == first.ID {
		t.Errorf("after a touch: %+v, before %+v", touched, first)
	}
	writeFile(t, filepath.Join(root, "b"), mail)
	if added := status(); added.UIDValidity == touched.UIDValidity || added.UIDNext != 3 {
		t.Errorf("after adding a file: %+v, before %+v", added, touched)
	}
}

// TestSetWithZero: a Set literal holding 0 (not canonical) lists from
// UID 1 and does not panic.
func TestSetWithZero(t *testing.T) {
	root := t.TempDir()
	writeFile(t, filepath.Join(root, "a"), mail)
	writeFile(t, filepath.Join(root, "b"), mail)
	s := mustOpen(t, root, nil)
	var got []uid.UID
	for m, err := range s.Messages(t.Context(), "INBOX", uid.Set{{Start: 0, Stop: 1}}) {
		must(t, err)
		got = append(got, m.UID)
	}
	if !slices.Equal(got, []uid.UID{1}) {
		t.Errorf("Messages(0:1) = %v", got)
	}
}
