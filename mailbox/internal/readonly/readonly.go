// Package readonly holds what the read-only stores (mailbox/mbox,
// mailbox/loose) share: naming the store in errors, knowing it is closed,
// finding a mailbox by name, and listing an index of messages numbered
// from 1 by UID.
package readonly

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"sync/atomic"

	"github.com/mailrepl/mailrepl/mailbox"
	"github.com/mailrepl/mailrepl/uid"
)

// Base names a store in its errors and knows whether it is closed. Its
// zero value is an open store with no name; set Name before use.
type Base struct {
	Name   string
	closed atomic.Bool
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
