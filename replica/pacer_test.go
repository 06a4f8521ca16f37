package replica

import (
	"context"
	"fmt"
	"testing"

	"github.com/mailrepl/mailrepl/mailbox"
	"github.com/mailrepl/mailrepl/mailbox/memstore"
)

// countingBatches counts the batches of appends committed into a store.
type countingBatches struct {
	*memstore.Store
	commits int
}

func (c *countingBatches) Batch(ctx context.Context, name string) (mailbox.Batch, error) {
	b, err := c.Store.Batch(ctx, name)
	if err != nil {
		return nil, err
	}
	return &countedBatch{b, c}, nil
}

type countedBatch struct {
	mailbox.Batch
	c *countingBatches
}

func (b *countedBatch) Commit(ctx context.Context) error {
	b.c.commits++
	return b.Batch.Commit(ctx)
}

type waitOnly struct{}

func (waitOnly) Wait(context.Context, int, int64) error { return nil }

type pacer struct {
	waitOnly
	paces bool
}

func (p pacer) Paces() bool { return p.paces }

// TestBatchesUnderLimiter: a limiter that paces copies gets a batch per
// message, so that the copies land at its rate; one that says it paces
// nothing (a batch tool run without limits) gets whole batches, for a
// Maildir rewrites its uidlist once per batch.
func TestBatchesUnderLimiter(t *testing.T) {
	const n = 20
	for _, tc := range []struct {
		name    string
		limiter Limiter
		commits int
	}{
		{"none", nil, 1},
		{"not pacing", pacer{paces: false}, 1},
		{"pacing", pacer{paces: true}, n},
		{"does not say", waitOnly{}, n},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := newMem(t, nil)
			dst := &countingBatches{Store: newMem(t, nil)}
			for i := range n {
				mustAppend(t, src, "INBOX", fmt.Sprintf("m%d", i))
			}
			s, err := New(src, dst, &Options{State: NewMemState(), Limiter: tc.limiter, Concurrency: 1})
			if err != nil {
				t.Fatal(err)
			}
			rep, err := s.Sync(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if rep.Total.Appended != n {
				t.Fatalf("appended %d, want %d", rep.Total.Appended, n)
			}
			if dst.commits != tc.commits {
				t.Errorf("%d batches committed, want %d", dst.commits, tc.commits)
			}
		})
	}
}
