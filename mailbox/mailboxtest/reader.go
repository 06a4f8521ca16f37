package mailboxtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mailrepl/mailrepl/mailbox"
	"github.com/mailrepl/mailrepl/uid"
)

// ReadOnlyStore is what [RunReader] tests: a [mailbox.Reader] that holds
// resources until it is closed, such as a backup opened read-only.
type ReadOnlyStore interface {
	mailbox.Reader
	io.Closer
}

// ReaderMailbox is a mailbox [RunReader] asks a harness to write.
type ReaderMailbox struct {
	Name     string
	Messages []ReaderMessage
}

// ReaderMessage is a message RunReader asks a harness to write.
type ReaderMessage struct {
	Body         []byte // every body ends with a line ending
	Flags        mailbox.Flags
	InternalDate time.Time // whole seconds, UTC
}

// ReaderHarness tells [RunReader] how to make the read-only store under
// test. Build is required.
type ReaderHarness struct {
	// Build writes the mailboxes where the store reads them (a
	// directory, a file) and returns a function that opens a new store
	// over what it wrote; the suite calls it more than once, and closes
	// the stores. Each mailbox's UIDs must ascend in the order of its
	// Messages. Build may write each message's flags and internal date
	// as the store can (KeepsFlags, KeepsDates), or not at all.
	Build func(t *testing.T, mailboxes []ReaderMailbox) (open func(t *testing.T) ReadOnlyStore)

	// Names are the mailboxes the suite asks for, at most four. Default
	// "INBOX", "Lists", "Lists/Go" (a child), "Été". A store of one
	// mailbox names one. The first gets 32 messages of every kind the
	// suite knows, the second 12, the third none, the fourth one.
	Names []string

	// KeepsFlags: listings give the flags Build was given (the five
	// system flags and the keywords "$Forwarded" and "Work").
	KeepsFlags bool
	// KeepsDates: listings give the internal dates Build was given.
	KeepsDates bool
}

// RunReader is the conformance suite of read-only stores, such as those
// a restore reads a backup through. Its rules are those of
// [mailbox.Reader], made precise as [Run] makes them for full stores:
//
//   - Mailboxes lists the mailboxes written, sorted by name, each as
//     Status gives it: a UIDVALIDITY that is not zero, an ID that is not
//     empty and unique in the store, a UIDNEXT above every UID;
//   - listings are in strictly ascending UID order, honour the set (all,
//     ranges, single UIDs, UIDs that do not exist, the empty set that
//     yields nothing), can be stopped early, and give each message's
//     size, and its EmailID, or a zero one; flags and dates where the
//     harness says the store keeps them;
//   - Open gives the exact bytes written: as many as the listed size and
//     with the listed EmailID; readers of two messages may be read at
//     once;
//   - a missing mailbox, or UID, fails with ErrNotFound, an unsafe name
//     with ErrInvalidName; INBOX matches in any case; errors are
//     [*mailbox.Error] values naming the operation, the store, the
//     mailbox as the caller spelled it, and the UID Open was given;
//   - a cancelled context ends a listing before its next message, and so
//     does Close; after Close every method, Close included, fails with
//     ErrClosed;
//   - two stores opened over the same data agree: mailboxes, IDs,
//     UIDVALIDITY, UIDNEXT, UIDs, sizes, EmailIDs that both give, flags
//     and dates; each answers Open without a listing first;
//   - many goroutines may list and read one store at once, from its
//     first call on.
func RunReader(t *testing.T, h ReaderHarness) {
	t.Helper()
	if h.Build == nil {
		t.Fatal("mailboxtest: ReaderHarness.Build is nil")
	}
	if len(h.Names) == 0 {
		h.Names = []string{mailbox.Inbox, "Lists", "Lists/Go", "Été"}
	}
	if len(h.Names) > 4 {
		t.Fatalf("mailboxtest: ReaderHarness.Names holds %d names, at most 4", len(h.Names))
	}
	r := &readerEnv{h: &h, content: readerContent(h.Names)}
	r.open = h.Build(t, r.content)
	if r.open == nil {
		t.Fatal("mailboxtest: ReaderHarness.Build returned nil")
	}
	t.Run("Mailboxes", r.testMailboxes)
	t.Run("Messages", r.testMessages)
	t.Run("Sets", r.testSets)
	t.Run("StopEarly", r.testStopEarly)
	t.Run("NotFound", r.testNotFound)
	t.Run("Names", r.testNames)
	t.Run("Readers", r.testReaders)
	t.Run("Context", r.testContext)
	t.Run("Closed", r.testClosed)
	t.Run("Reopen", r.testReopen)
	t.Run("Concurrency", r.testConcurrency)
}

