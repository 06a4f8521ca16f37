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
// size; it never holds more than one byte of the message. The zero value is
// not usable: call [NewHasher].
type Hasher struct {
	h      hash.Hash
	lastCR bool  // the last byte written was a CR
	n      int64 // raw bytes written
	added  int64 // CRs added by normalisation
}

// NewHasher returns a Hasher for one message.
func NewHasher() *Hasher { return &Hasher{h: sha256.New()} }

// Write adds p to the message. It never fails.
func (h *Hasher) Write(p []byte) (int, error) {
	n := len(p)
	h.n += int64(n)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			h.h.Write(p)
			h.lastCR = p[len(p)-1] == '\r'
			break
		}
		if (i > 0 && p[i-1] == '\r') || (i == 0 && h.lastCR) {
			h.h.Write(p[:i+1])
		} else {
			h.h.Write(p[:i])
			h.h.Write(crlf)
			h.added++
		}
		h.lastCR = false
		p = p[i+1:]
	}
	return n, nil
}

var crlf = []byte("\r\n")

// Size is the number of raw bytes written so far.
func (h *Hasher) Size() int64 { return h.n }

// NormalizedSize is the number of bytes written so far with every line
// ending counted as CRLF: the size an IMAP server reports (RFC822.SIZE).
func (h *Hasher) NormalizedSize() int64 { return h.n + h.added }

// Sum returns the EmailID of the bytes written so far.
func (h *Hasher) Sum() EmailID {
	var id EmailID
	h.h.Sum(id[:0])
	return id
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
