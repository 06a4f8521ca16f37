package mbox

import (
	"bytes"
	"context"
	"io"
	"testing"
	"time"

	"github.com/mailrepl/mailrepl/mailbox"
)

// The tests write mbox files as an MDA or a mail program does: a From
// line, the message with its "From " lines escaped, a blank line.

const testFromLine = "From MAILER-DAEMON Thu Aug 22 12:46:39 2002"

// escape appends msg to dst with its "From " lines escaped as q wants:
// MboxRD gives one more '>' to every line matching ^>*From ; MboxO a '>'
// to lines matching ^From ; Raw escapes nothing.
func escape(dst, msg []byte, q Quoting) []byte {
	for len(msg) > 0 {
		line := msg
		if i := bytes.IndexByte(msg, '\n'); i >= 0 {
			line = msg[:i+1]
		}
		msg = msg[len(line):]
		switch q {
		case MboxRD:
			if bytes.HasPrefix(bytes.TrimLeft(line, ">"), []byte(fromMarker)) {
				dst = append(dst, '>')
			}
		case MboxO:
			if bytes.HasPrefix(line, []byte(fromMarker)) {
				dst = append(dst, '>')
			}
		}
		dst = append(dst, line...)
	}
	return dst
}

// appendMessage appends one message to an mbox file being written: its
// From line, the escaped message, and the blank line that separates it
// from the next. A message that does not end with a line ending gets
// one first, unless last is set: then it ends the file (the one case in
// which an mbox keeps a message without a final newline).
func appendMessage(dst []byte, fromLine string, msg []byte, q Quoting, last bool) []byte {
	dst = append(dst, fromLine...)
	dst = append(dst, '\n')
	dst = escape(dst, msg, q)
	ends := len(msg) == 0 || msg[len(msg)-1] == '\n'
	switch {
	case !ends && last:
		return dst
	case !ends:
		dst = append(dst, '\n')
	}
	if bytes.HasSuffix(msg, []byte("\r\n")) {
		return append(dst, "\r\n"...)
	}
	return append(dst, '\n')
}

// joinMessages writes msgs as an mbox file, each with testFromLine.
func joinMessages(msgs [][]byte, q Quoting) []byte {
	var b []byte
	for i, m := range msgs {
		b = appendMessage(b, testFromLine, m, q, i == len(msgs)-1)
	}
	return b
}

// parsed is a message found by scan, with its bytes read back through
// the same path Open takes.
type parsed struct {
	entry
	body []byte
}

// parseAll scans data and reads every message's bytes from it as Open
// does, checking each against the size and EmailID the scan computed.
func parseAll(t testing.TB, data []byte, q Quoting) ([]parsed, error) {
	t.Helper()
	fallback := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
	var out []parsed
	err := scan(context.Background(), bytes.NewReader(data), scanOptions{quoting: q, loc: time.UTC, fallback: fallback}, func(e entry) error {
		r := newUnquoteReader(io.NewSectionReader(bytes.NewReader(data), e.off, e.raw), q, e.raw)
		b, err := io.ReadAll(r)
		if err != nil {
			t.Fatalf("reading message at %d: %v", e.off, err)
		}
		if int64(len(b)) != e.size {
			t.Fatalf("message at %d: scan says %d bytes, reading gives %d: %q", e.off, e.size, len(b), b)
		}
		if id := mailbox.EmailIDOf(b); id != e.id {
			t.Fatalf("message at %d: scan says EmailID %s, the bytes have %s: %q", e.off, e.id.Short(), id.Short(), b)
		}
		if e.off < 0 || e.raw < 0 || e.off+e.raw > int64(len(data)) {
			t.Fatalf("message at %d+%d lies outside the %d bytes", e.off, e.raw, len(data))
		}
		out = append(out, parsed{e, b})
		return nil
	})
	return out, err
}
