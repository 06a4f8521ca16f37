package replica_test

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mailrepl/mailrepl/internal/mailgen"
	"github.com/mailrepl/mailrepl/journal"
	"github.com/mailrepl/mailrepl/mailbox"
	"github.com/mailrepl/mailrepl/replica"
)

var (
	flagRSS        = flag.Bool("rss", false, "TestPeakRSS also syncs a 1,000,000-message mailbox (a few minutes)")
	flagRSSProfile = flag.String("rss.profile", "", "TestPeakRSS writes heap profiles of each sync into this directory")
)

// rssLimit is the peak RSS a sync of one mailbox may reach, whatever its
// size (issue 5: "a 1,000,000-message mailbox syncs with a peak RSS under
// 200 MB").
const rssLimit = 200 << 20

// The child process's environment: the mailbox size, and the directory
// for its journal and its result.
const (
	envRSSMessages = "MAILREPL_RSS_CHILD"
	envRSSDir      = "MAILREPL_RSS_DIR"
	envRSSProfile  = "MAILREPL_RSS_PROFILE"
)

// rssResult is what the child reports.
type rssResult struct {
	Messages     int     `json:"messages"`
	StartKiB     int64   `json:"start_kib"`      // VmHWM when the sync starts
	FullKiB      int64   `json:"full_kib"`       // VmHWM over the full mirror
	NoChangeKiB  int64   `json:"no_change_kib"`  // VmHWM over the second sync (reset before it)
	FullHeapMiB  float64 `json:"full_heap_mib"`  // largest Go heap seen in the full mirror
	NoChangeHeap float64 `json:"no_change_heap"` // … in the second sync
	FullSecs     float64 `json:"full_secs"`
	NoChangeSecs float64 `json:"no_change_secs"`
	Appended     int     `json:"appended"`
	Bytes        int64   `json:"bytes"`
	SinkChecked  int     `json:"sink_checked"` // messages the sink checked against the stream
	SecondChange bool    `json:"second_changed"`
	JournalMiB   float64 `json:"journal_mib"` // the journal's size on disk after both syncs
	ResetWorked  bool    `json:"reset_worked"`
}

// TestPeakRSS measures the peak resident memory of a mirror of one large
// mailbox, in a child process of its own (this test binary run again), so
// that nothing else of the tests is counted: a full mirror into an empty
// target, then a second sync with nothing changed, both with the state in
// a journal on disk. The source generates its messages on demand and the
// target keeps none (synth_bench_test.go), so what the process holds is
// the engine's and the journal's. The peak is the kernel's VmHWM, reset
// between the two syncs (/proc/self/clear_refs).
//
// By default it syncs 100,000 messages (about 12 s; 10,000 under the race
// detector, which makes it five times slower); with -rss also 1,000,000
// (a few minutes), to show that the peak does not grow with the mailbox.
// Each must stay under 200 MB (under the race detector, whose shadow
// memory multiplies the process's, eight times that). -rss.profile=DIR
// keeps heap profiles of each sync.
func TestPeakRSS(t *testing.T) {
	if s := os.Getenv(envRSSMessages); s != "" {
		rssChild(t, s)
		return
	}
	if _, err := os.Stat("/proc/self/status"); err != nil {
		t.Fatalf("peak RSS is read from /proc/self/status (Linux): %v", err)
	}
	sizes := []int{100_000}
	switch {
	case *flagRSS:
		sizes = append(sizes, 1_000_000)
	case raceEnabled:
		// Under the race detector 100,000 messages take a minute: the
		// default run checks the measurement on fewer.
		sizes = []int{10_000}
	}
	var results []rssResult
	for _, n := range sizes {
		r := runRSSChild(t, n)
		results = append(results, r)
		t.Logf("%9d messages (%.0f MB): full mirror %5.1f s, peak RSS %6.1f MiB (Go heap %5.1f MiB); no-change sync %5.1f s, peak RSS %6.1f MiB (Go heap %5.1f MiB); at start %5.1f MiB; journal %.0f MiB on disk",
			r.Messages, float64(r.Bytes)/1e6, r.FullSecs, float64(r.FullKiB)/1024, r.FullHeapMiB,
			r.NoChangeSecs, float64(r.NoChangeKiB)/1024, r.NoChangeHeap, float64(r.StartKiB)/1024, r.JournalMiB)
		if r.Appended != n || r.SinkChecked != n {
			t.Errorf("%d messages: the mirror appended %d, the target checked %d", n, r.Appended, r.SinkChecked)
		}
		if r.SecondChange {
			t.Errorf("%d messages: the second sync changed something", n)
		}
		if !r.ResetWorked {
			t.Logf("the kernel did not reset VmHWM: the no-change peak includes the full mirror's")
		}
		limit := int64(rssLimit)
		if raceEnabled {
			// The race detector's shadow memory multiplies the heap (its
			// documentation: 5 to 10 times); the limit is for normal builds.
			limit *= 8
		}
		if peak := max(r.FullKiB, r.NoChangeKiB) << 10; peak > limit {
			t.Errorf("%d messages: peak RSS %.1f MiB, over the limit of %d MiB", n, float64(peak)/(1<<20), limit>>20)
		}
	}
	if len(results) == 2 {
		a, b := results[0], results[1]
		t.Logf("%dx the messages: full mirror peak x%.2f, no-change sync peak x%.2f", b.Messages/a.Messages,
			float64(b.FullKiB)/float64(a.FullKiB), float64(b.NoChangeKiB)/float64(a.NoChangeKiB))
	}
}

