package replica_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"sync"

	"github.com/mailrepl/mailrepl/internal/mailgen"
	"github.com/mailrepl/mailrepl/mailbox"
	"github.com/mailrepl/mailrepl/uid"
)

// This file holds two stores for measuring the engine's memory on
// mailboxes far larger than memory should hold: a read-only source that
// generates its messages on demand, and a target that keeps nothing of
// what it is sent but checks it. Both hold one mailbox, INBOX, in which
// UID u is message u-1 of a mailgen stream; neither holds any message in
// memory, so what a sync between them holds is the engine's (and the
// journal's) alone.

// synthValidity is the UIDVALIDITY of the synthetic source's INBOX.
const synthValidity uid.Validity = 1_000_000

// synthMessage returns the metadata and, into buf, the bytes of UID u of a
// synthetic mailbox over g.
func synthMessage(g *mailgen.Generator, buf []byte, u uid.UID) ([]byte, mailbox.Message) {
	buf, m := g.AppendTo(buf[:0], int(u)-1)
	return buf, mailbox.Message{UID: u, EmailID: mailbox.EmailIDOf(m.Body), Flags: m.Flags, InternalDate: m.InternalDate, Size: int64(len(m.Body))}
}

// synthList yields the messages of set among UIDs 1..last of a synthetic
// mailbox over g, in UID order. Messages are generated ahead by a
// goroutine, a few at a time, so generating and hashing overlaps with the
// consumer's work.
func synthList(ctx context.Context, g *mailgen.Generator, last uid.UID, set uid.Set) iter.Seq2[mailbox.Message, error] {
	return func(yield func(mailbox.Message, error) bool) {
		ch := make(chan mailbox.Message, 64)
		done := make(chan struct{})
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer close(ch)
			var buf []byte
			for r := range set.Ranges() {
				for u := max(r.Start, 1); u <= min(r.Stop, last); u++ {
					var m mailbox.Message
					buf, m = synthMessage(g, buf, u)
					select {
					case ch <- m:
					case <-done:
						return
					}
				}
			}
		}()
		defer wg.Wait()
		defer close(done)
		for m := range ch {
			if err := ctx.Err(); err != nil {
				yield(mailbox.Message{}, err)
				return
			}
			if !yield(m, nil) {
				return
			}
		}
	}
}

// synthSource is a read-only store whose INBOX holds messages 0 to n-1 of
// a mailgen stream at UIDs 1 to n.
type synthSource struct {
	g *mailgen.Generator
	n int
}

var _ mailbox.Reader = (*synthSource)(nil)

func (s *synthSource) info() mailbox.Info {
	return mailbox.Info{Name: mailbox.Inbox, ID: "synth-inbox", UIDValidity: synthValidity, UIDNext: uid.UID(s.n + 1)}
}

func (s *synthSource) Mailboxes(ctx context.Context) ([]mailbox.Info, error) {
	return []mailbox.Info{s.info()}, nil
}

func (s *synthSource) Status(ctx context.Context, name string) (mailbox.Info, error) {
	if name != mailbox.Inbox {
		return mailbox.Info{}, &mailbox.Error{Op: "status", Store: "synth", Mailbox: name, Err: mailbox.ErrNotFound}
	}
	return s.info(), nil
}

func (s *synthSource) Messages(ctx context.Context, name string, set uid.Set) iter.Seq2[mailbox.Message, error] {
	if name != mailbox.Inbox {
		return func(yield func(mailbox.Message, error) bool) {
			yield(mailbox.Message{}, &mailbox.Error{Op: "list", Store: "synth", Mailbox: name, Err: mailbox.ErrNotFound})
		}
	}
	return synthList(ctx, s.g, uid.UID(s.n), set)
}

func (s *synthSource) Open(ctx context.Context, name string, u uid.UID) (io.ReadCloser, error) {
	if name != mailbox.Inbox || u == 0 || int(u) > s.n {
		return nil, &mailbox.Error{Op: "open", Store: "synth", Mailbox: name, UID: u, Err: mailbox.ErrNotFound}
	}
	m := s.g.Message(int(u) - 1)
	return io.NopCloser(bytes.NewReader(m.Body)), nil
}

