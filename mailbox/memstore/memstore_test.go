package memstore_test

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"iter"
	"math"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/iotest"
	"time"

	"github.com/mailrepl/mailrepl/mailbox"
	"github.com/mailrepl/mailrepl/mailbox/mailboxtest"
	"github.com/mailrepl/mailrepl/mailbox/memstore"
	"github.com/mailrepl/mailrepl/uid"
)

var (
	seed  = flag.Uint64("seed", 0, "seed of the randomized model test (0: one from the clock)")
	steps = flag.Int("steps", 0, "operations of the randomized model test (0: the suite's default)")
)

func TestConformance(t *testing.T) {
	mailboxtest.Run(t, mailboxtest.Harness{
		New:          func(t *testing.T) mailbox.Store { return memstore.New(nil) },
		PrivateFlags: []mailbox.Flag{mailbox.Passed, "%Resent"},
		Seed:         *seed,
		Steps:        *steps,
	})
}

// TestConformanceReopen runs the suite with a Reopen that closes a
// handle on a Store and opens another on the same Store, so that the
// suite's tests of persistence, and the model test's reopening, run too.
func TestConformanceReopen(t *testing.T) {
	mailboxtest.Run(t, mailboxtest.Harness{
		New: func(t *testing.T) mailbox.Store { return &handle{s: memstore.New(nil)} },
		Reopen: func(t *testing.T, s mailbox.Store) mailbox.Store {
			if err := s.Close(); err != nil {
				t.Fatalf("closing the handle: %v", err)
			}
			return &handle{s: s.(*handle).s}
		},
		PrivateFlags: []mailbox.Flag{mailbox.Passed},
		Seed:         *seed,
		Steps:        *steps,
	})
}

// handle is a view of a Store that can be closed while the Store lives on.
type handle struct {
	s      *memstore.Store
	closed atomic.Bool
}

var (
	_ mailbox.Store         = (*handle)(nil)
	_ mailbox.ChangeTracker = (*handle)(nil)
	_ mailbox.UIDSetter     = (*handle)(nil)
	_ mailbox.Batcher       = (*handle)(nil)
)

func (h *handle) check(op, name string) error {
	if h.closed.Load() {
		return &mailbox.Error{Op: op, Store: "handle", Mailbox: name, Err: mailbox.ErrClosed}
	}
	return nil
}

// guard ends a sequence with ErrClosed once the handle is closed.
func guard[V any](h *handle, op, name string, seq iter.Seq2[V, error]) iter.Seq2[V, error] {
	return func(yield func(V, error) bool) {
		var zero V
		if err := h.check(op, name); err != nil {
			yield(zero, err)
			return
		}
		for v, err := range seq {
			if err == nil {
				if err := h.check(op, name); err != nil {
					yield(zero, err)
					return
				}
			}
			if !yield(v, err) {
				return
			}
		}
	}
}

func (h *handle) Mailboxes(ctx context.Context) ([]mailbox.Info, error) {
	if err := h.check("list mailboxes", ""); err != nil {
		return nil, err
	}
	return h.s.Mailboxes(ctx)
}

func (h *handle) Status(ctx context.Context, name string) (mailbox.Info, error) {
	if err := h.check("status", name); err != nil {
		return mailbox.Info{}, err
	}
	return h.s.Status(ctx, name)
}

func (h *handle) Messages(ctx context.Context, name string, set uid.Set) iter.Seq2[mailbox.Message, error] {
	return guard(h, "list", name, h.s.Messages(ctx, name, set))
}

func (h *handle) Open(ctx context.Context, name string, u uid.UID) (io.ReadCloser, error) {
	if err := h.check("open", name); err != nil {
		return nil, err
	}
	return h.s.Open(ctx, name, u)
}

func (h *handle) Create(ctx context.Context, name string) (mailbox.Info, error) {
	if err := h.check("create", name); err != nil {
		return mailbox.Info{}, err
	}
	return h.s.Create(ctx, name)
}

func (h *handle) Rename(ctx context.Context, oldName, newName string) error {
	if err := h.check("rename", oldName); err != nil {
		return err
	}
	return h.s.Rename(ctx, oldName, newName)
}

func (h *handle) Delete(ctx context.Context, name string) error {
	if err := h.check("delete", name); err != nil {
		return err
	}
	return h.s.Delete(ctx, name)
}

func (h *handle) Subscribe(ctx context.Context, name string, sub bool) error {
	if err := h.check("subscribe", name); err != nil {
		return err
	}
	return h.s.Subscribe(ctx, name, sub)
}

