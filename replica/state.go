package replica

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"slices"
	"sync"
	"time"

	"github.com/mailrepl/mailrepl/mailbox"
	"github.com/mailrepl/mailrepl/uid"
)

// Entry is one message both sides agreed on at the last sync: its UID on
// each side, its EmailID and the flags both had.
type Entry struct {
	Src, Dst uid.UID
	EmailID  mailbox.EmailID
	Flags    mailbox.Flags
}

// Header is what the last sync of a pair of mailboxes agreed on, besides
// its entries. It is keyed by the source mailbox's ID.
type Header struct {
	SrcID, DstID     mailbox.ID
	SrcName, DstName string
	SrcValidity      uid.Validity
	DstValidity      uid.Validity
	SrcUIDNext       uid.UID
	DstUIDNext       uid.UID
	SrcModSeq        mailbox.ModSeq // source HIGHESTMODSEQ the entries reflect
	DstModSeq        mailbox.ModSeq
	Subscribed       bool
	// Identity: the entries pair equal UIDs (both sides keep the same
	// UIDs). A sync in the other regime starts afresh.
	Identity bool
	// Realigning marks a realign whose renumbering may not have happened:
	// the entries already describe the renumbered side. A run that finds
	// it set realigns again (RealignSource: the source was renumbered).
	Realigning    bool
	RealignSource bool
	// Distrust marks a mailbox where a side went back in time (UIDNEXT
	// lower than recorded, or a UID reused): its old entries were dropped
	// and, until a sync completes, nothing a side lacks is taken as
	// expunged.
	Distrust bool
	// Renewed marks a mailbox of a pair that keeps different UIDs on its
	// sides, one of whose UIDVALIDITY changed: the entries of the old
	// numbering are gone, and what they said (a message both sides had
	// that a side no longer holds was expunged there) was kept as
	// tombstones of that side's mailbox, which the plan consults until a
	// sync completes.
	Renewed bool
	// Complete is set when a sync of the mailbox finished: the entries are
	// then every message both sides held. While it is false the entries
	// are a prefix of an interrupted first copy.
	Complete bool
}

// Intent records that a message is about to be appended to one side, so a
// run that crashed between that write and the state commit recognises the
// copy on the next run instead of taking it for foreign mail.
type Intent struct {
	// Move: renumbering a message on both sides (two-way UID conflict):
	// copy it from FromUID on the origin side (the source when ToSource)
	// to UID on both sides, then expunge FromUID.
	Move     bool
	ToSource bool            // appended to the source (two-way, split-brain rescue)
	EmailID  mailbox.EmailID // the message
	FromUID  uid.UID         // its UID on the side it was copied from
	UID      uid.UID         // the UID asked for, or 0 when the store chose
	AlsoUID  uid.UID         // a move: the other side's own copy, dropped at the end
}

// Tombstone records that a user expunged a message: restore never brings it
// back.
type Tombstone struct {
	MailboxID mailbox.ID
	Mailbox   string
	EmailID   mailbox.EmailID
	UID       uid.UID
	Time      time.Time
}

// State is the engine's view of the journal: the agreed state of each pair
// of mailboxes, the intents of unfinished appends and the tombstones the
// engine leaves. [NewMemState] keeps it in memory; [JournalState] keeps it
// durable in a journal.
type State interface {
	// Headers lists the headers of every mailbox of the pair.
	Headers(ctx context.Context, pair string) ([]Header, error)
	// Entries yields the entries of one mailbox in source UID order.
	Entries(ctx context.Context, pair string, src mailbox.ID) iter.Seq2[Entry, error]
	// EntriesByDst yields them in target UID order.
	EntriesByDst(ctx context.Context, pair string, src mailbox.ID) iter.Seq2[Entry, error]
	// Intents lists the intents recorded for one mailbox.
	Intents(ctx context.Context, pair string, src mailbox.ID) ([]Intent, error)
	// MailboxDeleted reports whether the user is on record as having
	// deleted the mailbox with that ID.
	MailboxDeleted(ctx context.Context, user string, id mailbox.ID) (bool, error)
	// Tombstoned reports whether a user is on record as having expunged
	// the message with that EmailID from the mailbox with that ID.
	Tombstoned(ctx context.Context, user string, mbox mailbox.ID, id mailbox.EmailID) (bool, error)
	// Begin starts an atomic batch of changes.
	Begin(pair string) StateBatch
}

