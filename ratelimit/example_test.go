package ratelimit_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/mailrepl/mailrepl/ratelimit"
)

// A batch replicating users from imap.old to imap.new: at most 500
// messages and 20 MB per second in all, 10 MB/s read from any one source
// server, 50 operations in flight per server.
func Example() {
	rateBytes, err := ratelimit.ParseSize("20MB") // from a -rate-bytes flag
	if err != nil {
		log.Fatal(err)
	}
	cfg := ratelimit.Config{
		Global:      ratelimit.Limit{Msgs: 500, Bytes: float64(rateBytes)},
		Source:      ratelimit.Limit{Bytes: 10e6},
		ServerConns: 50,
	}
	limits, err := ratelimit.New(cfg)
	if err != nil {
		log.Fatal(err)
	}

	// One user's sync.
	ctx := context.Background()
	h := limits.For("alice", "imap.old", "imap.new")
	defer h.Close()
	release, err := h.Acquire(ctx) // a slot on both servers
	if err != nil {
		log.Fatal(err)
	}
	defer release()
	if err := h.Wait(ctx, 1, 64<<10); err != nil { // before copying a 64 KiB message
		log.Fatal(err)
	}
	// The source answered "try again later" after 2 s: its rates halve.
	h.Observe(false, 2*time.Second, true, 0)

	r := limits.Effective("imap.old")
	fmt.Printf("%s: factor %.2f, reads at most %.0f bytes/s, %d in flight\n", r.Server, r.Factor, r.Source.Bytes, r.InFlight)
	// Output:
	// imap.old: factor 0.50, reads at most 5000000 bytes/s, 1 in flight
}

func ExampleParseSize() {
	for _, s := range []string{"20MB", "1.5GiB", "512k", "4096", "20 XB"} {
		n, err := ratelimit.ParseSize(s)
		fmt.Println(n, err)
	}
	// Output:
	// 20000000 <nil>
	// 1610612736 <nil>
	// 512000 <nil>
	// 4096 <nil>
	// 0 ratelimit: invalid size "20 XB": unknown unit "XB" (want B, k, kB, KiB, M, MB, MiB, G, GB, GiB, T, TB or TiB)
}
