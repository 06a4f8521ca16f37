// Package memstore is an in-memory [mailbox.Store]: the reference backend.
// Every other package tests against it, and it passes the conformance suite
// in mailboxtest like every backend.
//
// A Store implements [mailbox.Store], [mailbox.ChangeTracker],
// [mailbox.UIDSetter] and [mailbox.Batcher]. It keeps every flag, private
// flags included, and the whole history of expunges, so [Store.Changes]
// answers for any modseq of the current UIDVALIDITY. Nothing survives the
// process: a Store is for tests, examples and as a model of what a backend
// must do.
//
// The rules it keeps, which the other backends keep too:
//
//   - INBOX exists from the start and can be neither renamed nor deleted.
//   - A new mailbox's UIDVALIDITY is the clock in Unix seconds, as Dovecot
//     does, but always above every UIDVALIDITY the store has used before, so
//     a mailbox deleted and created again never gets its old one back.
//   - UIDs are strictly ascending and never reused, even after the highest
//     one is expunged; UIDNEXT never goes down.
//   - Each mailbox counts modseqs from 1 (empty). Every append, every flag
//     change that really changes flags, and every expunge takes the next
//     one; all messages changed by one call share it.
//   - Internal dates are kept to the second.
package memstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mailrepl/mailrepl/mailbox"
	"github.com/mailrepl/mailrepl/uid"
)

// Options configures a Store. A nil *Options is valid and means all
// defaults; a zero field means that field's default.
type Options struct {
	// Now is the clock: it dates appends made without an internal date
	// and gives UIDVALIDITY values. Default time.Now.
	Now func() time.Time
	// Rand gives the random bytes of mailbox IDs (16 per mailbox); it is
	// only read with the store's lock held, so it need not be safe for
	// concurrent use. A math/rand/v2 *ChaCha8 makes IDs reproducible.
	// Default crypto/rand.Reader.
	Rand io.Reader
	// Name is what errors call the store. Default "memstore".
	Name string
}

// Store is an in-memory store of mailboxes. It is safe for concurrent use.
// The zero value is not usable: call [New].
type Store struct {
	now    func() time.Time
	rand   io.Reader
	name   string
	closed atomic.Bool // set under mu; read without it between messages

	mu struct {
		sync.Mutex
		ready        bool                // INBOX made
		boxes        map[string]*box     // by canonical name
		ids          map[mailbox.ID]bool // every ID ever given
		lastValidity uid.Validity        // the highest UIDVALIDITY used
	}
}

var (
	_ mailbox.Store         = (*Store)(nil)
	_ mailbox.ChangeTracker = (*Store)(nil)
	_ mailbox.UIDSetter     = (*Store)(nil)
	_ mailbox.Batcher       = (*Store)(nil)
)

// New returns an empty store holding an empty INBOX. It does no work
// beyond allocating: INBOX gets its UIDVALIDITY and ID at the first call.
func New(opts *Options) *Store {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Rand == nil {
		o.Rand = rand.Reader
	}
	if o.Name == "" {
		o.Name = "memstore"
	}
	s := &Store{now: o.Now, rand: o.Rand, name: o.Name}
	s.mu.boxes = make(map[string]*box)
	s.mu.ids = make(map[mailbox.ID]bool)
	return s
}

// box is one mailbox. Its fields are guarded by Store.mu.
type box struct {
	name       string // canonical
	id         mailbox.ID
	validity   uid.Validity
	uidNext    uid.UID
	modseq     mailbox.ModSeq // the highest modseq given
	subscribed bool
	use        mailbox.SpecialUse // as SetSpecialUse gave it; kept across renames
	msgs       []message          // ascending UID
	expunged   []expungeRun       // ascending modseq; emptied by ResetUIDs
	resetAt    mailbox.ModSeq     // modseq of the last ResetUIDs: history before it is gone
	gone       bool               // deleted, or the store closed
}

