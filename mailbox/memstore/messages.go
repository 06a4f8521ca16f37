package memstore

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"iter"
	"slices"
	"time"

	"github.com/mailrepl/mailrepl/mailbox"
	"github.com/mailrepl/mailrepl/uid"
)

// Listings copy at most chunkSize messages, and look at most scanLimit,
// per turn of the lock, and yield them with the lock released.
const (
	chunkSize = 256
	scanLimit = 4096
)

// preallocLimit is the largest literal whose buffer is allocated at once
// from its declared size; larger ones grow as their bytes arrive, so a
// literal that lies about its size cannot make the store allocate it.
const preallocLimit = 64 << 20

// Append adds a message and returns its UID, the mailbox's UIDNEXT. The
// bytes are read before the lock is taken and copied; the EmailID is
// computed from them. When meta.EmailID is set and differs, the append
// fails with [mailbox.ErrCorrupt] and stores nothing.
func (s *Store) Append(ctx context.Context, name string, lit mailbox.Literal, meta mailbox.AppendMeta) (uid.UID, error) {
	return s.put(ctx, "append", name, nil, 0, false, lit, meta)
}

// AppendUID appends a message with UID u, which must be at least UIDNEXT
// and below [uid.Max] (so that UIDNEXT, u+1, exists).
func (s *Store) AppendUID(ctx context.Context, name string, u uid.UID, lit mailbox.Literal, meta mailbox.AppendMeta) error {
	_, err := s.put(ctx, "append", name, nil, u, true, lit, meta)
	return err
}

// put appends a message to mailbox name, or to the batch's mailbox when bt
// is not nil; with setUID, as UID u.
func (s *Store) put(ctx context.Context, op, name string, bt *batch, u uid.UID, setUID bool, lit mailbox.Literal, meta mailbox.AppendMeta) (uid.UID, error) {
	c, err := s.begin(ctx, op, name)
	if err != nil {
		return 0, err
	}
	// Fail early, before reading the literal, when the mailbox is missing
	// or the UID is already too low.
	if err := s.lock(op, name); err != nil {
		return 0, err
	}
	b, err := s.targetLocked(op, name, c, bt)
	if err == nil {
		_, err = b.nextUIDLocked(u, setUID)
		if err != nil {
			err = s.errorf(op, name, u, err)
		}
	}
	s.mu.Unlock()
	if err != nil {
		return 0, err
	}

	body, id, err := readLiteral(ctx, lit)
	if err != nil {
		return 0, s.errorf(op, name, u, err)
	}
	if !meta.EmailID.IsZero() && meta.EmailID != id {
		return 0, s.errorf(op, name, u, fmt.Errorf("%w: %w: the bytes have %s, the caller expects %s",
			mailbox.ErrCorrupt, mailbox.ErrEmailIDMismatch, id.Short(), meta.EmailID.Short()))
	}
	date := meta.InternalDate
	if date.IsZero() {
		date = s.now()
	}
	date = date.Truncate(time.Second)

	if err := s.lock(op, name); err != nil {
		return 0, err
	}
	defer s.mu.Unlock()
	b, err = s.targetLocked(op, name, c, bt)
	if err != nil {
		return 0, err
	}
	u, err = b.nextUIDLocked(u, setUID)
	if err != nil {
		return 0, s.errorf(op, name, u, err)
	}
	b.uidNext = u + 1
	b.modseq++
	b.msgs = append(b.msgs, message{
		Message: mailbox.Message{
			UID:          u,
			EmailID:      id,
			Flags:        meta.Flags,
			InternalDate: date,
			Size:         int64(len(body)),
			ModSeq:       b.modseq,
		},
		body: body,
	})
	return u, nil
}

// targetLocked finds the mailbox an append goes to: the batch's, or the
// one named c.
func (s *Store) targetLocked(op, name, c string, bt *batch) (*box, error) {
	if bt == nil {
		return s.boxLocked(op, name, c)
	}
	if bt.b.gone {
		return nil, s.errorf(op, name, 0, fmt.Errorf("%w: deleted during the batch", mailbox.ErrNotFound))
	}
	if bt.b.validity != bt.validity {
		return nil, s.errorf(op, name, 0, fmt.Errorf("%w: reset during the batch", mailbox.ErrUIDValidityChanged))
	}
	return bt.b, nil
}

