package mailgen

import (
	"cmp"
	"container/heap"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"github.com/mailrepl/mailrepl/mailbox"
	"github.com/mailrepl/mailrepl/uid"
)

// MutateSpec says how much [Generator.Mutate] changes.
type MutateSpec struct {
	New         int // new messages to append
	FlagChanges int // existing messages whose flags to change
	Expunges    int // existing messages to expunge
}

func (s MutateSpec) validate() error {
	if s.New < 0 || s.FlagChanges < 0 || s.Expunges < 0 {
		return fmt.Errorf("mailgen: mutate: negative count in %+v", s)
	}
	return nil
}

// mutationStream is the stream of the new mail of Mutate with seed: never
// 0, the account's.
func mutationStream(seed uint64) uint64 { return mix(seed^0x6a09e667f3bcc909) | 1 }

// NewMail returns the k-th new message that Mutate with seed appends: a
// message of a stream of its own (its Index is k; a duplicate's Original
// counts in that stream too), dated after the account's mail, arrived
// unread (received mail has no \Seen, \Answered or forwarding flags).
func (g *Generator) NewMail(seed uint64, k int) Message {
	_, m := g.appendNewMail(nil, seed, k)
	return m
}

func (g *Generator) appendNewMail(dst []byte, seed uint64, k int) ([]byte, Message) {
	dst, m := g.appendMessage(dst, mutationStream(seed), k)
	m.Flags = unread(g, m)
	return dst, m
}

// unread returns m's flags as new mail has them.
func unread(g *Generator, m Message) mailbox.Flags {
	for _, f := range g.folders {
		if f.Name == m.Folder && (f.Kind == Sent || f.Kind == Drafts) {
			return m.Flags
		}
	}
	return m.Flags.Without(mailbox.Seen, mailbox.Answered, mailbox.Passed, "$Forwarded")
}

// A flag change toggles one of these flags, chosen with these weights
// (percent).
var toggles = []struct {
	flag   mailbox.Flag
	weight int
}{
	{mailbox.Seen, 40},
	{mailbox.Flagged, 25},
	{mailbox.Answered, 15},
	{mailbox.Passed, 10},
	{"$Label1", 10},
}

// Mutate changes an existing store as a few days of use would, through
// the store's API: it expunges spec.Expunges messages, toggles one flag
// (\Seen, \Flagged, \Answered, the private %Passed or $Label1) of
// spec.FlagChanges others, then appends spec.New new messages
// ([Generator.NewMail] with seed), creating their folders when missing.
//
// Which messages it changes depends on seed and on the store's content
// alone: each message gets a rank from seed, its mailbox name and its
// EmailID (its UID when the store cannot tell the EmailID), and the
// lowest ranks are changed. The same seed over equal stores makes the same
// changes, and over a copy whose UIDs differ (a replica) it picks the same
// messages. Only the chosen messages are held in memory. When the store
// holds fewer messages than asked for, all of them are changed.
//
// The Stats count the new messages, the flag changes and the expunges made,
// also when an error stops Mutate (new mail appended before the error is
// committed, as by [Generator.Populate]).
func (g *Generator) Mutate(ctx context.Context, store mailbox.Store, seed uint64, spec MutateSpec) (Stats, error) {
	var st Stats
	if err := spec.validate(); err != nil {
		return st, err
	}
	chosen, err := g.choose(ctx, store, seed, spec.FlagChanges+spec.Expunges)
	if err != nil {
		return st, err
	}
	nExp := min(spec.Expunges, len(chosen))
	expunge, change := chosen[:nExp], chosen[nExp:]

	// Expunges, one call per mailbox.
	byBox := map[string]uid.Set{}
	for _, c := range expunge {
		byBox[c.mbox] = byBox[c.mbox].Add(c.uid)
	}
	for _, name := range sortedKeys(byBox) {
		if err := store.Expunge(ctx, name, byBox[name]); err != nil {
			return st, fmt.Errorf("mailgen: mutate: expunge: %w", err)
		}
		st.Expunges += int(byBox[name].Len())
	}

	// Flag changes, one call per mailbox, flag and direction.
	type change1 struct {
		mbox string
		flag mailbox.Flag
		op   mailbox.FlagOp
	}
	sets := map[change1]uid.Set{}
	for _, c := range change {
		x := int(c.rank>>32) % 100
		t := toggles[len(toggles)-1]
		for _, tt := range toggles {
			if x < tt.weight {
				t = tt
				break
			}
			x -= tt.weight
		}
		op := mailbox.FlagsAdd
		if c.flags.Has(t.flag) {
			op = mailbox.FlagsRemove
		}
		k := change1{c.mbox, t.flag, op}
		sets[k] = sets[k].Add(c.uid)
	}
	keys := make([]change1, 0, len(sets))
	for k := range sets {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b change1) int {
		return cmp.Or(cmp.Compare(a.mbox, b.mbox), cmp.Compare(a.flag, b.flag), cmp.Compare(a.op, b.op))
	})
	for _, k := range keys {
		if err := store.StoreFlags(ctx, k.mbox, sets[k], k.op, mailbox.MustFlags(k.flag)); err != nil {
			return st, fmt.Errorf("mailgen: mutate: %v %s: %w", k.op, k.flag, err)
		}
		st.FlagChanges += int(sets[k].Len())
	}

	// New mail.
	if spec.New == 0 {
		return st, nil
	}
	if err := g.createFolders(ctx, store); err != nil {
		return st, fmt.Errorf("mailgen: mutate: %w", err)
	}
	newMail := func(yield func(Message) bool) {
		var buf []byte
		for k := range spec.New {
			var m Message
			buf, m = g.appendNewMail(buf[:0], seed, k)
			if !yield(m) {
				return
			}
		}
	}
	if err := appendAll(ctx, store, newMail, &st); err != nil {
		return st, fmt.Errorf("mailgen: mutate: new %w", err)
	}
	return st, nil
}

