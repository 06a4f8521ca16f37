package mailboxtest

import (
	"fmt"
	"testing"

	"github.com/mailrepl/mailrepl/mailbox"
	"github.com/mailrepl/mailrepl/uid"
)

func runModSeq(t *testing.T, h *Harness) {
	t.Run("RisesOnEveryChangeOnly", func(t *testing.T) {
		e := newEnv(t, h)
		_, tracker := e.tracker()
		highest := func() mailbox.ModSeq { return e.status(mailbox.Inbox).HighestModSeq }
		if highest() == 0 {
			if tracker {
				t.Fatal("a ChangeTracker reports HighestModSeq 0")
			}
			// A store without modseqs shows none anywhere.
			m := e.add(mailbox.Inbox, 1, newMessage(1))
			e.no("StoreFlags", e.s.StoreFlags(e.ctx, mailbox.Inbox, uid.All, mailbox.FlagsAdd, flags(mailbox.Seen)))
			if got := e.all(mailbox.Inbox); got[0].ModSeq != 0 || highest() != 0 {
				t.Fatalf("HighestModSeq was 0 but now is %d, and UID %d has modseq %d", highest(), m.uid, got[0].ModSeq)
			}
			return
		}
		modseqs := func() map[uid.UID]mailbox.ModSeq {
			ms := map[uid.UID]mailbox.ModSeq{}
			for _, m := range e.all(mailbox.Inbox) {
				ms[m.UID] = m.ModSeq
			}
			return ms
		}
		// step runs f and checks that HighestModSeq rose if and only if
		// change, that the messages in changed took modseqs above the old
		// HighestModSeq and up to the new one, and that the others kept
		// theirs.
		step := func(what string, change bool, f func() []uid.UID) {
			t.Helper()
			before, old := highest(), modseqs()
			changed := f()
			after, now := highest(), modseqs()
			switch {
			case change && after <= before:
				t.Fatalf("%s: HighestModSeq stayed %d → %d", what, before, after)
			case !change && after != before:
				t.Fatalf("%s changes nothing, but HighestModSeq went %d → %d", what, before, after)
			}
			for u, ms := range now {
				isChanged := false
				for _, c := range changed {
					isChanged = isChanged || c == u
				}
				switch {
				case isChanged && (ms <= before || ms > after):
					t.Fatalf("%s: UID %d has modseq %d, want one in (%d, %d]", what, u, ms, before, after)
				case !isChanged && ms != old[u]:
					t.Fatalf("%s: UID %d, not changed, went from modseq %d to %d", what, u, old[u], ms)
				}
			}
		}
		var a, b msg
		step("Append", true, func() []uid.UID { a = e.add(mailbox.Inbox, 1, newMessage(1), "$Tag"); return []uid.UID{a.uid} })
		step("Append", true, func() []uid.UID { b = e.add(mailbox.Inbox, 2, newMessage(2)); return []uid.UID{b.uid} })
		store := func(set uid.Set, op mailbox.FlagOp, fs ...mailbox.Flag) func() []uid.UID {
			return func() []uid.UID {
				e.no("StoreFlags", e.s.StoreFlags(e.ctx, mailbox.Inbox, set, op, flags(fs...)))
				return uidsOf(e.list(mailbox.Inbox, set))
			}
		}
		none := func(f func() []uid.UID) func() []uid.UID { return func() []uid.UID { f(); return nil } }
		step("StoreFlags +Seen", true, store(uid.SetOf(a.uid), mailbox.FlagsAdd, mailbox.Seen))
		step("StoreFlags +Seen again", false, none(store(uid.SetOf(a.uid), mailbox.FlagsAdd, mailbox.Seen)))
		step("StoreFlags +$tag (same keyword)", false, none(store(uid.SetOf(a.uid), mailbox.FlagsAdd, "$tag")))
		step("StoreFlags = the same flags", false, none(store(uid.SetOf(a.uid), mailbox.FlagsReplace, mailbox.Seen, "$TAG")))
		step("StoreFlags -Draft (not set)", false, none(store(uid.All, mailbox.FlagsRemove, mailbox.Draft)))
		step("StoreFlags on a missing UID", false, none(store(uid.SetOf(b.uid+10), mailbox.FlagsAdd, mailbox.Flagged)))
		step("StoreFlags on no UID", false, none(store(nil, mailbox.FlagsAdd, mailbox.Flagged)))
		step("StoreFlags +Flagged on all", true, store(uid.All, mailbox.FlagsAdd, mailbox.Flagged))
		step("StoreFlags -Seen on all (one has it)", true, func() []uid.UID {
			store(uid.All, mailbox.FlagsRemove, mailbox.Seen)()
			return []uid.UID{a.uid}
		})
		step("Expunge a missing UID", false, func() []uid.UID {
			e.no("Expunge", e.s.Expunge(e.ctx, mailbox.Inbox, uid.SetOf(b.uid+10)))
			return nil
		})
		step("Subscribe", false, func() []uid.UID {
			e.no("Subscribe", e.s.Subscribe(e.ctx, mailbox.Inbox, true))
			return nil
		})
		step("changes in another mailbox", false, func() []uid.UID {
			e.create("Other")
			e.add("Other", 3, newMessage(3))
			e.no("Rename", e.s.Rename(e.ctx, "Other", "Another"))
			return nil
		})
		step("Expunge", true, func() []uid.UID {
			e.no("Expunge", e.s.Expunge(e.ctx, mailbox.Inbox, uid.SetOf(a.uid)))
			return nil
		})
	})
}

