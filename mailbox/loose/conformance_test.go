package loose

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/mailrepl/mailrepl/mailbox"
	"github.com/mailrepl/mailrepl/mailbox/mailboxtest"
)

// flagLetters writes flags as Maildir letters; keywords take the letters
// of the dovecot-keywords file writeKeywords writes.
func flagLetters(t *testing.T, fl mailbox.Flags) string {
	t.Helper()
	var b []byte
	for f := range fl.All() {
		switch f {
		case mailbox.Draft:
			b = append(b, 'D')
		case mailbox.Flagged:
			b = append(b, 'F')
		case mailbox.Answered:
			b = append(b, 'R')
		case mailbox.Seen:
			b = append(b, 'S')
		case mailbox.Deleted:
			b = append(b, 'T')
		case "$Forwarded":
			b = append(b, 'a')
		case "Work":
			b = append(b, 'b')
		default:
			t.Fatalf("no letter for flag %s", f)
		}
	}
	slices.Sort(b)
	return string(b)
}

func writeMessage(t *testing.T, path string, m mailboxtest.ReaderMessage) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, m.Body, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(path, m.InternalDate, m.InternalDate); err != nil {
		t.Fatal(err)
	}
}

func openStore(t *testing.T, dir string, opts *Options) mailboxtest.ReadOnlyStore {
	t.Helper()
	s, err := Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestConformanceMaildirNames runs the reader suite on files copied out
// of Maildirs: Maildir names with flags, a dovecot-keywords file beside
// them, mtimes kept; one directory per mailbox, "Lists/Go" below
// "Lists", INBOX's files in the root's cur/ and new/.
func TestConformanceMaildirNames(t *testing.T) {
	mailboxtest.RunReader(t, mailboxtest.ReaderHarness{
		Build: func(t *testing.T, mbs []mailboxtest.ReaderMailbox) func(t *testing.T) mailboxtest.ReadOnlyStore {
			root := filepath.Join(t.TempDir(), "copied")
			for _, mb := range mbs {
				dir := root
				if mb.Name != mailbox.Inbox {
					dir = filepath.Join(root, filepath.FromSlash(mb.Name))
				}
				if err := os.MkdirAll(dir, 0o700); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(dir, "dovecot-keywords"), []byte("0 $Forwarded\n1 Work\n"), 0o600); err != nil {
					t.Fatal(err)
				}
				for i, m := range mb.Messages {
					name := fmt.Sprintf("%d.M%dP77.host,S=%d:2,%s", m.InternalDate.Unix(), i, len(m.Body), flagLetters(t, m.Flags))
					sub := dir
					if mb.Name == mailbox.Inbox {
						sub = filepath.Join(dir, []string{"cur", "new"}[i%2])
					}
					writeMessage(t, filepath.Join(sub, name), m)
				}
			}
			return func(t *testing.T) mailboxtest.ReadOnlyStore { return openStore(t, root, nil) }
		},
		KeepsFlags: true,
		KeepsDates: true,
	})
}

// TestConformanceLostFound runs the reader suite on files as fsck leaves
// them in lost+found: named "#<inode>", the date in the mtime.
func TestConformanceLostFound(t *testing.T) {
	mailboxtest.RunReader(t, mailboxtest.ReaderHarness{
		Build: func(t *testing.T, mbs []mailboxtest.ReaderMailbox) func(t *testing.T) mailboxtest.ReadOnlyStore {
			root := filepath.Join(t.TempDir(), "lost+found")
			for _, mb := range mbs {
				for i, m := range mb.Messages {
					writeMessage(t, filepath.Join(root, fmt.Sprintf("#%07d", 1000+i)), m)
				}
			}
			return func(t *testing.T) mailboxtest.ReadOnlyStore { return openStore(t, root, nil) }
		},
		Names:      []string{mailbox.Inbox},
		KeepsDates: true,
	})
}

// TestConformanceFlat runs the reader suite on a tree read as one
// mailbox: the messages spread over directories, UIDs in the order of
// the files' names.
func TestConformanceFlat(t *testing.T) {
	mailboxtest.RunReader(t, mailboxtest.ReaderHarness{
		Build: func(t *testing.T, mbs []mailboxtest.ReaderMailbox) func(t *testing.T) mailboxtest.ReadOnlyStore {
			root := filepath.Join(t.TempDir(), "tree")
			for _, mb := range mbs {
				for i, m := range mb.Messages {
					sub := []string{"", "a", "a/b", "c"}[i%4]
					writeMessage(t, filepath.Join(root, filepath.FromSlash(sub), fmt.Sprintf("msg%04d.eml", i)), m)
				}
			}
			return func(t *testing.T) mailboxtest.ReadOnlyStore {
				return openStore(t, root, &Options{Flat: true, Mailbox: "Recovered/tree"})
			}
		},
		Names:      []string{"Recovered/tree"},
		KeepsDates: true,
	})
}
