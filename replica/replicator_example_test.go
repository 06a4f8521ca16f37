package replica_test

import (
	"context"
	"fmt"
	"log"
	"os"

	"github.com/mailrepl/mailrepl/journal"
	"github.com/mailrepl/mailrepl/mailbox"
	"github.com/mailrepl/mailrepl/mailbox/memstore"
	"github.com/mailrepl/mailrepl/replica"
	"github.com/mailrepl/mailrepl/uid"
)

// A mail server that embeds mailrepl logs its users' changes in the
// journal and runs a Replicator in a goroutine, which keeps each user's
// replica current.
func ExampleReplicator() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dir, err := os.MkdirTemp("", "replicator-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	j, err := journal.Open(dir, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer j.Close()

	// The server's stores, and the replicas.
	primary := map[string]*memstore.Store{"alice": memstore.New(nil), "bob": memstore.New(nil)}
	replicas := map[string]*memstore.Store{"alice": memstore.New(nil), "bob": memstore.New(nil)}
	state := replica.NewJournalState(j)
	synced := make(chan replica.SyncOutcome)
	r, err := replica.NewReplicator(&replica.ReplicatorOptions{
		Journal: j,
		// Every job is an ordinary sync of one user.
		Sync: func(ctx context.Context, job replica.SyncJob) (*replica.Report, error) {
			s, err := replica.New(primary[job.User], replicas[job.User], &replica.Options{
				Mode: replica.Mirror, Pair: job.User + " → replica", User: job.User,
				State: state, Cache: state, Mailboxes: job.Selects, Stop: job.Stop,
			})
			if err != nil {
				return nil, err
			}
			return s.Sync(ctx)
		},
		OnSync: func(o replica.SyncOutcome) { synced <- o },
	})
	if err != nil {
		log.Fatal(err)
	}
	done := make(chan error)
	go func() { done <- r.Run(ctx) }()

	// The server delivers a message and logs it.
	deliver := func(user, subject string) {
		msg := []byte("Subject: " + subject + "\r\n\r\nHi.\r\n")
		u, err := primary[user].Append(ctx, mailbox.Inbox, mailbox.BytesLiteral(msg), mailbox.AppendMeta{})
		if err != nil {
			log.Fatal(err)
		}
		if _, err := j.Append(ctx, journal.Event{Kind: journal.KindAppend, User: user, Mailbox: mailbox.Inbox, UIDs: uid.SetOf(u)}); err != nil {
			log.Fatal(err)
		}
	}
	deliver("alice", "hello")
	o := <-synced
	fmt.Printf("synced %s %v: %d copied, err %v\n", o.Job.User, o.Job.Mailboxes, o.Report.Total.Appended, o.Err)
	deliver("bob", "hi bob")
	o = <-synced
	fmt.Printf("synced %s %v: %d copied, err %v\n", o.Job.User, o.Job.Mailboxes, o.Report.Total.Appended, o.Err)

	for m, err := range replicas["bob"].Messages(ctx, mailbox.Inbox, uid.All) {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("bob's replica: uid %d, %d bytes\n", m.UID, m.Size)
	}
	snap := r.Snapshot()
	fmt.Printf("queued %d, in flight %d, failed %d, cursor at %d of %d\n", snap.Queued, snap.InFlight, len(snap.Failed), snap.Cursor, snap.LastSeq)

	cancel() // the server shuts down: the replicator drains and returns
	if err := <-done; err != nil {
		log.Fatal(err)
	}
	// Output:
	// synced alice [INBOX]: 1 copied, err <nil>
	// synced bob [INBOX]: 1 copied, err <nil>
	// bob's replica: uid 1, 24 bytes
	// queued 0, in flight 0, failed 0, cursor at 2 of 2
}
