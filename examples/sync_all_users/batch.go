package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/mailrepl/mailrepl/internal/batch"
	"github.com/mailrepl/mailrepl/journal"
	"github.com/mailrepl/mailrepl/mailbox"
	"github.com/mailrepl/mailrepl/mailbox/imapstore"
	"github.com/mailrepl/mailrepl/mailbox/memstore"
	"github.com/mailrepl/mailrepl/mailbox/remote"
	"github.com/mailrepl/mailrepl/ratelimit"
	"github.com/mailrepl/mailrepl/replica"
)

// tool names this program's records in the journal.
const tool = "sync_all_users"

// maxPlanLines bounds the plan a dry run keeps per user for -json.
const maxPlanLines = 1000

// app is one batch: what every user's sync shares.
type app struct {
	cfg      *config
	j        *journal.Journal // nil in a dry run without -journal
	state    *replica.JournalState
	synclog  *batch.SyncLog
	changes  *batch.Changes // nil: no user's changes are logged, or -full
	limits   *ratelimit.Limiter
	runner   *batch.Runner
	stop     <-chan struct{}
	logLevel slog.Level
	srcSrv   string
	dstSrv   string
	stdout   io.Writer
	srcIMAP  *batch.IMAPOptions // nil unless the source is IMAP
	dstIMAP  *batch.IMAPOptions

	mu    sync.Mutex          // guards plans and writes to stdout
	plans map[string][]string // dry run with -json: each user's plan
	more  map[string]int      // plan lines left out
}

// runBatch syncs users, prints the result (the table, or JSON) and
// returns it with the exit status; a nil result means the batch could not
// start (the status says why).
func runBatch(ctx context.Context, cfg *config, users []string, stdout, stderr io.Writer) (*batch.Result, int) {
	a := &app{cfg: cfg, stdout: stdout, plans: map[string][]string{}, more: map[string]int{}, logLevel: slog.LevelWarn}
	if cfg.verbose {
		a.logLevel = slog.LevelInfo
	}
	a.srcSrv, a.dstSrv = cfg.sourceServer, cfg.targetServer
	if a.srcSrv == "" {
		a.srcSrv = cfg.source.Server()
	}
	if a.dstSrv == "" {
		a.dstSrv = cfg.target.Server()
	}
	var err error
	a.limits, err = ratelimit.New(cfg.limits)
	if err != nil {
		fmt.Fprintf(stderr, "sync_all_users: %v\n", err)
		return nil, exitUsage
	}
	if err := a.loadIMAP(); err != nil {
		fmt.Fprintf(stderr, "sync_all_users: %v\n", err)
		return nil, exitUsage
	}

	// Log lines go through the runner, to keep clear of the progress
	// line; the signal handler starts before the runner exists.
	logw := batch.NewSwitchWriter(stderr)
	ctx, stop, release := batch.Interrupts(ctx, logw)
	defer release()
	a.stop = stop

	var cp *batch.Checkpoint
	if cfg.journal != "" {
		a.j, err = journal.Open(cfg.journal, &journal.Options{Logger: slog.New(slog.NewTextHandler(logw, &slog.HandlerOptions{Level: slog.LevelWarn}))})
		if err != nil {
			fmt.Fprintf(stderr, "sync_all_users: %v\n", err)
			return nil, exitFailed
		}
		defer func() {
			if err := a.j.Close(); err != nil {
				fmt.Fprintf(stderr, "sync_all_users: %v\n", err)
			}
		}()
		a.state = replica.NewJournalState(a.j)
		a.synclog = batch.NewSyncLog(a.j, tool)
		if !cfg.full && a.j.LastSeq() > 0 {
			if a.changes, err = batch.ReadChanges(ctx, a.j); err != nil {
				fmt.Fprintf(stderr, "sync_all_users: %v\n", err)
				return nil, exitFailed
			}
		}
		if !cfg.dryRun {
			if cp, err = batch.OpenCheckpoint(ctx, a.j, tool, cfg.params(), time.Now()); err != nil {
				fmt.Fprintf(stderr, "sync_all_users: %v\n", err)
				return nil, exitFailed
			}
		}
	}

	opts := &batch.Options{
		Concurrency: cfg.concurrency,
		Stop:        stop,
		Checkpoint:  cp,
		Interval:    cfg.progressInterval,
	}
	opts.ShowProgress(stderr)
	if a.changes != nil {
		opts.Skip = a.skip
	}
	if !cfg.dryRun {
		opts.Estimate = a.estimate
		opts.Limits = a.batchLimits
	}
	a.runner = batch.NewRunner(opts)
	logw.Set(a.runner.Log())

	what := fmt.Sprintf("%s %s → %s", cfg.mode, cfg.source, cfg.target)
	if cfg.dryRun {
		what = "dry run: " + what
	}
	if cfg.shard.Count > 0 {
		what += ", shard " + cfg.shard.String()
	}
	fmt.Fprintf(logw, "sync_all_users: %d users, %s\n", len(users), what)
	if cp != nil && cp.Resumed() {
		fmt.Fprintf(logw, "sync_all_users: resuming the batch started %s: %d users done then\n",
			cp.Started().Local().Format("2006-01-02 15:04:05"), cp.DoneCount())
	}
	res := a.runner.Run(ctx, users, func(ctx context.Context, user string) (batch.Outcome, error) {
		rep, err := a.syncUser(ctx, user)
		if rep == nil {
			return nil, err
		}
		return batch.SyncOutcome{Report: rep}, err
	})
	if err := a.report(res); err != nil {
		fmt.Fprintf(stderr, "sync_all_users: %v\n", err)
		return res, exitFailed
	}
	return res, res.ExitCode()
}

