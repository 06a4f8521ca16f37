package mailbox

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/emersion/go-message/textproto"
)

// Fingerprint identifies a message by its Message-ID, Date, From and
// Subject header fields and its size: a weaker identity than the EmailID,
// for stores that rewrite a message's bytes (an IMAP server that adds a
// header, converts line endings or re-encodes). Two messages with the same
// Fingerprint are taken to be the same message by the migrate mode.
type Fingerprint [sha256.Size]byte

func (f Fingerprint) String() string { return "fp:" + hex.EncodeToString(f[:8]) }

// IsZero reports whether f is the zero ("not known") Fingerprint.
func (f Fingerprint) IsZero() bool { return f == Fingerprint{} }

// fingerprintFields are the header fields a Fingerprint covers, in order.
var fingerprintFields = []string{"Message-Id", "Date", "From", "Subject"}

// ReadFingerprint reads the header of the message in r  and returns its Fingerprint for a message of size bytes; pass the
// size with CRLF line endings (IMAP RFC822.SIZE), so that stores with LF and
// with CRLF endings agree. Field values are unfolded and trimmed; a missing
// field counts as empty.
func ReadFingerprint(r io.Reader, size int64) (Fingerprint, error) {
	values, _, err := readFingerprintFields(r)
	if err != nil {
		return Fingerprint{}, err
	}
	return fingerprintOf(values, size), nil
}

// ReadIdentity reads a whole message once and returns both its EmailID
// and its Fingerprint, and its size as ReadFingerprint wants it (CRLF
// line endings). A message whose header does not parse has no
// Fingerprint: the error wraps ErrInvalidMessage, and the EmailID is
// still returned.
func ReadIdentity(r io.Reader) (EmailID, Fingerprint, error) {
	h := NewHasher()
	values, br, ferr := readFingerprintFields(io.TeeReader(r, h))
	if br != nil {
		if _, err := io.Copy(io.Discard, br); err != nil {
			return EmailID{}, Fingerprint{}, fmt.Errorf("mailbox: read message: %w", err)
		}
	} else if _, err := io.Copy(h, r); err != nil {
		return EmailID{}, Fingerprint{}, fmt.Errorf("mailbox: read message: %w", err)
	}
	if ferr != nil {
		var er *readError
		if errors.As(ferr, &er) {
			return EmailID{}, Fingerprint{}, ferr
		}
		return h.Sum(), Fingerprint{}, ferr
	}
	return h.Sum(), fingerprintOf(values, h.NormalizedSize()), nil
}

// readError marks a fingerprint's failure to read, as opposed to a
// header that does not parse.
type readError struct{ err error }

func (e *readError) Error() string { return "mailbox: fingerprint: read header: " + e.err.Error() }
func (e *readError) Unwrap() error { return e.err }

// readFingerprintFields reads the header of the message in r and returns
// the values of the fields a Fingerprint covers, and the reader the rest
// of the message can be read from (nil when the header did not parse).
func readFingerprintFields(r io.Reader) ([]string, *bufio.Reader, error) {
	er := &errReader{r: r}
	br := bufio.NewReader(er)
	// A message kept in mbox style starts with a "From " envelope line
	// that is not a header field: skip it.
	if peek, _ := br.Peek(5); string(peek) == "From " {
		if _, err := br.ReadSlice('\n'); err != nil && err != bufio.ErrBufferFull {
			if er.err != nil {
				return nil, nil, &readError{er.err}
			}
			return nil, br, fmt.Errorf("%w: header: only an mbox From line", ErrInvalidMessage)
		}
	}
	hdr, err := textproto.ReadHeader(br)
	if er.err != nil {
		return nil, nil, &readError{er.err}
	}
	if err != nil {
		return nil, br, fmt.Errorf("%w: header: %v", ErrInvalidMessage, err)
	}
	values := make([]string, len(fingerprintFields))
	for i, k := range fingerprintFields {
		values[i] = strings.Join(strings.Fields(hdr.Get(k)), " ")
	}
	return values, br, nil
}

// fingerprintOf is the Fingerprint of a message whose covered fields have
// values and whose size (CRLF line endings) is size.
func fingerprintOf(values []string, size int64) Fingerprint {
	h := sha256.New()
	for i, k := range fingerprintFields {
		h.Write([]byte(k))
		h.Write([]byte{0})
		h.Write([]byte(values[i]))
		h.Write([]byte{0})
	}
	h.Write([]byte(strconv.FormatInt(size, 10)))
	var fp Fingerprint
	h.Sum(fp[:0])
	return fp
}

// errReader remembers the first error, other than io.EOF, of the reader it
// wraps, so that a failing reader is told apart from a malformed header.
type errReader struct {
	r   io.Reader
	err error
}

func (e *errReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil && err != io.EOF && e.err == nil {
		e.err = err
	}
	return n, err
}
