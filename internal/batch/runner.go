package batch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/mailrepl/mailrepl/replica"
)

// Job does a batch's work for one user and reports what it did (nil when
// it did nothing). A Job that stops early because the batch is stopping
// returns an error wrapping [replica.ErrStopped] (or the context's error).
type Job func(ctx context.Context, user string) (Outcome, error)

// Outcome is what a job did for one user, as the batch needs it: counts
// for the summary and the total, and the first failure it lists. It is
// printed whole in the JSON result.
type Outcome interface {
	// Counts returns what the job did, by name (the keys of the
	// batch's Columns).
	Counts() Counts
	// Problem returns the first failure the outcome lists, "" when there
	// is none: a job that returns no error but an outcome with a
	// problem fails its user.
	Problem() string
}

// Counts are numbers by name, such as "appended" or "bytes".
type Counts map[string]int64

// Add adds o to c (allocating c if nil) and returns c.
func (c Counts) Add(o Counts) Counts {
	if c == nil {
		c = Counts{}
	}
	for k, v := range o {
		c[k] += v
	}
	return c
}

// SyncOutcome is the Outcome of a replica sync.
type SyncOutcome struct{ *replica.Report }

// Counts returns the report's totals under their JSON names.
func (s SyncOutcome) Counts() Counts {
	t := s.Total
	return Counts{"appended": int64(t.Appended), "appended_to_source": int64(t.AppendedToSource), "bytes": t.Bytes,
		"flag_changes": int64(t.FlagChanges), "expunged": int64(t.Expunged), "expunged_source": int64(t.ExpungedSource),
		"moved": int64(t.Moved), "paired": int64(t.Paired), "conflicts": int64(t.Conflicts), "skipped": int64(t.Skipped),
		"failed": int64(t.Failed)}
}

// Problem returns the report's first failure.
func (s SyncOutcome) Problem() string {
	if s.OK() {
		return ""
	}
	if len(s.Failed) > 0 {
		return s.Failed[0].String()
	}
	for _, m := range s.Mailboxes {
		if m.Error != "" {
			return m.Source + ": " + m.Error
		}
	}
	return "the report lists failures"
}

// Status is how a user of a batch ended.
type Status string

const (
	StatusOK      Status = "ok"          // the job succeeded
	StatusFailed  Status = "failed"      // the job failed, panicked, or the name is unsafe; Reason says why
	StatusSkipped Status = "skipped"     // nothing to do (Options.Skip); Reason says why
	StatusDone    Status = "done"        // finished by an earlier run of this batch (a Checkpoint)
	StatusStopped Status = "stopped"     // stopped midway; the next run resumes it
	StatusPending Status = "not started" // the batch stopped before the user's turn
)

// Succeeded reports whether the status counts as a success for the exit
// status: ok, skipped or done.
func (s Status) Succeeded() bool {
	return s == StatusOK || s == StatusSkipped || s == StatusDone
}

// UserResult is how one user of a batch ended.
type UserResult struct {
	User     string        `json:"user"`
	Status   Status        `json:"status"`
	Reason   string        `json:"reason,omitempty"`
	Counts   Counts        `json:"counts"`
	Duration time.Duration `json:"duration_ns"`
	Planned  *Work         `json:"planned,omitempty"` // what its listings said it had to copy, when they were read first
	Report   Outcome       `json:"report,omitempty"`  // the job's outcome, when it ran
	Err      error         `json:"-"`                 // the job's error, when it failed or stopped
}

// Result is what a batch did.
type Result struct {
	Start    time.Time      `json:"start"`
	Duration time.Duration  `json:"duration_ns"`
	Stopped  bool           `json:"stopped"` // stopped before every user finished: run again to resume
	Resumed  bool           `json:"resumed"` // continued a batch an earlier run left unfinished
	Total    Counts         `json:"total"`   // what the jobs of this run did
	Statuses map[Status]int `json:"statuses"`
	Users    []UserResult   `json:"users"` // in the order given
	// Work gives what the listings planned and how the copying went,
	// when the batch had an Estimate.
	Work *WorkReport `json:"work,omitempty"`

	columns []Column // of the summary table
}

// Exit statuses of a batch program.
const (
	ExitOK     = 0 // every user succeeded (ok, skipped or done)
	ExitFailed = 1 // some user failed, or the batch was stopped before the end
	ExitUsage  = 2 // the command line is wrong; nothing was done
)

// ExitCode returns the exit status for the result: ExitOK when every user
// succeeded, else ExitFailed.
func (r *Result) ExitCode() int {
	if r.Stopped {
		return ExitFailed
	}
	for _, u := range r.Users {
		if !u.Status.Succeeded() {
			return ExitFailed
		}
	}
	return ExitOK
}

