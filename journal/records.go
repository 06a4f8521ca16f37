package journal

import (
	"context"
	"fmt"
	"iter"
	"time"

	"github.com/mailrepl/mailrepl/mailbox"
)

func userMailboxDesc(user string, mbox mailbox.ID) string {
	return fmt.Sprintf("user %q mailbox %q", user, mbox)
}

// Tombstones yields the tombstones of the user's mailbox, ordered by
// EmailID, then UID.
func (j *Journal) Tombstones(ctx context.Context, user string, mbox mailbox.ID) iter.Seq2[Tombstone, error] {
	p := newKey(tTombstone).str(user).str(string(mbox))
	return scan(j, ctx, "tombstones", userMailboxDesc(user, mbox), p, prefixEnd(p), decodeTombstone)
}

// Tombstone returns a tombstone of id in the user's mailbox (the one with
// the lowest UID when there are several); found is false when id was not
// tombstoned there.
func (j *Journal) Tombstone(user string, mbox mailbox.ID, id mailbox.EmailID) (t Tombstone, found bool, err error) {
	p := newKey(tTombstone).str(user).str(string(mbox)).id(id)
	return first(j, "tombstone", userMailboxDesc(user, mbox)+" "+id.Short(), p, decodeTombstone)
}

// TombstonesOf yields the tombstones of id in every mailbox of the user,
// so that a restore whose mailbox IDs changed (a mailbox re-created after a
// disk loss) still finds them.
func (j *Journal) TombstonesOf(ctx context.Context, user string, id mailbox.EmailID) iter.Seq2[Tombstone, error] {
	p := newKey(tTombByEmail).str(user).id(id)
	return scan(j, ctx, "tombstones", fmt.Sprintf("user %q %s", user, id.Short()), p, prefixEnd(p), decodeTombstone)
}

// PruneTombstones deletes the tombstones recorded before the given time
// and returns how many. It reads every tombstone.
func (j *Journal) PruneTombstones(ctx context.Context, before time.Time) (int, error) {
	const perBatch = 1000
	n := 0
	b := j.NewBatch()
	flush := func() error {
		if b.Len() == 0 {
			return nil
		}
		_, err := b.Commit(ctx)
		b = j.NewBatch()
		return err
	}
	for t, err := range scan(j, ctx, "prune tombstones", "", []byte{tTombstone}, []byte{tTombstone + 1}, decodeTombstone) {
		if err != nil {
			return n, err
		}
		if !t.Time.Before(before) {
			continue
		}
		b.DeleteTombstone(t)
		n++
		if b.Len() >= perBatch {
			if err := flush(); err != nil {
				return n - perBatch, err
			}
		}
	}
	pending := b.Len()
	if err := flush(); err != nil {
		return n - pending, err
	}
	return n, nil
}

// Lost yields the lost records of the user's mailbox, ordered by EmailID
// (zero first), then UID.
func (j *Journal) Lost(ctx context.Context, user string, mbox mailbox.ID) iter.Seq2[Lost, error] {
	p := newKey(tLost).str(user).str(string(mbox))
	return scan(j, ctx, "lost", userMailboxDesc(user, mbox), p, prefixEnd(p), decodeLost)
}

// LostRecord returns a lost record of id in the user's mailbox (the one
// with the lowest UID when there are several); found is false when there is
// none.
func (j *Journal) LostRecord(user string, mbox mailbox.ID, id mailbox.EmailID) (Lost, bool, error) {
	p := newKey(tLost).str(user).str(string(mbox)).id(id)
	return first(j, "lost", userMailboxDesc(user, mbox)+" "+id.Short(), p, decodeLost)
}

// first returns the first record whose key starts with p.
func first[T any](j *Journal, op, what string, p []byte, decode func(k, v []byte) (T, error)) (T, bool, error) {
	var zero T
	if err := j.enter(); err != nil {
		return zero, false, &Error{Op: op, Dir: j.dir, Key: what, Err: err}
	}
	defer j.leave()
	it, err := j.db.NewIter(nil)
	if err != nil {
		return zero, false, j.err(op, what, err)
	}
	it.SetBounds(p, prefixEnd(p))
	var x T
	found := it.First()
	if found {
		var v []byte
		v, err = it.ValueAndErr()
		if err == nil {
			x, err = decode(it.Key(), v)
		}
	}
	if err = firstErr(err, it.Error(), it.Close()); err != nil {
		return zero, false, j.err(op, what, err)
	}
	return x, found, nil
}