// message is one stored message. body is never changed once stored, so it
// may be read after the lock is released.
type message struct {
	mailbox.Message
	body []byte
}

// expungeRun records the UIDs that one Expunge removed and the modseq it
// took.
type expungeRun struct {
	modseq mailbox.ModSeq
	uids   uid.Set
}

func (b *box) infoLocked() mailbox.Info {
	return mailbox.Info{
		Name:          b.name,
		ID:            b.id,
		UIDValidity:   b.validity,
		UIDNext:       b.uidNext,
		HighestModSeq: b.modseq,
		Subscribed:    b.subscribed,
		SpecialUse:    b.use,
	}
}

// searchLocked returns the index of the first message whose UID is at least u.
func (b *box) searchLocked(u uid.UID) int {
	i, _ := slices.BinarySearchFunc(b.msgs, u, func(m message, u uid.UID) int {
		return cmpUID(m.UID, u)
	})
	return i
}

func cmpUID(a, b uid.UID) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// errorf returns the *mailbox.Error of an operation.
func (s *Store) errorf(op, name string, u uid.UID, err error) error {
	return &mailbox.Error{Op: op, Store: s.name, Mailbox: name, UID: u, Err: err}
}

// begin checks what every call checks before it takes the lock: the
// context, whether the store is closed, the mailbox name. It returns the
// canonical name.
func (s *Store) begin(ctx context.Context, op, name string) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", s.errorf(op, name, 0, err)
	}
	if s.closed.Load() {
		return "", s.errorf(op, name, 0, mailbox.ErrClosed)
	}
	c, err := mailbox.CanonicalName(name)
	if err != nil {
		return "", s.errorf(op, name, 0, err)
	}
	return c, nil
}

// lock takes the lock of an open store, making INBOX on first use. On
// error the lock is not held.
func (s *Store) lock(op, name string) error {
	s.mu.Lock()
	if s.closed.Load() {
		s.mu.Unlock()
		return s.errorf(op, name, 0, mailbox.ErrClosed)
	}
	if !s.mu.ready {
		if _, err := s.createLocked(mailbox.Inbox); err != nil {
			s.mu.Unlock()
			return s.errorf(op, name, 0, err)
		}
		s.mu.ready = true
	}
	return nil
}

// boxLocked looks up a mailbox by canonical name c; name is the name as
// the caller gave it, for the error.
func (s *Store) boxLocked(op, name, c string) (*box, error) {
	b := s.mu.boxes[c]
	if b == nil {
		return nil, s.errorf(op, name, 0, mailbox.ErrNotFound)
	}
	return b, nil
}

// open is begin, lock and boxLocked: on success the lock is held.
func (s *Store) open(ctx context.Context, op, name string) (*box, error) {
	c, err := s.begin(ctx, op, name)
	if err != nil {
		return nil, err
	}
	if err := s.lock(op, name); err != nil {
		return nil, err
	}
	b, err := s.boxLocked(op, name, c)
	if err != nil {
		s.mu.Unlock()
		return nil, err
	}
	return b, nil
}

// createLocked makes mailbox c, which must not exist.
func (s *Store) createLocked(c string) (*box, error) {
	v, err := s.nextValidityLocked()
	if err != nil {
		return nil, err
	}
	id, err := s.newIDLocked()
	if err != nil {
		return nil, err
	}
	s.mu.lastValidity = v
	s.mu.ids[id] = true
	b := &box{name: c, id: id, validity: v, uidNext: 1, modseq: 1}
	s.mu.boxes[c] = b
	return b, nil
}

// nextValidityLocked returns the UIDVALIDITY for a new mailbox: the clock
// in Unix seconds, or one above the highest used, whichever is greater.
func (s *Store) nextValidityLocked() (uid.Validity, error) {
	next := uint64(s.mu.lastValidity) + 1
	if t := s.now().Unix(); t > 0 && uint64(t) > next && t <= math.MaxUint32 {
		next = uint64(t)
	}
	if next > math.MaxUint32 {
		return 0, fmt.Errorf("%w: no UIDVALIDITY left above %d", mailbox.ErrNotAllowed, s.mu.lastValidity)
	}
	return uid.Validity(next), nil
}

