package journal

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/mailrepl/mailrepl/mailbox"
	"github.com/mailrepl/mailrepl/uid"
	"github.com/stretchr/testify/require"
)

// The crash tests run a workload that appends events and commits state
// batches from several goroutines, each reporting ("acknowledging") a
// change only after its Commit returned. The journal is then killed, or
// its filesystem crashed, at a random moment, reopened and checked:
// every acknowledged change is there, no batch is partly there, and no
// sequence number was given twice.

const (
	crashChildEnv = "JOURNAL_CRASH_CHILD" // "crash" or "hold": run as a child
	crashDirEnv   = "JOURNAL_CRASH_DIR"
	crashRunEnv   = "JOURNAL_CRASH_RUN"
	crashSeedEnv  = "JOURNAL_CRASH_SEED"
	crashPair     = "p"
	crashWriters  = 3 // goroutines that write; one more moves the cursor
)

// crashChild is the child process's main: it runs the workload on the
// directory until it is killed, writing acknowledgements to stdout.
func crashChild() int {
	dir := os.Getenv(crashDirEnv)
	switch os.Getenv(crashChildEnv) {
	case "hold": // open the journal and hold it until stdin closes
		j, err := Open(dir, nil)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 2
		}
		fmt.Println("ready")
		_, _ = io.Copy(io.Discard, os.Stdin)
		if err := j.Close(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 2
		}
		return 0
	case "crash":
	default:
		fmt.Fprintln(os.Stderr, "unknown child mode")
		return 2
	}
	run, _ := strconv.Atoi(os.Getenv(crashRunEnv))
	seed, _ := strconv.ParseUint(os.Getenv(crashSeedEnv), 10, 64)
	j, err := Open(dir, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, "child open:", err)
		return 3
	}
	var mu sync.Mutex
	ack := func(line string) {
		mu.Lock()
		defer mu.Unlock()
		os.Stdout.WriteString(line + "\n") // one write: atomic on a pipe
	}
	ack("open")
	w := &workload{j: j, runID: run, ack: ack}
	err = w.run(context.Background(), seed)
	fmt.Fprintln(os.Stderr, "child workload:", err)
	return 3
}

// workload is the writing side of the crash tests.
type workload struct {
	j     *Journal
	runID int
	ack   func(string)
}

// run starts the writers and the cursor mover and returns the first error
// (a workload runs until ctx ends or it fails).
func (w *workload) run(ctx context.Context, seed uint64) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make(chan error, crashWriters+1)
	var wg sync.WaitGroup
	for g := range crashWriters {
		wg.Go(func() { errs <- w.writer(ctx, g, newRand(seed+uint64(g))) })
	}
	wg.Go(func() { errs <- w.cursorMover(ctx, newRand(seed+99)) })
	err := <-errs
	cancel()
	wg.Wait()
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

func crashMailbox(g int) mailbox.ID { return mailbox.ID("m" + strconv.Itoa(g)) }

func crashEvents(tag string, g, n int) []Event {
	evs := make([]Event, n)
	for i := range evs {
		evs[i] = Event{Kind: KindAppend, User: "u", MailboxID: crashMailbox(g), Mailbox: "INBOX/" + string(crashMailbox(g)),
			UIDs: uid.SetOf(uid.UID(i + 1)), Origin: fmt.Sprintf("%s:%d:%d", tag, i, n)}
	}
	return evs
}

