package maildir_test

import (
	"flag"
	"path/filepath"
	"testing"

	"github.com/mailrepl/mailrepl/mailbox"
	"github.com/mailrepl/mailrepl/mailbox/mailboxtest"
	"github.com/mailrepl/mailrepl/mailbox/maildir"
)

var seed = flag.Uint64("seed", 0, "seed of the randomized model test (0: from the clock)")

// TestConformance runs the mailbox conformance suite, reopening the
// store from disk where the suite asks.
func TestConformance(t *testing.T) {
	roots := map[mailbox.Store]string{}
	open := func(t *testing.T, root string) mailbox.Store {
		s, err := maildir.Open(root, nil)
		if err != nil {
			t.Fatal(err)
		}
		roots[s] = root
		return s
	}
	mailboxtest.Run(t, mailboxtest.Harness{
		New: func(t *testing.T) mailbox.Store {
			return open(t, filepath.Join(t.TempDir(), "Maildir"))
		},
		Reopen: func(t *testing.T, s mailbox.Store) mailbox.Store {
			root := roots[s]
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			return open(t, root)
		},
		PrivateFlags: []mailbox.Flag{mailbox.Passed, "%Maildir-X"},
		BadNames:     []string{"...x", "x..", "a.b", "a/b.c", "~x"},
		Seed:         *seed,
	})
}
