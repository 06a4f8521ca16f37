package memstore

import (
	"context"
	"fmt"
	"iter"
	"slices"
	"sort"

	"github.com/mailrepl/mailrepl/mailbox"
	"github.com/mailrepl/mailrepl/uid"
)

// Changes yields the messages whose modseq is above since and the UIDs
// expunged after since, in ascending UID order. A Store remembers every
// expunge since the last renumbering (ResetUIDs), and answers
// [mailbox.ErrChangesUnavailable] only for a modseq from before it. An expunged UID comes with the modseq
// of its expunge.
func (s *Store) Changes(ctx context.Context, name string, validity uid.Validity, since mailbox.ModSeq) iter.Seq2[mailbox.Change, error] {
	const op = "changes"
	return func(yield func(mailbox.Change, error) bool) {
		b, err := s.open(ctx, op, name)
		if err != nil {
			yield(mailbox.Change{}, err)
			return
		}
		v := b.validity
		if v != validity {
			s.mu.Unlock()
			yield(mailbox.Change{}, s.errorf(op, name, 0, fmt.Errorf("%w: UIDVALIDITY is %d, not %d", mailbox.ErrUIDValidityChanged, v, validity)))
			return
		}
		if since != 0 && since < b.resetAt {
			s.mu.Unlock()
			yield(mailbox.Change{}, s.errorf(op, name, 0, fmt.Errorf("%w: UIDs renumbered at modseq %d", mailbox.ErrChangesUnavailable, b.resetAt)))
			return
		}
		gone := b.expungedSinceLocked(since)
		s.mu.Unlock()

		// emit yields the expunged UIDs below limit (all when limit is 0).
		emit := func(limit uid.UID) bool {
			for len(gone) > 0 {
				g := &gone[0]
				if limit != 0 && g.Start >= limit {
					return true
				}
				if err := s.live(ctx); err != nil {
					yield(mailbox.Change{}, s.errorf(op, name, 0, err))
					return false
				}
				c := mailbox.Change{Message: mailbox.Message{UID: g.Start, ModSeq: g.modseq}, Expunged: true}
				if !yield(c, nil) {
					return false
				}
				if g.Start == g.Stop {
					gone = gone[1:]
				} else {
					g.Start++
				}
			}
			return true
		}
		changed := func(m *message) bool { return m.ModSeq > since }
		for m, err := range s.scan(ctx, op, name, b, v, uid.All, changed) {
			if err != nil {
				yield(mailbox.Change{}, err)
				return
			}
			if !emit(m.UID) || !yield(mailbox.Change{Message: m}, nil) {
				return
			}
		}
		emit(0)
	}
}

// goneRange is a range of UIDs expunged at one modseq.
type goneRange struct {
	uid.Range
	modseq mailbox.ModSeq
}

// expungedSinceLocked returns the UIDs expunged after since, in ascending
// UID order.
func (b *box) expungedSinceLocked(since mailbox.ModSeq) []goneRange {
	k := sort.Search(len(b.expunged), func(i int) bool { return b.expunged[i].modseq > since })
	var gone []goneRange
	for _, run := range b.expunged[k:] {
		for _, r := range run.uids {
			gone = append(gone, goneRange{r, run.modseq})
		}
	}
	slices.SortFunc(gone, func(a, b goneRange) int { return cmpUID(a.Start, b.Start) })
	return gone
}
