package maildir

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mailrepl/mailrepl/mailbox"
	"github.com/mailrepl/mailrepl/uid"
)

// testLog collects the store's warnings.
type testLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *testLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *testLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func openTest(t testing.TB, root string, opts *Options) *Store {
	t.Helper()
	s, err := Open(root, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func list(t testing.TB, s *Store, name string) []mailbox.Message {
	t.Helper()
	var out []mailbox.Message
	for m, err := range s.Messages(context.Background(), name, uid.All) {
		if err != nil {
			t.Fatalf("list %s: %v", name, err)
		}
		out = append(out, m)
	}
	return out
}

func readMsg(t testing.TB, s *Store, name string, u uid.UID) []byte {
	t.Helper()
	r, err := s.Open(context.Background(), name, u)
	if err != nil {
		t.Fatalf("open %s %d: %v", name, u, err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("read %s %d: %v", name, u, err)
	}
	return b
}

func appendMsg(t testing.TB, s *Store, name string, body string, flags ...mailbox.Flag) uid.UID {
	t.Helper()
	u, err := s.Append(context.Background(), name, mailbox.BytesLiteral([]byte(body)), mailbox.AppendMeta{Flags: mailbox.MustFlags(flags...)})
	if err != nil {
		t.Fatalf("append to %s: %v", name, err)
	}
	return u
}

func TestAppendListOpen(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	s := openTest(t, root, nil)
	body := "Subject: hi\n\nbody\n"
	date := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
	u, err := s.Append(ctx, "INBOX", mailbox.BytesLiteral([]byte(body)), mailbox.AppendMeta{
		Flags:        mailbox.MustFlags(mailbox.Seen, "$Forwarded", mailbox.Passed, "%Maildir-X"),
		InternalDate: date,
	})
	if err != nil || u != 1 {
		t.Fatalf("Append = %d, %v", u, err)
	}
	u2 := appendMsg(t, s, "INBOX", "Subject: two\n\nx\n")
	if u2 != 2 {
		t.Fatalf("second UID %d", u2)
	}
	msgs := list(t, s, "INBOX")
	if len(msgs) != 2 {
		t.Fatalf("listed %v", msgs)
	}
	m := msgs[0]
	want := mailbox.MustFlags(mailbox.Seen, "$Forwarded", mailbox.Passed, "%Maildir-X")
	if !m.Flags.Equal(want) || m.Size != int64(len(body)) || !m.InternalDate.Equal(date) || m.EmailID != mailbox.EmailIDOf([]byte(body)) {
		t.Errorf("message = %+v", m)
	}
	if got := readMsg(t, s, "INBOX", 1); string(got) != body {
		t.Errorf("body = %q", got)
	}
	// On disk: cur/ with sorted flags, new/ for the flagless one.
	cur, _ := os.ReadDir(filepath.Join(root, "cur"))
	if len(cur) != 1 || !strings.HasSuffix(cur[0].Name(), ",S=18,W=21:2,PSXa") {
		t.Errorf("cur/ = %v", cur)
	}
	nw, _ := os.ReadDir(filepath.Join(root, "new"))
	if len(nw) != 1 || strings.Contains(nw[0].Name(), ":") {
		t.Errorf("new/ = %v", nw)
	}
	kw, _ := os.ReadFile(filepath.Join(root, "dovecot-keywords"))
	if string(kw) != "0 $Forwarded\n" {
		t.Errorf("dovecot-keywords = %q", kw)
	}
	ul, _ := os.ReadFile(filepath.Join(root, uidlistName))
	if !strings.HasPrefix(string(ul), "3 V") || !strings.Contains(string(ul), "1 X1:") {
		t.Errorf("uidlist = %q", ul)
	}
	info, err := s.Status(ctx, "INBOX")
	if err != nil || info.UIDNext != 3 || info.UIDValidity == 0 || len(info.ID) != 32 {
		t.Errorf("Status = %+v, %v", info, err)
	}
	// Reopened, all the same.
	s.Close()
	s2 := openTest(t, root, nil)
	if got := list(t, s2, "INBOX"); !slices.EqualFunc(got, msgs, func(a, b mailbox.Message) bool {
		return a.UID == b.UID && a.Flags.Equal(b.Flags) && a.Size == b.Size && a.InternalDate.Equal(b.InternalDate) && a.EmailID == b.EmailID
	}) {
		t.Errorf("after reopen %v, want %v", got, msgs)
	}
}

func TestFlagsAndExpunge(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, t.TempDir(), nil)
	for i := range 5 {
		appendMsg(t, s, "INBOX", "Subject: "+strings.Repeat("x", i)+"\n\nb\n")
	}
	if err := s.StoreFlags(ctx, "INBOX", uid.MustParseSet("2:4"), mailbox.FlagsAdd, mailbox.MustFlags(mailbox.Flagged, "work")); err != nil {
		t.Fatal(err)
	}
	if err := s.StoreFlags(ctx, "INBOX", uid.MustParseSet("3"), mailbox.FlagsRemove, mailbox.MustFlags(mailbox.Flagged)); err != nil {
		t.Fatal(err)
	}
	if err := s.StoreFlags(ctx, "INBOX", uid.MustParseSet("5"), mailbox.FlagsReplace, mailbox.MustFlags(mailbox.Seen)); err != nil {
		t.Fatal(err)
	}
	if err := s.Expunge(ctx, "INBOX", uid.MustParseSet("1,4")); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range list(t, s, "INBOX") {
		got = append(got, m.UID.String()+":"+m.Flags.String())
	}
	want := []string{`2:\Flagged work`, `3:work`, `5:\Seen`}
	if !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
	if _, err := s.Open(ctx, "INBOX", 4); !errors.Is(err, mailbox.ErrNotFound) {
		t.Errorf("Open of expunged = %v", err)
	}
	info, _ := s.Status(ctx, "INBOX")
	if info.UIDNext != 6 {
		t.Errorf("UIDNEXT %d", info.UIDNext)
	}
	if u := appendMsg(t, s, "INBOX", "x\n"); u != 6 {
		t.Errorf("UID after expunge = %d", u)
	}
}

func TestMailboxesCreateRenameDelete(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	s := openTest(t, root, nil)
	for _, n := range []string{"Work", "Work/2024", "Été", "a&b"} {
		if _, err := s.Create(ctx, n); err != nil {
			t.Fatalf("Create %s: %v", n, err)
		}
	}
	if _, err := s.Create(ctx, "Work"); !errors.Is(err, mailbox.ErrExists) {
		t.Errorf("Create twice = %v", err)
	}
	if _, err := s.Create(ctx, "a.b"); !errors.Is(err, mailbox.ErrInvalidName) {
		t.Errorf("Create a.b = %v", err)
	}
	if err := s.Subscribe(ctx, "Work/2024", true); err != nil {
		t.Fatal(err)
	}
	appendMsg(t, s, "Work/2024", "x\n")
	before, _ := s.Status(ctx, "Work/2024")
	if err := s.Rename(ctx, "Work", "Job"); err != nil {
		t.Fatal(err)
	}
	after, err := s.Status(ctx, "Job/2024")
	if err != nil || after.ID != before.ID || after.UIDValidity != before.UIDValidity || !after.Subscribed {
		t.Errorf("after rename %+v (%v), before %+v", after, err, before)
	}
	if err := s.Delete(ctx, "Job"); !errors.Is(err, mailbox.ErrHasChildren) {
		t.Errorf("Delete with children = %v", err)
	}
	if err := s.Delete(ctx, "Job/2024"); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, "INBOX"); !errors.Is(err, mailbox.ErrNotAllowed) {
		t.Errorf("Delete INBOX = %v", err)
	}
	infos, err := s.Mailboxes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, in := range infos {
		names = append(names, in.Name)
	}
	if want := []string{"INBOX", "Job", "a&b", "Été"}; !slices.Equal(names, want) {
		t.Errorf("Mailboxes = %q, want %q", names, want)
	}
	if _, err := os.Stat(filepath.Join(root, ".&AMk-t&AOk-", "maildirfolder")); err != nil {
		t.Error(err)
	}
	subs, _ := os.ReadFile(filepath.Join(root, subscriptionsName))
	if string(subs) != "V\t2\n\n" {
		t.Errorf("subscriptions = %q", subs)
	}
}

func TestWarnings(t *testing.T) {
	root := t.TempDir()
	var log testLog
	s := openTest(t, root, &Options{Logger: slog.New(slog.NewTextHandler(&log, nil))})
	appendMsg(t, s, "INBOX", "x\n")
	os.WriteFile(filepath.Join(root, "cur", "a:b:2,S"), []byte("junk"), 0o600)
	os.WriteFile(filepath.Join(root, "cur", ".hidden"), []byte("junk"), 0o600)
	if got := list(t, s, "INBOX"); len(got) != 1 {
		t.Errorf("listed %v", got)
	}
	if !strings.Contains(log.String(), "a:b:2,S") || strings.Contains(log.String(), ".hidden") {
		t.Errorf("log = %s", log.String())
	}
	if _, err := os.Stat(filepath.Join(root, "cur", "a:b:2,S")); err != nil {
		t.Error("unparsable file touched:", err)
	}
}

func errorsIs(err, target error) bool { return errors.Is(err, target) }

func slogTo(w io.Writer) *slog.Logger { return slog.New(slog.NewTextHandler(w, nil)) }

// TestUIDValidityAboveResets checks that a mailbox made after a replica
// took a UIDVALIDITY from its source gets one above it, as the root's
// dovecot-uidvalidity counter is raised past it.
func TestUIDValidityAboveResets(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, t.TempDir(), nil)
	info, err := s.Create(ctx, "A")
	if err != nil {
		t.Fatal(err)
	}
	high := info.UIDValidity + 1000
	if err := s.ResetUIDs(ctx, "A", high, nil); err != nil {
		t.Fatal(err)
	}
	b, err := s.Create(ctx, "B")
	if err != nil || b.UIDValidity <= high {
		t.Fatalf("Create after ResetUIDs(%d) gave %+v, %v", high, b, err)
	}
}

