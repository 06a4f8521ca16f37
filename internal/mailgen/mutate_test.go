package mailgen_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/mailrepl/mailrepl/internal/mailgen"
	"github.com/mailrepl/mailrepl/mailbox"
	"github.com/mailrepl/mailrepl/uid"
)

// populated returns a store filled with the first n messages of g.
func populated(t *testing.T, g *mailgen.Generator, n int) mailbox.Store {
	t.Helper()
	s := newStore(t)
	if _, err := g.Populate(t.Context(), s, mailgen.AccountSpec{Messages: n}); err != nil {
		t.Fatal(err)
	}
	return s
}

// TestMutate checks a mutation: the same seed over equal stores makes the
// same changes; exactly the asked-for numbers of messages are expunged,
// have one flag toggled, and are appended (NewMail's, in order, above the
// old UIDs); another seed picks other messages.
func TestMutate(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	g := mailgen.New(testSeed(t))
	const n = 800
	a, b, c := populated(t, g, n), populated(t, g, n), populated(t, g, n)
	before := dump(t, a)
	spec := mailgen.MutateSpec{New: 60, FlagChanges: 100, Expunges: 40}
	sa, err := g.Mutate(ctx, a, 9, spec)
	if err != nil {
		t.Fatal(err)
	}
	sb, err := g.Mutate(ctx, b, 9, spec)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g.Mutate(ctx, c, 10, spec); err != nil {
		t.Fatal(err)
	}
	after := dump(t, a)
	if err := equalDumps(after, dump(t, b)); err != nil {
		t.Fatalf("the same mutation of two equal stores differs: %v", err)
	}
	if sa.String() != sb.String() {
		t.Errorf("the same mutation of two equal stores: stats %v and %v", sa, sb)
	}
	if sa.Messages != spec.New || sa.FlagChanges != spec.FlagChanges || sa.Expunges != spec.Expunges {
		t.Errorf("Mutate(%+v) = %v", spec, sa)
	}
	if err := equalDumps(after, dump(t, c)); err == nil {
		t.Error("mutations with seeds 9 and 10 made the same store")
	}

	// Compare each mailbox before and after, by UID.
	toggles := mailbox.MustFlags(mailbox.Seen, mailbox.Flagged, mailbox.Answered, mailbox.Passed, "$Label1")
	var gone, changed int
	added := map[string][]entry{}
	for name, old := range before {
		now := after[name]
		byUID := map[uid.UID]entry{}
		for _, e := range now {
			byUID[e.UID] = e
		}
		for _, e := range old {
			e2, ok := byUID[e.UID]
			if !ok {
				gone++
				continue
			}
			if e2.ID != e.ID || e2.Size != e.Size || !e2.Date.Equal(e.Date) {
				t.Errorf("%s uid %d changed from %v to %v", name, e.UID, e, e2)
			}
			if e2.Flags != e.Flags {
				changed++
				f1, _ := mailbox.ParseFlags(e.Flags)
				f2, _ := mailbox.ParseFlags(e2.Flags)
				diff := f1.Minus(f2).Union(f2.Minus(f1))
				if diff.Len() != 1 || !toggles.Has(diff.List()[0]) {
					t.Errorf("%s uid %d: flags went from %q to %q", name, e.UID, e.Flags, e2.Flags)
				}
			}
		}
		top := uid.UID(0)
		if len(old) > 0 {
			top = old[len(old)-1].UID
		}
		for _, e := range now {
			if e.UID > top {
				added[name] = append(added[name], e)
			}
		}
	}
	if gone != spec.Expunges || changed != spec.FlagChanges {
		t.Errorf("%d messages expunged and %d with other flags, want %d and %d", gone, changed, spec.Expunges, spec.FlagChanges)
	}
	for k := range spec.New {
		m := g.NewMail(9, k)
		if len(added[m.Folder]) == 0 {
			t.Fatalf("new message %d is not in %s", k, m.Folder)
		}
		e := added[m.Folder][0]
		added[m.Folder] = added[m.Folder][1:]
		if e.ID != mailbox.EmailIDOf(m.Body) || e.Flags != m.Flags.String() || !e.Date.Equal(m.InternalDate) {
			t.Errorf("new message %d: %s holds %v, want %s (%s) %v", k, m.Folder, e, mailbox.EmailIDOf(m.Body).Short(), m.Flags, m.InternalDate)
		}
	}
	for name, rest := range added {
		if len(rest) > 0 {
			t.Errorf("%s holds new messages that are not NewMail's: %v", name, rest)
		}
	}
}