type readerEnv struct {
	h       *ReaderHarness
	content []ReaderMailbox
	open    func(t *testing.T) ReadOnlyStore
}

// store opens a store that is closed when the test ends.
func (r *readerEnv) store(t *testing.T) ReadOnlyStore {
	t.Helper()
	s := r.open(t)
	if s == nil {
		t.Fatal("the harness's open returned nil")
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil && !errors.Is(err, mailbox.ErrClosed) {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// readerBodies are messages of every kind a reader must give back byte
// for byte: LF and CRLF endings, "From " lines a mbox must escape, bare
// CRs, NUL bytes in the body, a line longer than any buffer, 8-bit text,
// a message that is all header, one that ends with blank lines, one that
// starts with an mbox From line of its own.
func readerBodies() [][]byte {
	long := strings.Repeat("0123456789abcdef", 80<<10/16)
	return [][]byte{
		[]byte("From: a@example.org\nTo: b@example.org\nSubject: plain\n\nHello.\n"),
		[]byte("From: a@example.org\r\nSubject: crlf\r\n\r\nLine one.\r\nLine two.\r\n"),
		[]byte("From: a@example.org\nSubject: from lines\n\nFrom the start.\n\nFrom here too.\n>From quoted\n>>From twice\n>From\nFrom\n"),
		[]byte("From: a@example.org\nSubject: odd bytes\n\nbare\rcr\r\nnul \x00 byte\n\xff\xfe\n"),
		[]byte("From: a@example.org\nSubject: long line\n\n" + long + "\n" + long[:1000] + "\n"),
		[]byte("From: =?utf-8?q?J=C3=BCrgen?= <j@example.org>\nSubject: Grüße\nContent-Type: text/plain; charset=utf-8\n\nÄpfel und Öl.\n"),
		[]byte("From: a@example.org\nSubject: all header\n"),
		[]byte("From: a@example.org\nSubject: blank lines\n\nbody\n\n\n"),
		[]byte("From sender@example.org Thu Aug 22 12:46:39 2002\nFrom: sender@example.org\nSubject: envelope\n\nbody\n"),
	}
}

var readerFlagSets = [][]mailbox.Flag{
	nil,
	{mailbox.Seen},
	{mailbox.Seen, mailbox.Answered},
	{mailbox.Flagged, "$Forwarded"},
	{mailbox.Draft},
	{mailbox.Seen, mailbox.Deleted, "Work"},
}

var readerBaseDate = time.Date(2023, 5, 6, 7, 8, 9, 0, time.UTC)

// readerContent is what the suite asks the harness to write.
func readerContent(names []string) []ReaderMailbox {
	counts := []int{32, 12, 0, 1}
	var out []ReaderMailbox
	n := 0
	for i, name := range names {
		mb := ReaderMailbox{Name: name}
		for j := range counts[i] {
			var body []byte
			if i == 0 && j < len(readerBodies()) {
				body = readerBodies()[j]
			} else {
				body = fmt.Appendf(nil, "From: sender%d@example.org\nSubject: message %d of %s\nMessage-ID: <%d@reader.example>\n\nBody %d.\n", n, j, name, n, n)
			}
			mb.Messages = append(mb.Messages, ReaderMessage{
				Body:         body,
				Flags:        mailbox.MustFlags(readerFlagSets[n%len(readerFlagSets)]...),
				InternalDate: readerBaseDate.Add(time.Duration(n) * 7 * time.Hour),
			})
			n++
		}
		out = append(out, mb)
	}
	return out
}

func (r *readerEnv) canonical(name string) string {
	c, _ := mailbox.CanonicalName(name)
	return c
}

func (r *readerEnv) testMailboxes(t *testing.T) {
	ctx := t.Context()
	s := r.store(t)
	infos, err := s.Mailboxes(ctx)
	if err != nil {
		t.Fatalf("Mailboxes: %v", err)
	}
	var want []string
	for _, mb := range r.content {
		want = append(want, r.canonical(mb.Name))
	}
	slices.Sort(want)
	if got := names(infos); !slices.Equal(got, want) {
		t.Fatalf("Mailboxes = %q, want %q", got, want)
	}
	ids := map[mailbox.ID]string{}
	for _, info := range infos {
		if info.UIDValidity == 0 {
			t.Errorf("%q has UIDVALIDITY 0", info.Name)
		}
		if info.ID == "" {
			t.Errorf("%q has no ID", info.Name)
		} else if other, dup := ids[info.ID]; dup {
			t.Errorf("%q and %q have the same ID %q", info.Name, other, info.ID)
		}
		ids[info.ID] = info.Name
		st, err := s.Status(ctx, info.Name)
		if err != nil {
			t.Fatalf("Status(%q): %v", info.Name, err)
		}
		if st != info {
			t.Errorf("Status(%q) = %+v, Mailboxes says %+v", info.Name, st, info)
		}
		ms := listAll(t, s, info.Name, uid.All)
		if len(ms) > 0 && info.UIDNext <= ms[len(ms)-1].UID {
			t.Errorf("%q: UIDNEXT %d, not above UID %d", info.Name, info.UIDNext, ms[len(ms)-1].UID)
		}
		if info.UIDNext == 0 {
			t.Errorf("%q: UIDNEXT 0", info.Name)
		}
	}
}

// listAll lists a mailbox, checking the order and that every UID is in
// set.
func listAll(t *testing.T, s mailbox.Reader, name string, set uid.Set) []mailbox.Message {
	t.Helper()
	var ms []mailbox.Message
	for m, err := range s.Messages(t.Context(), name, set) {
		if err != nil {
			t.Fatalf("Messages(%q, %v): %v", name, set, err)
		}
		if m.UID == 0 || !set.Contains(m.UID) {
			t.Fatalf("Messages(%q, %v) yields UID %d", name, set, m.UID)
		}
		if n := len(ms); n > 0 && ms[n-1].UID >= m.UID {
			t.Fatalf("Messages(%q, %v) yields UID %d after %d", name, set, m.UID, ms[n-1].UID)
		}
		ms = append(ms, m)
	}
	return ms
}

func readBody(t *testing.T, s mailbox.Reader, name string, u uid.UID) []byte {
	t.Helper()
	rc, err := s.Open(t.Context(), name, u)
	if err != nil {
		t.Fatalf("Open(%q, %d): %v", name, u, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("reading %q UID %d: %v", name, u, err)
	}
	return b
}

func (r *readerEnv) testMessages(t *testing.T) {
	s := r.store(t)
	for _, mb := range r.content {
		got := listAll(t, s, mb.Name, uid.All)
		if len(got) != len(mb.Messages) {
			t.Fatalf("%q lists %d messages, want %d", mb.Name, len(got), len(mb.Messages))
		}
		for i, g := range got {
			w := mb.Messages[i]
			what := fmt.Sprintf("%q UID %d (message %d written)", mb.Name, g.UID, i)
			if g.Size != int64(len(w.Body)) {
				t.Errorf("%s: size %d, want %d", what, g.Size, len(w.Body))
			}
			if !g.EmailID.IsZero() && g.EmailID != mailbox.EmailIDOf(w.Body) {
				t.Errorf("%s: EmailID %s, want %s", what, g.EmailID.Short(), mailbox.EmailIDOf(w.Body).Short())
			}
			if r.h.KeepsFlags && !g.Flags.Equal(w.Flags) {
				t.Errorf("%s: flags (%v), want (%v)", what, g.Flags, w.Flags)
			}
			if r.h.KeepsDates && !g.InternalDate.Equal(w.InternalDate) {
				t.Errorf("%s: internal date %v, want %v", what, g.InternalDate, w.InternalDate)
			}
			if g.InternalDate.IsZero() {
				t.Errorf("%s: no internal date", what)
			}
			if b := readBody(t, s, mb.Name, g.UID); !bytes.Equal(b, w.Body) {
				t.Errorf("%s: Open gives %s, want %s", what, abbrev(b), abbrev(w.Body))
			}
		}
	}
}

func (r *readerEnv) testSets(t *testing.T) {
	s := r.store(t)
	name := r.content[0].Name
	all := uidsOf(listAll(t, s, name, uid.All))
	if len(all) < 6 {
		t.Fatalf("%q lists %d messages", name, len(all))
	}
	info, err := s.Status(t.Context(), name)
	if err != nil {
		t.Fatal(err)
	}
	u := func(i int) uid.UID { return all[i] }
	last := all[len(all)-1]
	top := info.UIDNext
	for _, tc := range []struct {
		set  uid.Set
		want []uid.UID
	}{
		{uid.All, all},
		{nil, nil},
		{uid.SetOf(u(1), u(4)), []uid.UID{u(1), u(4)}},
		{uid.NewSet(uid.Range{Start: u(1), Stop: u(3)}), all[1:4]},
		{uid.NewSet(uid.Range{Start: u(2), Stop: u(2)}, uid.Range{Start: u(5), Stop: uid.Max}), append([]uid.UID{u(2)}, all[5:]...)},
		{uid.NewSet(uid.Range{Start: top, Stop: uid.Max}), nil},
		{uid.SetOf(u(0), top, top+100), []uid.UID{u(0)}},
		{uid.SetOf(last), []uid.UID{last}},
		{uid.SetOf(uid.Max), nil},
	} {
		got := uidsOf(listAll(t, s, name, tc.set))
		if !slices.Equal(got, tc.want) {
			t.Errorf("Messages(%q, %v) = UIDs %v, want %v", name, tc.set, got, tc.want)
		}
	}
}

func (r *readerEnv) testStopEarly(t *testing.T) {
	s := r.store(t)
	name := r.content[0].Name
	n := 0
	for _, err := range s.Messages(t.Context(), name, uid.All) {
		if err != nil {
			t.Fatal(err)
		}
		n++
		break
	}
	if n != 1 {
		t.Fatalf("loop ran %d times", n)
	}
	if got := len(listAll(t, s, name, uid.All)); got != len(r.content[0].Messages) {
		t.Fatalf("after an early stop, %q lists %d messages, want %d", name, got, len(r.content[0].Messages))
	}
}

func (r *readerEnv) testNotFound(t *testing.T) {
	ctx := t.Context()
	s := r.store(t)
	name := r.content[0].Name
	_, err := s.Status(ctx, "No such mailbox")
	checkErr(t, "Status of a missing mailbox", err, mailbox.ErrNotFound, "No such mailbox")
	n, err := firstErr(t, "Messages", s.Messages(ctx, "No such mailbox", uid.All))
	if n != 0 {
		t.Errorf("Messages of a missing mailbox yields %d messages", n)
	}
	checkErr(t, "Messages of a missing mailbox", err, mailbox.ErrNotFound, "No such mailbox")
	_, err = s.Open(ctx, "No such mailbox", 1)
	checkErr(t, "Open in a missing mailbox", err, mailbox.ErrNotFound, "No such mailbox")
	info, err := s.Status(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []uid.UID{info.UIDNext, info.UIDNext + 1000, uid.Max} {
		_, err := s.Open(ctx, name, u)
		what := fmt.Sprintf("Open(%q, %d) above UIDNEXT", name, u)
		if checkErr(t, what, err, mailbox.ErrNotFound, name) {
			var me *mailbox.Error
			if errors.As(err, &me); me.UID != u {
				t.Errorf("%s: error %q names UID %d", what, err, me.UID)
			}
		}
	}
	// The empty mailbox, when the suite has one, has no message 1.
	if len(r.content) > 2 {
		empty := r.content[2].Name
		_, err := s.Open(ctx, empty, 1)
		checkErr(t, "Open in an empty mailbox", err, mailbox.ErrNotFound, empty)
		if ms := listAll(t, s, empty, uid.All); len(ms) != 0 {
			t.Errorf("the empty mailbox %q lists %d messages", empty, len(ms))
		}
	}
}

func (r *readerEnv) testNames(t *testing.T) {
	ctx := t.Context()
	s := r.store(t)
	for _, bad := range []string{"", "../x", "a//b", "/abs", "x/..", "nul\x00"} {
		_, err := s.Status(ctx, bad)
		checkErr(t, fmt.Sprintf("Status(%q)", bad), err, mailbox.ErrInvalidName, bad)
		_, err = firstErr(t, "Messages", s.Messages(ctx, bad, uid.All))
		checkErr(t, fmt.Sprintf("Messages(%q)", bad), err, mailbox.ErrInvalidName, bad)
		_, err = s.Open(ctx, bad, 1)
		checkErr(t, fmt.Sprintf("Open(%q)", bad), err, mailbox.ErrInvalidName, bad)
	}
	for _, mb := range r.content {
		if r.canonical(mb.Name) != mailbox.Inbox {
			continue
		}
		for _, spelled := range []string{"inbox", "InBox"} {
			info, err := s.Status(ctx, spelled)
			if err != nil {
				t.Fatalf("Status(%q): %v", spelled, err)
			}
			if info.Name != mailbox.Inbox {
				t.Errorf("Status(%q).Name = %q, want INBOX", spelled, info.Name)
			}
			if got := len(listAll(t, s, spelled, uid.All)); got != len(mb.Messages) {
				t.Errorf("Messages(%q) lists %d messages, want %d", spelled, got, len(mb.Messages))
			}
			readBody(t, s, spelled, 1)
		}
	}
}

// testReaders reads two messages at once, and drops a reader half read.
func (r *readerEnv) testReaders(t *testing.T) {
	ctx := t.Context()
	s := r.store(t)
	mb := r.content[0]
	ms := listAll(t, s, mb.Name, uid.All)
	a, err := s.Open(ctx, mb.Name, ms[4].UID) // the long one
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.Open(ctx, mb.Name, ms[2].UID)
	if err != nil {
		t.Fatal(err)
	}
	var ga, gb bytes.Buffer
	for done := 0; done < 2; {
		done = 0
		for _, p := range []struct {
			r   io.Reader
			buf *bytes.Buffer
		}{{a, &ga}, {b, &gb}} {
			if _, err := io.CopyN(p.buf, p.r, 7); err == io.EOF {
				done++
			} else if err != nil {
				t.Fatalf("interleaved read: %v", err)
			}
		}
	}
	a.Close()
	b.Close()
	if !bytes.Equal(ga.Bytes(), mb.Messages[4].Body) || !bytes.Equal(gb.Bytes(), mb.Messages[2].Body) {
		t.Fatalf("two readers read in turns give %s and %s", abbrev(ga.Bytes()), abbrev(gb.Bytes()))
	}
	c, err := s.Open(ctx, mb.Name, ms[0].UID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.CopyN(io.Discard, c, 3); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("closing a reader half read: %v", err)
	}
}

func (r *readerEnv) testContext(t *testing.T) {
	name := r.content[0].Name
	t.Run("CancelledBefore", func(t *testing.T) {
		s := r.store(t)
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		n, err := firstErr(t, "Messages", s.Messages(ctx, name, uid.All))
		if n != 0 {
			t.Fatalf("Messages with a cancelled context yields %d messages", n)
		}
		checkErr(t, "Messages with a cancelled context", err, context.Canceled, name)
	})
	t.Run("CancelStopsListing", func(t *testing.T) {
		s := r.store(t)
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		stopAfter10(t, "Messages cancelled after 10", s.Messages(ctx, name, uid.All), cancel, context.Canceled, name)
	})
}

// stopAfter10 runs a listing, calls stop after the tenth message, and
// checks that the next item is an error wrapping want, and the last.
func stopAfter10(t *testing.T, what string, seq func(func(mailbox.Message, error) bool), stop func(), want error, name string) {
	t.Helper()
	n, after := 0, 0
	var got error
	seq(func(_ mailbox.Message, err error) bool {
		switch {
		case got != nil:
			after++
			return false
		case err != nil:
			got = err
			return true
		}
		if n++; n == 10 {
			stop()
		}
		return true
	})
	if n != 10 || after != 0 {
		t.Fatalf("%s: %d messages before the error, %d items after; want 10 and none", what, n, after)
	}
	checkErr(t, what, got, want, name)
}

func (r *readerEnv) testClosed(t *testing.T) {
	name := r.content[0].Name
	t.Run("EveryMethod", func(t *testing.T) {
		ctx := t.Context()
		s := r.store(t)
		if _, err := s.Status(ctx, name); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		closed := func(what string, err error) {
			t.Helper()
			checkErr(t, what+" after Close", err, mailbox.ErrClosed, "")
		}
		_, err := s.Mailboxes(ctx)
		closed("Mailboxes", err)
		_, err = s.Status(ctx, name)
		closed("Status", err)
		_, err = firstErr(t, "Messages", s.Messages(ctx, name, uid.All))
		closed("Messages", err)
		_, err = s.Open(ctx, name, 1)
		closed("Open", err)
		closed("Close", s.Close())
	})
	t.Run("CloseStopsListing", func(t *testing.T) {
		s := r.store(t)
		stop := func() {
			if err := s.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		}
		stopAfter10(t, "Messages when the store closes", s.Messages(t.Context(), name, uid.All), stop, mailbox.ErrClosed, "")
	})
}

func (r *readerEnv) testReopen(t *testing.T) {
	ctx := t.Context()
	a, b := r.store(t), r.store(t)
	// b answers Open before any listing.
	for _, mb := range r.content {
		if len(mb.Messages) == 0 {
			continue
		}
		first := listAll(t, a, mb.Name, uid.All)[0]
		if got := readBody(t, b, mb.Name, first.UID); !bytes.Equal(got, mb.Messages[0].Body) {
			t.Errorf("a second store's Open(%q, %d) before any listing gives %s, want %s", mb.Name, first.UID, abbrev(got), abbrev(mb.Messages[0].Body))
		}
	}
	ia, err := a.Mailboxes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ib, err := b.Mailboxes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ia, ib) {
		t.Fatalf("two stores over the same data give mailboxes\n%+v\n%+v", ia, ib)
	}
	for _, info := range ia {
		la, lb := listAll(t, a, info.Name, uid.All), listAll(t, b, info.Name, uid.All)
		if len(la) != len(lb) {
			t.Fatalf("%q: %d and %d messages", info.Name, len(la), len(lb))
		}
		for i := range la {
			x, y := la[i], lb[i]
			if !x.EmailID.IsZero() && !y.EmailID.IsZero() && x.EmailID != y.EmailID {
				t.Errorf("%q UID %d: EmailIDs %s and %s", info.Name, x.UID, x.EmailID.Short(), y.EmailID.Short())
			}
			x.EmailID, y.EmailID = mailbox.EmailID{}, mailbox.EmailID{}
			if x.UID != y.UID || x.Size != y.Size || !x.Flags.Equal(y.Flags) || !x.InternalDate.Equal(y.InternalDate) || x.ModSeq != y.ModSeq {
				t.Errorf("%q message %d: %v and %v", info.Name, i, la[i], lb[i])
			}
		}
	}
}

// testConcurrency lists and reads one store from many goroutines at
// once, from its first call on.
func (r *readerEnv) testConcurrency(t *testing.T) {
	s := r.store(t)
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for g := range 6 {
		wg.Go(func() {
			for k := range r.content {
				mb := r.content[(k+g)%len(r.content)]
				i := 0
				for m, err := range s.Messages(t.Context(), mb.Name, uid.All) {
					if err != nil {
						errs <- fmt.Errorf("Messages(%q): %w", mb.Name, err)
						return
					}
					if i >= len(mb.Messages) {
						errs <- fmt.Errorf("Messages(%q) lists more than %d", mb.Name, len(mb.Messages))
						return
					}
					if (i+g)%3 == 0 {
						rc, err := s.Open(t.Context(), mb.Name, m.UID)
						if err != nil {
							errs <- fmt.Errorf("Open(%q, %d): %w", mb.Name, m.UID, err)
							return
						}
						b, err := io.ReadAll(rc)
						rc.Close()
						if err != nil || !bytes.Equal(b, mb.Messages[i].Body) {
							errs <- fmt.Errorf("%q UID %d read concurrently: %s, %v", mb.Name, m.UID, abbrev(b), err)
							return
						}
					}
					i++
				}
				if _, err := s.Status(t.Context(), mb.Name); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
