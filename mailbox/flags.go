package mailbox

import (
	"fmt"
	"iter"
	"slices"
	"strings"
)

// Flag is one message flag. There are three kinds, told apart by their first
// character:
//
//   - system flags, "\Seen", "\Answered", "\Flagged", "\Deleted", "\Draft"
//     (RFC 9051 §2.3.2; "\Recent" is session state and cannot be stored);
//   - keywords, IMAP atoms such as "$Forwarded" or "Work", compared without
//     regard to case and kept in the case first seen;
//   - private flags, "%" followed by an atom: a store's own flags that have
//     no IMAP name, such as Maildir's P ("passed"), spelled [Passed]. IMAP
//     clients never see them; a store that can keep them does, so a copy
//     between two such stores loses nothing. "%" cannot start an IMAP atom,
//     so a private flag never collides with a keyword.
type Flag string

// The system flags, and the private flags this package names.
const (
	Seen     Flag = `\Seen`
	Answered Flag = `\Answered`
	Flagged  Flag = `\Flagged`
	Deleted  Flag = `\Deleted`
	Draft    Flag = `\Draft`

	// Passed is Maildir's "P" flag: the message was resent, forwarded or
	// bounced. Dovecot shows it to no IMAP client.
	Passed Flag = `%Passed`
)

var systemFlags = []Flag{Answered, Deleted, Draft, Flagged, Seen}