// TestMutateReplica checks that Mutate picks the same messages in a store
// whose UIDs differ (a replica): the choice rests on mailbox names and
// EmailIDs, not on UIDs.
func TestMutateReplica(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	g := mailgen.New(testSeed(t))
	const n = 500
	a := populated(t, g, n)

	// The replica used some UIDs of every folder before the account came.
	b := newStore(t)
	for _, name := range g.Folders() {
		if !mailbox.IsInbox(name) {
			if _, err := b.Create(ctx, name); err != nil {
				t.Fatal(err)
			}
		}
		for range 3 {
			if _, err := b.Append(ctx, name, mailbox.BytesLiteral([]byte("Subject: x\n\nx\n")), mailbox.AppendMeta{}); err != nil {
				t.Fatal(err)
			}
		}
		if err := b.Expunge(ctx, name, uid.All); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := g.Populate(ctx, b, mailgen.AccountSpec{Messages: n}); err != nil {
		t.Fatal(err)
	}

	spec := mailgen.MutateSpec{FlagChanges: 60, Expunges: 30}
	for _, s := range []mailbox.Store{a, b} {
		if _, err := g.Mutate(ctx, s, 3, spec); err != nil {
			t.Fatal(err)
		}
	}
	// Without UIDs, the two stores hold the same messages.
	da, db := dump(t, a), dump(t, b)
	for name := range da {
		for _, d := range []map[string][]entry{da, db} {
			for k := range d[name] {
				d[name][k].UID = 0
			}
		}
	}
	if err := equalDumps(da, db); err != nil {
		t.Errorf("the same mutation of a store and its replica: %v", err)
	}
}

// TestMutateAll checks that Mutate changes every message when the store
// holds fewer than asked for, and fails cleanly.
func TestMutateAll(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	g := mailgen.New(testSeed(t))
	s := populated(t, g, 30)
	st, err := g.Mutate(ctx, s, 1, mailgen.MutateSpec{FlagChanges: 20, Expunges: 25})
	if err != nil {
		t.Fatal(err)
	}
	if st.Expunges != 25 || st.FlagChanges != 5 {
		t.Errorf("Mutate over 30 messages: %v, want 25 expunges and 5 flag changes", st)
	}
	st, err = g.Mutate(ctx, s, 2, mailgen.MutateSpec{Expunges: 100})
	if err != nil {
		t.Fatal(err)
	}
	if st.Expunges != 5 {
		t.Errorf("Mutate over 5 messages: %v, want 5 expunges", st)
	}
	for name, entries := range dump(t, s) {
		if len(entries) > 0 {
			t.Errorf("%s holds %d messages after all were expunged", name, len(entries))
		}
	}

	if _, err := g.Mutate(ctx, s, 1, mailgen.MutateSpec{New: -1}); err == nil {
		t.Error("Mutate with -1 new messages succeeded")
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := g.Mutate(cctx, s, 1, mailgen.MutateSpec{New: 5, Expunges: 1}); !errors.Is(err, context.Canceled) {
		t.Errorf("Mutate with a cancelled context = %v", err)
	}
}

// TestMutateCreatesFolders checks that new mail recreates a folder the user
// deleted.
func TestMutateCreatesFolders(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	g := mailgen.New(testSeed(t))
	s := populated(t, g, 100)
	const seed = 4
	k := 0
	for mailbox.IsInbox(g.NewMail(seed, k).Folder) || g.NewMail(seed, k).Folder == "Archive" {
		k++ // Archive has a child: it cannot be deleted
	}
	name := g.NewMail(seed, k).Folder
	if err := s.Delete(ctx, name); err != nil {
		t.Fatal(err)
	}
	st, err := g.Mutate(ctx, s, seed, mailgen.MutateSpec{New: k + 1})
	if err != nil {
		t.Fatal(err)
	}
	if st.PerFolder[name] == 0 {
		t.Fatalf("Mutate put no new mail in %s: %v", name, st)
	}
	d := dump(t, s)
	if got := len(d[name]); got != st.PerFolder[name] {
		t.Errorf("%s holds %d messages, want the %d new ones", name, got, st.PerFolder[name])
	}
	if got, want := slices.Sorted(func(yield func(string) bool) {
		for n := range d {
			if !yield(n) {
				return
			}
		}
	}), slices.Sorted(slices.Values(g.Folders())); !slices.Equal(got, want) {
		t.Errorf("mailboxes after Mutate: %q, want %q", got, want)
	}
}
