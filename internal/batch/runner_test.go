package batch

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mailrepl/mailrepl/journal"
	"github.com/mailrepl/mailrepl/replica"
	"github.com/stretchr/testify/require"
)

var bg = context.Background()

func report(appended int) Outcome {
	return SyncOutcome{&replica.Report{Total: replica.Counts{Appended: appended, Bytes: int64(100 * appended)}}}
}

func statuses(res *Result) map[string]Status {
	m := map[string]Status{}
	for _, u := range res.Users {
		m[u.User] = u.Status
	}
	return m
}

// TestRunnerIsolatesFailures: an error, a panic, an unsafe name and an
// empty name each fail their user alone, with a reason; the others run.
func TestRunnerIsolatesFailures(t *testing.T) {
	var ran sync.Map
	job := func(ctx context.Context, user string) (Outcome, error) {
		ran.Store(user, true)
		switch user {
		case "broken":
			return report(1), errors.New("source maildir:/x/broken: permission denied\nand a second line")
		case "panics":
			var m map[string]int
			m["x"] = 1 // a nil map write: a bug in the job
		case "partial":
			rep := report(3).(SyncOutcome)
			rep.Failed = []replica.Item{{Mailbox: "INBOX", UID: 7, Reason: "body missing"}}
			return rep, nil
		}
		return report(2), nil
	}
	var seen []string
	r := NewRunner(&Options{Concurrency: 3, OnResult: func(u UserResult) { seen = append(seen, u.User) }})
	users := []string{"alice", "broken", "../x", "panics", "", "bob", "partial", "carol"}
	res := r.Run(bg, users, job)

	require.Len(t, res.Users, len(users))
	require.ElementsMatch(t, users, seen, "OnResult once per user")
	for i, u := range res.Users {
		require.Equal(t, users[i], u.User, "results in the order given")
	}
	want := map[string]Status{"alice": StatusOK, "broken": StatusFailed, "../x": StatusFailed, "panics": StatusFailed,
		"": StatusFailed, "bob": StatusOK, "partial": StatusFailed, "carol": StatusOK}
	require.Equal(t, want, statuses(res))
	reason := map[string]string{}
	for _, u := range res.Users {
		reason[u.User] = u.Reason
	}
	require.Equal(t, "source maildir:/x/broken: permission denied; and a second line", reason["broken"])
	require.Contains(t, reason["../x"], `unsafe user name "../x"`)
	require.Contains(t, reason[""], "empty name")
	require.Contains(t, reason["panics"], "panic: assignment to entry in nil map")
	require.Contains(t, reason["partial"], "INBOX uid 7: body missing")
	_, ranUnsafe := ran.Load("../x")
	require.False(t, ranUnsafe, "an unsafe name never reaches the job")
	require.EqualValues(t, 2+1+2+3+2, res.Total["appended"], "the reports of the jobs that ran")
	require.Equal(t, ExitFailed, res.ExitCode())
	require.False(t, res.Stopped)
	require.Equal(t, 3, res.Statuses[StatusOK])
	require.Equal(t, 5, res.Statuses[StatusFailed])
}

func TestRunnerConcurrency(t *testing.T) {
	for _, n := range []int{1, 3} {
		var cur, peak atomic.Int32
		job := func(ctx context.Context, user string) (Outcome, error) {
			c := cur.Add(1)
			for {
				p := peak.Load()
				if c <= p || peak.CompareAndSwap(p, c) {
					break
				}
			}
			time.Sleep(5 * time.Millisecond)
			cur.Add(-1)
			return report(1), nil
		}
		users := make([]string, 12)
		for i := range users {
			users[i] = fmt.Sprintf("u%d", i)
		}
		res := NewRunner(&Options{Concurrency: n}).Run(bg, users, job)
		require.Equal(t, ExitOK, res.ExitCode())
		require.Equal(t, int32(n), peak.Load(), "users at once with concurrency %d", n)
	}
}