// IsSystem reports whether f is one of the five system flags.
func (f Flag) IsSystem() bool { return strings.HasPrefix(string(f), `\`) }

// IsPrivate reports whether f is a private flag ("%name").
func (f Flag) IsPrivate() bool { return strings.HasPrefix(string(f), "%") }

// IsKeyword reports whether f is a keyword.
func (f Flag) IsKeyword() bool { return f != "" && !f.IsSystem() && !f.IsPrivate() }

// key is the form flags are compared and ordered by.
func (f Flag) key() string { return strings.ToLower(string(f)) }

// ParseFlag checks a flag and returns it in canonical form: system flags in
// their RFC spelling ("\seen" becomes "\Seen"), keywords and private flags
// as given. The error wraps [ErrInvalidFlag] and quotes the input.
func ParseFlag(s string) (Flag, error) {
	switch {
	case s == "":
		return "", fmt.Errorf("%w %q: empty", ErrInvalidFlag, s)
	case s[0] == '\\':
		// Equal lengths keep the comparison to ASCII: Unicode folding
		// would take "\ſeen" (U+017F) for "\Seen".
		for _, f := range systemFlags {
			if len(s) == len(f) && strings.EqualFold(s, string(f)) {
				return f, nil
			}
		}
		if len(s) == len(`\Recent`) && strings.EqualFold(s, `\Recent`) {
			return "", fmt.Errorf("%w %q: \\Recent is session state and cannot be stored", ErrInvalidFlag, s)
		}
		return "", fmt.Errorf("%w %q: not a system flag", ErrInvalidFlag, s)
	case s[0] == '%':
		if len(s) == 1 || !isAtom(s[1:]) {
			return "", fmt.Errorf("%w %q: a private flag is %% and an atom", ErrInvalidFlag, s)
		}
		return Flag(s), nil
	case !isAtom(s):
		return "", fmt.Errorf("%w %q: a keyword must be an IMAP atom", ErrInvalidFlag, s)
	}
	return Flag(s), nil
}

// isAtom reports whether s is a non-empty IMAP atom (RFC 9051 §9: ATOM-CHAR
// is any 7-bit CHAR except atom-specials).
func isAtom(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f {
			return false
		}
		switch c {
		case '(', ')', '{', '%', '*', '"', '\\', ']':
			return false
		}
	}
	return true
}

// Flags is a set of flags in canonical order (by lower-case spelling; a
// keyword's case is kept as first seen). The zero value is the empty set.
// Flags are values: methods return new sets and never change the receiver.
type Flags struct {
	list []Flag // sorted by key, unique keys; nil when empty
}

// NewFlags validates each flag with [ParseFlag] and returns their set.
func NewFlags(flags ...Flag) (Flags, error) {
	list := make([]Flag, 0, len(flags))
	for _, f := range flags {
		c, err := ParseFlag(string(f))
		if err != nil {
			return Flags{}, err
		}
		list = append(list, c)
	}
	return makeFlags(list), nil
}

// MustFlags is [NewFlags] for constants; it panics on an invalid flag.
func MustFlags(flags ...Flag) Flags {
	f, err := NewFlags(flags...)
	if err != nil {
		panic(err)
	}
	return f
}

// ParseFlags parses a space-separated flag list, with or without IMAP's
// parentheses: `(\Seen $Forwarded)`, `\Seen $Forwarded` or "".
func ParseFlags(s string) (Flags, error) {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "(") && strings.HasSuffix(s, ")") {
		s = s[1 : len(s)-1]
	}
	fields := strings.Fields(s)
	list := make([]Flag, 0, len(fields))
	for _, w := range fields {
		list = append(list, Flag(w))
	}
	return NewFlags(list...)
}

// makeFlags sorts and dedups already validated flags, keeping the first
// spelling of each key.
func makeFlags(list []Flag) Flags {
	if len(list) == 0 {
		return Flags{}
	}
	slices.SortStableFunc(list, func(a, b Flag) int { return strings.Compare(a.key(), b.key()) })
	list = slices.CompactFunc(list, func(a, b Flag) bool { return a.key() == b.key() })
	return Flags{list: slices.Clip(list)}
}

// Len is the number of flags.
func (f Flags) Len() int { return len(f.list) }

// IsEmpty reports whether f holds no flag.
func (f Flags) IsEmpty() bool { return len(f.list) == 0 }

// Has reports whether f holds flag (compared without regard to case).
func (f Flags) Has(flag Flag) bool {
	_, ok := f.find(flag)
	return ok
}

func (f Flags) find(flag Flag) (int, bool) {
	return slices.BinarySearchFunc(f.list, flag.key(), func(e Flag, k string) int { return strings.Compare(e.key(), k) })
}

// All yields the flags in canonical order.
func (f Flags) All() iter.Seq[Flag] { return slices.Values(f.list) }

// List returns the flags in canonical order, in a new slice.
func (f Flags) List() []Flag { return slices.Clone(f.list) }

// Union returns the flags in f or g; for a flag in both, f's spelling.
func (f Flags) Union(g Flags) Flags {
	if g.IsEmpty() {
		return f
	}
	if f.IsEmpty() {
		return g
	}
	list := make([]Flag, 0, len(f.list)+len(g.list))
	return makeFlags(append(append(list, f.list...), g.list...))
}

// Minus returns the flags in f and not in g.
func (f Flags) Minus(g Flags) Flags {
	if g.IsEmpty() || f.IsEmpty() {
		return f
	}
	var list []Flag
	for _, x := range f.list {
		if !g.Has(x) {
			list = append(list, x)
		}
	}
	return Flags{list: list}
}

// Intersect returns the flags in both f and g, in f's spelling.
func (f Flags) Intersect(g Flags) Flags {
	var list []Flag
	for _, x := range f.list {
		if g.Has(x) {
			list = append(list, x)
		}
	}
	return Flags{list: list}
}

// With returns f with the given flags added; they must be valid.
func (f Flags) With(flags ...Flag) Flags { return f.Union(MustFlags(flags...)) }

// Without returns f without the given flags.
func (f Flags) Without(flags ...Flag) Flags {
	list := make([]Flag, len(flags))
	copy(list, flags)
	return f.Minus(makeFlags(list))
}

// Equal reports whether f and g hold the same flags (keywords compared
// without regard to case).
func (f Flags) Equal(g Flags) bool {
	return slices.EqualFunc(f.list, g.list, func(a, b Flag) bool { return a.key() == b.key() })
}

// Filter returns the flags for which keep reports true.
func (f Flags) Filter(keep func(Flag) bool) Flags {
	var list []Flag
	for _, x := range f.list {
		if keep(x) {
			list = append(list, x)
		}
	}
	return Flags{list: list}
}

// String formats f as a space-separated list in canonical order, without
// parentheses; [ParseFlags] reads it back.
func (f Flags) String() string {
	var b strings.Builder
	for i, x := range f.list {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(string(x))
	}
	return b.String()
}

// MarshalText implements encoding.TextMarshaler with [Flags.String].
func (f Flags) MarshalText() ([]byte, error) { return []byte(f.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler with [ParseFlags].
func (f *Flags) UnmarshalText(b []byte) error {
	g, err := ParseFlags(string(b))
	if err != nil {
		return err
	}
	*f = g
	return nil
}

// FlagOp says how [Writer.StoreFlags] applies its flags.
type FlagOp int

const (
	FlagsAdd     FlagOp = iota // add the flags (IMAP "+FLAGS")
	FlagsRemove                // remove the flags ("-FLAGS")
	FlagsReplace               // replace all flags with these ("FLAGS")
)

func (op FlagOp) String() string {
	switch op {
	case FlagsAdd:
		return "+FLAGS"
	case FlagsRemove:
		return "-FLAGS"
	case FlagsReplace:
		return "FLAGS"
	}
	return fmt.Sprintf("FlagOp(%d)", int(op))
}

// Apply returns f changed by op with g.
func (op FlagOp) Apply(f, g Flags) Flags {
	switch op {
	case FlagsAdd:
		return f.Union(g)
	case FlagsRemove:
		return f.Minus(g)
	default:
		return g
	}
}
