package replica

import (
	"context"
	"fmt"

	"github.com/mailrepl/mailrepl/mailbox"
	"github.com/mailrepl/mailrepl/uid"
)

// renew starts the sync of a mailbox whose sides keep different UIDs
// (the state maps them) after a side's UIDVALIDITY changed: the entries
// pair UIDs that mean nothing any more, but their EmailIDs still say which
// messages both sides had. A message the state saw on both sides that a
// side no longer holds was expunged there (or lost: a lost record says
// so, and then it is not): that is recorded as a tombstone of that side's
// mailbox, in the same commit that drops the entries and marks the header
// Renewed, so a crash cannot lose it. The plan then re-pairs the mailbox
// by EmailID and, consulting those tombstones, propagates the expunges
// rather than taking what one side lacks for mail the other never had.
func (m *mboxSync) renew(ctx context.Context) error {
	o := &m.s.opt
	agreed := map[mailbox.EmailID]int{}
	n := 0
	for e, err := range o.State.Entries(ctx, o.Pair, m.src.ID) {
		if err != nil {
			return fmt.Errorf("read state: %w", err)
		}
		if !e.EmailID.IsZero() {
			agreed[e.EmailID]++
			n++
		}
	}
	var tombs []Tombstone
	if n > 0 {
		for _, side := range []Side{Source, Target} {
			info := m.info(side)
			held := map[mailbox.EmailID]int{}
			if info.ID != "" {
				for msg, err := range m.s.reader(side).Messages(ctx, info.Name, uid.All) {
					if err != nil {
						return fmt.Errorf("list %s: %w", side, err)
					}
					idn, err := m.resolve(ctx, side, msg, false)
					if err != nil {
						return err
					}
					if agreed[idn.EmailID] > 0 {
						held[idn.EmailID]++
					}
				}
			}
			changed := hdrValidity(m.pair.Hdr, side) != info.UIDValidity
			total, kept := 0, 0
			for id, want := range agreed {
				total += want
				kept += min(want, held[id])
			}
			if changed && lossy(kept, total) {
				// It lost its mail with its UIDs: what it lacks proves
				// nothing.
				m.conflict(Item{Mailbox: m.src.Name, Side: side.String(),
					Reason: fmt.Sprintf("its UIDVALIDITY changed and it holds %d of the %d messages both sides had: a storage loss, not expunges; nothing it lacks is taken as expunged", kept, total)})
				continue
			}
			for id, want := range agreed {
				if held[id] >= want || m.lost(ctx, side, id) {
					continue
				}
				tombs = append(tombs, Tombstone{MailboxID: info.ID, Mailbox: info.Name, EmailID: id, Time: o.Now()})
			}
		}
	}
	h := m.header(false)
	h.Renewed = true
	m.rewrote = true
	b := o.State.Begin(o.Pair)
	b.DeleteMailbox(m.src.ID)
	b.PutHeader(h)
	for _, t := range tombs {
		if t.MailboxID != "" {
			b.PutTombstone(o.User, t)
		}
	}
	if err := b.Commit(ctx); err != nil {
		return fmt.Errorf("commit state: %w", err)
	}
	m.intents = nil
	return nil
}

// gone reports, while a mailbox is renewed, whether side's user expunged
// the message with EmailID id since both sides last agreed on it.
func (m *mboxSync) gone(ctx context.Context, side Side, id mailbox.EmailID) bool {
	mid := m.info(side).ID
	if !m.renewed || mid == "" {
		return false
	}
	ok, err := m.s.opt.State.Tombstoned(ctx, m.s.opt.User, mid, id)
	return err == nil && ok
}

// hdrValidity is side's UIDVALIDITY in h (0 without a header).
func hdrValidity(h *Header, side Side) uid.Validity {
	switch {
	case h == nil:
		return 0
	case side == Source:
		return h.SrcValidity
	}
	return h.DstValidity
}
