package replica

import (
	"fmt"
	"slices"
	"strings"

	"github.com/mailrepl/mailrepl/mailbox"
)

// The pairing of folders whose names differ between the stores: see
// "Folders of one special use" in doc.go.

// folderPair is one pair of names: src on the source, dst on the target.
type folderPair struct {
	src, dst string
	use      mailbox.SpecialUse // zero: from Options.FolderNames
}

// folderMap translates mailbox names between the sides. Its names are
// pairwise neither equal nor one below the other.
type folderMap []folderPair

// under reports whether name is prefix or below it.
func under(name, prefix string) bool {
	return name == prefix || mailbox.IsDescendant(name, prefix)
}

// rebase moves name from below (or at) from to below (or at) to.
func rebase(name, from, to string) string { return to + name[len(from):] }

// target returns the target name of the source mailbox name, and false
// when a pair takes that target name over (the mailbox is not synced).
func (m folderMap) target(name string) (string, bool) { return m.translate(name, false) }

// source returns the name in the source's terms of the target mailbox
// name, and false when a pair takes it over.
func (m folderMap) source(name string) (string, bool) { return m.translate(name, true) }

// translate moves name from one side's terms to the other's (to the
// source's when toSource): a name at or below a pair's name on its side
// takes the pair's other name; a name at or below a pair's name on the
// other side is taken over (false).
func (m folderMap) translate(name string, toSource bool) (string, bool) {
	ends := func(p folderPair) (from, to string) {
		if toSource {
			return p.dst, p.src
		}
		return p.src, p.dst
	}
	for _, p := range m {
		if from, to := ends(p); under(name, from) {
			return rebase(name, from, to), true
		}
	}
	for _, p := range m {
		if _, to := ends(p); under(name, to) {
			return name, false
		}
	}
	return name, true
}

// clashes reports whether name is, or is above or below, a name of m.
func (m folderMap) clashes(name string) bool {
	for _, p := range m {
		for _, n := range []string{p.src, p.dst} {
			if under(name, n) || under(n, name) {
				return true
			}
		}
	}
	return false
}

