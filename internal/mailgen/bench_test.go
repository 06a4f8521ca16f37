package mailgen_test

import (
	"context"
	"io"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mailrepl/mailrepl/internal/mailgen"
	"github.com/mailrepl/mailrepl/mailbox"
	"github.com/mailrepl/mailrepl/mailbox/memstore"
	"github.com/mailrepl/mailrepl/uid"
)

// reportRate reports messages and megabytes per second of the benchmark.
func reportRate(b *testing.B, msgs, bytes int64) {
	s := b.Elapsed().Seconds()
	b.ReportMetric(float64(msgs)/s, "msgs/s")
	b.ReportMetric(float64(bytes)/s/1e6, "MB/s")
}

// hashRate times computing the EmailIDs of a sample of the stream's
// messages, in bytes per second: the work any store does on each append,
// and the baseline the generator's speed is given against.
func hashRate(g *mailgen.Generator) float64 {
	var sample [][]byte
	var total int64
	for i := range 500 {
		m := g.Message(i)
		sample = append(sample, m.Body)
		total += int64(len(m.Body))
	}
	var sink mailbox.EmailID
	start := time.Now()
	for _, body := range sample {
		sink = mailbox.EmailIDOf(body)
	}
	_ = sink
	return float64(total) / time.Since(start).Seconds()
}

// BenchmarkGenerate generates messages one by one: into a reused buffer
// (AppendTo), each in its own (Message), and on every CPU. x-emailid is how
// many times longer generating a byte takes than computing the EmailID of
// a byte, measured in the same run.
func BenchmarkGenerate(b *testing.B) {
	g := mailgen.New(1)
	b.Run("AppendTo", func(b *testing.B) {
		var buf []byte
		var m mailgen.Message
		var i, bytes int64
		b.ReportAllocs()
		for b.Loop() {
			buf, m = g.AppendTo(buf[:0], int(i))
			bytes += int64(len(m.Body))
			i++
		}
		reportRate(b, i, bytes)
		b.ReportMetric(hashRate(g)/(float64(bytes)/b.Elapsed().Seconds()), "x-emailid")
	})
	b.Run("Message", func(b *testing.B) {
		var i, bytes int64
		b.ReportAllocs()
		for b.Loop() {
			bytes += int64(len(g.Message(int(i)).Body))
			i++
		}
		reportRate(b, i, bytes)
	})
	b.Run("parallel", func(b *testing.B) {
		var next, bytes atomic.Int64
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			var buf []byte
			var m mailgen.Message
			for pb.Next() {
				buf, m = g.AppendTo(buf[:0], int(next.Add(1)-1))
				bytes.Add(int64(len(m.Body)))
			}
		})
		reportRate(b, next.Load(), bytes.Load())
	})
}

// BenchmarkAccount generates whole accounts, as the engine's benchmarks
// do before they start: the default corpus, and one of small messages
// without attachments for million-message runs.
func BenchmarkAccount(b *testing.B) {
	small, err := mailgen.NewWithOptions(1, &mailgen.Options{TextMedian: 1024, AttachmentRate: -1, LargeRate: -1})
	if err != nil {
		b.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		g    *mailgen.Generator
		n    int
	}{
		{"default/msgs=10000", mailgen.New(1), 10_000},
		{"default/msgs=100000", mailgen.New(1), 100_000},
		{"small/msgs=100000", small, 100_000},
	} {
		b.Run(tc.name, func(b *testing.B) {
			var msgs, bytes int64
			var buf []byte
			var m mailgen.Message
			for b.Loop() {
				for i := range tc.n {
					buf, m = tc.g.AppendTo(buf[:0], i)
					bytes += int64(len(m.Body))
				}
				msgs += int64(tc.n)
			}
			reportRate(b, msgs, bytes)
		})
	}
}

// BenchmarkPopulate fills a memstore with an account; x-generate is how
// many times longer it takes than generating the same messages alone,
// measured in the same run.
func BenchmarkPopulate(b *testing.B) {
	const n = 10_000
	g := mailgen.New(1)
	ctx := b.Context()
	var st mailgen.Stats
	for b.Loop() {
		s := memstore.New(nil)
		var err error
		if st, err = g.Populate(ctx, s, mailgen.AccountSpec{Messages: n}); err != nil {
			b.Fatal(err)
		}
		s.Close()
	}
	reportRate(b, int64(st.Messages)*int64(b.N), st.Bytes*int64(b.N))
	own := b.Elapsed() / time.Duration(b.N)
	start := time.Now()
	var buf []byte
	for i := range n {
		buf, _ = g.AppendTo(buf[:0], i)
	}
	b.ReportMetric(float64(own)/float64(time.Since(start)), "x-generate")
}

// BenchmarkMutate changes a populated store: 100 new messages, 500 flag
// changes and 100 expunges among 20,000, the bench corpus's change set.
func BenchmarkMutate(b *testing.B) {
	g := mailgen.New(1)
	ctx := b.Context()
	s := memstore.New(nil)
	defer s.Close()
	if _, err := g.Populate(ctx, s, mailgen.AccountSpec{Messages: 20_000}); err != nil {
		b.Fatal(err)
	}
	seed := uint64(0)
	for b.Loop() {
		seed++
		if _, err := g.Mutate(ctx, s, seed, mailgen.MutateSpec{New: 100, FlagChanges: 500, Expunges: 100}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*700)/b.Elapsed().Seconds(), "changes/s")
}

// discardStore reads every appended message and keeps none, and samples
// the heap every thousand appends.
type discardStore struct {
	mailbox.Store
	n        int
	peakHeap uint64
}

func (s *discardStore) Append(ctx context.Context, name string, lit mailbox.Literal, meta mailbox.AppendMeta) (uid.UID, error) {
	if _, err := io.Copy(io.Discard, lit); err != nil {
		return 0, err
	}
	if s.n++; s.n%1000 == 0 {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		s.peakHeap = max(s.peakHeap, ms.HeapInuse)
	}
	return uid.UID(s.n), nil
}

// BenchmarkPopulateMemory streams a 100,000-message account (about 1.7 GB)
// into a store that keeps nothing, and reports the largest heap seen: what
// Populate itself holds, whatever the account's size.
func BenchmarkPopulateMemory(b *testing.B) {
	const n = 100_000
	g := mailgen.New(1)
	for b.Loop() {
		s := &discardStore{Store: memstore.New(nil)}
		st, err := g.Populate(b.Context(), s, mailgen.AccountSpec{Messages: n})
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(s.peakHeap)/(1<<20), "peak-heap-MiB")
		b.ReportMetric(float64(st.Bytes)/(1<<20), "account-MiB")
		s.Close()
	}
}
