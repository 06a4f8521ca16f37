package loose

import (
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

// benchDir writes n message files, one in four larger than sniffSize.
func benchDir(b *testing.B, n int) string {
	b.Helper()
	dir := b.TempDir()
	small := strings.Repeat("A line of a message body.\n", 100)
	large := strings.Repeat(small, 8)
	for i := range n {
		body := small
		if i%4 == 0 {
			body = large
		}
		msg := fmt.Sprintf("From: a%d@example.org\nSubject: %d\n\n%s", i, i, body)
		name := fmt.Sprintf("%d.M%dP1.host:2,S", 1700000000+i, i)
		if err := os.WriteFile(filepath.Join(dir, name), []byte(msg), 0o600); err != nil {
			b.Fatal(err)
		}
	}
	return dir
}

// sequentialBaseline times what examining a file needs at least, done
// one file after the other: open, fstat, read the first sniffSize bytes,
// close.
func sequentialBaseline(b *testing.B, dir string) time.Duration {
	ents, err := os.ReadDir(dir)
	if err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, sniffSize+1)
	start := time.Now()
	for _, e := range ents {
		f, err := os.Open(filepath.Join(dir, e.Name()))
		if err != nil {
			b.Fatal(err)
		}
		if _, err := f.Stat(); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(f, buf); err != nil && err != io.ErrUnexpectedEOF {
			b.Fatal(err)
		}
		f.Close()
	}
	return time.Since(start)
}

// BenchmarkIndex opens a directory and lists it (the walk and the
// examination of every file): it reports files per second and the ratio
// of its time to examining the files one after the other
// (sequentialBaseline), measured in the same run.
func BenchmarkIndex(b *testing.B) {
	for _, n := range []int{1_000, 20_000} {
		b.Run(fmt.Sprintf("files=%d", n), func(b *testing.B) {
			dir := benchDir(b, n)
			base := sequentialBaseline(b, dir)
			b.ReportAllocs()
			for b.Loop() {
				s, err := Open(dir, nil)
				if err != nil {
					b.Fatal(err)
				}
				k := 0
				for _, err := range s.Messages(b.Context(), mailbox.Inbox, uid.All) {
					if err != nil {
						b.Fatal(err)
					}
					k++
				}
				if k != n {
					b.Fatalf("listed %d, want %d", k, n)
				}
				s.Close()
			}
			per := b.Elapsed() / time.Duration(b.N)
			b.ReportMetric(float64(n)/per.Seconds(), "files/s")
			b.ReportMetric(float64(per)/float64(base), "x-sequential")
		})
	}
}
