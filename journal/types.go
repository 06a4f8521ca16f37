package journal

import (
	"fmt"
	"strconv"
	"time"

	"github.com/mailrepl/mailrepl/mailbox"
	"github.com/mailrepl/mailrepl/uid"
)

// Seq numbers the events of a journal's change log: the first event is 1,
// each appended event gets the next number, and no number is ever given
// twice, across restarts and truncations included. Zero means "before the
// first event".
type Seq uint64

func (s Seq) String() string { return strconv.FormatUint(uint64(s), 10) }

// EventKind says what an [Event] records.
type EventKind uint8

// The kinds of events. The zero EventKind is not valid.
const (
	KindAppend      EventKind = iota + 1 // messages were added (UIDs, EmailIDs, Flags)
	KindFlags                            // flags changed: FlagOp with Flags on UIDs
	KindExpunge                          // messages were expunged (UIDs, EmailIDs where known)
	KindCreate                           // the mailbox was created (UIDValidity)
	KindRename                           // the mailbox was renamed from OldName to Mailbox
	KindDelete                           // the mailbox was deleted
	KindSubscribe                        // the mailbox was subscribed
	KindUnsubscribe                      // the mailbox was unsubscribed
	KindUIDValidity                      // the mailbox got a new UIDVALIDITY; older UIDs mean nothing
	maxKind         = KindUIDValidity
)

var kindNames = [...]string{
	KindAppend:      "append",
	KindFlags:       "flags",
	KindExpunge:     "expunge",
	KindCreate:      "create",
	KindRename:      "rename",
	KindDelete:      "delete",
	KindSubscribe:   "subscribe",
	KindUnsubscribe: "unsubscribe",
	KindUIDValidity: "uidvalidity",
}

func (k EventKind) String() string {
	if k >= 1 && k <= maxKind {
		return kindNames[k]
	}
	return fmt.Sprintf("EventKind(%d)", uint8(k))
}

// Event is one change to a user's mail, as an embedding mail server or the
// replication engine records it. Which fields matter depends on Kind; the
// others stay zero.
type Event struct {
	// Seq is the event's number. The journal sets it; Append ignores it.
	Seq  Seq
	Kind EventKind

	// User is the account the mailbox belongs to ("" for a single-user
	// store).
	User string
	// MailboxID is the mailbox's stable ID, when the store has one; Mailbox
	// is its name (after a rename, the new name). At least one is set.
	MailboxID mailbox.ID
	Mailbox   string
	// OldName is the name before a KindRename.
	OldName string

	// UIDValidity is the mailbox's UIDVALIDITY, in which UIDs have their
	// meaning (zero: not given).
	UIDValidity uid.Validity
	// UIDs are the messages concerned (KindAppend, KindFlags, KindExpunge).
	UIDs uid.Set
	// EmailIDs are the EmailIDs of UIDs in ascending UID order, where
	// known; it may be shorter than UIDs or empty.
	EmailIDs []mailbox.EmailID
	// Flags are the flags of appended messages (KindAppend), or the flags
	// FlagOp applied (KindFlags).
	Flags  mailbox.Flags
	FlagOp mailbox.FlagOp
	// ModSeq is the mailbox's HIGHESTMODSEQ after the change (zero: not
	// kept).
	ModSeq mailbox.ModSeq
	// Time is when the change was made. Append sets it from Options.Now
	// when it is zero.
	Time time.Time
	// Origin names who made the change: "" for a user or a mail client,
	// a replica's name for changes its replication applied, so that a
	// two-way replicator can skip its own changes.
	//
	// A KindExpunge event with no Origin and a MailboxID is a user's
	// expunge: it leaves a [Tombstone] for each EmailID it names, in the
	// same commit, so that a restore never brings those messages back
	// (but none for a message with a [Lost] record in the mailbox:
	// recovery expunged it).
	Origin string
}

// UserMailbox is one answer of [Journal.Dirty]: a mailbox that changed, and
// the last event that changed it.
type UserMailbox struct {
	User      string
	MailboxID mailbox.ID // "" when the events gave no ID; then Mailbox is the key
	Mailbox   string     // the name the last event gave
	Seq       Seq        // the last event that changed the mailbox
	Deleted   bool       // that event was a KindDelete
}

