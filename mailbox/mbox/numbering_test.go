package mbox

import (
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
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { j.Close() })
	return j.UIDKeeper("test")
}

func mboxOf(subjects ...string) string {
	var b strings.Builder
	for _, s := range subjects {
		b.WriteString("From a@example.org Mon Jan  1 00:00:00 2024\nSubject: " + s + "\n\nbody of " + s + "\n\n")
	}
	return b.String()
}

// bySubject lists a mailbox as subject → UID.
func bySubject(t *testing.T, s *Store, name string) map[string]uid.UID {
	t.Helper()
	out := map[string]uid.UID{}
	for _, m := range list(t, s, name) {
		b, err := read(t, s, name, m.UID)
		if err != nil {
			t.Fatal(err)
		}
		line, _, _ := strings.Cut(string(b), "\n")
		out[strings.TrimPrefix(line, "Subject: ")] = m.UID
	}
	return out
}

// TestKeeperMbox: with a UIDKeeper, mail appended to an mbox file, or
// removed from it, changes no other message's UID, nor UIDVALIDITY or ID,
// and the file moved elsewhere keeps them; the same message twice keeps
// two UIDs.
func TestKeeperMbox(t *testing.T) {
	keeper := openKeeper(t)
	path := filepath.Join(t.TempDir(), "inbox.mbox")
	writeFile(t, path, mboxOf("a", "b", "c", "dup", "dup"))
	s := mustOpen(t, path, &Options{UIDs: keeper})
	info, err := s.Status(t.Context(), mailbox.Inbox)
	must(t, err)
	first := bySubject(t, s, mailbox.Inbox)
	if len(list(t, s, mailbox.Inbox)) != 5 || first["a"] != 1 || first["c"] != 3 {
		t.Fatalf("first numbering: %v", first)
	}
	s.Close()

	// "a" deleted by a mail client, two appended by the MDA.
	writeFile(t, path, mboxOf("b", "c", "dup", "dup", "d", "e"))
	moved := filepath.Join(t.TempDir(), "elsewhere.mbox")
	must(t, os.Rename(path, moved))
	s2 := mustOpen(t, moved, &Options{UIDs: keeper})
	info2, err := s2.Status(t.Context(), mailbox.Inbox)
	must(t, err)
	if info2.UIDValidity != info.UIDValidity || info2.ID != info.ID {
		t.Fatalf("UIDVALIDITY/ID %d %s, then %d %s", info.UIDValidity, info.ID, info2.UIDValidity, info2.ID)
	}
	got := bySubject(t, s2, mailbox.Inbox)
	for _, subj := range []string{"b", "c"} {
		if got[subj] != first[subj] {
			t.Errorf("%s: uid %d, was %d", subj, got[subj], first[subj])
		}
	}
	if _, ok := got["a"]; ok {
		t.Error("the removed message is still listed")
	}
	if got["d"] != 6 || got["e"] != 7 || info2.UIDNext != 8 {
		t.Errorf("new mail: d %d, e %d, UIDNEXT %d; want 6, 7, 8", got["d"], got["e"], info2.UIDNext)
	}
	var uids []uid.UID
	for _, m := range list(t, s2, mailbox.Inbox) {
		uids = append(uids, m.UID)
	}
	if want := []uid.UID{2, 3, 4, 5, 6, 7}; !equalUIDs(uids, want) {
		t.Errorf("listing %v, want %v", uids, want)
	}
	if _, err := read(t, s2, mailbox.Inbox, 1); err == nil {
		t.Error("uid 1 (removed) still reads")
	}
}

func equalUIDs(a, b []uid.UID) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestConformanceKept runs the reader suite on a directory of mbox files
// numbered by a UIDKeeper.
func TestConformanceKept(t *testing.T) {
	mailboxtest.RunReader(t, mailboxtest.ReaderHarness{
		Build: func(t *testing.T, mbs []mailboxtest.ReaderMailbox) func(t *testing.T) mailboxtest.ReadOnlyStore {
			dir := filepath.Join(t.TempDir(), "Mail")
			for _, mb := range mbs {
				writeMbox(t, filepath.Join(dir, strings.ReplaceAll(mb.Name, "/", ".sbd/")), mb)
			}
			keeper := openKeeper(t)
			return func(t *testing.T) mailboxtest.ReadOnlyStore { return openStore(t, dir, &Options{UIDs: keeper}) }
		},
		KeepsDates: true,
	})
}
