package mailbox

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mailrepl/mailrepl/internal/corpora"
)

// corpusMessage is one real message and where it came from.
type corpusMessage struct {
	path string
	raw  []byte
	mbox bool // starts with an mbox "From " line
}

// realCorpora are the real mail the tests read: the repository's
// spamassassin-ham, and the notmuch test corpora where they are found (a
// subtest that is NOT RUN otherwise, see internal/corpora).
var realCorpora = []string{"spamassassin-ham", "notmuch"}

// realMail returns every message of one corpus: the .eml files of the
// repository's spamassassin-ham, or the files in cur/ and new/ of the
// Maildir trees under notmuch/test/corpora.
func realMail(t *testing.T, corpus string) []corpusMessage {
	t.Helper()
	var paths []string
	switch corpus {
	case "spamassassin-ham":
		eml, err := filepath.Glob(filepath.Join(corpora.Ham(t), "*.eml"))
		if err != nil {
			t.Fatal(err)
		}
		if len(eml) != corpora.HamMessages {
			t.Fatalf("found %d spamassassin messages, want %d", len(eml), corpora.HamMessages)
		}
		paths = eml
	case "notmuch":
		notmuch := corpora.Notmuch(t)
		err := filepath.WalkDir(notmuch, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if parent := filepath.Base(filepath.Dir(p)); d.Type().IsRegular() && (parent == "cur" || parent == "new") {
				paths = append(paths, p)
			}
			return nil
		})
		if err != nil {
			t.Fatalf("walk %s: %v", notmuch, err)
		}
		if len(paths) == 0 {
			t.Fatalf("%s: no notmuch messages", notmuch)
		}
	default:
		t.Fatalf("no corpus %q", corpus)
	}
	t.Logf("%d messages from %s", len(paths), corpus)
	msgs := make([]corpusMessage, 0, len(paths))
	for _, p := range paths {
		raw, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, corpusMessage{path: p, raw: raw, mbox: bytes.HasPrefix(raw, []byte("From "))})
	}
	return msgs
}

// TestRealMailEmailID: on every real message, the LF and the CRLF forms
// have one EmailID, the streaming Hasher agrees with the reference
// normalisation however the message is cut, ComputeEmailID agrees with
// EmailIDOf, and a VerifyingReader passes the file.
func TestRealMailEmailID(t *testing.T) {
	for _, c := range realCorpora {
		t.Run(c, func(t *testing.T) { realMailEmailID(t, realMail(t, c)) })
	}
}

func realMailEmailID(t *testing.T, msgs []corpusMessage) {
	r := newRand(t)
	for _, m := range msgs {
		lf := toLF(m.raw)
		crlf := refNormalize(lf)
		want := EmailID(sha256.Sum256(crlf))
		if got := EmailIDOf(lf); got != want {
			t.Errorf("%s: EmailID of the LF form %v, of the CRLF form %v", m.path, got.Short(), want.Short())
		}
		if got := EmailIDOf(crlf); got != want {
			t.Errorf("%s: the CRLF form is not hashed as it is", m.path)
		}
		id := EmailIDOf(m.raw)
		if ref := refEmailID(m.raw); id != ref {
			t.Errorf("%s: EmailIDOf %v, reference %v", m.path, id.Short(), ref.Short())
		}
		if !bytes.Contains(m.raw, []byte("\r\r\n")) && id != want {
			t.Errorf("%s: EmailID of the file differs from that of its LF form", m.path)
		}
		h := NewHasher()
		writeSplit(r, h, m.raw)
		if h.Sum() != id {
			t.Errorf("%s: split writes give another EmailID", m.path)
		}
		hl := NewHasher()
		hl.Write(lf)
		if hl.NormalizedSize() != int64(len(crlf)) {
			t.Errorf("%s: NormalizedSize of the LF form %d, want %d", m.path, hl.NormalizedSize(), len(crlf))
		}

		f, err := os.Open(m.path)
		if err != nil {
			t.Fatal(err)
		}
		got, size, err := ComputeEmailID(f)
		f.Close()
		if err != nil || got != id || size != int64(len(m.raw)) {
			t.Errorf("%s: ComputeEmailID = %v, %d, %v; want %v, %d", m.path, got.Short(), size, err, id.Short(), len(m.raw))
		}
		v := NewVerifyingReader(bytes.NewReader(lf), want, int64(len(lf)))
		if n, err := io.Copy(io.Discard, v); err != nil || n != int64(len(lf)) {
			t.Errorf("%s: VerifyingReader of the LF form: %d bytes, %v", m.path, n, err)
		}
	}
}

// TestRealMailFingerprint: ReadFingerprint gives the LF and the CRLF form
// of every real message one Fingerprint (with the CRLF size), or fails on
// both with ErrInvalidMessage. The spamassassin files start with an mbox
// "From " line, which is no header field: with it and without it (as a
// Maildir delivery stores them) they must all have one Fingerprint.
func TestRealMailFingerprint(t *testing.T) {
	for _, c := range realCorpora {
		t.Run(c, func(t *testing.T) { realMailFingerprint(t, realMail(t, c), c == "spamassassin-ham") })
	}
}

// realMailFingerprint checks msgs; mboxLines says that they come with
// mbox From lines, which some must then have.
func realMailFingerprint(t *testing.T, msgs []corpusMessage, mboxLines bool) {
	var ok, invalid, mboxOK int
	for _, m := range msgs {
		lf := toLF(m.raw)
		crlf := refNormalize(lf)
		size := int64(len(crlf))
		a, errA := ReadFingerprint(bytes.NewReader(lf), size)
		b, errB := ReadFingerprint(bytes.NewReader(crlf), size)
		switch {
		case errA == nil && errB == nil:
			ok++
			if a != b || a.IsZero() {
				t.Errorf("%s: Fingerprints of the LF and CRLF forms: %v, %v", m.path, a, b)
			}
		case errors.Is(errA, ErrInvalidMessage) && errors.Is(errB, ErrInvalidMessage):
			invalid++
		default:
			t.Errorf("%s: ReadFingerprint: LF form %v, CRLF form %v", m.path, errA, errB)
		}
		if !m.mbox {
			continue
		}
		_, body, _ := bytes.Cut(lf, []byte("\n"))
		fp, err := ReadFingerprint(bytes.NewReader(body), size)
		if err != nil || fp.IsZero() {
			t.Errorf("%s without its From line: ReadFingerprint = %v, %v", m.path, fp, err)
			continue
		}
		mboxOK++
		if errA != nil || a != fp {
			t.Errorf("%s: the mbox From line changed the Fingerprint (%v)", m.path, errA)
		}
		if !strings.HasSuffix(m.path, ".eml") {
			continue
		}
		// The header fields decide: the same header over another body of
		// the same size has the same Fingerprint.
		hdr, _, _ := bytes.Cut(body, []byte("\n\n"))
		other := append(append(hdr, "\n\n"...), bytes.Repeat([]byte("x"), 10)...)
		if fp2, err := ReadFingerprint(bytes.NewReader(other), size); err != nil || fp2 != fp {
			t.Errorf("%s: another body changed the Fingerprint (%v)", m.path, err)
		}
	}
	t.Logf("Fingerprint: %d messages read, %d rejected as invalid, %d read without their mbox From line", ok, invalid, mboxOK)
	if ok == 0 || mboxLines && mboxOK == 0 {
		t.Errorf("no real message had a Fingerprint")
	}
}
