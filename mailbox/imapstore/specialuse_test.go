package imapstore_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/mailrepl/mailrepl/internal/dovecottest"
	"github.com/mailrepl/mailrepl/mailbox"
	"github.com/mailrepl/mailrepl/mailbox/imapstore"
)

// TestSpecialUseDovecot: the special uses a server configures come with
// the mailboxes (LIST RETURN (SPECIAL-USE)), whatever their names, and a
// mailbox the server gives none has none, even when its name is a
// well-known one: a server that speaks SPECIAL-USE is not second-guessed.
func TestSpecialUseDovecot(t *testing.T) {
	srv := dovecottest.Start(t, dovecottest.Config{MailRoot: filepath.Join(t.TempDir(), "mail"), AnyUser: true,
		Extra: `namespace inbox {
  mailbox "Sent Items" {
    special_use = \Sent
  }
  mailbox "Deleted Items" {
    special_use = \Trash
  }
  mailbox Archive {
    special_use = \Archive
  }
}`})
	s, err := imapstore.New(options(srv, "user1", imapstore.NewPool(2)))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	for _, name := range []string{"Sent Items", "Deleted Items", "Archive", "Sent", "Work"} {
		if _, err := s.Create(ctx, name); err != nil {
			t.Fatal(err)
		}
	}
	infos, err := s.Mailboxes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]mailbox.SpecialUse{
		"INBOX": mailbox.UseNone, "Sent Items": mailbox.UseSent, "Deleted Items": mailbox.UseTrash,
		"Archive": mailbox.UseArchive, "Sent": mailbox.UseNone, "Work": mailbox.UseNone,
	}
	got := map[string]mailbox.SpecialUse{}
	for _, in := range infos {
		got[in.Name] = in.SpecialUse
	}
	for name, u := range want {
		if g, ok := got[name]; !ok || g != u {
			t.Errorf("mailbox %q: special use %q (listed: %v), want %q", name, g, ok, u)
		}
	}
	in, err := s.Status(ctx, "Sent Items")
	if err != nil {
		t.Fatal(err)
	}
	if in.SpecialUse != mailbox.UseSent {
		t.Errorf("Status(Sent Items).SpecialUse = %q, want \\Sent", in.SpecialUse)
	}
}
