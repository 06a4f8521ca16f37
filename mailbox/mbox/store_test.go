package mbox

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mailrepl/mailrepl/mailbox"
	"github.com/mailrepl/mailrepl/uid"
)

func writeFile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
}

func mustOpen(t *testing.T, path string, opts *Options) *Store {
	t.Helper()
	s, err := Open(path, opts)
	if err != nil {
		t.Fatalf("Open(%s): %v", path, err)
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

// wantError checks that err wraps target and is a *mailbox.Error naming
// the store and the given path and UID (when not empty or zero).
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

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing")
	_, err := Open(missing, nil)
	wantError(t, "Open of a missing file", err, mailbox.ErrNotFound, missing, 0)

	notMbox := filepath.Join(dir, "notes.txt")
	writeFile(t, notMbox, "Dear diary,\nFrom today on\n")
	_, err = Open(notMbox, nil)
	wantError(t, "Open of a file that is not mbox", err, mailbox.ErrCorrupt, notMbox, 0)
	var fe *FormatError
	if !errors.As(err, &fe) || fe.Offset != 0 || string(fe.Found) != "Dear " {
		t.Errorf("Open of a file that is not mbox: %v, want a FormatError at byte 0", err)
	}
	if msg := err.Error(); !strings.Contains(msg, notMbox) || !strings.Contains(msg, "byte 0") {
		t.Errorf("error %q does not name the path and the offset", msg)
	}

	for _, opts := range []*Options{{Quoting: Raw + 1}, {Quoting: -1}, {Mailbox: "../x"}, {Mailbox: "a//b"}} {
		if _, err := Open(notMbox, opts); err == nil || opts.Validate() == nil {
			t.Errorf("Open with %+v succeeded", *opts)
		}
	}
	if err := (&Options{Quoting: Raw + 1, Mailbox: "/x"}).Validate(); err == nil || !strings.Contains(err.Error(), "Quoting") || !strings.Contains(err.Error(), "Mailbox") {
		t.Errorf("Validate reports %v, want both problems", err)
	}

	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = Open(fifo, nil)
	var me *mailbox.Error
	if !errors.As(err, &me) || me.Path != fifo || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("Open of a fifo: %v", err)
	}
}

func TestSingleFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "archive")
	writeFile(t, path, "From a@b Thu Aug 22 12:46:39 2002\nStatus: RO\nX-Status: A\nSubject: one\n\n>From me\n\n"+
		"From b@c no date at all\nX-Keywords: $Forwarded Work\nSubject: two\n\nbody")
	mtime := time.Date(2021, 6, 7, 8, 9, 10, 0, time.UTC)
	if err := os.Chtimes(path, mtime, mtime); err != nil {
		t.Fatal(err)
	}
	s := mustOpen(t, path, &Options{Mailbox: "archive/2002"})
	infos, err := s.Mailboxes(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(infos) != 1 || infos[0].Name != "archive/2002" || infos[0].UIDNext != 3 || infos[0].UIDValidity == 0 {
		t.Fatalf("Mailboxes = %+v", infos)
	}
	ms := list(t, s, "archive/2002")
	want := []struct {
		body  string
		flags string
		date  time.Time
	}{
		{"Status: RO\nX-Status: A\nSubject: one\n\nFrom me\n", `\Answered \Seen`, time.Date(2002, 8, 22, 12, 46, 39, 0, time.UTC)},
		{"X-Keywords: $Forwarded Work\nSubject: two\n\nbody", `$Forwarded Work`, mtime},
	}
	if len(ms) != len(want) {
		t.Fatalf("%d messages", len(ms))
	}
	for i, m := range ms {
		b, err := read(t, s, "archive/2002", m.UID)
		if err != nil {
			t.Fatal(err)
		}
		if string(b) != want[i].body || m.Flags.String() != want[i].flags || !m.InternalDate.Equal(want[i].date) ||
			m.Size != int64(len(b)) || m.EmailID != mailbox.EmailIDOf(b) || m.UID != uid.UID(i+1) {
			t.Errorf("message %d: %v %v, body %q; want %q, %s, %v", i, m, m.InternalDate, b, want[i].body, want[i].flags, want[i].date)
		}
	}
	if _, err := s.Status(t.Context(), "INBOX"); !errors.Is(err, mailbox.ErrNotFound) {
		t.Errorf("Status(INBOX) of a file named archive/2002: %v", err)
	}
}

func TestEmptyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "empty")
	writeFile(t, path, "")
	s := mustOpen(t, path, nil)
	info, err := s.Status(t.Context(), "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	if info.UIDNext != 1 || info.UIDValidity == 0 || info.ID == "" {
		t.Fatalf("Status of an empty file = %+v", info)
	}
	if ms := list(t, s, "INBOX"); len(ms) != 0 {
		t.Fatalf("an empty file lists %v", ms)
	}
	_, err = read(t, s, "INBOX", 1)
	wantError(t, "Open(1) of an empty file", err, mailbox.ErrNotFound, "", 1)
}

func TestDirectory(t *testing.T) {
	root := filepath.Join(t.TempDir(), "Mail")
	outside := filepath.Join(t.TempDir(), "elsewhere")
	msg := "From a Thu Aug 22 12:46:39 2002\nSubject: x\n\nx\n"
	writeFile(t, outside, msg)
	writeFile(t, filepath.Join(root, "INBOX"), msg)
	writeFile(t, filepath.Join(root, "inbox.mbox"), msg)           // INBOX again
	writeFile(t, filepath.Join(root, "Sent.mbox"), msg)            // Sent
	writeFile(t, filepath.Join(root, "Sent.msf"), "// <!-- <mdb:") // Thunderbird's summary
	writeFile(t, filepath.Join(root, ".hidden"), msg)
	writeFile(t, filepath.Join(root, "notes.txt"), "not mail\n")
	writeFile(t, filepath.Join(root, "Empty"), "")
	writeFile(t, filepath.Join(root, "lists", "go.dev"), msg)                        // a dot that is no extension
	writeFile(t, filepath.Join(root, "Sent.sbd", "2002.mbx"), msg)                   // Sent/2002
	writeFile(t, filepath.Join(root, "bad\x01name"), msg)                            // no mailbox name
	must(t, os.Symlink(outside, filepath.Join(root, "Outside")))                     // leads out
	must(t, os.Symlink(filepath.Join(root, "lists"), filepath.Join(root, "Lists2"))) // a directory
	must(t, os.Symlink("Sent.mbox", filepath.Join(root, "Alias")))                   // inside: followed
	must(t, os.Symlink("nowhere", filepath.Join(root, "Broken")))
	must(t, syscall.Mkfifo(filepath.Join(root, "fifo"), 0o600))

	s := mustOpen(t, root, nil)
	infos, err := s.Mailboxes(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	wantNames := []string{"Alias", "Empty", "INBOX", "Sent", "Sent/2002", "lists/go.dev"}
	if got := names(infos); !slices.Equal(got, wantNames) {
		t.Errorf("Mailboxes = %q, want %q", got, wantNames)
	}
	skipped, err := s.Skipped(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	reasons := map[string]string{}
	for _, sk := range skipped {
		reasons[filepath.Base(sk.Path)] = sk.Reason
	}
	for name, want := range map[string]string{
		"inbox.mbox":  "mailbox INBOX is",
		"Sent.msf":    "Thunderbird",
		".hidden":     "hidden",
		"notes.txt":   "not an mbox file: byte 0",
		"bad\x01name": "no mailbox name",
		"Outside":     "outside",
		"Lists2":      "directory",
		"Broken":      "broken symlink",
		"fifo":        "not a regular file",
	} {
		if !strings.Contains(reasons[name], want) {
			t.Errorf("%s skipped with reason %q, want one with %q", name, reasons[name], want)
		}
	}
	if len(skipped) != 9 {
		t.Errorf("Skipped = %v, want 9 entries", skipped)
	}
	// The same bytes under two names: the same UIDVALIDITY, not the same ID.
	a, _ := s.Status(t.Context(), "Alias")
	b, _ := s.Status(t.Context(), "Sent")
	if a.UIDValidity != b.UIDValidity || a.ID == b.ID {
		t.Errorf("Alias %+v and Sent %+v", a, b)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func names(infos []mailbox.Info) []string {
	var out []string
	for _, i := range infos {
		out = append(out, i.Name)
	}
	return out
}

// TestFileChanges: a listing after the file changed indexes it again,
// with a new UIDVALIDITY when its messages changed (and the same when
// only its mtime did); Open by an index the file no longer matches
// fails; bytes changed behind the index's back fail the read.
func TestFileChanges(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "mbox")
	one := "From a Thu Aug 22 12:46:39 2002\nSubject: one\n\nbody one\n\n"
	writeFile(t, path, one)
	s := mustOpen(t, path, nil)
	before, err := s.Status(ctx, "INBOX")
	must(t, err)

	// mtime only: the same UIDVALIDITY after indexing again.
	later := time.Now().Add(time.Hour)
	must(t, os.Chtimes(path, later, later))
	_, err = read(t, s, "INBOX", 1)
	wantError(t, "Open after the file's mtime changed", err, mailbox.ErrUIDValidityChanged, path, 1)
	touched, err := s.Status(ctx, "INBOX")
	must(t, err)
	if touched != before {
		t.Errorf("after touch: %+v, before %+v", touched, before)
	}
	if b, err := read(t, s, "INBOX", 1); err != nil || string(b) != "Subject: one\n\nbody one\n" {
		t.Errorf("Open after indexing again: %q, %v", b, err)
	}

	// A message appended: the old index no longer holds.
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	must(t, err)
	_, err = f.WriteString("From b Thu Aug 22 12:46:40 2002\nSubject: two\n\nbody two\n\n")
	must(t, err)
	must(t, f.Close())
	_, err = read(t, s, "INBOX", 1)
	wantError(t, "Open after a message was appended", err, mailbox.ErrUIDValidityChanged, path, 1)
	if ms := list(t, s, "INBOX"); len(ms) != 2 {
		t.Fatalf("after appending, %d messages", len(ms))
	}
	after, err := s.Status(ctx, "INBOX")
	must(t, err)
	if after.UIDValidity == before.UIDValidity || after.UIDNext != 3 || after.ID == before.ID {
		t.Errorf("after appending: %+v, before %+v", after, before)
	}

	// Bytes changed in place, size and mtime kept: the read fails.
	fi, err := os.Stat(path)
	must(t, err)
	data, err := os.ReadFile(path)
	must(t, err)
	must(t, os.WriteFile(path, bytes.Replace(data, []byte("body one"), []byte("BODY ONE"), 1), 0o600))
	must(t, os.Chtimes(path, fi.ModTime(), fi.ModTime()))
	_, err = read(t, s, "INBOX", 1)
	wantError(t, "reading bytes changed in place", err, mailbox.ErrCorrupt, path, 1)
	if me := wantError(t, "reading bytes changed in place", err, mailbox.ErrEmailIDMismatch, path, 1); me.Mailbox != "INBOX" {
		t.Errorf("error names mailbox %q", me.Mailbox)
	}

	// Truncated: Open fails.
	must(t, os.Truncate(path, 10))
	_, err = read(t, s, "INBOX", 2)
	wantError(t, "Open after truncation", err, mailbox.ErrUIDValidityChanged, path, 2)

	// Gone.
	must(t, os.Remove(path))
	_, err = s.Status(ctx, "INBOX")
	wantError(t, "Status of a removed file", err, mailbox.ErrNotFound, path, 0)
}

func TestQuotingOption(t *testing.T) {
	dir := t.TempDir()
	data := "From a\n\n>From x\n>>From y\n"
	for q, want := range map[Quoting]string{
		MboxRD: "\nFrom x\n>From y\n",
		MboxO:  "\nFrom x\n>>From y\n",
		Raw:    "\n>From x\n>>From y\n",
	} {
		path := filepath.Join(dir, q.String())
		writeFile(t, path, data)
		s := mustOpen(t, path, &Options{Quoting: q})
		ms := list(t, s, "INBOX")
		b, err := read(t, s, "INBOX", 1)
		if err != nil || string(b) != want || ms[0].Size != int64(len(want)) {
			t.Errorf("%v: %q (%d), %v; want %q", q, b, ms[0].Size, err, want)
		}
	}
	if Quoting(7).String() != "Quoting(7)" {
		t.Errorf("Quoting(7).String() = %q", Quoting(7).String())
	}
}

func TestLocationOption(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mbox")
	writeFile(t, path, "From a Thu Aug 22 12:46:39 2002\n\n")
	zone := time.FixedZone("UTC+2", 2*3600)
	s := mustOpen(t, path, &Options{Location: zone})
	if ms := list(t, s, "INBOX"); !ms[0].InternalDate.Equal(time.Date(2002, 8, 22, 10, 46, 39, 0, time.UTC)) {
		t.Errorf("date in UTC+2: %v", ms[0].InternalDate)
	}
}

func TestErrorsNameTheStore(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mbox")
	writeFile(t, path, "From a\n\n")
	s := mustOpen(t, path, &Options{Name: "backup of alice"})
	_, err := read(t, s, "INBOX", 7)
	me := wantError(t, "Open(7)", err, mailbox.ErrNotFound, "", 7)
	if me.Store != "backup of alice" || me.Mailbox != "INBOX" {
		t.Errorf("error %v: store %q, mailbox %q", err, me.Store, me.Mailbox)
	}
}

// TestIndexCancelled: a cancelled context stops indexing, and the next
// call indexes from the start.
func TestIndexCancelled(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mbox")
	var b []byte
	for i := range 3000 {
		b = appendMessage(b, testFromLine, []byte(strings.Repeat("line\n", 20+i%7)), MboxRD, false)
	}
	must(t, os.WriteFile(path, b, 0o600))
	s := mustOpen(t, path, nil)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := s.Status(ctx, "INBOX")
	wantError(t, "Status with a cancelled context", err, context.Canceled, "", 0)
	if got := len(list(t, s, "INBOX")); got != 3000 {
		t.Fatalf("%d messages", got)
	}
}

// TestIndexMemory: indexing a file holds no message: a 48 MB message is
// indexed with the same few allocations as a small one.
func TestIndexMemory(t *testing.T) {
	dir := t.TempDir()
	big := filepath.Join(dir, "big")
	f, err := os.Create(big)
	must(t, err)
	_, err = f.WriteString(testFromLine + "\nSubject: big\n\n")
	must(t, err)
	line := []byte(strings.Repeat("x", 75) + "\n")
	chunk := bytes.Repeat(line, 1<<14) // 1.2 MB
	for range 40 {
		_, err = f.Write(chunk)
		must(t, err)
	}
	must(t, f.Close())
	s := mustOpen(t, big, nil)
	allocs := testing.AllocsPerRun(1, func() {
		s.folders["INBOX"].idx.Store(nil)
		if _, err := s.Status(t.Context(), "INBOX"); err != nil {
			t.Fatal(err)
		}
	})
	// Per message, not per byte: the buffer, the hasher, the index.
	if allocs > 100 {
		t.Errorf("indexing a 48 MB message took %v allocations", allocs)
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	s.folders["INBOX"].idx.Store(nil)
	if _, err := s.Status(t.Context(), "INBOX"); err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	n := after.TotalAlloc - before.TotalAlloc
	t.Logf("indexing a 48 MB message: %v allocations, %d bytes", allocs, n)
	if n > 1<<20 {
		t.Errorf("indexing a 48 MB message allocated %d bytes", n)
	}
}

// TestSetWithZero: a Set literal holding 0 (not canonical) lists from
// UID 1 and does not panic.
func TestSetWithZero(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mbox")
	writeFile(t, path, "From a\n\nFrom b\n")
	s := mustOpen(t, path, nil)
	var got []uid.UID
	for m, err := range s.Messages(t.Context(), "INBOX", uid.Set{{Start: 0, Stop: 1}}) {
		must(t, err)
		got = append(got, m.UID)
	}
	if !slices.Equal(got, []uid.UID{1}) {
		t.Errorf("Messages(0:1) = %v", got)
	}
}
