package journal

import (
	"context"
	"fmt"
	"iter"

	"github.com/mailrepl/mailrepl/mailbox"
)

// Append adds events to the log in one durable write and returns the
// sequence number of the last; the events get consecutive numbers ending
// there, in the order given. Concurrent Appends (and Commits) share one disk
// sync. When ctx ends before the events reach the disk, Append returns ctx's
// error and nothing is written.
func (j *Journal) Append(ctx context.Context, events ...Event) (Seq, error) {
	b := j.NewBatch()
	b.Append(events...)
	return b.Commit(ctx)
}

// LastSeq returns the sequence number of the last event committed (zero
// when there has been none).
func (j *Journal) LastSeq() Seq {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.mu.last
}

// Truncated returns the sequence number through which events were removed
// by Truncate (zero when none were).
func (j *Journal) Truncated() Seq {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.mu.trunc
}

// Events yields the committed events after the given sequence number, in
// order, as of the moment the iteration starts. When events after `after` were
// removed by Truncate, it yields an error wrapping ErrTruncated (then the
// consumer must resynchronise from the stores). Errors end the sequence and
// are yielded once, with a zero Event; stopping early is allowed.
func (j *Journal) Events(ctx context.Context, after Seq) iter.Seq2[Event, error] {
	return func(yield func(Event, error) bool) {
		what := fmt.Sprintf("after %d", after)
		if trunc := j.Truncated(); after < trunc {
			yield(Event{}, &Error{Op: "events", Dir: j.dir, Key: what, Err: fmt.Errorf("%w: through %d", ErrTruncated, trunc)})
			return
		}
		// Sequence numbers have no gaps except below the truncation
		// point: a gap means events were truncated while the scan ran,
		// or the log is damaged.
		next := after + 1
		// Only events whose commit returned: the storage engine shows a
		// write to readers before its sync ends.
		last := j.LastSeq()
		if after >= last {
			return
		}
		for ev, err := range scan(j, ctx, "events", what, eventKey(after+1), eventKey(last+1), decodeEvent) {
			if err == nil && ev.Seq != next {
				if trunc := j.Truncated(); ev.Seq <= trunc+1 {
					err = &Error{Op: "events", Dir: j.dir, Key: what, Err: fmt.Errorf("%w: through %d", ErrTruncated, trunc)}
				} else {
					err = &Error{Op: "events", Dir: j.dir, Key: what, Err: fmt.Errorf("%w: event %d follows %d", ErrCorrupt, ev.Seq, next-1)}
				}
			}
			if err != nil {
				yield(Event{}, err)
				return
			}
			next++
			if !yield(ev, nil) {
				return
			}
		}
	}
}

// Wait blocks until an event after `after` has been committed, ctx ends or
// the journal is closed. It does not poll: commits wake it.
func (j *Journal) Wait(ctx context.Context, after Seq) error {
	for {
		j.mu.Lock()
		last, ch := j.mu.last, j.mu.notify
		j.mu.Unlock()
		if j.closed.Load() {
			return &Error{Op: "wait", Dir: j.dir, Err: ErrClosed}
		}
		if last > after {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return &Error{Op: "wait", Dir: j.dir, Err: ctx.Err()}
		}
	}
}

// SetCursor moves the named cursor to s in a durable write. See
// [Batch.SetCursor] to move it together with the progress it records.
func (j *Journal) SetCursor(ctx context.Context, name string, s Seq) error {
	b := j.NewBatch()
	b.SetCursor(name, s)
	_, err := b.Commit(ctx)
	return err
}

// DeleteCursor removes the named cursor.
func (j *Journal) DeleteCursor(ctx context.Context, name string) error {
	b := j.NewBatch()
	b.DeleteCursor(name)
	_, err := b.Commit(ctx)
	return err
}

// Cursor returns the named cursor's position; found is false when there is
// no such cursor.
func (j *Journal) Cursor(name string) (s Seq, found bool, err error) {
	k := cursorKey(name)
	v, found, err := j.get(k)
	if err != nil || !found {
		return 0, false, j.err("cursor", fmt.Sprintf("%q", name), err)
	}
	s, err = decodeSeq(tCursor, k, v, recCursor)
	if err != nil {
		return 0, false, j.err("cursor", fmt.Sprintf("%q", name), err)
	}
	return s, true, nil
}

// NamedSeq is a cursor: its name and position.
type NamedSeq struct {
	Name string
	Seq  Seq
}

// Cursors yields every cursor, by name.
func (j *Journal) Cursors(ctx context.Context) iter.Seq2[NamedSeq, error] {
	return scan(j, ctx, "cursors", "", []byte{tCursor}, []byte{tCursor + 1}, func(k, v []byte) (NamedSeq, error) {
		name, s, err := decodeCursor(k, v)
		return NamedSeq{name, s}, err
	})
}

// Truncate removes the events at or below the lowest cursor and returns the
// new truncation point. Without a cursor it removes nothing. Remove the
// cursor of a consumer that is gone for good ([Journal.DeleteCursor]), or
// it holds the log back forever.
func (j *Journal) Truncate(ctx context.Context) (Seq, error) {
	b := j.NewBatch()
	b.Truncate()
	b.started = true
	r, err := j.submit(ctx, b)
	if err != nil {
		return 0, err
	}
	return r.trunc, nil
}

// Dirty yields the mailboxes changed by an event after `since`, each once,
// in the order of their last change, with that change's sequence number.
// It reads an index kept with the events, not the events themselves, so it
// costs one record per changed mailbox, and it stays complete after
// Truncate. A mailbox is known by its ID when events give one, else by its
// name.
func (j *Journal) Dirty(ctx context.Context, since Seq) iter.Seq2[UserMailbox, error] {
	return func(yield func(UserMailbox, error) bool) {
		// Only events whose commit returned, as in Events. A mailbox
		// whose last change is still being committed is left out; it
		// shows up from that change on.
		last := j.LastSeq()
		if since >= last {
			return
		}
		lo, hi := newKey(tDirtyBySeq).u64(uint64(since+1)), newKey(tDirtyBySeq).u64(uint64(last+1))
		scan(j, ctx, "dirty", fmt.Sprintf("since %d", since), lo, hi, decodeDirty)(yield)
	}
}

// MailboxSeq returns the last event that changed the user's mailbox (by ID,
// or by name when id is ""); found is false when none did.
func (j *Journal) MailboxSeq(user string, id mailbox.ID, name string) (UserMailbox, bool, error) {
	k := dirtyByMboxKey(user, id, name)
	v, found, err := j.get(k)
	if err != nil || !found {
		return UserMailbox{}, false, j.err("mailbox seq", fmt.Sprintf("user %q mailbox %q", user, name), err)
	}
	m, err := decodeDirty(k, v)
	if err != nil {
		return UserMailbox{}, false, j.err("mailbox seq", fmt.Sprintf("user %q mailbox %q", user, name), err)
	}
	return m, true, nil
}
