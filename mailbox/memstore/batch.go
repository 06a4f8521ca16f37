package memstore

import (
	"context"
	"fmt"

	"github.com/mailrepl/mailrepl/mailbox"
	"github.com/mailrepl/mailrepl/uid"
)

// Batch starts a batch of appends to one mailbox. Its appends are visible
// at once (memory needs no flush); Commit keeps them, and Close before
// Commit expunges them again. Their UIDs stay used either way.
func (s *Store) Batch(ctx context.Context, name string) (mailbox.Batch, error) {
	b, err := s.open(ctx, "batch", name)
	if err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	return &batch{s: s, name: name, b: b, validity: b.validity}, nil
}

// batch is a [mailbox.Batch] of a Store. It follows its mailbox through
// renames; it fails once the mailbox is deleted or its UIDs reset.
type batch struct {
	s        *Store
	name     string // as given to Batch, for errors
	b        *box
	validity uid.Validity
	uids     uid.Set // appended and not committed
	done     bool    // committed or closed
}

var _ mailbox.Batch = (*batch)(nil)

func (bt *batch) Append(ctx context.Context, lit mailbox.Literal, meta mailbox.AppendMeta) (uid.UID, error) {
	const op = "batch append"
	if bt.done {
		return 0, bt.s.errorf(op, bt.name, 0, fmt.Errorf("%w: batch ended", mailbox.ErrClosed))
	}
	u, err := bt.s.put(ctx, op, bt.name, bt, 0, false, lit, meta)
	if err != nil {
		return 0, err
	}
	bt.uids = bt.uids.Add(u)
	return u, nil
}

func (bt *batch) AppendUID(ctx context.Context, u uid.UID, lit mailbox.Literal, meta mailbox.AppendMeta) error {
	const op = "batch append"
	if bt.done {
		return bt.s.errorf(op, bt.name, u, fmt.Errorf("%w: batch ended", mailbox.ErrClosed))
	}
	if _, err := bt.s.put(ctx, op, bt.name, bt, u, true, lit, meta); err != nil {
		return err
	}
	bt.uids = bt.uids.Add(u)
	return nil
}

// Commit keeps the batch's appends and ends the batch.
func (bt *batch) Commit(ctx context.Context) error {
	const op = "batch commit"
	if bt.done {
		return bt.s.errorf(op, bt.name, 0, fmt.Errorf("%w: batch ended", mailbox.ErrClosed))
	}
	if err := bt.s.live(ctx); err != nil {
		return bt.s.errorf(op, bt.name, 0, err)
	}
	bt.done = true
	bt.uids = nil
	return nil
}

// Close ends the batch; if it was not committed, its appends are expunged
// (unless the mailbox is gone or the store closed, and so they with it).
// Close after Commit or Close does nothing.
func (bt *batch) Close() error {
	if bt.done {
		return nil
	}
	bt.done = true
	s := bt.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed.Load() || bt.b.gone || bt.uids.IsEmpty() {
		return nil
	}
	if bt.b.validity != bt.validity {
		return s.errorf("batch close", bt.name, 0, fmt.Errorf("%w: UIDs reset during the batch; its appends were not undone", mailbox.ErrUIDValidityChanged))
	}
	bt.b.expungeLocked(bt.uids)
	return nil
}
