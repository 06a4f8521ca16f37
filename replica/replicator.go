package replica

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/mailrepl/mailrepl/journal"
)

// Notifier is a source of change notices other than the journal's change
// log: a filesystem watcher, a mail server's delivery hook, an IMAP IDLE
// session.
type Notifier interface {
	// Watch calls notify for every change it sees until ctx ends, then
	// returns. An error other than ctx's says why it stopped watching; the
	// replicator logs it and goes on without it.
	Watch(ctx context.Context, notify func(Notice)) error
}

// SyncJob is one sync a [Replicator] asks for: an ordinary [Syncer.Sync]
// of one user, limited to some mailboxes.
type SyncJob struct {
	User string
	// Mailboxes are the source mailboxes to sync (for
	// [Options].Mailboxes); nil means all of them.
	Mailboxes []string
	// Priority is the highest priority of the notices the job covers.
	Priority Priority
	// Stop is closed when the replicator stops: pass it as [Options].Stop
	// so that a sync in flight finishes its message, commits and returns.
	Stop <-chan struct{}
}

// Selects reports whether the job syncs the named source mailbox.
func (j SyncJob) Selects(name string) bool {
	return j.Mailboxes == nil || slices.Contains(j.Mailboxes, name)
}

// SyncOutcome is how one sync of a [Replicator] ended, for its OnSync
// hook.
type SyncOutcome struct {
	Job    SyncJob
	Report *Report // nil when the sync could not start
	Err    error
	Start  time.Time
	// Duration is how long the sync ran.
	Duration time.Duration
	// Oldest is the time of the oldest notice the sync covered; Lag runs
	// from it to the end of a successful sync (zero otherwise): how long
	// the replica was behind that change.
	Oldest time.Time
	Lag    time.Duration
	// Failed is set when the user is in the failed set after this sync;
	// Stopped when the sync was cut short by the replicator's stop (its
	// notices stay queued, and no failure is counted).
	Failed, Stopped bool
}

