package mailbox

import (
	"errors"
	"strconv"
	"strings"
	"testing"
)

func TestValidateName(t *testing.T) {
	valid := []string{
		"INBOX",
		"inbox",
		"InBoX/Sub",
		"Work",
		"a/b/c",
		"a.b",
		"...",
		".hidden",
		"a/.b/c.",
		"Sent Items",
		" leading space",
		"Été/Ünïcødé",
		"日本語/メール",
		"emoji 📬",
		"a\u00a0b", // NO-BREAK SPACE, the first non-control after C1
		"a&b-c",
		"100%",
		"*",
		strings.Repeat("x", MaxNameLen),
		strings.Repeat("é", MaxNameLen/2),
	}
	for _, name := range valid {
		if err := ValidateName(name); err != nil {
			t.Errorf("ValidateName(%q) = %v, want nil", name, err)
		}
	}
}

func TestValidateNameErrors(t *testing.T) {
	tests := []struct {
		name string
		msg  string
	}{
		{"", "empty name"},
		{"..", `level ".."`},
		{".", `level "."`},
		{"../x", `level ".."`},
		{"a/../b", `level ".."`},
		{"a/..", `level ".."`},
		{"a/./b", `level "."`},
		{"a/.", `level "."`},
		{"/a", "starts with '/'"},
		{"/", "starts with '/'"},
		{"a/", "empty level"},
		{"a//b", "empty level"},
		{"INBOX/", "empty level"},
		{"a\x00b", "control character U+0000"},
		{"\x00", "control character U+0000"},
		{"a\tb", "control character U+0009"},
		{"a\nb", "control character U+000A"},
		{"a\rb", "control character U+000D"},
		{"\x1f", "control character U+001F"},
		{"a\x7fb", "control character U+007F"},
		{"a\u0080b", "control character U+0080"},
		{"a\u0085b", "control character U+0085"}, // NEXT LINE
		{"a\u009fb", "control character U+009F"},
		{"a\xffb", "not valid UTF-8"},
		{"\xc3", "not valid UTF-8"},         // truncated sequence
		{"\xc0\xaf", "not valid UTF-8"},     // overlong '/'
		{"\xed\xa0\x80", "not valid UTF-8"}, // surrogate
		{strings.Repeat("x", MaxNameLen+1), "longer than 1024 bytes"},
		{strings.Repeat("é", MaxNameLen/2) + "x", "longer than 1024 bytes"},
	}
	for _, tc := range tests {
		err := ValidateName(tc.name)
		if err == nil {
			t.Errorf("ValidateName(%q) = nil, want an error", tc.name)
			continue
		}
		if !errors.Is(err, ErrInvalidName) {
			t.Errorf("ValidateName(%q) = %v, not wrapping ErrInvalidName", tc.name, err)
		}
		if !strings.Contains(err.Error(), strconv.Quote(tc.name)) {
			t.Errorf("ValidateName(%q) = %q, does not quote the name", tc.name, err)
		}
		if !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("ValidateName(%q) = %q, want it to say %q", tc.name, err, tc.msg)
		}
		if c, err := CanonicalName(tc.name); err == nil || c != "" {
			t.Errorf("CanonicalName(%q) = %q, %v; want an error", tc.name, c, err)
		}
	}
}

func TestCanonicalName(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"INBOX", "INBOX"},
		{"inbox", "INBOX"},
		{"Inbox", "INBOX"},
		{"iNbOx", "INBOX"},
		{"inbox/Work", "INBOX/Work"},
		{"Inbox/inbox", "INBOX/inbox"},
		{"INBOX/a/b", "INBOX/a/b"},
		{"inboxes", "inboxes"},
		{"inbox2/x", "inbox2/x"},
		{"Work/inbox", "Work/inbox"},
		{"Été/Ünïcødé", "Été/Ünïcødé"},
		{"ınbox", "ınbox"}, // dotless i: not INBOX
	}
	for _, tc := range tests {
		got, err := CanonicalName(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("CanonicalName(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
		again, err := CanonicalName(got)
		if err != nil || again != got {
			t.Errorf("CanonicalName(%q) = %q, %v; not idempotent", got, again, err)
		}
	}
}

func TestIsInbox(t *testing.T) {
	for _, name := range []string{"INBOX", "inbox", "Inbox", "inBOX"} {
		if !IsInbox(name) {
			t.Errorf("IsInbox(%q) = false", name)
		}
	}
	for _, name := range []string{"", "INBOX/a", "inbox/", "INBOXES", "Work", " INBOX", "ınbox"} {
		if IsInbox(name) {
			t.Errorf("IsInbox(%q) = true", name)
		}
	}
}

func TestParent(t *testing.T) {
	tests := []struct{ in, want string }{
		{"INBOX", ""},
		{"a", ""},
		{"a/b", "a"},
		{"a/b/c", "a/b"},
		{"Été/Ünïcødé", "Été"},
		{"", ""},
	}
	for _, tc := range tests {
		if got := Parent(tc.in); got != tc.want {
			t.Errorf("Parent(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestIsDescendant(t *testing.T) {
	tests := []struct {
		name, ancestor string
		want           bool
	}{
		{"a/b", "a", true},
		{"a/b/c", "a", true},
		{"a/b/c", "a/b", true},
		{"a/b/c", "a/b/c", false},
		{"a/bc", "a/b", false},
		{"ab", "a", false},
		{"a", "a/b", false},
		{"a", "a", false},
		{"a/", "a", false},
		{"b/a", "a", false},
		{"INBOX/x", "INBOX", true},
		{"Été/Ünïcødé", "Été", true},
		{"a", "", false},
	}
	for _, tc := range tests {
		if got := IsDescendant(tc.name, tc.ancestor); got != tc.want {
			t.Errorf("IsDescendant(%q, %q) = %v, want %v", tc.name, tc.ancestor, got, tc.want)
		}
	}
}

// FuzzValidateName checks that name validation never panics, that its
// errors wrap ErrInvalidName, and that a canonical name is valid and its own
// canonical form.
func FuzzValidateName(f *testing.F) {
	for _, s := range []string{"INBOX", "inbox/Work", "../x", "a//b", "Été/Ünïcødé", "a\x00b", "\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		err := ValidateName(name)
		c, cerr := CanonicalName(name)
		if (err == nil) != (cerr == nil) {
			t.Fatalf("ValidateName(%q) = %v but CanonicalName = %q, %v", name, err, c, cerr)
		}
		if err != nil {
			if !errors.Is(err, ErrInvalidName) || !errors.Is(cerr, ErrInvalidName) {
				t.Fatalf("ValidateName(%q) = %v, not ErrInvalidName", name, err)
			}
			return
		}
		if !strings.EqualFold(c, name) || len(c) != len(name) {
			t.Fatalf("CanonicalName(%q) = %q changes more than case", name, c)
		}
		if err := ValidateName(c); err != nil {
			t.Fatalf("CanonicalName(%q) = %q, invalid: %v", name, c, err)
		}
		if again, err := CanonicalName(c); err != nil || again != c {
			t.Fatalf("CanonicalName(%q) = %q, %v; not idempotent", c, again, err)
		}
		for level := range strings.SplitSeq(name, "/") {
			if level == "" || level == "." || level == ".." {
				t.Fatalf("ValidateName(%q) accepted level %q", name, level)
			}
		}
		if p := Parent(c); p != "" {
			if !IsDescendant(c, p) {
				t.Fatalf("IsDescendant(%q, Parent = %q) = false", c, p)
			}
			if err := ValidateName(p); err != nil {
				t.Fatalf("Parent(%q) = %q, invalid: %v", c, p, err)
			}
		}
	})
}
