package maildir

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mailrepl/mailrepl/mailbox"
)

func TestUTF7(t *testing.T) {
	tests := []struct {
		utf8, utf7 string
	}{
		{"INBOX", "INBOX"},
		{"Été", "&AMk-t&AOk-"},
		{"Bär", "B&AOQ-r"},
		{"a&b", "a&-b"},
		{"&", "&-"},
		{"~peter/mail/台北/日本語", "~peter/mail/&U,BTFw-/&ZeVnLIqe-"}, // RFC 3501 §5.1.3
		{"😀", "&2D3eAA-"},
		{"\ufffd", "&,,0-"},
		{"", ""},
	}
	for _, tc := range tests {
		if got := encodeUTF7(tc.utf8); got != tc.utf7 {
			t.Errorf("encodeUTF7(%q) = %q, want %q", tc.utf8, got, tc.utf7)
		}
		got, err := decodeUTF7(tc.utf7)
		if err != nil || got != tc.utf8 {
			t.Errorf("decodeUTF7(%q) = %q, %v, want %q", tc.utf7, got, err, tc.utf8)
		}
	}
}

func TestUTF7Invalid(t *testing.T) {
	for _, s := range []string{
		"&",          // unterminated
		"&AGE",       // unterminated
		"&AGE-",      // encodes "a", printable ASCII
		"&AMk-&AOk-", // two shifted runs in a row
		"&AMl-",      // non-zero padding bits
		"&2D0-",      // lone high surrogate
		"&3gA-",      // lone low surrogate
		"&AAA-",      // NUL
		"a\x01b",     // raw control character
		"é",          // raw 8-bit
		"&A!-",       // not BASE64
		"&AMkA-",     // leftover bits
	} {
		if got, err := decodeUTF7(s); err == nil {
			t.Errorf("decodeUTF7(%q) = %q, want an error", s, got)
		}
	}
}

func TestDirName(t *testing.T) {
	tests := []struct {
		name, dir string
		err       error
	}{
		{name: "INBOX", dir: ""},
		{name: "Work", dir: ".Work"},
		{name: "Work/2024", dir: ".Work.2024"},
		{name: "INBOX/Sub", dir: ".INBOX.Sub"},
		{name: "Été", dir: ".&AMk-t&AOk-"},
		{name: "a.b", err: mailbox.ErrInvalidName},
		{name: "a/b.c", err: mailbox.ErrInvalidName},
		{name: "~x", err: mailbox.ErrInvalidName},
		{name: strings.Repeat("x", 255), err: mailbox.ErrInvalidName},
	}
	for _, tc := range tests {
		dir, err := dirName(tc.name)
		if !errors.Is(err, tc.err) || dir != tc.dir {
			t.Errorf("dirName(%q) = %q, %v, want %q, %v", tc.name, dir, err, tc.dir, tc.err)
		}
		if tc.err == nil && tc.name != "INBOX" {
			back, err := mailboxName(dir)
			if err != nil || back != tc.name {
				t.Errorf("mailboxName(%q) = %q, %v, want %q", dir, back, err, tc.name)
			}
		}
	}
}

func TestMailboxNameRejects(t *testing.T) {
	for _, dir := range []string{
		".", "..", "..DOVECOT-TRASHED", ".a..b", ".a.", ".INBOX", ".inbox",
		".Inbox.x", ".&AGE-", ".a\x01", "a", ".~x", ".a&b",
	} {
		if name, err := mailboxName(dir); err == nil {
			t.Errorf("mailboxName(%q) = %q, want an error", dir, name)
		}
	}
}