// candidate is a message Mutate may change.
type candidate struct {
	rank  uint64
	mbox  string
	uid   uid.UID
	flags mailbox.Flags
}

func compareCandidates(a, b candidate) int {
	return cmp.Or(cmp.Compare(a.rank, b.rank), cmp.Compare(a.mbox, b.mbox), cmp.Compare(a.uid, b.uid))
}

func (a candidate) less(b candidate) bool { return compareCandidates(a, b) < 0 }

// maxHeap keeps the n lowest candidates seen, the highest on top.
type maxHeap []candidate

func (h maxHeap) Len() int           { return len(h) }
func (h maxHeap) Less(i, j int) bool { return h[j].less(h[i]) }
func (h maxHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *maxHeap) Push(x any)        { *h = append(*h, x.(candidate)) }
func (h *maxHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// rank is a message's place in Mutate's order: a hash of seed, the mailbox
// name and the EmailID (or the UID), the same in every process (which
// hash/maphash is not).
func rank(seed uint64, mbox string, id mailbox.EmailID, u uid.UID) uint64 {
	h := mix(seed ^ 0x510e527fade682d1)
	for len(mbox) >= 8 {
		h = mix(h ^ binary.LittleEndian.Uint64([]byte(mbox[:8])))
		mbox = mbox[8:]
	}
	var tail [8]byte
	copy(tail[:], mbox)
	h = mix(h ^ binary.LittleEndian.Uint64(tail[:]) ^ uint64(len(mbox))<<56)
	if id.IsZero() {
		return mix(h ^ uint64(u))
	}
	for k := 0; k < len(id); k += 8 {
		h = mix(h ^ binary.LittleEndian.Uint64(id[k:]))
	}
	return h
}

// choose returns the n messages of store with the lowest ranks, lowest
// first.
func (g *Generator) choose(ctx context.Context, store mailbox.Store, seed uint64, n int) ([]candidate, error) {
	if n == 0 {
		return nil, nil
	}
	infos, err := store.Mailboxes(ctx)
	if err != nil {
		return nil, fmt.Errorf("mailgen: mutate: %w", err)
	}
	h := make(maxHeap, 0, n)
	for _, info := range infos {
		for m, err := range store.Messages(ctx, info.Name, uid.All) {
			if err != nil {
				if errors.Is(err, mailbox.ErrNotFound) {
					break // deleted meanwhile
				}
				return nil, fmt.Errorf("mailgen: mutate: %w", err)
			}
			c := candidate{rank: rank(seed, info.Name, m.EmailID, m.UID), mbox: info.Name, uid: m.UID, flags: m.Flags}
			switch {
			case len(h) < n:
				heap.Push(&h, c)
			case c.less(h[0]):
				h[0] = c
				heap.Fix(&h, 0)
			}
		}
	}
	slices.SortFunc(h, compareCandidates)
	return h, nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
