package mailbox

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"
	"time"
)

var seedFlag = flag.Uint64("seed", 0, "seed of the randomized tests (0: from the clock)")

// newRand returns a PRNG seeded from -seed or the clock, and logs the seed
// so that a failure can be replayed with -seed.
func newRand(t *testing.T) *rand.Rand {
	t.Helper()
	seed := *seedFlag
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("seed %d (replay with -seed=%d)", seed, seed)
	return rand.New(rand.NewPCG(seed, 0))
}

// refNormalize is the reference normalisation, written as plainly as
// possible: a CR goes before every LF that lacks one.
func refNormalize(msg []byte) []byte {
	var out []byte
	for i, c := range msg {
		if c == '\n' && (i == 0 || msg[i-1] != '\r') {
			out = append(out, '\r')
		}
		out = append(out, c)
	}
	return out
}

func refEmailID(msg []byte) EmailID { return EmailID(sha256.Sum256(refNormalize(msg))) }

// toLF turns every CRLF into LF, as a Maildir copy stores a message.
func toLF(msg []byte) []byte { return bytes.ReplaceAll(msg, []byte("\r\n"), []byte("\n")) }

func TestEmailIDText(t *testing.T) {
	id := EmailIDOf([]byte("Subject: hi\r\n\r\nhello\r\n"))
	s := id.String()
	if !strings.HasPrefix(s, "sha256:") || len(s) != 7+64 || strings.ToLower(s) != s {
		t.Fatalf("String() = %q, want sha256: and 64 lower-case hex digits", s)
	}
	if id.Short() != s[7:19] {
		t.Errorf("Short() = %q, want %q", id.Short(), s[7:19])
	}
	for _, in := range []string{s, s[7:], strings.ToUpper(s[7:]), "sha256:" + strings.ToUpper(s[7:])} {
		got, err := ParseEmailID(in)
		if err != nil || got != id {
			t.Errorf("ParseEmailID(%q) = %v, %v; want %v", in, got, err, id)
		}
	}
	b, err := id.MarshalText()
	if err != nil || string(b) != s {
		t.Errorf("MarshalText() = %q, %v", b, err)
	}
	var back EmailID
	if err := back.UnmarshalText(b); err != nil || back != id {
		t.Errorf("UnmarshalText(%q) = %v, %v", b, back, err)
	}
	j, err := json.Marshal(map[string]EmailID{"id": id})
	if err != nil || string(j) != `{"id":"`+s+`"}` {
		t.Errorf("json.Marshal = %s, %v", j, err)
	}
	if id.IsZero() || !(EmailID{}).IsZero() {
		t.Error("IsZero is wrong")
	}
	zero := EmailID{}
	if got, err := ParseEmailID(zero.String()); err != nil || !got.IsZero() {
		t.Errorf("zero EmailID does not round-trip: %v, %v", got, err)
	}
}

func TestParseEmailIDErrors(t *testing.T) {
	hex64 := strings.Repeat("ab", 32)
	for _, in := range []string{
		"",
		"sha256:",
		"sha256",
		hex64[:63],
		hex64 + "a",
		hex64 + "ab",
		"sha256:" + hex64[:62],
		"sha256:" + hex64 + "00",
		"sha256:sha256:" + hex64,
		"md5:" + hex64,
		strings.Repeat("zz", 32),
		"sha256:" + strings.Repeat("g", 64),
		" " + hex64[:63],
		hex64[:63] + "\n",
		strings.Repeat("é", 32),
	} {
		var id EmailID
		got, err := ParseEmailID(in)
		if err == nil {
			t.Errorf("ParseEmailID(%q) = %v, want an error", in, got)
			continue
		}
		if !got.IsZero() {
			t.Errorf("ParseEmailID(%q) = %v with the error", in, got)
		}
		if !strings.HasPrefix(err.Error(), "mailbox: invalid EmailID "+strconv.Quote(in)) {
			t.Errorf("ParseEmailID(%q) = %q, want it to quote the input", in, err)
		}
		id[0] = 1
		if err := id.UnmarshalText([]byte(in)); err == nil || id[0] != 1 {
			t.Errorf("UnmarshalText(%q) = %v, value now %v", in, err, id)
		}
	}
}

