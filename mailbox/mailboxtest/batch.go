package mailboxtest

import (
	"testing"

	"github.com/mailrepl/mailrepl/mailbox"
)

// batch starts a batch on a mailbox and ends it when the test ends.
func (e *env) batch(name string) mailbox.Batch {
	e.t.Helper()
	bt, err := e.s.(mailbox.Batcher).Batch(e.ctx, name)
	e.no("Batch", err)
	e.t.Cleanup(func() { bt.Close() })
	return bt
}

// batchAdd appends message n in a batch.
func (e *env) batchAdd(bt mailbox.Batch, n int, fs ...mailbox.Flag) msg {
	e.t.Helper()
	m := msg{body: e.h.stored(newMessage(n)), flags: flags(fs...), date: baseDate}
	u, err := bt.Append(e.ctx, mailbox.BytesLiteral(m.body), mailbox.AppendMeta{Flags: m.flags, InternalDate: m.date})
	e.no("Batch.Append", err)
	m.uid = u
	return m
}

func runBatch(t *testing.T, h *Harness) {
	t.Run("Commit", func(t *testing.T) {
		e := newEnv(t, h)
		e.create("X")
		next := e.status("X").UIDNext
		bt := e.batch("X")
		var ms []msg
		for i := range 3 {
			m := e.batchAdd(bt, i, mailbox.Seen)
			if m.uid < next || (i > 0 && m.uid <= ms[i-1].uid) {
				t.Fatalf("batch append %d took UID %d (UIDNEXT was %d, UIDs so far %v)", i, m.uid, next, wantUIDs(ms))
			}
			ms = append(ms, m)
		}
		e.no("Commit", bt.Commit(e.ctx))
		e.expect("X", ms...)
		e.no("Close after Commit", bt.Close())
		e.expect("X", ms...)
		_, err := bt.Append(e.ctx, mailbox.BytesLiteral(newMessage(9)), mailbox.AppendMeta{})
		e.wantErr("Batch.Append after Commit", err, mailbox.ErrClosed, "X")
		e.wantErr("Commit again", bt.Commit(e.ctx), mailbox.ErrClosed, "X")
		e.expect("X", ms...)
	})

	t.Run("EmptyCommit", func(t *testing.T) {
		e := newEnv(t, h)
		bt := e.batch(mailbox.Inbox)
		e.no("Commit", bt.Commit(e.ctx))
		e.expect(mailbox.Inbox)
	})

	t.Run("CloseWithoutCommit", func(t *testing.T) {
		e := newEnv(t, h)
		pre := e.add(mailbox.Inbox, 1, newMessage(1))
		h0 := e.status(mailbox.Inbox).HighestModSeq
		bt := e.batch(mailbox.Inbox)
		a, b := e.batchAdd(bt, 2), e.batchAdd(bt, 3)
		e.no("Close", bt.Close())
		e.expect(mailbox.Inbox, pre)
		after := e.add(mailbox.Inbox, 4, newMessage(4))
		if after.uid <= b.uid {
			t.Fatalf("Append after an undone batch took UID %d; the batch used %d and %d", after.uid, a.uid, b.uid)
		}
		e.expect(mailbox.Inbox, pre, after)
		if _, ok := e.tracker(); ok {
			// The undone appends may show as expunged, or not at all.
			got := e.changes(mailbox.Inbox, e.status(mailbox.Inbox).UIDValidity, h0)
			var rest []change
			for _, c := range got {
				if c.Expunged && (c.UID == a.uid || c.UID == b.uid) {
					continue
				}
				rest = append(rest, change{c.UID, c.Expunged})
			}
			if len(rest) != 1 || rest[0] != (change{uid: after.uid}) {
				t.Fatalf("Changes after an undone batch = %v, want %v (and maybe -%d -%d)", rest, after.uid, a.uid, b.uid)
			}
		}
		e.no("Close again", bt.Close())
		_, err := bt.Append(e.ctx, mailbox.BytesLiteral(newMessage(9)), mailbox.AppendMeta{})
		e.wantErr("Batch.Append after Close", err, mailbox.ErrClosed, mailbox.Inbox)
		e.wantErr("Commit after Close", bt.Commit(e.ctx), mailbox.ErrClosed, mailbox.Inbox)
	})

	t.Run("AppendUID", func(t *testing.T) {
		e := newEnv(t, h)
		bt := e.batch(mailbox.Inbox)
		next := e.status(mailbox.Inbox).UIDNext
		body := newMessage(1)
		err := bt.AppendUID(e.ctx, next+5, mailbox.BytesLiteral(body), mailbox.AppendMeta{Flags: flags(mailbox.Seen)})
		if _, ok := e.setter(); !ok {
			e.wantErr("Batch.AppendUID on a store that is no UIDSetter", err, mailbox.ErrNotSupported, mailbox.Inbox)
			return
		}
		e.no("Batch.AppendUID", err)
		err = bt.AppendUID(e.ctx, next+5, mailbox.BytesLiteral(newMessage(2)), mailbox.AppendMeta{})
		e.wantErr("Batch.AppendUID of a used UID", err, mailbox.ErrUIDOrder, mailbox.Inbox)
		m := e.batchAdd(bt, 3)
		if m.uid <= next+5 {
			t.Fatalf("Batch.Append after AppendUID(%d) took UID %d", next+5, m.uid)
		}
		e.no("Commit", bt.Commit(e.ctx))
		e.expect(mailbox.Inbox, msg{uid: next + 5, body: body, flags: flags(mailbox.Seen)}, m)
	})

	t.Run("BadLiteral", func(t *testing.T) {
		e := newEnv(t, h)
		bt := e.batch(mailbox.Inbox)
		_, err := bt.Append(e.ctx, mailbox.BytesLiteral(nil), mailbox.AppendMeta{})
		e.wantErr("Batch.Append of an empty message", err, mailbox.ErrInvalidMessage, mailbox.Inbox)
		m := e.batchAdd(bt, 1)
		e.no("Commit", bt.Commit(e.ctx))
		e.expect(mailbox.Inbox, m)
	})

	t.Run("OtherMailboxesUntouched", func(t *testing.T) {
		e := newEnv(t, h)
		e.create("X")
		x := e.add("X", 1, newMessage(1))
		bt := e.batch(mailbox.Inbox)
		e.batchAdd(bt, 2)
		y := e.add("X", 3, newMessage(3))
		e.no("Close", bt.Close())
		e.expect("X", x, y)
		e.expect(mailbox.Inbox)
	})
}