// StateBatch is an atomic group of state changes: Commit makes all of them
// durable, or none.
type StateBatch interface {
	PutHeader(h Header)
	// DeleteMailbox removes a mailbox's header, entries and intents.
	DeleteMailbox(src mailbox.ID)
	PutEntry(src mailbox.ID, e Entry)
	DeleteEntry(src mailbox.ID, srcUID uid.UID)
	PutIntent(src mailbox.ID, in Intent)
	DeleteIntent(src mailbox.ID, in Intent)
	PutTombstone(user string, t Tombstone)
	// Len is the number of changes in the batch.
	Len() int
	Commit(ctx context.Context) error
}

// MemState is a State held in memory: for one-off copies that need no
// crash safety, and for tests. It is safe for concurrent use.
type MemState struct {
	mu struct {
		sync.Mutex
		pairs      map[string]map[mailbox.ID]*memMailbox
		tombstones map[string][]Tombstone
		deleted    map[string]map[mailbox.ID]bool
		lost       map[string][]Lost
		stamps     map[string]Stamps
		commits    int
	}
}

type memMailbox struct {
	hdr     Header
	entries map[uid.UID]Entry // by Src
	intents []Intent
}

// NewMemState returns an empty MemState.
func NewMemState() *MemState {
	s := &MemState{}
	s.mu.pairs = map[string]map[mailbox.ID]*memMailbox{}
	s.mu.tombstones = map[string][]Tombstone{}
	s.mu.deleted = map[string]map[mailbox.ID]bool{}
	s.mu.lost = map[string][]Lost{}
	return s
}

var (
	_ State   = (*MemState)(nil)
	_ Records = (*MemState)(nil)
)

// Headers implements State.
func (s *MemState) Headers(ctx context.Context, pair string) ([]Header, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var hs []Header
	for _, m := range s.mu.pairs[pair] {
		hs = append(hs, m.hdr)
	}
	slices.SortFunc(hs, func(a, b Header) int { return compareStrings(string(a.SrcID), string(b.SrcID)) })
	return hs, nil
}

func (s *MemState) sortedEntries(pair string, src mailbox.ID, byDst bool) []Entry {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.mu.pairs[pair][src]
	if m == nil {
		return nil
	}
	es := make([]Entry, 0, len(m.entries))
	for _, e := range m.entries {
		es = append(es, e)
	}
	slices.SortFunc(es, func(a, b Entry) int {
		if byDst {
			return int(int64(a.Dst) - int64(b.Dst))
		}
		return int(int64(a.Src) - int64(b.Src))
	})
	return es
}

// Entries implements State.
func (s *MemState) Entries(ctx context.Context, pair string, src mailbox.ID) iter.Seq2[Entry, error] {
	return sliceSeq(ctx, s.sortedEntries(pair, src, false))
}

// EntriesByDst implements State.
func (s *MemState) EntriesByDst(ctx context.Context, pair string, src mailbox.ID) iter.Seq2[Entry, error] {
	return sliceSeq(ctx, s.sortedEntries(pair, src, true))
}

func sliceSeq[T any](ctx context.Context, xs []T) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		for _, x := range xs {
			if err := ctx.Err(); err != nil {
				var zero T
				yield(zero, err)
				return
			}
			if !yield(x, nil) {
				return
			}
		}
	}
}

// Intents implements State.
func (s *MemState) Intents(ctx context.Context, pair string, src mailbox.ID) ([]Intent, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if m := s.mu.pairs[pair][src]; m != nil {
		return slices.Clone(m.intents), nil
	}
	return nil, nil
}

// MailboxDeleted implements State.
func (s *MemState) MailboxDeleted(ctx context.Context, user string, id mailbox.ID) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mu.deleted[user][id], nil
}

// RecordMailboxDeleted records that the user deleted the mailbox with id,
// as an embedding server would log it.
func (s *MemState) RecordMailboxDeleted(user string, id mailbox.ID) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mu.deleted[user] == nil {
		s.mu.deleted[user] = map[mailbox.ID]bool{}
	}
	s.mu.deleted[user][id] = true
}

