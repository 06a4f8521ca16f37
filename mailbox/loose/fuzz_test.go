package loose

import (
	"bytes"
	"strings"
	"testing"
)

// FuzzMaildirName checks the parser of Maildir-style file names: it
// never panics; flags are letters found after the name's last ":2," or
// "!2,"; a name's time lies in the range allowed; decoding the flags
// gives valid flags.
func FuzzMaildirName(f *testing.F) {
	for _, s := range []string{
		"1700000000.M1P2.host,S=10,W=12:2,FS", "04:2,", "#12345", "1700000000.x!2,RS,extra",
		"x:2,S:2,", ":2,", "2,", "1700000000.", "99999999999.x:2,abc",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		n := parseMaildirName(name)
		if n.hasInfo && !strings.Contains(name, ":2,"+n.flags) && !strings.Contains(name, "!2,"+n.flags) {
			t.Fatalf("parseMaildirName(%q) = flags %q, not in the name", name, n.flags)
		}
		if !n.hasInfo && n.flags != "" {
			t.Fatalf("parseMaildirName(%q): flags %q without info", name, n.flags)
		}
		if !isLetters(n.flags) {
			t.Fatalf("parseMaildirName(%q): flags %q", name, n.flags)
		}
		if !n.time.IsZero() && (n.time.Unix() < minNameTime || n.time.Unix() >= maxNameTime) {
			t.Fatalf("parseMaildirName(%q): time %v", name, n.time)
		}
		kw := parseKeywords([]byte(name))
		for fl := range decodeFlags(n.flags, kw).All() {
			if fl == "" {
				t.Fatalf("decodeFlags(%q) gives an empty flag", n.flags)
			}
		}
	})
}

// FuzzSniff checks the test of mail: it never panics, and what it takes
// for mail holds a header line before any NUL byte.
func FuzzSniff(f *testing.F) {
	for _, s := range []string{
		"Return-Path: <a@b>\n", "From a Thu Aug 22 12:46:39 2002\nFrom: a\n", "\xff\xd8\x00X: y\n", "", ":\n", "x\r\ny:",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, head []byte) {
		if sniff(head) != "" {
			return
		}
		found := false
		for line := range bytes.Lines(head) {
			if isHeaderLine(line) {
				found = true
				break
			}
			if bytes.IndexByte(line, 0) >= 0 {
				t.Fatalf("sniff(%q) takes for mail a file with a NUL before any header line", head)
			}
		}
		if !found {
			t.Fatalf("sniff(%q) takes for mail a file without a header line", head)
		}
	})
}
