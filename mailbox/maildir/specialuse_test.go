package maildir

import (
	"context"
	"testing"

	"github.com/mailrepl/mailrepl/mailbox"
)

// TestSpecialUseByName: Maildir keeps no special-use attribute, so the
// store tells the use its folders' names give, in listings and Status.
func TestSpecialUseByName(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, t.TempDir(), nil)
	want := map[string]mailbox.SpecialUse{
		"INBOX": "", "Sent Items": mailbox.UseSent, "Trash": mailbox.UseTrash,
		"Junk E-mail": mailbox.UseJunk, "Work": "", "Work/Sent": "",
	}
	for n := range want {
		if n == "INBOX" {
			continue
		}
		if _, err := s.Create(ctx, n); err != nil {
			t.Fatal(err)
		}
	}
	infos, err := s.Mailboxes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(infos) != len(want) {
		t.Fatalf("listed %d mailboxes, want %d: %v", len(infos), len(want), infos)
	}
	for _, in := range infos {
		if in.SpecialUse != want[in.Name] {
			t.Errorf("%q: special use %q, want %q", in.Name, in.SpecialUse, want[in.Name])
		}
		st, err := s.Status(ctx, in.Name)
		if err != nil {
			t.Fatal(err)
		}
		if st.SpecialUse != in.SpecialUse {
			t.Errorf("Status(%q).SpecialUse = %q, listed %q", in.Name, st.SpecialUse, in.SpecialUse)
		}
	}
}
