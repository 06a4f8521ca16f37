package mailbox

import (
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

func fingerprint(t *testing.T, msg string, size int64) Fingerprint {
	t.Helper()
	fp, err := ReadFingerprint(strings.NewReader(msg), size)
	if err != nil {
		t.Fatalf("ReadFingerprint(%q): %v", msg, err)
	}
	if fp.IsZero() {
		t.Fatalf("ReadFingerprint(%q) is zero", msg)
	}
	return fp
}

const fpMessage = "Message-ID: <1@example.org>\r\n" +
	"Date: Mon, 1 Jan 2024 10:00:00 +0000\r\n" +
	"From: Ann <ann@example.org>\r\n" +
	"To: bob@example.org\r\n" +
	"Subject: Lunch\r\n" +
	"\r\n" +
	"Shall we?\r\n"

func TestFingerprintLFAndCRLF(t *testing.T) {
	crlfSize := int64(len(fpMessage))
	lf := strings.ReplaceAll(fpMessage, "\r\n", "\n")
	a := fingerprint(t, fpMessage, crlfSize)
	b := fingerprint(t, lf, crlfSize)
	if a != b {
		t.Errorf("LF and CRLF copies with the CRLF size differ: %v, %v", a, b)
	}
	if c := fingerprint(t, lf, int64(len(lf))); c == a {
		t.Error("the size is not part of the Fingerprint")
	}
	if s := a.String(); !strings.HasPrefix(s, "fp:") || len(s) != 3+16 {
		t.Errorf("String() = %q, want fp: and 16 hex digits", s)
	}
	if !(Fingerprint{}).IsZero() {
		t.Error("the zero Fingerprint is not zero")
	}
	// Only the header is read: a reader that fails in the body does not
	// matter, nor does reading it one byte at a time.
	head := fpMessage[:strings.Index(fpMessage, "\r\n\r\n")+4]
	r := iotest.OneByteReader(strings.NewReader(head))
	if fp, err := ReadFingerprint(r, crlfSize); err != nil || fp != a {
		t.Errorf("header alone: %v, %v; want %v", fp, err, a)
	}
}

func TestFingerprintFields(t *testing.T) {
	base := fingerprint(t, fpMessage, 100)
	same := []struct {
		name, msg string
	}{
		{"other fields ignored", strings.Replace(fpMessage, "To: bob@example.org", "To: carol@example.org\r\nX-Spam: yes", 1)},
		{"body ignored", strings.Replace(fpMessage, "Shall we?", "Not today.", 1)},
		{"field order", "Subject: Lunch\r\nFrom: Ann <ann@example.org>\r\nDate: Mon, 1 Jan 2024 10:00:00 +0000\r\nMessage-ID: <1@example.org>\r\n\r\nx"},
		{"field name case", strings.Replace(strings.Replace(fpMessage, "Message-ID", "message-id", 1), "Subject", "SUBJECT", 1)},
		{"folded subject", strings.Replace(fpMessage, "Subject: Lunch", "Subject:\r\n Lunch", 1)},
		{"extra whitespace", strings.Replace(fpMessage, "From: Ann <ann@example.org>", "From:   Ann \t <ann@example.org>  ", 1)},
		{"folded From", strings.Replace(fpMessage, "From: Ann <ann@example.org>", "From: Ann\r\n\t<ann@example.org>", 1)},
	}
	for _, tc := range same {
		if fp := fingerprint(t, tc.msg, 100); fp != base {
			t.Errorf("%s: Fingerprint differs", tc.name)
		}
	}
	differ := []struct {
		name, msg string
	}{
		{"Message-ID", strings.Replace(fpMessage, "<1@", "<2@", 1)},
		{"Date", strings.Replace(fpMessage, "10:00:00", "10:00:01", 1)},
		{"From", strings.Replace(fpMessage, "ann@", "anne@", 1)},
		{"Subject", strings.Replace(fpMessage, "Lunch", "Dinner", 1)},
		{"Subject case", strings.Replace(fpMessage, "Lunch", "lunch", 1)},
		{"no Subject", strings.Replace(fpMessage, "Subject: Lunch\r\n", "", 1)},
		{"word split", strings.Replace(fpMessage, "Lunch", "Lu nch", 1)},
	}
	seen := map[Fingerprint]string{base: "base"}
	for _, tc := range differ {
		fp := fingerprint(t, tc.msg, 100)
		if prev, ok := seen[fp]; ok {
			t.Errorf("%s: Fingerprint equals that of %s", tc.name, prev)
		}
		seen[fp] = tc.name
	}
}

func TestFingerprintMissingFields(t *testing.T) {
	// A missing field counts as empty: present-but-empty is the same.
	a := fingerprint(t, "X-Other: 1\r\n\r\nbody", 10)
	b := fingerprint(t, "Subject:\r\nFrom: \r\n\r\nbody", 10)
	c := fingerprint(t, "\r\nbody", 10)
	d := fingerprint(t, "", 10)
	if a != b || a != c || a != d {
		t.Errorf("messages without the fields differ: %v %v %v %v", a, b, c, d)
	}
	// Values do not run into each other: the separators are kept.
	e := fingerprint(t, "From: ab\r\nSubject: c\r\n\r\n", 10)
	f := fingerprint(t, "From: a\r\nSubject: bc\r\n\r\n", 10)
	if e == f {
		t.Error("From and Subject run into each other")
	}
}

func TestFingerprintBadHeader(t *testing.T) {
	for _, msg := range []string{
		"no colon here\r\n\r\nbody",
		" starts with a continuation\r\n\r\nbody",
		"From mbox-line Mon Jan  1 00:00:00 2024\nbroken\n\n",
		"Subject: ok\r\nbroken line\r\n\r\n",
	} {
		fp, err := ReadFingerprint(strings.NewReader(msg), 10)
		if !errors.Is(err, ErrInvalidMessage) {
			t.Errorf("ReadFingerprint(%q) = %v, %v; want ErrInvalidMessage", msg, fp, err)
		}
		if !fp.IsZero() {
			t.Errorf("ReadFingerprint(%q) = %v with an error", msg, fp)
		}
	}
}

// A reader that fails is not a malformed message: the cause comes through
// for errors.Is, and the message is not called invalid (a caller could
// otherwise take a disk or network error for a damaged message).
func TestFingerprintReadError(t *testing.T) {
	boom := errors.New("boom")
	for name, r := range map[string]func() *strings.Reader{
		"at once":        func() *strings.Reader { return strings.NewReader("") },
		"mid-header":     func() *strings.Reader { return strings.NewReader("Subject: a\r\nFrom: b") },
		"after a header": func() *strings.Reader { return strings.NewReader("Subject: a\r\n") },
	} {
		_, err := ReadFingerprint(io.MultiReader(r(), iotest.ErrReader(boom)), 10)
		if !errors.Is(err, boom) {
			t.Errorf("%s: ReadFingerprint = %v, want it to wrap the reader's error", name, err)
		}
		if errors.Is(err, ErrInvalidMessage) {
			t.Errorf("%s: ReadFingerprint = %v, a read error taken for an invalid message", name, err)
		}
	}
}

func TestReadFingerprintMboxFromLine(t *testing.T) {
	msg := "Message-ID: <x@y>\nDate: Mon, 1 Jan 2024 00:00:00 +0000\nFrom: a@b\nSubject: hi\n\nbody\n"
	plain, err := ReadFingerprint(strings.NewReader(msg), 99)
	if err != nil {
		t.Fatal(err)
	}
	withFrom, err := ReadFingerprint(strings.NewReader("From a@b Mon Jan  1 00:00:00 2024\n"+msg), 99)
	if err != nil {
		t.Fatalf("ReadFingerprint with an mbox From line: %v", err)
	}
	if plain != withFrom {
		t.Errorf("an mbox From line changed the fingerprint")
	}
	if _, err := ReadFingerprint(strings.NewReader("From a@b"), 8); !errors.Is(err, ErrInvalidMessage) {
		t.Errorf("a lone From line: %v, want ErrInvalidMessage", err)
	}
}