// TestRunnerStop: after Stop is closed, the jobs that run stop (here,
// they wait for the channel and return ErrStopped) and no user starts.
func TestRunnerStop(t *testing.T) {
	stop := make(chan struct{})
	started := make(chan string, 10)
	job := func(ctx context.Context, user string) (Outcome, error) {
		started <- user
		if user == "a" {
			return report(1), nil
		}
		<-stop
		return report(1), fmt.Errorf("sync: %w", replica.ErrStopped)
	}
	r := NewRunner(&Options{Concurrency: 2, Stop: stop})
	done := make(chan *Result)
	go func() { done <- r.Run(bg, []string{"a", "b", "c", "d", "e"}, job) }()
	got := []string{<-started, <-started, <-started} // a finishes, b and c wait
	close(stop)
	res := <-done
	require.ElementsMatch(t, []string{"a", "b", "c"}, got)
	require.Equal(t, map[string]Status{"a": StatusOK, "b": StatusStopped, "c": StatusStopped, "d": StatusPending, "e": StatusPending}, statuses(res))
	require.True(t, res.Stopped)
	require.Equal(t, ExitFailed, res.ExitCode())
	require.Contains(t, res.StatusLine(), "run the same command again to resume")
}

func TestRunnerCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(bg)
	job := func(ctx context.Context, user string) (Outcome, error) {
		cancel()
		<-ctx.Done()
		return nil, fmt.Errorf("copy: %w", ctx.Err())
	}
	res := NewRunner(&Options{Concurrency: 1}).Run(ctx, []string{"a", "b"}, job)
	require.Equal(t, map[string]Status{"a": StatusStopped, "b": StatusPending}, statuses(res))
}

func TestRunnerSkip(t *testing.T) {
	var ran []string
	var mu sync.Mutex
	job := func(ctx context.Context, user string) (Outcome, error) {
		mu.Lock()
		ran = append(ran, user)
		mu.Unlock()
		return report(1), nil
	}
	skip := func(ctx context.Context, user string) (string, error) {
		switch user {
		case "quiet":
			return "no change since the last sync", nil
		case "bad":
			return "", errors.New("journal unreadable")
		}
		return "", nil
	}
	res := NewRunner(&Options{Skip: skip}).Run(bg, []string{"quiet", "busy", "bad"}, job)
	require.Equal(t, []string{"busy"}, ran)
	require.Equal(t, map[string]Status{"quiet": StatusSkipped, "busy": StatusOK, "bad": StatusFailed}, statuses(res))
	require.Equal(t, "no change since the last sync", res.Users[0].Reason)
}

func openJournal(t *testing.T, dir string) *journal.Journal {
	t.Helper()
	j, err := journal.Open(dir, &journal.Options{NoSync: true})
	require.NoError(t, err)
	t.Cleanup(func() { j.Close() })
	return j
}

// TestRunnerCheckpoint: a batch stopped midway and run again does not run
// the users it finished; failed users run again; once every user had its
// turn the batch is over and the next run starts a new one.
func TestRunnerCheckpoint(t *testing.T) {
	j := openJournal(t, t.TempDir())
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	users := []string{"a", "b", "c", "d"}
	runs := map[string]int{}
	var mu sync.Mutex
	failB := true
	job := func(stop chan struct{}) Job {
		return func(ctx context.Context, user string) (Outcome, error) {
			mu.Lock()
			runs[user]++
			mu.Unlock()
			switch {
			case user == "b" && failB:
				return nil, errors.New("permission denied")
			case user == "c" && stop != nil:
				close(stop) // Ctrl-C while c syncs
				return report(1), replica.ErrStopped
			}
			return report(5), nil
		}
	}
	cp, err := OpenCheckpoint(bg, j, "tool", "params-1", now)
	require.NoError(t, err)
	require.False(t, cp.Resumed())
	stop := make(chan struct{})
	res := NewRunner(&Options{Concurrency: 1, Checkpoint: cp, Stop: stop}).Run(bg, users, job(stop))
	require.Equal(t, map[string]Status{"a": StatusOK, "b": StatusFailed, "c": StatusStopped, "d": StatusPending}, statuses(res))

	// Other parameters: another batch, which knows nothing of this one.
	other, err := OpenCheckpoint(bg, j, "tool", "params-2", now)
	require.NoError(t, err)
	require.False(t, other.Resumed())
	require.Zero(t, other.DoneCount())

	// Run again: a is done, b (fixed meanwhile), c and d run.
	failB = false
	cp, err = OpenCheckpoint(bg, j, "tool", "params-1", now.Add(time.Hour))
	require.NoError(t, err)
	require.True(t, cp.Resumed())
	require.Equal(t, now, cp.Started())
	require.Equal(t, 1, cp.DoneCount())
	res = NewRunner(&Options{Concurrency: 2, Checkpoint: cp}).Run(bg, users, job(nil))
	require.Equal(t, map[string]Status{"a": StatusDone, "b": StatusOK, "c": StatusOK, "d": StatusOK}, statuses(res))
	require.True(t, res.Resumed)
	require.EqualValues(t, 5, res.Users[0].Counts["appended"], "a's counts come from the checkpoint")
	require.EqualValues(t, 15, res.Total["appended"], "this run's jobs only")
	require.Equal(t, map[string]int{"a": 1, "b": 2, "c": 2, "d": 1}, runs)
	require.Equal(t, ExitOK, res.ExitCode())

	// The batch is complete: a new one starts, running everyone.
	cp, err = OpenCheckpoint(bg, j, "tool", "params-1", now.Add(2*time.Hour))
	require.NoError(t, err)
	require.False(t, cp.Resumed())
	res = NewRunner(&Options{Checkpoint: cp}).Run(bg, users, job(nil))
	require.Equal(t, map[string]int{"a": 2, "b": 3, "c": 3, "d": 2}, runs)
	require.Equal(t, 4, res.Statuses[StatusOK])

	// A damaged record is an error naming it, not a silent restart.
	cp, err = OpenCheckpoint(bg, j, "tool", "params-3", now)
	require.NoError(t, err)
	require.NoError(t, j.PutRecord(bg, cp.ns, "x", []byte("{not json")))
	_, err = OpenCheckpoint(bg, j, "tool", "params-3", now)
	require.ErrorContains(t, err, `record of user "x" does not decode`)
}

