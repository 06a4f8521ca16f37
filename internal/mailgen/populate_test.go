package mailgen_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mailrepl/mailrepl/internal/mailgen"
	"github.com/mailrepl/mailrepl/mailbox"
	"github.com/mailrepl/mailrepl/mailbox/memstore"
	"github.com/mailrepl/mailrepl/uid"
)

// newStore returns an empty memstore whose clock and mailbox IDs are fixed,
// so that two of them filled alike are equal.
func newStore(t *testing.T) *memstore.Store {
	t.Helper()
	s := memstore.New(&memstore.Options{
		Now:  func() time.Time { return time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC) },
		Rand: rand.NewChaCha8([32]byte{1}),
	})
	t.Cleanup(func() { s.Close() })
	return s
}

// entry is a message as a store lists it.
type entry struct {
	UID   uid.UID
	ID    mailbox.EmailID
	Flags string
	Date  time.Time
	Size  int64
}

func (e entry) String() string {
	return fmt.Sprintf("uid %d %s (%s) %s %d", e.UID, e.ID.Short(), e.Flags, e.Date.Format(time.RFC3339), e.Size)
}

// dump lists every message of every mailbox of s.
func dump(t *testing.T, s mailbox.Store) map[string][]entry {
	t.Helper()
	ctx := t.Context()
	infos, err := s.Mailboxes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	d := map[string][]entry{}
	for _, info := range infos {
		d[info.Name] = []entry{}
		for m, err := range s.Messages(ctx, info.Name, uid.All) {
			if err != nil {
				t.Fatal(err)
			}
			d[info.Name] = append(d[info.Name], entry{m.UID, m.EmailID, m.Flags.String(), m.InternalDate.UTC(), m.Size})
		}
	}
	return d
}

// equalDumps reports the first difference between two dumps.
func equalDumps(a, b map[string][]entry) error {
	if ka, kb := slices.Sorted(maps.Keys(a)), slices.Sorted(maps.Keys(b)); !slices.Equal(ka, kb) {
		return fmt.Errorf("mailboxes %q and %q", ka, kb)
	}
	for name, ea := range a {
		eb := b[name]
		for k := range max(len(ea), len(eb)) {
			switch {
			case k >= len(ea):
				return fmt.Errorf("%s: only the second has %v", name, eb[k])
			case k >= len(eb):
				return fmt.Errorf("%s: only the first has %v", name, ea[k])
			case ea[k] != eb[k]:
				return fmt.Errorf("%s: %v and %v", name, ea[k], eb[k])
			}
		}
	}
	return nil
}

// TestPopulate fills a memstore and reads it back: the folders, and in each
// folder the messages in stream order with the EmailIDs of the generated
// bytes, their flags, internal dates and sizes; the Stats agree with the
// generated account.
func TestPopulate(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	seed := testSeed(t)
	g := mailgen.New(seed)
	spec := mailgen.AccountSpec{Messages: 1500}
	s := newStore(t)
	st, err := g.Populate(ctx, s, spec)
	if err != nil {
		t.Fatal(err)
	}

	var want mailgen.Stats
	want.PerFolder = map[string]int{}
	wantBox := map[string][]entry{}
	index := map[string][]int{} // stream index of each message, by folder
	for m := range g.Account(spec) {
		want.Messages++
		want.Bytes += int64(len(m.Body))
		want.Largest = max(want.Largest, int64(len(m.Body)))
		if m.IsDuplicate() {
			want.Duplicates++
		}
		want.PerFolder[m.Folder]++
		e := entry{uid.UID(len(wantBox[m.Folder]) + 1), mailbox.EmailIDOf(m.Body), m.Flags.String(), m.InternalDate, int64(len(m.Body))}
		wantBox[m.Folder] = append(wantBox[m.Folder], e)
		index[m.Folder] = append(index[m.Folder], m.Index)
	}
	if st.Messages != want.Messages || st.Bytes != want.Bytes || st.Largest != want.Largest || st.Duplicates != want.Duplicates || !maps.Equal(st.PerFolder, want.PerFolder) {
		t.Errorf("Populate stats:\n%v\nwant\n%v", st, want)
	}
	if want.Duplicates == 0 {
		t.Errorf("an account of %d messages holds no duplicate", spec.Messages)
	}
	for _, name := range g.Folders() {
		if _, ok := wantBox[name]; !ok {
			wantBox[name] = []entry{} // created, even if empty
		}
	}
	if err := equalDumps(dump(t, s), wantBox); err != nil {
		t.Fatalf("store and generated account differ: %v", err)
	}

	// Bodies, for a sample of each folder.
	for name, idx := range index {
		for k := 0; k < len(idx); k += 37 {
			r, err := s.Open(ctx, name, uid.UID(k+1))
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(r)
			r.Close()
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, g.Message(idx[k]).Body) {
				t.Errorf("%s uid %d is not message %d", name, k+1, idx[k])
			}
		}
	}
}

