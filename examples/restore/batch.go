package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/mailrepl/mailrepl/internal/batch"
	"github.com/mailrepl/mailrepl/journal"
	"github.com/mailrepl/mailrepl/ratelimit"
	"github.com/mailrepl/mailrepl/replica"
)

// tool names this program's records in the journal.
const tool = "restore"

// columns of the summary table.
var columns = []batch.Column{
	{Head: "lost", Keys: []string{"lost"}},
	{Head: "restored", Keys: []string{"restored"}},
	{Head: "present", Keys: []string{"present"}},
	{Head: "deleted", Keys: []string{"skipped_deleted"}},
	{Head: "policy", Keys: []string{"skipped_policy"}},
	{Head: "failed", Keys: []string{"failed"}},
	{Head: "bytes", Keys: []string{"bytes"}, Bytes: true},
}

// outcome is what the tool did for one user: the recovery's report and
// the restore's.
type outcome struct {
	Recover *replica.RecoverReport `json:"recover,omitempty"`
	Restore *replica.RestoreReport `json:"restore,omitempty"`
}

// Counts: "checked" and "lost" by the recovery; "restored", "present",
// "skipped_deleted", "skipped_policy", "failed" and "bytes" by the
// restore.
func (o *outcome) Counts() batch.Counts {
	c := batch.Counts{}
	if r := o.Recover; r != nil {
		c["checked"], c["lost"] = int64(r.Checked), int64(r.Lost)
	}
	if r := o.Restore; r != nil {
		t := r.Total
		c["restored"], c["present"], c["bytes"] = int64(t.Restored), int64(t.Present), t.Bytes
		c["skipped_deleted"], c["skipped_policy"], c["failed"] = int64(t.SkippedDeleted), int64(t.SkippedPolicy), int64(t.Failed)
	}
	return c
}

// Problem returns the first failure the reports list.
func (o *outcome) Problem() string {
	if r := o.Recover; r != nil {
		for _, m := range r.Mailboxes {
			if m.Error != "" {
				return "recover " + m.Mailbox + ": " + m.Error
			}
		}
	}
	if r := o.Restore; r != nil {
		if len(r.Failed) > 0 {
			return "restore " + r.Failed[0].String()
		}
		for _, m := range r.Mailboxes {
			if m.Error != "" {
				return "restore " + m.Mailbox + ": " + m.Error
			}
		}
	}
	return ""
}

// app is one batch: what every user's run shares.
type app struct {
	cfg      *config
	j        *journal.Journal
	state    *replica.JournalState
	limits   *ratelimit.Limiter
	runner   *batch.Runner
	stop     <-chan struct{}
	logLevel slog.Level
	intoSrv  string
	fromSrv  string
	stdout   io.Writer
	intoIMAP *batch.IMAPOptions // nil unless -into is IMAP
	fromIMAP *batch.IMAPOptions
}

