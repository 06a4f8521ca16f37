package imapstore

import (
	"context"
	"fmt"
	"iter"
	"slices"

	"github.com/emersion/go-imap/v2"

	"github.com/mailrepl/mailrepl/mailbox"
	"github.com/mailrepl/mailrepl/uid"
)

// How Changes works without QRESYNC (go-imap v2 cannot parse VANISHED):
// new and changed messages come from UID FETCH … (CHANGEDSINCE n), as
// CONDSTORE gives them. Expunges cannot be asked for, so the store keeps,
// for the session, a snapshot of each mailbox at every HIGHESTMODSEQ it
// reported (the number of messages and UIDNEXT, which STATUS gives at no
// cost) and the expunges it made itself. Changes since a reported modseq
// is exact when the messages below that snapshot's UIDNEXT now present,
// with those the store expunged since, are as many as the snapshot held:
// then no other client expunged any. Otherwise, or for a modseq the store
// did not report (another process's), it answers ErrChangesUnavailable
// and the caller lists the mailbox, which is always right.

// snapshot is a mailbox as a STATUS saw it.
type snapshot struct {
	modseq  mailbox.ModSeq
	count   uint32
	uidNext uid.UID
}

// expunge is an expunge the store made.
type expunge struct {
	uid    uid.UID
	modseq mailbox.ModSeq // the mailbox's HIGHESTMODSEQ after it
}

// maxSnaps bounds the snapshots kept per mailbox.
const maxSnaps = 64

func (s *Store) snapLocked(id mailbox.ID, sn snapshot) {
	list := s.mu.snaps[id]
	for _, x := range list {
		if x.modseq == sn.modseq {
			return
		}
	}
	list = append(list, sn)
	if len(list) > maxSnaps {
		list = list[len(list)-maxSnaps:]
	}
	s.mu.snaps[id] = list
}

func (s *Store) recordExpunges(id mailbox.ID, set uid.Set, after mailbox.ModSeq) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for u := range set.All() {
		s.mu.expunged[id] = append(s.mu.expunged[id], expunge{uid: u, modseq: after})
	}
}

// Changes implements mailbox.ChangeTracker.
func (s *Store) Changes(ctx context.Context, name string, validity uid.Validity, since mailbox.ModSeq) iter.Seq2[mailbox.Change, error] {
	return func(yield func(mailbox.Change, error) bool) {
		cn, srv, err := s.canon(ctx, "changes", name)
		if err != nil {
			yield(mailbox.Change{}, err)
			return
		}
		var changes []mailbox.Change
		err = s.with(ctx, "changes", name, true, func(c *conn) error {
			changes = changes[:0]
			if !c.caps.Has(imap.CapCondStore) {
				return fmt.Errorf("%w: the server has no CONDSTORE", mailbox.ErrChangesUnavailable)
			}
			in, err := s.status(c, cn, srv)
			if err != nil {
				return err
			}
			if in.UIDValidity != validity {
				return fmt.Errorf("%w: UIDVALIDITY is %d, not %d", mailbox.ErrUIDValidityChanged, in.UIDValidity, validity)
			}
			if since >= in.HighestModSeq {
				return nil // nothing happened after the latest modseq
			}
			if _, err := s.selectBox(c, srv, true); err != nil {
				return err
			}
			changed, err := s.fetchMeta(c, imapUIDs(uid.All), uint64(since))
			if err != nil {
				return err
			}
			s.fillEmailIDs(changed, uint32(validity))
			gone, ok, err := s.expungedSince(c, in.ID, since)
			if err != nil {
				return err
			}
			if !ok {
				return fmt.Errorf("%w: without QRESYNC, expunges since modseq %d are known only within the session that saw it", mailbox.ErrChangesUnavailable, since)
			}
			for _, m := range changed {
				if m.ModSeq > since {
					changes = append(changes, mailbox.Change{Message: m})
				}
			}
			for u := range gone.All() {
				changes = append(changes, mailbox.Change{Message: mailbox.Message{UID: u}, Expunged: true})
			}
			slices.SortFunc(changes, func(a, b mailbox.Change) int { return int(a.UID) - int(b.UID) })
			changes = slices.CompactFunc(changes, func(a, b mailbox.Change) bool { return a.UID == b.UID })
			return nil
		})
		if err != nil {
			yield(mailbox.Change{}, err)
			return
		}
		for _, ch := range changes {
			if err := ctx.Err(); err != nil {
				yield(mailbox.Change{}, s.fail("changes", name, 0, err))
				return
			}
			if s.closed() {
				yield(mailbox.Change{}, s.fail("changes", name, 0, mailbox.ErrClosed))
				return
			}
			if !yield(ch, nil) {
				return
			}
		}
	}
}

// expungedSince returns the UIDs expunged after modseq since, and whether
// the store can tell exactly (see the comment at the top).
func (s *Store) expungedSince(c *conn, id mailbox.ID, since mailbox.ModSeq) (uid.Set, bool, error) {
	s.mu.Lock()
	var mine uid.Set
	var list []uid.UID
	for _, x := range s.mu.expunged[id] {
		if x.modseq > since {
			list = append(list, x.uid)
		}
	}
	mine = uid.SetOf(list...)
	var snap *snapshot
	for _, x := range s.mu.snaps[id] {
		if x.modseq == since {
			snap = &x
			break
		}
	}
	s.mu.Unlock()
	if since == 0 {
		// Before the mailbox's first change: every expunge is one the
		// store made, or one it cannot know of.
		return mine, s.sessionSawAll(id), nil
	}
	if snap == nil {
		return nil, false, nil
	}
	// The messages below the snapshot's UIDNEXT present now.
	res, err := c.c.UIDSearch(&imap.SearchCriteria{UID: []imap.UIDSet{{{Start: 1, Stop: imap.UID(max(snap.uidNext-1, 1))}}}}, nil).Wait()
	if err != nil {
		return nil, false, fmt.Errorf("UID SEARCH: %w", err)
	}
	var present uint64
	for _, u := range res.AllUIDs() {
		if uid.UID(u) < snap.uidNext {
			present++
		}
	}
	var mineBelow uint64
	for u := range mine.All() {
		if u < snap.uidNext {
			mineBelow++
		}
	}
	return mine, present+mineBelow == uint64(snap.count), nil
}

// sessionSawAll reports whether the store saw the mailbox empty at
// UIDNEXT 1, so that every message it ever held came in this session.
func (s *Store) sessionSawAll(id mailbox.ID) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, x := range s.mu.snaps[id] {
		if x.count == 0 && x.uidNext == 1 {
			return true
		}
	}
	return false
}
