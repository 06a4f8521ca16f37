// Package mailbox defines what mailrepl replicates between: a [Store] of
// mailboxes, each holding messages named by UID, with flags, an internal
// date and an [EmailID] that identifies a message across stores.
//
// The interfaces are split by what their users need. A [Reader] is all a
// replication source or a backup must offer; a [Writer] is what a target
// must also do. Optional capabilities are separate interfaces found by type
// assertion:
//
//   - [ChangeTracker]: "what changed since modseq N", expunges included
//     (like IMAP QRESYNC), so an incremental sync reads only the changes;
//   - [UIDSetter]: append with a chosen UID and set UIDVALIDITY, so a
//     replica keeps the source's UIDs and clients that fail over to it keep
//     their caches;
//   - [Batcher]: make many appends durable at once (one directory fsync per
//     batch instead of one per message);
//   - [IndexScanner]: list and drop index entries whose body is gone, for
//     recovery after storage loss.
//
// Every call that can block takes a context. Listings are sorted by UID and
// streamed as iterators; bodies are streamed as readers and read only on
// demand. Errors are [*Error] values wrapping the sentinel errors of this
// package, so callers test them with [errors.Is].
//
// Mailbox names in this API are UTF-8 with '/' between levels, and INBOX
// in any case is INBOX ([CanonicalName]); each store maps them to its own
// form. Backends live in subpackages: memstore and maildir are stores;
// mbox and loose are read-only Readers, for restores and migrations. All
// pass the conformance suite in mailboxtest (Run, or RunReader for
// read-only ones).
package mailbox

import (
	"context"
	"io"
	"iter"

	"github.com/mailrepl/mailrepl/uid"
)

// Reader is the read side of a store: all a replication source, or a
// backup to restore from, must offer. Its methods are safe for concurrent
// use.
type Reader interface {
	// Mailboxes returns every mailbox of the store, sorted by name.
	Mailboxes(ctx context.Context) ([]Info, error)

	// Status returns one mailbox's Info, or an error wrapping ErrNotFound.
	Status(ctx context.Context, name string) (Info, error)

	// Messages yields the metadata of the messages whose UIDs are in set,
	// in ascending UID order, without reading bodies. Pass [uid.All] for
	// every message; an empty set yields nothing. UIDs in set that do not
	// exist are skipped. An error ends the sequence: it is yielded once,
	// with a zero Message. Stopping early is allowed. A cancelled ctx ends
	// the sequence with ctx's error.
	Messages(ctx context.Context, name string, set uid.Set) iter.Seq2[Message, error]

	// Open returns the raw bytes of one message. The error wraps
	// ErrNotFound when the message no longer exists. The caller closes the
	// reader.
	Open(ctx context.Context, name string, u uid.UID) (io.ReadCloser, error)
}

// Writer is the write side of a store. Its methods are safe for concurrent
// use; a change is durable when the method returns (but see [Batcher]).
type Writer interface {
	// Create makes a new, empty mailbox with a fresh UIDVALIDITY and ID.
	// Parent levels are not created. ErrExists if the name is taken.
	Create(ctx context.Context, name string) (Info, error)

	// Rename gives a mailbox, and every mailbox below it, a new name; IDs,
	// UIDVALIDITY and UIDs are kept. INBOX cannot be renamed, nor can a
	// mailbox be renamed below itself (ErrNotAllowed).
	Rename(ctx context.Context, oldName, newName string) error

	// Delete removes a mailbox and its messages. INBOX cannot be deleted
	// (ErrNotAllowed), nor can a mailbox with children (ErrHasChildren).
	Delete(ctx context.Context, name string) error

	// Subscribe sets whether the mailbox is subscribed.
	Subscribe(ctx context.Context, name string, subscribed bool) error

	// Append adds a message and returns its UID, the mailbox's UIDNEXT
	// before the call or higher. The message is stored exactly as the
	// literal gives it.
	Append(ctx context.Context, name string, lit Literal, meta AppendMeta) (uid.UID, error)

	// StoreFlags changes the flags of the messages in set; UIDs that do not
	// exist are skipped.
	StoreFlags(ctx context.Context, name string, set uid.Set, op FlagOp, flags Flags) error

	// Expunge removes the messages in set; UIDs that do not exist are
	// skipped. Their UIDs are never used again under this UIDVALIDITY.
	Expunge(ctx context.Context, name string, set uid.Set) error
}

// Store is a user's set of mailboxes, readable and writable. Close releases
// it; afterwards every method returns an error wrapping ErrClosed.
type Store interface {
	Reader
	Writer
	io.Closer
}

// ChangeTracker is a store that keeps modseqs and remembers expunges, and so
// can answer what changed since a modseq (RFC 7162 CONDSTORE and QRESYNC's
// VANISHED).
type ChangeTracker interface {
	// Changes yields, in ascending UID order and each UID once, the
	// messages whose modseq is above since (new or changed), and the UIDs
	// expunged after since (Change.Expunged). validity must be the
	// mailbox's UIDVALIDITY, else the error wraps ErrUIDValidityChanged.
	// When the store no longer knows what changed since then, the error
	// wraps ErrChangesUnavailable: list the mailbox instead. Errors are
	// yielded as in [Reader.Messages].
	//
	// Read [Reader.Status] first and keep its HighestModSeq as the next
	// since: a change made while Changes runs is then seen again next time
	// rather than missed.
	Changes(ctx context.Context, name string, validity uid.Validity, since ModSeq) iter.Seq2[Change, error]
}

