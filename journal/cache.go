package journal

import (
	"context"
	"fmt"
	"iter"

	"github.com/cockroachdb/pebble/v2"
	"github.com/mailrepl/mailrepl/mailbox"
	"github.com/mailrepl/mailrepl/uid"
)

// The EmailID cache keeps the EmailIDs of messages of stores that must read
// a whole body to compute one, keyed by (store, mailbox ID, UIDVALIDITY,
// UID): a message under a UID never changes while UIDVALIDITY stays. Its
// writes are not synced: an entry lost in a crash is computed again.

func cacheDesc(store string, mbox mailbox.ID, v uid.Validity, u uid.UID) string {
	return fmt.Sprintf("store %q mailbox %q uidvalidity %d uid %d", store, mbox, v, u)
}

func checkCache(c CachedEmailID) error {
	switch {
	case c.MailboxID == "":
		return invalid("empty mailbox ID")
	case c.UIDValidity == 0 || c.UID == 0:
		return invalid("zero UIDVALIDITY or UID")
	case c.EmailID.IsZero():
		return invalid("zero EmailID")
	}
	return nil
}

// EmailID returns the cached EmailID of a message; found is false when it
// is not cached.
func (j *Journal) EmailID(store string, mbox mailbox.ID, v uid.Validity, u uid.UID) (id mailbox.EmailID, found bool, err error) {
	what := cacheDesc(store, mbox, v, u)
	k := emailIDKey(store, mbox, v, u)
	val, found, err := j.get(k)
	if err != nil || !found {
		return mailbox.EmailID{}, false, j.err("EmailID", what, err)
	}
	c, err := decodeEmailID(k, val)
	if err != nil {
		return mailbox.EmailID{}, false, j.err("EmailID", what, err)
	}
	return c.EmailID, true, nil
}

// PutEmailIDs adds entries to the cache in one write, not synced.
func (j *Journal) PutEmailIDs(entries ...CachedEmailID) error {
	for _, c := range entries {
		if err := checkCache(c); err != nil {
			return &Error{Op: "put EmailID", Dir: j.dir, Key: cacheDesc(c.Store, c.MailboxID, c.UIDValidity, c.UID), Err: err}
		}
	}
	if err := j.enter(); err != nil {
		return &Error{Op: "put EmailID", Dir: j.dir, Err: err}
	}
	defer j.leave()
	b := j.db.NewBatch()
	defer b.Close()
	for _, c := range entries {
		if err := b.Set(emailIDKey(c.Store, c.MailboxID, c.UIDValidity, c.UID), encodeEmailID(c.EmailID), nil); err != nil {
			return j.err("put EmailID", "", err)
		}
	}
	return j.err("put EmailID", "", b.Commit(pebble.NoSync))
}

// EmailIDs yields the cached EmailIDs of a mailbox under UIDVALIDITY v, in
// ascending UID order, for a merge with a listing.
func (j *Journal) EmailIDs(ctx context.Context, store string, mbox mailbox.ID, v uid.Validity) iter.Seq2[CachedEmailID, error] {
	p := newKey(tEmailID).str(store).str(string(mbox)).u32(uint32(v))
	return scan(j, ctx, "EmailIDs", fmt.Sprintf("store %q mailbox %q uidvalidity %d", store, mbox, v), p, prefixEnd(p), decodeEmailID)
}

// DropEmailIDs removes the cached EmailIDs of a mailbox, under every
// UIDVALIDITY.
func (j *Journal) DropEmailIDs(store string, mbox mailbox.ID) error {
	what := fmt.Sprintf("store %q mailbox %q", store, mbox)
	if err := j.enter(); err != nil {
		return &Error{Op: "drop EmailIDs", Dir: j.dir, Key: what, Err: err}
	}
	defer j.leave()
	p := newKey(tEmailID).str(store).str(string(mbox))
	return j.err("drop EmailIDs", what, j.db.DeleteRange(p, prefixEnd(p), pebble.NoSync))
}
