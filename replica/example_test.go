package replica_test

import (
	"context"
	"fmt"
	"log"

	"github.com/mailrepl/mailrepl/mailbox"
	"github.com/mailrepl/mailrepl/mailbox/memstore"
	"github.com/mailrepl/mailrepl/replica"
	"github.com/mailrepl/mailrepl/uid"
)

// A mirror copies a source to a target; run again after a change, it
// copies only the change.
func Example() {
	ctx := context.Background()
	src, dst := memstore.New(nil), memstore.New(nil)
	defer src.Close()
	defer dst.Close()
	for _, subject := range []string{"hello", "again"} {
		msg := []byte("Subject: " + subject + "\r\n\r\nHi.\r\n")
		if _, err := src.Append(ctx, mailbox.Inbox, mailbox.BytesLiteral(msg), mailbox.AppendMeta{Flags: mailbox.MustFlags(mailbox.Seen)}); err != nil {
			log.Fatal(err)
		}
	}
	// The state must outlive one sync for the next to be incremental: a
	// journal in production, memory here.
	opts := &replica.Options{Mode: replica.Mirror, State: replica.NewMemState()}
	s, err := replica.New(src, dst, opts)
	if err != nil {
		log.Fatal(err)
	}
	rep, err := s.Sync(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("first sync: %d copied, %d bytes\n", rep.Total.Appended, rep.Total.Bytes)

	if err := src.StoreFlags(ctx, mailbox.Inbox, uid.SetOf(2), mailbox.FlagsAdd, mailbox.MustFlags(mailbox.Flagged)); err != nil {
		log.Fatal(err)
	}
	rep, err = s.Sync(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("second sync: %d copied, %d flag change\n", rep.Total.Appended, rep.Total.FlagChanges)
	for m, err := range dst.Messages(ctx, mailbox.Inbox, uid.All) {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("target uid %d (%s)\n", m.UID, m.Flags)
	}
	// Output:
	// first sync: 2 copied, 46 bytes
	// second sync: 0 copied, 1 flag change
	// target uid 1 (\Seen)
	// target uid 2 (\Flagged \Seen)
}