// TestProgressPlain checks the progress lines written when the output is
// not a terminal.
func TestProgressPlain(t *testing.T) {
	var out syncBuffer
	release := make(chan struct{})
	r := NewRunner(&Options{Concurrency: 2, Progress: &out, Interval: 5 * time.Millisecond})
	job := func(ctx context.Context, user string) (Outcome, error) {
		r.Copied(10, 20_000)
		if user != "a" {
			<-release
		}
		return report(10), nil
	}
	done := make(chan *Result)
	go func() { done <- r.Run(bg, []string{"a", "b", "c"}, job) }()
	require.Eventually(t, func() bool { return strings.Contains(out.String(), "users 1/3") }, 5*time.Second, time.Millisecond)
	fmt.Fprintln(r.Log(), "a log line")
	close(release)
	<-done
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	line := regexp.MustCompile(`^progress: users \d+/3, \d+ messages, [0-9.]+ (B|kB) copied, \d+ msg/s, [0-9.]+ (B|kB|MB)/s, elapsed [0-9.]+m?s, ETA (unknown|[0-9.]+(ms|s))$`)
	for _, l := range lines {
		if l == "a log line" {
			continue
		}
		require.Regexp(t, line, l)
	}
	require.Contains(t, out.String(), "a log line\n")
	last := lines[len(lines)-1]
	require.True(t, strings.HasPrefix(last, "progress: users 3/3, 30 messages, 60.0 kB copied"), last)
	require.True(t, strings.HasSuffix(last, "ETA 0s"), last)
	require.NotContains(t, out.String(), "\r")
}