// Tombstoned implements State.
func (s *MemState) Tombstoned(ctx context.Context, user string, mbox mailbox.ID, id mailbox.EmailID) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, t := range s.mu.tombstones[user] {
		if t.MailboxID == mbox && t.EmailID == id {
			return true, nil
		}
	}
	return false, nil
}

// Tombstone implements Records.
func (s *MemState) Tombstone(ctx context.Context, user string, mbox mailbox.ID, id mailbox.EmailID) (Tombstone, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, t := range s.mu.tombstones[user] {
		if t.MailboxID == mbox && t.EmailID == id {
			return t, true, nil
		}
	}
	return Tombstone{}, false, nil
}

// LostRecord implements Records.
func (s *MemState) LostRecord(ctx context.Context, user string, mbox mailbox.ID, id mailbox.EmailID) (Lost, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, l := range s.mu.lost[user] {
		if l.MailboxID == mbox && l.EmailID == id {
			return l, true, nil
		}
	}
	return Lost{}, false, nil
}

// LostIn implements Records.
func (s *MemState) LostIn(ctx context.Context, user string, mbox mailbox.ID) iter.Seq2[Lost, error] {
	s.mu.Lock()
	var ls []Lost
	for _, l := range s.mu.lost[user] {
		if l.MailboxID == mbox {
			ls = append(ls, l)
		}
	}
	s.mu.Unlock()
	return sliceSeq(ctx, ls)
}

// RecordLost implements Records.
func (s *MemState) RecordLost(ctx context.Context, user string, lost []Lost) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, l := range lost {
		i := slices.IndexFunc(s.mu.lost[user], func(o Lost) bool { return o.MailboxID == l.MailboxID && o.EmailID == l.EmailID && o.UID == l.UID })
		if i >= 0 {
			s.mu.lost[user][i] = l
		} else {
			s.mu.lost[user] = append(s.mu.lost[user], l)
		}
	}
	return nil
}

// ForgetLost implements Records.
func (s *MemState) ForgetLost(ctx context.Context, user string, lost []Lost) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, l := range lost {
		s.mu.lost[user] = slices.DeleteFunc(s.mu.lost[user], func(o Lost) bool { return o.MailboxID == l.MailboxID && o.EmailID == l.EmailID && o.UID == l.UID })
	}
	return nil
}

// Tombstones returns the tombstones recorded for user.
func (s *MemState) Tombstones(user string) []Tombstone {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.mu.tombstones[user])
}

// Commits is the number of batches committed with at least one change.
func (s *MemState) Commits() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mu.commits
}

// Begin implements State.
func (s *MemState) Begin(pair string) StateBatch { return &memBatch{s: s, pair: pair} }

type memBatch struct {
	s    *MemState
	pair string
	ops  []func()
	err  error // what the journal would refuse, so tests of MemState see it too
}

func (b *memBatch) mbox(src mailbox.ID) *memMailbox {
	p := b.s.mu.pairs[b.pair]
	if p == nil {
		p = map[mailbox.ID]*memMailbox{}
		b.s.mu.pairs[b.pair] = p
	}
	m := p[src]
	if m == nil {
		m = &memMailbox{entries: map[uid.UID]Entry{}, hdr: Header{SrcID: src}}
		p[src] = m
	}
	return m
}

func (b *memBatch) PutHeader(h Header) {
	b.ops = append(b.ops, func() { b.mbox(h.SrcID).hdr = h })
}

func (b *memBatch) DeleteMailbox(src mailbox.ID) {
	b.ops = append(b.ops, func() { delete(b.s.mu.pairs[b.pair], src) })
}

func (b *memBatch) PutEntry(src mailbox.ID, e Entry) {
	b.ops = append(b.ops, func() { b.mbox(src).entries[e.Src] = e })
}

func (b *memBatch) DeleteEntry(src mailbox.ID, u uid.UID) {
	b.ops = append(b.ops, func() { delete(b.mbox(src).entries, u) })
}

func (b *memBatch) PutIntent(src mailbox.ID, in Intent) {
	if in.EmailID.IsZero() && b.err == nil {
		b.err = fmt.Errorf("replica: state: intent without EmailID (uid %d from %d)", in.UID, in.FromUID)
	}
	b.ops = append(b.ops, func() {
		m := b.mbox(src)
		m.intents = append(m.intents, in)
	})
}