// skip skips a user whose changes the journal logs and who has none since
// the last successful sync.
func (a *app) skip(ctx context.Context, user string) (string, error) {
	last, found, err := a.synclog.Last(a.pair(user))
	if err != nil || !found {
		return "", err
	}
	if a.changes.Unchanged(user, last.Seq) {
		return fmt.Sprintf("no change logged since the last sync at %s (-full syncs it anyway)", last.Time.Local().Format("2006-01-02 15:04:05")), nil
	}
	return "", nil
}

// pair names a user's pair of stores in the journal.
func (a *app) pair(user string) string { return user + " → " + a.cfg.target.String() }

// loadIMAP reads the auth files and CA of IMAP templates. IMAP
// connections to one server are capped by -server-conns, or else by what
// the batch can use at once.
func (a *app) loadIMAP() error {
	cfg := a.cfg
	conns := cfg.limits.ServerConns
	if conns <= 0 {
		conns = cfg.concurrency * (cfg.mailboxConcurrency + 1)
	}
	tlsCfg, pools, err := batch.IMAPSetup(cfg.caFile, conns)
	if err != nil {
		return err
	}
	if a.srcIMAP, err = batch.LoadIMAP(cfg.source, "source-auth", cfg.sourceAuth, tlsCfg, pools); err != nil {
		return err
	}
	a.dstIMAP, err = batch.LoadIMAP(cfg.target, "target-auth", cfg.targetAuth, tlsCfg, pools)
	return err
}

// imap returns the IMAP options of one side for one user's stores.
func (a *app) imap(o *batch.IMAPOptions, h *ratelimit.Handle, target bool) *batch.IMAPOptions {
	var cache imapstore.Cache
	if a.state != nil {
		cache = a.state
	}
	return o.With(cache, batch.Observer{H: h, Target: target})
}