// runBatch runs the users, prints the result (the table, or JSON) and
// returns it with the exit status; a nil result means the batch could not
// start (the status says why).
func runBatch(ctx context.Context, cfg *config, users []string, stdout, stderr io.Writer) (*batch.Result, int) {
	a := &app{cfg: cfg, stdout: stdout, logLevel: slog.LevelWarn, intoSrv: cfg.into.Server()}
	if cfg.verbose {
		a.logLevel = slog.LevelInfo
	}
	if cfg.hasFrom {
		a.fromSrv = cfg.from.Server()
	}
	var err error
	a.limits, err = ratelimit.New(cfg.limits)
	if err != nil {
		fmt.Fprintf(stderr, "restore: %v\n", err)
		return nil, exitUsage
	}
	if err := a.loadIMAP(); err != nil {
		fmt.Fprintf(stderr, "restore: %v\n", err)
		return nil, exitUsage
	}
	logw := batch.NewSwitchWriter(stderr)
	ctx, stop, release := batch.Interrupts(ctx, logw)
	defer release()
	a.stop = stop

	j, err := journal.Open(cfg.journal, &journal.Options{Logger: slog.New(slog.NewTextHandler(logw, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	if err != nil {
		fmt.Fprintf(stderr, "restore: %v\n", err)
		return nil, exitFailed
	}
	defer func() {
		if err := j.Close(); err != nil {
			fmt.Fprintf(stderr, "restore: %v\n", err)
		}
	}()
	a.state = replica.NewJournalState(j)
	a.j = j
	var cp *batch.Checkpoint
	if !cfg.dryRun {
		if cp, err = batch.OpenCheckpoint(ctx, j, tool, cfg.params(), time.Now()); err != nil {
			fmt.Fprintf(stderr, "restore: %v\n", err)
			return nil, exitFailed
		}
	}
	opts := &batch.Options{
		Concurrency: cfg.concurrency,
		Stop:        stop,
		Checkpoint:  cp,
		Interval:    cfg.progressInterval,
		Columns:     columns,
	}
	opts.ShowProgress(stderr)
	a.runner = batch.NewRunner(opts)
	logw.Set(a.runner.Log())

	what := "into " + cfg.into.String()
	switch {
	case cfg.recover && cfg.hasFrom:
		what = fmt.Sprintf("recover %s, then restore from %s (%s)", cfg.into, cfg.from, cfg.policy)
	case cfg.recover:
		what = "recover " + cfg.into.String()
	default:
		what = fmt.Sprintf("restore %s from %s (%s)", cfg.into, cfg.from, cfg.policy)
	}
	if cfg.dryRun {
		what = "dry run: " + what
	}
	fmt.Fprintf(logw, "restore: %d users, %s\n", len(users), what)
	if cp != nil && cp.Resumed() {
		fmt.Fprintf(logw, "restore: resuming the batch started %s: %d users done then\n",
			cp.Started().Local().Format("2006-01-02 15:04:05"), cp.DoneCount())
	}
	res := a.runner.Run(ctx, users, a.user)
	if err := a.report(res); err != nil {
		fmt.Fprintf(stderr, "restore: %v\n", err)
		return res, exitFailed
	}
	return res, res.ExitCode()
}

// loadIMAP reads the auth files and CA of IMAP templates; connections to
// a server are capped by -server-conns, or by -concurrency.
func (a *app) loadIMAP() error {
	cfg := a.cfg
	conns := cfg.limits.ServerConns
	if conns <= 0 {
		conns = 2 * cfg.concurrency
	}
	tlsCfg, pools, err := batch.IMAPSetup(cfg.caFile, conns)
	if err != nil {
		return err
	}
	if a.intoIMAP, err = batch.LoadIMAP(cfg.into, "into-auth", cfg.intoAuth, tlsCfg, pools); err != nil {
		return err
	}
	if cfg.hasFrom {
		a.fromIMAP, err = batch.LoadIMAP(cfg.from, "from-auth", cfg.fromAuth, tlsCfg, pools)
	} else if cfg.fromAuth != "" {
		err = errors.New("-from-auth goes with -from")
	}
	return err
}

// user is the batch's job: one user's recovery and restore.
func (a *app) user(ctx context.Context, user string) (batch.Outcome, error) {
	cfg := a.cfg
	intoID, err := cfg.into.ID(user)
	if err != nil {
		return nil, err
	}
	intoCache, err := cfg.into.CacheID(user)
	if err != nil {
		return nil, err
	}
	h := a.limits.For(user, a.fromSrv, a.intoSrv)
	defer h.Close()
	// Wait for a slot on both servers, or for the batch to stop.
	releaseSlots, err := batch.AcquireSlots(ctx, h, a.stop)
	if err != nil {
		return nil, err
	}
	defer releaseSlots()

	logger := slog.New(slog.NewTextHandler(a.runner.Log(), &slog.HandlerOptions{Level: a.logLevel})).With("user", user)
	// The live store must exist: a template that names the wrong place
	// must not make empty stores for every user.
	if cfg.into.Remote() {
		// The server opens a store read-only only if it exists.
		probe, err := cfg.into.Open(user, batch.OpenOptions{ReadOnly: true, Logger: logger})
		if err != nil {
			return nil, fmt.Errorf("live store %s: %w", intoID, err)
		}
		batch.CloseStore(probe, logger)
	} else if !cfg.into.IsIMAP() {
		path, _ := cfg.into.Expand(user)
		if _, err := os.Stat(path); err != nil {
			return nil, fmt.Errorf("live store %s: %w", intoID, err)
		}
	}
	// The live store's keeper, as sync_all_users numbers it (a backup
	// gets none: it would take the live store's numbering).
	into, err := cfg.into.Open(user, batch.OpenOptions{ReadOnly: cfg.dryRun, Logger: logger, UIDs: a.j.UIDKeeper(user), Observer: batch.SideObserver(h, true), IMAP: a.intoIMAP.With(a.state, batch.Observer{H: h, Target: true})})
	if err != nil {
		return nil, fmt.Errorf("live store %s: %w", intoID, err)
	}
	defer batch.CloseStore(into, logger)
	filter := func(name string) bool { return !cfg.excluded(name) }

	out := &outcome{}
	if cfg.recover {
		out.Recover, err = replica.Recover(ctx, into, &replica.RecoverOptions{
			User:          user,
			Records:       a.state,
			Cache:         a.state,
			StoreID:       intoCache,
			Mailboxes:     filter,
			QuarantineDir: cfg.quarantine,
			DryRun:        cfg.dryRun,
			Limiter:       h,
			Logger:        logger,
			Stop:          a.stop,
		})
		if err != nil {
			// A restore after a failed recovery could deliver beside
			// blank entries: stop here.
			return out, fmt.Errorf("recover %s: %w", intoID, err)
		}
	}
	if !cfg.hasFrom {
		return out, nil
	}
	fromID, err := cfg.from.ID(user)
	if err != nil {
		return out, err
	}
	from, err := cfg.from.OpenReader(user, batch.OpenOptions{Logger: logger, Observer: batch.SideObserver(h, false), IMAP: a.fromIMAP.With(a.state, batch.Observer{H: h})})
	if err != nil {
		return out, fmt.Errorf("backup %s: %w", fromID, err)
	}
	defer batch.CloseStore(from, logger)
	out.Restore, err = replica.Restore(ctx, from, into, &replica.RestoreOptions{
		User:      user,
		Records:   a.state,
		Policy:    cfg.policy,
		Since:     cfg.since,
		Until:     cfg.until,
		Mailboxes: filter,
		DryRun:    cfg.dryRun,
		Limiter:   h,
		Logger:    logger,
		Progress:  a.runner.Copied,
		Stop:      a.stop,
	})
	if err != nil {
		return out, fmt.Errorf("restore %s from %s: %w", intoID, fromID, err)
	}
	return out, nil
}

// output is the JSON the program prints with -json.
type output struct {
	*batch.Result
	Into       string `json:"into"`
	From       string `json:"from,omitempty"`
	Recover    bool   `json:"recover"`
	Policy     string `json:"policy,omitempty"`
	DryRun     bool   `json:"dry_run,omitempty"`
	ExitStatus int    `json:"exit_status"`
}

// report prints the result: JSON or the summary table.
func (a *app) report(res *batch.Result) error {
	cfg := a.cfg
	if !cfg.jsonOut {
		return res.WriteTable(a.stdout)
	}
	out := output{Result: res, Into: cfg.into.String(), Recover: cfg.recover, DryRun: cfg.dryRun, ExitStatus: res.ExitCode()}
	if cfg.hasFrom {
		out.From, out.Policy = cfg.from.String(), cfg.policy.String()
	}
	enc := json.NewEncoder(a.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}
