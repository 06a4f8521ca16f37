package maildir

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mailrepl/mailrepl/mailbox"
	"github.com/mailrepl/mailrepl/uid"
)

// checkErr checks that err is a *mailbox.Error wrapping want and naming
// path (when path is not empty).
func checkErr(t *testing.T, what string, err, want error, path string) {
	t.Helper()
	var me *mailbox.Error
	switch {
	case err == nil:
		t.Errorf("%s: no error, want %v", what, want)
	case !errors.Is(err, want):
		t.Errorf("%s: %v, want it to wrap %v", what, err, want)
	case !errors.As(err, &me):
		t.Errorf("%s: %v is not a *mailbox.Error", what, err)
	case path != "" && !strings.Contains(err.Error(), path):
		t.Errorf("%s: %v does not name %s", what, err, path)
	}
}

// listErr returns the error a listing ends with.
func listErr(s *Store, name string) error {
	for _, err := range s.Messages(context.Background(), name, uid.All) {
		if err != nil {
			return err
		}
	}
	return nil
}

func TestDamagedUidlist(t *testing.T) {
	ctx := context.Background()
	g := " G0123456789abcdef0123456789abcdef"
	for _, tc := range []struct{ name, content string }{
		{"empty", ""},
		{"truncated header", "3 V12"},
		{"truncated line", "3 V12 N9" + g + "\n1 :a\n2 X1"},
		{"version 2", "2 12 9\n1 a\n"},
		{"version 4", "4 V12 N9" + g + "\n"},
		{"garbage", "\x00\x01\x02garbage\n"},
		{"unordered", "3 V12 N9" + g + "\n2 :a\n1 :b\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			s := openTest(t, root, nil)
			appendMsg(t, s, "INBOX", "Subject: keep me\n\nx\n")
			s.Close()
			p := filepath.Join(root, uidlistName)
			if err := os.WriteFile(p, []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			before := treeState(t, root)
			s = openTest(t, root, nil)
			checkErr(t, "list", listErr(s, "INBOX"), mailbox.ErrCorrupt, p)
			_, err := s.Status(ctx, "INBOX")
			checkErr(t, "status", err, mailbox.ErrCorrupt, p)
			_, err = s.Append(ctx, "INBOX", mailbox.BytesLiteral([]byte("x\n")), mailbox.AppendMeta{})
			checkErr(t, "append", err, mailbox.ErrCorrupt, p)
			checkErr(t, "expunge", s.Expunge(ctx, "INBOX", uid.All), mailbox.ErrCorrupt, p)
			_, err = s.Open(ctx, "INBOX", 1)
			checkErr(t, "open", err, mailbox.ErrCorrupt, p)
			if strings.HasPrefix(tc.name, "version") && !strings.Contains(fmt.Sprint(err), "versions 1 and 3") {
				t.Errorf("error %v does not say which versions are read", err)
			}
			if after := treeState(t, root); strings.Join(after, "\n") != strings.Join(before, "\n") {
				t.Errorf("the tree changed:\n%s\nwas\n%s", strings.Join(after, "\n"), strings.Join(before, "\n"))
			}
		})
	}
}