func TestHasherNormalisation(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"empty", "", ""},
		{"no line ending", "abc", "abc"},
		{"LF", "\n", "\r\n"},
		{"CRLF", "\r\n", "\r\n"},
		{"bare CR kept", "\r", "\r"},
		{"bare CR inside", "a\rb", "a\rb"},
		{"CR CR LF", "\r\r\n", "\r\r\n"},
		{"LF LF", "\n\n", "\r\n\r\n"},
		{"LF CR", "a\n\rb", "a\r\n\rb"},
		{"CRLF LF", "\r\n\n", "\r\n\r\n"},
		{"LF CRLF", "\n\r\n", "\r\n\r\n"},
		{"mixed", "a\r\nb\nc\rd\n", "a\r\nb\r\nc\rd\r\n"},
		{"final CR", "a\nb\r", "a\r\nb\r"},
		{"NUL and 8-bit", "\x00\xff\n\x80", "\x00\xff\r\n\x80"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := string(refNormalize([]byte(tc.in))); got != tc.want {
				t.Fatalf("reference: %q, want %q", got, tc.want)
			}
			want := EmailID(sha256.Sum256([]byte(tc.want)))
			h := NewHasher()
			n, err := h.Write([]byte(tc.in))
			if n != len(tc.in) || err != nil {
				t.Errorf("Write = %d, %v", n, err)
			}
			if got := h.Sum(); got != want {
				t.Errorf("EmailID(%q) = %v, want sha256(%q) = %v", tc.in, got, tc.want, want)
			}
			if h.Size() != int64(len(tc.in)) || h.NormalizedSize() != int64(len(tc.want)) {
				t.Errorf("Size, NormalizedSize = %d, %d; want %d, %d", h.Size(), h.NormalizedSize(), len(tc.in), len(tc.want))
			}
			if got := EmailIDOf([]byte(tc.in)); got != want {
				t.Errorf("EmailIDOf(%q) = %v, want %v", tc.in, got, want)
			}
			got, size, err := ComputeEmailID(iotest.OneByteReader(strings.NewReader(tc.in)))
			if err != nil || got != want || size != int64(len(tc.in)) {
				t.Errorf("ComputeEmailID(%q) = %v, %d, %v; want %v, %d", tc.in, got, size, err, want, len(tc.in))
			}
		})
	}
}

func TestHasherLFAndCRLFAgree(t *testing.T) {
	crlf := []byte("From: a@example.org\r\nSubject: x\r\n\r\nline 1\r\nline 2\r\n")
	lf := toLF(crlf)
	if EmailIDOf(lf) != EmailIDOf(crlf) {
		t.Errorf("LF and CRLF copies differ: %v, %v", EmailIDOf(lf), EmailIDOf(crlf))
	}
	if EmailIDOf(crlf) != EmailID(sha256.Sum256(crlf)) {
		t.Error("the EmailID of a CRLF message is not its SHA-256")
	}
	h := NewHasher()
	h.Write(lf)
	if h.NormalizedSize() != int64(len(crlf)) || h.Size() != int64(len(lf)) {
		t.Errorf("NormalizedSize, Size = %d, %d; want %d, %d", h.NormalizedSize(), h.Size(), len(crlf), len(lf))
	}
	// A bare CR is data: a message with one differs from one without.
	if EmailIDOf([]byte("a\rb\n")) == EmailIDOf([]byte("ab\n")) || EmailIDOf([]byte("a\r")) == EmailIDOf([]byte("a\r\n")) {
		t.Error("a bare CR was dropped or turned into a line ending")
	}
}

