package mailgen_test

import (
	"bytes"
	"context"
	"fmt"
	"log"
	"time"

	"github.com/mailrepl/mailrepl/internal/mailgen"
	"github.com/mailrepl/mailrepl/mailbox/memstore"
)

// Example generates one message alone, then a whole account into a store,
// then a few days of changes to it.
func Example() {
	ctx := context.Background()
	g := mailgen.New(1)

	// Message 42 of the stream, without generating the others.
	m := g.Message(42)
	fmt.Printf("message 42: %s (%v) %s, %d bytes\n", m.Folder, m.Flags, m.InternalDate.Format(time.DateTime), len(m.Body))
	for line := range bytes.Lines(m.Body) {
		if bytes.HasPrefix(line, []byte("Subject:")) {
			fmt.Printf("%s", line)
		}
	}

	// An account of 500 messages in an in-memory store.
	store := memstore.New(nil)
	defer store.Close()
	st, err := g.Populate(ctx, store, mailgen.AccountSpec{Messages: 500})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%d messages, %d bytes, the largest %d bytes, duplicates: %d\n", st.Messages, st.Bytes, st.Largest, st.Duplicates)
	for _, name := range g.Folders() {
		fmt.Printf("  %-20s %3d\n", name, st.PerFolder[name])
	}

	// New mail, flag changes and expunges, as an incremental sync meets them.
	mt, err := g.Mutate(ctx, store, 2, mailgen.MutateSpec{New: 10, FlagChanges: 20, Expunges: 5})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%d new, %d flag changes, %d expunged\n", mt.Messages, mt.FlagChanges, mt.Expunges)
	// Output:
	// message 42: INBOX ($Label3 \Seen) 2021-08-28 08:13:22, 4297 bytes
	// Subject: Download made
	// 500 messages, 4689899 bytes, the largest 309332 bytes, duplicates: 1
	//   INBOX                161
	//   Archive               67
	//   Archive/2023          27
	//   Lists/golang-nuts     66
	//   Lists/debian-devel    46
	//   Sent                  47
	//   Drafts                 3
	//   Trash                 17
	//   Work                  47
	//   Été                   19
	// 10 new, 20 flag changes, 5 expunged
}
