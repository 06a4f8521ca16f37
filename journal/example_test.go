package journal_test

import (
	"context"
	"fmt"
	"log"
	"os"

	"github.com/mailrepl/mailrepl/journal"
	"github.com/mailrepl/mailrepl/mailbox"
	"github.com/mailrepl/mailrepl/uid"
)

// A mail server records changes; a replicator finds the dirty mailboxes,
// syncs them and commits the state with its cursor in one batch.
func Example() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "journal-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	j, err := journal.Open(dir, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer j.Close()

	// The mail server's side.
	last, err := j.Append(ctx,
		journal.Event{Kind: journal.KindCreate, User: "alice", MailboxID: "f00d", Mailbox: "Work", UIDValidity: 7},
		journal.Event{Kind: journal.KindAppend, User: "alice", MailboxID: "f00d", Mailbox: "Work", UIDs: uid.SetOf(1, 2)},
		journal.Event{Kind: journal.KindAppend, User: "bob", MailboxID: "beef", Mailbox: "INBOX", UIDs: uid.SetOf(9)},
	)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("last event:", last)

	// The replicator's side.
	for m, err := range j.Dirty(ctx, 0) {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("dirty: %s %s (event %d)\n", m.User, m.Mailbox, m.Seq)
	}
	const pair = "alice@a→alice@b"
	b := j.NewBatch()
	b.PutHeader(pair, journal.Header{
		Src: journal.Side{MailboxID: "f00d", Mailbox: "Work", UIDValidity: 7, UIDNext: 3},
		Dst: journal.Side{MailboxID: "c0de", Mailbox: "Work", UIDValidity: 7, UIDNext: 3},
	})
	b.PutEntry(pair, "f00d", journal.Entry{SrcUID: 1, DstUID: 1, Flags: mailbox.MustFlags(mailbox.Seen)})
	b.PutEntry(pair, "f00d", journal.Entry{SrcUID: 2, DstUID: 2})
	b.SetCursor("replica-b", last)
	if _, err := b.Commit(ctx); err != nil {
		log.Fatal(err)
	}
	for e, err := range j.State(ctx, pair, "f00d") {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("state: %d → %d (%s)\n", e.SrcUID, e.DstUID, e.Flags)
	}
	through, err := j.Truncate(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("truncated through:", through)
	// Output:
	// last event: 3
	// dirty: alice Work (event 2)
	// dirty: bob INBOX (event 3)
	// state: 1 → 1 (\Seen)
	// state: 2 → 2 ()
	// truncated through: 3
}
