package replica

import (
	"iter"

	"github.com/mailrepl/mailrepl/mailbox"
	"github.com/mailrepl/mailrepl/uid"
)

// Listing is what one side holds of one mailbox: a stream sorted by UID.
// When Delta is false it is the whole mailbox: a UID not in it is not
// there. When Delta is true it holds only what changed since the state was
// agreed (new or changed messages, and expunges): a UID not in it is as
// the state says.
type Listing struct {
	Seq   iter.Seq2[mailbox.Change, error]
	Delta bool
}

// FullListing wraps a mailbox listing as a Listing.
func FullListing(seq iter.Seq2[mailbox.Message, error]) Listing {
	return Listing{Seq: func(yield func(mailbox.Change, error) bool) {
		for m, err := range seq {
			if !yield(mailbox.Change{Message: m}, err) || err != nil {
				return
			}
		}
	}}
}

// row is one message's three views: the state entry and what each side
// holds. A nil side is a message that side does not hold.
type row struct {
	E    *Entry
	S, D *mailbox.Message
}

// cursor is a pull iterator with one element of look-ahead.
type cursor[T any] struct {
	next func() (T, error, bool)
	stop func()
	cur  T
	ok   bool
}

func newCursor[T any](seq iter.Seq2[T, error]) (*cursor[T], error) {
	next, stop := iter.Pull2(seq)
	c := &cursor[T]{next: next, stop: stop}
	return c, c.advance()
}

func (c *cursor[T]) advance() error {
	v, err, ok := c.next()
	if !ok {
		var zero T
		c.cur, c.ok = zero, false
		return nil
	}
	if err != nil {
		c.ok = false
		return err
	}
	c.cur, c.ok = v, true
	return nil
}

func emptySeq[T any]() iter.Seq2[T, error] { return func(func(T, error) bool) {} }

// fromEntry is the message a side holds unchanged since the state.
func fromEntry(e *Entry, u uid.UID) *mailbox.Message {
	return &mailbox.Message{UID: u, EmailID: e.EmailID, Flags: e.Flags}
}

// joinByUID merge-joins both sides and the state by UID, for pairs whose
// UIDs are the same on both sides. It calls emit once per UID, in
// ascending order. Memory does not grow with the mailbox.
func joinByUID(src, dst Listing, state iter.Seq2[Entry, error], emit func(uid.UID, row) error) error {
	sc, err := newCursor(src.Seq)
	if err != nil {
		return err
	}
	defer sc.stop()
	dc, err := newCursor(dst.Seq)
	if err != nil {
		return err
	}
	defer dc.stop()
	ec, err := newCursor(state)
	if err != nil {
		return err
	}
	defer ec.stop()
	for sc.ok || dc.ok || ec.ok {
		u := uid.Max
		if sc.ok {
			u = min(u, sc.cur.UID)
		}
		if dc.ok {
			u = min(u, dc.cur.UID)
		}
		if ec.ok {
			u = min(u, ec.cur.Src)
		}
		var r row
		if ec.ok && ec.cur.Src == u {
			e := ec.cur
			r.E = &e
			if err := ec.advance(); err != nil {
				return err
			}
		}
		var err error
		if r.S, err = take(sc, src.Delta, u, r.E); err != nil {
			return err
		}
		if r.D, err = take(dc, dst.Delta, u, r.E); err != nil {
			return err
		}
		if err := emit(u, r); err != nil {
			return err
		}
	}
	return nil
}

// take returns what a side holds of UID u, given its cursor and the
// state entry e (nil if none), and advances the cursor past u.
func take(c *cursor[mailbox.Change], delta bool, u uid.UID, e *Entry) (*mailbox.Message, error) {
	if c.ok && c.cur.UID == u {
		ch := c.cur
		if err := c.advance(); err != nil {
			return nil, err
		}
		if ch.Expunged {
			return nil, nil
		}
		m := ch.Message
		return &m, nil
	}
	if delta && e != nil {
		return fromEntry(e, u), nil
	}
	return nil, nil
}

// targetView is what pass one of joinByMap learns of the target: the
// entries whose target message changed or vanished, and the target's
// messages that no entry pairs.
type targetView struct {
	changed  map[uid.UID]*mailbox.Message // by source UID; nil: expunged on the target
	unpaired []mailbox.Message
}

// scanTarget is pass one of joinByMap: it merge-joins the target listing
// with the state in target-UID order. Memory grows with the number of
// differences only. checkIDs: a target message whose EmailID is not its
// entry's counts as changed (not in migrate mode, where a target may hold a
// rewritten copy paired by fingerprint).
func scanTarget(dst Listing, stateByDst iter.Seq2[Entry, error], checkIDs bool) (*targetView, error) {
	tv := &targetView{changed: map[uid.UID]*mailbox.Message{}}
	dc, err := newCursor(dst.Seq)
	if err != nil {
		return nil, err
	}
	defer dc.stop()
	ec, err := newCursor(stateByDst)
	if err != nil {
		return nil, err
	}
	defer ec.stop()
	for dc.ok || ec.ok {
		u := uid.Max
		if dc.ok {
			u = min(u, dc.cur.UID)
		}
		if ec.ok {
			u = min(u, ec.cur.Dst)
		}
		var e *Entry
		if ec.ok && ec.cur.Dst == u {
			v := ec.cur
			e = &v
			if err := ec.advance(); err != nil {
				return nil, err
			}
		}
		d, err := take(dc, dst.Delta, u, e)
		if err != nil {
			return nil, err
		}
		switch {
		case e == nil && d != nil:
			tv.unpaired = append(tv.unpaired, *d)
		case e != nil && d == nil:
			tv.changed[e.Src] = nil
		case e != nil && d != nil && (!d.Flags.Equal(e.Flags) || (checkIDs && idsDiffer(d.EmailID, e.EmailID))):
			tv.changed[e.Src] = d
		}
	}
	return tv, nil
}

// joinBySource is pass two of joinByMap: the source listing merge-joined
// with the state in source-UID order, each entry's target view taken from
// tv. Rows of unpaired target messages are not emitted here.
func joinBySource(src Listing, state iter.Seq2[Entry, error], tv *targetView, emit func(uid.UID, row) error) error {
	sc, err := newCursor(src.Seq)
	if err != nil {
		return err
	}
	defer sc.stop()
	ec, err := newCursor(state)
	if err != nil {
		return err
	}
	defer ec.stop()
	for sc.ok || ec.ok {
		u := uid.Max
		if sc.ok {
			u = min(u, sc.cur.UID)
		}
		if ec.ok {
			u = min(u, ec.cur.Src)
		}
		var r row
		if ec.ok && ec.cur.Src == u {
			e := ec.cur
			r.E = &e
			if err := ec.advance(); err != nil {
				return err
			}
			if d, ok := tv.changed[e.Src]; ok {
				r.D = d
			} else {
				r.D = fromEntry(&e, e.Dst)
			}
		}
		var err error
		if r.S, err = take(sc, src.Delta, u, r.E); err != nil {
			return err
		}
		if err := emit(u, r); err != nil {
			return err
		}
	}
	return nil
}

func idsDiffer(a, b mailbox.EmailID) bool { return !a.IsZero() && !b.IsZero() && a != b }
