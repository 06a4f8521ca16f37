package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mailrepl/mailrepl/internal/mailgen"
	"github.com/mailrepl/mailrepl/mailbox"
	"github.com/mailrepl/mailrepl/mailbox/maildir"
)

// BenchmarkBatch mirrors 1,000 small users and 10 large users with the
// program, first without limits, then with -rate-msgs (small users) or
// -rate-bytes (large users) set to half the throughput just measured.
// It reports the throughput without limits (users/s, msgs/s, MB/s, the
// peak heap) and how the limit held: the measured rate over the
// configured one ("limit-ratio"), and the same without the first
// second's burst the token bucket lets through at once
// ("limit-ratio-after-burst"). The trees are on tmpfs when /dev/shm
// exists, so that the disk of a shared machine does not set the pace.
//
//	go test -run XXX -bench Batch -benchtime 1x ./examples/sync_all_users
func BenchmarkBatch(b *testing.B) {
	small := &mailgen.Options{AttachmentRate: -1, LargeRate: -1,
		Folders: []mailgen.Folder{{Name: mailbox.Inbox, Weight: 3}, {Name: "Sent", Kind: mailgen.Sent, Weight: 1}}}
	for _, bc := range []struct {
		name  string
		users int
		msgs  int
		opts  *mailgen.Options
		limit string // the flag limited in the second run
	}{
		{"users=1000,msgs=20", 1000, 20, small, "-rate-msgs"},
		{"users=10,msgs=2000", 10, 2000, nil, "-rate-bytes"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			root := benchDir(b)
			src := filepath.Join(root, "src")
			users := make([]string, bc.users)
			var wg sync.WaitGroup
			var failed atomic.Value
			sem := make(chan struct{}, runtime.GOMAXPROCS(0))
			for i := range users {
				users[i] = fmt.Sprintf("user%04d", i)
				wg.Add(1)
				sem <- struct{}{}
				go func() {
					defer func() { <-sem; wg.Done() }()
					if err := benchPopulate(filepath.Join(src, users[i]), uint64(i+1), bc.msgs, bc.opts); err != nil {
						failed.Store(err)
					}
				}()
			}
			wg.Wait()
			if err, _ := failed.Load().(error); err != nil {
				b.Fatal(err)
			}
			usersFile := filepath.Join(root, "users")
			if err := os.WriteFile(usersFile, []byte(joinLines(users)), 0o644); err != nil {
				b.Fatal(err)
			}
			runs := 0
			mirror := func(extra ...string) (time.Duration, jsonOutput, uint64) {
				runs++
				dst, j := filepath.Join(root, fmt.Sprintf("dst%d", runs)), filepath.Join(root, fmt.Sprintf("journal%d", runs))
				args := append([]string{"-users", usersFile, "-source", "maildir:" + src + "/{user}", "-target", "maildir:" + dst + "/{user}",
					"-journal", j, "-json", "-concurrency", "4"}, extra...)
				var stdout bytes.Buffer
				peak := watchHeap()
				start := time.Now()
				code := run(bg, args, &stdout, io.Discard)
				elapsed := time.Since(start)
				heap := peak()
				if code != exitOK {
					b.Fatalf("exit status %d: %s", code, stdout.String())
				}
				var out jsonOutput
				if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				os.RemoveAll(dst)
				os.RemoveAll(j)
				b.StartTimer()
				return elapsed, out, heap
			}
			for b.Loop() {
				// Without limits.
				t, out, heap := mirror()
				sec := t.Seconds()
				msgRate, byteRate := float64(out.Total["appended"])/sec, float64(out.Total["bytes"])/sec
				b.ReportMetric(float64(bc.users)/sec, "users/s")
				b.ReportMetric(msgRate, "msgs/s")
				b.ReportMetric(byteRate/1e6, "MB/s")
				b.ReportMetric(float64(heap)/(1<<20), "peak-heap-MiB")

				// With a limit at half that throughput.
				var rate, moved float64
				if bc.limit == "-rate-msgs" {
					rate = msgRate / 2
				} else {
					rate = byteRate / 2
				}
				t, out, _ = mirror(bc.limit, strconv.FormatFloat(rate, 'f', 0, 64))
				if bc.limit == "-rate-msgs" {
					moved = float64(out.Total["appended"])
				} else {
					moved = float64(out.Total["bytes"])
				}
				sec = t.Seconds()
				burst := rate // the default burst: one second's worth
				b.ReportMetric(moved/sec/rate, "limit-ratio")
				b.ReportMetric((moved-burst)/sec/rate, "limit-ratio-after-burst")
				b.ReportMetric(sec, "limited-s")
			}
		})
	}
}

