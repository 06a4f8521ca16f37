// Package mailboxtest is the conformance suite of [mailbox.Store]: what
// every backend (memstore, maildir, an IMAP store) must do, stated as
// tests. A backend's test calls [Run] with a [Harness] that makes stores:
//
//	func TestConformance(t *testing.T) {
//		mailboxtest.Run(t, mailboxtest.Harness{
//			New: func(t *testing.T) mailbox.Store { return memstore.New(nil) },
//		})
//	}
//
// The suite tests the contract written in package mailbox, and makes
// precise what its prose leaves open:
//
//   - a new store holds INBOX and nothing else; INBOX matches in any case,
//     as a name and as the first level of a name;
//   - Create makes no parent levels; Rename takes children along and keeps
//     IDs, UIDVALIDITY, UIDNEXT, UIDs, flags, bodies and the subscription;
//     renaming a mailbox to its own name fails with ErrExists;
//   - a mailbox deleted and created again has a new ID and a new
//     UIDVALIDITY, also when the store was reopened in between;
//   - every method refuses an unsafe name with ErrInvalidName and changes
//     nothing; errors are [*mailbox.Error] values naming the operation, the
//     store and the mailbox as the caller spelled it (and the UID, where
//     one message is concerned);
//   - internal dates are kept to the second; an append without one gets
//     one; sizes are exact; bodies come back byte for byte;
//   - a listing's EmailID is either zero or the EmailID of the body;
//   - keywords compare without regard to case, and a mailbox spells a
//     keyword as it first saw it; \Deleted does not expunge;
//   - a store that keeps modseqs (HighestModSeq above zero; every
//     ChangeTracker does) raises HighestModSeq on every append, every
//     flag change that changes flags, and every expunge that removes a
//     message, and on nothing else: renames, subscriptions, flag stores
//     that change nothing and expunges of missing UIDs leave it alone;
//   - ChangeTracker.Changes answers exactly within one session of a store;
//     after Reopen it may answer ErrChangesUnavailable instead;
//   - UIDSetter: AppendUID(uid.Max) fails with ErrUIDOrder (there would be
//     no UIDNEXT); Append when UIDNEXT is uid.Max fails and stores nothing;
//     ResetUIDs with UIDVALIDITY 0 fails with ErrNotAllowed; to the
//     current UIDVALIDITY it renumbers (a replica realigned to its
//     source); after ResetUIDs, UIDNEXT is one above the highest target
//     UID of the map (pairs whose source is missing included), Changes in
//     the new epoch reports no expunges, and Changes since a non-zero
//     modseq from before it fails with ErrChangesUnavailable;
//   - Batch: Close before Commit undoes the batch's appends and their UIDs
//     are not used again; Append or Commit after the batch ended fails
//     with ErrClosed; Batch.AppendUID fails with ErrNotSupported when the
//     store is no UIDSetter;
//   - a cancelled context ends a listing, and a closed store one, before
//     its next message, with an error wrapping the context's error or
//     ErrClosed; after Close every method, Close included, fails with
//     ErrClosed.
//
// Last, a randomized model test applies a seeded random sequence of every
// operation to the store and to a small model of the contract kept by the
// test, and compares them after each step; a failure prints the seed and
// the last operations.
//
// The suite uses at most six distinct keywords per mailbox, messages of at
// most 3 MB, and mailbox names of letters, digits, spaces, '-' and
// non-ASCII letters, so that a store with the limits of Maildir or IMAP
// can pass. Only Names/Accepted tries other punctuation ("...x", "a+b");
// it skips the names listed in [Harness.BadNames].
package mailboxtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mailrepl/mailrepl/mailbox"
	"github.com/mailrepl/mailrepl/uid"
)

