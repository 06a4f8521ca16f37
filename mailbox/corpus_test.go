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
)

// corporaDir returns the folder of real mail the tests read: the
// MAILREPL_CORPORA environment variable if set (then it must exist), else
// shared/corpora beside the repository. The test is skipped only when that
// folder does not exist.
func corporaDir(t *testing.T) string {
	t.Helper()
	if dir := os.Getenv("MAILREPL_CORPORA"); dir != "" {
		if _, err := os.Stat(dir); err != nil {
			t.Fatalf("MAILREPL_CORPORA: %v", err)
		}
		return dir
	}
	dir := filepath.Join(repoRoot(t), "..", "shared", "corpora")
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		t.Skipf("no real mail: %s is absent (set MAILREPL_CORPORA to its place)", dir)
	}
	return dir
}

// repoRoot is the folder of the module's go.mod, found upwards from the
// package being tested.
func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && bytes.HasPrefix(b, []byte("module github.com/mailrepl/mailrepl\n")) {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.mod of github.com/mailrepl/mailrepl not found")
		}
		dir = parent
	}
}

// corpusMessage is one real message and where it came from.
type corpusMessage struct {
	path string
	raw  []byte
	mbox bool // starts with an mbox "From " line
}

// realMail returns every message of the Maildir trees under
// notmuch/test/corpora (files in cur/ and new/) and every .eml of
// spamassassin-ham. A missing folder fails the test: the corpora come as a
// whole.
func realMail(t *testing.T) []corpusMessage {
	t.Helper()
	dir := corporaDir(t)
	var paths []string
	notmuch := filepath.Join(dir, "notmuch", "test", "corpora")
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
	nNotmuch := len(paths)
	eml, err := filepath.Glob(filepath.Join(dir, "spamassassin-ham", "*.eml"))
	if err != nil {
		t.Fatal(err)
	}
	paths = append(paths, eml...)
	if nNotmuch == 0 || len(eml) == 0 {
		t.Fatalf("%s: found %d notmuch and %d spamassassin messages; want both", dir, nNotmuch, len(eml))
	}
	t.Logf("%d messages: %d from notmuch, %d from spamassassin-ham", len(paths), nNotmuch, len(eml))
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
	r := newRand(t)
	for _, m := range realMail(t) {
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
	var ok, invalid, mboxOK int
	for _, m := range realMail(t) {
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
	if ok == 0 || mboxOK == 0 {
		t.Errorf("no real message had a Fingerprint")
	}
}
