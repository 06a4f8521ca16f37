package mailbox

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"
	"testing"
	"time"
)

func TestErrorText(t *testing.T) {
	tests := []struct {
		name string
		err  *Error
		want string
	}{
		{"op only", &Error{Op: "list"}, "mailbox: list"},
		{"everything", &Error{Op: "open", Store: "/srv/mail/ann", Mailbox: "INBOX/Work", UID: 42, Path: "cur/1.abc:2,S", Err: ErrNotFound},
			"mailbox: open /srv/mail/ann mailbox INBOX/Work uid 42 (cur/1.abc:2,S): not found"},
		{"store and mailbox", &Error{Op: "create", Store: "memstore", Mailbox: "Sent", Err: ErrExists},
			"mailbox: create memstore mailbox Sent: already exists"},
		{"name with a space is quoted", &Error{Op: "delete", Mailbox: "Sent Items", Err: ErrHasChildren},
			`mailbox: delete mailbox "Sent Items": mailbox has children`},
		{"name with a quote is quoted", &Error{Op: "rename", Mailbox: `a"b`, Err: ErrNotAllowed},
			`mailbox: rename mailbox "a\"b": operation not allowed`},
		{"name with a control character is quoted", &Error{Op: "create", Mailbox: "a\x00b", Err: ErrInvalidName},
			`mailbox: create mailbox "a\x00b": invalid mailbox name`},
		{"name with DEL is quoted", &Error{Op: "create", Mailbox: "a\x7f", Err: ErrInvalidName},
			`mailbox: create mailbox "a\x7f": invalid mailbox name`},
		{"UTF-8 name stays bare", &Error{Op: "status", Mailbox: "Été/Ünïcødé", Err: ErrNotFound},
			"mailbox: status mailbox Été/Ünïcødé: not found"},
		{"foreign cause keeps its text", &Error{Op: "append", Mailbox: "INBOX", Err: fs.ErrPermission},
			"mailbox: append mailbox INBOX: permission denied"},
		{"wrapped sentinel", &Error{Op: "append", Mailbox: "INBOX", UID: 7, Err: fmt.Errorf("%w: disk full", ErrTransient)},
			"mailbox: append mailbox INBOX uid 7: temporary failure: disk full"},
		{"no cause", &Error{Op: "close", Store: "memstore"}, "mailbox: close memstore"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.err.Error(); got != tc.want {
				t.Errorf("Error() =\n %q\nwant\n %q", got, tc.want)
			}
		})
	}
}

func TestErrorUnwrap(t *testing.T) {
	cause := fmt.Errorf("%w: %w", ErrTransient, io.ErrUnexpectedEOF)
	err := fmt.Errorf("replica: copy: %w", &Error{Op: "append", Mailbox: "INBOX", UID: 3, Err: cause})
	for _, target := range []error{ErrTransient, io.ErrUnexpectedEOF} {
		if !errors.Is(err, target) {
			t.Errorf("errors.Is(%v, %v) = false", err, target)
		}
	}
	if errors.Is(err, ErrNotFound) {
		t.Error("errors.Is(err, ErrNotFound) = true")
	}
	var e *Error
	if !errors.As(err, &e) || e.UID != 3 || e.Mailbox != "INBOX" {
		t.Errorf("errors.As = %v, %+v", errors.As(err, &e), e)
	}
	if (&Error{Op: "x"}).Unwrap() != nil {
		t.Error("Unwrap of an Error without cause is not nil")
	}
}

// Every sentinel has the package prefix and a distinct, lower-case text.
func TestSentinels(t *testing.T) {
	all := []error{ErrNotFound, ErrExists, ErrInvalidName, ErrInvalidFlag, ErrInvalidMessage,
		ErrHasChildren, ErrNotAllowed, ErrUIDValidityChanged, ErrUIDOrder, ErrChangesUnavailable,
		ErrCorrupt, ErrReadOnly, ErrNotSupported, ErrClosed, ErrTransient, ErrEmailIDMismatch}
	seen := map[string]bool{}
	for _, err := range all {
		s := err.Error()
		if !strings.HasPrefix(s, "mailbox: ") || strings.HasSuffix(s, ".") || seen[s] {
			t.Errorf("sentinel %q: want a unique text with the package prefix and no period", s)
		}
		seen[s] = true
		for _, other := range all {
			if other != err && errors.Is(err, other) {
				t.Errorf("%v is %v", err, other)
			}
		}
	}
}

func TestMessageString(t *testing.T) {
	m := Message{UID: 7, Flags: MustFlags(Seen, "Work"), Size: 1234, InternalDate: time.Unix(0, 0)}
	if got, want := m.String(), `uid 7 ? (\Seen Work) 1234 bytes`; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	m.EmailID = EmailIDOf([]byte("x"))
	if got, want := m.String(), "uid 7 "+m.EmailID.Short()+` (\Seen Work) 1234 bytes`; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	if got := ModSeq(18446744073709551615).String(); got != "18446744073709551615" {
		t.Errorf("ModSeq.String() = %q", got)
	}
}

func TestLiterals(t *testing.T) {
	lit := BytesLiteral([]byte("hello\r\n"))
	if lit.Size() != 7 {
		t.Errorf("BytesLiteral Size() = %d", lit.Size())
	}
	if b, err := io.ReadAll(lit); err != nil || string(b) != "hello\r\n" {
		t.Errorf("BytesLiteral read %q, %v", b, err)
	}
	// NewLiteral reports the size it is given, whatever the reader holds:
	// the store checks the two agree.
	lit = NewLiteral(strings.NewReader("abc"), 5)
	if lit.Size() != 5 {
		t.Errorf("NewLiteral Size() = %d", lit.Size())
	}
	if b, _ := io.ReadAll(lit); string(b) != "abc" {
		t.Errorf("NewLiteral read %q", b)
	}
}

// A mailbox name that is not plain printable text is quoted in an error,
// so that a C1 control, a line separator or invalid UTF-8 (from a name a
// store refused, say) cannot break or forge a log line.
func TestErrorQuotesUnprintableNames(t *testing.T) {
	tests := []struct {
		name, want string
	}{
		{"a\u0085b", `"a\u0085b"`},     // NEXT LINE, a C1 control
		{"a\u2028b", `"a\u2028b"`},     // LINE SEPARATOR
		{"a\u200bb", `"a\u200bb"`},     // ZERO WIDTH SPACE
		{"a\xffb", `"a\xffb"`},         // invalid UTF-8
		{"Été/Ünïcødé", "Été/Ünïcødé"}, // printable: bare
		{"a\u00a0b", `"a\u00a0b"`},     // NO-BREAK SPACE reads as a space
	}
	for _, tc := range tests {
		err := &Error{Op: "create", Mailbox: tc.name, Err: ErrInvalidName}
		if want := "mailbox: create mailbox " + tc.want + ": invalid mailbox name"; err.Error() != want {
			t.Errorf("Error() = %q, want %q", err.Error(), want)
		}
	}
}
