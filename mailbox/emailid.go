package mailbox

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
)

// EmailID is a message's identity across stores: the SHA-256 of its raw
// bytes with every line ending written as CRLF. A Maildir file (LF endings)
// and the same message fetched over IMAP (CRLF) have the same EmailID.
// The zero value means "not known".
//
// Normalisation adds a CR before every LF that lacks one. It changes no
// other byte: a CR not followed by LF stays as it is, and so does a final
// line without an ending.
type EmailID [sha256.Size]byte

// emailIDPrefix starts the text form, so an EmailID cannot be mistaken for
// another hex string in a log or a file.
const emailIDPrefix = "sha256:"

// IsZero reports whether id is the zero ("not known") EmailID.
func (id EmailID) IsZero() bool { return id == EmailID{} }

// String returns the text form "sha256:" followed by 64 lower-case hex
// digits; [ParseEmailID] reads it back.
func (id EmailID) String() string { return emailIDPrefix + hex.EncodeToString(id[:]) }

// Short returns the first 12 hex digits, for messages meant for people.
func (id EmailID) Short() string { return hex.EncodeToString(id[:6]) }

// MarshalText implements encoding.TextMarshaler.
func (id EmailID) MarshalText() ([]byte, error) { return []byte(id.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (id *EmailID) UnmarshalText(b []byte) error {
	v, err := ParseEmailID(string(b))
	if err != nil {
		return err
	}
	*id = v
	return nil
}

// ParseEmailID parses the text form of an EmailID. It accepts the 64 hex
// digits with or without the "sha256:" prefix, in either case.
func ParseEmailID(s string) (EmailID, error) {
	h := s
	if len(h) >= len(emailIDPrefix) && h[:len(emailIDPrefix)] == emailIDPrefix {
		h = h[len(emailIDPrefix):]
	}
	var id EmailID
	if len(h) != hex.EncodedLen(len(id)) {
		return EmailID{}, fmt.Errorf("mailbox: invalid EmailID %q: want 64 hex digits", s)
	}
	if _, err := hex.Decode(id[:], []byte(h)); err != nil {
		return EmailID{}, fmt.Errorf("mailbox: invalid EmailID %q: %v", s, err)
	}
	return id, nil
}

// Hasher computes an EmailID from a message written to it in pieces of any
// size; between writes it holds no byte of the message, only whether the
// last one was a CR. The zero value is not usable: call [NewHasher].
type Hasher struct {
	h      hash.Hash
	lastCR bool  // the last byte written was a CR
	n      int64 // raw bytes written
	added  int64 // CRs added by normalisation

	// buf gathers short runs of a message with the CRs added between
	// them, so that the hash gets long writes even when every line needs
	// a CR. It is empty between calls to Write.
	buf  [hasherBufSize]byte
	nbuf int
}

const hasherBufSize = 512

// NewHasher returns a Hasher for one message.
func NewHasher() *Hasher { return &Hasher{h: sha256.New()} }

// Write adds p to the message. It never fails.
func (h *Hasher) Write(p []byte) (int, error) {
	n := len(p)
	if n == 0 {
		return 0, nil
	}
	h.n += int64(n)
	start := 0 // p[:start] has been passed on
	for i := 0; ; i++ {
		j := bytes.IndexByte(p[i:], '\n')
		if j < 0 {
			break
		}
		i += j
		if (i > 0 && p[i-1] != '\r') || (i == 0 && !h.lastCR) {
			// A bare LF: pass on the run before it and a CR; the LF
			// starts the next run.
			if run := p[start:i]; h.nbuf+len(run) < len(h.buf) {
				h.nbuf += copy(h.buf[h.nbuf:], run)
			} else {
				h.emit(run)
				if h.nbuf == len(h.buf) {
					h.flush()
				}
			}
			h.buf[h.nbuf] = '\r'
			h.nbuf++
			h.added++
			start = i
		}
	}
	h.emit(p[start:])
	h.flush()
	h.lastCR = p[n-1] == '\r'
	return n, nil
}

// emit passes b on to the hash, through buf when b is short.
func (h *Hasher) emit(b []byte) {
	if h.nbuf+len(b) > len(h.buf) {
		h.flush()
		if len(b) >= len(h.buf)/2 {
			h.h.Write(b)
			return
		}
	}
	h.nbuf += copy(h.buf[h.nbuf:], b)
}

func (h *Hasher) flush() {
	if h.nbuf > 0 {
		h.h.Write(h.buf[:h.nbuf])
		h.nbuf = 0
	}
}

// Size is the number of raw bytes written so far.
func (h *Hasher) Size() int64 { return h.n }

// NormalizedSize is the number of bytes written so far with every line
// ending counted as CRLF: the size an IMAP server reports (RFC822.SIZE).
func (h *Hasher) NormalizedSize() int64 { return h.n + h.added }

// Sum returns the EmailID of the bytes written so far.
func (h *Hasher) Sum() EmailID {
	// buf is empty between writes: use it so that Sum does not allocate.
	return EmailID(h.h.Sum(h.buf[:0]))
}

// ComputeEmailID reads r to its end and returns the message's EmailID and
// raw size.
func ComputeEmailID(r io.Reader) (EmailID, int64, error) {
	h := NewHasher()
	n, err := io.Copy(h, r)
	if err != nil {
		return EmailID{}, n, err
	}
	return h.Sum(), n, nil
}

// EmailIDOf returns the EmailID of a message held in memory.
func EmailIDOf(msg []byte) EmailID {
	h := NewHasher()
	h.Write(msg)
	return h.Sum()
}

// ErrEmailIDMismatch is wrapped (with [ErrCorrupt]) by the error a
// [VerifyingReader] returns when the bytes it read do not have the EmailID
// expected of them.
var ErrEmailIDMismatch = errors.New("mailbox: EmailID mismatch")

// VerifyingReader passes a message through while computing its EmailID and
// size. At the end it compares them with what is expected: on a mismatch
// it returns an error instead of io.EOF, so whoever copies the message
// (an Append) fails instead of storing a damaged copy.
type VerifyingReader struct {
	r        io.Reader
	h        *Hasher
	want     EmailID // zero: do not check
	wantSize int64   // negative: do not check
}

// NewVerifyingReader reads r, expecting a message with EmailID want (zero:
// not checked) and size wantSize (negative: not checked).
func NewVerifyingReader(r io.Reader, want EmailID, wantSize int64) *VerifyingReader {
	return &VerifyingReader{r: r, h: NewHasher(), want: want, wantSize: wantSize}
}

func (v *VerifyingReader) Read(p []byte) (int, error) {
	n, err := v.r.Read(p)
	v.h.Write(p[:n])
	if err == io.EOF {
		if v.wantSize >= 0 && v.h.Size() != v.wantSize {
			return n, fmt.Errorf("%w: %w: read %d bytes, want %d", ErrCorrupt, ErrEmailIDMismatch, v.h.Size(), v.wantSize)
		}
		if got := v.h.Sum(); !v.want.IsZero() && got != v.want {
			return n, fmt.Errorf("%w: %w: body has %s, want %s", ErrCorrupt, ErrEmailIDMismatch, got.Short(), v.want.Short())
		}
	}
	return n, err
}

// Sum is the EmailID of the bytes read so far.
func (v *VerifyingReader) Sum() EmailID { return v.h.Sum() }

// Size is the number of bytes read so far.
func (v *VerifyingReader) Size() int64 { return v.h.Size() }