// Options configures a [Runner]. A nil *Options is valid and means all
// defaults; a zero field means that field's default.
type Options struct {
	// Concurrency is the number of users whose jobs run at once (default
	// 4).
	Concurrency int
	// Stop, when closed, stops the batch gracefully: no user starts any
	// more; jobs that run are expected to stop too (give them the same
	// channel, e.g. as replica.Options.Stop) and are waited for.
	Stop <-chan struct{}
	// Checkpoint, if not nil, makes the batch resumable: users an earlier
	// run finished are not run again (StatusDone), users that succeed are
	// recorded, and when every user has had its turn the checkpoint is
	// finished.
	Checkpoint *Checkpoint
	// Skip, if not nil, is asked before a user's job runs: a non-empty
	// reason skips the user (StatusSkipped); an error fails it.
	Skip func(ctx context.Context, user string) (reason string, err error)
	// OnResult, if not nil, sees each user's result as the user finishes,
	// one call at a time.
	OnResult func(UserResult)
	// Progress, if not nil, receives the progress: a line redrawn in
	// place when Terminal is set, else a line every Interval (default
	// 5 s). Log lines should go through [Runner.Log] so that they do not
	// run into a redrawn line.
	Progress io.Writer
	Terminal bool
	Interval time.Duration
	// Width is the terminal's width: a live line is cut to fit (default
	// 80; see TerminalWidth).
	Width int
	// Columns are the counts the summary table shows (default
	// SyncColumns).
	Columns []Column
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Estimate, if not nil, returns the messages and bytes a user's job
	// will copy, from listings of its stores (no body read). The runner
	// asks for every user in the batch's order, one at a time, ahead of
	// the jobs, so that the ETA rests on the work left; users not asked
	// yet count as the average of those that were. A failed estimate
	// leaves the user unsized.
	Estimate func(ctx context.Context, user string) (Work, error)
	// Limits, if not nil, returns the most messages and bytes per second
	// the batch may move (zero: no limit), for the ETA.
	Limits func() Rates
}

