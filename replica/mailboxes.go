package replica

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/mailrepl/mailrepl/mailbox"
)

// MailboxInput is what the mailbox-level plan depends on.
type MailboxInput struct {
	Mode       Mode
	TargetOnly TargetOnly
	// Trust propagates the deletion of a mailbox that vanished from one
	// side even without a record that its user deleted it.
	Trust bool
	// SourceWritable: the source can be changed (mailboxes recreated or
	// copied back to it).
	SourceWritable bool
	Src, Dst       []mailbox.Info
	Headers        []Header
	// Deleted reports whether a user is on record as having deleted the
	// mailbox with that ID on that side.
	Deleted func(side Side, id mailbox.ID) bool
}

// PlanMailboxes plans the mailbox-level changes (create, rename, delete)
// that make the two sides' sets of mailboxes agree, by the mode's rules:
//
//   - A mailbox is recognised by its ID, so a rename on one side is a
//     rename on the other, not a delete and a create. In two-way mode, a
//     mailbox renamed on both sides takes the source's name.
//   - A mailbox that vanished from one side is deleted from the other only
//     when its deletion by a user is on record (or Trust is set);
//     otherwise it is recreated from the side that has it: a folder lost
//     to a failure comes back, and nothing is destroyed silently. When a
//     new mailbox took the vanished one's name, the two are paired by name
//     and the old mail goes into the new mailbox.
//   - Mirror: a target-only mailbox no sync put there is copied back to the
//     source (or deleted, by policy). Migrate creates, never deletes.
//
// Renames come first, in an order that frees each new name before it is
// taken (a cycle of renames goes through a temporary name, and an unpaired
// mailbox in the way is moved aside under a "-conflict" name and
// reported), then deletes (deepest first), then creates. The Syncer applies
// the first rename, lists again and plans again, so only the first op of
// the plan must be applicable as it stands. Subscriptions are set per
// mailbox by [Syncer].
func PlanMailboxes(in MailboxInput) []MailboxOp {
	srcByID, dstByID := byID(in.Src), byID(in.Dst)
	names := [2]map[string]mailbox.Info{byName(in.Src), byName(in.Dst)}
	deleted := in.Deleted
	if deleted == nil {
		deleted = func(Side, mailbox.ID) bool { return false }
	}
	var renames, creates, deletes []MailboxOp
	paired := [2]map[mailbox.ID]bool{{}, {}}
	freed := [2]map[string]bool{{}, {}} // names a delete in this plan frees
	repaired := map[string]bool{}       // names whose vanished mailbox a new one replaces
	for _, h := range in.Headers {
		s, sok := srcByID[h.SrcID]
		d, dok := dstByID[h.DstID]
		if sok {
			paired[Source][s.ID] = true
		}
		if dok {
			paired[Target][d.ID] = true
		}
		switch {
		case sok && dok:
			if s.Name == d.Name {
				continue
			}
			srcRenamed, dstRenamed := s.Name != h.SrcName, d.Name != h.DstName
			if in.Mode == TwoWay && dstRenamed && !srcRenamed {
				renames = append(renames, MailboxOp{Kind: MailboxRename, Side: Source, Name: s.Name, NewName: d.Name, Reason: "renamed on target"})
				continue
			}
			reason := "renamed on source"
			if dstRenamed && srcRenamed {
				reason = "renamed on both sides: source wins"
			} else if dstRenamed {
				reason = "renamed on target: source wins"
			}
			renames = append(renames, MailboxOp{Kind: MailboxRename, Side: Target, Name: d.Name, NewName: s.Name, Reason: reason})
		case sok:
			if in.Mode == TwoWay && (in.Trust || deleted(Target, h.DstID)) {
				deletes = append(deletes, MailboxOp{Kind: MailboxDelete, Side: Source, Name: s.Name, Reason: "deleted on target"})
				freed[Source][s.Name] = true
				continue
			}
			if _, taken := names[Target][s.Name]; taken {
				repaired[s.Name] = true
				continue
			}
			creates = append(creates, MailboxOp{Kind: MailboxCreate, Side: Target, Name: s.Name, Reason: "missing on target: recreated"})
		case dok:
			if in.Mode == Migrate {
				continue
			}
			if in.Trust || deleted(Source, h.SrcID) {
				deletes = append(deletes, MailboxOp{Kind: MailboxDelete, Side: Target, Name: d.Name, Reason: "deleted on source"})
				freed[Target][d.Name] = true
				continue
			}
			if _, taken := names[Source][d.Name]; taken {
				repaired[d.Name] = true
				continue
			}
			if in.Mode == Mirror {
				// The source lost it, or its user deleted it with no record
				// of that: the replica keeps it (it may be all that is left
				// of it), and a mirror writes nothing to the source for it:
				// it is no split-brain mail, which alone a mirror copies back.
				creates = append(creates, MailboxOp{Kind: MailboxKeep, Side: Target, Name: d.Name,
					Reason: "missing on source, which held it at the last sync: kept on the target (a logged deletion, or trusting missing mailboxes, deletes it)", conflict: true})
				continue
			}
			creates = append(creates, MailboxOp{Kind: MailboxCreate, Side: Source, Name: d.Name, Reason: "missing on source: recreated"})
		}
	}
	renamedFrom := [2]map[string]bool{{}, {}}
	for _, op := range renames {
		renamedFrom[op.Side][op.Name] = true
	}
	// available reports whether name can be created on side: free, or
	// freed by a delete or a rename of this plan.
	available := func(side Side, name string) bool {
		_, taken := names[side][name]
		return !taken || freed[side][name] || renamedAway(renames, side, name)
	}
	for _, s := range in.Src {
		if paired[Source][s.ID] {
			continue
		}
		d, taken := names[Target][s.Name]
		switch {
		case taken && !paired[Target][d.ID]:
			paired[Target][d.ID] = true // paired by name
		case taken && repaired[s.Name]:
			// The target's mailbox of that name lost its source mailbox:
			// it pairs with this one by name.
		case available(Target, s.Name):
			creates = append(creates, MailboxOp{Kind: MailboxCreate, Side: Target, Name: s.Name, Reason: "new"})
		default:
			creates = append(creates, MailboxOp{Kind: MailboxKeep, Side: Target, Name: s.Name, Reason: "name taken on the target by another mailbox: not synced"})
		}
	}
	for _, d := range in.Dst {
		if paired[Target][d.ID] {
			continue
		}
		if _, taken := names[Source][d.Name]; taken && !freed[Source][d.Name] {
			continue // its name belongs to a source mailbox: paired by name, or in conflict (reported above)
		}
		switch {
		case in.Mode == Migrate:
		case in.Mode == Mirror && in.TargetOnly == DeleteTargetOnly:
			deletes = append(deletes, MailboxOp{Kind: MailboxDelete, Side: Target, Name: d.Name, Reason: "only on target: deleted by policy"})
		case !in.SourceWritable:
			creates = append(creates, MailboxOp{Kind: MailboxKeep, Side: Target, Name: d.Name, Reason: "only on target, source is read-only: kept", heldBack: true})
		case in.Mode == Mirror:
			creates = append(creates, MailboxOp{Kind: MailboxCreate, Side: Source, Name: d.Name, Reason: "only on target: copied to source"})
		default:
			creates = append(creates, MailboxOp{Kind: MailboxCreate, Side: Source, Name: d.Name, Reason: "new"})
		}
	}
	slices.SortStableFunc(creates, func(a, b MailboxOp) int { return cmp.Compare(a.Name, b.Name) })
	slices.SortStableFunc(deletes, func(a, b MailboxOp) int { return cmp.Compare(depth(b.Name), depth(a.Name)) })
	return slices.Concat(orderRenames(renames, names, paired), deletes, creates)
}

