package loose

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mailrepl/mailrepl/journal"
	"github.com/mailrepl/mailrepl/mailbox"
	"github.com/mailrepl/mailrepl/mailbox/mailboxtest"
	"github.com/mailrepl/mailrepl/uid"
)

func openKeeper(t *testing.T) mailbox.UIDKeeper {
	t.Helper()
	j, err := journal.Open(t.TempDir(), nil)
	must(t, err)
	t.Cleanup(func() { j.Close() })
	return j.UIDKeeper("test")
}

func bySubject(t *testing.T, s *Store, name string) map[string]uid.UID {
	t.Helper()
	out := map[string]uid.UID{}
	for _, m := range list(t, s, name) {
		b, err := read(t, s, name, m.UID)
		must(t, err)
		line, _, _ := strings.Cut(string(b), "\n")
		out[strings.TrimPrefix(line, "Subject: ")] = m.UID
	}
	return out
}

// TestKeeperLoose: with a UIDKeeper, a file added to the directory (even
// one whose name sorts first), or removed, changes no other file's UID,
// nor the mailbox's UIDVALIDITY or ID; a Maildir-named file whose flags
// changed keeps its UID; the tree moved elsewhere keeps all of it.
func TestKeeperLoose(t *testing.T) {
	keeper := openKeeper(t)
	root := filepath.Join(t.TempDir(), "lost+found")
	for _, n := range []string{"#200", "#300", "#400", "cur/1700000000.M1P1.host:2,S"} {
		writeFile(t, filepath.Join(root, filepath.FromSlash(n)), "Subject: "+n+"\n\nx\n")
	}
	s := mustOpen(t, root, &Options{UIDs: keeper, Flat: true})
	info, err := s.Status(t.Context(), mailbox.Inbox)
	must(t, err)
	first := bySubject(t, s, mailbox.Inbox)
	s.Close()

	must(t, os.Remove(filepath.Join(root, "#300")))
	writeFile(t, filepath.Join(root, "#100"), "Subject: #100\n\nx\n")
	must(t, os.Rename(filepath.Join(root, "cur", "1700000000.M1P1.host:2,S"), filepath.Join(root, "cur", "1700000000.M1P1.host:2,FS")))
	moved := filepath.Join(t.TempDir(), "copy")
	must(t, os.Rename(root, moved))
	s2 := mustOpen(t, moved, &Options{UIDs: keeper, Flat: true})
	info2, err := s2.Status(t.Context(), mailbox.Inbox)
	must(t, err)
	if info2.UIDValidity != info.UIDValidity || info2.ID != info.ID {
		t.Fatalf("UIDVALIDITY/ID %d %s, then %d %s", info.UIDValidity, info.ID, info2.UIDValidity, info2.ID)
	}
	got := bySubject(t, s2, mailbox.Inbox)
	for _, n := range []string{"#200", "#400"} {
		if got[n] != first[n] {
			t.Errorf("%s: uid %d, was %d", n, got[n], first[n])
		}
	}
	if got["cur/1700000000.M1P1.host:2,S"] != first["cur/1700000000.M1P1.host:2,S"] {
		t.Errorf("the file whose flags changed: uid %d, was %d", got["cur/1700000000.M1P1.host:2,S"], first["cur/1700000000.M1P1.host:2,S"])
	}
	if _, ok := got["#300"]; ok {
		t.Error("the removed file is still listed")
	}
	if got["#100"] != 5 || info2.UIDNext != 6 {
		t.Errorf("the new file has uid %d (UIDNEXT %d), want 5 (6)", got["#100"], info2.UIDNext)
	}
}

// TestConformanceKept runs the reader suite on lost+found files numbered
// by a UIDKeeper.
func TestConformanceKept(t *testing.T) {
	mailboxtest.RunReader(t, mailboxtest.ReaderHarness{
		Build: func(t *testing.T, mbs []mailboxtest.ReaderMailbox) func(t *testing.T) mailboxtest.ReadOnlyStore {
			root := filepath.Join(t.TempDir(), "lost+found")
			for _, mb := range mbs {
				for i, m := range mb.Messages {
					writeMessage(t, filepath.Join(root, fmt.Sprintf("#%07d", 1000+i)), m)
				}
			}
			keeper := openKeeper(t)
			return func(t *testing.T) mailboxtest.ReadOnlyStore { return openStore(t, root, &Options{UIDs: keeper}) }
		},
		Names:      []string{mailbox.Inbox},
		KeepsDates: true,
	})
}
