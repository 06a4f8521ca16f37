package mailboxtest

import (
	"fmt"
	"testing"
	"time"

	"github.com/mailrepl/mailrepl/mailbox"
	"github.com/mailrepl/mailrepl/uid"
)

// appendUID appends message n with UID u through the UIDSetter.
func (e *env) appendUID(name string, u uid.UID, n int, fs ...mailbox.Flag) msg {
	e.t.Helper()
	us, _ := e.setter()
	m := msg{uid: u, body: newMessage(n), flags: flags(fs...), date: baseDate.Add(time.Duration(n) * time.Second)}
	err := us.AppendUID(e.ctx, name, u, mailbox.BytesLiteral(m.body), mailbox.AppendMeta{Flags: m.flags, InternalDate: m.date})
	e.no(fmt.Sprintf("AppendUID(%q, %d)", name, u), err)
	if next := e.status(name).UIDNext; next != u+1 {
		e.t.Fatalf("after AppendUID(%q, %d), UIDNEXT is %d, want %d", name, u, next, u+1)
	}
	return m
}

func runUIDSetter(t *testing.T, h *Harness) {
	t.Run("AppendUID", func(t *testing.T) {
		e := newEnv(t, h)
		next := e.status(mailbox.Inbox).UIDNext
		a := e.appendUID(mailbox.Inbox, next, 1, mailbox.Seen) // exactly UIDNEXT
		b := e.appendUID(mailbox.Inbox, a.uid+10, 2)           // a gap
		c := e.add(mailbox.Inbox, 3, newMessage(3))            // a plain append goes above
		if c.uid <= b.uid {
			t.Fatalf("Append after AppendUID(%d) took UID %d", b.uid, c.uid)
		}
		e.expect(mailbox.Inbox, a, b, c)
		e.no("Expunge", e.s.Expunge(e.ctx, mailbox.Inbox, uid.SetOf(c.uid)))
		us, _ := e.setter()
		for _, u := range []uid.UID{0, 1, a.uid, a.uid + 1, b.uid, c.uid} {
			err := us.AppendUID(e.ctx, mailbox.Inbox, u, mailbox.BytesLiteral(newMessage(9)), mailbox.AppendMeta{})
			e.wantErr(fmt.Sprintf("AppendUID(%d) below UIDNEXT %d", u, c.uid+1), err, mailbox.ErrUIDOrder, mailbox.Inbox)
		}
		err := us.AppendUID(e.ctx, mailbox.Inbox, uid.Max, mailbox.BytesLiteral(newMessage(9)), mailbox.AppendMeta{})
		e.wantErr("AppendUID(uid.Max)", err, mailbox.ErrUIDOrder, mailbox.Inbox)
		e.expect(mailbox.Inbox, a, b)
		if next := e.status(mailbox.Inbox).UIDNext; next != c.uid+1 {
			t.Fatalf("after failed AppendUIDs, UIDNEXT is %d, want %d", next, c.uid+1)
		}
	})

	t.Run("UIDsRunOut", func(t *testing.T) {
		e := newEnv(t, h)
		a := e.appendUID(mailbox.Inbox, uid.Max-1, 1)
		_, err := e.s.Append(e.ctx, mailbox.Inbox, mailbox.BytesLiteral(newMessage(2)), mailbox.AppendMeta{})
		if err == nil {
			t.Fatal("Append with UIDNEXT at uid.Max succeeded")
		}
		checkErr(t, "Append with UIDNEXT at uid.Max", err, err, mailbox.Inbox)
		e.expect(mailbox.Inbox, a)
	})

	t.Run("SetUIDNext", func(t *testing.T) {
		e := newEnv(t, h)
		us, _ := e.setter()
		a := e.add(mailbox.Inbox, 1, newMessage(1))
		e.no("SetUIDNext(100)", us.SetUIDNext(e.ctx, mailbox.Inbox, 100))
		if next := e.status(mailbox.Inbox).UIDNext; next != 100 {
			t.Fatalf("after SetUIDNext(100), UIDNEXT is %d", next)
		}
		e.no("SetUIDNext(100) again", us.SetUIDNext(e.ctx, mailbox.Inbox, 100))
		for _, n := range []uid.UID{99, a.uid, 0} {
			err := us.SetUIDNext(e.ctx, mailbox.Inbox, n)
			e.wantErr(fmt.Sprintf("SetUIDNext(%d) below 100", n), err, mailbox.ErrUIDOrder, mailbox.Inbox)
		}
		if next := e.status(mailbox.Inbox).UIDNext; next != 100 {
			t.Fatalf("after failed SetUIDNext calls, UIDNEXT is %d, want 100", next)
		}
		b := e.add(mailbox.Inbox, 2, newMessage(2))
		if b.uid < 100 {
			t.Fatalf("Append after SetUIDNext(100) took UID %d", b.uid)
		}
		err := us.AppendUID(e.ctx, mailbox.Inbox, 99, mailbox.BytesLiteral(newMessage(3)), mailbox.AppendMeta{})
		e.wantErr("AppendUID(99) after SetUIDNext(100)", err, mailbox.ErrUIDOrder, mailbox.Inbox)
		e.expect(mailbox.Inbox, a, b)
	})

	t.Run("ResetUIDs", func(t *testing.T) {
		e := newEnv(t, h)
		us, _ := e.setter()
		e.create("X")
		ms := []msg{
			e.add("X", 1, newMessage(1), mailbox.Seen),
			e.add("X", 2, newMessage(2)),
			e.add("X", 3, newMessage(3), "$Tag"),
			e.add("X", 4, newMessage(4)),
			e.add("X", 5, newMessage(5)),
		}
		// An expunge of the old epoch is not reported in the new one.
		e.no("Expunge", e.s.Expunge(e.ctx, "X", uid.SetOf(ms[4].uid)))
		before := e.status("X")
		v := before.UIDValidity + 1000
		var m uid.Map
		for _, p := range []uid.Pair{{Src: ms[0].uid, Dst: 10}, {Src: ms[2].uid, Dst: 5}, {Src: ms[3].uid + 50, Dst: 20}} {
			e.no("Map.Add", m.Add(p.Src, p.Dst))
		}
		e.no("ResetUIDs", us.ResetUIDs(e.ctx, "X", v, &m))
		after := e.status("X")
		if after.UIDValidity != v || after.ID != before.ID || after.UIDNext != 21 {
			t.Fatalf("after ResetUIDs(%d), X is %+v; want UIDVALIDITY %d, ID %q, UIDNEXT 21", v, after, v, before.ID)
		}
		ms[2].uid, ms[0].uid = 5, 10
		e.expect("X", ms[2], ms[0])
		if after.HighestModSeq != 0 && after.HighestModSeq <= before.HighestModSeq {
			t.Fatalf("ResetUIDs left HighestModSeq at %d (was %d)", after.HighestModSeq, before.HighestModSeq)
		}
		if c, ok := e.tracker(); ok {
			_, err := firstErr(t, "Changes", c.Changes(e.ctx, "X", before.UIDValidity, before.HighestModSeq))
			e.wantErr("Changes with the old UIDVALIDITY", err, mailbox.ErrUIDValidityChanged, "X")
			e.wantChanges("X", 0, change{uid: 5}, change{uid: 10})
			e.wantChanges("X", before.HighestModSeq, change{uid: 5}, change{uid: 10})
		}
		n := e.add("X", 9, newMessage(9))
		if n.uid < 21 {
			t.Fatalf("Append after ResetUIDs took UID %d, want 21 or above", n.uid)
		}
		// An empty map expunges everything.
		e.no("ResetUIDs with no map", us.ResetUIDs(e.ctx, "X", v+1, nil))
		e.expect("X")
		if st := e.status("X"); st.UIDNext != 1 || st.UIDValidity != v+1 {
			t.Fatalf("after ResetUIDs(%d, nil), X is %+v, want UIDNEXT 1", v+1, st)
		}
	})

	t.Run("ResetUIDsSameValidity", func(t *testing.T) {
		// A replica realigned to its source keeps the UIDVALIDITY it had.
		e := newEnv(t, h)
		us, _ := e.setter()
		a := e.add(mailbox.Inbox, 1, newMessage(1))
		b := e.add(mailbox.Inbox, 2, newMessage(2))
		before := e.status(mailbox.Inbox)
		var m uid.Map
		e.no("Map.Add", m.Add(a.uid, 8))
		e.no("Map.Add", m.Add(b.uid, 3))
		e.no("ResetUIDs", us.ResetUIDs(e.ctx, mailbox.Inbox, before.UIDValidity, &m))
		after := e.status(mailbox.Inbox)
		if after.UIDValidity != before.UIDValidity || after.UIDNext != 9 {
			t.Fatalf("after ResetUIDs to the same UIDVALIDITY, INBOX is %+v; want UIDVALIDITY %d, UIDNEXT 9", after, before.UIDValidity)
		}
		a.uid, b.uid = 8, 3
		e.expect(mailbox.Inbox, b, a)
		// Renumbering lower keeps UIDNEXT: within one UIDVALIDITY it never
		// goes down.
		var down uid.Map
		e.no("Map.Add", down.Add(8, 1))
		e.no("ResetUIDs", us.ResetUIDs(e.ctx, mailbox.Inbox, before.UIDValidity, &down))
		if st := e.status(mailbox.Inbox); st.UIDNext != 9 {
			t.Fatalf("after renumbering down under the same UIDVALIDITY, UIDNEXT is %d, want 9", st.UIDNext)
		}
		a.uid = 1
		e.expect(mailbox.Inbox, a)
		if c, ok := e.tracker(); ok && before.HighestModSeq > 0 {
			_, err := firstErr(t, "Changes", c.Changes(e.ctx, mailbox.Inbox, before.UIDValidity, before.HighestModSeq))
			e.wantErr("Changes since a modseq from before the renumbering", err, mailbox.ErrChangesUnavailable, mailbox.Inbox)
			e.wantChanges(mailbox.Inbox, 0, change{uid: 1})
		}
	})

	t.Run("ResetUIDsErrors", func(t *testing.T) {
		e := newEnv(t, h)
		us, _ := e.setter()
		a := e.add(mailbox.Inbox, 1, newMessage(1))
		before := e.status(mailbox.Inbox)
		var m uid.Map
		e.no("Map.Add", m.Add(a.uid, 7))
		err := us.ResetUIDs(e.ctx, mailbox.Inbox, 0, &m)
		e.wantErr("ResetUIDs(0)", err, mailbox.ErrNotAllowed, mailbox.Inbox)
		e.no("Map.Add", m.Add(a.uid+1, uid.Max))
		err = us.ResetUIDs(e.ctx, mailbox.Inbox, before.UIDValidity+1, &m)
		e.wantErr("ResetUIDs to uid.Max", err, mailbox.ErrUIDOrder, mailbox.Inbox)
		if st := e.status(mailbox.Inbox); st != before {
			t.Fatalf("after failed ResetUIDs, INBOX is %+v, want %+v", st, before)
		}
		e.expect(mailbox.Inbox, a)
	})
}