// writer appends events and commits state batches for its own mailbox.
func (w *workload) writer(ctx context.Context, g int, rng *rand.Rand) error {
	mbox := crashMailbox(g)
	next := uid.UID(1)
	if h, found, err := w.j.Header(crashPair, mbox); err != nil {
		return err
	} else if found {
		next = h.Src.UIDNext
	}
	for k := 0; ; k++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		tag := fmt.Sprintf("r%dg%dn%d", w.runID, g, k)
		if rng.IntN(2) == 0 {
			n := 1 + rng.IntN(3)
			last, err := w.j.Append(ctx, crashEvents(tag, g, n)...)
			if err != nil {
				return err
			}
			w.ack(fmt.Sprintf("E %s %d %d", tag, last-Seq(n)+1, n))
			continue
		}
		// A state batch: entries next..next+k-1, the header that says
		// so, the intent of the next copy, and two events.
		n := 1 + rng.IntN(5)
		b := w.j.NewBatch()
		for u := next; u < next+uid.UID(n); u++ {
			b.PutEntry(crashPair, mbox, Entry{SrcUID: u, DstUID: u + 1000, EmailID: emailID(int(u))})
		}
		b.DeleteIntent(crashPair, Intent{MailboxID: mbox, EmailID: emailID(int(next)), SrcUID: next})
		b.PutIntent(crashPair, Intent{MailboxID: mbox, EmailID: emailID(int(next) + n), SrcUID: next + uid.UID(n)})
		b.PutHeader(crashPair, Header{Src: Side{MailboxID: mbox, UIDValidity: 1, UIDNext: next + uid.UID(n)}})
		b.Append(crashEvents(tag, g, 2)...)
		last, err := b.Commit(ctx)
		if err != nil {
			return err
		}
		next += uid.UID(n)
		w.ack(fmt.Sprintf("S %s %d %d %d", mbox, next, last-1, 2))
	}
}

// cursorMover moves cursor "c" forward and truncates below it.
func (w *workload) cursorMover(ctx context.Context, rng *rand.Rand) error {
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Duration(rng.IntN(3000)) * time.Microsecond):
		}
		cur, _, err := w.j.Cursor("c")
		if err != nil {
			return err
		}
		last := w.j.LastSeq()
		c := max(cur, last-Seq(min(uint64(last), uint64(rng.IntN(30)))))
		if err := w.j.SetCursor(ctx, "c", c); err != nil {
			return err
		}
		trunc, err := w.j.Truncate(ctx)
		if err != nil {
			return err
		}
		w.ack(fmt.Sprintf("C %d %d", c, trunc))
	}
}

// history is what the acknowledgements promised, across runs.
type history struct {
	seqs    map[Seq]string         // seq → "tag:i:n" of the event acknowledged with it
	uidNext map[mailbox.ID]uid.UID // highest acknowledged UIDNEXT per mailbox
	cursor  Seq
	trunc   Seq
	acks    int
}

func newHistory() *history {
	return &history{seqs: map[Seq]string{}, uidNext: map[mailbox.ID]uid.UID{}}
}

// add records one acknowledgement line. A sequence number acknowledged
// for two different events is an error.
func (h *history) add(line string) error {
	f := strings.Fields(line)
	if len(f) == 0 || f[0] == "open" {
		return nil
	}
	num := func(i int) uint64 {
		n, _ := strconv.ParseUint(f[i], 10, 64)
		return n
	}
	h.acks++
	addEvents := func(tag string, first Seq, n int) error {
		for i := range n {
			s, want := first+Seq(i), fmt.Sprintf("%s:%d:%d", tag, i, n)
			if got, ok := h.seqs[s]; ok && got != want {
				return fmt.Errorf("seq %d acknowledged for %s and for %s", s, got, want)
			}
			h.seqs[s] = want
		}
		return nil
	}
	switch {
	case f[0] == "E" && len(f) == 4:
		return addEvents(f[1], Seq(num(2)), int(num(3)))
	case f[0] == "S" && len(f) == 5:
		mbox := mailbox.ID(f[1])
		h.uidNext[mbox] = max(h.uidNext[mbox], uid.UID(num(2)))
		// The tag of a state batch's events is not in the line; it is
		// checked through the events themselves.
		return nil
	case f[0] == "C" && len(f) == 3:
		h.cursor = max(h.cursor, Seq(num(1)))
		h.trunc = max(h.trunc, Seq(num(2)))
		return nil
	}
	return fmt.Errorf("bad acknowledgement %q", line)
}

