package replica

import (
	"context"
	"fmt"
	"slices"

	"github.com/mailrepl/mailrepl/mailbox"
)

// PairFinder is an optional interface of a [State]: it finds a pair's
// state by the stores' identity rather than by the pair's name. A pair's
// name is the caller's (the tools put the target's location in it); when
// it changes (a tree moved to new storage, a template rewritten, a server
// renamed) while the stores are the same, the sync finds the old pair by
// the source mailbox IDs its headers name, checks that the target
// mailboxes they name are there too, and moves the state to the new name.
// [MemState] and [JournalState] implement it.
type PairFinder interface {
	// PairsOf returns the names of the pairs that have state for the
	// source mailbox with ID src.
	PairsOf(ctx context.Context, src mailbox.ID) ([]string, error)
	// RenamePair moves the whole state of pair from to pair to, which
	// has none.
	RenamePair(ctx context.Context, from, to string) error
}

// adopt finds the state of a pair by the mailbox IDs of both stores,
// when the pair has no state under its own name. It returns the pair
// whose state matches best (the most of its headers name a source and a
// target mailbox that both stores hold now) and its headers, or "".
func (s *Syncer) adopt(ctx context.Context, src, dst []mailbox.Info) (string, []Header, error) {
	f, ok := s.opt.State.(PairFinder)
	if !ok {
		return "", nil, nil
	}
	srcIDs, dstIDs := map[mailbox.ID]bool{}, map[mailbox.ID]bool{}
	for _, i := range src {
		srcIDs[i.ID] = true
	}
	for _, i := range dst {
		dstIDs[i.ID] = true
	}
	seen := map[string]bool{s.opt.Pair: true}
	var cands []string
	for _, i := range src {
		ps, err := f.PairsOf(ctx, i.ID)
		if err != nil {
			return "", nil, fmt.Errorf("replica: find the state of the stores: %w", err)
		}
		for _, p := range ps {
			if !seen[p] {
				seen[p] = true
				cands = append(cands, p)
			}
		}
	}
	slices.Sort(cands)
	var best string
	var bestHeaders []Header
	bestScore := 0
	for _, p := range cands {
		hs, err := s.opt.State.Headers(ctx, p)
		if err != nil {
			return "", nil, fmt.Errorf("replica: read state of pair %q: %w", p, err)
		}
		score := 0
		for _, h := range hs {
			if srcIDs[h.SrcID] && dstIDs[h.DstID] {
				score++
			}
		}
		if score > bestScore {
			best, bestHeaders, bestScore = p, hs, score
		}
	}
	return best, bestHeaders, nil
}

// PairsOf implements PairFinder.
func (s *MemState) PairsOf(ctx context.Context, src mailbox.ID) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for p, ms := range s.mu.pairs {
		if _, ok := ms[src]; ok {
			out = append(out, p)
		}
	}
	slices.Sort(out)
	return out, nil
}

// RenamePair implements PairFinder.
func (s *MemState) RenamePair(ctx context.Context, from, to string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.mu.pairs[to]) > 0 {
		return fmt.Errorf("replica: state: pair %q has state already", to)
	}
	if ms, ok := s.mu.pairs[from]; ok {
		s.mu.pairs[to] = ms
		delete(s.mu.pairs, from)
	}
	return nil
}

// PairsOf implements PairFinder.
func (s *JournalState) PairsOf(ctx context.Context, src mailbox.ID) ([]string, error) {
	var out []string
	for p, err := range s.j.PairsOf(ctx, src) {
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

// RenamePair implements PairFinder.
func (s *JournalState) RenamePair(ctx context.Context, from, to string) error {
	return s.j.RenamePair(ctx, from, to)
}

var (
	_ PairFinder = (*MemState)(nil)
	_ PairFinder = (*JournalState)(nil)
)
