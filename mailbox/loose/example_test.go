package loose_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/mailrepl/mailrepl/mailbox/loose"
	"github.com/mailrepl/mailrepl/uid"
)

// Read what fsck left in lost+found: the messages, and what is not mail.
func Example() {
	dir, _ := os.MkdirTemp("", "loose-example")
	defer os.RemoveAll(dir)
	write := func(name, data string) { os.WriteFile(filepath.Join(dir, name), []byte(data), 0o600) }
	write("#1041", "From: alice@example.org\nSubject: lunch\n\nSee you at noon.\n")
	write("#1057", "\x7fELF\x02\x01\x01\x00\x00\x00")
	write("#1100", "")
	write("1700000000.M1P2.host:2,FS", "From: bob@example.org\nSubject: minutes\n\nAttached.\n")

	s, err := loose.Open(dir, &loose.Options{Mailbox: "Recovered"})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Close()
	ctx := context.Background()
	for m, err := range s.Messages(ctx, "Recovered", uid.All) {
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Printf("UID %d, %d bytes, (%v)\n", m.UID, m.Size, m.Flags)
	}
	skipped, _ := s.Skipped(ctx)
	for _, sk := range skipped {
		fmt.Printf("skipped %s: %s\n", filepath.Base(sk.Path), sk.Reason)
	}
	// Output:
	// UID 1, 57 bytes, ()
	// UID 2, 50 bytes, (\Flagged \Seen)
	// skipped #1057: not mail: binary data (a NUL byte at offset 7) before any header line
	// skipped #1100: empty file
}