// Harness tells [Run] how to make the store under test and what the store
// cannot do. Only New is required.
type Harness struct {
	// New returns a new store holding one empty mailbox, INBOX. Each
	// subtest calls it at least once; the suite closes the stores it gets.
	New func(t *testing.T) mailbox.Store

	// Reopen closes s and returns a store over the same data, as a
	// restart of the process would. Nil when the store does not persist;
	// the Persist tests then do not run.
	Reopen func(t *testing.T, s mailbox.Store) mailbox.Store

	// PrivateFlags are the private flags ("%name") the store keeps, such as
	// [mailbox.Passed] for a Maildir store; the suite checks that they
	// survive appends, flag changes and Reopen. Other private flags may be
	// dropped or refused with ErrInvalidFlag. Nil: the store keeps none.
	PrivateFlags []mailbox.Flag

	// BadNames are names that are valid in the API but that the store
	// cannot represent (a Maildir++ store cannot have "a.b"). The suite
	// checks they are refused with ErrInvalidName like unsafe names.
	BadNames []string

	// CRLF: the store keeps messages as an IMAP server does, with every
	// line ending CRLF: a bare LF comes back as CRLF (sizes count the CRs
	// added), and CRs just before a line ending or at the very end are
	// dropped (Dovecot). The suite then expects each body in that form;
	// EmailIDs are the same but for that last case.
	CRLF bool

	// Seed seeds the randomized model test; 0 takes one from the clock.
	// A failing model test prints its seed.
	Seed uint64

	// Steps is the number of random operations the model test applies.
	// Default 400.
	Steps int

	// What the store offers, found by Run.
	tracker, setter, batcher bool
}

// Run runs the conformance suite against the stores h makes. Each part is
// a subtest named for what it checks (Mailboxes/Rename,
// Changes/AfterExpunge, …), so a failure says which rule a backend breaks.
// Tests of optional interfaces run when the store implements them.
func Run(t *testing.T, h Harness) {
	t.Helper()
	if h.New == nil {
		t.Fatal("mailboxtest: Harness.New is nil")
	}
	if h.Steps == 0 {
		h.Steps = 400
	}
	s := h.New(t)
	_, h.tracker = s.(mailbox.ChangeTracker)
	_, h.setter = s.(mailbox.UIDSetter)
	_, h.batcher = s.(mailbox.Batcher)
	if err := s.Close(); err != nil {
		t.Fatalf("closing a new store: %v", err)
	}
	t.Logf("store %T: ChangeTracker %v, UIDSetter %v, Batcher %v, persists %v",
		s, h.tracker, h.setter, h.batcher, h.Reopen != nil)

	t.Run("Mailboxes", func(t *testing.T) { runMailboxes(t, &h) })
	t.Run("Names", func(t *testing.T) { runNames(t, &h) })
	t.Run("Messages", func(t *testing.T) { runMessages(t, &h) })
	t.Run("Flags", func(t *testing.T) { runFlags(t, &h) })
	t.Run("Bodies", func(t *testing.T) { runBodies(t, &h) })
	t.Run("ModSeq", func(t *testing.T) { runModSeq(t, &h) })
	if h.tracker {
		t.Run("Changes", func(t *testing.T) { runChanges(t, &h) })
	}
	if h.setter {
		t.Run("UIDSetter", func(t *testing.T) { runUIDSetter(t, &h) })
	}
	if h.batcher {
		t.Run("Batch", func(t *testing.T) { runBatch(t, &h) })
	}
	t.Run("Concurrency", func(t *testing.T) { runConcurrency(t, &h) })
	t.Run("Context", func(t *testing.T) { runContext(t, &h) })
	t.Run("Closed", func(t *testing.T) { runClosed(t, &h) })
	if h.Reopen != nil {
		t.Run("Persist", func(t *testing.T) { runPersist(t, &h) })
	}
	t.Run("Model", func(t *testing.T) { runModel(t, &h) })
}

// env is one subtest's store and the helpers that use it.
type env struct {
	t   *testing.T
	h   *Harness
	ctx context.Context
	s   mailbox.Store
}

