package mbox

import (
	"bytes"
	"io"
	"strconv"
)

// Quoting says how a message's own "From " lines were escaped when it was
// written into the mbox file, and so how they are unescaped on reading.
type Quoting int

const (
	// MboxRD (the default): every line that starts with zero or more '>'
	// and then "From " got one more '>'; reading takes one away from
	// every line that starts with one or more '>' and then "From ". It
	// is exact: what was written comes back byte for byte.
	MboxRD Quoting = iota
	// MboxO: only lines starting with "From " got a '>'; reading takes
	// the '>' away from lines starting with exactly ">From ". It is
	// ambiguous: a message line that read ">From " before it was written
	// comes back as "From ". Files written by old MTAs and MUAs are
	// mboxo, but since their messages rarely hold ">From " lines of their
	// own, MboxRD reads them as well, and better for the lines ">>From ".
	MboxO
	// Raw leaves every line as it is in the file (mboxcl2, or a file
	// whose writer escaped nothing).
	Raw
)

func (q Quoting) String() string {
	switch q {
	case MboxRD:
		return "mboxrd"
	case MboxO:
		return "mboxo"
	case Raw:
		return "raw"
	}
	return "Quoting(" + strconv.Itoa(int(q)) + ")"
}

// The states of an unquoter.
const (
	uqLineStart = iota // at the start of a line
	uqMid              // inside a line that is passed as it is
	uqGT               // held back the first '>' of a line (MboxO: and seen nothing else)
	uqMatch            // held back the first '>' and matched k bytes of "From "
)

const fromMarker = "From "

// unquoter undoes the escaping of "From " lines in a stream of message
// bytes that starts at the start of a line. It works on pieces of any
// size and holds back at most ">From" (5 bytes) between them.
//
// A line ">>>From " loses its first '>'; since every withheld byte is a
// '>', the unquoter passes the later '>'s on at once and emits the first
// one (or not) when the line has shown whether it is quoted: the output
// is the same.
type unquoter struct {
	q     Quoting
	state int
	k     int // bytes of "From " matched, in uqMatch
}

func newUnquoter(q Quoting) unquoter { return unquoter{q: q} }

// feed appends to dst the unescaped form of src and returns it.
func (u *unquoter) feed(dst, src []byte) []byte {
	if u.q == Raw {
		return append(dst, src...)
	}
	for i := 0; i < len(src); {
		c := src[i]
		switch u.state {
		case uqLineStart:
			if c == '>' {
				u.state = uqGT
				i++
				continue
			}
			u.state = uqMid
			// handled as uqMid below, without consuming c here
			fallthrough
		case uqMid:
			j := bytes.IndexByte(src[i:], '\n')
			if j < 0 {
				return append(dst, src[i:]...)
			}
			dst = append(dst, src[i:i+j+1]...)
			i += j + 1
			u.state = uqLineStart
		case uqGT:
			switch {
			case c == '>' && u.q == MboxRD:
				dst = append(dst, '>') // one of the '>'s that stay
				i++
			case c == 'F':
				u.state, u.k = uqMatch, 1
				i++
			default:
				dst = append(dst, '>')
				u.state = uqMid
			}
		case uqMatch:
			if c == fromMarker[u.k] {
				u.k++
				i++
				if u.k == len(fromMarker) {
					dst = append(dst, fromMarker...) // the held '>' is dropped
					u.state = uqMid
				}
				continue
			}
			dst = append(dst, '>')
			dst = append(dst, fromMarker[:u.k]...)
			u.state = uqMid
		}
	}
	return dst
}

// flush appends what the unquoter holds back at the end of the message.
func (u *unquoter) flush(dst []byte) []byte {
	switch u.state {
	case uqGT:
		dst = append(dst, '>')
	case uqMatch:
		dst = append(dst, '>')
		dst = append(dst, fromMarker[:u.k]...)
	}
	u.state = uqLineStart
	return dst
}

// unquoteReader reads a message's bytes from the file through an
// unquoter.
type unquoteReader struct {
	r   io.Reader
	u   unquoter
	in  []byte
	out []byte // unescaped bytes not yet returned
	pos int
	err error // from r, returned once out is drained
}

// newUnquoteReader reads r through an unquoter; sizeHint, the bytes r
// holds if known (else 0), keeps buffers small for small messages.
func newUnquoteReader(r io.Reader, q Quoting, sizeHint int64) *unquoteReader {
	n := int64(32 << 10)
	if sizeHint > 0 && sizeHint < n {
		n = max(sizeHint, 512)
	}
	return &unquoteReader{r: r, u: newUnquoter(q), in: make([]byte, n)}
}

func (r *unquoteReader) Read(p []byte) (int, error) {
	for r.pos == len(r.out) {
		if r.err != nil {
			return 0, r.err
		}
		n, err := r.r.Read(r.in)
		r.out, r.pos = r.u.feed(r.out[:0], r.in[:n]), 0
		if err != nil {
			if err == io.EOF {
				r.out = r.u.flush(r.out)
			}
			r.err = err
		}
	}
	n := copy(p, r.out[r.pos:])
	r.pos += n
	return n, nil
}
