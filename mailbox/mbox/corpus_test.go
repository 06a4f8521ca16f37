package mbox

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mailrepl/mailrepl/internal/corpora"
	"github.com/mailrepl/mailrepl/mailbox"
	"github.com/mailrepl/mailrepl/uid"
)

// hamMessage is one file of spamassassin-ham split as an mbox holds it:
// most files start with the From line of the mbox they were cut from.
type hamMessage struct {
	name     string
	fromLine string // "" when the file has none
	msg      []byte // the file without its From line
}

func readHam(t *testing.T) []hamMessage {
	t.Helper()
	dir := corpora.Ham(t)
	files, err := filepath.Glob(filepath.Join(dir, "*.eml"))
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(files)
	var out []hamMessage
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		h := hamMessage{name: filepath.Base(f), msg: b}
		if bytes.HasPrefix(b, []byte(fromMarker)) {
			i := bytes.IndexByte(b, '\n')
			h.fromLine, h.msg = string(b[:i]), b[i+1:]
		}
		out = append(out, h)
	}
	return out
}

// TestSpamAssassinHam writes every message of spamassassin-ham into one
// mboxrd file, each after its own From line (or a made-up one for the
// files that have none), and reads it back: every message byte for byte,
// with its size, EmailID and the date of its From line, in file order;
// joined again with the same From lines, the messages give the same file.
func TestSpamAssassinHam(t *testing.T) {
	ham := readHam(t)
	if len(ham) != corpora.HamMessages {
		t.Fatalf("spamassassin-ham holds %d messages, want %d", len(ham), corpora.HamMessages)
	}
	const madeUp = "From MAILER-DAEMON Mon Sep  2 00:00:00 2002"
	var file []byte
	quoted := 0
	for i, h := range ham {
		from := h.fromLine
		if from == "" {
			from = madeUp
		}
		file = appendMessage(file, from, h.msg, MboxRD, i == len(ham)-1)
		if bytes.Contains(h.msg, []byte("\n>From ")) || bytes.Contains(h.msg, []byte("\nFrom ")) {
			quoted++
		}
	}
	path := filepath.Join(t.TempDir(), "ham.mbox")
	must(t, os.WriteFile(path, file, 0o600))
	t.Logf("%d messages, %d bytes, %d with From lines of their own", len(ham), len(file), quoted)
	if quoted < 10 {
		t.Fatalf("only %d messages hold From lines: the corpus is not the one expected", quoted)
	}

	s := mustOpen(t, path, nil)
	ms := list(t, s, "INBOX")
	if len(ms) != len(ham) {
		t.Fatalf("%d messages listed, want %d", len(ms), len(ham))
	}
	var again []byte
	for i, m := range ms {
		h := ham[i]
		if m.UID != uid.UID(i+1) {
			t.Fatalf("message %d has UID %d", i, m.UID)
		}
		if m.Size != int64(len(h.msg)) || m.EmailID != mailbox.EmailIDOf(h.msg) {
			t.Errorf("%s: size %d, EmailID %s; want %d, %s", h.name, m.Size, m.EmailID.Short(), len(h.msg), mailbox.EmailIDOf(h.msg).Short())
		}
		from := h.fromLine
		if from == "" {
			from = madeUp
		}
		// asctime is the line's last 24 characters.
		want, err := time.Parse("Mon Jan _2 15:04:05 2006", strings.TrimRight(from, " \r")[len(strings.TrimRight(from, " \r"))-24:])
		if err != nil {
			t.Fatalf("%s: From line %q: %v", h.name, from, err)
		}
		if !m.InternalDate.Equal(want) {
			t.Errorf("%s: internal date %v, want %v (%q)", h.name, m.InternalDate, want, from)
		}
		b, err := read(t, s, "INBOX", m.UID)
		if err != nil {
			t.Fatalf("%s: %v", h.name, err)
		}
		if !bytes.Equal(b, h.msg) {
			t.Fatalf("%s: Open gives %d bytes that differ from the %d of the file", h.name, len(b), len(h.msg))
		}
		again = appendMessage(again, from, b, MboxRD, i == len(ms)-1)
	}
	if !bytes.Equal(again, file) {
		t.Fatal("the messages read back, joined again, differ from the file")
	}
	flagged := 0
	for _, m := range ms {
		if !m.Flags.IsEmpty() {
			flagged++
		}
	}
	t.Logf("%d messages with flags from status fields", flagged)
}
