// Package readonly holds what the read-only stores (mailbox/mbox,
// mailbox/loose) share: naming the store in errors, knowing it is closed,
// finding a mailbox by name, and listing an index of messages numbered
// from 1 by UID.
package readonly

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/mailrepl/mailrepl/mailbox"
	"github.com/mailrepl/mailrepl/uid"
)

// Base names a store in its errors and knows whether it is closed. Its
// zero value is an open store with no name; set Name before use.
type Base struct {
	Name   string
	closed atomic.Bool

	mu      sync.Mutex
	claimed map[mailbox.ID]string // numberings the store's mailboxes hold, to their names
}

// Claim records that mailbox name holds the numbering id.
func (b *Base) Claim(name string, id mailbox.ID) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.claimed == nil {
		b.claimed = map[mailbox.ID]string{}
	}
	for old, n := range b.claimed {
		if n == name {
			delete(b.claimed, old)
		}
	}
	b.claimed[id] = name
}

// Taken returns the numberings the store's mailboxes other than name hold.
func (b *Base) Taken(name string) []mailbox.ID {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []mailbox.ID
	for id, n := range b.claimed {
		if n != name {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return out
}

// Number numbers the n entries of mailbox name of a store of scheme:
// through keeper when there is one (keys name the entries, others are the
// store's other mailboxes), else derived (see Derived; v and id are
// computed only then).
func (b *Base) Number(ctx context.Context, keeper mailbox.UIDKeeper, scheme, name string, n int, keys func() []string, others []string,
	derive func() (uid.Validity, mailbox.ID)) (*Numbered, error) {
	if keeper == nil {
		v, id := derive()
		return Derived(n, v, id), nil
	}
	var os []string
	for _, o := range others {
		if o != name {
			os = append(os, o)
		}
	}
	x, err := Keep(ctx, keeper, mailbox.NumberRequest{Scheme: scheme, Name: name, Keys: keys(), Taken: b.Taken(name), Others: os})
	if err != nil {
		return nil, err
	}
	b.Claim(name, x.ID)
	return x, nil
}

// Close marks the store closed: later calls fail with an error wrapping
// mailbox.ErrClosed, and so does a second Close.
func (b *Base) Close() error {
	if b.closed.Swap(true) {
		return b.Err("close", "", 0, "", mailbox.ErrClosed)
	}
	return nil
}

// Err returns err as a *mailbox.Error naming the operation, the store,
// the mailbox, the UID and the path (err itself when it names this store
// already). A missing file also wraps mailbox.ErrNotFound.
func (b *Base) Err(op, mbox string, u uid.UID, path string, err error) error {
	var me *mailbox.Error
	if errors.As(err, &me) && me.Store == b.Name {
		return err
	}
	if errors.Is(err, fs.ErrNotExist) && !errors.Is(err, mailbox.ErrNotFound) {
		err = fmt.Errorf("%w: %w", mailbox.ErrNotFound, err)
	}
	return &mailbox.Error{Op: op, Store: b.Name, Mailbox: mbox, UID: u, Path: path, Err: err}
}

// CheckOpen returns an error wrapping mailbox.ErrClosed once the store is
// closed.
func (b *Base) CheckOpen(op, mbox string) error {
	if b.closed.Load() {
		return b.Err(op, mbox, 0, "", mailbox.ErrClosed)
	}
	return nil
}

// Lookup returns the mailbox the caller names from folders, keyed by
// canonical name; its errors name the mailbox as given.
func Lookup[F any](b *Base, folders map[string]*F, op, name string) (*F, error) {
	if err := b.CheckOpen(op, name); err != nil {
		return nil, err
	}
	canon, err := mailbox.CanonicalName(name)
	if err != nil {
		return nil, b.Err(op, name, 0, "", err)
	}
	f := folders[canon]
	if f == nil {
		return nil, b.Err(op, name, 0, "", mailbox.ErrNotFound)
	}
	return f, nil
}

// List yields message(u) for the UIDs of set among 1..n, in order,
// checking ctx and Close before each; an error ends it.
func List(ctx context.Context, b *Base, op, name string, set uid.Set, n int,
	message func(uid.UID) mailbox.Message, yield func(mailbox.Message, error) bool) {
	last := uid.UID(n)
	for r := range set.Ranges() {
		if r.Start > last {
			return
		}
		// max: a Set literal that is not canonical may hold 0.
		for u := max(r.Start, 1); u <= min(r.Stop, last); u++ {
			if err := ctx.Err(); err != nil {
				yield(mailbox.Message{}, b.Err(op, name, 0, "", err))
				return
			}
			if err := b.CheckOpen(op, name); err != nil {
				yield(mailbox.Message{}, err)
				return
			}
			if !yield(message(u), nil) {
				return
			}
		}
	}
}

// Identity derives a mailbox's UIDVALIDITY and ID from a digest of its
// index (what the store lists in it): the first 4 bytes of the digest
// (never 0), and the scheme ("mbox", "loose") followed by a hash of the
// scheme, the mailbox's name and the digest. The same files give the same
// values, changed files new ones. The derivation is part of what a
// replica remembers: it must never change.
func Identity(scheme, name string, digest []byte) (uid.Validity, mailbox.ID) {
	v := uid.Validity(binary.BigEndian.Uint32(digest))
	if v == 0 {
		v = 1
	}
	h := sha256.New()
	h.Write([]byte("mailrepl " + scheme + " mailbox v1\n"))
	h.Write([]byte(name))
	h.Write([]byte{0})
	h.Write(digest)
	return v, mailbox.ID(scheme + "-" + hex.EncodeToString(h.Sum(nil)[:16]))
}

// Numbered is the numbering of an index of n entries: the UID of each
// entry and the entries in UID order. Without a keeper entry i has UID
// i+1; with one, the keeper's UIDs.
type Numbered struct {
	Validity uid.Validity
	ID       mailbox.ID
	Next     uid.UID
	uids     []uid.UID // by entry; nil: entry i has UID i+1
	order    []int     // entries by ascending UID; nil with uids
}

// Derived is the numbering of n entries without a keeper: UIDs 1 to n,
// UIDVALIDITY and ID from Identity.
func Derived(n int, v uid.Validity, id mailbox.ID) *Numbered {
	return &Numbered{Validity: v, ID: id, Next: uid.UID(n + 1)}
}

// Keep numbers entries named by keys (one each, unique, in the order new
// ones get UIDs) through keeper: see mailbox.UIDKeeper.
func Keep(ctx context.Context, keeper mailbox.UIDKeeper, req mailbox.NumberRequest) (*Numbered, error) {
	n, err := keeper.Number(ctx, req)
	if err != nil {
		return nil, err
	}
	if len(n.UIDs) != len(req.Keys) || n.ID == "" || n.UIDValidity == 0 {
		return nil, errors.New("the UID keeper answered a numbering that does not fit the request")
	}
	x := &Numbered{Validity: n.UIDValidity, ID: n.ID, Next: n.UIDNext, uids: n.UIDs, order: make([]int, len(n.UIDs))}
	for i := range x.order {
		x.order[i] = i
	}
	slices.SortFunc(x.order, func(a, b int) int { return cmp.Compare(n.UIDs[a], n.UIDs[b]) })
	for k := 1; k < len(x.order); k++ {
		if n.UIDs[x.order[k]] == n.UIDs[x.order[k-1]] {
			return nil, fmt.Errorf("the UID keeper gave UID %d twice", n.UIDs[x.order[k]])
		}
	}
	return x, nil
}

// Len is the number of entries.
func (x *Numbered) Len() int {
	if x.uids == nil {
		return int(x.Next) - 1
	}
	return len(x.uids)
}

// Entry returns the entry of UID u.
func (x *Numbered) Entry(u uid.UID) (int, bool) {
	if x.uids == nil {
		if u == 0 || int64(u) >= int64(x.Next) {
			return 0, false
		}
		return int(u) - 1, true
	}
	k, found := slices.BinarySearchFunc(x.order, u, func(i int, u uid.UID) int { return cmp.Compare(x.uids[i], u) })
	if !found {
		return 0, false
	}
	return x.order[k], true
}

// List yields message(i, u) for the entries whose UIDs are in set, in
// UID order, checking ctx and Close before each; an error ends it.
func (x *Numbered) List(ctx context.Context, b *Base, op, name string, set uid.Set,
	message func(entry int, u uid.UID) mailbox.Message, yield func(mailbox.Message, error) bool) {
	if x.uids == nil {
		List(ctx, b, op, name, set, x.Len(), func(u uid.UID) mailbox.Message { return message(int(u)-1, u) }, yield)
		return
	}
	for _, i := range x.order {
		u := x.uids[i]
		if !set.Contains(u) {
			continue
		}
		if err := ctx.Err(); err != nil {
			yield(mailbox.Message{}, b.Err(op, name, 0, "", err))
			return
		}
		if err := b.CheckOpen(op, name); err != nil {
			yield(mailbox.Message{}, err)
			return
		}
		if !yield(message(i, u), nil) {
			return
		}
	}
}
