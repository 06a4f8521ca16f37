package memstore_test

import (
	"flag"
	"testing"

	"github.com/mailrepl/mailrepl/mailbox"
	"github.com/mailrepl/mailrepl/mailbox/mailboxtest"
	"github.com/mailrepl/mailrepl/mailbox/memstore"
)

var seed = flag.Uint64("seed", 0, "seed of the randomized model test (0: one from the clock)")

func TestConformance(t *testing.T) {
	mailboxtest.Run(t, mailboxtest.Harness{
		New:          func(t *testing.T) mailbox.Store { return memstore.New(nil) },
		PrivateFlags: []mailbox.Flag{mailbox.Passed, "%Resent"},
		Seed:         *seed,
	})
}