// ReplicatorOptions configures a [Replicator]. A zero field means that
// field's default.
type ReplicatorOptions struct {
	// Journal holds the change log the replicator follows, its cursor,
	// and the notices it has yet to sync. Required.
	Journal *journal.Journal
	// Sync runs one job. Required. It is called for at most one job per
	// user at a time.
	Sync func(ctx context.Context, job SyncJob) (*Report, error)
	// Name names the replicator's cursor in the journal and the
	// namespace of its records (default "replicator"). Two replicators of
	// one journal (two replicas) need two names.
	Name string
	// Users lists every user, for the periodic full verification and the
	// pass on start; nil means only the users notices name. It is called
	// at start and every UsersInterval (default 1 min), so new users are
	// picked up.
	Users         func(ctx context.Context) ([]string, error)
	UsersInterval time.Duration
	// Notifiers are watched for notices besides the change log.
	Notifiers []Notifier
	// FullInterval is how often every user is verified by a sync of all
	// their mailboxes (default 24 h; negative: never). Each user has a
	// slot of its own in the interval, so the verifications are spread
	// over it.
	FullInterval time.Duration
	// FullOnStart queues every user at PriorityFull when Run starts: what
	// changed while no replicator ran, and no notice announced, is found.
	FullOnStart bool
	// Server names the target server of a user's replica (default: one
	// server for all); at most MaxPerServer syncs (default 4) run on one
	// server at once, and at most Concurrency (default 8) in all.
	Server       func(user string) string
	MaxPerServer int
	Concurrency  int
	// A failed sync is retried after Backoff (default 1 s), doubled with
	// each failure in a row up to MaxBackoff (default 5 min); after
	// FailAfter failures in a row (default 3) the user is in the failed
	// set, still retried every MaxBackoff, until a sync succeeds.
	Backoff, MaxBackoff time.Duration
	FailAfter           int
	// Aging is the wait worth one priority level (default 1 min): a
	// verification that waited that long goes before a fresh change, so
	// no user starves.
	Aging time.Duration
	// OnSync, if not nil, sees the outcome of every sync. It is called
	// from the sync's goroutine and must be safe for concurrent use.
	OnSync func(SyncOutcome)
	// Logger receives one line per sync, and the replicator's troubles.
	Logger *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Validate reports every problem of o at once.
func (o *ReplicatorOptions) Validate() error {
	if o == nil {
		return errors.New("replica: nil ReplicatorOptions: Journal and Sync are required")
	}
	var errs []error
	if o.Journal == nil {
		errs = append(errs, errors.New("replica: ReplicatorOptions.Journal is required"))
	}
	if o.Sync == nil {
		errs = append(errs, errors.New("replica: ReplicatorOptions.Sync is required"))
	}
	for name, v := range map[string]int{"MaxPerServer": o.MaxPerServer, "Concurrency": o.Concurrency, "FailAfter": o.FailAfter} {
		if v < 0 {
			errs = append(errs, fmt.Errorf("replica: negative ReplicatorOptions.%s %d", name, v))
		}
	}
	for name, v := range map[string]time.Duration{"Backoff": o.Backoff, "MaxBackoff": o.MaxBackoff, "Aging": o.Aging, "UsersInterval": o.UsersInterval} {
		if v < 0 {
			errs = append(errs, fmt.Errorf("replica: negative ReplicatorOptions.%s %v", name, v))
		}
	}
	if strings.ContainsRune(o.Name, 0) {
		errs = append(errs, fmt.Errorf("replica: ReplicatorOptions.Name %q holds a NUL", o.Name))
	}
	return errors.Join(errs...)
}

func (o *ReplicatorOptions) withDefaults() ReplicatorOptions {
	c := *o
	if c.Name == "" {
		c.Name = "replicator"
	}
	if c.UsersInterval == 0 {
		c.UsersInterval = time.Minute
	}
	if c.FullInterval == 0 {
		c.FullInterval = 24 * time.Hour
	}
	if c.Server == nil {
		c.Server = func(string) string { return "" }
	}
	if c.MaxPerServer == 0 {
		c.MaxPerServer = 4
	}
	if c.Concurrency == 0 {
		c.Concurrency = 8
	}
	if c.Backoff == 0 {
		c.Backoff = time.Second
	}
	if c.MaxBackoff == 0 {
		c.MaxBackoff = 5 * time.Minute
	}
	c.MaxBackoff = max(c.MaxBackoff, c.Backoff)
	if c.FailAfter == 0 {
		c.FailAfter = 3
	}
	if c.Aging == 0 {
		c.Aging = time.Minute
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// Replicator keeps replicas current: it takes change notices from the
// journal's change log and from [Notifier]s, queues the users they name
// (notices for one user's mailbox coalesce), and runs a sync per user,
// several users at once, retrying failures with back-off.
//
// What a notice announced is never forgotten: notices from the change log
// are found again from the replicator's cursor, which moves only past
// events whose syncs succeeded, and notices from [Replicator.Notify] and
// notifiers are written to the journal before they are acknowledged and
// removed once synced. After a crash, Run starts where the last one
// stopped.
type Replicator struct {
	opt ReplicatorOptions
	j   *journal.Journal

	mu struct {
		sync.Mutex
		q         *queue
		running   bool
		perServer map[string]int
		inFlight  int
		seen      journal.Seq // the change log is read through seen
		cursor    journal.Seq // the cursor as last committed or queued
		persisted map[noticeKey]bool
		users     map[string]*userInfo
		ops       []*persistOp
	}
	kick    chan struct{} // wakes the scheduler
	persist chan struct{} // wakes the persister
	stop    chan struct{} // closed when Run stops: jobs finish
	jobs    sync.WaitGroup
}

type noticeKey struct{ user, mbox string }

// userInfo is what the replicator keeps of a user between syncs,
// persisted as a record.
type userInfo struct {
	V           int       `json:"v"`
	LastSuccess time.Time `json:"last_success"`
	LastFull    time.Time `json:"last_full"`
	Failures    int       `json:"failures,omitempty"`
	Reason      string    `json:"reason,omitempty"`
	nextFull    time.Time // the next verification slot
}

// noticeRecord is a persisted notice.
type noticeRecord struct {
	V        int       `json:"v"`
	Time     time.Time `json:"time"`
	Priority Priority  `json:"priority"`
}

// persistOp is a journal write decided under mu, committed in the order
// decided.
type persistOp struct {
	put    map[string][]byte // record key → value
	del    []string
	cursor journal.Seq // 0: no move
	done   chan error  // nil: nobody waits
}

// NewReplicator returns a replicator; Run runs it.
func NewReplicator(opts *ReplicatorOptions) (*Replicator, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	r := &Replicator{opt: opts.withDefaults(), kick: make(chan struct{}, 1), persist: make(chan struct{}, 1), stop: make(chan struct{})}
	r.j = r.opt.Journal
	r.mu.q = newQueue(r.opt.Backoff, r.opt.MaxBackoff, r.opt.FailAfter, r.opt.Aging)
	r.mu.perServer = map[string]int{}
	r.mu.persisted = map[noticeKey]bool{}
	r.mu.users = map[string]*userInfo{}
	return r, nil
}

func noticeRecKey(k noticeKey) string { return "n\x00" + k.user + "\x00" + k.mbox }
func userRecKey(user string) string   { return "u\x00" + user }

// ErrReplicatorRunning is returned by a second Run of a Replicator.
var ErrReplicatorRunning = errors.New("replica: the replicator is already running")

// Run replicates until ctx ends, then stops gracefully: no sync starts,
// the syncs in flight finish (their Stop channels are closed), what they
// did is recorded, and Run returns nil. It returns an error when it
// cannot start (the journal cannot be read) or the journal fails.
func (r *Replicator) Run(ctx context.Context) error {
	r.mu.Lock()
	if r.mu.running {
		r.mu.Unlock()
		return ErrReplicatorRunning
	}
	r.mu.running = true
	r.mu.Unlock()
	if err := r.load(ctx); err != nil {
		return err
	}
	var wg sync.WaitGroup
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	pctx, pcancel := context.WithCancel(context.WithoutCancel(ctx))
	pdone := make(chan struct{})
	go func() { defer close(pdone); r.persister(pctx) }()

	fatal := make(chan error, 1)
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := r.follow(runCtx); err != nil && runCtx.Err() == nil {
			select {
			case fatal <- err:
			default:
			}
			cancel()
		}
	}()
	for _, n := range r.opt.Notifiers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := n.Watch(runCtx, func(nt Notice) {
				if err := r.Notify(runCtx, nt); err != nil && runCtx.Err() == nil {
					r.opt.Logger.Error("a notice could not be recorded", "user", nt.User, "mailbox", nt.Mailbox, "err", err)
				}
			})
			if err != nil && runCtx.Err() == nil {
				r.opt.Logger.Error("a notifier stopped", "err", err)
			}
		}()
	}
	if r.opt.Users != nil {
		wg.Add(1)
		go func() { defer wg.Done(); r.listUsers(runCtx) }()
	}
	r.schedule(runCtx)
	// Drain: the syncs in flight finish and are recorded.
	close(r.stop)
	r.jobs.Wait()
	wg.Wait()
	r.mu.Lock()
	r.queueCursorLocked()
	r.mu.Unlock()
	err := r.flush(context.WithoutCancel(ctx))
	pcancel()
	<-pdone
	select {
	case ferr := <-fatal:
		return errors.Join(ferr, err)
	default:
	}
	return err
}