// TestUidlistUpgrade opens a folder whose dovecot-uidlist is version 1
// (no mailbox GUID): UIDs are kept, the file is written back as version
// 3 with a GUID, as Dovecot does, and the GUID is the mailbox ID from then
// on.
func TestUidlistUpgrade(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	for _, sub := range []string{"cur", "new"} {
		os.Mkdir(filepath.Join(root, sub), 0o700)
	}
	os.WriteFile(filepath.Join(root, "cur", "1700000000.M1P1.h:2,S"), []byte("Subject: a\n\nx\n"), 0o600)
	os.WriteFile(filepath.Join(root, "cur", "1600000000.M1P1.h:2,"), []byte("Subject: b\n\nx\n"), 0o600)
	os.WriteFile(filepath.Join(root, uidlistName), []byte("1 777 40\n17 1700000000.M1P1.h:2,S\n"), 0o600)
	s := openTest(t, root, nil)
	msgs := list(t, s, "INBOX")
	if len(msgs) != 2 || msgs[0].UID != 17 || msgs[1].UID != 40 {
		t.Fatalf("listed %v", msgs)
	}
	info, err := s.Status(ctx, "INBOX")
	if err != nil || info.UIDValidity != 777 || info.UIDNext != 41 || len(info.ID) != 32 {
		t.Fatalf("Status = %+v, %v", info, err)
	}
	data, _ := os.ReadFile(filepath.Join(root, uidlistName))
	if want := "3 V777 N41 G" + string(info.ID) + "\n17 :1700000000.M1P1.h\n40 :1600000000.M1P1.h\n"; string(data) != want {
		t.Errorf("uidlist = %q, want %q", data, want)
	}
	s.Close()
	s2 := openTest(t, root, nil)
	if again, _ := s2.Status(ctx, "INBOX"); again.ID != info.ID {
		t.Errorf("ID changed on reopen: %q, was %q", again.ID, info.ID)
	}
}