func (h *handle) Append(ctx context.Context, name string, lit mailbox.Literal, meta mailbox.AppendMeta) (uid.UID, error) {
	if err := h.check("append", name); err != nil {
		return 0, err
	}
	return h.s.Append(ctx, name, lit, meta)
}

func (h *handle) StoreFlags(ctx context.Context, name string, set uid.Set, op mailbox.FlagOp, fs mailbox.Flags) error {
	if err := h.check("store flags", name); err != nil {
		return err
	}
	return h.s.StoreFlags(ctx, name, set, op, fs)
}

func (h *handle) Expunge(ctx context.Context, name string, set uid.Set) error {
	if err := h.check("expunge", name); err != nil {
		return err
	}
	return h.s.Expunge(ctx, name, set)
}

func (h *handle) Close() error {
	if !h.closed.CompareAndSwap(false, true) {
		return h.check("close", "")
	}
	return nil
}

func (h *handle) Changes(ctx context.Context, name string, v uid.Validity, since mailbox.ModSeq) iter.Seq2[mailbox.Change, error] {
	return guard(h, "changes", name, h.s.Changes(ctx, name, v, since))
}

func (h *handle) AppendUID(ctx context.Context, name string, u uid.UID, lit mailbox.Literal, meta mailbox.AppendMeta) error {
	if err := h.check("append", name); err != nil {
		return err
	}
	return h.s.AppendUID(ctx, name, u, lit, meta)
}

func (h *handle) SetUIDNext(ctx context.Context, name string, next uid.UID) error {
	if err := h.check("set UIDNEXT", name); err != nil {
		return err
	}
	return h.s.SetUIDNext(ctx, name, next)
}

func (h *handle) ResetUIDs(ctx context.Context, name string, v uid.Validity, m *uid.Map) error {
	if err := h.check("reset UIDs", name); err != nil {
		return err
	}
	return h.s.ResetUIDs(ctx, name, v, m)
}

func (h *handle) Batch(ctx context.Context, name string) (mailbox.Batch, error) {
	if err := h.check("batch", name); err != nil {
		return nil, err
	}
	b, err := h.s.Batch(ctx, name)
	if err != nil {
		return nil, err
	}
	return &handleBatch{h: h, b: b, name: name}, nil
}

type handleBatch struct {
	h    *handle
	b    mailbox.Batch
	name string
}

func (b *handleBatch) Append(ctx context.Context, lit mailbox.Literal, meta mailbox.AppendMeta) (uid.UID, error) {
	if err := b.h.check("batch append", b.name); err != nil {
		return 0, err
	}
	return b.b.Append(ctx, lit, meta)
}

func (b *handleBatch) AppendUID(ctx context.Context, u uid.UID, lit mailbox.Literal, meta mailbox.AppendMeta) error {
	if err := b.h.check("batch append", b.name); err != nil {
		return err
	}
	return b.b.AppendUID(ctx, u, lit, meta)
}

func (b *handleBatch) Commit(ctx context.Context) error {
	if err := b.h.check("batch commit", b.name); err != nil {
		return err
	}
	return b.b.Commit(ctx)
}

func (b *handleBatch) Close() error { return b.b.Close() }

// clock is a settable clock for Options.Now.
type clock struct{ unix atomic.Int64 }

func newClock(unix int64) *clock {
	c := new(clock)
	c.unix.Store(unix)
	return c
}

func (c *clock) Now() time.Time { return time.Unix(c.unix.Load(), 123_456_789) }

func (c *clock) Set(unix int64) { c.unix.Store(unix) }

func msg(n int) []byte {
	return fmt.Appendf(nil, "Subject: %d\r\nMessage-ID: <%d@memstore.test>\r\n\r\nbody %d\r\n", n, n, n)
}

// must holds a call's results until get checks them: must(f()).get(t).
func must[V any](v V, err error) result[V] { return result[V]{v, err} }

type result[V any] struct {
	v   V
	err error
}

func (r result[V]) get(t *testing.T) V {
	t.Helper()
	if r.err != nil {
		t.Fatal(r.err)
	}
	return r.v
}

