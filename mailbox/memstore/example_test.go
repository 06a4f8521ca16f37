package memstore_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/mailrepl/mailrepl/mailbox"
	"github.com/mailrepl/mailrepl/mailbox/memstore"
	"github.com/mailrepl/mailrepl/uid"
)

// Example appends a message to one store, lists it with its flags and
// EmailID, and copies it to a mailbox of a second store, keeping its
// flags and internal date; the EmailID checks the copy.
func Example() {
	ctx := context.Background()
	received := time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)

	src := memstore.New(nil)
	defer src.Close()
	raw := []byte("From: alice@example.org\r\nTo: bob@example.org\r\nSubject: Hello\r\n\r\nHi Bob!\r\n")
	_, err := src.Append(ctx, mailbox.Inbox, mailbox.BytesLiteral(raw), mailbox.AppendMeta{
		Flags:        mailbox.MustFlags(mailbox.Seen, "$Important"),
		InternalDate: received,
	})
	if err != nil {
		log.Fatal(err)
	}

	dst := memstore.New(nil)
	defer dst.Close()
	if _, err := dst.Create(ctx, "Archive/2024"); err != nil {
		log.Fatal(err)
	}

	for m, err := range src.Messages(ctx, mailbox.Inbox, uid.All) {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("INBOX uid %d (%v) %d bytes %s %s\n",
			m.UID, m.Flags, m.Size, m.InternalDate.Format(time.DateTime), m.EmailID.Short())

		body, err := src.Open(ctx, mailbox.Inbox, m.UID)
		if err != nil {
			log.Fatal(err)
		}
		u, err := dst.Append(ctx, "Archive/2024", mailbox.NewLiteral(body, m.Size), mailbox.AppendMeta{
			Flags:        m.Flags,
			InternalDate: m.InternalDate,
			EmailID:      m.EmailID, // the copy fails if the bytes do not match
		})
		body.Close()
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println("copied to Archive/2024 as uid", u)
	}

	for m, err := range dst.Messages(ctx, "Archive/2024", uid.All) {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("Archive/2024 uid %d (%v) %d bytes %s %s\n",
			m.UID, m.Flags, m.Size, m.InternalDate.Format(time.DateTime), m.EmailID.Short())
	}
	// Output:
	// INBOX uid 1 ($Important \Seen) 73 bytes 2024-03-01 12:00:00 f4b7e81d2947
	// copied to Archive/2024 as uid 1
	// Archive/2024 uid 1 ($Important \Seen) 73 bytes 2024-03-01 12:00:00 f4b7e81d2947
}
