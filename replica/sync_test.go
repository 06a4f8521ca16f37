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
