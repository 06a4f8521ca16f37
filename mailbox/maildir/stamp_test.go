package maildir

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/mailrepl/mailrepl/mailbox"
	"github.com/mailrepl/mailrepl/uid"
)

// ageTree sets the times of every file and directory under root to t, as
// if the tree had last changed then.
func ageTree(tb testing.TB, root string, t time.Time) {
	tb.Helper()
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Chtimes(p, t, t)
	})
	if err != nil {
		tb.Fatal(err)
	}
}

func stampOf(t *testing.T, s *Store) string {
	t.Helper()
	st, err := s.Stamp(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// TestStamp checks that a store's stamp stays while nothing changes, and
// changes with every change a sync must see: mail delivered, flags
// changed, expunged, a folder made, renamed or deleted, a subscription,
// a keyword; and that a store changed too recently to vouch for gives no
// stamp.
func TestStamp(t *testing.T) {
	ctx := context.Background()
	old := time.Now().Add(-time.Hour).Truncate(time.Second).Add(123456789)
	cases := []struct {
		name   string
		change func(t *testing.T, s *Store, root string)
	}{
		{"delivered to new/", func(t *testing.T, s *Store, root string) {
			deliverFile(t, filepath.Join(root, "new"), "1700000000.M1P1.host", "Subject: x\n\nbody\n")
		}},
		{"delivered to a folder's cur/", func(t *testing.T, s *Store, root string) {
			deliverFile(t, filepath.Join(root, ".Archive", "cur"), "1700000001.M2P2.host:2,S", "Subject: y\n\nbody\n")
		}},
		{"appended", func(t *testing.T, s *Store, root string) { appendMsg(t, s, "Archive", "Subject: z\n\nz\n") }},
		{"flag changed", func(t *testing.T, s *Store, root string) {
			if err := s.StoreFlags(ctx, mailbox.Inbox, uid.SetOf(1), mailbox.FlagsAdd, mailbox.MustFlags(mailbox.Flagged)); err != nil {
				t.Fatal(err)
			}
		}},
		{"keyword added", func(t *testing.T, s *Store, root string) {
			if err := s.StoreFlags(ctx, mailbox.Inbox, uid.SetOf(1), mailbox.FlagsAdd, mailbox.MustFlags("$Label1")); err != nil {
				t.Fatal(err)
			}
		}},
		{"expunged", func(t *testing.T, s *Store, root string) {
			if err := s.Expunge(ctx, mailbox.Inbox, uid.SetOf(1)); err != nil {
				t.Fatal(err)
			}
		}},
		{"folder made", func(t *testing.T, s *Store, root string) {
			if _, err := s.Create(ctx, "New"); err != nil {
				t.Fatal(err)
			}
		}},
		{"folder renamed", func(t *testing.T, s *Store, root string) {
			if err := s.Rename(ctx, "Archive", "Old"); err != nil {
				t.Fatal(err)
			}
		}},
		{"folder deleted", func(t *testing.T, s *Store, root string) {
			if err := s.Delete(ctx, "Archive"); err != nil {
				t.Fatal(err)
			}
		}},
		{"subscribed", func(t *testing.T, s *Store, root string) {
			if err := s.Subscribe(ctx, "Archive", true); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			root := t.TempDir()
			s := openTest(t, root, nil)
			appendMsg(t, s, mailbox.Inbox, "Subject: a\n\na\n")
			if _, err := s.Create(ctx, "Archive"); err != nil {
				t.Fatal(err)
			}
			appendMsg(t, s, "Archive", "Subject: b\n\nb\n")
			if got := stampOf(t, s); got != "" {
				t.Fatalf("stamp of a store changed just now: %q, want none", got)
			}
			ageTree(t, root, old)
			before := stampOf(t, s)
			if before == "" {
				t.Fatal("no stamp for a store last changed an hour ago")
			}
			if again := stampOf(t, s); again != before {
				t.Fatalf("stamp changed with nothing changed: %q, then %q", before, again)
			}
			list(t, s, mailbox.Inbox) // a listing changes nothing
			if again := stampOf(t, s); again != before {
				t.Fatalf("stamp changed by a listing: %q, then %q", before, again)
			}
			c.change(t, s, root)
			if got := stampOf(t, s); got == before {
				t.Fatalf("stamp right after the change: %q, as before it", got)
			}
			ageTree(t, root, old.Add(time.Minute))
			after := stampOf(t, s)
			if after == "" || after == before {
				t.Fatalf("stamp after the change: %q, before it %q: want another", after, before)
			}
		})
	}
}

// TestStampUidlistSize checks that a uidlist that changed but kept its
// time (and its directory's) changes the stamp by its size.
func TestStampUidlistSize(t *testing.T) {
	root := t.TempDir()
	s := openTest(t, root, nil)
	appendMsg(t, s, mailbox.Inbox, "Subject: a\n\na\n")
	old := time.Now().Add(-time.Hour)
	ageTree(t, root, old)
	before := stampOf(t, s)
	p := filepath.Join(root, uidlistName)
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, append(data, "5 :1700000000.M9P9.host\n"...), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(p, old, old); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(root, old, old); err != nil {
		t.Fatal(err)
	}
	if after := stampOf(t, s); after == before || after == "" {
		t.Fatalf("stamp %q after the uidlist grew, %q before", after, before)
	}
}

func deliverFile(t *testing.T, dir, name, body string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestStampOwn checks that StampOwn vouches for a change made just now,
// which Stamp does not, that the two agree once the change is old, and
// that StampOwn too moves with a change.
func TestStampOwn(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	s := openTest(t, root, nil)
	appendMsg(t, s, mailbox.Inbox, "Subject: a\n\na\n")
	if st := stampOf(t, s); st != "" {
		t.Fatalf("Stamp right after an append = %q, want none", st)
	}
	own, err := s.StampOwn(ctx)
	if err != nil || own == "" {
		t.Fatalf("StampOwn right after an append = %q, %v; want a stamp", own, err)
	}
	appendMsg(t, s, mailbox.Inbox, "Subject: b\n\nb\n")
	own2, err := s.StampOwn(ctx)
	if err != nil || own2 == "" || own2 == own {
		t.Fatalf("StampOwn after a second append = %q, %v; want a stamp other than %q", own2, err, own)
	}
	ageTree(t, root, time.Now().Add(-time.Hour))
	own3, err := s.StampOwn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st := stampOf(t, s); st == "" || st != own3 {
		t.Fatalf("once old: Stamp %q, StampOwn %q; want the same stamp", st, own3)
	}
}
