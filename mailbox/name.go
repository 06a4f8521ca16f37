package mailbox

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Inbox is the name of the mailbox every store has. It is matched without
// regard to case, in the name and as the first segment of a hierarchy.
const Inbox = "INBOX"

// Delimiter separates the levels of mailbox names in this package's API,
// whatever the store uses on disk or on the wire.
const Delimiter = '/'

// MaxNameLen is the longest mailbox name accepted, in bytes.
const MaxNameLen = 1024

// ValidateName checks a mailbox name as the API speaks it: valid UTF-8,
// levels separated by '/', no empty level (so no leading, trailing or double
// '/'), no level "." or "..", no control character (NUL included), at most
// [MaxNameLen] bytes. The error wraps [ErrInvalidName] and quotes the name.
func ValidateName(name string) error {
	if msg := nameProblem(name); msg != "" {
		return fmt.Errorf("%w %s: %s", ErrInvalidName, strconvQuote(name), msg)
	}
	return nil
}

func nameProblem(name string) string {
	switch {
	case name == "":
		return "empty name"
	case len(name) > MaxNameLen:
		return fmt.Sprintf("longer than %d bytes", MaxNameLen)
	case !utf8.ValidString(name):
		return "not valid UTF-8"
	case name[0] == Delimiter:
		return "starts with '/'"
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return fmt.Sprintf("control character %U", r)
		}
	}
	for level := range strings.SplitSeq(name, string(Delimiter)) {
		switch level {
		case "":
			return "empty level"
		case ".", "..":
			return fmt.Sprintf("level %q", level)
		}
	}
	return ""
}

// CanonicalName validates name and returns it with an INBOX first level
// written "INBOX" whatever its case: "inbox/Work" becomes "INBOX/Work".
func CanonicalName(name string) (string, error) {
	if err := ValidateName(name); err != nil {
		return "", err
	}
	first, rest, hasRest := strings.Cut(name, string(Delimiter))
	if strings.EqualFold(first, Inbox) && first != Inbox {
		if hasRest {
			return Inbox + string(Delimiter) + rest, nil
		}
		return Inbox, nil
	}
	return name, nil
}

// IsInbox reports whether name names INBOX, in any case.
func IsInbox(name string) bool { return strings.EqualFold(name, Inbox) }

// Parent returns the name one level up, or "" for a top-level name.
func Parent(name string) string {
	i := strings.LastIndexByte(name, Delimiter)
	if i < 0 {
		return ""
	}
	return name[:i]
}

// IsDescendant reports whether name lies below ancestor in the hierarchy
// ("a/b/c" lies below "a" and "a/b", not below "a/b/c" or "a/bc").
func IsDescendant(name, ancestor string) bool {
	return len(name) > len(ancestor)+1 && strings.HasPrefix(name, ancestor) && name[len(ancestor)] == Delimiter
}

func strconvQuote(s string) string { return strconv.Quote(s) }
