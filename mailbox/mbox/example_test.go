package mbox_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/mailrepl/mailrepl/mailbox/mbox"
	"github.com/mailrepl/mailrepl/uid"
)

// Open an mbox backup and read its messages as a restore does: list
// them, then open each one.
func Example() {
	dir, _ := os.MkdirTemp("", "mbox-example")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "saved-messages")
	os.WriteFile(path, []byte("From alice@example.org Thu Aug 22 12:46:39 2002\n"+
		"Status: RO\nSubject: lunch\n\nSee you at noon.\n>From the kitchen: soup.\n\n"+
		"From bob@example.org Fri Aug 23 08:00:00 2002\n"+
		"Subject: minutes\nX-Status: F\n\nAttached.\n"), 0o600)

	s, err := mbox.Open(path, &mbox.Options{Mailbox: "Saved"})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Close()
	ctx := context.Background()
	for m, err := range s.Messages(ctx, "Saved", uid.All) {
		if err != nil {
			fmt.Println(err)
			return
		}
		rc, err := s.Open(ctx, "Saved", m.UID)
		if err != nil {
			fmt.Println(err)
			return
		}
		body, _ := io.ReadAll(rc)
		rc.Close()
		fmt.Printf("UID %d, %d bytes, (%v), %s\n%s", m.UID, m.Size, m.Flags, m.InternalDate.Format("2006-01-02 15:04"), body)
	}
	// Output:
	// UID 1, 68 bytes, (\Seen), 2002-08-22 12:46
	// Status: RO
	// Subject: lunch
	//
	// See you at noon.
	// From the kitchen: soup.
	// UID 2, 40 bytes, (\Flagged), 2002-08-23 08:00
	// Subject: minutes
	// X-Status: F
	//
	// Attached.
}