func TestParseFileName(t *testing.T) {
	tests := []struct {
		in          string
		base, flags string
		rest        string
		size, vsize int64 // -1: absent
	}{
		{in: "1700000000.M1P2.host,S=100,W=102:2,FS", base: "1700000000.M1P2.host,S=100,W=102", flags: "FS", size: 100, vsize: 102},
		{in: "1700000000.M1P2.host,S=100,W=102", base: "1700000000.M1P2.host,S=100,W=102", size: 100, vsize: 102},
		{in: "04:2,", base: "04", size: -1, vsize: -1},
		{in: "x:2,S,extra", base: "x", flags: "S", rest: ",extra", size: -1, vsize: -1},
		{in: "x:1,whatever", base: "x", size: -1, vsize: -1},
		{in: "x,S=12a:2,", base: "x,S=12a", size: -1, vsize: -1},
		{in: "x,S=,W=3", base: "x,S=,W=3", size: -1, vsize: 3},
		{in: "x,S=99999999999999999999", base: "x,S=99999999999999999999", size: -1, vsize: -1},
	}
	for _, tc := range tests {
		f, err := parseFileName(tc.in)
		if err != nil {
			t.Errorf("parseFileName(%q): %v", tc.in, err)
			continue
		}
		flags, rest := f.flagChars()
		size, ok := f.size()
		if !ok {
			size = -1
		}
		vsize, ok := f.vsize()
		if !ok {
			vsize = -1
		}
		if f.base != tc.base || flags != tc.flags || rest != tc.rest || size != tc.size || vsize != tc.vsize {
			t.Errorf("parseFileName(%q) = base %q flags %q rest %q size %d vsize %d, want %q %q %q %d %d",
				tc.in, f.base, flags, rest, size, vsize, tc.base, tc.flags, tc.rest, tc.size, tc.vsize)
		}
		if f.String() != tc.in {
			t.Errorf("parseFileName(%q).String() = %q", tc.in, f.String())
		}
	}
	for _, bad := range []string{"", ".hidden", ":2,S", "a:b:2,S", "a\nb", "a\rb"} {
		if _, err := parseFileName(bad); err == nil {
			t.Errorf("parseFileName(%q) succeeded, want an error", bad)
		}
	}
}

func TestWithFlags(t *testing.T) {
	tests := []struct{ in, chars, want string }{
		{"x", "SF", "x:2,FS"},
		{"x:2,S", "", "x:2,"},
		{"x:2,S,rest", "TbaP", "x:2,PTab,rest"},
		{"x:1,old", "S", "x:2,S"},
		{"x:2,SS", "SS", "x:2,S"},
	}
	for _, tc := range tests {
		f, err := parseFileName(tc.in)
		if err != nil {
			t.Fatal(err)
		}
		if got := f.withFlags(tc.chars).String(); got != tc.want {
			t.Errorf("%q.withFlags(%q) = %q, want %q", tc.in, tc.chars, got, tc.want)
		}
	}
}

func TestCompareBase(t *testing.T) {
	// In the order Dovecot gives UIDs to new files.
	ordered := []string{
		"04",
		"10",
		"1700000000.M5P1.h",
		"1700000000.M40P1.h",
		"1700000000.M40P2.h",
		"1700000001.M1P1.h",
		"1700000001.x",
	}
	for i := range ordered {
		for j := range ordered {
			got := compareBase(ordered[i], ordered[j])
			want := 0
			if i < j {
				want = -1
			} else if i > j {
				want = 1
			}
			if got != want {
				t.Errorf("compareBase(%q, %q) = %d, want %d", ordered[i], ordered[j], got, want)
			}
		}
	}
}