// newEnv makes a store for one subtest; it is closed when the test ends.
func newEnv(t *testing.T, h *Harness) *env {
	t.Helper()
	e := &env{t: t, h: h, ctx: context.Background()}
	e.s = h.New(t)
	if e.s == nil {
		t.Fatal("Harness.New returned nil")
	}
	t.Cleanup(func() {
		// The current store; Reopen closed the earlier ones, and the test
		// may have closed this one.
		if err := e.s.Close(); err != nil && !errors.Is(err, mailbox.ErrClosed) {
			t.Errorf("Close: %v", err)
		}
	})
	return e
}

// reopen replaces the store by Harness.Reopen's.
func (e *env) reopen() {
	e.t.Helper()
	s := e.h.Reopen(e.t, e.s)
	if s == nil {
		e.t.Fatal("Harness.Reopen returned nil")
	}
	e.s = s
}

func (e *env) tracker() (mailbox.ChangeTracker, bool) {
	c, ok := e.s.(mailbox.ChangeTracker)
	return c, ok
}

func (e *env) setter() (mailbox.UIDSetter, bool) {
	c, ok := e.s.(mailbox.UIDSetter)
	return c, ok
}

// msg is a message the suite expects in a listing.
type msg struct {
	uid   uid.UID
	body  []byte
	flags mailbox.Flags
	date  time.Time
}

// baseDate is the internal date of the suite's messages, which add a
// second each.
var baseDate = time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)

// newMessage returns a small message in CRLF form, different for every n.
func newMessage(n int) []byte {
	return fmt.Appendf(nil, "From: sender%d@example.org\r\nTo: rcpt@example.org\r\n"+
		"Subject: message %d\r\nMessage-ID: <%d@mailboxtest.example>\r\n"+
		"Date: Fri, 1 Mar 2024 12:00:00 +0000\r\n\r\nBody of message %d.\r\n", n, n, n, n)
}

func flags(fs ...mailbox.Flag) mailbox.Flags { return mailbox.MustFlags(fs...) }

// create makes a mailbox and returns its Info.
func (e *env) create(name string) mailbox.Info {
	e.t.Helper()
	info, err := e.s.Create(e.ctx, name)
	if err != nil {
		e.t.Fatalf("Create(%q): %v", name, err)
	}
	return info
}

// add appends body with the given flags and internal date baseDate+n
// seconds, and returns what the suite now expects of it.
func (e *env) add(name string, n int, body []byte, fs ...mailbox.Flag) msg {
	e.t.Helper()
	m := msg{body: e.h.stored(body), flags: flags(fs...), date: baseDate.Add(time.Duration(n) * time.Second)}
	before := e.status(name).UIDNext
	u, err := e.s.Append(e.ctx, name, mailbox.BytesLiteral(body), mailbox.AppendMeta{Flags: m.flags, InternalDate: m.date})
	if err != nil {
		e.t.Fatalf("Append(%q, message %d): %v", name, n, err)
	}
	if u < before {
		e.t.Fatalf("Append(%q) = UID %d, below UIDNEXT %d before the append", name, u, before)
	}
	if next := e.status(name).UIDNext; next <= u {
		e.t.Fatalf("after Append(%q) = UID %d, UIDNEXT is %d", name, u, next)
	}
	m.uid = u
	return m
}

// addN appends n new messages.
func (e *env) addN(name string, n int) []msg {
	e.t.Helper()
	ms := make([]msg, n)
	for i := range ms {
		ms[i] = e.add(name, i, newMessage(i))
	}
	return ms
}

func (e *env) status(name string) mailbox.Info {
	e.t.Helper()
	info, err := e.s.Status(e.ctx, name)
	if err != nil {
		e.t.Fatalf("Status(%q): %v", name, err)
	}
	return info
}

