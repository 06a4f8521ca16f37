package mbox

import (
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mailrepl/mailrepl/mailbox"
	"github.com/mailrepl/mailrepl/uid"
)

// benchFile writes an mbox of n messages of about 3 KB, some with
// quoted From lines, and returns its path and size.
func benchFile(b *testing.B, n int) (string, int64) {
	b.Helper()
	path := filepath.Join(b.TempDir(), "bench.mbox")
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	body := strings.Repeat("Some text of a message, as long as lines of mail are.\n", 50)
	var buf []byte
	for i := range n {
		msg := fmt.Sprintf("From: a%d@example.org\nTo: b@example.org\nSubject: message %d\nStatus: RO\n\n%s", i, i, body)
		if i%10 == 0 {
			msg += "\nFrom the desk of someone.\n"
		}
		buf = appendMessage(buf[:0], testFromLine, []byte(msg), MboxRD, i == n-1)
		if _, err := f.Write(buf); err != nil {
			b.Fatal(err)
		}
	}
	fi, err := f.Stat()
	if err != nil {
		b.Fatal(err)
	}
	f.Close()
	return path, fi.Size()
}

// hashBaseline times reading the file and hashing its bytes with SHA-256:
// the least work any index of EmailIDs does.
func hashBaseline(b *testing.B, path string) time.Duration {
	const rounds = 3
	start := time.Now()
	for range rounds {
		f, err := os.Open(path)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := io.Copy(sha256.New(), f); err != nil {
			b.Fatal(err)
		}
		f.Close()
	}
	return time.Since(start) / rounds
}

// BenchmarkIndex indexes a whole file (what the first listing of a
// mailbox costs). It reports MB/s and the ratio of its time to reading
// and hashing the file's bytes (hashBaseline), measured in the same run.
func BenchmarkIndex(b *testing.B) {
	for _, n := range []int{1_000, 20_000} {
		b.Run(fmt.Sprintf("msgs=%d", n), func(b *testing.B) {
			path, size := benchFile(b, n)
			s, err := Open(path, nil)
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			f := s.folders[mailbox.Inbox]
			base := hashBaseline(b, path)
			b.SetBytes(size)
			b.ReportAllocs()
			for b.Loop() {
				f.idx.Store(nil)
				info, err := s.Status(b.Context(), mailbox.Inbox)
				if err != nil || info.UIDNext != uid.UID(n+1) {
					b.Fatalf("Status: %+v, %v", info, err)
				}
			}
			per := b.Elapsed() / time.Duration(b.N)
			b.ReportMetric(float64(per)/float64(base), "x-sha256")
		})
	}
}

// BenchmarkOpen reads every message of a file through Open, and reports
// the ratio of its time to reading and hashing the whole file once.
func BenchmarkOpen(b *testing.B) {
	const n = 5_000
	path, size := benchFile(b, n)
	s, err := Open(path, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Status(b.Context(), mailbox.Inbox); err != nil {
		b.Fatal(err)
	}
	base := hashBaseline(b, path)
	b.SetBytes(size)
	b.ReportAllocs()
	for b.Loop() {
		for u := uid.UID(1); u <= n; u++ {
			rc, err := s.Open(b.Context(), mailbox.Inbox, u)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := io.Copy(io.Discard, rc); err != nil {
				b.Fatal(err)
			}
			rc.Close()
		}
	}
	per := b.Elapsed() / time.Duration(b.N)
	b.ReportMetric(float64(per)/float64(base), "x-sha256")
}