// TestEmailIDCacheFilledByReading checks that reading a body to its end
// caches its EmailID, written to the uidlist by Close (or after many
// reads), and that a partial read caches nothing.
func TestEmailIDCacheFilledByReading(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	for _, sub := range []string{"cur", "new"} {
		os.Mkdir(filepath.Join(root, sub), 0o700)
	}
	const n = pendingFlushAt + 10
	for i := range n {
		os.WriteFile(filepath.Join(root, "new", fmt.Sprintf("1700000000.M%dP1.h", i)), fmt.Appendf(nil, "Subject: %d\n\nx\n", i), 0o600)
	}
	s := openTest(t, root, nil)
	for _, m := range list(t, s, "INBOX") {
		if !m.EmailID.IsZero() {
			t.Fatalf("uid %d has an EmailID before any read", m.UID)
		}
	}
	// A partial read of UID 1, then every body of the others.
	r, _ := s.Open(ctx, "INBOX", 1)
	r.Read(make([]byte, 3))
	r.Close()
	for u := uid.UID(2); u <= n; u++ {
		readMsg(t, s, "INBOX", u)
	}
	cached := func() int {
		data, _ := os.ReadFile(filepath.Join(root, uidlistName))
		return len(regexp.MustCompile(` X1:[0-9a-f]{64}`).FindAll(data, -1))
	}
	if c := cached(); c < pendingFlushAt {
		t.Errorf("after %d reads, %d EmailIDs in the uidlist", n-1, c)
	}
	s.Close()
	if c := cached(); c != n-1 {
		t.Errorf("after Close, %d EmailIDs in the uidlist, want %d", c, n-1)
	}
	s2 := openTest(t, root, nil)
	for _, m := range list(t, s2, "INBOX") {
		body := readMsg(t, s2, "INBOX", m.UID)
		if (m.UID == 1) != m.EmailID.IsZero() || (m.UID != 1 && m.EmailID != mailbox.EmailIDOf(body)) {
			t.Errorf("uid %d: EmailID %v", m.UID, m.EmailID)
		}
	}
}
