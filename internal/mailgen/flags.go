package mailgen

import (
	"sync"

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

// flagSets holds the set of every mask, built once: a message's Flags are
// shared, which is safe because Flags values never change.
var flagSets = sync.OnceValue(func() *[1 << nFlagBits]mailbox.Flags {
	var sets [1 << nFlagBits]mailbox.Flags
	list := make([]mailbox.Flag, 0, nFlagBits)
	for m := range sets {
		list = list[:0]
		for b, f := range flagNames {
			if m&(1<<b) != 0 {
				list = append(list, f)
			}
		}
		sets[m] = mailbox.MustFlags(list...)
	}
	return &sets
})

// flagsOf returns the flags of mask m.
func flagsOf(m int) mailbox.Flags { return flagSets()[m] }

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
