package mailgen

import (
	"sync/atomic"

	"github.com/mailrepl/mailrepl/mailbox"
)

// The flags generated messages carry, as bits of a mask.
const (
	fSeen = 1 << iota
	fAnswered
	fFlagged
	fDeleted
	fDraft
	fPassed
	fForwarded
	fLabel1
	fLabel2
	fLabel3
	fJunk
	fNonJunk
	fMDNSent
	nFlagBits = iota
)

var flagNames = [nFlagBits]mailbox.Flag{
	mailbox.Seen, mailbox.Answered, mailbox.Flagged, mailbox.Deleted, mailbox.Draft, mailbox.Passed,
	"$Forwarded", "$Label1", "$Label2", "$Label3", "Junk", "NonJunk", "$MDNSent",
}

// flagSets holds the set of each mask, made the first time it is asked
// for: a message's Flags are shared, which is safe because Flags values
// never change.
var flagSets [1 << nFlagBits]atomic.Pointer[mailbox.Flags]

// flagsOf returns the flags of mask m.
func flagsOf(m int) mailbox.Flags {
	if f := flagSets[m].Load(); f != nil {
		return *f
	}
	var list []mailbox.Flag
	for b, f := range flagNames {
		if m&(1<<b) != 0 {
			list = append(list, f)
		}
	}
	f := mailbox.MustFlags(list...)
	flagSets[m].CompareAndSwap(nil, &f)
	return *flagSets[m].Load()
}

// pickFlags draws the flags of a message in a folder of kind k, following
// what real accounts hold: most mail read, some answered, flagged or
// forwarded, a few with the labels and junk marks mail clients set.
func pickFlags(r *rng, k Kind) int {
	var m int
	switch k {
	case Drafts:
		m = fDraft
		if r.chance(0.5) {
			m |= fSeen
		}
		return m
	case Sent:
		m = fSeen
		if r.chance(0.02) {
			m |= fFlagged
		}
		return m
	case Trash:
		if r.chance(0.9) {
			m |= fSeen
		}
		if r.chance(0.03) {
			m |= fDeleted
		}
		if r.chance(0.05) {
			m |= fJunk
		}
		return m
	}
	unseen := 0.12
	if k == List {
		unseen = 0.25
	}
	if !r.chance(unseen) {
		m |= fSeen
		if r.chance(0.09) {
			m |= fAnswered
		}
		if r.chance(0.015) {
			m |= fPassed
			if r.chance(0.6) {
				m |= fForwarded
			}
		}
	}
	if r.chance(0.05) {
		m |= fFlagged
	}
	if r.chance(0.03) {
		m |= fLabel1 << r.intn(3) // $Label1, $Label2 or $Label3
	}
	switch x := r.float(); {
	case x < 0.01:
		m |= fJunk
	case x < 0.09:
		m |= fNonJunk
	}
	if r.chance(0.01) {
		m |= fMDNSent
	}
	return m
}