// nextUIDLocked returns the UID an append takes: UIDNEXT, or with setUID
// u, which must be at least UIDNEXT. The UID must leave room for UIDNEXT
// above it.
func (b *box) nextUIDLocked(u uid.UID, setUID bool) (uid.UID, error) {
	if !setUID {
		if b.uidNext == uid.Max {
			return 0, fmt.Errorf("%w: UIDs exhausted (UIDNEXT %d); a new UIDVALIDITY is needed", mailbox.ErrNotAllowed, b.uidNext)
		}
		return b.uidNext, nil
	}
	switch {
	case u < b.uidNext: // u == 0 included
		return u, fmt.Errorf("%w: UID %d is below UIDNEXT %d", mailbox.ErrUIDOrder, u, b.uidNext)
	case u == uid.Max:
		return u, fmt.Errorf("%w: UID %d leaves no UIDNEXT above it", mailbox.ErrUIDOrder, u)
	}
	return u, nil
}

// readLiteral reads a literal whole, checking that it gives exactly the
// bytes it declares, and computes their EmailID on the way.
func readLiteral(ctx context.Context, lit mailbox.Literal) ([]byte, mailbox.EmailID, error) {
	if lit == nil {
		return nil, mailbox.EmailID{}, fmt.Errorf("%w: no literal", mailbox.ErrInvalidMessage)
	}
	size := lit.Size()
	if size <= 0 {
		return nil, mailbox.EmailID{}, fmt.Errorf("%w: empty message (declared size %d)", mailbox.ErrInvalidMessage, size)
	}
	h := mailbox.NewHasher()
	r := io.TeeReader(ctxReader{ctx, lit}, h)
	var body []byte
	if size <= preallocLimit {
		body = make([]byte, size)
		n, err := io.ReadFull(r, body)
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return nil, mailbox.EmailID{}, fmt.Errorf("%w: read %d bytes, declared %d", mailbox.ErrInvalidMessage, n, size)
		}
		if err != nil {
			return nil, mailbox.EmailID{}, fmt.Errorf("reading the message: %w", err)
		}
	} else {
		var buf bytes.Buffer
		n, err := io.CopyN(&buf, r, size)
		if err == io.EOF {
			return nil, mailbox.EmailID{}, fmt.Errorf("%w: read %d bytes, declared %d", mailbox.ErrInvalidMessage, n, size)
		}
		if err != nil {
			return nil, mailbox.EmailID{}, fmt.Errorf("reading the message: %w", err)
		}
		body = buf.Bytes()
	}
	var one [1]byte
	switch n, err := io.ReadFull(lit, one[:]); {
	case n > 0:
		return nil, mailbox.EmailID{}, fmt.Errorf("%w: more bytes than the declared %d", mailbox.ErrInvalidMessage, size)
	case err != io.EOF:
		return nil, mailbox.EmailID{}, fmt.Errorf("reading the message: %w", err)
	}
	return body, h.Sum(), nil
}

// ctxReader stops reading when ctx is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (r ctxReader) Read(p []byte) (int, error) {
	if err := r.ctx.Err(); err != nil {
		return 0, err
	}
	return r.r.Read(p)
}

// SetUIDNext raises the mailbox's UIDNEXT to next.
func (s *Store) SetUIDNext(ctx context.Context, name string, next uid.UID) error {
	const op = "set UIDNEXT"
	b, err := s.open(ctx, op, name)
	if err != nil {
		return err
	}
	defer s.mu.Unlock()
	if next < b.uidNext {
		return s.errorf(op, name, 0, fmt.Errorf("%w: UIDNEXT %d is below the current %d", mailbox.ErrUIDOrder, next, b.uidNext))
	}
	b.uidNext = next
	return nil
}

