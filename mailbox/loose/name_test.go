package loose

import (
	"strings"
	"testing"
	"time"
)

func TestParseMaildirName(t *testing.T) {
	d := func(s int64) time.Time { return time.Unix(s, 0).UTC() }
	for _, tc := range []struct {
		name    string
		flags   string
		hasInfo bool
		time    time.Time
	}{
		{"1700000000.M1P2.host,S=10,W=12:2,FS", "FS", true, d(1700000000)},
		{"1700000000.M1P2.host", "", false, d(1700000000)},
		{"1700000000.M1P2.host:2,", "", true, d(1700000000)},
		{"1700000000.M1P2.host!2,RS", "RS", true, d(1700000000)},
		{"1700000000.M1P2.host:2,S,extra", "S", true, d(1700000000)},
		{"1700000000.M1P2.host:1,whatever", "", false, d(1700000000)},
		{"1700000000.M1P2.host:2,S:2,x1", "", false, d(1700000000)}, // not letters after the last ":2,"
		{"04:2,", "", true, time.Time{}},                            // notmuch's test names
		{"#12345", "", false, time.Time{}},
		{"#12345:2,S", "S", true, time.Time{}},
		{"12.txt", "", false, time.Time{}},        // too early a time
		{"0700000000.x", "", false, time.Time{}},  // a leading zero
		{"99999999999.x", "", false, time.Time{}}, // beyond 2200
		{"message.eml", "", false, time.Time{}},
	} {
		n := parseMaildirName(tc.name)
		if n.flags != tc.flags || n.hasInfo != tc.hasInfo || !n.time.Equal(tc.time) {
			t.Errorf("parseMaildirName(%q) = %+v, want flags %q, info %v, time %v", tc.name, n, tc.flags, tc.hasInfo, tc.time)
		}
	}
}

func TestInternalDate(t *testing.T) {
	name := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		nameTime, mtime, want time.Time
	}{
		{time.Time{}, name, name},                                    // no name time: the mtime
		{name, name.Add(3 * time.Second), name.Add(3 * time.Second)}, // delivered: the mtime
		{name, name.Add(-48 * time.Hour), name.Add(-48 * time.Hour)}, // appended with an old date: the mtime
		{name, name.Add(30 * 24 * time.Hour), name},                  // copied without mtimes: the name's
	} {
		if got := internalDate(maildirName{time: tc.nameTime}, tc.mtime); !got.Equal(tc.want) {
			t.Errorf("internalDate(name %v, mtime %v) = %v, want %v", tc.nameTime, tc.mtime, got, tc.want)
		}
	}
}

func TestDecodeFlags(t *testing.T) {
	kw := parseKeywords([]byte("0 $Forwarded\n1 Work\nx bad\n3 \n2 (no atom)\n+4 plus\n0 again\n"))
	for _, tc := range []struct {
		letters string
		kw      *keywords
		want    string
	}{
		{"", kw, ""},
		{"DFPRST", kw, `%Passed \Answered \Deleted \Draft \Flagged \Seen`},
		{"SX", kw, `%Maildir-X \Seen`},
		{"ab", kw, `$Forwarded Work`},
		{"c", kw, ``},          // "(no atom)" is no keyword
		{"e", kw, `unknown-4`}, // "+4" is no index
		{"ab", nil, `unknown-0 unknown-1`},
	} {
		if got := decodeFlags(tc.letters, tc.kw).String(); got != tc.want {
			t.Errorf("decodeFlags(%q) = %q, want %q", tc.letters, got, tc.want)
		}
	}
}

func TestSniff(t *testing.T) {
	for _, tc := range []struct {
		name, head string
		why        string // "" for mail, else a part of the reason
	}{
		{"header", "Return-Path: <a@b>\n", ""},
		{"crlf", "Subject: x\r\n\r\n", ""},
		{"mbox envelope first", "From a@b Thu Aug 22 12:46:39 2002\nFrom: a@b\n", ""},
		{"header after text", "some text\nand more\nX-Header: found\n", ""},
		{"no colon", "just some text\nwithout anything\n", "no header line"},
		{"empty name", ": x\n", "no header line"},
		{"space in name", "Not A Header: x\n", "no header line"},
		{"digit first", "1x: y\n", "no header line"},
		{"binary", "\xff\xd8\xff\xe0\x00\x10JFIF\x00\nX: y\n", "NUL byte at offset 4"},
		{"nul after header", "X: y\n\x00\x00", ""},
		{"url is taken for a header", "http://example.org\n", ""},
	} {
		got := sniff([]byte(tc.head))
		if (tc.why == "") != (got == "") || !strings.Contains(got, tc.why) {
			t.Errorf("%s: sniff(%q) = %q, want %q", tc.name, tc.head, got, tc.why)
		}
	}
}