func TestHasherSplitWrites(t *testing.T) {
	tests := []struct {
		name   string
		writes []string
		want   string // normalised
	}{
		{"CR then LF", []string{"a\r", "\nb"}, "a\r\nb"},
		{"CR, empty write, LF", []string{"a\r", "", "\nb"}, "a\r\nb"},
		{"CR, CR then LF", []string{"\r", "\r\n"}, "\r\r\n"},
		{"CR then CR", []string{"\r", "\r"}, "\r\r"},
		{"LF then LF", []string{"a\n", "\n"}, "a\r\n\r\n"},
		{"CRLF then LF", []string{"a\r\n", "\n"}, "a\r\n\r\n"},
		{"text then LF", []string{"a", "\n"}, "a\r\n"},
		{"CR then text then LF", []string{"\r", "a", "\n"}, "\ra\r\n"},
		{"single bytes", []string{"a", "\r", "\n", "\n", "\r"}, "a\r\n\r\n\r"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := NewHasher()
			for _, w := range tc.writes {
				h.Write([]byte(w))
			}
			if got, want := h.Sum(), EmailID(sha256.Sum256([]byte(tc.want))); got != want {
				t.Errorf("writes %q: EmailID %v, want sha256(%q)", tc.writes, got.Short(), tc.want)
			}
			if h.NormalizedSize() != int64(len(tc.want)) {
				t.Errorf("writes %q: NormalizedSize %d, want %d", tc.writes, h.NormalizedSize(), len(tc.want))
			}
		})
	}
}

// Sum does not end the message: more writes may follow.
func TestHasherSumMidway(t *testing.T) {
	h := NewHasher()
	h.Write([]byte("a\n"))
	if h.Sum() != EmailIDOf([]byte("a\n")) {
		t.Error("Sum midway is not the EmailID of the bytes so far")
	}
	h.Write([]byte("b\n"))
	if h.Sum() != EmailIDOf([]byte("a\nb\n")) {
		t.Error("Sum changed the Hasher's state")
	}
}

// randMessage returns bytes rich in line-ending corner cases.
func randMessage(r *rand.Rand, n int) []byte {
	const alphabet = "\r\n\r\nab \x00\xff"
	msg := make([]byte, n)
	for i := range msg {
		msg[i] = alphabet[r.IntN(len(alphabet))]
	}
	return msg
}

// writeSplit writes msg to h in pieces cut at random points.
func writeSplit(r *rand.Rand, h io.Writer, msg []byte) {
	for len(msg) > 0 {
		n := r.IntN(min(len(msg), 9) + 1) // zero-length writes too
		h.Write(msg[:n])
		msg = msg[n:]
	}
}

// TestHasherAnySplit: however a message is cut into writes, the EmailID and
// the sizes are those of the reference normalisation.
func TestHasherAnySplit(t *testing.T) {
	r := newRand(t)
	for i := range 3000 {
		msg := randMessage(r, r.IntN(64))
		want := refEmailID(msg)
		h := NewHasher()
		writeSplit(r, h, msg)
		if got := h.Sum(); got != want {
			t.Fatalf("case %d: %q: EmailID %v, want %v", i, msg, got.Short(), want.Short())
		}
		if h.Size() != int64(len(msg)) || h.NormalizedSize() != int64(len(refNormalize(msg))) {
			t.Fatalf("case %d: %q: sizes %d, %d", i, msg, h.Size(), h.NormalizedSize())
		}
	}
	// Every cut of a short message into two and three writes.
	msg := []byte("\r\na\n\r\r\n\nb\r")
	want := refEmailID(msg)
	for i := 0; i <= len(msg); i++ {
		for j := i; j <= len(msg); j++ {
			h := NewHasher()
			h.Write(msg[:i])
			h.Write(msg[i:j])
			h.Write(msg[j:])
			if h.Sum() != want {
				t.Fatalf("cut at %d, %d: EmailID differs", i, j)
			}
		}
	}
}

// randLines returns a message of lines of any length up to past the
// Hasher's buffer, each ended by LF, CRLF, a bare CR or nothing.
func randLines(r *rand.Rand, lines int) []byte {
	var msg []byte
	for range lines {
		n := r.IntN(700)
		if r.IntN(2) == 0 {
			n = r.IntN(80)
		}
		for range n {
			msg = append(msg, 'a'+byte(r.IntN(26)))
		}
		msg = append(msg, []string{"\n", "\n", "\r\n", "\r", ""}[r.IntN(5)]...)
	}
	return msg
}