func TestSafeHost(t *testing.T) {
	tests := []struct{ in, want string }{
		{"mail.example.com", "mail.example.com"},
		{"a/b:c,d", `a\057b\072c\054d`},
		{"", "localhost"},
	}
	for _, tc := range tests {
		if got := safeHost(tc.in); got != tc.want {
			t.Errorf("safeHost(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestKeywords(t *testing.T) {
	k := parseKeywords([]byte("0 kw1\n1 $Forwarded\nbroken\n30 tooHigh\n1 dupIndex\n3 KW1\n4 Later\n"))
	if got, want := string(k.format()), "0 kw1\n1 $Forwarded\n4 Later\n"; got != want {
		t.Fatalf("format = %q, want %q", got, want)
	}
	if l, ok := k.letter("KW1"); !ok || l != 'a' {
		t.Errorf("letter(KW1) = %c, %v", l, ok)
	}
	if n := k.name('c'); n != "unknown-2" {
		t.Errorf("name(c) = %q", n)
	}
	if l, added, ok := k.assign("unknown-2"); !ok || !added || l != 'c' {
		t.Errorf("assign(unknown-2) = %c %v %v", l, added, ok)
	}
	if l, added, ok := k.assign("new"); !ok || !added || l != 'd' {
		t.Errorf("assign(new) = %c %v %v", l, added, ok)
	}
	for i := 0; i < maxKeywords; i++ {
		k.assign("k" + string(rune('A'+i)))
	}
	if _, _, ok := k.assign("oneTooMany"); ok {
		t.Error("assign succeeded with all letters taken")
	}
}

func TestParseUidlist(t *testing.T) {
	in := "3 V1795311105 N7 Gbb7ceb2d0246026b9c39000083ecc375 Pfoo\n" +
		"3 X1:" + strings.Repeat("ab", 32) + " :1795311107.M81063P14748.vm,S=18,W=21\n" +
		"6 W21 X2:future :1795311116.M975218P14953.vm,S=18,W=21\n"
	l, dups, err := parseUidlist([]byte(in))
	if err != nil || dups != 0 {
		t.Fatal(err, dups)
	}
	if l.validity != 1795311105 || l.next != 7 || l.guid != "bb7ceb2d0246026b9c39000083ecc375" || len(l.recs) != 2 {
		t.Fatalf("parsed %+v", l)
	}
	if id, ok := l.recs[0].emailID(); !ok || id.Short() != "abababababab" {
		t.Errorf("emailID = %v %v", id, ok)
	}
	if _, ok := l.recs[1].emailID(); ok {
		t.Error("X2 field read as an EmailID")
	}
	if l.recs[1].setEmailID(mailbox.EmailIDOf([]byte("x"))) {
		t.Error("setEmailID replaced a field of an unknown version")
	}
	if got := string(l.format()); got != in {
		t.Errorf("format =\n%s\nwant\n%s", got, in)
	}
}

func TestParseUidlistNextUID(t *testing.T) {
	// Dovecot appends lines without raising N in the header.
	l, _, err := parseUidlist([]byte("3 V5 N1 G00000000000000000000000000000000\n1 :a\n2 :b\n"))
	if err != nil || l.next != 3 {
		t.Fatalf("next = %v, %v; want 3", l, err)
	}
}

func TestParseUidlistVersion1(t *testing.T) {
	l, _, err := parseUidlist([]byte("1 1234 10\n3 1700.M1P1.h:2,S\n9 other\n"))
	if err != nil {
		t.Fatal(err)
	}
	if l.validity != 1234 || l.next != 10 || l.recs[0].base != "1700.M1P1.h" || l.recs[1].base != "other" {
		t.Fatalf("parsed %+v", l)
	}
	if !strings.HasPrefix(string(l.format()), "3 V1234 N10 G\n") {
		t.Errorf("format = %q", l.format())
	}
}

func TestParseUidlistDuplicate(t *testing.T) {
	l, dups, err := parseUidlist([]byte("3 V5 N9 G00000000000000000000000000000000\n1 :a\n2 :b\n3 :a\n"))
	if err != nil || dups != 1 || len(l.recs) != 2 || l.recs[0].base != "b" || l.recs[1].uid != 3 {
		t.Fatalf("got %+v, %d, %v", l, dups, err)
	}
}

func TestParseUidlistDamaged(t *testing.T) {
	g := " G00000000000000000000000000000000"
	tests := []struct {
		name, in string
		err      error
	}{
		{"empty", "", errUidlist},
		{"no version", "V5 N1\n", errUidlist},
		{"version 2", "2 5 1\n", errUnknownVersion},
		{"version 4", "4 V5 N1" + g + "\n", errUnknownVersion},
		{"no validity", "3 N1" + g + "\n", errUidlist},
		{"zero validity", "3 V0 N1" + g + "\n", errUidlist},
		{"bad guid", "3 V5 N1 Gxyz\n", errUidlist},
		{"truncated header", "3 V5", errUidlist},
		{"unordered", "3 V5 N9" + g + "\n2 :a\n1 :b\n", errUidlist},
		{"zero uid", "3 V5 N9" + g + "\n0 :a\n", errUidlist},
		{"no colon", "3 V5 N9" + g + "\n1 a\n", errUidlist},
		{"truncated line", "3 V5 N9" + g + "\n1 :a\n2", errUidlist},
		{"empty name", "3 V5 N9" + g + "\n1 :\n", errUidlist},
		{"slash", "3 V5 N9" + g + "\n1 :../a\n", errUidlist},
		{"lower-case field", "3 V5 N9" + g + "\n1 x1 :a\n", errUidlist},
		{"uid too high", "3 V5 N9" + g + "\n4294967295 :a\n", errUidlist},
		{"binary", "\x00\x01\x02", errUidlist},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := parseUidlist([]byte(tc.in))
			if !errors.Is(err, tc.err) {
				t.Errorf("parseUidlist(%q) = %v, want %v", tc.in, err, tc.err)
			}
		})
	}
}

func TestSubscriptionLines(t *testing.T) {
	tests := []struct{ name, line string }{
		{"INBOX", "INBOX"},
		{"Work", "Work"},
		{"Work/2024", "Work\t2024"},
		{"Été/x", "&AMk-t&AOk-\tx"},
		{"INBOX/Sub", "INBOX\tSub"},
	}
	for _, tc := range tests {
		if got := subscriptionLine(tc.name); got != tc.line {
			t.Errorf("subscriptionLine(%q) = %q, want %q", tc.name, got, tc.line)
		}
		if got, ok := parseSubscriptionLine(tc.line, 2); !ok || got != tc.name {
			t.Errorf("parseSubscriptionLine(%q) = %q, %v", tc.line, got, ok)
		}
	}
	if got := tabUnescape("a\x01tb\x01nc\x011d\x01re\x01x"); got != "a\tb\nc\x01d\re\x01x" {
		t.Errorf("tabUnescape = %q", got)
	}
	if got, ok := parseSubscriptionLine("Work.2024", 1); !ok || got != "Work/2024" {
		t.Errorf("version 1 line = %q, %v", got, ok)
	}
	if _, ok := parseSubscriptionLine("&bad", 2); ok {
		t.Error("a line that is not modified UTF-7 parsed")
	}
}

func TestSubscriptionsFile(t *testing.T) {
	ctx := context.Background()
	p := filepath.Join(t.TempDir(), subscriptionsName)
	// Dovecot's file, with a line this store cannot name, which it keeps.
	os.WriteFile(p, []byte("V\t2\n\nFoo\nB&AOQ-r\tSub\n&junk\n"), 0o600)
	if err := setSubscriptions(ctx, p, []string{"INBOX", "Foo"}, true, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := setSubscriptions(ctx, p, []string{"Bär/Sub"}, false, 0o600); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(p)
	if want := "V\t2\n\nFoo\n&junk\nINBOX\n"; string(data) != want {
		t.Errorf("file = %q, want %q", data, want)
	}
	subs, err := readSubscriptions(p)
	if err != nil || len(subs) != 2 || !subs["INBOX"] || !subs["Foo"] {
		t.Errorf("read %v, %v", subs, err)
	}
	// A version 1 file stays version 1.
	os.WriteFile(p, []byte("Foo.Bar\n"), 0o600)
	if err := setSubscriptions(ctx, p, []string{"Été/x"}, true, 0o600); err != nil {
		t.Fatal(err)
	}
	if data, _ := os.ReadFile(p); string(data) != "Foo.Bar\n&AMk-t&AOk-.x\n" {
		t.Errorf("version 1 file = %q", data)
	}
	if _, err := os.Stat(p + ".lock"); err == nil {
		t.Error("lock left behind")
	}
}

func TestUIDValidityCounter(t *testing.T) {
	root := t.TempDir()
	now := time.Unix(1700000000, 0)
	v1, err := nextUIDValidity(root, now, 0o600)
	if err != nil || v1 != 1700000000 {
		t.Fatalf("first = %d, %v", v1, err)
	}
	v2, _ := nextUIDValidity(root, now, 0o600)
	// The main file lost: the markers still give the next value.
	os.Remove(filepath.Join(root, uidvalidityName))
	v3, _ := nextUIDValidity(root, now, 0o600)
	// The main file broken, and two markers: the higher one counts and
	// the lower one goes.
	os.WriteFile(filepath.Join(root, uidvalidityName), []byte("zz"), 0o600)
	os.WriteFile(filepath.Join(root, uidvalidityName+".00000005"), nil, 0o444)
	v4, _ := nextUIDValidity(root, now, 0o600)
	if v2 != v1+1 || v3 != v2+1 || v4 != v3+1 {
		t.Errorf("values %d %d %d %d", v1, v2, v3, v4)
	}
	ents, _ := os.ReadDir(root)
	if len(ents) != 2 {
		t.Errorf("files %v", ents)
	}
	if err := raiseUIDValidity(root, v4+100, 0o600); err != nil {
		t.Fatal(err)
	}
	if v, _ := nextUIDValidity(root, now, 0o600); v != v4+101 {
		t.Errorf("after raising to %d: %d", v4+100, v)
	}
	if err := raiseUIDValidity(root, 3, 0o600); err != nil {
		t.Fatal(err)
	}
	if v, _ := nextUIDValidity(root, now, 0o600); v != v4+102 {
		t.Errorf("a lower raise lowered the counter: %d", v)
	}
}
