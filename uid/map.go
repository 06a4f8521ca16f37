package uid

import (
	"fmt"
	"iter"
	"slices"
)

// Pair is one message's UID in a source mailbox and in a target mailbox.
type Pair struct {
	Src, Dst UID
}

// Map pairs source UIDs with target UIDs, one to one, with lookups both
// ways. It iterates in source-UID order. Appending pairs in ascending order
// (the common case: a sync walks a mailbox by UID) costs O(1); other
// insertions cost O(n). The zero value is an empty map ready to use. A Map
// is not safe for concurrent modification.
type Map struct {
	bySrc []Pair // sorted by Src
	byDst []Pair // sorted by Dst
}

// Len is the number of pairs.
func (m *Map) Len() int { return len(m.bySrc) }

// Add pairs src with dst. It fails, changing nothing, when either UID is
// zero or already paired.
func (m *Map) Add(src, dst UID) error {
	if src == 0 || dst == 0 {
		return fmt.Errorf("uid: map add %d→%d: zero UID", src, dst)
	}
	i, foundSrc := slices.BinarySearchFunc(m.bySrc, src, cmpSrc)
	if foundSrc {
		return fmt.Errorf("uid: map add %d→%d: source UID %d already paired with %d", src, dst, src, m.bySrc[i].Dst)
	}
	j, foundDst := slices.BinarySearchFunc(m.byDst, dst, cmpDst)
	if foundDst {
		return fmt.Errorf("uid: map add %d→%d: target UID %d already paired with %d", src, dst, dst, m.byDst[j].Src)
	}
	p := Pair{src, dst}
	m.bySrc = slices.Insert(m.bySrc, i, p)
	m.byDst = slices.Insert(m.byDst, j, p)
	return nil
}

// Dst returns the target UID paired with src.
func (m *Map) Dst(src UID) (UID, bool) {
	i, ok := slices.BinarySearchFunc(m.bySrc, src, cmpSrc)
	if !ok {
		return 0, false
	}
	return m.bySrc[i].Dst, true
}

// Src returns the source UID paired with dst.
func (m *Map) Src(dst UID) (UID, bool) {
	j, ok := slices.BinarySearchFunc(m.byDst, dst, cmpDst)
	if !ok {
		return 0, false
	}
	return m.byDst[j].Src, true
}

// DeleteSrc removes the pair whose source UID is src and reports whether
// there was one.
func (m *Map) DeleteSrc(src UID) bool {
	i, ok := slices.BinarySearchFunc(m.bySrc, src, cmpSrc)
	if !ok {
		return false
	}
	dst := m.bySrc[i].Dst
	j, _ := slices.BinarySearchFunc(m.byDst, dst, cmpDst)
	m.bySrc = slices.Delete(m.bySrc, i, i+1)
	m.byDst = slices.Delete(m.byDst, j, j+1)
	return true
}

// DeleteDst removes the pair whose target UID is dst and reports whether
// there was one.
func (m *Map) DeleteDst(dst UID) bool {
	src, ok := m.Src(dst)
	if !ok {
		return false
	}
	return m.DeleteSrc(src)
}

// All yields the pairs in ascending source-UID order.
func (m *Map) All() iter.Seq2[UID, UID] {
	return func(yield func(UID, UID) bool) {
		for _, p := range m.bySrc {
			if !yield(p.Src, p.Dst) {
				return
			}
		}
	}
}

// ByDst yields the pairs in ascending target-UID order.
func (m *Map) ByDst() iter.Seq2[UID, UID] {
	return func(yield func(UID, UID) bool) {
		for _, p := range m.byDst {
			if !yield(p.Src, p.Dst) {
				return
			}
		}
	}
}

// SrcSet is the set of paired source UIDs.
func (m *Map) SrcSet() Set {
	rs := make([]Range, len(m.bySrc))
	for i, p := range m.bySrc {
		rs[i] = Range{p.Src, p.Src}
	}
	return normalize(rs)
}

// DstSet is the set of paired target UIDs.
func (m *Map) DstSet() Set {
	rs := make([]Range, len(m.byDst))
	for i, p := range m.byDst {
		rs[i] = Range{p.Dst, p.Dst}
	}
	return normalize(rs)
}

// Monotonic reports whether the pairing preserves order: ascending source
// UIDs map to ascending target UIDs. A replica that keeps a client's view
// consistent has a monotonic map.
func (m *Map) Monotonic() bool {
	for i := 1; i < len(m.bySrc); i++ {
		if m.bySrc[i].Dst < m.bySrc[i-1].Dst {
			return false
		}
	}
	return true
}

func cmpSrc(p Pair, u UID) int { return cmpUID(p.Src, u) }
func cmpDst(p Pair, u UID) int { return cmpUID(p.Dst, u) }

func cmpUID(a, b UID) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