// sinkStore is a target with one mailbox, INBOX, that keeps nothing of the
// messages sent to it: it checks each against the mailgen stream (the
// message appended at UID u must be message u-1, bytes, flags and internal
// date), counts it, and remembers only the set of UIDs it holds (one range
// when they arrive in order). Its listing generates those messages again.
// It can set UIDs and batch appends, as the engine's mirror wants of a
// target; it cannot renumber (ResetUIDs) other than to the same UIDs.
type sinkStore struct {
	g *mailgen.Generator

	mu       sync.Mutex
	validity uid.Validity
	next     uid.UID
	held     uid.Set
	appended int
	bytes    int64
	closed   bool
}

func newSinkStore(g *mailgen.Generator) *sinkStore {
	return &sinkStore{g: g, validity: 7, next: 1}
}

var (
	_ mailbox.Store     = (*sinkStore)(nil)
	_ mailbox.UIDSetter = (*sinkStore)(nil)
	_ mailbox.Batcher   = (*sinkStore)(nil)
)

var errSink = errors.New("sink: not supported")

func (s *sinkStore) fail(op, name string, u uid.UID, err error) error {
	return &mailbox.Error{Op: op, Store: "sink", Mailbox: name, UID: u, Err: err}
}

func (s *sinkStore) check(op, name string) error {
	if s.closed {
		return s.fail(op, name, 0, mailbox.ErrClosed)
	}
	if name != mailbox.Inbox {
		return s.fail(op, name, 0, mailbox.ErrNotFound)
	}
	return nil
}

func (s *sinkStore) infoLocked() mailbox.Info {
	return mailbox.Info{Name: mailbox.Inbox, ID: "sink-inbox", UIDValidity: s.validity, UIDNext: s.next}
}

func (s *sinkStore) Mailboxes(ctx context.Context) ([]mailbox.Info, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return []mailbox.Info{s.infoLocked()}, nil
}

func (s *sinkStore) Status(ctx context.Context, name string) (mailbox.Info, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check("status", name); err != nil {
		return mailbox.Info{}, err
	}
	return s.infoLocked(), nil
}

func (s *sinkStore) Messages(ctx context.Context, name string, set uid.Set) iter.Seq2[mailbox.Message, error] {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check("list", name); err != nil {
		return func(yield func(mailbox.Message, error) bool) { yield(mailbox.Message{}, err) }
	}
	return synthList(ctx, s.g, s.next-1, set.Intersect(s.held))
}

func (s *sinkStore) Open(ctx context.Context, name string, u uid.UID) (io.ReadCloser, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check("open", name); err != nil {
		return nil, err
	}
	if !s.held.Contains(u) {
		return nil, s.fail("open", name, u, mailbox.ErrNotFound)
	}
	return io.NopCloser(bytes.NewReader(s.g.Message(int(u) - 1).Body)), nil
}

func (s *sinkStore) Create(ctx context.Context, name string) (mailbox.Info, error) {
	return mailbox.Info{}, s.fail("create", name, 0, errSink)
}
func (s *sinkStore) Rename(ctx context.Context, oldName, newName string) error {
	return s.fail("rename", oldName, 0, errSink)
}
func (s *sinkStore) Delete(ctx context.Context, name string) error {
	return s.fail("delete", name, 0, errSink)
}
func (s *sinkStore) Subscribe(ctx context.Context, name string, subscribed bool) error {
	return s.fail("subscribe", name, 0, errSink)
}
func (s *sinkStore) StoreFlags(ctx context.Context, name string, set uid.Set, op mailbox.FlagOp, flags mailbox.Flags) error {
	return s.fail("store flags", name, 0, errSink)
}

func (s *sinkStore) Expunge(ctx context.Context, name string, set uid.Set) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check("expunge", name); err != nil {
		return err
	}
	s.held = s.held.Difference(set)
	return nil
}

