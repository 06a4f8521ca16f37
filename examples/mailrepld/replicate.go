package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/mailrepl/mailrepl/internal/batch"
	"github.com/mailrepl/mailrepl/journal"
	"github.com/mailrepl/mailrepl/mailbox"
	"github.com/mailrepl/mailrepl/ratelimit"
	"github.com/mailrepl/mailrepl/replica"
)

// statusFile is the file in the journal's directory where a running
// replicator keeps its last snapshot, for `mailrepld status`.
const statusFile = "mailrepld-status.json"

// replicateConfig is the replicate command line, checked.
type replicateConfig struct {
	source, target     batch.Template
	journal            string
	usersFile          string
	mode               replica.Mode
	metrics            string
	fullInterval       time.Duration
	scanInterval       time.Duration
	concurrency        int
	mailboxConcurrency int
	rates              batch.RateFlags
	limits             ratelimit.Config
	sourceServer       string
	targetServer       string
	deleteTargetOnly   bool
	verbose            bool
}

const replicateUsage = `usage: mailrepld replicate -source TMPL -target TMPL -journal DIR [-users FILE] [-mode mirror|sync]
                           [-metrics ADDR] [-full-interval D] [rate and connection flags]

Keeps each user's replica current: Maildir sources are watched for
changes (inotify), the journal's change log is followed, and every user is
verified once per -full-interval. SIGTERM stops it after the syncs in
flight. Flags:
`

func parseReplicate(args []string, stderr io.Writer) (*replicateConfig, int) {
	fs := flag.NewFlagSet("mailrepld replicate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, replicateUsage)
		fs.PrintDefaults()
	}
	var (
		c                      replicateConfig
		source, target, mode   string
		sourceAuth, targetAuth string
	)
	fs.StringVar(&source, "source", "", "the source store of each user, a template (`TMPL`) such as maildir:/srv/mail/{user}")
	fs.StringVar(&target, "target", "", "the replica of each user, a template (`TMPL`) such as mailrepl://replica:4190/{user} or maildir:/replica/{user}")
	fs.StringVar(&sourceAuth, "source-auth", "", "mailrepl:// source: a `FILE` whose first line is the token (later lines: ca-file PATH, cert-file PATH, key-file PATH, plaintext)")
	fs.StringVar(&targetAuth, "target-auth", "", "mailrepl:// target: a `FILE` as for -source-auth")
	fs.StringVar(&c.journal, "journal", "", "the journal's directory (`DIR`): sync state, the change log's cursor, the notices not yet synced")
	fs.StringVar(&c.usersFile, "users", "", "a `FILE` of user names, one per line (default: the directories the source template's {user} matches, new ones picked up)")
	fs.StringVar(&mode, "mode", "mirror", "mirror (the replica becomes the source; nothing is written to the source) or sync (two-way)")
	fs.StringVar(&c.metrics, "metrics", "", "serve Prometheus metrics on `ADDR` (HOST:PORT), at /metrics")
	fs.DurationVar(&c.fullInterval, "full-interval", 24*time.Hour, "verify every user by a full sync once in this `D`uration, spread over it")
	fs.DurationVar(&c.scanInterval, "scan-interval", 30*time.Second, "how often folders that cannot be watched are scanned, and the users listed again")
	fs.IntVar(&c.concurrency, "concurrency", 8, "users synced at once")
	fs.IntVar(&c.mailboxConcurrency, "mailbox-concurrency", 2, "mailboxes of one user synced at once")
	c.rates.Register(fs)
	fs.StringVar(&c.sourceServer, "source-server", "", "`NAME` of the source server for -server-conns and -server-rate-* (default: the template's directory)")
	fs.StringVar(&c.targetServer, "target-server", "", "`NAME` of the target server for -server-conns and -server-rate-* (default: the template's directory)")
	fs.BoolVar(&c.deleteTargetOnly, "delete-target-only", false, "mirror: delete mail found only on the replica (reported) instead of keeping it")
	fs.BoolVar(&c.verbose, "v", false, "log what the engine does")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, 0
		}
		return nil, 2
	}
	var errs []string
	bad := func(format string, a ...any) { errs = append(errs, fmt.Sprintf(format, a...)) }
	if fs.NArg() > 0 {
		bad("unexpected argument %q", fs.Arg(0))
	}
	var err error
	if c.mode, err = replica.ParseMode(mode); err != nil {
		bad("-mode: %v", err)
	} else if c.mode != replica.Mirror && c.mode != replica.TwoWay {
		bad("-mode: %s: a replicator mirrors (mirror) or syncs both ways (sync)", mode)
	}
	if c.limits, err = c.rates.Config(); err != nil {
		bad("%v", err)
	}
	if c.concurrency < 1 || c.mailboxConcurrency < 1 {
		bad("-concurrency and -mailbox-concurrency must be at least 1")
	}
	if c.fullInterval <= 0 || c.scanInterval <= 0 {
		bad("-full-interval and -scan-interval must be positive")
	}
	if c.journal == "" {
		bad("-journal is needed")
	}
	if source == "" || target == "" {
		bad("-source and -target are needed")
	} else {
		if c.source, err = batch.ParseTemplate(source); err != nil {
			bad("-source: %v", err)
		} else if c.source, err = c.source.WithAuthFlag("source-auth", sourceAuth); err != nil {
			bad("-source: %v", err)
		}
		if c.target, err = batch.ParseTemplate(target); err != nil {
			bad("-target: %v", err)
		} else if c.target, err = c.target.WithAuthFlag("target-auth", targetAuth); err != nil {
			bad("-target: %v", err)
		} else if !c.target.Writable() {
			bad("-target: %s stores are read-only", c.target.Scheme())
		}
		if len(errs) == 0 && c.source.Same(c.target) {
			bad("-source and -target name the same stores")
		}
		if len(errs) == 0 && c.usersFile == "" {
			if _, ok := newUserDirs(c.source); !ok {
				bad("-users is needed: users are found without it only for a maildir source")
			}
		}
	}
	if c.deleteTargetOnly && c.mode != replica.Mirror {
		bad("-delete-target-only applies to -mode mirror only")
	}
	if len(errs) > 0 {
		for _, e := range errs {
			fmt.Fprintf(stderr, "mailrepld replicate: %s\n", e)
		}
		fmt.Fprintln(stderr, "run mailrepld replicate -h for help")
		return nil, 2
	}
	if c.sourceServer == "" {
		c.sourceServer = c.source.Server()
	}
	if c.targetServer == "" {
		c.targetServer = c.target.Server()
	}
	return &c, 0
}

