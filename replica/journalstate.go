package replica

import (
	"context"
	"iter"

	"github.com/mailrepl/mailrepl/journal"
	"github.com/mailrepl/mailrepl/mailbox"
	"github.com/mailrepl/mailrepl/uid"
)

// JournalState keeps the engine's state in a [journal.Journal]: durable,
// so a sync killed at any point resumes where it stopped, and shared with
// an embedding server that logs its users' deletions there. It is also an
// [EmailIDCache]. It is safe for concurrent use.
type JournalState struct {
	j *journal.Journal
}

// NewJournalState returns the State kept in j. Closing j is the caller's.
func NewJournalState(j *journal.Journal) *JournalState { return &JournalState{j: j} }

var (
	_ State          = (*JournalState)(nil)
	_ EmailIDCache   = (*JournalState)(nil)
	_ EmailIDBatcher = (*JournalState)(nil)
	_ Records        = (*JournalState)(nil)
)

// The engine's marks in journal.Header.Marks.
const (
	markIdentity uint32 = 1 << iota
	markComplete
	markRealigning
	markRealignSource
	markDistrust
	markRenewed
)

func toJournalHeader(h Header) journal.Header {
	var marks uint32
	for _, m := range []struct {
		on  bool
		bit uint32
	}{{h.Identity, markIdentity}, {h.Complete, markComplete}, {h.Realigning, markRealigning},
		{h.RealignSource, markRealignSource}, {h.Distrust, markDistrust}, {h.Renewed, markRenewed}} {
		if m.on {
			marks |= m.bit
		}
	}
	return journal.Header{
		Src:        journal.Side{MailboxID: h.SrcID, Mailbox: h.SrcName, UIDValidity: h.SrcValidity, UIDNext: h.SrcUIDNext, HighestModSeq: h.SrcModSeq},
		Dst:        journal.Side{MailboxID: h.DstID, Mailbox: h.DstName, UIDValidity: h.DstValidity, UIDNext: h.DstUIDNext, HighestModSeq: h.DstModSeq},
		Subscribed: h.Subscribed,
		Marks:      marks,
	}
}

func fromJournalHeader(h journal.Header) Header {
	return Header{
		SrcID: h.Src.MailboxID, SrcName: h.Src.Mailbox, SrcValidity: h.Src.UIDValidity, SrcUIDNext: h.Src.UIDNext, SrcModSeq: h.Src.HighestModSeq,
		DstID: h.Dst.MailboxID, DstName: h.Dst.Mailbox, DstValidity: h.Dst.UIDValidity, DstUIDNext: h.Dst.UIDNext, DstModSeq: h.Dst.HighestModSeq,
		Subscribed:    h.Subscribed,
		Identity:      h.Marks&markIdentity != 0,
		Complete:      h.Marks&markComplete != 0,
		Realigning:    h.Marks&markRealigning != 0,
		RealignSource: h.Marks&markRealignSource != 0,
		Distrust:      h.Marks&markDistrust != 0,
		Renewed:       h.Marks&markRenewed != 0,
	}
}

func toJournalIntent(src mailbox.ID, in Intent) journal.Intent {
	return journal.Intent{MailboxID: src, EmailID: in.EmailID, SrcUID: in.FromUID, DstUID: in.UID,
		Reverse: in.ToSource, Move: in.Move, AlsoUID: in.AlsoUID}
}

func fromJournalIntent(in journal.Intent) Intent {
	return Intent{Move: in.Move, ToSource: in.Reverse, EmailID: in.EmailID, FromUID: in.SrcUID, UID: in.DstUID, AlsoUID: in.AlsoUID}
}

// Headers implements State.
func (s *JournalState) Headers(ctx context.Context, pair string) ([]Header, error) {
	var hs []Header
	for h, err := range s.j.Mailboxes(ctx, pair) {
		if err != nil {
			return nil, err
		}
		hs = append(hs, fromJournalHeader(h))
	}
	return hs, nil
}

func entries(seq iter.Seq2[journal.Entry, error]) iter.Seq2[Entry, error] {
	return func(yield func(Entry, error) bool) {
		for e, err := range seq {
			if !yield(Entry{Src: e.SrcUID, Dst: e.DstUID, EmailID: e.EmailID, Flags: e.Flags}, err) || err != nil {
				return
			}
		}
	}
}

// Entries implements State.
func (s *JournalState) Entries(ctx context.Context, pair string, src mailbox.ID) iter.Seq2[Entry, error] {
	return entries(s.j.State(ctx, pair, src))
}

// EntriesByDst implements State.
func (s *JournalState) EntriesByDst(ctx context.Context, pair string, src mailbox.ID) iter.Seq2[Entry, error] {
	return entries(s.j.StateByDst(ctx, pair, src))
}

// Intents implements State.
func (s *JournalState) Intents(ctx context.Context, pair string, src mailbox.ID) ([]Intent, error) {
	var ins []Intent
	for in, err := range s.j.Intents(ctx, pair, src) {
		if err != nil {
			return nil, err
		}
		ins = append(ins, fromJournalIntent(in))
	}
	return ins, nil
}

// MailboxDeleted implements State: the last event the journal holds for
// the mailbox is its deletion.
func (s *JournalState) MailboxDeleted(ctx context.Context, user string, id mailbox.ID) (bool, error) {
	m, found, err := s.j.MailboxSeq(user, id, "")
	return found && m.Deleted, err
}