// mailboxes returns the store's mailboxes, checking they are sorted by
// name and that each agrees with Status.
func (e *env) mailboxes() []mailbox.Info {
	e.t.Helper()
	infos, err := e.s.Mailboxes(e.ctx)
	if err != nil {
		e.t.Fatalf("Mailboxes: %v", err)
	}
	if !slices.IsSortedFunc(infos, func(a, b mailbox.Info) int { return strings.Compare(a.Name, b.Name) }) {
		e.t.Fatalf("Mailboxes not sorted by name: %v", names(infos))
	}
	for i := 1; i < len(infos); i++ {
		if infos[i].Name == infos[i-1].Name {
			e.t.Fatalf("Mailboxes lists %q twice", infos[i].Name)
		}
	}
	return infos
}

func (e *env) names() []string {
	e.t.Helper()
	return names(e.mailboxes())
}

func names(infos []mailbox.Info) []string {
	var ns []string
	for _, i := range infos {
		ns = append(ns, i.Name)
	}
	return ns
}

// wantNames checks the names the store lists.
func (e *env) wantNames(want ...string) {
	e.t.Helper()
	slices.Sort(want)
	if got := e.names(); !slices.Equal(got, want) {
		e.t.Fatalf("Mailboxes = %q, want %q", got, want)
	}
}

// list returns the messages of a mailbox in set, checking the listing is
// in strictly ascending UID order and that sizes and UIDs are set.
func (e *env) list(name string, set uid.Set) []mailbox.Message {
	e.t.Helper()
	var ms []mailbox.Message
	for m, err := range e.s.Messages(e.ctx, name, set) {
		if err != nil {
			e.t.Fatalf("Messages(%q, %v): %v", name, set, err)
		}
		if m.UID == 0 || !set.Contains(m.UID) {
			e.t.Fatalf("Messages(%q, %v) yields UID %d", name, set, m.UID)
		}
		if n := len(ms); n > 0 && ms[n-1].UID >= m.UID {
			e.t.Fatalf("Messages(%q, %v) yields UID %d after %d", name, set, m.UID, ms[n-1].UID)
		}
		ms = append(ms, m)
	}
	return ms
}

func (e *env) all(name string) []mailbox.Message {
	e.t.Helper()
	return e.list(name, uid.All)
}