// load reads the cursor, the persisted notices and the users' records.
func (r *Replicator) load(ctx context.Context) error {
	cur, _, err := r.j.Cursor(r.opt.Name)
	if err != nil {
		return fmt.Errorf("replica: replicator %q: %w", r.opt.Name, err)
	}
	now := r.opt.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.mu.seen, r.mu.cursor = cur, cur
	for rec, err := range r.j.Records(ctx, r.opt.Name) {
		if err != nil {
			return fmt.Errorf("replica: replicator %q: %w", r.opt.Name, err)
		}
		kind, rest, _ := strings.Cut(rec.Key, "\x00")
		switch kind {
		case "n":
			user, mbox, _ := strings.Cut(rest, "\x00")
			var nr noticeRecord
			if err := json.Unmarshal(rec.Value, &nr); err != nil || nr.V != 1 {
				return fmt.Errorf("replica: replicator %q: notice record %q: version %d or %v (this build reads version 1)", r.opt.Name, rec.Key, nr.V, err)
			}
			r.mu.q.add(Notice{User: user, Mailbox: mbox, Time: nr.Time, Priority: nr.Priority}, 0, now)
			r.mu.persisted[noticeKey{user, mbox}] = true
		case "u":
			var ui userInfo
			if err := json.Unmarshal(rec.Value, &ui); err != nil || ui.V != 1 {
				return fmt.Errorf("replica: replicator %q: user record %q: version %d or %v (this build reads version 1)", r.opt.Name, rec.Key, ui.V, err)
			}
			r.userLocked(rest, now)
			*r.mu.users[rest] = ui
			r.mu.users[rest].nextFull = r.nextSlot(rest, ui.LastFull, now)
		}
	}
	if r.opt.FullOnStart && r.opt.Users != nil {
		users, err := r.opt.Users(ctx)
		if err != nil {
			return fmt.Errorf("replica: replicator %q: list users: %w", r.opt.Name, err)
		}
		for _, u := range users {
			r.userLocked(u, now)
			r.mu.q.add(Notice{User: u, Priority: PriorityFull, Time: now}, 0, now)
		}
	}
	return nil
}