// orderRenames puts first a rename whose new name is free on its side, so
// the Syncer can apply it. When every rename waits for a name held by a
// mailbox that is renamed too (a cycle), the first one goes to a temporary
// name; when a name is held by a mailbox no state pairs, that mailbox is
// moved aside under a "-conflict" name.
func orderRenames(renames []MailboxOp, names [2]map[string]mailbox.Info, paired [2]map[mailbox.ID]bool) []MailboxOp {
	if len(renames) == 0 {
		return nil
	}
	slices.SortStableFunc(renames, func(a, b MailboxOp) int { return cmp.Compare(depth(a.Name), depth(b.Name)) })
	blocked := func(op MailboxOp) bool {
		_, taken := names[op.Side][op.NewName]
		return taken && !mailbox.IsDescendant(op.NewName, op.Name)
	}
	for i, op := range renames {
		if !blocked(op) {
			return append([]MailboxOp{op}, slices.Delete(slices.Clone(renames), i, i+1)...)
		}
	}
	first := renames[0]
	holder := names[first.Side][first.NewName]
	if !renamedAway(renames, first.Side, holder.Name) && !paired[first.Side][holder.ID] {
		aside := MailboxOp{Kind: MailboxRename, Side: first.Side, Name: holder.Name, NewName: freeName(names[first.Side], holder.Name+"-conflict"),
			Reason: fmt.Sprintf("in the way of %q being renamed to it: moved aside", first.Name)}
		return append([]MailboxOp{aside}, renames...)
	}
	tmp := MailboxOp{Kind: MailboxRename, Side: first.Side, Name: first.Name, NewName: freeName(names[first.Side], first.Name+"-mailrepl-tmp"),
		Reason: "renames in a cycle: a temporary name first"}
	return append([]MailboxOp{tmp}, renames...)
}