// plainStore hides the Batcher of the store it wraps.
type plainStore struct{ mailbox.Store }

// TestPopulateWithoutBatches checks that Populate makes the same store
// through plain appends as through batches.
func TestPopulateWithoutBatches(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	g := mailgen.New(testSeed(t))
	spec := mailgen.AccountSpec{Messages: 600}
	batched, plain := newStore(t), newStore(t)
	if _, ok := mailbox.Store(plainStore{plain}).(mailbox.Batcher); ok {
		t.Fatal("plainStore is a Batcher")
	}
	sb, err := g.Populate(ctx, batched, spec)
	if err != nil {
		t.Fatal(err)
	}
	sp, err := g.Populate(ctx, plainStore{plain}, spec)
	if err != nil {
		t.Fatal(err)
	}
	if sb.String() != sp.String() {
		t.Errorf("stats differ:\nbatched %v\nplain   %v", sb, sp)
	}
	if err := equalDumps(dump(t, batched), dump(t, plain)); err != nil {
		t.Errorf("batched and plain populations differ: %v", err)
	}
}

// parentStore refuses to create a mailbox whose parent does not exist.
type parentStore struct{ mailbox.Store }

func (s parentStore) Create(ctx context.Context, name string) (mailbox.Info, error) {
	if p := mailbox.Parent(name); p != "" {
		if _, err := s.Status(ctx, p); err != nil {
			return mailbox.Info{}, &mailbox.Error{Op: "create", Mailbox: name, Err: fmt.Errorf("%w: parent %s", mailbox.ErrNotFound, p)}
		}
	}
	return s.Store.Create(ctx, name)
}

// TestPopulateCreatesParents checks that Populate creates the parents of
// its folders for a store that asks for them, and only for such a store.
func TestPopulateCreatesParents(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	g := mailgen.New(testSeed(t))
	strict, lax := newStore(t), newStore(t)
	for _, s := range []mailbox.Store{parentStore{strict}, lax} {
		if _, err := g.Populate(ctx, s, mailgen.AccountSpec{Messages: 50}); err != nil {
			t.Fatal(err)
		}
	}
	want := append(g.Folders(), "Lists")
	slices.Sort(want)
	if got := slices.Sorted(maps.Keys(dump(t, strict))); !slices.Equal(got, want) {
		t.Errorf("mailboxes of a store that wants parents: %q, want %q", got, want)
	}
	want = slices.DeleteFunc(want, func(s string) bool { return s == "Lists" })
	if got := slices.Sorted(maps.Keys(dump(t, lax))); !slices.Equal(got, want) {
		t.Errorf("mailboxes of a store that does not: %q, want %q", got, want)
	}
}

// failingStore fails every append after the first ok ones, and calls
// onAppend before each append.
type failingStore struct {
	mailbox.Store
	ok       int64
	n        atomic.Int64
	onAppend func(n int64)
}

func (s *failingStore) Append(ctx context.Context, name string, lit mailbox.Literal, meta mailbox.AppendMeta) (uid.UID, error) {
	n := s.n.Add(1)
	if s.onAppend != nil {
		s.onAppend(n)
	}
	if n > s.ok {
		return 0, &mailbox.Error{Op: "append", Store: "failing", Mailbox: name, Err: mailbox.ErrReadOnly}
	}
	return s.Store.Append(ctx, name, lit, meta)
}