// UIDSetter is a store that lets a replica keep its source's UIDs.
type UIDSetter interface {
	// AppendUID appends a message with UID u, which must be at least the
	// mailbox's UIDNEXT (else ErrUIDOrder); UIDNEXT becomes u+1.
	AppendUID(ctx context.Context, name string, u uid.UID, lit Literal, meta AppendMeta) error

	// SetUIDNext raises the mailbox's UIDNEXT to next, so that UIDs the
	// source used and expunged are not used here either. Lowering it fails
	// with ErrUIDOrder; setting it to its value does nothing.
	SetUIDNext(ctx context.Context, name string, next uid.UID) error

	// ResetUIDs gives the mailbox UIDVALIDITY v and renumbers it: each
	// message whose UID is a source UID of m gets m's target UID, every
	// other message is expunged, and UIDNEXT becomes one above the highest
	// target UID (or 1). Bodies are not copied. It is all or nothing. v may
	// equal the current UIDVALIDITY: a replica realigned to its source takes
	// the source's UIDVALIDITY and UIDs even if it held them before; then
	// UIDNEXT does not go down (IMAP forbids it within one UIDVALIDITY): it
	// becomes the higher of its value and one above the highest target UID.
	// Changes since a modseq of the old numbering fail afterwards with
	// ErrChangesUnavailable.
	ResetUIDs(ctx context.Context, name string, v uid.Validity, m *uid.Map) error
}

// Batcher is a store that can make many appends durable at once.
type Batcher interface {
	// Batch starts a batch of appends to one mailbox.
	Batch(ctx context.Context, name string) (Batch, error)
}

// Batch is a group of appends to one mailbox made durable together. Until
// Commit returns, its appends may or may not be visible to readers and may
// or may not survive a crash; after, they are durable. A Batch is used by
// one goroutine.
type Batch interface {
	// Append is [Writer.Append] within the batch.
	Append(ctx context.Context, lit Literal, meta AppendMeta) (uid.UID, error)
	// AppendUID is [UIDSetter.AppendUID] within the batch; ErrNotSupported
	// when the store is not a UIDSetter.
	AppendUID(ctx context.Context, u uid.UID, lit Literal, meta AppendMeta) error
	// Commit makes every append of the batch durable and ends the batch.
	Commit(ctx context.Context) error
	// Close ends the batch; appends not committed are undone where the
	// store can. Close after Commit does nothing.
	Close() error
}

// StagedBatch is a Batch whose appends stay out of sight until Commit:
// no listing shows them, and a crash before Commit leaves none of them as
// a message. A caller can then learn what it appends (the EmailID it
// computes while the message streams in) and record it durably before
// Commit, rather than reading each message once more beforehand.
type StagedBatch interface {
	Batch
	// Staged reports whether the batch's appends are staged so.
	Staged() bool
}

// IndexScanner is a store whose UID index can keep entries whose body is
// gone: Maildir's dovecot-uidlist keeps a message's line after its file
// was removed, whether a user expunged it (Dovecot leaves the line until it
// compacts the file) or a disk failure lost it. Recovery uses it to find
// such entries; what they mean is for the journal to say.
type IndexScanner interface {
	// Bodiless yields, in UID order, the index entries of the mailbox that
	// have no body, with what the index still knows of them (UID; EmailID
	// and internal date when the index caches them). Messages never
	// yields them.
	Bodiless(ctx context.Context, name string) iter.Seq2[Message, error]

	// DropBodiless removes from the index the entries of set that still
	// have no body (an entry whose body came back is kept). Their UIDs are
	// never used again under this UIDVALIDITY.
	DropBodiless(ctx context.Context, name string, set uid.Set) error
}

// Stamper is a store that can tell, without listing its mailboxes,
// that it did not change: equal stamps taken at two times mean that in
// between no mailbox was created, renamed or deleted, no message was
// added or expunged or had its flags changed, and no subscription
// changed. A sync that finds both stores' stamps as they were when they
// last agreed has nothing to do.
type Stamper interface {
	// Stamp returns the store's stamp, or "" when the store cannot vouch
	// for one now: a change so recent that a later one might not change
	// the stamp (file times are coarser than the clock).
	Stamp(ctx context.Context) (string, error)
}

// OwnStamper is a [Stamper] that can stamp itself right after its
// caller's own writes. StampOwn is Stamp without the margin that a recent
// change costs: it vouches for times however recent, and so only for a
// caller that is the store's one writer (a mirror's target) and that
// forgets the stamp before it writes again. A change by another writer in
// the same tick of the file system's clock as the caller's last one would
// go unseen.
type OwnStamper interface {
	Stamper
	StampOwn(ctx context.Context) (string, error)
}

// Settler is a store whose listings may leave out messages for a while:
// a Maildir lists a delivered file only once its UID is published in
// dovecot-uidlist, and a listing does not wait for a lock that another
// process (Dovecot, or a batch that was killed) holds. Code that decides
// from a listing what a mailbox lacks, and would deliver it again (a
// restore), settles the mailbox first.
type Settler interface {
	// Settle waits until every message of the mailbox that is stored
	// when it is called is listed, publishing what needs publishing.
	Settle(ctx context.Context, name string) error
}