// change is a change the suite expects: a message listed now, or an
// expunged UID.
type change struct {
	uid      uid.UID
	expunged bool
}

func (c change) String() string {
	if c.expunged {
		return fmt.Sprintf("-%d", c.uid)
	}
	return fmt.Sprintf("%d", c.uid)
}

// changes returns a ChangeTracker's answer, checking it is in strictly
// ascending UID order.
func (e *env) changes(name string, v uid.Validity, since mailbox.ModSeq) []mailbox.Change {
	e.t.Helper()
	c, _ := e.tracker()
	var cs []mailbox.Change
	for ch, err := range c.Changes(e.ctx, name, v, since) {
		if err != nil {
			e.t.Fatalf("Changes(%q, %d, %d): %v", name, v, since, err)
		}
		if n := len(cs); n > 0 && cs[n-1].UID >= ch.UID {
			e.t.Fatalf("Changes(%q, %d, %d) yields UID %d after %d", name, v, since, ch.UID, cs[n-1].UID)
		}
		cs = append(cs, ch)
	}
	return cs
}

// wantChanges checks a ChangeTracker's answer against want, and each
// changed message against its listing.
func (e *env) wantChanges(name string, since mailbox.ModSeq, want ...change) {
	e.t.Helper()
	info := e.status(name)
	got := e.changes(name, info.UIDValidity, since)
	listed := map[uid.UID]mailbox.Message{}
	for _, m := range e.all(name) {
		listed[m.UID] = m
	}
	var gs []change
	for _, c := range got {
		gs = append(gs, change{c.UID, c.Expunged})
	}
	if fmt.Sprint(gs) != fmt.Sprint(want) {
		e.t.Fatalf("Changes(%q, since %d) = %v, want %v (- marks an expunge)", name, since, gs, want)
	}
	for _, c := range got {
		if c.Expunged {
			if !c.Flags.IsEmpty() || c.Size != 0 || !c.EmailID.IsZero() || !c.InternalDate.IsZero() {
				e.t.Fatalf("Changes(%q, since %d): expunged UID %d comes with data: %v", name, since, c.UID, c.Message)
			}
			if c.ModSeq != 0 && (c.ModSeq <= since || c.ModSeq > info.HighestModSeq) {
				e.t.Fatalf("Changes(%q, since %d): UID %d expunged at modseq %d, HighestModSeq %d", name, since, c.UID, c.ModSeq, info.HighestModSeq)
			}
			continue
		}
		l := listed[c.UID]
		if !c.Flags.Equal(l.Flags) || c.Size != l.Size || c.EmailID != l.EmailID ||
			!c.InternalDate.Equal(l.InternalDate) || c.ModSeq != l.ModSeq {
			e.t.Fatalf("Changes(%q, since %d) gives %+v, the listing %+v", name, since, c.Message, l)
		}
		if c.ModSeq <= since {
			e.t.Fatalf("Changes(%q, since %d) gives UID %d with modseq %d", name, since, c.UID, c.ModSeq)
		}
	}
}

