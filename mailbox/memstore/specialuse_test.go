package memstore_test

import (
	"context"
	"errors"
	"testing"

	"github.com/mailrepl/mailrepl/mailbox"
	"github.com/mailrepl/mailrepl/mailbox/memstore"
)

// TestSetSpecialUse: a memstore guesses no special use from names; the
// one a test sets is listed, kept across a rename and in a clone, and
// setting it on a missing mailbox fails with ErrNotFound.
func TestSetSpecialUse(t *testing.T) {
	ctx := context.Background()
	s := memstore.New(nil)
	for _, n := range []string{"Sent", "Sent Items"} {
		if _, err := s.Create(ctx, n); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.SetSpecialUse(ctx, "Sent Items", mailbox.UseSent); err != nil {
		t.Fatal(err)
	}
	if err := s.Rename(ctx, "Sent Items", "Gesendet"); err != nil {
		t.Fatal(err)
	}
	c, err := s.Clone()
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range []*memstore.Store{s, c} {
		infos, err := st.Mailboxes(ctx)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]mailbox.SpecialUse{}
		for _, in := range infos {
			got[in.Name] = in.SpecialUse
		}
		want := map[string]mailbox.SpecialUse{"INBOX": "", "Sent": "", "Gesendet": mailbox.UseSent}
		if len(got) != len(want) {
			t.Errorf("mailboxes %v, want %v", got, want)
		}
		for n, u := range want {
			if got[n] != u {
				t.Errorf("%q: special use %q, want %q", n, got[n], u)
			}
		}
	}
	if err := s.SetSpecialUse(ctx, "Nope", mailbox.UseTrash); !errors.Is(err, mailbox.ErrNotFound) {
		t.Errorf("SetSpecialUse of a missing mailbox: %v, want ErrNotFound", err)
	}
}