func (o *Options) withDefaults() Options {
	var c Options
	if o != nil {
		c = *o
	}
	if c.Concurrency <= 0 {
		c.Concurrency = 4
	}
	if c.Width <= 0 {
		c.Width = 80
	}
	if c.Interval <= 0 {
		c.Interval = 5 * time.Second
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Columns == nil {
		c.Columns = SyncColumns
	}
	return c
}

// Runner runs a batch: a [Job] per user, several users at once, each
// user's failure (an error, a panic, an unsafe name) kept to that user.
type Runner struct {
	opts Options
	p    *progress
	log  *slog.Logger
}

// NewRunner returns a Runner. It does no I/O.
func NewRunner(opts *Options) *Runner {
	o := opts.withDefaults()
	r := &Runner{opts: o, p: &progress{w: o.Progress, terminal: o.Terminal, width: o.Width, interval: o.Interval, now: o.Now, limits: o.Limits}}
	r.log = slog.New(slog.NewTextHandler(r.Log(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	return r
}

// Copied counts messages and bytes copied, for the progress display: a
// job's replica.Options.Progress. It is safe for concurrent use.
func (r *Runner) Copied(msgs int, bytes int64) { r.p.add(msgs, bytes) }

// CopiedBy returns the Copied of one user's job, which also counts what
// that user copied, for its progress and the ETA.
func (r *Runner) CopiedBy(user string) func(msgs int, bytes int64) {
	return func(msgs int, bytes int64) { r.p.copiedBy(user, msgs, bytes) }
}

// Log returns a writer for log lines that keeps them apart from the
// progress line (io.Discard when there is no progress writer).
func (r *Runner) Log() io.Writer {
	if r.opts.Progress == nil {
		return io.Discard
	}
	return logWriter{r.p}
}

// Run runs job for each user and returns how each ended, in the order
// given. A name listed again is dropped (two syncs of one user must never
// run at once); unsafe names fail without running. It returns when every job it
// started has returned: after all users, or after Stop is closed or ctx
// ends (the users not started then are StatusPending, and the result is
// Stopped).
func (r *Runner) Run(ctx context.Context, users []string, job Job) *Result {
	o := &r.opts
	seen := make(map[string]bool, len(users))
	unique := users[:0:0]
	for _, u := range users {
		if !seen[u] {
			seen[u] = true
			unique = append(unique, u)
		}
	}
	users = unique
	res := &Result{Start: o.Now(), Statuses: map[Status]int{}, Users: make([]UserResult, len(users)), Total: Counts{}, columns: o.Columns}
	res.Resumed = o.Checkpoint != nil && o.Checkpoint.Resumed()
	r.p.start = res.Start
	r.p.mu.total = len(users)

	showDone := make(chan struct{})
	shown := make(chan struct{})
	go func() { r.p.run(showDone); close(shown) }()
	sizingDone := make(chan struct{})
	sized := make(chan struct{})
	// Sizing serves the ETA of jobs still to run or running: once they
	// are done, a listing still under way is cancelled (a no-op sync that
	// its stamps end in milliseconds does not wait for the listing of its
	// stores that began beside it).
	sizeCtx, cancelSizing := context.WithCancel(ctx)
	defer cancelSizing()
	if o.Estimate != nil {
		go func() { r.p.size(sizeCtx, users, o.Estimate, mergeStop(o.Stop, sizingDone)); close(sized) }()
	} else {
		close(sized)
	}

	var (
		wg  sync.WaitGroup
		mu  sync.Mutex // serializes OnResult and the counts
		sem = make(chan struct{}, o.Concurrency)
	)
	finish := func(i int, ur UserResult, ran bool) {
		r.p.ended(ur.User)
		ur.Planned = r.p.plannedOf(ur.User)
		res.Users[i] = ur
		r.p.finish(ur.Status, ran)
		if o.OnResult != nil {
			mu.Lock()
			o.OnResult(ur)
			mu.Unlock()
		}
	}
	stopped := func() bool {
		if ctx.Err() != nil {
			return true
		}
		select {
		case <-o.Stop:
			return true
		default:
			return false
		}
	}
	for i, user := range users {
		if stopped() {
			finish(i, UserResult{User: user, Status: StatusPending, Reason: "the batch stopped before its turn"}, false)
			continue
		}
		if err := ValidUser(user); err != nil {
			finish(i, UserResult{User: user, Status: StatusFailed, Reason: err.Error(), Err: err}, false)
			continue
		}
		if o.Checkpoint != nil {
			if rec, ok := o.Checkpoint.Done(user); ok {
				finish(i, UserResult{User: user, Status: StatusDone, Counts: rec.Counts, Duration: rec.Duration,
					Reason: "finished by an earlier run of this batch at " + rec.Finished.Format(time.RFC3339)}, false)
				continue
			}
		}
		acquired := false
		select {
		case sem <- struct{}{}:
			acquired = true
		case <-o.Stop:
		case <-ctx.Done():
		}
		if stopped() {
			if acquired {
				<-sem
			}
			finish(i, UserResult{User: user, Status: StatusPending, Reason: "the batch stopped before its turn"}, false)
			continue
		}
		wg.Add(1)
		r.p.started(user)
		go func() {
			defer func() { <-sem; wg.Done() }()
			ur := r.runOne(ctx, user, job)
			finish(i, ur, ur.Status != StatusSkipped)
		}()
	}
	wg.Wait()
	close(sizingDone)
	cancelSizing()
	<-sized
	close(showDone)
	<-shown

	res.Duration = o.Now().Sub(res.Start)
	if o.Estimate != nil {
		var limits Rates
		if o.Limits != nil {
			limits = o.Limits()
		}
		res.Work = r.p.report(res.Duration, limits)
	}
	for _, u := range res.Users {
		res.Statuses[u.Status]++
		if u.Status == StatusPending || u.Status == StatusStopped {
			res.Stopped = true
		}
		if u.Report != nil {
			res.Total.Add(u.Report.Counts())
		}
	}
	if o.Checkpoint != nil && !res.Stopped && ctx.Err() == nil {
		if err := o.Checkpoint.Finish(ctx); err != nil {
			r.log.Warn("the batch is complete but its checkpoint stays: the next run resumes it", "err", err)
		}
	}
	return res
}

// runOne runs one user's job, turning a panic into a failure.
func (r *Runner) runOne(ctx context.Context, user string, job Job) (ur UserResult) {
	o := &r.opts
	ur.User = user
	start := o.Now()
	defer func() {
		ur.Duration = o.Now().Sub(start)
		if p := recover(); p != nil {
			ur.Status, ur.Reason = StatusFailed, fmt.Sprintf("panic: %v", p)
			ur.Err = fmt.Errorf("batch: user %q: panic: %v", user, p)
			r.log.Error("a job panicked", "user", user, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
		}
	}()
	if o.Skip != nil {
		reason, err := o.Skip(ctx, user)
		if err != nil {
			ur.Status, ur.Reason, ur.Err = StatusFailed, OneLine(err), err
			return ur
		}
		if reason != "" {
			ur.Status, ur.Reason = StatusSkipped, reason
			return ur
		}
	}
	rep, err := job(ctx, user)
	problem := ""
	if rep != nil {
		ur.Report, ur.Counts, problem = rep, rep.Counts(), rep.Problem()
	}
	switch {
	case err == nil && problem == "":
		ur.Status = StatusOK
		if o.Checkpoint != nil {
			rec := UserRecord{Status: StatusOK, Counts: ur.Counts, Finished: o.Now(), Duration: o.Now().Sub(start)}
			if err := o.Checkpoint.MarkDone(ctx, user, rec); err != nil {
				r.log.Warn("not recorded as done: a resumed run syncs the user again", "user", user, "err", err)
			}
		}
	case err != nil && (errors.Is(err, replica.ErrStopped) || (ctx.Err() != nil && errors.Is(err, ctx.Err()))):
		ur.Status, ur.Err = StatusStopped, err
		ur.Reason = "stopped midway: the next run resumes it"
	case err != nil:
		ur.Status, ur.Reason, ur.Err = StatusFailed, OneLine(err), err
	default:
		ur.Status, ur.Reason = StatusFailed, problem
	}
	return ur
}

// OneLine writes err on one line: the lines of joined errors are
// separated by "; ".
func OneLine(err error) string {
	var lines []string
	for l := range strings.SplitSeq(err.Error(), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	return strings.Join(lines, "; ")
}