// syncUser is the batch's job: one user's sync.
func (a *app) syncUser(ctx context.Context, user string) (*replica.Report, error) {
	cfg := a.cfg
	srcID, err := cfg.source.ID(user)
	if err != nil {
		return nil, err
	}
	dstID, err := cfg.target.ID(user)
	if err != nil {
		return nil, err
	}
	ids := storeIDs{src: srcID, dst: dstID}
	if ids.srcCache, err = cfg.source.CacheID(user); err != nil {
		return nil, err
	}
	if ids.dstCache, err = cfg.target.CacheID(user); err != nil {
		return nil, err
	}
	h := a.limits.For(user, a.srcSrv, a.dstSrv)
	defer h.Close()
	// Wait for a slot on both servers, or for the batch to stop.
	releaseSlots, err := batch.AcquireSlots(ctx, h, a.stop)
	if err != nil {
		return nil, err
	}
	defer releaseSlots()

	logger := slog.New(slog.NewTextHandler(a.runner.Log(), &slog.HandlerOptions{Level: a.logLevel})).With("user", user)
	var seq journal.Seq
	if a.j != nil {
		seq = a.j.LastSeq()
	}
	start := time.Now()
	// The source is written to only when the mode needs it: a migration
	// never, a mirror only to copy back mail found only on the target
	// (split brain). A mirror first runs with the source read-only, and
	// again with it writable when the engine says it held something back.
	// A dry run never writes, but shows the source writable to the engine
	// when the mode could write to it, so that the plan shows those
	// writes.
	writable := cfg.mode == replica.TwoWay || (cfg.mode == replica.Mirror && cfg.dryRun && !cfg.readOnlySource && cfg.source.Writable())
	rep, err := a.syncOnce(ctx, user, ids, h, writable, logger)
	if rep != nil && rep.HeldBack > 0 && !writable && cfg.mode == replica.Mirror && !cfg.readOnlySource && cfg.source.Writable() && !cfg.dryRun && !a.stopped() && ctx.Err() == nil {
		logger.Info("mail found only on the target: the source is opened writable to copy it back", "held_back", rep.HeldBack)
		first := rep
		rep, err = a.syncOnce(ctx, user, ids, h, true, logger)
		if rep == nil {
			rep = first // the second run could not start: err says why
		} else {
			rep = rescued(first, rep)
		}
	}
	if err == nil && rep != nil && rep.HeldBack > 0 && cfg.mode == replica.Mirror && !cfg.dryRun {
		// Split-brain mail the source may not take: kept on the target,
		// and the user fails until someone decides.
		why := "-read-only-source"
		if !cfg.source.Writable() {
			why = cfg.source.Scheme() + " sources are read-only"
		}
		err = fmt.Errorf("the target holds mail or mailboxes the source lacks (%d held back), kept on the target: the source is not written to (%s); rerun without it to copy them back, or with -delete-target-only to drop them", rep.HeldBack, why)
	}
	if cfg.dryRun && rep != nil {
		for _, m := range rep.Mailboxes {
			if m.Realigned != "" {
				a.plan(user, fmt.Sprintf("%s: %s", m.Source, m.Realigned))
			}
		}
	}
	if err == nil && !cfg.dryRun && a.synclog != nil {
		if err := a.synclog.Put(ctx, a.pair(user), batch.LastSync{Seq: seq, Time: start}); err != nil {
			logger.Warn("the sync is not recorded: the next batch syncs the user again", "err", err)
		}
	}
	return rep, err
}

// storeIDs name a user's stores: in errors (src, dst: where they are)
// and in the EmailID cache (srcCache, dstCache: what they are).
type storeIDs struct {
	src, dst           string
	srcCache, dstCache string
}

// keeper is the UID keeper of user's stores that have no UID list, or nil
// without a journal.
func (a *app) keeper(user string) mailbox.UIDKeeper {
	if a.j == nil {
		return nil
	}
	return a.j.UIDKeeper(user)
}

// syncOnce runs one sync of user's stores, with the source writable or
// not.
func (a *app) syncOnce(ctx context.Context, user string, ids storeIDs, h *ratelimit.Handle, writable bool, logger *slog.Logger) (*replica.Report, error) {
	cfg := a.cfg
	var src batch.ReadCloser
	var err error
	open := batch.OpenOptions{Logger: logger, UIDs: a.keeper(user), Observer: batch.SideObserver(h, false), IMAP: a.imap(a.srcIMAP, h, false)}
	if writable && !cfg.dryRun {
		src, err = cfg.source.Open(user, open)
	} else {
		src, err = cfg.source.OpenReader(user, open)
	}
	if err != nil {
		return nil, fmt.Errorf("source %s: %w", ids.src, err)
	}
	defer batch.CloseStore(src, logger)
	dst, err := a.openTarget(ctx, user, src, logger, batch.SideObserver(h, true), a.imap(a.dstIMAP, h, true))
	if err != nil {
		return nil, fmt.Errorf("target %s: %w", ids.dst, err)
	}
	defer batch.CloseStore(dst, logger)

	var source mailbox.Reader = src
	if !writable {
		// The engine must see that it cannot write to the source.
		source = batch.ReadOnly(src)
	}
	opts := &replica.Options{
		Mode:            cfg.mode,
		Pair:            a.pair(user),
		User:            user,
		SourceID:        ids.srcCache,
		TargetID:        ids.dstCache,
		Limiter:         h,
		Concurrency:     cfg.mailboxConcurrency,
		DryRun:          cfg.dryRun,
		Stop:            a.stop,
		Progress:        a.runner.CopiedBy(user),
		Logger:          logger,
		FolderNames:     cfg.folderNames,
		NoSpecialUseMap: cfg.noSpecialUseMap,
	}
	if cfg.deleteTargetOnly {
		opts.TargetOnly = replica.DeleteTargetOnly
	}
	if a.state != nil {
		opts.State, opts.Cache = a.state, a.state
	}
	if cfg.dryRun {
		opts.OnOp = func(mbox string, op replica.Op) { a.plan(user, fmt.Sprintf("%s: %s", mbox, op)) }
		opts.OnMailboxOp = func(op replica.MailboxOp) {
			if op.Kind != replica.MailboxKeep {
				a.plan(user, op.String())
			}
		}
	}
	s, err := replica.New(source, dst, opts)
	if err != nil {
		return nil, err
	}
	return s.Sync(ctx)
}

