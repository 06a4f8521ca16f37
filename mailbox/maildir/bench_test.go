package maildir

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mailrepl/mailrepl/mailbox"
	"github.com/mailrepl/mailrepl/uid"
)

// benchTree writes a Maildir with n messages as this store leaves it
// (files in cur/ with S= and W= and flags, a dovecot-uidlist with the
// cache of EmailIDs and dates filled), without fsync, for benchmarks.
func benchTree(b *testing.B, n int) string {
	b.Helper()
	root := b.TempDir()
	for _, sub := range []string{"cur", "new", "tmp"} {
		if err := os.Mkdir(filepath.Join(root, sub), 0o700); err != nil {
			b.Fatal(err)
		}
	}
	l := newUidlist(1700000000, 1)
	l.guid = strings.Repeat("ab", 16)
	flagSets := []string{"", "S", "RS", "FS", "Sa", "Sab"}
	os.WriteFile(filepath.Join(root, "dovecot-keywords"), []byte("0 $Forwarded\n1 Work\n"), 0o600)
	date := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range n {
		body := fmt.Appendf(nil, "From: a@example.org\nSubject: message %d\n\n%s\n", i, strings.Repeat("body ", 30))
		base := newBase(1700000000+int64(i), i%1000000, 4242, uint64(i), "bench.example", int64(len(body)), int64(len(body)+4))
		name := fileName{base: base}.withFlags(flagSets[i%len(flagSets)]).String()
		p := filepath.Join(root, "cur", name)
		if err := os.WriteFile(p, body, 0o600); err != nil {
			b.Fatal(err)
		}
		os.Chtimes(p, date, date)
		r := record{uid: l.next, base: base}
		r.setCache(cacheEntry{id: mailbox.EmailIDOf(body), hasID: true, date: date.Unix(), hasDate: true})
		l.recs = append(l.recs, r)
		l.next++
	}
	if err := os.WriteFile(filepath.Join(root, uidlistName), l.format(), 0o600); err != nil {
		b.Fatal(err)
	}
	// Let the directories age past the store's one-second rule, so that
	// a warm store may reuse its scan as a long-lived one would.
	old := time.Now().Add(-time.Minute)
	os.Chtimes(filepath.Join(root, "cur"), old, old)
	os.Chtimes(filepath.Join(root, "new"), old, old)
	return root
}

// readDirBaseline times a bare os.ReadDir of cur/ and new/.
func readDirBaseline(b *testing.B, root string) time.Duration {
	const rounds = 5
	start := time.Now()
	for range rounds {
		for _, sub := range []string{"cur", "new"} {
			if _, err := os.ReadDir(filepath.Join(root, sub)); err != nil {
				b.Fatal(err)
			}
		}
	}
	return time.Since(start) / rounds
}

// BenchmarkList lists a whole folder, with a store that has listed it
// before (warm: uidlist parsed, directories read) and with a store opened
// for each listing (cold). It reports messages per second and the ratio
// of its time to a bare os.ReadDir of the same directories, measured in
// the same run.
func BenchmarkList(b *testing.B) {
	ctx := context.Background()
	for _, n := range []int{1_000, 100_000} {
		root := benchTree(b, n)
		for _, mode := range []string{"warm", "cold"} {
			b.Run(fmt.Sprintf("msgs=%d/%s", n, mode), func(b *testing.B) {
				s, err := Open(root, nil)
				if err != nil {
					b.Fatal(err)
				}
				defer s.Close()
				count := func(s *Store) {
					k := 0
					for _, err := range s.Messages(ctx, "INBOX", uid.All) {
						if err != nil {
							b.Fatal(err)
						}
						k++
					}
					if k != n {
						b.Fatalf("listed %d, want %d", k, n)
					}
				}
				count(s)
				base := readDirBaseline(b, root)
				b.ReportAllocs()
				for b.Loop() {
					if mode == "cold" {
						s2, err := Open(root, nil)
						if err != nil {
							b.Fatal(err)
						}
						count(s2)
						s2.Close()
					} else {
						count(s)
					}
				}
				per := b.Elapsed() / time.Duration(b.N)
				b.ReportMetric(float64(n)/per.Seconds(), "msgs/s")
				b.ReportMetric(float64(per)/float64(base), "x-ReadDir")
			})
		}
	}
}

// BenchmarkAppend appends small messages to a folder already holding
// some, one durable append at a time and in batches of 100 (one
// directory fsync and one uidlist rewrite each). Each operation is one
// message; it reports messages per second, and its ratio to unbatched
// appends timed in the same run.
func BenchmarkAppend(b *testing.B) {
	ctx := context.Background()
	body := []byte("From: a@example.org\nSubject: bench\n\n" + strings.Repeat("body ", 200) + "\n")
	for _, existing := range []int{0, 10_000} {
		for _, batchSize := range []int{1, 100} {
			b.Run(fmt.Sprintf("existing=%d/batch=%d", existing, batchSize), func(b *testing.B) {
				root := benchTree(b, existing)
				s, err := Open(root, nil)
				if err != nil {
					b.Fatal(err)
				}
				defer s.Close()
				b.SetBytes(int64(len(body)))
				// Baseline, in the same run: unbatched appends.
				const baseN = 50
				start := time.Now()
				for range baseN {
					if _, err := s.Append(ctx, "INBOX", mailbox.BytesLiteral(body), mailbox.AppendMeta{}); err != nil {
						b.Fatal(err)
					}
				}
				single := float64(baseN) / time.Since(start).Seconds()
				var bt mailbox.Batch
				inBatch := 0
				for b.Loop() {
					if bt == nil {
						if bt, err = s.Batch(ctx, "INBOX"); err != nil {
							b.Fatal(err)
						}
					}
					if _, err := bt.Append(ctx, mailbox.BytesLiteral(body), mailbox.AppendMeta{}); err != nil {
						b.Fatal(err)
					}
					if inBatch++; inBatch == batchSize {
						if err := bt.Commit(ctx); err != nil {
							b.Fatal(err)
						}
						bt, inBatch = nil, 0
					}
				}
				if bt != nil {
					if err := bt.Commit(ctx); err != nil {
						b.Fatal(err)
					}
				}
				rate := float64(b.N) / b.Elapsed().Seconds()
				b.ReportMetric(rate, "msgs/s")
				b.ReportMetric(rate/single, "x-unbatched")
			})
		}
	}
}