// replicator is the running daemon.
type replicator struct {
	cfg     *replicateConfig
	j       *journal.Journal
	state   *replica.JournalState
	limits  *ratelimit.Limiter
	log     *slog.Logger
	level   slog.Level
	metrics *metrics
	stderr  io.Writer
}

// replicate is the replicate command.
func replicate(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cfg, code := parseReplicate(args, stderr)
	if cfg == nil {
		return code
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	fail := func(err error) int {
		logger.Error("mailrepld replicate", "err", err)
		return 1
	}
	d := &replicator{cfg: cfg, log: logger, level: slog.LevelWarn, stderr: stderr}
	if cfg.verbose {
		d.level = slog.LevelInfo
	}
	var err error
	if d.limits, err = ratelimit.New(cfg.limits); err != nil {
		return fail(err)
	}
	d.j, err = journal.Open(cfg.journal, &journal.Options{Logger: logger.With("journal", cfg.journal)})
	if err != nil {
		return fail(err)
	}
	defer func() {
		if err := d.j.Close(); err != nil {
			logger.Error("close the journal", "err", err)
		}
	}()
	d.state = replica.NewJournalState(d.j)

	users := d.listUsers
	w := &watcher{source: cfg.source, users: users, scan: cfg.scanInterval, log: logger}
	if cfg.usersFile == "" {
		ud, _ := newUserDirs(cfg.source)
		w.dirs = &ud
	}
	var notifiers []replica.Notifier
	if cfg.source.Scheme() == "maildir" {
		notifiers = append(notifiers, w)
	} else {
		logger.Warn("the source cannot be watched: changes are found by the journal's change log and the periodic verification only", "source", cfg.source.String())
	}
	var r *replica.Replicator
	d.metrics = newMetrics(func() replica.Snapshot { return r.Snapshot() }, d.limits, cfg.sourceServer, cfg.targetServer)
	w.onFallback = d.metrics.setScanned
	r, err = replica.NewReplicator(&replica.ReplicatorOptions{
		Journal:       d.j,
		Sync:          d.sync,
		Name:          "mailrepld " + cfg.target.String(),
		Users:         func(ctx context.Context) ([]string, error) { return users() },
		UsersInterval: cfg.scanInterval,
		Notifiers:     notifiers,
		FullInterval:  cfg.fullInterval,
		FullOnStart:   true,
		Server:        func(string) string { return cfg.targetServer },
		MaxPerServer:  cmpOr(cfg.limits.ServerConns, cfg.concurrency),
		Concurrency:   cfg.concurrency,
		OnSync:        d.metrics.observe,
		Logger:        logger,
	})
	if err != nil {
		return fail(err)
	}
	if cfg.metrics != "" {
		ln, err := net.Listen("tcp", cfg.metrics)
		if err != nil {
			return fail(fmt.Errorf("-metrics: %w", err))
		}
		srv := &http.Server{Handler: d.metrics.handler(), ReadHeaderTimeout: 10 * time.Second}
		go func() { _ = srv.Serve(ln) }()
		defer srv.Close()
		logger.Info("metrics", "addr", ln.Addr().String())
	}
	logger.Info("replicating", "source", cfg.source.String(), "target", cfg.target.String(), "mode", cfg.mode.String(), "journal", cfg.journal)

	// The status file, for `mailrepld status` while the journal is ours.
	stopStatus := make(chan struct{})
	statusDone := make(chan struct{})
	go func() {
		defer close(statusDone)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			writeStatus(cfg.journal, r.Snapshot(), true, logger)
			select {
			case <-stopStatus:
				return
			case <-t.C:
			}
		}
	}()
	err = r.Run(ctx)
	close(stopStatus)
	<-statusDone
	writeStatus(cfg.journal, r.Snapshot(), false, logger)
	if err != nil {
		return fail(err)
	}
	logger.Info("stopped")
	return 0
}