// verify checks the journal against the history.
func verify(j *Journal, h *history) error {
	trunc, last := j.Truncated(), j.LastSeq()
	if trunc < h.trunc {
		return fmt.Errorf("truncation point %d, acknowledged %d", trunc, h.trunc)
	}
	cur, _, err := j.Cursor("c")
	if err != nil {
		return err
	}
	if cur < h.cursor || trunc > cur && cur != 0 {
		return fmt.Errorf("cursor %d (acknowledged %d), truncated through %d", cur, h.cursor, trunc)
	}
	// Events: contiguous (Events checks), each batch whole.
	bySeq := map[Seq]string{}
	for e, err := range j.Events(bg, trunc) {
		if err != nil {
			return err
		}
		bySeq[e.Seq] = e.Origin
	}
	if len(bySeq) != int(last-trunc) {
		return fmt.Errorf("%d events between %d and %d", len(bySeq), trunc, last)
	}
	for s, origin := range bySeq {
		parts := strings.Split(origin, ":")
		if len(parts) != 3 {
			return fmt.Errorf("event %d: bad origin %q", s, origin)
		}
		i, _ := strconv.Atoi(parts[1])
		n, _ := strconv.Atoi(parts[2])
		base := s - Seq(i)
		for k := range n {
			if base+Seq(k) <= trunc {
				continue
			}
			want := fmt.Sprintf("%s:%d:%d", parts[0], k, n)
			if got := bySeq[base+Seq(k)]; got != want {
				return fmt.Errorf("event %d is %q, want %q: a batch is partly there", base+Seq(k), got, want)
			}
		}
	}
	for s, want := range h.seqs {
		if s <= trunc {
			continue
		}
		if got, ok := bySeq[s]; !ok {
			return fmt.Errorf("acknowledged event %d (%s) lost", s, want)
		} else if got != want {
			return fmt.Errorf("acknowledged event %d is %s, now %s: seq given twice", s, want, got)
		}
	}
	// State: the header, the entries both ways and the intent agree.
	for g := range crashWriters {
		mbox := crashMailbox(g)
		hd, found, err := j.Header(crashPair, mbox)
		if err != nil {
			return err
		}
		next := uid.UID(1)
		if found {
			next = hd.Src.UIDNext
		}
		if next < h.uidNext[mbox] {
			return fmt.Errorf("%s: UIDNEXT %d, acknowledged %d", mbox, next, h.uidNext[mbox])
		}
		want := uid.UID(1)
		for e, err := range j.State(bg, crashPair, mbox) {
			if err != nil {
				return err
			}
			if e.SrcUID != want || e.DstUID != want+1000 || e.EmailID != emailID(int(want)) {
				return fmt.Errorf("%s: entry %+v, want source UID %d", mbox, e, want)
			}
			want++
		}
		if want != next {
			return fmt.Errorf("%s: entries up to %d, header says UIDNEXT %d: a batch is partly there", mbox, want-1, next)
		}
		n := 0
		for e, err := range j.StateByDst(bg, crashPair, mbox) {
			if err != nil {
				return err
			}
			if e.DstUID != uid.UID(n+1001) {
				return fmt.Errorf("%s: target-UID order: entry %+v at %d", mbox, e, n)
			}
			n++
		}
		if n != int(next-1) {
			return fmt.Errorf("%s: %d entries by target UID, %d by source UID", mbox, n, next-1)
		}
		var intents []Intent
		for in, err := range j.Intents(bg, crashPair, mbox) {
			if err != nil {
				return err
			}
			intents = append(intents, in)
		}
		switch {
		case !found && len(intents) != 0:
			return fmt.Errorf("%s: intents %+v without state", mbox, intents)
		case found && (len(intents) != 1 || intents[0].SrcUID != next):
			return fmt.Errorf("%s: intents %+v, want one for UID %d", mbox, intents, next)
		}
	}
	return nil
}

// TestCrashKill kills a child process running the workload at random
// moments, at least 200 times (more with -long), four directories at a
// time.
func TestCrashKill(t *testing.T) {
	seed := testSeed(t)
	const dirs = 4
	cycles := 50
	if *longFlag {
		cycles = 500
	}
	var (
		mu                  sync.Mutex
		kills, midWrite     int
		totalAcks, failures int
	)
	var wg sync.WaitGroup
	for d := range dirs {
		wg.Go(func() {
			rng := newRand(seed + uint64(d)*1000)
			dir := t.TempDir()
			h := newHistory()
			for run := range cycles {
				acked, err := crashCycle(dir, run, rng, h)
				mu.Lock()
				kills++
				if acked > 0 {
					midWrite++
				}
				totalAcks += acked
				mu.Unlock()
				if err != nil {
					mu.Lock()
					failures++
					mu.Unlock()
					t.Errorf("dir %d run %d: %v", d, run, err)
					return
				}
			}
		})
	}
	wg.Wait()
	t.Logf("%d kills (%d after the child had acknowledged changes), %d acknowledgements checked", kills, midWrite, totalAcks)
	if failures == 0 {
		require.GreaterOrEqual(t, kills, dirs*cycles)
		require.Greater(t, midWrite, kills/2, "most kills hit a writing child")
	}
}