func runChanges(t *testing.T, h *Harness) {
	t.Run("EveryKindOfChange", func(t *testing.T) {
		e := newEnv(t, h)
		const in = mailbox.Inbox
		hi := func() mailbox.ModSeq { return e.status(in).HighestModSeq }
		h0 := hi()
		a := e.add(in, 1, newMessage(1), mailbox.Seen)
		b := e.add(in, 2, newMessage(2))
		c := e.add(in, 3, newMessage(3), "$Tag")
		h1 := hi()
		e.wantChanges(in, h0, change{uid: a.uid}, change{uid: b.uid}, change{uid: c.uid})
		e.wantChanges(in, h1)

		e.no("StoreFlags", e.s.StoreFlags(e.ctx, in, uid.SetOf(b.uid), mailbox.FlagsAdd, flags(mailbox.Flagged)))
		h2 := hi()
		e.wantChanges(in, h1, change{uid: b.uid})
		e.wantChanges(in, h0, change{uid: a.uid}, change{uid: b.uid}, change{uid: c.uid})
		e.no("StoreFlags", e.s.StoreFlags(e.ctx, in, uid.All, mailbox.FlagsAdd, flags("$tag")))
		h3 := hi()
		e.wantChanges(in, h2, change{uid: a.uid}, change{uid: b.uid})
		e.no("StoreFlags no-op", e.s.StoreFlags(e.ctx, in, uid.All, mailbox.FlagsAdd, flags("$TAG")))
		e.wantChanges(in, h3)

		e.no("Expunge", e.s.Expunge(e.ctx, in, uid.SetOf(a.uid)))
		h4 := hi()
		e.wantChanges(in, h3, change{a.uid, true})
		e.wantChanges(in, h2, change{a.uid, true}, change{uid: b.uid})
		e.wantChanges(in, h0, change{a.uid, true}, change{uid: b.uid}, change{uid: c.uid})

		d := e.add(in, 4, newMessage(4))
		e.wantChanges(in, h4, change{uid: d.uid})
		e.no("Expunge highest", e.s.Expunge(e.ctx, in, uid.SetOf(d.uid)))
		e.wantChanges(in, h4, change{d.uid, true})
		e.wantChanges(in, h3, change{a.uid, true}, change{d.uid, true})
		e.wantChanges(in, 0, change{a.uid, true}, change{uid: b.uid}, change{uid: c.uid}, change{d.uid, true})

		top := hi()
		e.wantChanges(in, top)
		e.wantChanges(in, top+1)
		e.wantChanges(in, top+1_000_000)

		e.no("Expunge all", e.s.Expunge(e.ctx, in, uid.All))
		e.wantChanges(in, top, change{b.uid, true}, change{c.uid, true})
	})

	t.Run("WrongValidity", func(t *testing.T) {
		e := newEnv(t, h)
		c, _ := e.tracker()
		e.add(mailbox.Inbox, 1, newMessage(1))
		v := e.status(mailbox.Inbox).UIDValidity
		for _, w := range []uid.Validity{v + 1, v - 1, 0} {
			n, err := firstErr(t, "Changes", c.Changes(e.ctx, mailbox.Inbox, w, 0))
			if n != 0 {
				t.Fatalf("Changes with UIDVALIDITY %d (not %d) yields %d changes", w, v, n)
			}
			e.wantErr(fmt.Sprintf("Changes with UIDVALIDITY %d, not %d", w, v), err, mailbox.ErrUIDValidityChanged, mailbox.Inbox)
		}
	})

	t.Run("AfterRename", func(t *testing.T) {
		e := newEnv(t, h)
		c, _ := e.tracker()
		e.create("X")
		a := e.add("X", 1, newMessage(1))
		mid := e.status("X").HighestModSeq
		e.no("Rename", e.s.Rename(e.ctx, "X", "Y"))
		e.wantChanges("Y", mid)
		e.wantChanges("Y", 0, change{uid: a.uid})
		b := e.add("Y", 2, newMessage(2))
		e.wantChanges("Y", mid, change{uid: b.uid})
		_, err := firstErr(t, "Changes", c.Changes(e.ctx, "X", e.status("Y").UIDValidity, 0))
		e.wantErr("Changes of the old name", err, mailbox.ErrNotFound, "X")
	})

	t.Run("AfterRecreate", func(t *testing.T) {
		e := newEnv(t, h)
		c, _ := e.tracker()
		old := e.create("X")
		e.add("X", 1, newMessage(1))
		e.no("Delete", e.s.Delete(e.ctx, "X"))
		e.create("X")
		_, err := firstErr(t, "Changes", c.Changes(e.ctx, "X", old.UIDValidity, old.HighestModSeq))
		e.wantErr("Changes with the deleted mailbox's UIDVALIDITY", err, mailbox.ErrUIDValidityChanged, "X")
		e.wantChanges("X", 0)
	})

	t.Run("StopsEarly", func(t *testing.T) {
		e := newEnv(t, h)
		c, _ := e.tracker()
		ms := e.addN(mailbox.Inbox, 3)
		e.no("Expunge", e.s.Expunge(e.ctx, mailbox.Inbox, uid.SetOf(ms[0].uid, ms[2].uid)))
		v := e.status(mailbox.Inbox).UIDValidity
		for stop := 1; stop <= 3; stop++ {
			n := 0
			for _, err := range c.Changes(e.ctx, mailbox.Inbox, v, 0) {
				e.no("Changes", err)
				if n++; n == stop {
					break
				}
			}
			if n != stop {
				t.Fatalf("stopping after %d changes, the loop ran %d times", stop, n)
			}
		}
	})
}
