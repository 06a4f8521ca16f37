package remote

import (
	"context"
	"fmt"
	"iter"
	"time"

	"github.com/mailrepl/mailrepl/mailbox"
	"github.com/mailrepl/mailrepl/mailbox/remote/internal/wire"
	"github.com/mailrepl/mailrepl/uid"
)

//go:generate go run gencaps.go

// capSet is the set of optional interfaces a server's store has.
type capSet uint8

const (
	capTracker capSet = 1 << iota
	capSetter
	capBatcher
	capScanner
	capSettler
)

// The optional interfaces, each on a type of client's layout, so that
// the store Dial returns can embed exactly those the server's store has
// (caps_gen.go lists the combinations).
type (
	tracker client
	setter  client
	batcher client
	scanner client
	settler client
)

// Changes implements mailbox.ChangeTracker.
func (t *tracker) Changes(ctx context.Context, name string, validity uid.Validity, since mailbox.ModSeq) iter.Seq2[mailbox.Change, error] {
	c := (*client)(t)
	return c.list(ctx, "changes", name, func(ctx context.Context) (stream[*wire.MessageList], error) {
		return c.rpc.Changes(ctx, &wire.ChangesRequest{Mailbox: name, UidValidity: uint32(validity), Since: uint64(since)})
	})
}

// AppendUID implements mailbox.UIDSetter.
func (s *setter) AppendUID(ctx context.Context, name string, u uid.UID, lit mailbox.Literal, meta mailbox.AppendMeta) error {
	_, err := (*client)(s).appendLit(ctx, "append", name, lit, meta, true, u)
	return err
}

// SetUIDNext implements mailbox.UIDSetter.
func (s *setter) SetUIDNext(ctx context.Context, name string, next uid.UID) error {
	c := (*client)(s)
	return c.call(ctx, "set uidnext", name, 0, func(ctx context.Context) error {
		_, err := c.rpc.SetUIDNext(ctx, &wire.SetUIDNextRequest{Mailbox: name, Next: uint32(next)})
		return err
	})
}

// ResetUIDs implements mailbox.UIDSetter.
func (s *setter) ResetUIDs(ctx context.Context, name string, v uid.Validity, m *uid.Map) error {
	c := (*client)(s)
	req := &wire.ResetUIDsRequest{Mailbox: name, UidValidity: uint32(v)}
	if m != nil {
		for src, dst := range m.All() {
			req.Src = append(req.Src, uint32(src))
			req.Dst = append(req.Dst, uint32(dst))
		}
	}
	return c.call(ctx, "reset uids", name, 0, func(ctx context.Context) error {
		_, err := c.rpc.ResetUIDs(ctx, req)
		return err
	})
}

// Bodiless implements mailbox.IndexScanner.
func (s *scanner) Bodiless(ctx context.Context, name string) iter.Seq2[mailbox.Message, error] {
	c := (*client)(s)
	return messagesOf(c.list(ctx, "bodiless", name, func(ctx context.Context) (stream[*wire.MessageList], error) {
		return c.rpc.Bodiless(ctx, &wire.NameRequest{Mailbox: name})
	}))
}

// DropBodiless implements mailbox.IndexScanner.
func (s *scanner) DropBodiless(ctx context.Context, name string, set uid.Set) error {
	c := (*client)(s)
	return c.call(ctx, "drop bodiless", name, 0, func(ctx context.Context) error {
		_, err := c.rpc.DropBodiless(ctx, &wire.SetRequest{Mailbox: name, Set: set.String()})
		return err
	})
}

// Settle implements mailbox.Settler.
func (s *settler) Settle(ctx context.Context, name string) error {
	c := (*client)(s)
	return c.call(ctx, "settle", name, 0, func(ctx context.Context) error {
		_, err := c.rpc.Settle(ctx, &wire.NameRequest{Mailbox: name})
		return err
	})
}

// Batch implements mailbox.Batcher: one stream carries the batch, so a
// client that dies or a cut connection ends it on the server, which then
// undoes what was not committed, as a local batch closed before Commit.
func (b *batcher) Batch(ctx context.Context, name string) (mailbox.Batch, error) {
	c := (*client)(b)
	if c.isClosed() {
		return nil, c.errorFrom(ctx, "batch", name, 0, mailbox.ErrClosed)
	}
	if err := c.checkName("batch", name, 0); err != nil {
		return nil, err
	}
	for attempt := 0; ; attempt++ {
		// The stream outlives this call: it ends with the batch, or
		// the store.
		sctx, cancel := c.callCtx(context.WithoutCancel(ctx), false)
		w := newWatchdog(c.opts.IdleTimeout, cancel)
		begun := time.Now()
		s, err := c.rpc.Batch(sctx)
		bt := &remoteBatch{c: c, name: name, s: s, w: w, cancel: cancel}
		if err == nil {
			var r *wire.BatchReply
			r, err = bt.roundTrip(&wire.BatchPart{Part: &wire.BatchPart_Begin{Begin: &wire.NameRequest{Mailbox: name}}})
			if err == nil && r.GetError() != nil {
				cancel()
				return nil, c.fromDetail("batch", name, 0, 0, r.GetError())
			}
		}
		if err == nil {
			return bt, nil
		}
		cancel()
		if over, after := overloaded(err); over && c.backoff(ctx, attempt, time.Since(begun), after) {
			continue
		}
		return nil, c.errorFrom(ctx, "batch", name, 0, w.err(err))
	}
}