// TestPopulateErrors checks that Populate stops at the first error, names
// the message, wraps the store's error or the context's, says what it
// appended so far, and leaves no goroutine behind.
func TestPopulateErrors(t *testing.T) {
	g := mailgen.New(testSeed(t))
	goroutines := runtime.NumGoroutine()

	t.Run("store", func(t *testing.T) {
		s := &failingStore{Store: newStore(t), ok: 25}
		st, err := g.Populate(t.Context(), s, mailgen.AccountSpec{Messages: 100})
		if !errors.Is(err, mailbox.ErrReadOnly) || !strings.Contains(err.Error(), "message 25") || st.Messages != 25 {
			t.Errorf("Populate = %v, %d messages; want an error wrapping %v naming message 25, 25 messages", err, st.Messages, mailbox.ErrReadOnly)
		}
	})
	t.Run("cancel", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		s := &failingStore{Store: newStore(t), ok: 1000, onAppend: func(n int64) {
			if n == 10 {
				cancel()
			}
		}}
		st, err := g.Populate(ctx, s, mailgen.AccountSpec{Messages: 100})
		if !errors.Is(err, context.Canceled) || st.Messages > 10 {
			t.Errorf("Populate = %v, %d messages; want an error wrapping %v, at most 10 messages", err, st.Messages, context.Canceled)
		}
	})
	t.Run("cancelled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		if _, err := g.Populate(ctx, newStore(t), mailgen.AccountSpec{Messages: 10}); !errors.Is(err, context.Canceled) {
			t.Errorf("Populate with a cancelled context = %v", err)
		}
	})
	t.Run("negative", func(t *testing.T) {
		if _, err := g.Populate(t.Context(), newStore(t), mailgen.AccountSpec{Messages: -1}); err == nil {
			t.Error("Populate of -1 messages succeeded")
		}
	})

	// The generating goroutine of each Populate has ended.
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > goroutines && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > goroutines {
		t.Errorf("%d goroutines after Populate failed, %d before", n, goroutines)
	}
}

// failingBatcher is a store whose batches fail every append after the
// first ok ones (counted over all batches), and whose commits fail when
// failCommit is set.
type failingBatcher struct {
	*memstore.Store
	ok         int64
	n          atomic.Int64
	failCommit bool
}

type failingBatch struct {
	mailbox.Batch
	s *failingBatcher
}

func (s *failingBatcher) Batch(ctx context.Context, name string) (mailbox.Batch, error) {
	b, err := s.Store.Batch(ctx, name)
	return failingBatch{b, s}, err
}

func (b failingBatch) Append(ctx context.Context, lit mailbox.Literal, meta mailbox.AppendMeta) (uid.UID, error) {
	if b.s.n.Add(1) > b.s.ok {
		return 0, &mailbox.Error{Op: "batch append", Store: "failing", Err: mailbox.ErrReadOnly}
	}
	return b.Batch.Append(ctx, lit, meta)
}

func (b failingBatch) Commit(ctx context.Context) error {
	if b.s.failCommit {
		b.Batch.Close()
		return &mailbox.Error{Op: "batch commit", Store: "failing", Err: mailbox.ErrTransient}
	}
	return b.Batch.Commit(ctx)
}

// TestPopulateBatchErrors checks that after a failed batch append
// Populate commits what it appended, so that the store holds what the
// Stats count; and that a failed commit is an error.
func TestPopulateBatchErrors(t *testing.T) {
	t.Parallel()
	g := mailgen.New(testSeed(t))
	s := &failingBatcher{Store: newStore(t), ok: 120}
	st, err := g.Populate(t.Context(), s, mailgen.AccountSpec{Messages: 300})
	if !errors.Is(err, mailbox.ErrReadOnly) || !strings.Contains(err.Error(), "message 120") || st.Messages != 120 {
		t.Errorf("Populate = %v, %d messages; want an error wrapping %v naming message 120, 120 messages", err, st.Messages, mailbox.ErrReadOnly)
	}
	held := 0
	for _, entries := range dump(t, s) {
		held += len(entries)
	}
	if held != st.Messages {
		t.Errorf("the store holds %d messages after the error, Stats count %d", held, st.Messages)
	}

	s = &failingBatcher{Store: newStore(t), ok: 1000, failCommit: true}
	if _, err := g.Populate(t.Context(), s, mailgen.AccountSpec{Messages: 30}); !errors.Is(err, mailbox.ErrTransient) {
		t.Errorf("Populate with failing commits = %v, want an error wrapping %v", err, mailbox.ErrTransient)
	}
	s = &failingBatcher{Store: newStore(t), ok: 10, failCommit: true}
	_, err = g.Populate(t.Context(), s, mailgen.AccountSpec{Messages: 30})
	if !errors.Is(err, mailbox.ErrTransient) || !errors.Is(err, mailbox.ErrReadOnly) {
		t.Errorf("Populate with failing appends and commits = %v, want an error wrapping both", err)
	}
}

// TestAccount checks that Account yields the messages of the stream in
// order and stops when asked to.
func TestAccount(t *testing.T) {
	g := mailgen.New(testSeed(t))
	i := 0
	for m := range g.Account(mailgen.AccountSpec{Messages: 50}) {
		if d := same(m, g.Message(i)); d != "" {
			t.Fatalf("message %d of the account: %s", i, d)
		}
		if i++; i == 20 {
			break
		}
	}
	if i != 20 {
		t.Errorf("Account stopped after %d messages", i)
	}
	for range g.Account(mailgen.AccountSpec{Messages: -1}) {
		t.Fatal("an account of -1 messages yields messages")
	}
}
