package replica

import (
	"context"
	"iter"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/mailrepl/mailrepl/mailbox"
	"github.com/mailrepl/mailrepl/mailbox/memstore"
	"github.com/mailrepl/mailrepl/uid"
)

// liveStore is a memstore into which mail is delivered while a sync runs:
// deliver (if set) runs once, at the first Status after a listing (of
// messages or of changes) was read to its end, before the status is
// taken. A sync asks for a mailbox's status last when it has made its
// changes and is about to align the UIDNEXTs and record its state. It
// keeps no history of changes (a sync lists it whole); liveTracker does.
type liveStore struct {
	mailbox.Store
	mem    *memstore.Store
	listed atomic.Bool
	early  bool // deliver as the listing ends, before the sync's changes
	// reset, if set, runs after each ResetUIDs.
	reset   func()
	once    sync.Once
	deliver func()
}

// liveTracker is a liveStore that gives its changes since a modseq.
type liveTracker struct{ *liveStore }

func newLive(t *testing.T, tracks bool) (*liveStore, mailbox.Store) {
	mem := newMem(t, nil)
	s := &liveStore{Store: mem, mem: mem}
	if tracks {
		return s, liveTracker{s}
	}
	return s, s
}

func (s *liveStore) Status(ctx context.Context, name string) (mailbox.Info, error) {
	if s.deliver != nil && s.listed.Load() {
		s.once.Do(s.deliver)
	}
	return s.Store.Status(ctx, name)
}

func (s *liveStore) Messages(ctx context.Context, name string, set uid.Set) iter.Seq2[mailbox.Message, error] {
	return liveSeq(s, s.Store.Messages(ctx, name, set))
}

func (s liveTracker) Changes(ctx context.Context, name string, v uid.Validity, since mailbox.ModSeq) iter.Seq2[mailbox.Change, error] {
	return liveSeq(s.liveStore, s.mem.Changes(ctx, name, v, since))
}

func (s *liveStore) AppendUID(ctx context.Context, name string, u uid.UID, lit mailbox.Literal, meta mailbox.AppendMeta) error {
	return s.mem.AppendUID(ctx, name, u, lit, meta)
}

func (s *liveStore) SetUIDNext(ctx context.Context, name string, next uid.UID) error {
	return s.mem.SetUIDNext(ctx, name, next)
}

func (s *liveStore) ResetUIDs(ctx context.Context, name string, v uid.Validity, m *uid.Map) error {
	err := s.mem.ResetUIDs(ctx, name, v, m)
	if err == nil && s.reset != nil {
		s.reset()
	}
	return err
}

func (s *liveStore) Batch(ctx context.Context, name string) (mailbox.Batch, error) {
	return s.mem.Batch(ctx, name)
}

func liveSeq[T any](s *liveStore, seq iter.Seq2[T, error]) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		for v, err := range seq {
			if !yield(v, err) {
				return
			}
		}
		s.listed.Store(true)
		if s.early && s.deliver != nil {
			s.once.Do(s.deliver)
		}
	}
}

// TestMirrorDeliveryDuringSync: mail delivered into a side after the sync
// listed it (so this run does not copy it) keeps its UID for the next run:
// the run's last step, which raises UIDNEXTs so that neither side reuses
// a UID the other used, does not raise the other side past it (else the
// next run finds the mail below the other side's UIDNEXT: a mirror
// realigns, two-way mode renumbers it), and the state does not record the
// side's status as of the end of the run (else the next run, told nothing
// changed since, never lists it). The next run copies it with its own UID;
// nothing is lost or doubled.
func TestMirrorDeliveryDuringSync(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mode   Mode
		into   Side // where the mail arrives mid-sync
		tracks bool // the stores give their changes since a modseq
		early  bool // it arrives as the listing ends, before the copies
	}{
		{"mirror/tracking", Mirror, Source, true, false},
		{"mirror/listing", Mirror, Source, false, false},
		{"mirror/tracking/early", Mirror, Source, true, true},
		{"mirror/listing/early", Mirror, Source, false, true},
		{"two-way/source/tracking", TwoWay, Source, true, false},
		{"two-way/source/listing", TwoWay, Source, false, false},
		{"two-way/target/tracking", TwoWay, Target, true, false},
		{"two-way/target/listing", TwoWay, Target, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			liveSrc, src := newLive(t, tc.tracks)
			liveDst, dst := newLive(t, tc.tracks)
			mustAppend(t, src, "INBOX", "a", mailbox.Seen)
			mustAppend(t, src, "INBOX", "b")
			opts := &Options{Mode: tc.mode, State: NewMemState()}
			mustSync(t, src, dst, opts)

			// New mail on the source, which the next run copies; once that
			// run has listed, more arrives on one side.
			mustAppend(t, src, "INBOX", "c")
			live, other := liveSrc, dst
			if tc.into == Target {
				live, other = liveDst, src
			}
			var late uid.UID
			live.listed.Store(false)
			live.early = tc.early
			live.deliver = func() { late = mustAppend(t, live.mem, "INBOX", "late", mailbox.Flagged) }
			mustSync(t, src, dst, opts)
			if late == 0 {
				t.Fatal("nothing was delivered during the sync")
			}
			st, err := other.Status(ctx, "INBOX")
			if err != nil {
				t.Fatal(err)
			}
			if st.UIDNext > late {
				t.Errorf("after the sync the other side's UIDNEXT is %d: raised past uid %d, delivered during the sync", st.UIDNext, late)
			}

			rep := mustSync(t, src, dst, opts)
			if got, want := dump(t, dst, true), dump(t, src, true); got != want {
				t.Fatalf("after the next sync the target is\n%s\nwant the source:\n%s", got, want)
			}
			for _, mr := range rep.Mailboxes {
				if mr.Realigned != "" {
					t.Errorf("next sync realigned %s: %s", mr.Source, mr.Realigned)
				}
			}
			if rep.Total.Conflicts != 0 {
				t.Errorf("next sync: %d conflicts, want none: %+v", rep.Total.Conflicts, rep.Conflicts)
			}
			var n int
			for m, err := range other.Messages(ctx, "INBOX", uid.All) {
				if err != nil {
					t.Fatal(err)
				}
				n++
				if m.UID == late && !m.Flags.Has(mailbox.Flagged) {
					t.Errorf("uid %d on the other side has flags %s, want the late delivery's \\Flagged", m.UID, m.Flags)
				}
			}
			if n != 4 {
				t.Errorf("the other side holds %d messages, want 4 (a, b, c, late)", n)
			}
			if rep := mustSync(t, src, dst, opts); rep.Total.Changed() {
				t.Errorf("third sync not a no-op: %+v", rep.Total)
			}
		})
	}
}

