package replica

import (
	"context"
	"testing"

	"github.com/mailrepl/mailrepl/mailbox"
	"github.com/mailrepl/mailrepl/uid"
)

func TestMirrorBasic(t *testing.T) {
	ctx := context.Background()
	src, dst := newMem(t, nil), newMem(t, nil)
	mustCreate(t, src, "Work")
	mustCreate(t, src, "Work/2024")
	mustAppend(t, src, "INBOX", "a", mailbox.Seen)
	mustAppend(t, src, "INBOX", "b")
	mustAppend(t, src, "Work", "c", mailbox.Flagged, "$Label1")
	mustAppend(t, src, "Work/2024", "d", mailbox.Passed)
	if err := src.Subscribe(ctx, "Work", true); err != nil {
		t.Fatal(err)
	}
	state := NewMemState()
	opts := &Options{State: state}
	rep := mustSync(t, src, dst, opts)
	if got, want := dump(t, dst, true), dump(t, src, true); got != want {
		t.Fatalf("after mirror:\n%s\nwant:\n%s", got, want)
	}
	if rep.Total.Appended != 4 {
		t.Errorf("appended %d, want 4", rep.Total.Appended)
	}
	// Nothing changed: nothing to do.
	rep = mustSync(t, src, dst, opts)
	if rep.Total.Changed() {
		t.Errorf("second sync changed something: %+v", rep.Total)
	}
	// Changes on the source: new mail, flags, expunge.
	mustAppend(t, src, "INBOX", "e")
	if err := src.StoreFlags(ctx, "INBOX", uid.SetOf(2), mailbox.FlagsAdd, mailbox.MustFlags(mailbox.Answered)); err != nil {
		t.Fatal(err)
	}
	if err := src.Expunge(ctx, "INBOX", uid.SetOf(1)); err != nil {
		t.Fatal(err)
	}
	rep = mustSync(t, src, dst, opts)
	if got, want := dump(t, dst, true), dump(t, src, true); got != want {
		t.Fatalf("after incremental mirror:\n%s\nwant:\n%s", got, want)
	}
	if rep.Total.Appended != 1 || rep.Total.FlagChanges != 1 || rep.Total.Expunged != 1 {
		t.Errorf("incremental: %+v", rep.Total)
	}
	if n := len(state.Tombstones("")); n != 1 {
		t.Errorf("%d tombstones, want 1", n)
	}
}

func TestMirrorShow(t *testing.T) {
	src, dst := newMem(t, nil), newMem(t, nil)
	mustAppend(t, src, "INBOX", "a", mailbox.Seen)
	mustAppend(t, src, "INBOX", "b")
	opts := &Options{OnOp: func(mb string, op Op) { t.Logf("%s: %s", mb, op) }, OnMailboxOp: func(op MailboxOp) { t.Logf("%s", op) }}
	rep := mustSync(t, src, dst, opts)
	t.Logf("%+v realigned=%q", rep.Total, rep.Mailboxes[0].Realigned)
	t.Logf("src:\n%s", dump(t, src, true))
	t.Logf("dst:\n%s", dump(t, dst, true))
}

// readerOnly hides a store's Writer methods: a source the engine must not
// write to.
type readerOnly struct{ mailbox.Reader }

// TestMirrorHeldBack: mail written to a mirror's target (split brain) is
// kept there while the source is read-only, and Report.HeldBack says so;
// a run with a writable source copies it back.
func TestMirrorHeldBack(t *testing.T) {
	for _, regime := range []string{"identity", "map"} {
		t.Run(regime, func(t *testing.T) {
			ctx := context.Background()
			src, mem := newMem(t, nil), newMem(t, nil)
			var dst mailbox.Store = mem
			if regime == "map" {
				dst = plainStore{mem}
			}
			mustAppend(t, src, "INBOX", "a", mailbox.Seen)
			mustAppend(t, src, "INBOX", "b")
			opts := &Options{State: NewMemState()}
			if rep := mustSync(t, readerOnly{src}, dst, opts); rep.HeldBack != 0 {
				t.Fatalf("first mirror: HeldBack %d, want 0", rep.HeldBack)
			}
			// The replica is used as the primary for a while.
			mustAppend(t, mem, "INBOX", "split")
			mustCreate(t, mem, "Only")
			mustAppend(t, mem, "Only", "only")
			before := dump(t, mem, false)

			s, err := New(readerOnly{src}, dst, opts)
			if err != nil {
				t.Fatal(err)
			}
			rep, _ := s.Sync(ctx) // the identity regime stops the INBOX: an error
			if rep.HeldBack == 0 {
				t.Errorf("read-only source: HeldBack 0; report %+v", rep)
			}
			if got := dump(t, mem, false); got != before {
				t.Errorf("the target changed under a read-only source:\n%s\nwas:\n%s", got, before)
			}
			rep = mustSync(t, src, dst, opts)
			if rep.HeldBack != 0 {
				t.Errorf("writable source: HeldBack %d, want 0", rep.HeldBack)
			}
			if rep.Total.AppendedToSource != 2 {
				t.Errorf("copied back %d messages, want 2", rep.Total.AppendedToSource)
			}
			if got, want := dump(t, mem, false), dump(t, src, false); got != want {
				t.Errorf("after the rescue the target is\n%s\nwant the source:\n%s", got, want)
			}
		})
	}
}
