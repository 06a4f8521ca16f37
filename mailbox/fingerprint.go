package mailbox

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
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
	er := &errReader{r: r}
	br := bufio.NewReader(er)
	// A message kept in mbox style starts with a "From " envelope line
	// that is not a header field: skip it.
	if peek, _ := br.Peek(5); string(peek) == "From " {
		if _, err := br.ReadSlice('\n'); err != nil && err != bufio.ErrBufferFull {
			if er.err != nil {
				return Fingerprint{}, fmt.Errorf("mailbox: fingerprint: read header: %w", er.err)
			}
			return Fingerprint{}, fmt.Errorf("%w: header: only an mbox From line", ErrInvalidMessage)
		}
	}
	hdr, err := textproto.ReadHeader(br)
	if er.err != nil {
		return Fingerprint{}, fmt.Errorf("mailbox: fingerprint: read header: %w", er.err)
	}
	if err != nil {
		return Fingerprint{}, fmt.Errorf("%w: header: %v", ErrInvalidMessage, err)
	}
	h := sha256.New()
	for _, k := range fingerprintFields {
		v := hdr.Get(k)
		v = strings.Join(strings.Fields(v), " ")
		h.Write([]byte(k))
		h.Write([]byte{0})
		h.Write([]byte(v))
		h.Write([]byte{0})
	}
	h.Write([]byte(strconv.FormatInt(size, 10)))
	var fp Fingerprint
	h.Sum(fp[:0])
	return fp, nil
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