func TestUnparsableNamesLeftAlone(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	s := openTest(t, root, nil)
	appendMsg(t, s, "INBOX", "Subject: a\n\nx\n", mailbox.Seen)
	odd := []string{filepath.Join(root, "cur", "x:y:2,S"), filepath.Join(root, "new", ":2,"), filepath.Join(root, "cur", ".hidden")}
	for _, p := range odd {
		if err := os.WriteFile(p, []byte("odd"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(list(t, s, "INBOX")); n != 1 {
		t.Errorf("listed %d", n)
	}
	if err := s.StoreFlags(ctx, "INBOX", uid.All, mailbox.FlagsReplace, mailbox.MustFlags(mailbox.Flagged)); err != nil {
		t.Fatal(err)
	}
	if err := s.Expunge(ctx, "INBOX", uid.All); err != nil {
		t.Fatal(err)
	}
	appendMsg(t, s, "INBOX", "Subject: b\n\nx\n")
	for _, p := range odd {
		if b, err := os.ReadFile(p); err != nil || string(b) != "odd" {
			t.Errorf("%s: %q, %v", p, b, err)
		}
	}
	ul, _ := os.ReadFile(filepath.Join(root, uidlistName))
	if bytes.Contains(ul, []byte("x:y")) || bytes.Contains(ul, []byte("hidden")) {
		t.Errorf("uidlist names an unparsable file:\n%s", ul)
	}
}

func TestVanishedAndRenamedFiles(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	s := openTest(t, root, nil)
	appendMsg(t, s, "INBOX", "Subject: a\n\nx\n", mailbox.Seen)
	appendMsg(t, s, "INBOX", "Subject: b\n\nyy\n", mailbox.Seen)
	msgs := list(t, s, "INBOX")
	cur, _ := os.ReadDir(filepath.Join(root, "cur"))
	// Another program expunges the first and changes the flags of the
	// second, behind the store's back.
	os.Remove(filepath.Join(root, "cur", cur[0].Name()))
	fn, _ := parseFileName(cur[1].Name())
	os.Rename(filepath.Join(root, "cur", cur[1].Name()), filepath.Join(root, "cur", fn.withFlags("RS").String()))
	gone, kept := msgs[0].UID, msgs[1].UID
	if fmt.Sprint(cur[0].Name()) > fmt.Sprint(cur[1].Name()) {
		gone, kept = kept, gone
	}
	_, err := s.Open(ctx, "INBOX", gone)
	checkErr(t, "open of a vanished file", err, mailbox.ErrNotFound, "")
	r, err := s.Open(ctx, "INBOX", kept)
	if err != nil {
		t.Fatalf("open of a renamed file: %v", err)
	}
	io.Copy(io.Discard, r)
	r.Close()
	got := list(t, s, "INBOX")
	if len(got) != 1 || got[0].UID != kept || !got[0].Flags.Equal(mailbox.MustFlags(mailbox.Seen, mailbox.Answered)) {
		t.Errorf("after: %v", got)
	}
	// A file that vanishes while being read is a short read at the end:
	// the size check catches it.
	_, err = s.Open(ctx, "INBOX", 99)
	checkErr(t, "open of an unknown UID", err, mailbox.ErrNotFound, "")
}

func TestCorruptBodyDetected(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	s := openTest(t, root, nil)
	u := appendMsg(t, s, "INBOX", "Subject: a\n\nhello\n", mailbox.Seen)
	cur, _ := os.ReadDir(filepath.Join(root, "cur"))
	p := filepath.Join(root, "cur", cur[0].Name())
	// Same size, other bytes: the cached EmailID catches it.
	os.WriteFile(p, []byte("Subject: a\n\nHELLO\n"), 0o600)
	r, err := s.Open(ctx, "INBOX", u)
	if err != nil {
		t.Fatal(err)
	}
	_, err = io.ReadAll(r)
	r.Close()
	checkErr(t, "read of a changed body", err, mailbox.ErrCorrupt, p)
	if !errors.Is(err, mailbox.ErrEmailIDMismatch) {
		t.Errorf("%v does not wrap ErrEmailIDMismatch", err)
	}
	// Truncated: the S= size catches it.
	os.WriteFile(p, []byte("Subject: a\n"), 0o600)
	r, _ = s.Open(ctx, "INBOX", u)
	_, err = io.ReadAll(r)
	r.Close()
	checkErr(t, "read of a truncated body", err, mailbox.ErrCorrupt, p)
}

func TestNamesEscapingRoot(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	outside := t.TempDir()
	s := openTest(t, root, nil)
	for _, name := range []string{"../x", "/etc", "a\x00b", "a/../b", "..", ".", "a/./b", "", "a//b", "x/", "~root", "a.b"} {
		_, err := s.Create(ctx, name)
		checkErr(t, fmt.Sprintf("create %q", name), err, mailbox.ErrInvalidName, "")
		_, err = s.Status(ctx, name)
		checkErr(t, fmt.Sprintf("status %q", name), err, mailbox.ErrInvalidName, "")
		checkErr(t, fmt.Sprintf("list %q", name), listErr(s, name), mailbox.ErrInvalidName, "")
	}
	if ents, _ := os.ReadDir(outside); len(ents) != 0 {
		t.Errorf("something was written outside: %v", ents)
	}
	// A folder that is a symlink to a Maildir outside the root.
	other := openTest(t, outside, nil)
	appendMsg(t, other, "INBOX", "Subject: secret\n\nx\n")
	if err := os.Symlink(outside, filepath.Join(root, ".Evil")); err != nil {
		t.Fatal(err)
	}
	// And one whose cur/ leads outside.
	os.Mkdir(filepath.Join(root, ".Sneaky"), 0o700)
	os.Symlink(filepath.Join(outside, "cur"), filepath.Join(root, ".Sneaky", "cur"))
	var log testLog
	s.opts.Logger = slogTo(&log)
	infos, err := s.Mailboxes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range infos {
		if in.Name != "INBOX" {
			t.Errorf("listed %s", in.Name)
		}
	}
	if !strings.Contains(log.String(), "Evil") {
		t.Errorf("no warning about the symlink: %s", log.String())
	}
	for _, name := range []string{"Evil", "Sneaky"} {
		_, err = s.Status(ctx, name)
		checkErr(t, "status "+name, err, mailbox.ErrInvalidName, name)
		checkErr(t, "list "+name, listErr(s, name), mailbox.ErrInvalidName, name)
		_, err = s.Append(ctx, name, mailbox.BytesLiteral([]byte("x\n")), mailbox.AppendMeta{})
		checkErr(t, "append "+name, err, mailbox.ErrInvalidName, name)
		checkErr(t, "delete "+name, s.Delete(ctx, name), mailbox.ErrInvalidName, name)
	}
	if n := len(list(t, other, "INBOX")); n != 1 {
		t.Errorf("the outside Maildir has %d messages", n)
	}
}

// fullDisk returns a directory on a filesystem with little room: a tiny
// tmpfs when the test may mount one, else "" (the caller then injects
// the failure).
func fullDisk(t *testing.T) string {
	dir := t.TempDir()
	if os.Getuid() != 0 {
		return ""
	}
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size=256k"); err != nil {
		t.Logf("cannot mount a tmpfs (%v): injecting the write error instead", err)
		return ""
	}
	t.Cleanup(func() { syscall.Unmount(dir, 0) })
	return dir
}

func TestFullDisk(t *testing.T) {
	ctx := context.Background()
	dir := fullDisk(t)
	injected := dir == ""
	if injected {
		dir = t.TempDir()
	}
	s := openTest(t, dir, nil)
	u1 := appendMsg(t, s, "INBOX", "Subject: small\n\nx\n")
	before, _ := os.ReadFile(filepath.Join(dir, uidlistName))
	if injected {
		s.fault = func(step string) error {
			if step == "write message" {
				return &fs.PathError{Op: "write", Path: "tmp", Err: syscall.ENOSPC}
			}
			return nil
		}
	}
	big := bytes.Repeat([]byte("0123456789abcdef\n"), 512<<10/17)
	_, err := s.Append(ctx, "INBOX", mailbox.BytesLiteral(big), mailbox.AppendMeta{})
	if err == nil || !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("append on a full disk: %v", err)
	}
	checkErr(t, "append on a full disk", err, syscall.ENOSPC, filepath.Join(dir, "tmp"))
	for _, sub := range []string{"tmp", "cur", "new"} {
		ents, _ := os.ReadDir(filepath.Join(dir, sub))
		for _, e := range ents {
			if !strings.Contains(e.Name(), "lock") && sub == "tmp" {
				t.Errorf("left behind %s/%s", sub, e.Name())
			}
		}
	}
	after, _ := os.ReadFile(filepath.Join(dir, uidlistName))
	if !bytes.Equal(before, after) {
		t.Errorf("uidlist changed:\n%s\nwas\n%s", after, before)
	}
	if _, err := os.Stat(filepath.Join(dir, uidlistName+".lock")); err == nil {
		t.Error("lock left behind")
	}
	s.fault = nil
	if got := readMsg(t, s, "INBOX", u1); string(got) != "Subject: small\n\nx\n" {
		t.Errorf("first message: %q", got)
	}
	if u := appendMsg(t, s, "INBOX", "Subject: after\n\nx\n"); u != u1+1 {
		t.Errorf("UID after the failure: %d", u)
	}
}

func TestUidlistWriteFails(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	s := openTest(t, root, nil)
	appendMsg(t, s, "INBOX", "Subject: a\n\nx\n")
	files := func() []string {
		var out []string
		for _, l := range treeState(t, root) {
			if !strings.Contains(l, "/tmp/") {
				out = append(out, l)
			}
		}
		return out
	}
	before := files()
	s.fault = func(step string) error {
		if step == "write uidlist" {
			return &fs.PathError{Op: "write", Path: "uidlist", Err: syscall.ENOSPC}
		}
		return nil
	}
	b, err := s.Batch(ctx, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := b.Append(ctx, mailbox.BytesLiteral([]byte("Subject: b\n\nx\n")), mailbox.AppendMeta{Flags: mailbox.MustFlags(mailbox.Seen)}); err != nil {
			t.Fatal(err)
		}
	}
	checkErr(t, "commit", b.Commit(ctx), syscall.ENOSPC, filepath.Join(root, uidlistName))
	b.Close()
	s.fault = nil
	// The batch's files are gone again: the tree is as before.
	if after := files(); strings.Join(after, "\n") != strings.Join(before, "\n") {
		t.Errorf("tree after a failed commit:\n%s\nwant\n%s", strings.Join(after, "\n"), strings.Join(before, "\n"))
	}
	if n := len(list(t, s, "INBOX")); n != 1 {
		t.Errorf("listed %d", n)
	}
}

// TestPermissionErrors checks errors for directories the store may not
// write or read. As root (who may do anything), the checks run in a child
// process as an unprivileged user.
func TestPermissionErrors(t *testing.T) {
	if dir := os.Getenv("MAILDIR_TEST_PERM_DIR"); dir != "" {
		checkPermissionErrors(t, dir)
		return
	}
	root := filepath.Join(t.TempDir(), "mail")
	s := openTest(t, root, &Options{DirMode: 0o755, FileMode: 0o644})
	appendMsg(t, s, "INBOX", "Subject: a\n\nx\n", mailbox.Seen)
	s.Create(context.Background(), "Locked")
	s.Close()
	// INBOX is readable, not writable; Locked is not even readable.
	os.Chmod(filepath.Join(root, "tmp"), 0o555)
	os.Chmod(filepath.Join(root, "cur"), 0o555)
	os.Chmod(filepath.Join(root, ".Locked", "cur"), 0o000)
	os.Chmod(root, 0o555)
	t.Cleanup(func() {
		os.Chmod(root, 0o755)
		os.Chmod(filepath.Join(root, "tmp"), 0o755)
		os.Chmod(filepath.Join(root, "cur"), 0o755)
		os.Chmod(filepath.Join(root, ".Locked", "cur"), 0o755)
	})
	if os.Getuid() != 0 {
		checkPermissionErrors(t, root)
		return
	}
	// Copy the test binary where the unprivileged user can run it.
	bin := filepath.Join(t.TempDir(), "maildir.test")
	data, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	for d := filepath.Dir(bin); d != "/"; d = filepath.Dir(d) {
		if fi, err := os.Stat(d); err == nil && fi.Mode().Perm()&0o005 != 0o005 {
			os.Chmod(d, fi.Mode().Perm()|0o055)
		}
	}
	for d := root; d != "/"; d = filepath.Dir(d) {
		if fi, err := os.Stat(d); err == nil && fi.Mode().Perm()&0o001 == 0 {
			os.Chmod(d, fi.Mode().Perm()|0o011)
		}
	}
	cmd := exec.Command(bin, "-test.run=^TestPermissionErrors$", "-test.v")
	cmd.Env = append(os.Environ(), "MAILDIR_TEST_PERM_DIR="+root, "HOME=/", "TMPDIR="+os.TempDir())
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: TestPermissionErrors") {
		t.Errorf("as an unprivileged user: %v\n%s", err, out)
	}
}