// newIDLocked returns a mailbox ID never given before: 32 hex digits from
// Rand.
func (s *Store) newIDLocked() (mailbox.ID, error) {
	var raw [16]byte
	for range 3 {
		if _, err := io.ReadFull(s.rand, raw[:]); err != nil {
			return "", fmt.Errorf("mailbox ID: reading random bytes: %w", err)
		}
		id := mailbox.ID(hex.EncodeToString(raw[:]))
		if !s.mu.ids[id] {
			return id, nil
		}
	}
	return "", fmt.Errorf("mailbox ID: the random source repeats itself (%x)", raw)
}

// Mailboxes returns every mailbox, sorted by name.
func (s *Store) Mailboxes(ctx context.Context) ([]mailbox.Info, error) {
	const op = "list mailboxes"
	if err := ctx.Err(); err != nil {
		return nil, s.errorf(op, "", 0, err)
	}
	if err := s.lock(op, ""); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	infos := make([]mailbox.Info, 0, len(s.mu.boxes))
	for _, b := range s.mu.boxes {
		infos = append(infos, b.infoLocked())
	}
	slices.SortFunc(infos, func(a, b mailbox.Info) int { return strings.Compare(a.Name, b.Name) })
	return infos, nil
}

// Status returns one mailbox's Info.
func (s *Store) Status(ctx context.Context, name string) (mailbox.Info, error) {
	b, err := s.open(ctx, "status", name)
	if err != nil {
		return mailbox.Info{}, err
	}
	defer s.mu.Unlock()
	return b.infoLocked(), nil
}

// Create makes a new, empty mailbox.
func (s *Store) Create(ctx context.Context, name string) (mailbox.Info, error) {
	const op = "create"
	c, err := s.begin(ctx, op, name)
	if err != nil {
		return mailbox.Info{}, err
	}
	if err := s.lock(op, name); err != nil {
		return mailbox.Info{}, err
	}
	defer s.mu.Unlock()
	if s.mu.boxes[c] != nil {
		return mailbox.Info{}, s.errorf(op, name, 0, mailbox.ErrExists)
	}
	b, err := s.createLocked(c)
	if err != nil {
		return mailbox.Info{}, s.errorf(op, name, 0, err)
	}
	return b.infoLocked(), nil
}

// Rename renames a mailbox and every mailbox below it, keeping their IDs,
// UIDVALIDITY values, UIDs and messages.
func (s *Store) Rename(ctx context.Context, oldName, newName string) error {
	const op = "rename"
	oc, err := s.begin(ctx, op, oldName)
	if err != nil {
		return err
	}
	nc, err := mailbox.CanonicalName(newName)
	if err != nil {
		return s.errorf(op, oldName, 0, fmt.Errorf("new name: %w", err))
	}
	if err := s.lock(op, oldName); err != nil {
		return err
	}
	defer s.mu.Unlock()
	if oc == mailbox.Inbox {
		return s.errorf(op, oldName, 0, fmt.Errorf("%w: INBOX cannot be renamed", mailbox.ErrNotAllowed))
	}
	if _, err := s.boxLocked(op, oldName, oc); err != nil {
		return err
	}
	if mailbox.IsDescendant(nc, oc) {
		return s.errorf(op, oldName, 0, fmt.Errorf("%w: cannot rename to %q, below itself", mailbox.ErrNotAllowed, newName))
	}
	if s.mu.boxes[nc] != nil {
		return s.errorf(op, oldName, 0, fmt.Errorf("%w: %q", mailbox.ErrExists, newName))
	}
	moves := map[string]string{oc: nc}
	for c := range s.mu.boxes {
		if !mailbox.IsDescendant(c, oc) {
			continue
		}
		to := nc + c[len(oc):]
		if err := mailbox.ValidateName(to); err != nil {
			return s.errorf(op, oldName, 0, fmt.Errorf("child %q: %w", c, err))
		}
		if s.mu.boxes[to] != nil {
			return s.errorf(op, oldName, 0, fmt.Errorf("%w: child %q would become %q", mailbox.ErrExists, c, to))
		}
		moves[c] = to
	}
	moved := make([]*box, 0, len(moves))
	for from := range moves {
		moved = append(moved, s.mu.boxes[from])
		delete(s.mu.boxes, from)
	}
	for _, m := range moved {
		m.name = moves[m.name]
		s.mu.boxes[m.name] = m
	}
	return nil
}