// userLocked returns the user's info, adding the user.
func (r *Replicator) userLocked(user string, now time.Time) *userInfo {
	ui := r.mu.users[user]
	if ui == nil {
		ui = &userInfo{V: 1}
		ui.nextFull = r.nextSlot(user, time.Time{}, now)
		r.mu.users[user] = ui
	}
	return ui
}

// nextSlot returns the user's next verification slot after the last one
// (or, when none is known, after now): the slots of a user are a fixed
// offset, from its name's hash, plus multiples of FullInterval, so users'
// verifications spread over the interval.
func (r *Replicator) nextSlot(user string, last, now time.Time) time.Time {
	iv := r.opt.FullInterval
	if iv < 0 {
		return time.Time{}
	}
	h := fnv.New64a()
	h.Write([]byte(user))
	off := time.Duration(h.Sum64() % uint64(iv))
	after := last
	if after.IsZero() {
		after = now
	}
	base := after.Truncate(iv).Add(off)
	for !base.After(after) {
		base = base.Add(iv)
	}
	return base
}

// Notify records a notice: when it returns nil, the notice is in the
// journal and survives a crash until a sync covers it.
func (r *Replicator) Notify(ctx context.Context, n Notice) error {
	if strings.ContainsRune(n.User, 0) || strings.ContainsRune(n.Mailbox, 0) {
		return fmt.Errorf("replica: notice for user %q mailbox %q: a name holds a NUL", n.User, n.Mailbox)
	}
	now := r.opt.Now()
	if n.Time.IsZero() {
		n.Time = now
	}
	k := noticeKey{n.User, n.Mailbox}
	r.mu.Lock()
	r.userLocked(n.User, now)
	r.mu.q.add(n, 0, now)
	var op *persistOp
	if !r.mu.persisted[k] {
		r.mu.persisted[k] = true
		v, _ := json.Marshal(noticeRecord{V: 1, Time: n.Time, Priority: n.Priority})
		op = &persistOp{put: map[string][]byte{noticeRecKey(k): v}, done: make(chan error, 1)}
		r.queueOpLocked(op)
	}
	r.mu.Unlock()
	r.wake()
	if op == nil {
		return nil
	}
	select {
	case err := <-op.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (r *Replicator) wake() {
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

func (r *Replicator) queueOpLocked(op *persistOp) {
	r.mu.ops = append(r.mu.ops, op)
	select {
	case r.persist <- struct{}{}:
	default:
	}
}

// persister commits the queued writes in order, as many in one commit as
// are waiting.
func (r *Replicator) persister(ctx context.Context) {
	for {
		select {
		case <-r.persist:
		case <-ctx.Done():
			return
		}
		r.commitOps(ctx)
	}
}

// commitOps commits the writes queued so far, in one batch.
func (r *Replicator) commitOps(ctx context.Context) error {
	r.mu.Lock()
	ops := r.mu.ops
	r.mu.ops = nil
	r.mu.Unlock()
	if len(ops) == 0 {
		return nil
	}
	b := r.j.NewBatch()
	for _, op := range ops {
		for _, k := range op.del {
			b.DeleteRecord(r.opt.Name, k)
		}
		for k, v := range op.put {
			b.PutRecord(r.opt.Name, k, v)
		}
		if op.cursor != 0 {
			b.SetCursor(r.opt.Name, op.cursor)
		}
	}
	_, err := b.Commit(ctx)
	if err != nil {
		r.opt.Logger.Error("the replicator's progress could not be recorded", "err", err)
	}
	for _, op := range ops {
		if op.done != nil {
			op.done <- err
		}
	}
	return err
}

// flush commits what is queued, waiting for it.
func (r *Replicator) flush(ctx context.Context) error {
	op := &persistOp{done: make(chan error, 1)}
	r.mu.Lock()
	r.queueOpLocked(op)
	r.mu.Unlock()
	select {
	case err := <-op.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// follow reads the change log from the cursor on and queues what changed.
func (r *Replicator) follow(ctx context.Context) error {
	r.mu.Lock()
	seen := r.mu.seen
	r.mu.Unlock()
	for {
		if err := r.j.Wait(ctx, seen); err != nil {
			return err
		}
		last := r.j.LastSeq()
		now := r.opt.Now()
		var found []journal.UserMailbox
		for m, err := range r.j.Dirty(ctx, seen) {
			if err != nil {
				return err
			}
			found = append(found, m)
			last = max(last, m.Seq)
		}
		r.mu.Lock()
		for _, m := range found {
			mbox := m.Mailbox
			if m.Deleted {
				mbox = ""
			}
			r.userLocked(m.User, now)
			r.mu.q.add(Notice{User: m.User, Mailbox: mbox, Time: now, Priority: PriorityChange}, m.Seq, now)
		}
		r.mu.seen = last
		r.queueCursorLocked()
		r.mu.Unlock()
		r.wake()
		seen = last
	}
}

// queueCursorLocked queues a move of the cursor to the last event before
// every notice of the change log still pending.
func (r *Replicator) queueCursorLocked() {
	c := r.mu.seen
	if low := r.mu.q.lowSeq(); low != 0 {
		c = low - 1
	}
	if c > r.mu.cursor {
		r.mu.cursor = c
		r.queueOpLocked(&persistOp{cursor: c})
	}
}

// listUsers picks up new users every UsersInterval.
func (r *Replicator) listUsers(ctx context.Context) {
	t := time.NewTicker(r.opt.UsersInterval)
	defer t.Stop()
	for {
		users, err := r.opt.Users(ctx)
		if err != nil && ctx.Err() == nil {
			r.opt.Logger.Warn("the users could not be listed", "err", err)
		}
		now := r.opt.Now()
		r.mu.Lock()
		for _, u := range users {
			r.userLocked(u, now)
		}
		r.mu.Unlock()
		r.wake()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// schedule starts jobs until ctx ends.
func (r *Replicator) schedule(ctx context.Context) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		now := r.opt.Now()
		r.mu.Lock()
		wakeAt := r.queueDueLocked(now)
		for r.mu.inFlight < r.opt.Concurrency {
			j, ok := r.mu.q.next(now, func(user string) bool { return r.mu.perServer[r.opt.Server(user)] < r.opt.MaxPerServer })
			if !ok {
				break
			}
			r.mu.inFlight++
			r.mu.perServer[r.opt.Server(j.user)]++
			r.jobs.Add(1)
			go r.run(ctx, j)
		}
		if w := r.mu.q.wake(now); !w.IsZero() && (wakeAt.IsZero() || w.Before(wakeAt)) {
			wakeAt = w
		}
		r.mu.Unlock()
		d := time.Hour
		if !wakeAt.IsZero() {
			d = max(wakeAt.Sub(now), time.Millisecond)
		}
		timer.Reset(d)
		select {
		case <-ctx.Done():
			return
		case <-r.kick:
		case <-timer.C:
		}
	}
}

// queueDueLocked queues the users whose verification slot has come and
// returns the next slot.
func (r *Replicator) queueDueLocked(now time.Time) time.Time {
	var next time.Time
	for u, ui := range r.mu.users {
		if ui.nextFull.IsZero() {
			continue
		}
		if !ui.nextFull.After(now) {
			if !r.mu.q.pendingKey(u, "") {
				r.mu.q.add(Notice{User: u, Priority: PriorityFull, Time: ui.nextFull}, 0, now)
			}
			ui.nextFull = r.nextSlot(u, now, now)
		}
		if next.IsZero() || ui.nextFull.Before(next) {
			next = ui.nextFull
		}
	}
	return next
}

// run runs one job and records its outcome.
func (r *Replicator) run(ctx context.Context, j *job) {
	defer r.jobs.Done()
	sj := SyncJob{User: j.user, Mailboxes: j.names(), Priority: j.prio, Stop: r.stop}
	start := r.opt.Now()
	// The job runs on after ctx ends, stopped by r.stop: a graceful stop
	// drains it.
	rep, err := r.opt.Sync(context.WithoutCancel(ctx), sj)
	end := r.opt.Now()
	out := SyncOutcome{Job: sj, Report: rep, Err: err, Start: start, Duration: end.Sub(start), Oldest: j.oldest()}
	out.Stopped = err != nil && errors.Is(err, ErrStopped)

	r.mu.Lock()
	r.mu.inFlight--
	r.mu.perServer[r.opt.Server(j.user)]--
	ui := r.userLocked(j.user, end)
	switch {
	case out.Stopped:
		r.mu.q.stopped(j, end)
	case err != nil:
		out.Failed = r.mu.q.done(j, err, oneLine(err), end)
		ui.Failures++
		ui.Reason = oneLine(err)
	default:
		r.mu.q.done(j, nil, "", end)
		out.Lag = end.Sub(out.Oldest)
		ui.LastSuccess, ui.Failures, ui.Reason = end, 0, ""
		if j.all {
			ui.LastFull = start
			ui.nextFull = r.nextSlot(j.user, start, end)
		}
	}
	if !out.Stopped {
		op := &persistOp{put: map[string][]byte{}}
		v, _ := json.Marshal(ui)
		op.put[userRecKey(j.user)] = v
		if err == nil {
			keys := []noticeKey{}
			if j.all {
				keys = append(keys, noticeKey{j.user, ""})
			}
			for m := range j.mailboxes {
				keys = append(keys, noticeKey{j.user, m})
			}
			for _, k := range keys {
				if r.mu.persisted[k] && !r.mu.q.pendingKey(k.user, k.mbox) {
					delete(r.mu.persisted, k)
					op.del = append(op.del, noticeRecKey(k))
				}
			}
		}
		r.queueOpLocked(op)
		r.queueCursorLocked()
	}
	r.mu.Unlock()
	r.wake()
	r.log(out)
	if r.opt.OnSync != nil {
		r.opt.OnSync(out)
	}
}

// log writes the sync's line.
func (r *Replicator) log(o SyncOutcome) {
	attrs := []any{"user", o.Job.User, "priority", o.Job.Priority.String(), "duration", o.Duration.Round(time.Millisecond)}
	if o.Job.Mailboxes != nil {
		attrs = append(attrs, "mailboxes", len(o.Job.Mailboxes))
	}
	if o.Report != nil {
		t := o.Report.Total
		attrs = append(attrs, "appended", t.Appended, "flags", t.FlagChanges, "expunged", t.Expunged, "bytes", t.Bytes)
	}
	switch {
	case o.Stopped:
		r.opt.Logger.Info("sync stopped", attrs...)
	case o.Err != nil:
		attrs = append(attrs, "failed_set", o.Failed, "err", oneLine(o.Err))
		r.opt.Logger.Warn("sync failed", attrs...)
	default:
		attrs = append(attrs, "lag", o.Lag.Round(time.Millisecond))
		r.opt.Logger.Info("sync", attrs...)
	}
}

// oneLine is an error's text on one line, for reasons and logs.
func oneLine(err error) string {
	return strings.Join(strings.Fields(err.Error()), " ")
}

// FailedUser is a user in a replicator's failed set.
type FailedUser struct {
	User      string    `json:"user"`
	Reason    string    `json:"reason"`
	Failures  int       `json:"failures"` // in a row
	Since     time.Time `json:"since"`    // when the user entered the failed set
	NextRetry time.Time `json:"next_retry"`
}

// UserStatus is what a replicator knows of one user.
type UserStatus struct {
	User        string    `json:"user"`
	LastSuccess time.Time `json:"last_success,omitzero"`
	LastFull    time.Time `json:"last_full,omitzero"`
	NextFull    time.Time `json:"next_full,omitzero"`
}

// Snapshot is the state of a replicator at one moment.
type Snapshot struct {
	Time time.Time `json:"time"`
	// Queued counts the users waiting for a sync, InFlight those being
	// synced; Failed is the failed set, by user.
	Queued   int          `json:"queued"`
	InFlight int          `json:"in_flight"`
	Failed   []FailedUser `json:"failed"`
	// OldestPending is the time of the oldest change not yet replicated
	// (zero: none).
	OldestPending time.Time `json:"oldest_pending,omitzero"`
	// PastFullDeadline counts the users whose verification is overdue by
	// more than FullInterval/24 (an hour, by default).
	PastFullDeadline int `json:"past_full_deadline"`
	// Cursor is where the replicator's cursor in the change log stands,
	// LastSeq the log's last event.
	Cursor  journal.Seq  `json:"cursor"`
	LastSeq journal.Seq  `json:"last_seq"`
	Users   []UserStatus `json:"users"`
}

// Snapshot returns the replicator's state.
func (r *Replicator) Snapshot() Snapshot {
	now := r.opt.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	st := r.mu.q.stats()
	s := Snapshot{Time: now, Queued: st.queued, InFlight: st.inFlight, Failed: r.mu.q.failedUsers(), OldestPending: st.oldest,
		Cursor: r.mu.cursor, LastSeq: r.j.LastSeq()}
	grace := r.opt.FullInterval / 24
	for u, ui := range r.mu.users {
		s.Users = append(s.Users, UserStatus{User: u, LastSuccess: ui.LastSuccess, LastFull: ui.LastFull, NextFull: ui.nextFull})
		if r.opt.FullInterval > 0 && !ui.LastFull.IsZero() && now.Sub(ui.LastFull) > r.opt.FullInterval+grace {
			s.PastFullDeadline++
		}
	}
	slices.SortFunc(s.Users, func(a, b UserStatus) int { return strings.Compare(a.User, b.User) })
	return s
}