// Side is what the last sync knew of one side's mailbox.
type Side struct {
	MailboxID     mailbox.ID
	Mailbox       string
	UIDValidity   uid.Validity
	UIDNext       uid.UID
	HighestModSeq mailbox.ModSeq
}

// Header is the state of a pair's mailbox as of the last sync: both sides'
// UIDVALIDITY, UIDNEXT and HIGHESTMODSEQ. Its key is Src.MailboxID.
type Header struct {
	Src, Dst Side
	// Updated is when the header was written (set from Options.Now at
	// commit when zero).
	Updated time.Time
	// Subscribed is the subscription both sides last agreed on.
	Subscribed bool
	// Marks are bits the engine defines (whether the entries are complete,
	// pair equal UIDs, a realign is under way…); the journal keeps them as
	// given.
	Marks uint32
}

// Entry is one message the two sides of a pair agreed on at the last
// sync: its UID on each side, its EmailID (zero when not known) and its
// flags.
type Entry struct {
	SrcUID  uid.UID
	DstUID  uid.UID
	EmailID mailbox.EmailID
	Flags   mailbox.Flags
}

// Intent records a copy about to be made, so that a run that crashed
// between the write and the state commit can tell, on the next run,
// whether the copy is there. Its key is (MailboxID, EmailID, Reverse,
// SrcUID).
type Intent struct {
	// MailboxID is the pair's source mailbox ID (the key of its state).
	MailboxID mailbox.ID
	EmailID   mailbox.EmailID
	// SrcUID is the UID of the message being copied, on the side it is
	// copied from (zero when not known).
	SrcUID uid.UID
	// DstUID is the UID chosen on the side written to, when the writer
	// chooses it (a UIDSetter); zero when the store assigns it.
	DstUID uid.UID
	// Reverse is set when the copy goes from the target to the source
	// (two-way sync).
	Reverse bool
	// Move marks a renumbering rather than a copy: the message is copied
	// from SrcUID on its side (the source unless Reverse) to DstUID on both
	// sides, then expunged at SrcUID, and AlsoUID, when not zero, is the
	// other side's own copy, expunged too.
	Move    bool
	AlsoUID uid.UID
	// Time is when the intent was recorded (set from Options.Now when
	// zero).
	Time time.Time
}

// Tombstone records that a user (not a failure) expunged a message: restore
// consults it so that it never brings back mail a user deleted.
type Tombstone struct {
	User      string
	MailboxID mailbox.ID
	Mailbox   string // the mailbox's name at the time
	EmailID   mailbox.EmailID
	UID       uid.UID   // zero when not known
	Time      time.Time // when it was expunged (set from Options.Now when zero)
}

// Lost records a message that recovery expunged because its body was
// missing, unreadable or did not match its EmailID, so that a restore can
// bring it back.
type Lost struct {
	User         string
	MailboxID    mailbox.ID
	Mailbox      string          // the mailbox's name at the time
	UID          uid.UID         // the expunged UID
	EmailID      mailbox.EmailID // zero when not known
	Flags        mailbox.Flags
	InternalDate time.Time
	Size         int64     // bytes, when known (else zero)
	Reason       string    // why it was lost, for people
	Time         time.Time // when recovery expunged it (set from Options.Now when zero)
	// Unsure: nothing proves a failure rather than a user's expunge (a
	// Dovecot uidlist line whose file is gone, with no tombstone): a
	// restore follows its policy for it.
	Unsure bool
}

// CachedEmailID is one entry of the EmailID cache: the EmailID of message
// UID of a store's mailbox under a UIDVALIDITY.
type CachedEmailID struct {
	Store       string // names the store, as the caller likes: a path, an account
	MailboxID   mailbox.ID
	UIDValidity uid.Validity
	UID         uid.UID
	EmailID     mailbox.EmailID
}

// Record is a key/value record that a program built on the journal keeps
// beside the engine's state (a batch tool keeps its progress in them, so
// that it commits with the same durability). Records live in namespaces;
// the journal does not interpret their values.
type Record struct {
	Namespace string
	Key       string
	Value     []byte
}