// Delete removes a mailbox and its messages.
func (s *Store) Delete(ctx context.Context, name string) error {
	const op = "delete"
	b, err := s.open(ctx, op, name)
	if err != nil {
		return err
	}
	defer s.mu.Unlock()
	if b.name == mailbox.Inbox {
		return s.errorf(op, name, 0, fmt.Errorf("%w: INBOX cannot be deleted", mailbox.ErrNotAllowed))
	}
	for c := range s.mu.boxes {
		if mailbox.IsDescendant(c, b.name) {
			return s.errorf(op, name, 0, fmt.Errorf("%w: %q", mailbox.ErrHasChildren, c))
		}
	}
	delete(s.mu.boxes, b.name)
	b.gone = true
	b.msgs = nil
	b.expunged = nil
	return nil
}

// Subscribe sets whether the mailbox is subscribed.
func (s *Store) Subscribe(ctx context.Context, name string, subscribed bool) error {
	b, err := s.open(ctx, "subscribe", name)
	if err != nil {
		return err
	}
	defer s.mu.Unlock()
	b.subscribed = subscribed
	return nil
}

// SetSpecialUse gives a mailbox a special use, as an IMAP server's
// configuration does (the zero value takes it away): a memstore guesses
// none from names, so a test says which mailbox is which. The mailbox
// keeps it when renamed.
func (s *Store) SetSpecialUse(ctx context.Context, name string, use mailbox.SpecialUse) error {
	b, err := s.open(ctx, "set special use", name)
	if err != nil {
		return err
	}
	defer s.mu.Unlock()
	b.use = use
	return nil
}

// Close ends the store and drops its contents. Afterwards every method,
// Close included, returns an error wrapping [mailbox.ErrClosed]; a
// listing under way ends with such an error before its next message.
// Readers returned by Open stay readable.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed.Load() {
		return s.errorf("close", "", 0, mailbox.ErrClosed)
	}
	s.closed.Store(true)
	for _, b := range s.mu.boxes {
		b.gone = true
		b.msgs = nil
		b.expunged = nil
	}
	s.mu.boxes = nil
	return nil
}

// Clone returns an independent copy of the store as it is now: every
// mailbox with its messages, UIDs, flags, modseqs and history, and the
// record of UIDVALIDITY values used. It is a backup in memory: changes to
// either store leave the other alone, and the copy, put in the original's
// place later, is a store restored from an old copy (its UIDNEXTs lower
// than the original's by then). Options are the original's. A closed
// store gives an error wrapping mailbox.ErrClosed.
func (s *Store) Clone() (*Store, error) {
	if err := s.lock("clone", ""); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	c := &Store{now: s.now, rand: s.rand, name: s.name}
	c.mu.ready = s.mu.ready
	c.mu.lastValidity = s.mu.lastValidity
	c.mu.ids = make(map[mailbox.ID]bool, len(s.mu.ids))
	for id := range s.mu.ids {
		c.mu.ids[id] = true
	}
	c.mu.boxes = make(map[string]*box, len(s.mu.boxes))
	for n, b := range s.mu.boxes {
		nb := *b
		nb.msgs = slices.Clone(b.msgs) // bodies are never changed: shared
		nb.expunged = slices.Clone(b.expunged)
		c.mu.boxes[n] = &nb
	}
	return c, nil
}
