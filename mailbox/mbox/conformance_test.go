package mbox

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/mailrepl/mailrepl/mailbox/mailboxtest"
)

// writeMbox writes a mailbox of the reader suite as an mbox file, each
// message after a From line that holds its internal date.
func writeMbox(t *testing.T, path string, mb mailboxtest.ReaderMailbox) {
	t.Helper()
	var b []byte
	for i, m := range mb.Messages {
		from := "From sender@example.org " + m.InternalDate.UTC().Format("Mon Jan _2 15:04:05 2006")
		b = appendMessage(b, from, m.Body, MboxRD, i == len(mb.Messages)-1)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func openStore(t *testing.T, path string, opts *Options) mailboxtest.ReadOnlyStore {
	t.Helper()
	s, err := Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestConformanceFile runs the reader suite on one mbox file.
func TestConformanceFile(t *testing.T) {
	mailboxtest.RunReader(t, mailboxtest.ReaderHarness{
		Build: func(t *testing.T, mbs []mailboxtest.ReaderMailbox) func(t *testing.T) mailboxtest.ReadOnlyStore {
			path := filepath.Join(t.TempDir(), "mbox")
			writeMbox(t, path, mbs[0])
			return func(t *testing.T) mailboxtest.ReadOnlyStore { return openStore(t, path, nil) }
		},
		Names:      []string{"INBOX"},
		KeepsDates: true,
	})
}

// TestConformanceDir runs the reader suite on a directory of mbox files
// laid out as Thunderbird and mutt leave them: "Lists" with its children
// in "Lists.sbd/", an extension ".mbox" on some, INBOX as "inbox".
func TestConformanceDir(t *testing.T) {
	files := map[string]string{
		"INBOX":    "inbox",
		"Lists":    "Lists",
		"Lists/Go": "Lists.sbd/Go.mbox",
		"Été":      "Été.mbx",
	}
	mailboxtest.RunReader(t, mailboxtest.ReaderHarness{
		Build: func(t *testing.T, mbs []mailboxtest.ReaderMailbox) func(t *testing.T) mailboxtest.ReadOnlyStore {
			dir := filepath.Join(t.TempDir(), "Mail")
			for _, mb := range mbs {
				writeMbox(t, filepath.Join(dir, files[mb.Name]), mb)
			}
			return func(t *testing.T) mailboxtest.ReadOnlyStore { return openStore(t, dir, nil) }
		},
		KeepsDates: true,
	})
}