// TestMirrorFlagsDuringSync: a flag changed on a mirror's source after
// the sync listed it (the run does not write to the source) reaches the
// target on the next run, which lists the source's changes since the
// listing before, not since the end of the run.
func TestMirrorFlagsDuringSync(t *testing.T) {
	ctx := context.Background()
	live, src := newLive(t, true)
	_, dst := newLive(t, true)
	mustAppend(t, src, "INBOX", "a")
	opts := &Options{State: NewMemState()}
	mustSync(t, src, dst, opts)

	mustAppend(t, src, "INBOX", "b")
	live.listed.Store(false)
	live.deliver = func() {
		if err := live.mem.StoreFlags(ctx, "INBOX", uid.SetOf(1), mailbox.FlagsAdd, mailbox.MustFlags(mailbox.Seen)); err != nil {
			t.Error(err)
		}
	}
	mustSync(t, src, dst, opts)
	mustSync(t, src, dst, opts)
	if got, want := dump(t, dst, true), dump(t, src, true); got != want {
		t.Fatalf("after the next sync the target is\n%s\nwant the source:\n%s", got, want)
	}
}

// TestMirrorExpungeDuringRealign: a message a realign copied to the
// target, and that the source's user expunged before the plan after it
// listed the source, is expunged from the target: the realign recorded
// the copy. It is neither copied back to the source (the user deleted
// it; a read-only source fails the mailbox instead) nor kept as mail
// only on the target.
func TestMirrorExpungeDuringRealign(t *testing.T) {
	for _, tc := range []struct {
		name     string
		tracks   bool
		readOnly bool // the source, for the sync
	}{
		{"tracking", true, false},
		{"listing", false, false},
		{"read-only", false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			liveSrc, src := newLive(t, tc.tracks)
			liveDst, dst := newLive(t, tc.tracks)
			var from mailbox.Reader = src
			if tc.readOnly {
				from = readerOnly{src}
			}
			mustAppend(t, src, "INBOX", "a")
			mustAppend(t, src, "INBOX", "b")
			opts := &Options{State: NewMemState()}
			mustSync(t, from, dst, opts)

			// New mail on the source below the target's UIDNEXT: the
			// next sync realigns the target, and once it has renumbered
			// the target, the source's user expunges that mail.
			c := mustAppend(t, src, "INBOX", "c")
			if err := liveDst.mem.SetUIDNext(ctx, "INBOX", c+2); err != nil {
				t.Fatal(err)
			}
			liveDst.reset = func() {
				liveDst.reset = nil
				if err := liveSrc.mem.Expunge(ctx, "INBOX", uid.SetOf(c)); err != nil {
					t.Error(err)
				}
			}
			rep := mustSync(t, from, dst, opts)
			if rep.Mailboxes[0].Realigned == "" {
				t.Fatalf("the sync did not realign: %+v", rep.Mailboxes[0])
			}
			mustSync(t, from, dst, opts)
			if got, want := dump(t, dst, true), dump(t, src, true); got != want {
				t.Fatalf("the target is\n%s\nwant the source:\n%s", got, want)
			}
			var n int
			for _, err := range src.Messages(ctx, "INBOX", uid.All) {
				if err != nil {
					t.Fatal(err)
				}
				n++
			}
			if n != 2 {
				t.Errorf("the source holds %d messages, want 2 (a and b): the expunged c came back\n%s", n, dump(t, src, true))
			}
		})
	}
}