// ResetUIDs starts the UIDVALIDITY epoch v (which may be the current one).
// Each kept message takes a new modseq; the record of expunges is dropped
// with the old numbering, so Changes since an earlier modseq (but 0) fails
// with ErrChangesUnavailable.
func (s *Store) ResetUIDs(ctx context.Context, name string, v uid.Validity, m *uid.Map) error {
	const op = "reset UIDs"
	b, err := s.open(ctx, op, name)
	if err != nil {
		return err
	}
	defer s.mu.Unlock()
	switch {
	case v == 0:
		return s.errorf(op, name, 0, fmt.Errorf("%w: UIDVALIDITY 0", mailbox.ErrNotAllowed))
	}
	if m == nil {
		m = new(uid.Map)
	}
	next := uid.UID(1)
	if m.Len() > 0 {
		top := m.DstSet().Max()
		if top == uid.Max {
			return s.errorf(op, name, top, fmt.Errorf("%w: UID %d leaves no UIDNEXT above it", mailbox.ErrUIDOrder, top))
		}
		next = top + 1
	}
	b.modseq++
	kept := b.msgs[:0]
	for _, msg := range b.msgs {
		if dst, ok := m.Dst(msg.UID); ok {
			msg.UID = dst
			msg.ModSeq = b.modseq
			kept = append(kept, msg)
		}
	}
	clear(b.msgs[len(kept):])
	slices.SortFunc(kept, func(a, b message) int { return cmpUID(a.UID, b.UID) })
	b.msgs = kept
	b.expunged = nil
	if v == b.validity {
		// Same UIDVALIDITY, other UIDs: a modseq from before cannot say
		// what changed since, and UIDNEXT does not go down.
		b.resetAt = b.modseq
		next = max(next, b.uidNext)
	}
	b.validity = v
	b.uidNext = next
	s.mu.lastValidity = max(s.mu.lastValidity, v)
	return nil
}

// StoreFlags changes the flags of the messages in set. Messages whose
// flags do not change keep their modseq; the others share a new one.
func (s *Store) StoreFlags(ctx context.Context, name string, set uid.Set, op mailbox.FlagOp, flags mailbox.Flags) error {
	const opName = "store flags"
	switch op {
	case mailbox.FlagsAdd, mailbox.FlagsRemove, mailbox.FlagsReplace:
	default:
		return s.errorf(opName, name, 0, fmt.Errorf("%w: flag operation %v", mailbox.ErrNotSupported, op))
	}
	b, err := s.open(ctx, opName, name)
	if err != nil {
		return err
	}
	defer s.mu.Unlock()
	changed := false
	for i := range b.inSetLocked(set) {
		m := &b.msgs[i]
		f := op.Apply(m.Flags, flags)
		if f.Equal(m.Flags) {
			continue
		}
		if !changed {
			b.modseq++
			changed = true
		}
		m.Flags = f
		m.ModSeq = b.modseq
	}
	return nil
}

// Expunge removes the messages in set. All of them share one new modseq,
// remembered with their UIDs for Changes.
func (s *Store) Expunge(ctx context.Context, name string, set uid.Set) error {
	b, err := s.open(ctx, "expunge", name)
	if err != nil {
		return err
	}
	defer s.mu.Unlock()
	b.expungeLocked(set)
	return nil
}

// expungeLocked removes the messages in set and records their UIDs.
func (b *box) expungeLocked(set uid.Set) {
	var gone []uid.Range
	drop := make([]bool, len(b.msgs))
	for i := range b.inSetLocked(set) {
		drop[i] = true
		u := b.msgs[i].UID
		if n := len(gone); n > 0 && gone[n-1].Stop+1 == u {
			gone[n-1].Stop = u
		} else {
			gone = append(gone, uid.Range{Start: u, Stop: u})
		}
	}
	if len(gone) == 0 {
		return
	}
	kept := b.msgs[:0]
	for i, m := range b.msgs {
		if !drop[i] {
			kept = append(kept, m)
		}
	}
	clear(b.msgs[len(kept):])
	b.msgs = kept
	b.modseq++
	b.expunged = append(b.expunged, expungeRun{modseq: b.modseq, uids: uid.NewSet(gone...)})
}

// inSetLocked yields the indexes of the messages whose UIDs are in set, in
// ascending order. The caller holds the lock and changes no UID meanwhile.
func (b *box) inSetLocked(set uid.Set) iter.Seq[int] {
	return func(yield func(int) bool) {
		for _, r := range set {
			for i := b.searchLocked(r.Start); i < len(b.msgs) && b.msgs[i].UID <= r.Stop; i++ {
				if !yield(i) {
					return
				}
			}
		}
	}
}

