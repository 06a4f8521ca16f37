package memstore_test

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/mailrepl/mailrepl/mailbox"
	"github.com/mailrepl/mailrepl/mailbox/memstore"
	"github.com/mailrepl/mailrepl/uid"
)

// reportRatio reports how many times slower than baseline each operation
// of the benchmark was; baseline is timed here, in the same run, for as
// many operations, so that a noisy machine slows both alike.
func reportRatio(b *testing.B, name string, baseline func()) {
	own := b.Elapsed() / time.Duration(b.N)
	start := time.Now()
	for range b.N {
		baseline()
	}
	base := time.Since(start) / time.Duration(b.N)
	if base > 0 {
		b.ReportMetric(float64(own)/float64(base), "x-"+name)
	}
}

// BenchmarkAppend appends messages of several sizes, against the floor of
// any append: copying the bytes and computing their EmailID.
func BenchmarkAppend(b *testing.B) {
	for _, size := range []int{1 << 10, 100 << 10} {
		b.Run(fmt.Sprintf("size=%dKiB", size>>10), func(b *testing.B) {
			body := bytes.Repeat([]byte("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcd\r\n"), size/64)
			s := memstore.New(nil)
			defer s.Close()
			ctx := b.Context()
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := s.Append(ctx, mailbox.Inbox, mailbox.BytesLiteral(body), mailbox.AppendMeta{}); err != nil {
					b.Fatal(err)
				}
			}
			var sink mailbox.EmailID
			reportRatio(b, "copy+hash", func() { sink = mailbox.EmailIDOf(bytes.Clone(body)) })
			_ = sink
		})
	}
}

// BenchmarkMessages lists a whole mailbox, against ranging over a slice of
// the same messages.
func BenchmarkMessages(b *testing.B) {
	for _, n := range []int{1_000, 100_000} {
		b.Run(fmt.Sprintf("msgs=%d", n), func(b *testing.B) {
			s := memstore.New(nil)
			defer s.Close()
			ctx := b.Context()
			bt, err := s.Batch(ctx, mailbox.Inbox)
			if err != nil {
				b.Fatal(err)
			}
			for i := range n {
				if _, err := bt.Append(ctx, mailbox.BytesLiteral(fmt.Appendf(nil, "Subject: %d\r\n\r\nx\r\n", i)), mailbox.AppendMeta{}); err != nil {
					b.Fatal(err)
				}
			}
			if err := bt.Commit(ctx); err != nil {
				b.Fatal(err)
			}
			var all []mailbox.Message
			for m, err := range s.Messages(ctx, mailbox.Inbox, uid.All) {
				if err != nil {
					b.Fatal(err)
				}
				all = append(all, m)
			}
			b.ReportAllocs()
			var sum int64
			for b.Loop() {
				for m, err := range s.Messages(ctx, mailbox.Inbox, uid.All) {
					if err != nil {
						b.Fatal(err)
					}
					sum += m.Size
				}
			}
			reportRatio(b, "slice", func() {
				for _, m := range all {
					sum += m.Size
				}
			})
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/msg")
		})
	}
}

// BenchmarkChanges asks for the changes of ten messages among 100,000.
func BenchmarkChanges(b *testing.B) {
	const n = 100_000
	s := memstore.New(nil)
	defer s.Close()
	ctx := b.Context()
	bt, err := s.Batch(ctx, mailbox.Inbox)
	if err != nil {
		b.Fatal(err)
	}
	for i := range n {
		if _, err := bt.Append(ctx, mailbox.BytesLiteral(fmt.Appendf(nil, "Subject: %d\r\n\r\nx\r\n", i)), mailbox.AppendMeta{}); err != nil {
			b.Fatal(err)
		}
	}
	if err := bt.Commit(ctx); err != nil {
		b.Fatal(err)
	}
	info, err := s.Status(ctx, mailbox.Inbox)
	if err != nil {
		b.Fatal(err)
	}
	for i := range 10 {
		u := uid.UID(1 + i*n/10)
		if err := s.StoreFlags(ctx, mailbox.Inbox, uid.SetOf(u), mailbox.FlagsAdd, mailbox.MustFlags(mailbox.Seen)); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		k := 0
		for _, err := range s.Changes(ctx, mailbox.Inbox, info.UIDValidity, info.HighestModSeq) {
			if err != nil {
				b.Fatal(err)
			}
			k++
		}
		if k != 10 {
			b.Fatalf("%d changes, want 10", k)
		}
	}
	var sink []mailbox.Message
	for m := range s.Messages(ctx, mailbox.Inbox, uid.All) {
		sink = append(sink, m)
	}
	reportRatio(b, "full-scan", func() {
		k := 0
		for _, m := range sink {
			if m.ModSeq > info.HighestModSeq {
				k++
			}
		}
		_ = k
	})
}
