package mbox

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/mailrepl/mailrepl/mailbox"
)

// FormatError reports a file that is not in mbox format: one that does
// not start with a "From " line. It wraps [mailbox.ErrCorrupt]; the store
// wraps it in a [*mailbox.Error] naming the file.
type FormatError struct {
	Offset int64  // where the problem is, in bytes from the file's start
	Found  []byte // the first bytes found there
}

func (e *FormatError) Error() string {
	return fmt.Sprintf("mbox: not an mbox file: byte %d starts %q, want a %q line", e.Offset, e.Found, fromMarker)
}

func (e *FormatError) Unwrap() error { return mailbox.ErrCorrupt }

// entry is one message of an mbox file, as the index keeps it: where its
// bytes are, and what a listing says of it.
type entry struct {
	off   int64 // first byte of the message, after its From line
	raw   int64 // its bytes in the file, escaped, without the separator's blank line
	size  int64 // its bytes as Open returns them, unescaped
	date  int64 // internal date, Unix seconds
	id    mailbox.EmailID
	flags mailbox.Flags

	dated  bool // the date came from the From line
	pseudo bool // the folder's internal data (UW-IMAP, Pine, Dovecot): not listed
}

// scanBufSize is the size of the scanner's read buffer. Lines longer than
// this are read in pieces; only their first piece is looked at for From
// lines, blank lines and status fields.
const scanBufSize = 64 << 10

// scanOptions are what a scan needs besides the bytes.
type scanOptions struct {
	quoting  Quoting
	loc      *time.Location // for From-line dates without a zone
	fallback time.Time      // the date of messages whose From line has none
}

// scanner indexes an mbox stream in one pass: it finds the messages
// (RFC 4155: a "From " line at the start of the file, or after a blank
// line, starts one; that blank line belongs to neither message), and
// computes each one's unescaped size, EmailID and flags as it goes. It
// holds no message: its memory does not grow with the file.
type scanner struct {
	opt scanOptions
	fn  func(entry) error

	off       int64 // file offset of the next byte
	atStart   bool  // the next piece starts a line
	inFrom    bool  // inside a From line longer than the buffer
	pending   int   // length of the blank line held back (0, 1 or 2 bytes)
	inMessage bool  // a From line has been seen
	first     bool  // the current message is the file's first

	cur    entry
	inHead bool // the current message's header has not ended
	end    int64
	uq     unquoter
	hash   *mailbox.Hasher
	status statusFields
	out    []byte
}

// scan reads r to its end and calls fn with each message, in file order.
// It fails with a *FormatError when r does not start with a "From " line
// (an empty r holds no messages), and with ctx's error when ctx ends.
func scan(ctx context.Context, r io.Reader, opt scanOptions, fn func(entry) error) error {
	s := &scanner{opt: opt, fn: fn, atStart: true}
	br := bufio.NewReaderSize(r, scanBufSize)
	for n := 0; ; n++ {
		if n%256 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		seg, err := br.ReadSlice('\n')
		if len(seg) > 0 {
			if perr := s.piece(seg); perr != nil {
				return perr
			}
		}
		switch {
		case err == nil, errors.Is(err, bufio.ErrBufferFull):
		case err == io.EOF:
			return s.finish()
		default:
			return err
		}
	}
}

// piece takes the next piece of the stream: a line with its ending, or a
// part of a long line, or the file's last line without an ending.
func (s *scanner) piece(seg []byte) error {
	lineStart := s.atStart
	s.atStart = seg[len(seg)-1] == '\n'
	start := s.off
	s.off += int64(len(seg))
	if !lineStart {
		if s.inFrom {
			if s.atStart {
				s.inFrom = false
				s.cur.off = s.off
				s.end = s.off
			}
			return nil
		}
		s.content(seg, s.off)
		return nil
	}
	if !s.inMessage && !bytes.HasPrefix(seg, []byte(fromMarker)) {
		found := seg[:min(len(seg), 16)]
		return &FormatError{Offset: start, Found: bytes.Clone(found)}
	}
	if bytes.HasPrefix(seg, []byte(fromMarker)) && (!s.inMessage || s.pending > 0) {
		if s.inMessage {
			if err := s.emit(); err != nil {
				return err
			}
		}
		s.begin(seg)
		return nil
	}
	if isBlank(seg) {
		s.flushPending(start)
		s.pending = len(seg)
		s.inHead = false
		return nil
	}
	s.flushPending(start)
	if s.inHead {
		s.status.line(seg)
	}
	s.content(seg, s.off)
	return nil
}

func isBlank(seg []byte) bool {
	return (len(seg) == 1 && seg[0] == '\n') || (len(seg) == 2 && seg[0] == '\r' && seg[1] == '\n')
}

// begin starts a message at its From line (or the line's first piece).
func (s *scanner) begin(fromLine []byte) {
	s.first = !s.inMessage
	s.inMessage = true
	s.cur = entry{off: s.off}
	if t, ok := parseFromDate(bytes.TrimRight(fromLine, "\r\n"), s.opt.loc); ok {
		s.cur.date, s.cur.dated = t.Unix(), true
	} else {
		s.cur.date = s.opt.fallback.Unix()
	}
	s.end = s.off
	s.inFrom = fromLine[len(fromLine)-1] != '\n'
	s.pending = 0
	s.inHead = true
	s.uq = newUnquoter(s.opt.quoting)
	s.hash = mailbox.NewHasher()
	s.status.reset()
}

// flushPending passes on the blank line held back, which ends at end: a
// line follows it that starts no message, so it belongs to this one.
func (s *scanner) flushPending(end int64) {
	if s.pending == 0 {
		return
	}
	blank := "\r\n"[2-s.pending:]
	s.content([]byte(blank), end)
	s.pending = 0
}

// content adds message bytes b, which end at file offset end. The
// unescaped bytes gather in s.out and go to the hash in long runs.
func (s *scanner) content(b []byte, end int64) {
	s.out = s.uq.feed(s.out, b)
	if len(s.out) >= outFlush {
		s.flushOut()
	}
	s.end = end
}

// outFlush is how many unescaped bytes gather before they are hashed.
const outFlush = 32 << 10

func (s *scanner) flushOut() {
	s.hash.Write(s.out)
	s.cur.size += int64(len(s.out))
	s.out = s.out[:0]
}

// emit ends the current message and hands it on; a blank line held back
// was its separator and is dropped.
func (s *scanner) emit() error {
	s.out = s.uq.flush(s.out)
	s.flushOut()
	s.cur.raw = s.end - s.cur.off
	s.cur.id = s.hash.Sum()
	s.cur.flags = s.status.flags()
	s.cur.pseudo = s.first && s.status.imap
	s.pending = 0
	return s.fn(s.cur)
}

func (s *scanner) finish() error {
	if !s.inMessage {
		return nil
	}
	if s.inFrom {
		// The file ends inside the From line: an empty message.
		s.cur.off, s.end = s.off, s.off
	}
	return s.emit()
}