func checkPermissionErrors(t *testing.T, root string) {
	ctx := context.Background()
	if _, err := os.ReadDir(filepath.Join(root, ".Locked", "cur")); !errors.Is(err, fs.ErrPermission) {
		t.Fatalf("this user can read what it should not (%v)", err)
	}
	s, err := Open(root, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if n := len(list(t, s, "INBOX")); n != 1 {
		t.Errorf("listed %d in a readable INBOX", n)
	}
	_, err = s.Append(ctx, "INBOX", mailbox.BytesLiteral([]byte("x\n")), mailbox.AppendMeta{})
	checkErr(t, "append", err, fs.ErrPermission, filepath.Join(root, "tmp"))
	err = s.StoreFlags(ctx, "INBOX", uid.All, mailbox.FlagsAdd, mailbox.MustFlags(mailbox.Flagged))
	checkErr(t, "store flags", err, fs.ErrPermission, filepath.Join(root, "cur"))
	checkErr(t, "list Locked", listErr(s, "Locked"), fs.ErrPermission, filepath.Join(root, ".Locked"))
	_, err = s.Create(ctx, "New")
	checkErr(t, "create", err, fs.ErrPermission, filepath.Join(root, ".New"))
}

// TestRenamedWhileCached changes a file's flags behind the store's back
// without the directory's time showing it (which a real rename cannot do
// to a scan the store reuses, but a clock set back could): the cached scan
// names a file that is gone, and a listing that stats the file (it has no
// S= here) finds it again.
func TestRenamedWhileCached(t *testing.T) {
	root := t.TempDir()
	s := openTest(t, root, nil)
	cur := filepath.Join(root, "cur")
	os.WriteFile(filepath.Join(cur, "1700000000.M1P1.host:2,S"), []byte("Subject: a\n\nx\n"), 0o600)
	old := time.Now().Add(-time.Minute)
	os.Chtimes(cur, old, old)
	os.Chtimes(filepath.Join(root, "new"), old, old)
	list(t, s, "INBOX") // scans, and keeps the scan
	ents, _ := os.ReadDir(cur)
	fn, _ := parseFileName(ents[0].Name())
	os.Rename(filepath.Join(cur, ents[0].Name()), filepath.Join(cur, fn.withFlags("FS").String()))
	os.Chtimes(cur, old, old)
	got := list(t, s, "INBOX")
	if len(got) != 1 || !got[0].Flags.Equal(mailbox.MustFlags(mailbox.Seen, mailbox.Flagged)) {
		t.Errorf("listed %v", got)
	}
}