func (b *memBatch) DeleteIntent(src mailbox.ID, in Intent) {
	b.ops = append(b.ops, func() {
		m := b.mbox(src)
		if i := slices.Index(m.intents, in); i >= 0 {
			m.intents = slices.Delete(m.intents, i, i+1)
		}
	})
}

func (b *memBatch) PutTombstone(user string, t Tombstone) {
	b.ops = append(b.ops, func() { b.s.mu.tombstones[user] = append(b.s.mu.tombstones[user], t) })
}

func (b *memBatch) Len() int { return len(b.ops) }

func (b *memBatch) Commit(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if b.err != nil {
		return b.err
	}
	b.s.mu.Lock()
	defer b.s.mu.Unlock()
	for _, op := range b.ops {
		op()
	}
	if len(b.ops) > 0 {
		b.s.mu.commits++
	}
	b.ops = nil
	return nil
}

func compareStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// EmailIDCache remembers the EmailIDs of messages whose store lists them
// without one, so a body is read for its EmailID at most once. A key is the
// store, the mailbox's ID and UIDVALIDITY, and the UID.
type EmailIDCache interface {
	EmailID(store string, mbox mailbox.ID, v uid.Validity, u uid.UID) (mailbox.EmailID, bool, error)
	PutEmailID(store string, mbox mailbox.ID, v uid.Validity, u uid.UID, id mailbox.EmailID) error
}

// CachedEmailID is one entry of an [EmailIDCache].
type CachedEmailID struct {
	Store       string
	Mailbox     mailbox.ID
	UIDValidity uid.Validity
	UID         uid.UID
	EmailID     mailbox.EmailID
}

// EmailIDBatcher is an EmailIDCache that takes many entries in one write
// (a batch of copies learns the EmailIDs of its sources together).
type EmailIDBatcher interface {
	EmailIDCache
	PutEmailIDs(entries []CachedEmailID) error
}

// putEmailIDs puts entries into c, in one write when c takes many.
func putEmailIDs(c EmailIDCache, entries []CachedEmailID) error {
	if b, ok := c.(EmailIDBatcher); ok {
		return b.PutEmailIDs(entries)
	}
	var errs []error
	for _, e := range entries {
		if err := c.PutEmailID(e.Store, e.Mailbox, e.UIDValidity, e.UID, e.EmailID); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Lost is a message recovery expunged because its body was missing,
// unreadable, truncated or no longer matched its EmailID: a restore brings
// it back, and a sync does not take its absence for a user's expunge.
type Lost struct {
	MailboxID    mailbox.ID // the mailbox of the store recovery scanned
	Mailbox      string
	UID          uid.UID
	EmailID      mailbox.EmailID // zero when not known
	Flags        mailbox.Flags
	InternalDate time.Time
	Size         int64
	Reason       string
	// Unsure: nothing proves a failure rather than a user's expunge (an
	// index entry without a body, on a store that keeps such entries for
	// expunged messages, with no tombstone): a restore follows its policy.
	Unsure bool
	Time   time.Time
}

// Records is what recovery and restore keep beside the sync state: lost
// messages and the evidence of users' deletions. [MemState] and
// [JournalState] implement it.
type Records interface {
	// Tombstone returns the user's tombstone for the EmailID in the
	// mailbox, if there is one.
	Tombstone(ctx context.Context, user string, mbox mailbox.ID, id mailbox.EmailID) (Tombstone, bool, error)
	// LostRecord returns the lost record for the EmailID in the mailbox.
	LostRecord(ctx context.Context, user string, mbox mailbox.ID, id mailbox.EmailID) (Lost, bool, error)
	// LostIn yields every lost record of the mailbox.
	LostIn(ctx context.Context, user string, mbox mailbox.ID) iter.Seq2[Lost, error]
	// RecordLost records lost messages, durably, all or none.
	RecordLost(ctx context.Context, user string, lost []Lost) error
	// ForgetLost drops lost records (their messages were restored).
	ForgetLost(ctx context.Context, user string, lost []Lost) error
	// MailboxDeleted reports whether the user deleted the mailbox.
	MailboxDeleted(ctx context.Context, user string, id mailbox.ID) (bool, error)
}