// TestProgressTerminal checks the live line: redrawn in place, cleared
// for log lines, ended with a newline.
func TestProgressTerminal(t *testing.T) {
	var out syncBuffer
	r := NewRunner(&Options{Progress: &out, Terminal: true, Interval: time.Millisecond})
	job := func(ctx context.Context, user string) (Outcome, error) {
		r.Copied(1, 1)
		time.Sleep(300 * time.Millisecond) // a redraw or more
		fmt.Fprintln(r.Log(), "warning")
		return report(1), nil
	}
	r.Run(bg, []string{"a", "b"}, job)
	s := out.String()
	require.True(t, strings.HasPrefix(s, "\r\x1b[Kusers 0/2"), "%q", s)
	require.Contains(t, s, "\r\x1b[Kwarning\n", "a log line clears the progress line first")
	require.True(t, strings.HasSuffix(s, "ETA 0s\n"), "%q", s)
	require.Contains(t, s, "\r\x1b[Kusers 2/2")
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestFormat(t *testing.T) {
	for _, tc := range []struct {
		n    int64
		want string
	}{{0, "0 B"}, {999, "999 B"}, {1000, "1.0 kB"}, {1_500_000, "1.5 MB"}, {20e9, "20.0 GB"}, {3e15, "3000.0 TB"}} {
		if got := FormatBytes(tc.n); got != tc.want {
			t.Errorf("FormatBytes(%d) = %q, want %q", tc.n, got, tc.want)
		}
	}
	for _, tc := range []struct {
		d    time.Duration
		want string
	}{{850 * time.Millisecond, "850ms"}, {42 * time.Second, "42s"}, {185 * time.Second, "3m05s"}, {127 * time.Minute, "2h07m"}} {
		if got := FormatDuration(tc.d); got != tc.want {
			t.Errorf("FormatDuration(%v) = %q, want %q", tc.d, got, tc.want)
		}
	}
}

func TestResultTableAndJSON(t *testing.T) {
	res := &Result{
		Duration: 3 * time.Second,
		Statuses: map[Status]int{StatusOK: 1, StatusFailed: 1},
		Total:    Counts{"appended": 12, "bytes": 34_000, "flag_changes": 2},
		Users: []UserResult{
			{User: "alice", Status: StatusOK, Counts: Counts{"appended": 12, "bytes": 34_000, "flag_changes": 2}, Duration: 2 * time.Second},
			{User: "../x", Status: StatusFailed, Reason: `batch: unsafe user name "../x": holds ".."`},
		},
	}
	var b strings.Builder
	require.NoError(t, res.WriteTable(&b))
	want := `user   status  copied  flags  expunged  conflicts  failed    bytes  time  reason
alice  ok          12      2         0          0       0  34.0 kB    2s
../x   failed       0      0         0          0       0      0 B        batch: unsafe user name "../x": holds ".."
total              12      2         0          0       0  34.0 kB    3s
2 users: 1 ok, 1 failed
`
	require.Equal(t, want, b.String())

	js, err := json.Marshal(res)
	require.NoError(t, err)
	var back Result
	require.NoError(t, json.Unmarshal(js, &back))
	require.Equal(t, res.Users[1].Reason, back.Users[1].Reason)
	require.Equal(t, StatusFailed, back.Users[1].Status)
	require.Equal(t, 1, back.Statuses[StatusFailed])
	require.Contains(t, string(js), `"status":"failed"`)
}

// TestProgressTerminalWidth: a live line longer than the terminal is cut,
// so that it never wraps.
func TestProgressTerminalWidth(t *testing.T) {
	var out syncBuffer
	r := NewRunner(&Options{Progress: &out, Terminal: true, Width: 30})
	r.Run(bg, []string{"a"}, func(ctx context.Context, user string) (Outcome, error) { return report(1), nil })
	for l := range strings.SplitSeq(strings.TrimSuffix(out.String(), "\n"), "\r\x1b[K") {
		require.LessOrEqual(t, len([]rune(l)), 29, "%q", l)
	}
	require.True(t, strings.HasSuffix(out.String(), "…\n"), "%q", out.String())
}

func TestRunnerDropsRepeatedUsers(t *testing.T) {
	var n atomic.Int32
	res := NewRunner(nil).Run(bg, []string{"a", "b", "a"}, func(ctx context.Context, user string) (Outcome, error) {
		n.Add(1)
		return report(1), nil
	})
	require.Equal(t, int32(2), n.Load())
	require.Len(t, res.Users, 2)
}

// TestRunnerCancelsSizingWhenDone: a listing for the ETA that is still
// under way when every job is done is cancelled, rather than waited for
// (a no-op sync ends in milliseconds; its stores' listing would take
// longer than the sync). Without the cancellation, Run would not return.
func TestRunnerCancelsSizingWhenDone(t *testing.T) {
	started := make(chan struct{})
	var once sync.Once
	estimate := func(ctx context.Context, user string) (Work, error) {
		once.Do(func() { close(started) })
		<-ctx.Done()
		return Work{}, ctx.Err()
	}
	job := func(ctx context.Context, user string) (Outcome, error) {
		<-started // the listing runs beside the job
		return report(1), nil
	}
	done := make(chan *Result, 1)
	go func() {
		done <- NewRunner(&Options{Concurrency: 1, Estimate: estimate}).Run(bg, []string{"alice"}, job)
	}()
	select {
	case res := <-done:
		require.Equal(t, ExitOK, res.ExitCode())
	case <-time.After(time.Minute):
		t.Fatal("Run waits for a listing of the stores after every job is done")
	}
}
