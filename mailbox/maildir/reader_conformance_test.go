package maildir_test

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/mailrepl/mailrepl/mailbox"
	"github.com/mailrepl/mailrepl/mailbox/mailboxtest"
	"github.com/mailrepl/mailrepl/mailbox/maildir"
)

// TestReaderConformance runs the suite of read-only stores on a tree this
// store wrote, opened with Options.ReadOnly, as a restore reads a Maildir
// snapshot.
func TestReaderConformance(t *testing.T) {
	t.Run("with uidlists", func(t *testing.T) { runReaderConformance(t, false) })
	// A tree whose uidlists are gone (files copied out of a broken server):
	// UIDs and UIDVALIDITY come from the files, the same at every open.
	t.Run("without uidlists", func(t *testing.T) { runReaderConformance(t, true) })
}

func runReaderConformance(t *testing.T, dropUidlists bool) {
	mailboxtest.RunReader(t, mailboxtest.ReaderHarness{
		Build: func(t *testing.T, mbs []mailboxtest.ReaderMailbox) func(t *testing.T) mailboxtest.ReadOnlyStore {
			ctx := context.Background()
			root := filepath.Join(t.TempDir(), "Maildir")
			w, err := maildir.Open(root, nil)
			if err != nil {
				t.Fatal(err)
			}
			for _, mb := range mbs {
				if mb.Name != mailbox.Inbox {
					if _, err := w.Create(ctx, mb.Name); err != nil {
						t.Fatal(err)
					}
				}
				for _, m := range mb.Messages {
					meta := mailbox.AppendMeta{Flags: m.Flags, InternalDate: m.InternalDate}
					if _, err := w.Append(ctx, mb.Name, mailbox.BytesLiteral(m.Body), meta); err != nil {
						t.Fatal(err)
					}
				}
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			if dropUidlists {
				filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
					if err == nil && d.Name() == "dovecot-uidlist" {
						os.Remove(p)
					}
					return nil
				})
			}
			return func(t *testing.T) mailboxtest.ReadOnlyStore {
				s, err := maildir.Open(root, &maildir.Options{ReadOnly: true})
				if err != nil {
					t.Fatal(err)
				}
				return s
			}
		},
		KeepsFlags: true,
		KeepsDates: true,
	})
}