// TestHasherLongRuns: messages with short and long lines, written in
// pieces of up to a few KB, so that runs fill, overflow and bypass the
// Hasher's buffer at every offset.
func TestHasherLongRuns(t *testing.T) {
	r := newRand(t)
	for i := range 400 {
		msg := randLines(r, 1+r.IntN(40))
		want := refEmailID(msg)
		h := NewHasher()
		for p := msg; len(p) > 0; {
			n := min(len(p), 1+r.IntN(3000))
			h.Write(p[:n])
			p = p[n:]
		}
		if got := h.Sum(); got != want {
			t.Fatalf("case %d (%d bytes): EmailID %v, want %v", i, len(msg), got.Short(), want.Short())
		}
		if h.NormalizedSize() != int64(len(refNormalize(msg))) {
			t.Fatalf("case %d: NormalizedSize %d, want %d", i, h.NormalizedSize(), len(refNormalize(msg)))
		}
	}
	// Lines of every length around the buffer's size, all LF.
	for n := hasherBufSize - 3; n <= hasherBufSize+3; n++ {
		for _, half := range []int{hasherBufSize/2 - 1, hasherBufSize / 2} {
			line := append(bytes.Repeat([]byte("x"), n), '\n')
			short := append(bytes.Repeat([]byte("y"), half), '\n')
			msg := bytes.Join([][]byte{short, line, short, short, line, line, short}, nil)
			if got, want := EmailIDOf(msg), refEmailID(msg); got != want {
				t.Errorf("lines of %d and %d bytes: EmailID %v, want %v", n, half, got.Short(), want.Short())
			}
		}
	}
}

func TestComputeEmailIDReadError(t *testing.T) {
	boom := errors.New("boom")
	r := io.MultiReader(strings.NewReader("abc\n"), iotest.ErrReader(boom))
	id, n, err := ComputeEmailID(r)
	if !errors.Is(err, boom) || !id.IsZero() || n != 4 {
		t.Errorf("ComputeEmailID = %v, %d, %v; want zero, 4, boom", id, n, err)
	}
}

func TestVerifyingReader(t *testing.T) {
	msg := []byte("Subject: x\n\nbody\n")
	id := EmailIDOf(msg)
	other := EmailIDOf([]byte("other"))
	size := int64(len(msg))
	tests := []struct {
		name     string
		want     EmailID
		wantSize int64
		bad      bool
		msg      string
	}{
		{"both right", id, size, false, ""},
		{"EmailID unchecked", EmailID{}, size, false, ""},
		{"size unchecked", id, -1, false, ""},
		{"nothing checked", EmailID{}, -1, false, ""},
		{"wrong EmailID", other, size, true, "body has " + id.Short() + ", want " + other.Short()},
		{"wrong EmailID, size unchecked", other, -1, true, "body has"},
		{"too short", id, size + 1, true, fmt.Sprintf("read %d bytes, want %d", size, size+1)},
		{"too long", id, size - 1, true, "read"},
		{"CRLF size of an LF body", id, size + 3, true, "read"},
		{"zero size is checked", EmailID{}, 0, true, "want 0"},
	}
	readers := map[string]func([]byte) io.Reader{
		"plain":    func(b []byte) io.Reader { return bytes.NewReader(b) },
		"one byte": func(b []byte) io.Reader { return iotest.OneByteReader(bytes.NewReader(b)) },
		"data+EOF": func(b []byte) io.Reader { return iotest.DataErrReader(bytes.NewReader(b)) },
	}
	for _, tc := range tests {
		for rname, mk := range readers {
			t.Run(tc.name+"/"+rname, func(t *testing.T) {
				v := NewVerifyingReader(mk(msg), tc.want, tc.wantSize)
				got, err := io.ReadAll(v)
				if !bytes.Equal(got, msg) {
					t.Errorf("read %q, want %q", got, msg)
				}
				if v.Sum() != id || v.Size() != size {
					t.Errorf("Sum, Size = %v, %d; want %v, %d", v.Sum().Short(), v.Size(), id.Short(), size)
				}
				if !tc.bad {
					if err != nil {
						t.Errorf("ReadAll: %v", err)
					}
					return
				}
				if !errors.Is(err, ErrCorrupt) || !errors.Is(err, ErrEmailIDMismatch) {
					t.Fatalf("ReadAll error %v, want ErrCorrupt and ErrEmailIDMismatch", err)
				}
				if !strings.Contains(err.Error(), tc.msg) {
					t.Errorf("error %q, want it to say %q", err, tc.msg)
				}
				// A copy loop that reads once more keeps failing.
				if _, err2 := v.Read(make([]byte, 8)); !errors.Is(err2, ErrEmailIDMismatch) {
					t.Errorf("Read after the mismatch = %v", err2)
				}
			})
		}
	}
}