// explicitFolderMap checks Options.FolderNames and returns its pairs in
// order of source name. A pair of equal names is no pair.
func explicitFolderMap(names map[string]string) (folderMap, error) {
	var m folderMap
	keys := make([]string, 0, len(names))
	for k := range names {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var errs []string
	for _, key := range keys {
		val := names[key]
		bad := func(format string, args ...any) {
			errs = append(errs, fmt.Sprintf("%q=%q: ", key, val)+fmt.Sprintf(format, args...))
		}
		src, serr := mailbox.CanonicalName(key) // "inbox/Sent" is "INBOX/Sent"
		dst, derr := mailbox.CanonicalName(val)
		switch {
		case serr != nil:
			bad("%v", serr)
		case derr != nil:
			bad("%v", derr)
		case mailbox.IsInbox(src) || mailbox.IsInbox(dst):
			bad("INBOX is INBOX on every store: it cannot be mapped")
		case src == dst:
		case m.clashes(src) || m.clashes(dst) || under(src, dst) || under(dst, src):
			bad("its names overlap another pair's (equal, or one below the other)")
		default:
			m = append(m, folderPair{src: src, dst: dst})
		}
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("replica: FolderNames: %s", strings.Join(errs, "; "))
	}
	return m, nil
}

// uses returns the special use of each mailbox of a listing: the one the
// store gives or, when it gives none for any mailbox, the name's.
func uses(infos []mailbox.Info) map[mailbox.SpecialUse][]mailbox.Info {
	said := slices.ContainsFunc(infos, func(i mailbox.Info) bool { return i.SpecialUse != mailbox.UseNone })
	by := map[mailbox.SpecialUse][]mailbox.Info{}
	for _, i := range infos {
		u := i.SpecialUse
		if !said {
			u = mailbox.GuessSpecialUse(i.Name)
		}
		if u != mailbox.UseNone && !strings.EqualFold(i.Name, mailbox.Inbox) {
			by[u] = append(by[u], i)
		}
	}
	return by
}

// guessFolderMap adds to m the pairs of special-use folders of the two
// listings, by the rules in the comment at the top of this file.
func guessFolderMap(m folderMap, src, dst []mailbox.Info, headers []Header) folderMap {
	srcUses, dstUses := uses(src), uses(dst)
	srcIDs, dstIDs := byID(src), byID(dst)
	// pairedElsewhere: the state pairs the mailbox with another one that
	// is still there.
	pairedElsewhere := func(s, d mailbox.Info) bool {
		for _, h := range headers {
			if h.SrcID == s.ID && h.DstID != d.ID {
				if _, ok := dstIDs[h.DstID]; ok {
					return true
				}
			}
			if h.DstID == d.ID && h.SrcID != s.ID {
				if _, ok := srcIDs[h.SrcID]; ok {
					return true
				}
			}
		}
		return false
	}
	taken := func(infos []mailbox.Info, name string) bool {
		return slices.ContainsFunc(infos, func(i mailbox.Info) bool { return under(i.Name, name) })
	}
	for _, u := range mailbox.SpecialUses {
		ss, ds := srcUses[u], dstUses[u]
		var cands [][2]mailbox.Info
		if len(ss) == 1 && len(ds) == 1 {
			cands = [][2]mailbox.Info{{ss[0], ds[0]}}
		} else {
			cands = keptPairs(ss, ds, headers)
		}
		for _, c := range cands {
			s, d := c[0], c[1]
			if s.Name == d.Name || m.clashes(s.Name) || m.clashes(d.Name) || under(s.Name, d.Name) || under(d.Name, s.Name) ||
				taken(dst, s.Name) || taken(src, d.Name) || pairedElsewhere(s, d) {
				continue
			}
			m = append(m, folderPair{src: s.Name, dst: d.Name, use: u})
		}
	}
	return m
}

// keptPairs returns the pairs of mailboxes of one use (ss on the source,
// ds on the target, more than one on a side) that the state pairs under
// the names they still have, names that differ: a pair made by use holds
// when another folder of that use appears on a side.
func keptPairs(ss, ds []mailbox.Info, headers []Header) [][2]mailbox.Info {
	var out [][2]mailbox.Info
	for _, h := range headers {
		if h.SrcName == h.DstName {
			continue
		}
		si := slices.IndexFunc(ss, func(i mailbox.Info) bool { return i.ID == h.SrcID && i.Name == h.SrcName })
		di := slices.IndexFunc(ds, func(i mailbox.Info) bool { return i.ID == h.DstID && i.Name == h.DstName })
		if si >= 0 && di >= 0 {
			out = append(out, [2]mailbox.Info{ss[si], ds[di]})
		}
	}
	return out
}

// view returns both listings in the source's names: the target's
// mailboxes renamed by the map, and the mailboxes of either side the map
// takes a name from (left out, and returned as conflicts).
func (m folderMap) view(src, dst []mailbox.Info) (vsrc, vdst []mailbox.Info, hidden []Item) {
	if len(m) == 0 {
		return src, dst, nil
	}
	for _, s := range src {
		if t, ok := m.target(s.Name); !ok {
			hidden = append(hidden, Item{Mailbox: s.Name, Side: Source.String(),
				Reason: fmt.Sprintf("the folder map pairs %s, which takes this mailbox's name on the target: not synced", m.owner(t, true))})
			continue
		}
		vsrc = append(vsrc, s)
	}
	for _, d := range dst {
		n, ok := m.source(d.Name)
		if !ok {
			hidden = append(hidden, Item{Mailbox: d.Name, Side: Target.String(),
				Reason: fmt.Sprintf("the folder map pairs %s, which takes this mailbox's name: not synced", m.owner(n, false))})
			continue
		}
		d.Name = n
		vdst = append(vdst, d)
	}
	slices.SortFunc(vdst, func(a, b mailbox.Info) int { return strings.Compare(a.Name, b.Name) })
	return vsrc, vdst, hidden
}

// owner describes the pair that takes name over: "Sent → Sent Items".
func (m folderMap) owner(name string, byDst bool) string {
	for _, p := range m {
		if (byDst && under(name, p.dst)) || (!byDst && under(name, p.src)) {
			return fmt.Sprintf("%q → %q", p.src, p.dst)
		}
	}
	return "?"
}

// headers returns the headers for the planner: their target names in the
// source's names, as it compares them with the view, and without those of
// mailboxes the map leaves out of the sync (src and dst are the full
// listings). The planner would take such a mailbox for one that vanished
// and, trusting missing mailboxes, delete its partner; its header stays
// in the state, unused.
func (m folderMap) headers(hs []Header, src, dst []mailbox.Info) []Header {
	if len(m) == 0 {
		return hs
	}
	out := make([]Header, 0, len(hs))
	left := map[mailbox.ID]bool{}
	for _, i := range src {
		if _, ok := m.target(i.Name); !ok {
			left[i.ID] = true
		}
	}
	leftDst := map[mailbox.ID]bool{}
	for _, i := range dst {
		if _, ok := m.source(i.Name); !ok {
			leftDst[i.ID] = true
		}
	}
	for _, h := range hs {
		if left[h.SrcID] || leftDst[h.DstID] {
			continue
		}
		if n, ok := m.source(h.DstName); ok {
			h.DstName = n
		}
		out = append(out, h)
	}
	return out
}

// targetOp returns op with the names of a target op in the target's own.
func (m folderMap) targetOp(op MailboxOp) MailboxOp {
	if op.Side != Target || len(m) == 0 {
		return op
	}
	op.Name, _ = m.target(op.Name)
	if op.NewName != "" {
		op.NewName, _ = m.target(op.NewName)
	}
	return op
}