// remoteBatch is a batch on the server, over one stream.
type remoteBatch struct {
	c      *client
	name   string
	s      wire.Store_BatchClient
	w      *watchdog
	cancel context.CancelFunc
	ended  bool
	broken error // the stream failed: every later call fails so
}

func (b *remoteBatch) roundTrip(p *wire.BatchPart) (*wire.BatchReply, error) {
	b.w.arm()
	defer b.w.disarm()
	if err := b.s.Send(p); err != nil {
		_, rerr := b.s.Recv() // the status that ended the stream
		if rerr != nil {
			return nil, rerr
		}
		return nil, err
	}
	return b.s.Recv()
}

func (b *remoteBatch) check(ctx context.Context, op string, u uid.UID) error {
	switch {
	case b.c.isClosed():
		return b.c.errorFrom(ctx, op, b.name, u, mailbox.ErrClosed)
	case b.ended:
		return &mailbox.Error{Op: op, Store: b.c.name, Mailbox: b.name, UID: u, Err: fmt.Errorf("%w: the batch has ended", mailbox.ErrClosed)}
	case b.broken != nil:
		return b.broken
	}
	return ctx.Err()
}

func (b *remoteBatch) fail(ctx context.Context, op string, u uid.UID, err error) error {
	b.broken = b.c.errorFrom(ctx, op, b.name, u, b.w.err(err))
	b.cancel()
	return b.broken
}

func (b *remoteBatch) append(ctx context.Context, op string, lit mailbox.Literal, meta mailbox.AppendMeta, setUID bool, u uid.UID) (uid.UID, error) {
	if err := b.check(ctx, op, u); err != nil {
		return 0, err
	}
	stop := context.AfterFunc(ctx, b.cancel)
	defer stop()
	readErr, sendErr := sendLiteral(func(p *wire.AppendPart) error {
		b.w.arm()
		defer b.w.disarm()
		return b.s.Send(&wire.BatchPart{Part: &wire.BatchPart_Append{Append: p}})
	}, appendHeader("", lit, meta, setUID, u), lit)
	if sendErr != nil {
		_, rerr := b.s.Recv()
		if rerr == nil {
			rerr = sendErr
		}
		return 0, b.fail(ctx, op, u, rerr)
	}
	b.w.arm()
	r, err := b.s.Recv()
	b.w.disarm()
	if err != nil {
		return 0, b.fail(ctx, op, u, err)
	}
	if readErr != nil {
		return 0, &mailbox.Error{Op: op, Store: b.c.name, Mailbox: b.name, UID: u, Err: readErr}
	}
	if r.GetError() != nil {
		return 0, b.c.fromDetail(op, b.name, u, 0, r.GetError())
	}
	return uid.UID(r.GetUid()), nil
}

// Append implements mailbox.Batch.
func (b *remoteBatch) Append(ctx context.Context, lit mailbox.Literal, meta mailbox.AppendMeta) (uid.UID, error) {
	return b.append(ctx, "append", lit, meta, false, 0)
}

// AppendUID implements mailbox.Batch.
func (b *remoteBatch) AppendUID(ctx context.Context, u uid.UID, lit mailbox.Literal, meta mailbox.AppendMeta) error {
	_, err := b.append(ctx, "append", lit, meta, true, u)
	return err
}

// Commit implements mailbox.Batch.
func (b *remoteBatch) Commit(ctx context.Context) error {
	if err := b.check(ctx, "commit", 0); err != nil {
		return err
	}
	stop := context.AfterFunc(ctx, b.cancel)
	defer stop()
	r, err := b.roundTrip(&wire.BatchPart{Part: &wire.BatchPart_Commit{Commit: &wire.Empty{}}})
	if err != nil {
		return b.fail(ctx, "commit", 0, err)
	}
	b.ended = true
	b.s.CloseSend()
	b.cancel()
	if r.GetError() != nil {
		return b.c.fromDetail("commit", b.name, 0, 0, r.GetError())
	}
	return nil
}

// Close implements mailbox.Batch: it returns once the server has undone
// what was not committed.
func (b *remoteBatch) Close() error {
	if b.ended {
		return nil
	}
	b.ended = true
	defer b.cancel()
	if b.broken != nil || b.c.isClosed() {
		return nil // the server ended the batch with the stream
	}
	r, err := b.roundTrip(&wire.BatchPart{Part: &wire.BatchPart_Close{Close: &wire.Empty{}}})
	if err != nil {
		return b.c.errorFrom(context.Background(), "close batch", b.name, 0, b.w.err(err))
	}
	b.s.CloseSend()
	if r.GetError() != nil {
		return b.c.fromDetail("close batch", b.name, 0, 0, r.GetError())
	}
	return nil
}
