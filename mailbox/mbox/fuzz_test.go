package mbox

import (
	"bytes"
	"errors"
	"testing"
)

// FuzzScan checks the mbox parser on any input: it never panics; it
// either refuses the input with a FormatError or finds messages that lie
// in order inside it, whose bytes read back as Open reads them have the
// size and EmailID the scan computed (parseAll checks); and those
// messages, escaped and joined again into an mbox, parse back to the same
// bytes and flags, and the joined file is a fixed point.
//
// The seed corpus in testdata/fuzz/FuzzScan holds real messages of
// shared/corpora/spamassassin-ham written as mboxrd files (two messages;
// two with ">>From " lines of their own; one in CRLF; one with status
// fields and no final newline).
func FuzzScan(f *testing.F) {
	for _, s := range []string{
		"",
		"From a Thu Aug 22 12:46:39 2002\nSubject: x\n\nbody\n\n",
		"From a\nA: 1\n\n>From x\n>>From y\n\nFrom b\r\nB: 2\r\n\r\n",
		"From a\n\nFrom b\nStatus: RO\nX-Status: AFDT\nX-Keywords: a b\n\nz",
		"From MAILER-DAEMON Thu Aug 22 12:46:39 2002\nX-IMAP: 1 2\n\n\nFrom a\n",
		"Not an mbox\n",
		"From a\n>",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, q := range []Quoting{MboxRD, MboxO, Raw} {
			got, err := parseAll(t, data, q)
			if err != nil {
				var fe *FormatError
				if !errors.As(err, &fe) || fe.Offset != 0 || bytes.HasPrefix(data, []byte(fromMarker)) {
					t.Fatalf("%v: scan failed with %v", q, err)
				}
				return
			}
			var end int64
			for i, g := range got {
				if g.off < end || g.raw < 0 {
					t.Fatalf("%v: message %d at %d+%d overlaps the one before, which ends at %d", q, i, g.off, g.raw, end)
				}
				end = g.off + g.raw
				if i < len(got)-1 && len(g.body) > 0 && g.body[len(g.body)-1] != '\n' {
					t.Fatalf("%v: message %d of %d does not end with a newline: %q", q, i, len(got), g.body)
				}
			}
			if !roundTrips(got, q) {
				continue
			}
			msgs := make([][]byte, len(got))
			for i, g := range got {
				msgs[i] = g.body
			}
			joined := joinMessages(msgs, q)
			again, err := parseAll(t, joined, q)
			if err != nil {
				t.Fatalf("%v: the messages joined again do not parse: %v\n%q", q, err, joined)
			}
			if len(again) != len(got) {
				t.Fatalf("%v: %d messages joined again parse as %d\n%q", q, len(got), len(again), joined)
			}
			for i := range got {
				if !bytes.Equal(again[i].body, got[i].body) || !again[i].flags.Equal(got[i].flags) || again[i].pseudo != got[i].pseudo {
					t.Fatalf("%v: message %d = %q (%v), joined and parsed again %q (%v)", q, i, got[i].body, got[i].flags, again[i].body, again[i].flags)
				}
			}
			msgs2 := make([][]byte, len(again))
			for i, g := range again {
				msgs2[i] = g.body
			}
			if j2 := joinMessages(msgs2, q); !bytes.Equal(j2, joined) {
				t.Fatalf("%v: joining is not a fixed point:\n%q\n%q", q, joined, j2)
			}
		}
	})
}

// roundTrips reports whether messages can be written with quoting q and
// read back unchanged. MboxRD always can. MboxO cannot keep a line that
// starts with '>'s and "From " (it reads back with one '>' fewer). Raw
// cannot keep a line "From " at a message's start or after a blank line.
func roundTrips(got []parsed, q Quoting) bool {
	for _, g := range got {
		prevBlank := true
		for line := range bytes.Lines(g.body) {
			switch q {
			case MboxO:
				if bytes.HasPrefix(line, []byte(">")) && bytes.HasPrefix(bytes.TrimLeft(line, ">"), []byte(fromMarker)) {
					return false
				}
			case Raw:
				if prevBlank && bytes.HasPrefix(line, []byte(fromMarker)) {
					return false
				}
			}
			prevBlank = isBlank(line)
		}
	}
	return true
}
