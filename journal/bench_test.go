package journal

import (
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/mailrepl/mailrepl/mailbox"
	"github.com/mailrepl/mailrepl/uid"
	"github.com/stretchr/testify/require"
)

// Benchmarks write to the test's temporary directory, with synced
// commits: the numbers depend on the disk. Each reports a ratio against a
// baseline measured in the same run, so that noise of the shared machine
// cancels out.

func benchJournal(b *testing.B) *Journal {
	b.Helper()
	j, err := Open(b.TempDir(), nil)
	require.NoError(b, err)
	b.Cleanup(func() { require.NoError(b, j.Close()) })
	return j
}

func benchEvent(i int) Event {
	return Event{Kind: KindAppend, User: fmt.Sprintf("user%d", i%100), MailboxID: mailbox.ID(fmt.Sprintf("mbox%d", i%7)),
		Mailbox: "INBOX", UIDs: uid.SetOf(uid.UID(i + 1)), EmailIDs: []mailbox.EmailID{emailID(i)}, Flags: mailbox.MustFlags(mailbox.Seen)}
}

// BenchmarkAppend measures events per second appended one at a time (each
// waits for its own sync) and by concurrent appenders (group commit: the
// appends queued during one sync share the next). Each iteration of a
// group benchmark appends `writers` events one at a time and then the same
// number concurrently, so the speed-up it reports compares measurements
// interleaved in time, which the noise of a shared machine affects alike.
func BenchmarkAppend(b *testing.B) {
	b.Run("one-at-a-time", func(b *testing.B) {
		j := benchJournal(b)
		i := 0
		for b.Loop() {
			if _, err := j.Append(bg, benchEvent(i)); err != nil {
				b.Fatal(err)
			}
			i++
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	})
	for _, writers := range []int{4, 16, 64} {
		b.Run(fmt.Sprintf("group-commit/writers=%d", writers), func(b *testing.B) {
			j := benchJournal(b)
			var wg sync.WaitGroup
			var serial, group time.Duration
			i := 0
			for b.Loop() {
				start := time.Now()
				for w := range writers {
					if _, err := j.Append(bg, benchEvent(i*writers+w)); err != nil {
						b.Fatal(err)
					}
				}
				mid := time.Now()
				for w := range writers {
					wg.Go(func() {
						if _, err := j.Append(bg, benchEvent(i*writers+w)); err != nil {
							b.Error(err)
						}
					})
				}
				wg.Wait()
				serial += mid.Sub(start)
				group += time.Since(mid)
				i++
			}
			b.ReportMetric(float64(b.N*writers)/group.Seconds(), "events/s")
			b.ReportMetric(serial.Seconds()/group.Seconds(), "x-vs-one-at-a-time")
		})
	}
}

func writeState(tb testing.TB, j *Journal, pair string, mbox mailbox.ID, n, perBatch int) {
	flags := mailbox.MustFlags(mailbox.Seen, "$Forwarded")
	for start := 1; start <= n; start += perBatch {
		batch := j.NewBatch()
		for u := start; u < start+perBatch && u <= n; u++ {
			batch.PutEntry(pair, mbox, Entry{SrcUID: uid.UID(u), DstUID: uid.UID(u), EmailID: emailID(u), Flags: flags})
		}
		if start+perBatch > n {
			batch.PutHeader(pair, Header{Src: Side{MailboxID: mbox, UIDValidity: 1, UIDNext: uid.UID(n + 1)}})
		}
		if _, err := batch.Commit(bg); err != nil {
			tb.Fatal(err)
		}
	}
}

// BenchmarkStateWrite writes the state of a 100,000-message mailbox, in
// batches of 1,000 (as a sync commits its progress) and in one batch. The
// baseline, written in each iteration too, is the same keys and values put
// straight into pebble, without the journal's bookkeeping (the target-UID
// index kept in step, which reads an entry's previous version unless its
// UID is above every UID stored).
func BenchmarkStateWrite(b *testing.B) {
	const n = 100_000
	for _, perBatch := range []int{1_000, n} {
		b.Run(fmt.Sprintf("entries=%d/batch=%d", n, perBatch), func(b *testing.B) {
			j := benchJournal(b)
			var ours, raw time.Duration
			k := 0
			for b.Loop() {
				start := time.Now()
				writeState(b, j, "p", mailbox.ID(fmt.Sprintf("m%d", k)), n, perBatch)
				mid := time.Now()
				rawWrite(b, j, fmt.Sprintf("raw%d", k), n, perBatch)
				ours += mid.Sub(start)
				raw += time.Since(mid)
				k++
			}
			b.ReportMetric(float64(n*b.N)/ours.Seconds(), "entries/s")
			b.ReportMetric(ours.Seconds()/raw.Seconds(), "x-time-vs-raw-pebble")
		})
	}
}

// rawWrite writes what writeState writes, two keys per entry, straight
// into pebble.
func rawWrite(b *testing.B, j *Journal, pair string, n, perBatch int) {
	flags := mailbox.MustFlags(mailbox.Seen, "$Forwarded")
	for start := 1; start <= n; start += perBatch {
		pb := j.db.NewBatch()
		for u := start; u < start+perBatch && u <= n; u++ {
			e := Entry{SrcUID: uid.UID(u), DstUID: uid.UID(u), EmailID: emailID(u), Flags: flags}
			v := encodeEntry(&e)
			_ = pb.Set(entryKey(tEntry, pair, "m", e.SrcUID), v, nil)
			_ = pb.Set(entryKey(tEntryByDst, pair, "m", e.DstUID), v, nil)
		}
		if err := pb.Commit(pebble.Sync); err != nil {
			b.Fatal(err)
		}
		_ = pb.Close()
	}
}

// BenchmarkStateStream streams the state of a 100,000-message mailbox. The
// baseline, run in each iteration too, is a plain pebble iteration over the
// same keys, without decoding, chunking or snapshot.
func BenchmarkStateStream(b *testing.B) {
	const n = 100_000
	j := benchJournal(b)
	writeState(b, j, "p", "m", n, 10_000)
	p := entryPrefix(tEntry, "p", "m")
	var ours, raw time.Duration
	b.ReportAllocs()
	for b.Loop() {
		start := time.Now()
		got := 0
		for _, err := range j.State(bg, "p", "m") {
			if err != nil {
				b.Fatal(err)
			}
			got++
		}
		mid := time.Now()
		it, err := j.db.NewIter(&pebble.IterOptions{LowerBound: p, UpperBound: prefixEnd(p)})
		if err != nil {
			b.Fatal(err)
		}
		count := 0
		for it.First(); it.Valid(); it.Next() {
			_, _ = it.ValueAndErr()
			count++
		}
		if err := it.Close(); err != nil {
			b.Fatal(err)
		}
		ours += mid.Sub(start)
		raw += time.Since(mid)
		if got != n || count != n {
			b.Fatalf("streamed %d entries, iterated %d", got, count)
		}
	}
	b.ReportMetric(float64(n*b.N)/ours.Seconds(), "entries/s")
	b.ReportMetric(ours.Seconds()/raw.Seconds(), "x-time-vs-raw-pebble")
}

// streamPeakHeap streams the state of mailbox m and returns the largest
// growth of the live heap over its level before the stream, sampled (after
// a GC) every `every` entries.
func streamPeakHeap(tb testing.TB, j *Journal, pair string, mbox mailbox.ID, every int) (entries int, peak uint64) {
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	base := ms.HeapInuse
	for _, err := range j.State(bg, pair, mbox) {
		if err != nil {
			tb.Fatal(err)
		}
		entries++
		if entries%every == 0 {
			runtime.GC()
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > base {
				peak = max(peak, ms.HeapInuse-base)
			}
		}
	}
	return entries, peak
}

// BenchmarkStateStreamMemory reports the peak growth of the live heap
// while streaming the state of a 1,000,000-message mailbox, and the same
// for 100,000 messages as the baseline: flat means the ratio stays near 1.
func BenchmarkStateStreamMemory(b *testing.B) {
	j := benchJournal(b)
	writeState(b, j, "p", "small", 100_000, 50_000)
	writeState(b, j, "p", "big", 1_000_000, 50_000)
	_, small := streamPeakHeap(b, j, "p", "small", 10_000)
	b.ResetTimer()
	var peak uint64
	for b.Loop() {
		n, p := streamPeakHeap(b, j, "p", "big", 10_000)
		if n != 1_000_000 {
			b.Fatalf("streamed %d entries", n)
		}
		peak = max(peak, p)
	}
	b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
	b.ReportMetric(float64(small)/(1<<20), "peak-heap-MiB-at-100k")
}