// read returns the body of one message.
func (e *env) read(name string, u uid.UID) []byte {
	e.t.Helper()
	rc, err := e.s.Open(e.ctx, name, u)
	if err != nil {
		e.t.Fatalf("Open(%q, %d): %v", name, u, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		e.t.Fatalf("reading %q UID %d: %v", name, u, err)
	}
	return b
}

// expect checks that the mailbox holds exactly the messages want, in that
// order, with their flags, dates, sizes, EmailIDs and bodies.
func (e *env) expect(name string, want ...msg) {
	e.t.Helper()
	got := e.all(name)
	if len(got) != len(want) {
		e.t.Fatalf("%q holds UIDs %v, want %v", name, uidsOf(got), wantUIDs(want))
	}
	for i, g := range got {
		w := want[i]
		if msg := messageDiff(g, w); msg != "" {
			e.t.Fatalf("%q UID %d: %s", name, g.UID, msg)
		}
		if b := e.read(name, g.UID); !bytes.Equal(b, w.body) {
			e.t.Fatalf("%q UID %d: Open gives %s, want %s", name, g.UID, abbrev(b), abbrev(w.body))
		}
	}
	if len(want) > 0 {
		if next := e.status(name).UIDNext; next <= want[len(want)-1].uid {
			e.t.Fatalf("%q: UIDNEXT %d, not above UID %d", name, next, want[len(want)-1].uid)
		}
	}
}

// messageDiff says how a listed message differs from what is expected.
func messageDiff(g mailbox.Message, w msg) string {
	switch {
	case g.UID != w.uid:
		return fmt.Sprintf("UID %d, want %d", g.UID, w.uid)
	case !g.Flags.Equal(w.flags):
		return fmt.Sprintf("flags (%v), want (%v)", g.Flags, w.flags)
	case g.Size != int64(len(w.body)):
		return fmt.Sprintf("size %d, want %d", g.Size, len(w.body))
	case !g.EmailID.IsZero() && g.EmailID != mailbox.EmailIDOf(w.body):
		return fmt.Sprintf("EmailID %s, want %s", g.EmailID.Short(), mailbox.EmailIDOf(w.body).Short())
	case !w.date.IsZero() && !g.InternalDate.Equal(w.date.Truncate(time.Second)):
		return fmt.Sprintf("internal date %v, want %v", g.InternalDate, w.date.Truncate(time.Second))
	}
	return ""
}

func uidsOf(ms []mailbox.Message) []uid.UID {
	us := make([]uid.UID, len(ms))
	for i, m := range ms {
		us[i] = m.UID
	}
	return us
}

func wantUIDs(ms []msg) []uid.UID {
	us := make([]uid.UID, len(ms))
	for i, m := range ms {
		us[i] = m.uid
	}
	return us
}

// stored is body as the store keeps it (see Harness.CRLF).
func (h *Harness) stored(body []byte) []byte {
	if !h.CRLF {
		return body
	}
	out := make([]byte, 0, len(body)+len(body)/16)
	for i := 0; i < len(body); i++ {
		switch c := body[i]; c {
		case '\r':
			j := i
			for j < len(body) && body[j] == '\r' {
				j++
			}
			if j < len(body) && body[j] != '\n' {
				out = append(out, body[i:j]...)
			}
			i = j - 1
		case '\n':
			out = append(out, '\r', '\n')
		default:
			out = append(out, c)
		}
	}
	return out
}

// abbrev shows a body in a failure message without flooding the log.
func abbrev(b []byte) string {
	if len(b) <= 80 {
		return fmt.Sprintf("%q", b)
	}
	return fmt.Sprintf("%q…(%d bytes)", b[:80], len(b))
}

// checkErr reports (with t.Errorf) unless err wraps target and is a
// *mailbox.Error naming an operation, the store, and, when name is not
// "", the mailbox name. It returns whether err was right.
func checkErr(t testing.TB, what string, err, target error, name string) bool {
	t.Helper()
	if err == nil {
		t.Errorf("%s succeeded, want an error wrapping %v", what, target)
		return false
	}
	if !errors.Is(err, target) {
		t.Errorf("%s: error %q does not wrap %v", what, err, target)
		return false
	}
	var me *mailbox.Error
	switch {
	case !errors.As(err, &me):
		t.Errorf("%s: error %q (%T) is not a *mailbox.Error", what, err, err)
		return false
	case me.Op == "" || me.Store == "":
		t.Errorf("%s: error %q does not name its operation and store (%+v)", what, err, *me)
		return false
	case name != "" && me.Mailbox != name:
		t.Errorf("%s: error %q names mailbox %q, want %q", what, err, me.Mailbox, name)
		return false
	}
	return true
}

// wantErr is checkErr that stops the test.
func (e *env) wantErr(what string, err, target error, name string) {
	e.t.Helper()
	if !checkErr(e.t, what, err, target, name) {
		e.t.FailNow()
	}
}

// wantUIDErr is wantErr that also wants the error to name UID u.
func (e *env) wantUIDErr(what string, err, target error, name string, u uid.UID) {
	e.t.Helper()
	e.wantErr(what, err, target, name)
	var me *mailbox.Error
	errors.As(err, &me)
	if me.UID != u {
		e.t.Fatalf("%s: error %q names UID %d, want %d", what, err, me.UID, u)
	}
}

// no fails the test on an error.
func (e *env) no(what string, err error) {
	e.t.Helper()
	if err != nil {
		e.t.Fatalf("%s: %v", what, err)
	}
}

// firstErr returns the error a sequence yields, or nil, and how many
// values came before it. It fails the test if values follow the error.
func firstErr[V any](t *testing.T, what string, seq func(func(V, error) bool)) (int, error) {
	t.Helper()
	n := 0
	var first error
	seq(func(_ V, err error) bool {
		if first != nil {
			t.Errorf("%s yields after its error %v", what, first)
			return false
		}
		if err != nil {
			first = err
			return true // the sequence must end by itself
		}
		n++
		return true
	})
	return n, first
}
