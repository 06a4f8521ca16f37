package mailbox

import (
	"bytes"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/mailrepl/mailrepl/uid"
)

// ModSeq is a per-mailbox change counter (RFC 7162 CONDSTORE): every change
// to a message gives it a modseq above every earlier one in its mailbox.
// Zero means the store keeps no modseqs.
type ModSeq uint64

func (m ModSeq) String() string { return strconv.FormatUint(uint64(m), 10) }

// ID is a mailbox's stable identity: it stays the same across renames and
// differs for a mailbox deleted and created again under the same name
// (Dovecot's mailbox GUID). It is opaque text, unique within a store.
type ID string

// Info describes one mailbox.
type Info struct {
	Name          string       // UTF-8, levels separated by '/'
	ID            ID           // stable across renames
	UIDValidity   uid.Validity // never zero
	UIDNext       uid.UID      // every UID in use is below it
	HighestModSeq ModSeq       // zero when the store keeps no modseqs
	Subscribed    bool
	// SpecialUse is the mailbox's role (RFC 6154), as the store tells
	// it: an IMAP server's LIST attribute, a guess from the name where
	// the store keeps none ([GuessSpecialUse]). Zero: none known.
	SpecialUse SpecialUse
}

// Message is the metadata of one message, as listings give it: never the
// body, which [Reader.Open] streams.
type Message struct {
	UID          uid.UID
	EmailID      EmailID   // zero when the store cannot tell it without reading the body
	Flags        Flags     // system flags, keywords and private flags
	InternalDate time.Time // when the message was received (IMAP INTERNALDATE)
	Size         int64     // bytes of the body as Open returns it
	ModSeq       ModSeq    // zero when the store keeps no modseqs
}

func (m Message) String() string {
	id := "?"
	if !m.EmailID.IsZero() {
		id = m.EmailID.Short()
	}
	return fmt.Sprintf("uid %d %s (%s) %d bytes", m.UID, id, m.Flags, m.Size)
}

// AppendMeta is what an append gives a message besides its bytes.
type AppendMeta struct {
	Flags        Flags
	InternalDate time.Time // zero: the store's clock
	// EmailID, when not zero, is the EmailID the caller expects of the
	// bytes; a store may use it to fill a cache. Stores that check it
	// fail the append with [ErrCorrupt] on a mismatch.
	EmailID EmailID
}

// Literal is a message to append: its bytes and how many there are. A store
// fails the append with [ErrInvalidMessage] when the reader gives a
// different number of bytes, and stores nothing when the reader fails.
type Literal interface {
	io.Reader
	Size() int64
}

type literal struct {
	io.Reader
	size int64
}

func (l literal) Size() int64 { return l.size }

// NewLiteral returns a Literal of size bytes read from r.
func NewLiteral(r io.Reader, size int64) Literal { return literal{r, size} }

// BytesLiteral returns a Literal over b.
func BytesLiteral(b []byte) Literal { return literal{bytes.NewReader(b), int64(len(b))} }

// Change is one entry of a [ChangeTracker]'s answer: a message that is new
// or whose flags changed, or, when Expunged is set, a UID that was
// expunged (then only UID and, where known, ModSeq are set).
type Change struct {
	Message
	Expunged bool
}