// scanLocked appends to out the messages with UIDs from from on, in set,
// for which keep (if not nil) reports true: at most chunkSize of them, and
// looking at no more than scanLimit. It returns where to go on from, or 0
// when the scan is done.
func (b *box) scanLocked(out []mailbox.Message, from uid.UID, set uid.Set, keep func(*message) bool) ([]mailbox.Message, uid.UID) {
	r, _ := slices.BinarySearchFunc(set, from, func(r uid.Range, u uid.UID) int {
		if r.Stop < u {
			return -1
		}
		return 1
	})
	i := b.searchLocked(from)
	for looked := 0; i < len(b.msgs) && r < len(set); {
		m := &b.msgs[i]
		switch {
		case m.UID > set[r].Stop:
			r++
			continue
		case m.UID < set[r].Start:
			i = b.searchLocked(set[r].Start)
			continue
		}
		if keep == nil || keep(m) {
			out = append(out, m.Message)
		}
		i++
		looked++
		if (len(out) == chunkSize || looked == scanLimit) && m.UID < uid.Max {
			return out, m.UID + 1
		}
	}
	return out, 0
}

// scan yields the messages of b in set for which keep reports true, a
// chunk at a time, without holding the lock while it yields. Between
// messages it checks ctx and whether the store closed; between chunks
// whether the mailbox was deleted or its UIDVALIDITY is no longer v.
func (s *Store) scan(ctx context.Context, op, name string, b *box, v uid.Validity, set uid.Set, keep func(*message) bool) iter.Seq2[mailbox.Message, error] {
	return func(yield func(mailbox.Message, error) bool) {
		buf := make([]mailbox.Message, 0, chunkSize)
		for from := set.Min(); from != 0; {
			s.mu.Lock()
			var err error
			switch {
			case s.closed.Load():
				err = mailbox.ErrClosed
			case b.gone:
				err = fmt.Errorf("%w: deleted during the listing", mailbox.ErrNotFound)
			case b.validity != v:
				err = fmt.Errorf("%w: reset during the listing", mailbox.ErrUIDValidityChanged)
			default:
				buf, from = b.scanLocked(buf[:0], from, set, keep)
			}
			s.mu.Unlock()
			if err != nil {
				yield(mailbox.Message{}, s.errorf(op, name, 0, err))
				return
			}
			for _, m := range buf {
				if err := s.live(ctx); err != nil {
					yield(mailbox.Message{}, s.errorf(op, name, 0, err))
					return
				}
				if !yield(m, nil) {
					return
				}
			}
		}
	}
}

// live reports why a listing must stop: ctx is done or the store closed.
func (s *Store) live(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if s.closed.Load() {
		return mailbox.ErrClosed
	}
	return nil
}

// Messages yields the metadata of the messages in set, in ascending UID
// order. It copies them a chunk at a time and yields them with the lock
// released, so a slow consumer does not stop the store; it sees changes
// made meanwhile to UIDs it has not reached yet.
func (s *Store) Messages(ctx context.Context, name string, set uid.Set) iter.Seq2[mailbox.Message, error] {
	const op = "list"
	return func(yield func(mailbox.Message, error) bool) {
		b, err := s.open(ctx, op, name)
		if err != nil {
			yield(mailbox.Message{}, err)
			return
		}
		v := b.validity
		s.mu.Unlock()
		s.scan(ctx, op, name, b, v, set, nil)(yield)
	}
}

// Open returns a reader over the message's bytes, which are never changed:
// it stays readable after the message is expunged or the store closed.
func (s *Store) Open(ctx context.Context, name string, u uid.UID) (io.ReadCloser, error) {
	const op = "open"
	b, err := s.open(ctx, op, name)
	if err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	i := b.searchLocked(u)
	if i == len(b.msgs) || b.msgs[i].UID != u {
		return nil, s.errorf(op, name, u, mailbox.ErrNotFound)
	}
	return io.NopCloser(bytes.NewReader(b.msgs[i].body)), nil
}
