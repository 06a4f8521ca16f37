package mbox

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/mailrepl/mailrepl/mailbox"
)

func TestScan(t *testing.T) {
	long := strings.Repeat("x", 3*scanBufSize/2)
	for _, tc := range []struct {
		name  string
		in    string
		q     Quoting
		want  []string
		flags []string // per message, as Flags.String; nil: all empty
	}{
		{name: "empty file", in: "", want: nil},
		{name: "one message", in: "From a Thu Aug 22 12:46:39 2002\nSubject: x\n\nbody\n\n",
			want: []string{"Subject: x\n\nbody\n"}},
		{name: "two messages", in: "From a\nA: 1\n\none\n\nFrom b\nB: 2\n\ntwo\n\n",
			want: []string{"A: 1\n\none\n", "B: 2\n\ntwo\n"}},
		{name: "no final newline", in: "From a\nA: 1\n\nbody",
			want: []string{"A: 1\n\nbody"}},
		{name: "no final blank line", in: "From a\nA: 1\n\nbody\n",
			want: []string{"A: 1\n\nbody\n"}},
		{name: "crlf", in: "From a\r\nA: 1\r\n\r\nbody\r\n\r\nFrom b\r\nB: 2\r\n\r\n",
			want: []string{"A: 1\r\n\r\nbody\r\n", "B: 2\r\n"}},
		{name: "from line not after a blank line", in: "From a\nA: 1\n\nline\nFrom me, hello\n\n",
			want: []string{"A: 1\n\nline\nFrom me, hello\n"}},
		{name: "from line right after the from line", in: "From a\nFrom b\n\n",
			want: []string{"From b\n"}},
		{name: "blank lines before the separator", in: "From a\nA: 1\n\n\n\nFrom b\nB: 2\n",
			want: []string{"A: 1\n\n\n", "B: 2\n"}},
		{name: "empty message", in: "From a\n\nFrom b\nB: 2\n",
			want: []string{"", "B: 2\n"}},
		{name: "from line alone", in: "From a", want: []string{""}},
		{name: "from line and newline", in: "From a\n", want: []string{""}},
		{name: "mboxrd", in: "From a\nA: 1\n\n>From x\n>>From y\n>>>From z\n>Fro\n>\n>From\n> From\nFrom w\n\n",
			want: []string{"A: 1\n\nFrom x\n>From y\n>>From z\n>Fro\n>\n>From\n> From\nFrom w\n"}},
		{name: "mboxrd at the end", in: "From a\n\n>From", want: []string{"\n>From"}},
		{name: "mboxrd partial", in: "From a\n\n>>Fr", want: []string{"\n>>Fr"}},
		{name: "mboxo", q: MboxO, in: "From a\n\n>From x\n>>From y\n", want: []string{"\nFrom x\n>>From y\n"}},
		{name: "raw", q: Raw, in: "From a\n\n>From x\n>>From y\n", want: []string{"\n>From x\n>>From y\n"}},
		{name: "status fields", in: "From a\nStatus: RO\nX-Status: AFDT\nX-Keywords: $Forwarded work\nSubject: s\n\nStatus: U\n\n",
			want:  []string{"Status: RO\nX-Status: AFDT\nX-Keywords: $Forwarded work\nSubject: s\n\nStatus: U\n"},
			flags: []string{`$Forwarded \Answered \Deleted \Draft \Flagged \Seen work`}},
		{name: "status in crlf", in: "From a\r\nstatus: R\r\nX-KEYWORDS: a,b\r\n \tc\r\n\r\n",
			want: []string{"status: R\r\nX-KEYWORDS: a,b\r\n \tc\r\n"}, flags: []string{`\Seen a b c`}},
		{name: "status only in the header", in: "From a\nA: 1\n\nStatus: R\n",
			want: []string{"A: 1\n\nStatus: R\n"}, flags: []string{""}},
		{name: "first status counts", in: "From a\nStatus: O\nStatus: R\n\n",
			want: []string{"Status: O\nStatus: R\n"}, flags: []string{""}},
		{name: "bad keywords left out", in: "From a\nX-Keywords: ok (bad) \\Seen %p\n\n",
			want: []string{"X-Keywords: ok (bad) \\Seen %p\n"}, flags: []string{"ok"}},
		{name: "thunderbird", in: "From - Thu Aug 22 12:46:39 2002\nX-Mozilla-Status: 1009\nX-Mozilla-Keys: $label1 todo\n\nb\n\nFrom - x\nX-Mozilla-Status: 0006\n\n",
			want:  []string{"X-Mozilla-Status: 1009\nX-Mozilla-Keys: $label1 todo\n\nb\n", "X-Mozilla-Status: 0006\n"},
			flags: []string{`$Forwarded $label1 \Deleted \Seen todo`, `\Answered \Flagged`}},
		{name: "folder internal data", in: "From MAILER-DAEMON Thu Aug 22 12:46:39 2002\nSubject: DON'T DELETE THIS MESSAGE -- FOLDER INTERNAL DATA\nX-IMAP: 1 2\n\nx\n\nFrom a\nA: 1\n\n",
			want: []string{"(internal)", "A: 1\n"}},
		{name: "x-imap later is a message", in: "From a\nA: 1\n\nFrom b\nX-IMAP: 1 2\n\n",
			want: []string{"A: 1\n", "X-IMAP: 1 2\n"}},
		{name: "long line", in: "From a\nA: 1\n\n" + long + "\nFrom x\n\n",
			want: []string{"A: 1\n\n" + long + "\nFrom x\n"}},
		{name: "long line that looks quoted", in: "From a\n\n>" + long + "\n>From x\n\n",
			want: []string{"\n>" + long + "\nFrom x\n"}},
		{name: "long from line", in: "From " + long + "\nA: 1\n\nFrom b\n",
			want: []string{"A: 1\n", ""}},
		{name: "long from line at the end", in: "From " + long, want: []string{""}},
		{name: "nul bytes", in: "From a\n\x00\x00\n\n\x00", want: []string{"\x00\x00\n\n\x00"}},
		{name: "bare cr", in: "From a\nA: 1\r\r\n\r\n\rFrom b\n\n", want: []string{"A: 1\r\r\n\r\n\rFrom b\n"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseAll(t, []byte(tc.in), tc.q)
			if err != nil {
				t.Fatalf("scan: %v", err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("scan found %d messages, want %d: %q", len(got), len(tc.want), bodies(got))
			}
			for i, g := range got {
				if tc.want[i] == "(internal)" {
					if !g.pseudo {
						t.Errorf("message %d is not taken for the folder's internal data", i)
					}
					continue
				}
				if g.pseudo {
					t.Errorf("message %d is taken for the folder's internal data", i)
				}
				if string(g.body) != tc.want[i] {
					t.Errorf("message %d = %q, want %q", i, abbrev(g.body), abbrev([]byte(tc.want[i])))
				}
				wantFlags := ""
				if tc.flags != nil {
					wantFlags = tc.flags[i]
				}
				if g.flags.String() != wantFlags {
					t.Errorf("message %d has flags (%v), want (%s)", i, g.flags, wantFlags)
				}
			}
		})
	}
}

func bodies(ps []parsed) []string {
	var out []string
	for _, p := range ps {
		out = append(out, abbrev(p.body))
	}
	return out
}

func abbrev(b []byte) string {
	if len(b) <= 100 {
		return string(b)
	}
	return string(b[:100]) + "…"
}

func TestScanNotMbox(t *testing.T) {
	for _, in := range []string{"Hello\n", "\nFrom a\n", "Fro", " From a\n", "from a\n", "\xef\xbb\xbfFrom a\n"} {
		_, err := parseAll(t, []byte(in), MboxRD)
		var fe *FormatError
		if !errors.As(err, &fe) || !errors.Is(err, mailbox.ErrCorrupt) {
			t.Errorf("scan(%q) = %v, want a FormatError wrapping ErrCorrupt", in, err)
			continue
		}
		if fe.Offset != 0 || !strings.HasPrefix(in, string(fe.Found)) || len(fe.Found) == 0 {
			t.Errorf("scan(%q): %v, want offset 0 and the bytes found", in, err)
		}
	}
}

// TestScanPieces checks that the scan finds the same messages whatever
// sizes the reads below it return.
func TestScanPieces(t *testing.T) {
	in := []byte("From a\nA: 1\r\n\r\n>From x\n\n\nFrom b\n>>From y\n\nFrom c\nZ")
	want, err := parseAll(t, in, MboxRD)
	if err != nil {
		t.Fatal(err)
	}
	var got []entry
	err = scan(t.Context(), iotest.OneByteReader(bytes.NewReader(in)), scanOptions{loc: time.UTC}, func(e entry) error {
		got = append(got, e)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("byte by byte: %d messages, want %d", len(got), len(want))
	}
	for i := range got {
		if got[i].off != want[i].off || got[i].raw != want[i].raw || got[i].id != want[i].id {
			t.Errorf("byte by byte, message %d: %+v, want %+v", i, got[i], want[i].entry)
		}
	}
}

// TestUnquoteReaderPieces reads quoted lines through the reader, whole
// and a byte at a time.
func TestUnquoteReaderPieces(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{">From a\n>>From b\n>Fr\n>>\n>From", "From a\n>From b\n>Fr\n>>\n>From"},
		{">>From ", ">From "},
		{">>Fro", ">>Fro"},
		{"x>From \n>", "x>From \n>"},
	} {
		whole, err := io.ReadAll(newUnquoteReader(strings.NewReader(tc.in), MboxRD, 0))
		if err != nil || string(whole) != tc.want {
			t.Errorf("unquoted %q = %q, %v; want %q", tc.in, whole, err, tc.want)
		}
		bytewise := readAllOneByte(newUnquoteReader(iotest.OneByteReader(strings.NewReader(tc.in)), MboxRD, 0))
		if string(bytewise) != tc.want {
			t.Errorf("unquoted byte by byte %q = %q, want %q", tc.in, bytewise, tc.want)
		}
	}
}

func readAllOneByte(r io.Reader) []byte {
	var out []byte
	var p [1]byte
	for {
		n, err := r.Read(p[:])
		out = append(out, p[:n]...)
		if err != nil {
			return out
		}
	}
}

func TestParseFromDate(t *testing.T) {
	utc := time.UTC
	for _, tc := range []struct {
		line string
		want time.Time // zero: no date
	}{
		{"From a@b Thu Aug 22 12:46:39 2002", time.Date(2002, 8, 22, 12, 46, 39, 0, utc)},
		{"From Steve_Burt@cursor-system.com  Thu Aug 22 12:46:39 2002", time.Date(2002, 8, 22, 12, 46, 39, 0, utc)},
		{"From MAILER-DAEMON Wed Oct  2 01:02:03 2002", time.Date(2002, 10, 2, 1, 2, 3, 0, utc)},
		{"From a Wed Oct 2 01:02:03 2002 +0200", time.Date(2002, 10, 1, 23, 2, 3, 0, utc)},
		{"From a Wed Oct 2 01:02:03 -0100 2002", time.Date(2002, 10, 2, 2, 2, 3, 0, utc)},
		{"From a Wed Oct 2 01:02 2002", time.Date(2002, 10, 2, 1, 2, 0, 0, utc)},
		{"From a Wed Oct 2 01:02:03 UTC 2002", time.Date(2002, 10, 2, 1, 2, 3, 0, utc)},
		{"From a wed oct 2 01:02:03 2002 remote from host", time.Date(2002, 10, 2, 1, 2, 3, 0, utc)},
		{"From \"a b\"@c Sat Jan  1 00:00:00 2000\r", time.Date(2000, 1, 1, 0, 0, 0, 0, utc)},
		{"From Mon Tue Sat Jan  1 00:00:00 2000", time.Date(2000, 1, 1, 0, 0, 0, 0, utc)},
		{"From a", time.Time{}},
		{"From a 2002-10-02T01:02:03Z", time.Time{}},
		{"From a Wed Oct 32 01:02:03 2002", time.Time{}},
		{"From - Thu Aug 22 12:46", time.Time{}},
	} {
		got, ok := parseFromDate([]byte(strings.TrimRight(tc.line, "\r")), utc)
		if ok != !tc.want.IsZero() || (ok && !got.Equal(tc.want)) {
			t.Errorf("parseFromDate(%q) = %v, %v; want %v", tc.line, got, ok, tc.want)
		}
	}
	// A zone-less date is in the given location.
	ny := time.FixedZone("X", -5*3600)
	got, _ := parseFromDate([]byte("From a Thu Aug 22 12:46:39 2002"), ny)
	if want := time.Date(2002, 8, 22, 17, 46, 39, 0, utc); !got.Equal(want) {
		t.Errorf("in UTC-5: %v, want %v", got.UTC(), want)
	}
}

func TestScanDates(t *testing.T) {
	got, err := parseAll(t, []byte("From a Thu Aug 22 12:46:39 2002\n\nFrom b no date\n"), MboxRD)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("%d messages", len(got))
	}
	if d := time.Unix(got[0].date, 0).UTC(); !got[0].dated || !d.Equal(time.Date(2002, 8, 22, 12, 46, 39, 0, time.UTC)) {
		t.Errorf("first message dated %v (%v)", d, got[0].dated)
	}
	if d := time.Unix(got[1].date, 0).UTC(); got[1].dated || !d.Equal(time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)) {
		t.Errorf("second message dated %v (%v), want the fallback", d, got[1].dated)
	}
}

// TestWriterRoundTrip checks the tests' writer against the scanner.
func TestWriterRoundTrip(t *testing.T) {
	msgs := [][]byte{
		[]byte("A: 1\n\nFrom x\n>From y\n\nFrom z\n"),
		[]byte(""),
		[]byte("B: 2\r\n\r\nFrom w\r\n\r\n"),
		[]byte("C: 3\n\nno newline"),
		[]byte(">From start\n"),
		[]byte("D: 4\n\nlast without newline"),
	}
	got, err := parseAll(t, joinMessages(msgs, MboxRD), MboxRD)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(msgs) {
		t.Fatalf("%d messages, want %d", len(got), len(msgs))
	}
	for i, m := range msgs {
		want := m
		if i == 3 {
			want = append(bytes.Clone(m), '\n') // not last: it gets a newline
		}
		if !bytes.Equal(got[i].body, want) {
			t.Errorf("message %d = %q, want %q", i, got[i].body, want)
		}
	}
}