func cmpOr(a, b int) int {
	if a > 0 {
		return a
	}
	return b
}

// listUsers returns the users: from -users, or the source's directories.
func (d *replicator) listUsers() ([]string, error) {
	if d.cfg.usersFile != "" {
		return batch.ReadUsersFile(d.cfg.usersFile, nil)
	}
	ud, _ := newUserDirs(d.cfg.source)
	return ud.list()
}

// pair names a user's pair of stores in the journal, as sync_all_users
// does: a batch run and the daemon share the state.
func (d *replicator) pair(user string) string { return user + " → " + d.cfg.target.String() }

// sync is the replicator's job: one sync of one user.
func (d *replicator) sync(ctx context.Context, job replica.SyncJob) (*replica.Report, error) {
	cfg, user := d.cfg, job.User
	if err := batch.ValidUser(user); err != nil {
		return nil, err
	}
	srcCache, err := cfg.source.CacheID(user)
	if err != nil {
		return nil, err
	}
	dstCache, err := cfg.target.CacheID(user)
	if err != nil {
		return nil, err
	}
	h := d.limits.For(user, cfg.sourceServer, cfg.targetServer)
	defer h.Close()
	release, err := batch.AcquireSlots(ctx, h, job.Stop)
	if err != nil {
		return nil, err
	}
	defer release()
	logger := slog.New(slog.NewTextHandler(d.stderr, &slog.HandlerOptions{Level: d.level})).With("user", user)
	// A delivery is replicated once its writer (Dovecot) has numbered it:
	// a UID guessed before could differ from the one it gets.
	open := batch.OpenOptions{Logger: logger, UIDs: d.j.UIDKeeper(user), LeaveUnnumbered: true}
	var src batch.ReadCloser
	if cfg.mode == replica.TwoWay {
		src, err = cfg.source.Open(user, open)
	} else {
		src, err = cfg.source.OpenReader(user, open)
	}
	if err != nil {
		return nil, fmt.Errorf("source: %w", err)
	}
	defer batch.CloseStore(src, logger)
	dst, err := cfg.target.Open(user, batch.OpenOptions{Logger: logger})
	if err != nil {
		return nil, fmt.Errorf("target: %w", err)
	}
	defer batch.CloseStore(dst, logger)
	var source mailbox.Reader = src
	if cfg.mode == replica.Mirror {
		// A replicator never writes to the primary it mirrors.
		source = batch.ReadOnly(src)
	}
	opts := &replica.Options{
		Mode:        cfg.mode,
		Pair:        d.pair(user),
		User:        user,
		SourceID:    srcCache,
		TargetID:    dstCache,
		State:       d.state,
		Cache:       d.state,
		Limiter:     h,
		Concurrency: cfg.mailboxConcurrency,
		Mailboxes:   job.Selects,
		Stop:        job.Stop,
		Logger:      logger,
		// The periodic verification trusts nothing but the stores: not
		// their stamps either.
		FullScan: job.Priority == replica.PriorityFull,
	}
	if cfg.deleteTargetOnly {
		opts.TargetOnly = replica.DeleteTargetOnly
	}
	s, err := replica.New(source, dst, opts)
	if err != nil {
		return nil, err
	}
	rep, err := s.Sync(ctx)
	if err == nil && rep != nil && rep.HeldBack > 0 {
		err = fmt.Errorf("the replica holds mail or mailboxes the source lacks (%d held back), kept on the replica: a replicator never writes to its source; run sync_all_users to copy them back, or -delete-target-only to drop them", rep.HeldBack)
	}
	return rep, err
}

// statusDoc is the status file.
type statusDoc struct {
	V       int  `json:"v"`
	Running bool `json:"running"`
	PID     int  `json:"pid"`
	replica.Snapshot
}

// writeStatus replaces the status file.
func writeStatus(dir string, s replica.Snapshot, running bool, logger *slog.Logger) {
	b, err := json.MarshalIndent(statusDoc{V: 1, Running: running, PID: os.Getpid(), Snapshot: s}, "", "  ")
	if err == nil {
		tmp := filepath.Join(dir, statusFile+".tmp")
		if err = os.WriteFile(tmp, append(b, '\n'), 0o644); err == nil {
			err = os.Rename(tmp, filepath.Join(dir, statusFile))
		}
	}
	if err != nil {
		logger.Warn("the status file could not be written", "err", err)
	}
}