// freeName returns name, or name with a number appended, whichever is not
// in use.
func freeName(used map[string]mailbox.Info, name string) string {
	if _, taken := used[name]; !taken {
		return name
	}
	for i := 2; ; i++ {
		n := fmt.Sprintf("%s-%d", name, i)
		if _, taken := used[n]; !taken {
			return n
		}
	}
}

func depth(name string) int { return strings.Count(name, string(mailbox.Delimiter)) }

func byID(infos []mailbox.Info) map[mailbox.ID]mailbox.Info {
	m := make(map[mailbox.ID]mailbox.Info, len(infos))
	for _, i := range infos {
		m[i.ID] = i
	}
	return m
}

func byName(infos []mailbox.Info) map[string]mailbox.Info {
	m := make(map[string]mailbox.Info, len(infos))
	for _, i := range infos {
		m[i.Name] = i
	}
	return m
}

// mailboxPair is a source mailbox and the target mailbox it syncs with,
// and the state of their last sync if it still applies.
type mailboxPair struct {
	Src, Dst mailbox.Info
	Hdr      *Header
}

// PairMailboxes pairs the mailboxes of both sides after the mailbox-level
// ops: by the IDs the state recorded, then by name. A header whose target
// mailbox is not the one paired no longer applies (its entries describe
// another mailbox) and is dropped. It returns the pairs sorted by source
// name, and the headers to drop.
func pairMailboxes(src, dst []mailbox.Info, headers []Header) (pairs []mailboxPair, stale []Header) {
	dstByID, dstByName := byID(dst), byName(dst)
	hdrBySrc := map[mailbox.ID]Header{}
	usedDst := map[mailbox.ID]bool{}
	for _, h := range headers {
		hdrBySrc[h.SrcID] = h
	}
	srcIDs := map[mailbox.ID]bool{}
	for _, s := range src {
		srcIDs[s.ID] = true
	}
	for _, h := range headers {
		if !srcIDs[h.SrcID] {
			stale = append(stale, h)
		}
	}
	// First the pairs the state knows, then pairs by name.
	for pass := 0; pass < 2; pass++ {
		for _, s := range src {
			h, hok := hdrBySrc[s.ID]
			if pass == 0 {
				if !hok {
					continue
				}
				if d, ok := dstByID[h.DstID]; ok && !usedDst[d.ID] {
					usedDst[d.ID] = true
					hc := h
					pairs = append(pairs, mailboxPair{Src: s, Dst: d, Hdr: &hc})
					continue
				}
				stale = append(stale, h)
				delete(hdrBySrc, s.ID)
				continue
			}
			if hok {
				continue // paired in pass 0
			}
			if d, ok := dstByName[s.Name]; ok && !usedDst[d.ID] {
				usedDst[d.ID] = true
				pairs = append(pairs, mailboxPair{Src: s, Dst: d})
			}
		}
	}
	slices.SortFunc(pairs, func(a, b mailboxPair) int { return cmp.Compare(a.Src.Name, b.Src.Name) })
	return pairs, stale
}

// renamedAway reports whether a planned rename frees name on side.
func renamedAway(renames []MailboxOp, side Side, name string) bool {
	for _, op := range renames {
		if op.Side == side && (op.Name == name || mailbox.IsDescendant(name, op.Name)) {
			return true
		}
	}
	return false
}