func TestVerifyingReaderEmpty(t *testing.T) {
	empty := EmailIDOf(nil)
	v := NewVerifyingReader(strings.NewReader(""), empty, 0)
	if b, err := io.ReadAll(v); err != nil || len(b) != 0 {
		t.Errorf("empty message: %q, %v", b, err)
	}
	v = NewVerifyingReader(strings.NewReader(""), EmailIDOf([]byte("x")), -1)
	if _, err := io.ReadAll(v); !errors.Is(err, ErrEmailIDMismatch) {
		t.Errorf("empty body, other EmailID: %v", err)
	}
}

// An error from the underlying reader comes through as it is, and is not
// taken for a mismatch.
func TestVerifyingReaderPassesErrors(t *testing.T) {
	boom := errors.New("boom")
	r := io.MultiReader(strings.NewReader("abc"), iotest.ErrReader(boom))
	v := NewVerifyingReader(r, EmailIDOf([]byte("abc")), 3)
	_, err := io.ReadAll(v)
	if !errors.Is(err, boom) || errors.Is(err, ErrCorrupt) {
		t.Errorf("ReadAll = %v, want boom alone", err)
	}
}

func TestVerifyingReaderLFCopyOfCRLF(t *testing.T) {
	// The EmailID of a CRLF original verifies its LF copy: only the size
	// tells the raw bytes apart.
	crlf := []byte("A: b\r\n\r\nc\r\n")
	lf := toLF(crlf)
	v := NewVerifyingReader(bytes.NewReader(lf), EmailIDOf(crlf), int64(len(lf)))
	if _, err := io.ReadAll(v); err != nil {
		t.Errorf("LF copy against the CRLF EmailID: %v", err)
	}
}

// FuzzEmailID compares the streaming Hasher, fed in random pieces, with the
// reference normalisation. The seed corpus is in testdata/fuzz/FuzzEmailID.
func FuzzEmailID(f *testing.F) {
	f.Add([]byte("Subject: x\r\n\r\nbody\n"), uint64(1))
	f.Add([]byte("\r\r\n\n\r"), uint64(2))
	f.Fuzz(func(t *testing.T, msg []byte, seed uint64) {
		want := refEmailID(msg)
		if got := EmailIDOf(msg); got != want {
			t.Fatalf("EmailIDOf(%q) = %v, want %v", msg, got.Short(), want.Short())
		}
		h := NewHasher()
		writeSplit(rand.New(rand.NewPCG(seed, 0)), h, msg)
		if got := h.Sum(); got != want {
			t.Fatalf("split writes of %q (seed %d): %v, want %v", msg, seed, got.Short(), want.Short())
		}
		if h.Size() != int64(len(msg)) || h.NormalizedSize() != int64(len(refNormalize(msg))) {
			t.Fatalf("sizes of %q: %d, %d", msg, h.Size(), h.NormalizedSize())
		}
		if lf := toLF(msg); !bytes.Contains(msg, []byte("\r\r\n")) && EmailIDOf(lf) != want {
			t.Fatalf("the LF form of %q has another EmailID", msg)
		}
		v := NewVerifyingReader(bytes.NewReader(msg), want, int64(len(msg)))
		if got, err := io.ReadAll(v); err != nil || !bytes.Equal(got, msg) {
			t.Fatalf("VerifyingReader(%q) = %q, %v", msg, got, err)
		}
	})
}
