package mailbox

import (
	"errors"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/mailrepl/mailrepl/uid"
)

// Sentinel errors. Stores return them wrapped in an [*Error] that names the
// operation, store, mailbox, UID and path; test for them with [errors.Is].
var (
	// ErrNotFound: the mailbox or the message does not exist (a message
	// may have been expunged between a listing and a read).
	ErrNotFound = errors.New("mailbox: not found")
	// ErrExists: a mailbox of that name exists already.
	ErrExists = errors.New("mailbox: already exists")
	// ErrInvalidName: the mailbox name is not acceptable (see [ValidateName])
	// or cannot be represented by the store.
	ErrInvalidName = errors.New("mailbox: invalid mailbox name")
	// ErrInvalidFlag: a flag is not a system flag, keyword or private flag
	// (see [ParseFlag]), or the store cannot keep it.
	ErrInvalidFlag = errors.New("mailbox: invalid flag")
	// ErrInvalidMessage: a message to append is empty, or its reader gave
	// more or fewer bytes than its declared size.
	ErrInvalidMessage = errors.New("mailbox: invalid message")
	// ErrHasChildren: a mailbox with children cannot be deleted.
	ErrHasChildren = errors.New("mailbox: mailbox has children")
	// ErrNotAllowed: the operation is not allowed on this mailbox, such as
	// deleting or renaming INBOX, or renaming a mailbox into itself.
	ErrNotAllowed = errors.New("mailbox: operation not allowed")
	// ErrUIDValidityChanged: the mailbox's UIDVALIDITY is not the one the
	// caller named, so UIDs the caller holds mean nothing here any more.
	ErrUIDValidityChanged = errors.New("mailbox: UIDVALIDITY changed")
	// ErrUIDOrder: a UID-setting append or UIDNEXT change would reuse a UID
	// or move UIDNEXT backwards.
	ErrUIDOrder = errors.New("mailbox: UID not above UIDNEXT")
	// ErrChangesUnavailable: the store no longer knows what changed since
	// the modseq asked for; list the whole mailbox instead.
	ErrChangesUnavailable = errors.New("mailbox: changes since that modseq unavailable")
	// ErrCorrupt: stored data (an index, a state file, a message body that
	// no longer matches its EmailID) is damaged. Nothing was changed.
	ErrCorrupt = errors.New("mailbox: corrupt data")
	// ErrReadOnly: the store was opened read-only.
	ErrReadOnly = errors.New("mailbox: store is read-only")
	// ErrNotSupported: the store does not offer that operation.
	ErrNotSupported = errors.New("mailbox: not supported")
	// ErrClosed: the store, or the batch, has been closed.
	ErrClosed = errors.New("mailbox: closed")
	// ErrTransient marks errors worth retrying later (a server that asked
	// to back off, a lock held too long). It is a class, combined with the
	// cause: fmt.Errorf("%w: %w", ErrTransient, err).
	ErrTransient = errors.New("mailbox: temporary failure")
)

// Error is the error that store operations return: it names what failed and
// where, and wraps the cause, usually one of the sentinel errors.
type Error struct {
	Op      string  // the operation: "append", "list", "open", "rename", …
	Store   string  // the store: a path, an account, "memstore"
	Mailbox string  // the mailbox name, if any
	UID     uid.UID // the message, if any
	Path    string  // a file the error concerns, if any
	Err     error   // the cause
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("mailbox: ")
	b.WriteString(e.Op)
	if e.Store != "" {
		b.WriteString(" ")
		b.WriteString(e.Store)
	}
	if e.Mailbox != "" {
		b.WriteString(" mailbox ")
		b.WriteString(quoteName(e.Mailbox))
	}
	if e.UID != 0 {
		b.WriteString(" uid ")
		b.WriteString(e.UID.String())
	}
	if e.Path != "" {
		b.WriteString(" (")
		b.WriteString(e.Path)
		b.WriteString(")")
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(strings.TrimPrefix(e.Err.Error(), "mailbox: "))
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// quoteName quotes a mailbox name only when it would read badly bare: when
// it holds a space, a quote, anything strconv.Quote would escape (controls,
// invisible or separator characters) or invalid UTF-8.
func quoteName(s string) string {
	if s == "" || !utf8.ValidString(s) {
		return strconv.Quote(s)
	}
	for _, r := range s {
		if r == ' ' || r == '"' || !strconv.IsPrint(r) {
			return strconv.Quote(s)
		}
	}
	return s
}