func (s *sinkStore) Append(ctx context.Context, name string, lit mailbox.Literal, meta mailbox.AppendMeta) (uid.UID, error) {
	s.mu.Lock()
	u := s.next
	s.mu.Unlock()
	return u, s.AppendUID(ctx, name, u, lit, meta)
}

// AppendUID checks the message against message u-1 of the stream.
func (s *sinkStore) AppendUID(ctx context.Context, name string, u uid.UID, lit mailbox.Literal, meta mailbox.AppendMeta) error {
	h := mailbox.NewHasher()
	n, err := io.Copy(h, lit)
	if err != nil {
		return s.fail("append", name, u, err)
	}
	if n != lit.Size() {
		return s.fail("append", name, u, fmt.Errorf("%w: read %d bytes, literal says %d", mailbox.ErrInvalidMessage, n, lit.Size()))
	}
	want := s.g.Message(int(u) - 1)
	if got, wantID := h.Sum(), mailbox.EmailIDOf(want.Body); got != wantID || n != int64(len(want.Body)) {
		return s.fail("append", name, u, fmt.Errorf("%w: got %s (%d bytes), want message %d of the stream, %s (%d bytes)",
			mailbox.ErrCorrupt, got.Short(), n, u-1, wantID.Short(), len(want.Body)))
	}
	if !meta.Flags.Equal(want.Flags) || !meta.InternalDate.Equal(want.InternalDate) {
		return s.fail("append", name, u, fmt.Errorf("%w: flags %q date %v, want %q %v", mailbox.ErrCorrupt, meta.Flags, meta.InternalDate, want.Flags, want.InternalDate))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check("append", name); err != nil {
		return err
	}
	if u < s.next {
		return s.fail("append", name, u, mailbox.ErrUIDOrder)
	}
	s.held = s.held.Add(u)
	s.next = u + 1
	s.appended++
	s.bytes += n
	return nil
}

func (s *sinkStore) SetUIDNext(ctx context.Context, name string, next uid.UID) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check("set uidnext", name); err != nil {
		return err
	}
	if next < s.next {
		return s.fail("set uidnext", name, next, mailbox.ErrUIDOrder)
	}
	s.next = next
	return nil
}

// ResetUIDs takes the UIDVALIDITY v; it renumbers nothing: every message
// it holds must keep its UID, as when an empty target is aligned to its
// source.
func (s *sinkStore) ResetUIDs(ctx context.Context, name string, v uid.Validity, m *uid.Map) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check("reset uids", name); err != nil {
		return err
	}
	keep := uid.Set(nil)
	for src, dst := range m.All() {
		if src != dst {
			return s.fail("reset uids", name, src, fmt.Errorf("renumbering to %d: %w", dst, errSink))
		}
		if s.held.Contains(src) {
			keep = keep.Add(src)
		}
	}
	s.held, s.validity = keep, v
	if !keep.IsEmpty() {
		s.next = max(s.next, keep.Max()+1)
	}
	return nil
}

func (s *sinkStore) Batch(ctx context.Context, name string) (mailbox.Batch, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.check("batch", name); err != nil {
		return nil, err
	}
	return sinkBatch{s}, nil
}

func (s *sinkStore) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	return nil
}

// counts returns how many messages and bytes were appended.
func (s *sinkStore) counts() (int, int64, uid.Set) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.appended, s.bytes, s.held
}

type sinkBatch struct{ s *sinkStore }

func (b sinkBatch) Append(ctx context.Context, lit mailbox.Literal, meta mailbox.AppendMeta) (uid.UID, error) {
	return b.s.Append(ctx, mailbox.Inbox, lit, meta)
}
func (b sinkBatch) AppendUID(ctx context.Context, u uid.UID, lit mailbox.Literal, meta mailbox.AppendMeta) error {
	return b.s.AppendUID(ctx, mailbox.Inbox, u, lit, meta)
}
func (b sinkBatch) Commit(ctx context.Context) error { return nil }
func (b sinkBatch) Close() error                     { return nil }