// rescued is the report of a mirror run twice, first with the source
// read-only, then writable to copy back what the first run held back:
// the second run's report, with the first run's changes added (what it
// skipped or failed for the read-only source, the second run did).
func rescued(first, second *replica.Report) *replica.Report {
	f, t := first.Total, &second.Total
	t.Appended += f.Appended
	t.AppendedToSource += f.AppendedToSource
	t.Bytes += f.Bytes
	t.FlagChanges += f.FlagChanges
	t.Expunged += f.Expunged
	t.ExpungedSource += f.ExpungedSource
	t.Moved += f.Moved
	t.Paired += f.Paired
	second.Start = first.Start
	second.Duration += first.Duration
	if second.State == "" {
		second.State = first.State // what the first run found of the state
	}
	// What the first run found and the second did not see again (a
	// conflict it resolved, such as a realign) stays in the report.
	for _, it := range first.Conflicts {
		if !slices.Contains(second.Conflicts, it) {
			second.Conflicts = append(second.Conflicts, it)
			t.Conflicts++
		}
	}
	return second
}

// stopped reports whether the batch was asked to stop.
func (a *app) stopped() bool {
	select {
	case <-a.stop:
		return true
	default:
		return false
	}
}

// openTarget opens the user's target store. In a dry run it is opened
// read-only, and one that does not exist yet is stood for by an empty
// store in memory whose INBOX has the source's UIDVALIDITY: what the
// first sync makes of the INBOX it creates (realigned to the source's
// UIDVALIDITY before anything is copied), so that the plan shows the
// copies.
func (a *app) openTarget(ctx context.Context, user string, src mailbox.Reader, logger *slog.Logger, ob remote.Observer, imap *batch.IMAPOptions) (mailbox.Store, error) {
	if !a.cfg.dryRun {
		return a.cfg.target.Open(user, batch.OpenOptions{Logger: logger, Observer: ob, IMAP: imap})
	}
	dst, err := a.cfg.target.Open(user, batch.OpenOptions{ReadOnly: true, Logger: logger, Observer: ob, IMAP: imap})
	if !errors.Is(err, mailbox.ErrNotFound) {
		return dst, err
	}
	empty := memstore.New(&memstore.Options{Name: "empty target"})
	if in, err := src.Status(ctx, mailbox.Inbox); err == nil {
		if err := empty.ResetUIDs(ctx, mailbox.Inbox, in.UIDValidity, nil); err != nil {
			empty.Close()
			return nil, err
		}
	}
	return empty, nil
}

// plan shows one op of a dry run: a line on standard output, or, with
// -json, a line of the user's plan in the result.
func (a *app) plan(user, line string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.cfg.jsonOut {
		fmt.Fprintf(a.stdout, "%s: %s\n", user, line)
		return
	}
	if len(a.plans[user]) < maxPlanLines {
		a.plans[user] = append(a.plans[user], line)
	} else {
		a.more[user]++
	}
}

// output is the JSON the program prints with -json.
type output struct {
	*batch.Result
	Mode   string `json:"mode"`
	Source string `json:"source"`
	Target string `json:"target"`
	DryRun bool   `json:"dry_run,omitempty"`
	Shard  string `json:"shard,omitempty"`
	// Plans are the ops of a dry run by user (at most 1000 each);
	// PlansOmitted counts the lines left out.
	Plans        map[string][]string `json:"plans,omitempty"`
	PlansOmitted map[string]int      `json:"plans_omitted,omitempty"`
	ExitStatus   int                 `json:"exit_status"`
}

// report prints the result: JSON or the summary table.
func (a *app) report(res *batch.Result) error {
	cfg := a.cfg
	if !cfg.jsonOut {
		return res.WriteTable(a.stdout)
	}
	out := output{Result: res, Mode: cfg.mode.String(), Source: cfg.source.String(), Target: cfg.target.String(),
		DryRun: cfg.dryRun, Shard: cfg.shard.String(), ExitStatus: res.ExitCode()}
	if cfg.dryRun {
		out.Plans = a.plans
		if len(a.more) > 0 {
			out.PlansOmitted = a.more
		}
	}
	enc := json.NewEncoder(a.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}