func noErr(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func collect[V any](t *testing.T, seq iter.Seq2[V, error]) []V {
	t.Helper()
	var vs []V
	for v, err := range seq {
		if err != nil {
			t.Fatal(err)
		}
		vs = append(vs, v)
	}
	return vs
}

// seqErr returns the error a sequence ends with, and how many values came
// before it.
func seqErr[V any](seq iter.Seq2[V, error]) (int, error) {
	n := 0
	for _, err := range seq {
		if err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

func TestDeterministic(t *testing.T) {
	build := func(key byte) []mailbox.Info {
		var k [32]byte
		k[0] = key
		s := memstore.New(&memstore.Options{Now: newClock(1_700_000_000).Now, Rand: rand.NewChaCha8(k)})
		defer s.Close()
		ctx := t.Context()
		for _, n := range []string{"A", "B", "A/C"} {
			must(s.Create(ctx, n)).get(t)
		}
		must(s.Append(ctx, "A", mailbox.BytesLiteral(msg(1)), mailbox.AppendMeta{})).get(t)
		noErr(t, s.Delete(ctx, "B"))
		must(s.Create(ctx, "B")).get(t)
		return must(s.Mailboxes(ctx)).get(t)
	}
	a, b, c := build(1), build(1), build(2)
	if fmt.Sprint(a) != fmt.Sprint(b) {
		t.Fatalf("same clock and Rand, different stores:\n%v\n%v", a, b)
	}
	for i := range a {
		if a[i].ID == c[i].ID {
			t.Fatalf("another Rand seed gives the same ID %q to %q", a[i].ID, a[i].Name)
		}
		if a[i].UIDValidity != c[i].UIDValidity {
			t.Fatalf("UIDVALIDITY of %q depends on Rand: %d, %d", a[i].Name, a[i].UIDValidity, c[i].UIDValidity)
		}
	}
}

func TestUIDValidityFromClock(t *testing.T) {
	const t0 = 1_700_000_000
	clk := newClock(t0)
	s := memstore.New(&memstore.Options{Now: clk.Now})
	defer s.Close()
	ctx := t.Context()
	validity := func(name string) uid.Validity { return must(s.Status(ctx, name)).get(t).UIDValidity }
	create := func(name string) uid.Validity { return must(s.Create(ctx, name)).get(t).UIDValidity }
	for _, tc := range []struct {
		what  string
		clock int64
		do    func() uid.Validity
		want  uid.Validity
	}{
		{"INBOX at the first call", t0, func() uid.Validity { return validity(mailbox.Inbox) }, t0},
		{"Create in the same second", t0, func() uid.Validity { return create("A") }, t0 + 1},
		{"Create again in that second", t0, func() uid.Validity { return create("B") }, t0 + 2},
		{"Create a minute later", t0 + 60, func() uid.Validity { return create("C") }, t0 + 60},
		{"Create after the clock went back", t0, func() uid.Validity { return create("D") }, t0 + 61},
		{"Create A again", t0 + 61, func() uid.Validity {
			noErr(t, s.Delete(ctx, "A"))
			return create("A")
		}, t0 + 62},
		{"Create before 1970", -5, func() uid.Validity { return create("E") }, t0 + 63},
		{"Create after 2106", math.MaxUint32 + 10, func() uid.Validity { return create("F") }, t0 + 64},
		{"Create after ResetUIDs to a higher value", t0 + 70, func() uid.Validity {
			noErr(t, s.ResetUIDs(ctx, "F", t0+1000, nil))
			return create("G")
		}, t0 + 1001},
	} {
		clk.Set(tc.clock)
		if got := tc.do(); got != tc.want {
			t.Errorf("%s: UIDVALIDITY %d, want %d", tc.what, got, tc.want)
		}
	}
	// ResetUIDs to a lower value does not lower the next.
	noErr(t, s.ResetUIDs(ctx, "G", 5, nil))
	if v := create("H"); v != t0+1002 {
		t.Errorf("after ResetUIDs to 5, Create gave %d, want %d", v, t0+1002)
	}
	// Once uid.Validity runs out, Create fails.
	noErr(t, s.ResetUIDs(ctx, "H", math.MaxUint32, nil))
	_, err := s.Create(ctx, "I")
	if !errors.Is(err, mailbox.ErrNotAllowed) {
		t.Fatalf("Create with no UIDVALIDITY left: %v, want ErrNotAllowed", err)
	}
	if _, err := s.Status(ctx, "I"); !errors.Is(err, mailbox.ErrNotFound) {
		t.Fatalf("a failed Create left a mailbox: %v", err)
	}
}

// zeros is a Rand that gives zeros.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

func TestRand(t *testing.T) {
	ctx := t.Context()
	t.Run("Repeats", func(t *testing.T) {
		s := memstore.New(&memstore.Options{Rand: zeros{}})
		in := must(s.Status(ctx, mailbox.Inbox)).get(t)
		if in.ID != mailbox.ID(strings.Repeat("0", 32)) {
			t.Fatalf("INBOX ID %q from a Rand of zeros", in.ID)
		}
		_, err := s.Create(ctx, "A")
		if err == nil || !strings.Contains(err.Error(), "repeats") {
			t.Fatalf("Create with a Rand that repeats itself: %v", err)
		}
		if got := must(s.Mailboxes(ctx)).get(t); len(got) != 1 {
			t.Fatalf("a failed Create left %v", got)
		}
	})
	t.Run("Fails", func(t *testing.T) {
		cause := errors.New("no entropy")
		s := memstore.New(&memstore.Options{Rand: iotest.ErrReader(cause), Name: "broken"})
		for what, err := range map[string]error{
			"Mailboxes": func() error { _, err := s.Mailboxes(ctx); return err }(),
			"Status":    func() error { _, err := s.Status(ctx, mailbox.Inbox); return err }(),
			"Create":    func() error { _, err := s.Create(ctx, "A"); return err }(),
		} {
			var me *mailbox.Error
			if !errors.Is(err, cause) || !errors.As(err, &me) || me.Store != "broken" {
				t.Errorf("%s with a failing Rand: %v, want a *mailbox.Error of store broken wrapping the cause", what, err)
			}
		}
	})
}

func TestDefaults(t *testing.T) {
	ctx := t.Context()
	clk := newClock(1_700_000_000)
	s := memstore.New(&memstore.Options{Now: clk.Now, Name: "mine"})
	defer s.Close()
	u := must(s.Append(ctx, mailbox.Inbox, mailbox.BytesLiteral(msg(1)), mailbox.AppendMeta{})).get(t)
	m := collect(t, s.Messages(ctx, mailbox.Inbox, uid.SetOf(u)))[0]
	if want := time.Unix(1_700_000_000, 0); !m.InternalDate.Equal(want) {
		t.Fatalf("InternalDate %v, want the clock to the second, %v", m.InternalDate, want)
	}
	if m.EmailID != mailbox.EmailIDOf(msg(1)) || m.Size != int64(len(msg(1))) {
		t.Fatalf("listed %v, want EmailID %s and size %d", m, mailbox.EmailIDOf(msg(1)).Short(), len(msg(1)))
	}
	_, err := s.Status(ctx, "Missing")
	if want := "mailbox: status mine mailbox Missing: not found"; err == nil || err.Error() != want {
		t.Fatalf("error %q, want %q", err, want)
	}
	// nil Options: the real clock and crypto/rand.
	d := memstore.New(nil)
	before := time.Now().Truncate(time.Second)
	u = must(d.Append(ctx, mailbox.Inbox, mailbox.BytesLiteral(msg(1)), mailbox.AppendMeta{})).get(t)
	m = collect(t, d.Messages(ctx, mailbox.Inbox, uid.SetOf(u)))[0]
	if m.InternalDate.Before(before) || m.InternalDate.After(time.Now()) {
		t.Fatalf("InternalDate %v, not now", m.InternalDate)
	}
	in := must(d.Status(ctx, mailbox.Inbox)).get(t)
	if len(in.ID) != 32 || in.UIDValidity < uid.Validity(before.Unix()) {
		t.Fatalf("INBOX %+v: want a 32-digit ID and a UIDVALIDITY from the clock", in)
	}
	_, err = d.Status(ctx, "Missing")
	var me *mailbox.Error
	if !errors.As(err, &me) || me.Store != "memstore" {
		t.Fatalf("error %v, want one of store memstore", err)
	}
}

func TestModSeqNumbers(t *testing.T) {
	ctx := t.Context()
	s := memstore.New(nil)
	defer s.Close()
	st := func() mailbox.ModSeq { return must(s.Status(ctx, mailbox.Inbox)).get(t).HighestModSeq }
	if h := st(); h != 1 {
		t.Fatalf("an empty mailbox has HighestModSeq %d, want 1", h)
	}
	for i := range 3 {
		must(s.Append(ctx, mailbox.Inbox, mailbox.BytesLiteral(msg(i)), mailbox.AppendMeta{})).get(t)
	}
	noErr(t, s.StoreFlags(ctx, mailbox.Inbox, uid.All, mailbox.FlagsAdd, mailbox.MustFlags(mailbox.Seen)))
	noErr(t, s.Expunge(ctx, mailbox.Inbox, uid.SetOf(1, 3)))
	if h := st(); h != 6 {
		t.Fatalf("after 3 appends, one flag change and one expunge, HighestModSeq %d, want 6", h)
	}
	v := must(s.Status(ctx, mailbox.Inbox)).get(t).UIDValidity
	got := collect(t, s.Changes(ctx, mailbox.Inbox, v, 0))
	want := "[{1 6 true} {2 5 false} {3 6 true}]"
	var short []string
	for _, c := range got {
		short = append(short, fmt.Sprintf("{%d %d %v}", c.UID, c.ModSeq, c.Expunged))
	}
	if s := "[" + strings.Join(short, " ") + "]"; s != want {
		t.Fatalf("Changes since 0 = %s, want %s (UID, modseq, expunged)", s, want)
	}
}

// TestListingInChunks lists and tracks changes over more messages than
// one turn of the lock copies or looks at.
func TestListingInChunks(t *testing.T) {
	ctx := t.Context()
	s := memstore.New(nil)
	defer s.Close()
	const n = 10_000
	bt := must(s.Batch(ctx, mailbox.Inbox)).get(t)
	for i := range n {
		must(bt.Append(ctx, mailbox.BytesLiteral(msg(i)), mailbox.AppendMeta{})).get(t)
	}
	noErr(t, bt.Commit(ctx))
	if got := len(collect(t, s.Messages(ctx, mailbox.Inbox, uid.All))); got != n {
		t.Fatalf("listed %d messages, want %d", got, n)
	}
	sparse := uid.SetOf(1, 300, 5000, 9999, 10_000, 20_000).Union(uid.NewSet(uid.Range{Start: 4000, Stop: 4600}))
	if got := len(collect(t, s.Messages(ctx, mailbox.Inbox, sparse))); got != 5+601 {
		t.Fatalf("listed %d messages of %v, want %d", got, sparse, 5+601)
	}
	// Changes finds the few changed among many it looks at.
	h := must(s.Status(ctx, mailbox.Inbox)).get(t).HighestModSeq
	noErr(t, s.StoreFlags(ctx, mailbox.Inbox, uid.SetOf(2, 9000), mailbox.FlagsAdd, mailbox.MustFlags(mailbox.Flagged)))
	noErr(t, s.Expunge(ctx, mailbox.Inbox, uid.SetOf(5, 6, 7, 8000)))
	v := must(s.Status(ctx, mailbox.Inbox)).get(t).UIDValidity
	var got []string
	for _, c := range collect(t, s.Changes(ctx, mailbox.Inbox, v, h)) {
		got = append(got, fmt.Sprint(c.UID, c.Expunged))
	}
	if want := "2 false,5 true,6 true,7 true,8000 true,9000 false"; strings.Join(got, ",") != want {
		t.Fatalf("Changes = %s, want %s", strings.Join(got, ","), want)
	}
	// A listing sees a message expunged ahead of it vanish.
	i := 0
	for m, err := range s.Messages(ctx, mailbox.Inbox, uid.All) {
		if err != nil {
			t.Fatal(err)
		}
		if i++; i == 1 {
			noErr(t, s.Expunge(ctx, mailbox.Inbox, uid.NewSet(uid.Range{Start: 1000, Stop: 1999})))
		}
		if m.UID >= 1000 && m.UID < 1999 && m.UID > 600 {
			t.Fatalf("listing yields UID %d, expunged while it ran", m.UID)
		}
	}
}

// TestChangesDuringListing: a listing ends when its mailbox is deleted or
// its UIDs reset while it runs, after the chunk it has copied.
func TestChangesDuringListing(t *testing.T) {
	ctx := t.Context()
	changes := []struct {
		name string
		do   func(s *memstore.Store) error
		want error
	}{
		{"Delete", func(s *memstore.Store) error { return s.Delete(ctx, "A") }, mailbox.ErrNotFound},
		{"ResetUIDs", func(s *memstore.Store) error { return s.ResetUIDs(ctx, "A", 7, nil) }, mailbox.ErrUIDValidityChanged},
	}
	listings := []struct {
		name string
		seq  func(s *memstore.Store, v uid.Validity) iter.Seq2[uid.UID, error]
	}{
		{"Messages", func(s *memstore.Store, v uid.Validity) iter.Seq2[uid.UID, error] {
			return func(yield func(uid.UID, error) bool) {
				for m, err := range s.Messages(ctx, "A", uid.All) {
					if !yield(m.UID, err) {
						return
					}
				}
			}
		}},
		{"Changes", func(s *memstore.Store, v uid.Validity) iter.Seq2[uid.UID, error] {
			return func(yield func(uid.UID, error) bool) {
				for c, err := range s.Changes(ctx, "A", v, 0) {
					if !yield(c.UID, err) {
						return
					}
				}
			}
		}},
	}
	for _, c := range changes {
		for _, l := range listings {
			t.Run(c.name+"/"+l.name, func(t *testing.T) {
				s := memstore.New(nil)
				defer s.Close()
				must(s.Create(ctx, "A")).get(t)
				for i := range 1000 {
					must(s.Append(ctx, "A", mailbox.BytesLiteral(msg(i)), mailbox.AppendMeta{})).get(t)
				}
				v := must(s.Status(ctx, "A")).get(t).UIDValidity
				n := 0
				var got error
				for _, err := range l.seq(s, v) {
					if err != nil {
						got = err
						break
					}
					if n++; n == 1 {
						noErr(t, c.do(s))
					}
				}
				if n != 256 || !errors.Is(got, c.want) {
					t.Fatalf("%d items, then %v; want the first chunk, 256, then %v", n, got, c.want)
				}
			})
		}
	}
}

func TestOpenAfterExpungeAndClose(t *testing.T) {
	ctx := t.Context()
	s := memstore.New(nil)
	u := must(s.Append(ctx, mailbox.Inbox, mailbox.BytesLiteral(msg(1)), mailbox.AppendMeta{})).get(t)
	rc := must(s.Open(ctx, mailbox.Inbox, u)).get(t)
	noErr(t, s.Expunge(ctx, mailbox.Inbox, uid.All))
	noErr(t, s.Close())
	if b := must(io.ReadAll(rc)).get(t); !bytes.Equal(b, msg(1)) {
		t.Fatalf("read %q, want %q", b, msg(1))
	}
	noErr(t, rc.Close())
}

func TestCancelledContext(t *testing.T) {
	s := memstore.New(nil)
	defer s.Close()
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	lit := mailbox.BytesLiteral(msg(1))
	for what, err := range map[string]error{
		"Mailboxes":  func() error { _, err := s.Mailboxes(ctx); return err }(),
		"Status":     func() error { _, err := s.Status(ctx, mailbox.Inbox); return err }(),
		"Create":     func() error { _, err := s.Create(ctx, "A"); return err }(),
		"Rename":     s.Rename(ctx, "A", "B"),
		"Delete":     s.Delete(ctx, "A"),
		"Subscribe":  s.Subscribe(ctx, mailbox.Inbox, true),
		"Append":     func() error { _, err := s.Append(ctx, mailbox.Inbox, lit, mailbox.AppendMeta{}); return err }(),
		"AppendUID":  s.AppendUID(ctx, mailbox.Inbox, 9, lit, mailbox.AppendMeta{}),
		"Open":       func() error { _, err := s.Open(ctx, mailbox.Inbox, 1); return err }(),
		"StoreFlags": s.StoreFlags(ctx, mailbox.Inbox, uid.All, mailbox.FlagsAdd, mailbox.MustFlags(mailbox.Seen)),
		"Expunge":    s.Expunge(ctx, mailbox.Inbox, uid.All),
		"SetUIDNext": s.SetUIDNext(ctx, mailbox.Inbox, 9),
		"ResetUIDs":  s.ResetUIDs(ctx, mailbox.Inbox, 9, nil),
		"Batch":      func() error { _, err := s.Batch(ctx, mailbox.Inbox); return err }(),
		"Messages":   func() error { _, err := seqErr(s.Messages(ctx, mailbox.Inbox, uid.All)); return err }(),
		"Changes":    func() error { _, err := seqErr(s.Changes(ctx, mailbox.Inbox, 1, 0)); return err }(),
	} {
		var me *mailbox.Error
		if !errors.Is(err, context.Canceled) || !errors.As(err, &me) {
			t.Errorf("%s with a cancelled context: %v", what, err)
		}
	}
	if got := must(s.Mailboxes(t.Context())).get(t); len(got) != 1 {
		t.Fatalf("calls with a cancelled context changed the store: %v", got)
	}
}

// TestCancelDuringAppend: the literal is read with the context, so an
// append that waits for a slow reader stops when it is cancelled.
func TestCancelDuringAppend(t *testing.T) {
	s := memstore.New(nil)
	defer s.Close()
	ctx, cancel := context.WithCancel(t.Context())
	body := msg(1)
	r := &cancelAfter{r: bytes.NewReader(body), n: 5, cancel: cancel}
	_, err := s.Append(ctx, mailbox.Inbox, mailbox.NewLiteral(iotest.OneByteReader(r), int64(len(body))), mailbox.AppendMeta{})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Append cancelled while reading: %v", err)
	}
	if n, _ := seqErr(s.Messages(t.Context(), mailbox.Inbox, uid.All)); n != 0 {
		t.Fatalf("a cancelled append stored %d messages", n)
	}
}

type cancelAfter struct {
	r      io.Reader
	n      int
	cancel func()
}

func (c *cancelAfter) Read(p []byte) (int, error) {
	if c.n--; c.n == 0 {
		c.cancel()
	}
	return c.r.Read(p)
}

func TestErrors(t *testing.T) {
	ctx := t.Context()
	s := memstore.New(nil)
	defer s.Close()
	must(s.Create(ctx, "A")).get(t)
	must(s.Create(ctx, "A/"+strings.Repeat("x", 1000))).get(t)
	for _, tc := range []struct {
		what string
		err  error
		want error
		text string
	}{
		{"StoreFlags with an unknown op", s.StoreFlags(ctx, "A", uid.All, mailbox.FlagOp(9), mailbox.Flags{}), mailbox.ErrNotSupported, "FlagOp(9)"},
		{"Rename making a child's name too long", s.Rename(ctx, "A", strings.Repeat("y", 30)), mailbox.ErrInvalidName, "longer than"},
		{"Append of no literal", func() error { _, err := s.Append(ctx, "A", nil, mailbox.AppendMeta{}); return err }(), mailbox.ErrInvalidMessage, "no literal"},
		{"Append of a literal that lies about a huge size", func() error {
			_, err := s.Append(ctx, "A", mailbox.NewLiteral(bytes.NewReader(msg(1)), 1<<40), mailbox.AppendMeta{})
			return err
		}(), mailbox.ErrInvalidMessage, "declared 1099511627776"},
		{"Append of a huge literal that fails", func() error {
			r := io.MultiReader(bytes.NewReader(msg(1)), iotest.ErrReader(io.ErrClosedPipe))
			_, err := s.Append(ctx, "A", mailbox.NewLiteral(r, 1<<40), mailbox.AppendMeta{})
			return err
		}(), io.ErrClosedPipe, "reading the message"},
		{"Append when UIDs ran out", func() error {
			noErr(t, s.SetUIDNext(ctx, "A", uid.Max))
			_, err := s.Append(ctx, "A", mailbox.BytesLiteral(msg(1)), mailbox.AppendMeta{})
			return err
		}(), mailbox.ErrNotAllowed, "exhausted"},
	} {
		var me *mailbox.Error
		if !errors.Is(tc.err, tc.want) || !errors.As(tc.err, &me) || !strings.Contains(tc.err.Error(), tc.text) {
			t.Errorf("%s: %v, want a *mailbox.Error wrapping %v and saying %q", tc.what, tc.err, tc.want, tc.text)
		}
	}
}

func TestBatchFollowsItsMailbox(t *testing.T) {
	ctx := t.Context()
	lit := func(n int) mailbox.Literal { return mailbox.BytesLiteral(msg(n)) }
	t.Run("Rename", func(t *testing.T) {
		s := memstore.New(nil)
		defer s.Close()
		must(s.Create(ctx, "A")).get(t)
		bt := must(s.Batch(ctx, "A")).get(t)
		must(bt.Append(ctx, lit(1), mailbox.AppendMeta{})).get(t)
		noErr(t, s.Rename(ctx, "A", "B"))
		must(bt.Append(ctx, lit(2), mailbox.AppendMeta{})).get(t)
		noErr(t, bt.Close())
		if n, err := seqErr(s.Messages(ctx, "B", uid.All)); n != 0 || err != nil {
			t.Fatalf("B holds %d messages (%v) after the batch was undone", n, err)
		}
	})
	t.Run("Delete", func(t *testing.T) {
		s := memstore.New(nil)
		defer s.Close()
		must(s.Create(ctx, "A")).get(t)
		bt := must(s.Batch(ctx, "A")).get(t)
		must(bt.Append(ctx, lit(1), mailbox.AppendMeta{})).get(t)
		noErr(t, s.Delete(ctx, "A"))
		must(s.Create(ctx, "A")).get(t)
		if _, err := bt.Append(ctx, lit(2), mailbox.AppendMeta{}); !errors.Is(err, mailbox.ErrNotFound) {
			t.Fatalf("batch append to a deleted mailbox: %v", err)
		}
		if err := bt.AppendUID(ctx, 50, lit(2), mailbox.AppendMeta{}); !errors.Is(err, mailbox.ErrNotFound) {
			t.Fatalf("batch AppendUID to a deleted mailbox: %v", err)
		}
		noErr(t, bt.Close())
		if n, _ := seqErr(s.Messages(ctx, "A", uid.All)); n != 0 {
			t.Fatalf("the new A holds %d messages", n)
		}
	})
	t.Run("ResetUIDs", func(t *testing.T) {
		s := memstore.New(nil)
		defer s.Close()
		bt := must(s.Batch(ctx, mailbox.Inbox)).get(t)
		u := must(bt.Append(ctx, lit(1), mailbox.AppendMeta{})).get(t)
		var m uid.Map
		noErr(t, m.Add(u, 40))
		noErr(t, s.ResetUIDs(ctx, mailbox.Inbox, 77, &m))
		if _, err := bt.Append(ctx, lit(2), mailbox.AppendMeta{}); !errors.Is(err, mailbox.ErrUIDValidityChanged) {
			t.Fatalf("batch append after ResetUIDs: %v", err)
		}
		if err := bt.Close(); !errors.Is(err, mailbox.ErrUIDValidityChanged) {
			t.Fatalf("closing a batch whose UIDs were reset: %v", err)
		}
		if got := collect(t, s.Messages(ctx, mailbox.Inbox, uid.All)); len(got) != 1 || got[0].UID != 40 {
			t.Fatalf("INBOX holds %v, want the message moved to UID 40, not undone", got)
		}
	})
	t.Run("StoreClosed", func(t *testing.T) {
		s := memstore.New(nil)
		bt := must(s.Batch(ctx, mailbox.Inbox)).get(t)
		must(bt.Append(ctx, lit(1), mailbox.AppendMeta{})).get(t)
		noErr(t, s.Close())
		if err := bt.Close(); err != nil {
			t.Fatalf("closing a batch of a closed store: %v", err)
		}
	})
}

// TestConcurrentClose races Close against every kind of call: each must
// either succeed or fail with ErrClosed, and never panic or race.
func TestConcurrentClose(t *testing.T) {
	ctx := t.Context()
	for round := range 20 {
		s := memstore.New(nil)
		must(s.Create(ctx, "A")).get(t)
		for i := range 50 {
			must(s.Append(ctx, "A", mailbox.BytesLiteral(msg(i)), mailbox.AppendMeta{})).get(t)
		}
		var wg sync.WaitGroup
		errs := make(chan error, 100)
		ok := func(err error) {
			if err != nil && !errors.Is(err, mailbox.ErrClosed) {
				errs <- err
			}
		}
		for g := range 4 {
			wg.Go(func() {
				for i := range 30 {
					_, err := s.Append(ctx, "A", mailbox.BytesLiteral(msg(i)), mailbox.AppendMeta{})
					ok(err)
					ok(s.StoreFlags(ctx, "A", uid.SetOf(uid.UID(i+1)), mailbox.FlagsAdd, mailbox.MustFlags(mailbox.Seen)))
					ok(s.Expunge(ctx, "A", uid.SetOf(uid.UID(g*30+i+1))))
					_, err = seqErr(s.Messages(ctx, "A", uid.All))
					ok(err)
					_, err = seqErr(s.Changes(ctx, "A", 1, 0))
					if !errors.Is(err, mailbox.ErrUIDValidityChanged) {
						ok(err)
					}
					_, err = s.Create(ctx, fmt.Sprintf("G%d-%d", g, i))
					ok(err)
				}
			})
		}
		wg.Go(func() {
			time.Sleep(time.Duration(round) * 50 * time.Microsecond)
			ok(s.Close())
		})
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatalf("round %d: %v", round, err)
		}
	}
}

func TestClone(t *testing.T) {
	ctx := context.Background()
	s := memstore.New(nil)
	defer s.Close()
	if _, err := s.Create(ctx, "Work"); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if _, err := s.Append(ctx, "Work", mailbox.BytesLiteral([]byte(fmt.Sprintf("Subject: %d\n\nx\n", i))), mailbox.AppendMeta{}); err != nil {
			t.Fatal(err)
		}
	}
	c, err := s.Clone()
	if err != nil {
		t.Fatal(err)
	}
	before, _ := c.Status(ctx, "Work")
	// The original moves on; the copy does not.
	if _, err := s.Append(ctx, "Work", mailbox.BytesLiteral([]byte("Subject: later\n\nx\n")), mailbox.AppendMeta{}); err != nil {
		t.Fatal(err)
	}
	if err := s.StoreFlags(ctx, "Work", uid.SetOf(1), mailbox.FlagsAdd, mailbox.MustFlags(mailbox.Seen)); err != nil {
		t.Fatal(err)
	}
	after, _ := c.Status(ctx, "Work")
	if after != before || after.UIDNext != 4 {
		t.Fatalf("the copy changed with the original: %+v, was %+v", after, before)
	}
	for m, err := range c.Messages(ctx, "Work", uid.All) {
		if err != nil || !m.Flags.IsEmpty() {
			t.Fatalf("copy message %v, %v: want no flags", m, err)
		}
	}
	// The copy is a working store of its own.
	if u, err := c.Append(ctx, "Work", mailbox.BytesLiteral([]byte("Subject: other\n\nx\n")), mailbox.AppendMeta{}); err != nil || u != 4 {
		t.Fatalf("append to the copy: %d, %v", u, err)
	}
	if orig, _ := s.Status(ctx, "Work"); orig.UIDNext != 5 {
		t.Fatalf("the original's UIDNEXT is %d, want 5", orig.UIDNext)
	}
	s.Close()
	if _, err := s.Clone(); !errors.Is(err, mailbox.ErrClosed) {
		t.Fatalf("Clone of a closed store: %v", err)
	}
}