// Tombstoned implements State.
func (s *JournalState) Tombstoned(ctx context.Context, user string, mbox mailbox.ID, id mailbox.EmailID) (bool, error) {
	_, found, err := s.j.Tombstone(user, mbox, id)
	return found, err
}

// EmailID implements EmailIDCache.
func (s *JournalState) EmailID(store string, mbox mailbox.ID, v uid.Validity, u uid.UID) (mailbox.EmailID, bool, error) {
	return s.j.EmailID(store, mbox, v, u)
}

// PutEmailID implements EmailIDCache.
func (s *JournalState) PutEmailID(store string, mbox mailbox.ID, v uid.Validity, u uid.UID, id mailbox.EmailID) error {
	return s.j.PutEmailIDs(journal.CachedEmailID{Store: store, MailboxID: mbox, UIDValidity: v, UID: u, EmailID: id})
}

// PutEmailIDs implements EmailIDBatcher: one unsynced write.
func (s *JournalState) PutEmailIDs(entries []CachedEmailID) error {
	cs := make([]journal.CachedEmailID, len(entries))
	for i, e := range entries {
		cs[i] = journal.CachedEmailID{Store: e.Store, MailboxID: e.Mailbox, UIDValidity: e.UIDValidity, UID: e.UID, EmailID: e.EmailID}
	}
	return s.j.PutEmailIDs(cs...)
}

// Begin implements State.
func (s *JournalState) Begin(pair string) StateBatch {
	return &journalBatch{b: s.j.NewBatch(), pair: pair}
}

type journalBatch struct {
	b    *journal.Batch
	pair string
}

func (b *journalBatch) PutHeader(h Header)           { b.b.PutHeader(b.pair, toJournalHeader(h)) }
func (b *journalBatch) DeleteMailbox(src mailbox.ID) { b.b.DeleteMailboxState(b.pair, src) }
func (b *journalBatch) PutEntry(src mailbox.ID, e Entry) {
	b.b.PutEntry(b.pair, src, journal.Entry{SrcUID: e.Src, DstUID: e.Dst, EmailID: e.EmailID, Flags: e.Flags})
}
func (b *journalBatch) DeleteEntry(src mailbox.ID, u uid.UID) { b.b.DeleteEntry(b.pair, src, u) }
func (b *journalBatch) PutIntent(src mailbox.ID, in Intent) {
	b.b.PutIntent(b.pair, toJournalIntent(src, in))
}
func (b *journalBatch) DeleteIntent(src mailbox.ID, in Intent) {
	b.b.DeleteIntent(b.pair, toJournalIntent(src, in))
}
func (b *journalBatch) PutTombstone(user string, t Tombstone) {
	b.b.PutTombstone(journal.Tombstone{User: user, MailboxID: t.MailboxID, Mailbox: t.Mailbox, EmailID: t.EmailID, UID: t.UID, Time: t.Time})
}
func (b *journalBatch) Len() int { return b.b.Len() }
func (b *journalBatch) Commit(ctx context.Context) error {
	_, err := b.b.Commit(ctx)
	return err
}

// Tombstone implements Records.
func (s *JournalState) Tombstone(ctx context.Context, user string, mbox mailbox.ID, id mailbox.EmailID) (Tombstone, bool, error) {
	t, found, err := s.j.Tombstone(user, mbox, id)
	return Tombstone{MailboxID: t.MailboxID, Mailbox: t.Mailbox, EmailID: t.EmailID, UID: t.UID, Time: t.Time}, found, err
}

func fromJournalLost(l journal.Lost) Lost {
	return Lost{MailboxID: l.MailboxID, Mailbox: l.Mailbox, UID: l.UID, EmailID: l.EmailID, Flags: l.Flags,
		InternalDate: l.InternalDate, Size: l.Size, Reason: l.Reason, Unsure: l.Unsure, Time: l.Time}
}

func toJournalLost(user string, l Lost) journal.Lost {
	return journal.Lost{User: user, MailboxID: l.MailboxID, Mailbox: l.Mailbox, UID: l.UID, EmailID: l.EmailID, Flags: l.Flags,
		InternalDate: l.InternalDate, Size: l.Size, Reason: l.Reason, Unsure: l.Unsure, Time: l.Time}
}

// LostRecord implements Records.
func (s *JournalState) LostRecord(ctx context.Context, user string, mbox mailbox.ID, id mailbox.EmailID) (Lost, bool, error) {
	l, found, err := s.j.LostRecord(user, mbox, id)
	return fromJournalLost(l), found, err
}

// LostIn implements Records.
func (s *JournalState) LostIn(ctx context.Context, user string, mbox mailbox.ID) iter.Seq2[Lost, error] {
	return func(yield func(Lost, error) bool) {
		for l, err := range s.j.Lost(ctx, user, mbox) {
			if !yield(fromJournalLost(l), err) || err != nil {
				return
			}
		}
	}
}

// RecordLost implements Records.
func (s *JournalState) RecordLost(ctx context.Context, user string, lost []Lost) error {
	b := s.j.NewBatch()
	for _, l := range lost {
		b.PutLost(toJournalLost(user, l))
	}
	_, err := b.Commit(ctx)
	return err
}

// ForgetLost implements Records.
func (s *JournalState) ForgetLost(ctx context.Context, user string, lost []Lost) error {
	b := s.j.NewBatch()
	for _, l := range lost {
		b.DeleteLost(toJournalLost(user, l))
	}
	_, err := b.Commit(ctx)
	return err
}