// crashCycle runs one child on dir, kills it and checks the journal. It
// returns the number of acknowledgements the child made.
func crashCycle(dir string, run int, rng *rand.Rand, h *history) (int, error) {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), crashChildEnv+"=crash", crashDirEnv+"="+dir,
		crashRunEnv+"="+strconv.Itoa(run), crashSeedEnv+"="+strconv.FormatUint(rng.Uint64(), 10))
	out, err := cmd.StdoutPipe()
	if err != nil {
		return 0, err
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	lines := make(chan string, 1024)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	// A quarter of the kills land while the child starts or opens the
	// journal; the others while it writes.
	var acks []string
	var exited bool
	if rng.IntN(4) == 0 {
		time.Sleep(time.Duration(rng.IntN(40)) * time.Millisecond)
	} else {
		// Wait for the journal to open and the first change to be
		// acknowledged (on a loaded machine that can take longer than the
		// random pause below), then kill it while it writes.
		for len(acks) < 2 && !exited {
			select {
			case l, ok := <-lines:
				if ok {
					acks = append(acks, l)
				} else {
					exited = true
				}
			case <-time.After(10 * time.Second):
				return 0, errors.New("child did not open the journal and commit in 10s")
			}
		}
		time.Sleep(time.Duration(rng.IntN(30_000)) * time.Microsecond)
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	for l := range lines {
		acks = append(acks, l)
	}
	werr := cmd.Wait()
	var ee *exec.ExitError
	if exited || !errors.As(werr, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		return 0, fmt.Errorf("child ended by itself (%v): %s", werr, stderr.String())
	}
	n := 0
	for _, l := range acks {
		if err := h.add(l); err != nil {
			return n, err
		}
		if l != "open" {
			n++
		}
	}
	j, err := Open(dir, nil)
	if err != nil {
		return n, fmt.Errorf("reopen after kill: %w", err)
	}
	verr := verify(j, h)
	return n, errors.Join(verr, j.Close())
}

// TestCrashPowerLoss crashes pebble's memory filesystem while the workload
// runs: the copy keeps what was synced and a random part of what was not,
// as a power loss could. Every change acknowledged before the crash must
// be in the copy.
func TestCrashPowerLoss(t *testing.T) {
	seed := testSeed(t)
	rng := newRand(seed)
	rounds := 40
	if *longFlag {
		rounds = 400
	}
	fs := vfs.NewCrashableMem()
	h := newHistory()
	for round := range rounds {
		j, err := open("db", fs, nil, currentFormat)
		require.NoError(t, err, "round %d", round)
		require.NoError(t, verify(j, h), "round %d: after open", round)

		var mu sync.Mutex
		var acks []string
		w := &workload{j: j, runID: round, ack: func(l string) {
			mu.Lock()
			acks = append(acks, l)
			mu.Unlock()
		}}
		ctx, cancel := context.WithCancel(bg)
		done := make(chan error, 1)
		wseed := rng.Uint64()
		go func() { done <- w.run(ctx, wseed) }()
		time.Sleep(time.Duration(1+rng.IntN(20)) * time.Millisecond)

		mu.Lock()
		before := append([]string(nil), acks...)
		mu.Unlock()
		crashed := fs.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: rng.IntN(101), RNG: rand.New(rand.NewPCG(rng.Uint64(), 0))})
		cancel()
		require.NoError(t, <-done)
		require.NoError(t, j.Close())
		for _, l := range before {
			require.NoError(t, h.add(l))
		}
		// After a power loss, changes acknowledged after the crash
		// moment may be gone: only `before` binds. But their sequence
		// numbers were given out: forget the others so a reuse after
		// the crash is not taken for a duplicate.
		fs = crashed
	}
	t.Logf("%d power losses, %d acknowledgements checked", rounds, h.acks)
}