// runRSSChild runs the child for n messages and returns its result.
func runRSSChild(t *testing.T, n int) rssResult {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cmd := exec.Command(exe, "-test.run=^TestPeakRSS$", "-test.count=1", "-test.timeout=30m")
	cmd.Env = append(os.Environ(), envRSSMessages+"="+strconv.Itoa(n), envRSSDir+"="+dir)
	if *flagRSSProfile != "" {
		abs, err := filepath.Abs(*flagRSSProfile)
		if err != nil {
			t.Fatal(err)
		}
		cmd.Env = append(cmd.Env, envRSSProfile+"="+abs)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child for %d messages: %v\n%s", n, err, out)
	}
	b, err := os.ReadFile(filepath.Join(dir, "result.json"))
	if err != nil {
		t.Fatalf("child for %d messages left no result: %v\n%s", n, err, out)
	}
	var r rssResult
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	return r
}

// rssGenerator is the stream of the synthetic mailbox: one folder, small
// text messages (median 1 KiB, no attachments).
func rssGenerator(t testing.TB) *mailgen.Generator {
	g, err := mailgen.NewWithOptions(5, &mailgen.Options{
		TextMedian: 1024, AttachmentRate: -1, LargeRate: -1,
		Folders: []mailgen.Folder{{Name: mailbox.Inbox, Kind: mailgen.Received, Weight: 1}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// rssChild is the child process: it syncs, measures and writes result.json.
func rssChild(t *testing.T, size string) {
	n, err := strconv.Atoi(size)
	if err != nil {
		t.Fatalf("%s=%q: %v", envRSSMessages, size, err)
	}
	dir := os.Getenv(envRSSDir)
	ctx := t.Context()
	r := rssResult{Messages: n, StartKiB: vmHWM(t)}
	j, err := journal.Open(filepath.Join(dir, "journal"), nil)
	if err != nil {
		t.Fatal(err)
	}
	g := rssGenerator(t)
	src, dst := &synthSource{g: g, n: n}, newSinkStore(g)
	s, err := replica.New(src, dst, &replica.Options{Mode: replica.Mirror, State: replica.NewJournalState(j)})
	if err != nil {
		t.Fatal(err)
	}

	sample := heapSampler()
	start := time.Now()
	rep, err := s.Sync(ctx)
	r.FullSecs = time.Since(start).Seconds()
	r.FullHeapMiB = sample()
	if err != nil {
		t.Fatal(err)
	}
	r.FullKiB = vmHWM(t)
	r.Appended, r.Bytes = rep.Total.Appended, rep.Total.Bytes
	r.SinkChecked, _, _ = dst.counts()
	writeHeapProfile(t, n, "full")

	// A second sync, nothing changed, its peak measured alone.
	runtime.GC()
	r.ResetWorked = resetHWM() == nil && vmHWM(t) < r.FullKiB
	sample = heapSampler()
	start = time.Now()
	rep, err = s.Sync(ctx)
	r.NoChangeSecs = time.Since(start).Seconds()
	r.NoChangeHeap = sample()
	if err != nil {
		t.Fatal(err)
	}
	r.NoChangeKiB = vmHWM(t)
	r.SecondChange = rep.Total.Changed()
	writeHeapProfile(t, n, "nochange")
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	r.JournalMiB = float64(dirSize(t, filepath.Join(dir, "journal"))) / (1 << 20)
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "result.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// vmHWM returns the process's peak resident set size in KiB.
func vmHWM(t testing.TB) int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			n, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatal("no VmHWM in /proc/self/status")
	return 0
}

// resetHWM resets the peak RSS to the current RSS (Linux 4.0 and later).
func resetHWM() error { return os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) }

// heapSampler samples the Go heap every 20 ms until the function it
// returns is called, which returns the largest heap seen, in MiB.
func heapSampler() func() float64 {
	var (
		wg   sync.WaitGroup
		peak uint64
	)
	done := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapInuse)
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	}()
	return func() float64 {
		close(done)
		wg.Wait()
		return float64(peak) / (1 << 20)
	}
}

func writeHeapProfile(t testing.TB, n int, name string) {
	dir := os.Getenv(envRSSProfile)
	if dir == "" {
		return
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(filepath.Join(dir, fmt.Sprintf("heap-%d-%s.pprof", n, name)))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		t.Fatal(err)
	}
}

func dirSize(t testing.TB, dir string) int64 {
	var n int64
	err := filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if fi.Mode().IsRegular() {
			n += fi.Size()
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}