// benchDir returns a directory for a benchmark's trees, on tmpfs when
// there is one.
func benchDir(b *testing.B) string {
	if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
		dir, err := os.MkdirTemp("/dev/shm", "sync_all_users-bench-")
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { os.RemoveAll(dir) })
		return dir
	}
	return b.TempDir()
}

func benchPopulate(dir string, seed uint64, n int, opts *mailgen.Options) error {
	s, err := maildir.Open(dir, nil)
	if err != nil {
		return err
	}
	g, err := mailgen.NewWithOptions(seed, opts)
	if err != nil {
		return err
	}
	if _, err := g.Populate(bg, s, mailgen.AccountSpec{Messages: n}); err != nil {
		return err
	}
	return s.Close()
}

// watchHeap samples the heap in use until the returned function is
// called, which returns the peak seen.
func watchHeap() func() uint64 {
	var peak atomic.Uint64
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak.Load() {
				peak.Store(ms.HeapInuse)
			}
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	return func() uint64 {
		close(stop)
		<-done
		return peak.Load()
	}
}

func joinLines(lines []string) string {
	var b bytes.Buffer
	for _, l := range lines {
		b.WriteString(l)
		b.WriteByte('\n')
	}
	return b.String()
}

// BenchmarkRateLimitPlain mirrors plain Maildirs (no dovecot-uidlist:
// every body is read for its EmailID before its copy) on a disk, in this
// process, under -rate-bytes and -rate-msgs set to a rate this machine
// keeps up with, and reports how each limit held: the messages or bytes
// the JSON report gives over the run's wall time, the first second's burst
// taken off ("limit-ratio-after-burst"; the wall time includes the
// start: opening the journal, listing). TestRateLimitsHold measures the
// same from outside, by the files' arrival on the target.
//
//	go test -run XXX -bench RateLimitPlain -benchtime 1x ./examples/sync_all_users
func BenchmarkRateLimitPlain(b *testing.B) {
	for _, bc := range []struct {
		name, flag  string
		users, msgs int
		parallel    int
	}{
		{"bytes,users=1", "-rate-bytes", 1, 400, 1},
		{"bytes,users=4,mailboxes=2", "-rate-bytes", 4, 150, 2},
		{"msgs,users=4,mailboxes=2", "-rate-msgs", 4, 150, 2},
	} {
		b.Run(bc.name, func(b *testing.B) {
			root := diskDir(b)
			src := filepath.Join(root, "src")
			var users []string
			var total int64
			for i := range bc.users {
				u := fmt.Sprintf("user%d", i)
				users = append(users, u)
				if err := benchPopulate(filepath.Join(src, u), uint64(i+1), bc.msgs, &mailgen.Options{AttachmentRate: -1, LargeRate: -1}); err != nil {
					b.Fatal(err)
				}
				plainify(b, filepath.Join(src, u))
				for _, f := range messageFiles(b, filepath.Join(src, u)) {
					fi, err := os.Stat(f)
					if err != nil {
						b.Fatal(err)
					}
					total += fi.Size()
				}
			}
			// A run of about 12 s.
			rate := math.Round(float64(total) / 12)
			if bc.flag == "-rate-msgs" {
				rate = math.Round(float64(bc.users*bc.msgs) / 12)
			}
			runs := 0
			for b.Loop() {
				runs++
				dst, j := filepath.Join(root, fmt.Sprintf("dst%d", runs)), filepath.Join(root, fmt.Sprintf("journal%d", runs))
				args := append([]string{"-source", "maildir:" + src + "/{user}", "-target", "maildir:" + dst + "/{user}",
					"-journal", j, "-json", "-concurrency", strconv.Itoa(bc.users), "-mailbox-concurrency", strconv.Itoa(bc.parallel),
					bc.flag, strconv.FormatFloat(rate, 'f', 0, 64)}, users...)
				var stdout bytes.Buffer
				start := time.Now()
				code := run(bg, args, &stdout, io.Discard)
				sec := time.Since(start).Seconds()
				if code != exitOK {
					b.Fatalf("exit status %d: %s", code, stdout.String())
				}
				var out jsonOutput
				if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
					b.Fatal(err)
				}
				moved := float64(out.Total["bytes"])
				if bc.flag == "-rate-msgs" {
					moved = float64(out.Total["appended"])
				}
				b.ReportMetric((moved-rate)/sec/rate, "limit-ratio-after-burst")
				b.ReportMetric(sec, "s")
			}
		})
	}
}
