package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/mailrepl/mailrepl/internal/batch"
	"github.com/mailrepl/mailrepl/mailbox"
	"github.com/mailrepl/mailrepl/ratelimit"
	"github.com/mailrepl/mailrepl/replica"
)

const (
	exitOK     = batch.ExitOK
	exitFailed = batch.ExitFailed
	exitUsage  = batch.ExitUsage
)

// config is the command line, checked.
type config struct {
	into, from batch.Template
	hasFrom    bool
	usersFile  string
	users      []string // -user and the arguments
	journal    string
	recover    bool
	policy     replica.RestorePolicy
	exclude    []string // canonical mailbox names
	since      time.Time
	until      time.Time
	quarantine string

	intoAuth, fromAuth, caFile string

	concurrency int
	rates       batch.RateFlags
	limits      ratelimit.Config

	dryRun           bool
	jsonOut          bool
	verbose          bool
	progressInterval time.Duration
}

const usageText = `usage: restore -into TMPL -journal DIR [-recover] [-from TMPL] [flags] (-users FILE | -user NAME | USER...)

Expunges and records the messages a failure destroyed in each user's live
store (-recover), and delivers again from a backup (-from) what the live
store lacks and its user did not delete. Flags:
`

func parseFlags(args []string, stderr io.Writer) (*config, int) {
	fs := flag.NewFlagSet("restore", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, usageText)
		fs.PrintDefaults()
	}
	var (
		c                                 config
		into, from, user, policy, exclude string
		since, until                      string
	)
	fs.StringVar(&into, "into", "", "the live store of each user, a template (`TMPL`) such as maildir:/srv/mail/{user}, imaps://{user}@HOST or mailrepl://HOST:PORT/{user}")
	fs.StringVar(&from, "from", "", "the backup or recovered store of each user (`TMPL`): maildir:DIR, mbox:FILE-OR-DIR or loose:DIR with {user}; absent: recover only")
	fs.StringVar(&c.intoAuth, "into-auth", "", "the `FILE` of credentials of an IMAP or mailrepl:// live store (IMAP: lines LOGIN PASSWORD, LOGIN bearer:TOKEN, or * ADMIN PASSWORD; mailrepl://: the first line is the token, later lines ca-file PATH, cert-file PATH, key-file PATH, plaintext); only its owner may read it")
	fs.StringVar(&c.fromAuth, "from-auth", "", "the `FILE` of credentials of an IMAP or mailrepl:// backup, as -into-auth")
	fs.StringVar(&c.caFile, "ca-file", "", "IMAP: trust the certificate authorities of this PEM `FILE` instead of the system's")
	fs.StringVar(&c.usersFile, "users", "", "a `FILE` of user names, one per line, '#' comments; '-' reads standard input")
	fs.StringVar(&user, "user", "", "one user (`NAME`)")
	fs.StringVar(&c.journal, "journal", "", "the journal's directory (`DIR`): tombstones, lost records, the EmailIDs syncs cached")
	fs.BoolVar(&c.recover, "recover", false, "first expunge from -into the messages whose bodies are missing or damaged, recording them as lost")
	fs.StringVar(&policy, "policy", "restore-when-unsure", "what to do with a backup message no evidence says was deleted or lost (`P`): restore-when-unsure or skip-when-unsure")
	fs.StringVar(&exclude, "exclude", "", "folders to leave alone, and those below them, comma-separated (`LIST`, any case), e.g. Junk,Trash")
	fs.StringVar(&since, "since", "", "restore only mail received at or after `DATE` (2006-01-02 or RFC 3339)")
	fs.StringVar(&until, "until", "", "restore only mail received before `DATE` (2006-01-02 or RFC 3339)")
	fs.StringVar(&c.quarantine, "quarantine", "", "-recover: keep a copy of every damaged body that can still be read in `DIR`")
	fs.IntVar(&c.concurrency, "concurrency", 4, "users at once")
	c.rates.Register(fs)
	fs.BoolVar(&c.dryRun, "dry-run", false, "change nothing; report what would be done")
	fs.BoolVar(&c.jsonOut, "json", false, "print the result as JSON on standard output (and nothing else there)")
	fs.BoolVar(&c.verbose, "v", false, "log what is done")
	fs.DurationVar(&c.progressInterval, "progress-interval", 5*time.Second, "time between progress lines when the standard error is not a terminal")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, exitOK
		}
		return nil, exitUsage
	}
	var errs []string
	bad := func(format string, args ...any) { errs = append(errs, fmt.Sprintf(format, args...)) }

	var err error
	if into == "" {
		bad("-into is needed: the live store of each user")
	} else if c.into, err = batch.ParseTemplate(into); err != nil {
		bad("-into: %v", err)
	} else if !c.into.Writable() {
		bad("-into: %s stores are read-only: the live store must be a maildir, an IMAP account or a mailrepl:// store", c.into.Scheme())
	} else if c.into, err = c.into.WithAuthFlag("into-auth", c.intoAuth); err != nil {
		bad("-into: %v", err)
	}
	if from != "" {
		c.hasFrom = true
		if c.from, err = batch.ParseTemplate(from); err != nil {
			bad("-from: %v", err)
		} else if c.from, err = c.from.WithAuthFlag("from-auth", c.fromAuth); err != nil {
			bad("-from: %v", err)
		} else if c.into.String() != "" && c.into.Same(c.from) {
			bad("-from and -into name the same stores")
		}
	}
	if !c.hasFrom && !c.recover {
		bad("nothing to do: give -recover, -from TMPL, or both")
	}
	if c.journal == "" {
		bad("-journal is needed: it holds the tombstones and lost records that tell a user's deletion from a loss")
	}
	if c.policy, err = replica.ParseRestorePolicy(policy); err != nil {
		bad("-policy: %v", err)
	}
	for _, name := range strings.Split(exclude, ",") {
		if name = strings.TrimSpace(name); name == "" {
			continue
		}
		canon, err := mailbox.CanonicalName(name)
		if err != nil {
			bad("-exclude: %v", err)
			continue
		}
		c.exclude = append(c.exclude, canon)
	}
	if c.since, err = parseDate(since); err != nil {
		bad("-since: %v", err)
	}
	if c.until, err = parseDate(until); err != nil {
		bad("-until: %v", err)
	}
	if !c.since.IsZero() && !c.until.IsZero() && !c.since.Before(c.until) {
		bad("-since must be before -until")
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if !c.hasFrom && (set["policy"] || set["since"] || set["until"]) {
		bad("-policy, -since and -until apply to a restore: give -from")
	}
	if c.quarantine != "" && !c.recover {
		bad("-quarantine goes with -recover")
	}
	if c.limits, err = c.rates.Config(); err != nil {
		bad("%v", err)
	}
	if c.concurrency < 1 {
		bad("-concurrency must be at least 1")
	}
	if c.progressInterval <= 0 {
		bad("-progress-interval must be positive")
	}
	if user != "" {
		c.users = append(c.users, user)
	}
	if err := batch.CheckArgs(fs.Args()); err != nil {
		bad("%v", err)
	}
	for _, a := range fs.Args() {
		if !slices.Contains(c.users, a) {
			c.users = append(c.users, a)
		}
	}
	if c.usersFile == "" && len(c.users) == 0 {
		bad("no users: give -users FILE, -user NAME or user names after the flags")
	}
	if len(errs) > 0 {
		for _, e := range errs {
			fmt.Fprintf(stderr, "restore: %s\n", e)
		}
		fmt.Fprintln(stderr, "run restore -h for help")
		return nil, exitUsage
	}
	return &c, exitOK
}

// parseDate parses a date of -since or -until: "2006-01-02" (midnight
// UTC) or RFC 3339; "" is the zero time.
func parseDate(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is not a date: want 2006-01-02 or 2006-01-02T15:04:05Z07:00", s)
	}
	return t, nil
}

// excluded reports whether -exclude leaves the mailbox alone: it is named,
// or lies below a folder that is. Names are compared without regard to
// case: leaving "Junk" alone when "junk" was asked is the safe mistake.
func (c *config) excluded(name string) bool {
	canon, err := mailbox.CanonicalName(name)
	if err != nil {
		canon = name
	}
	canon = strings.ToLower(canon)
	for _, ex := range c.exclude {
		ex = strings.ToLower(ex)
		if canon == ex || strings.HasPrefix(canon, ex+"/") {
			return true
		}
	}
	return false
}

// readUsers returns the users: those of -users, then of -user and the
// arguments, each once.
func (c *config) readUsers(stdin io.Reader) ([]string, error) {
	return batch.Users(c.usersFile, stdin, c.users)
}

// params names the batch for its checkpoint: two runs with the same
// params are the same batch.
func (c *config) params() string {
	p := []string{"into=" + c.into.String(), fmt.Sprintf("recover=%t", c.recover)}
	if c.hasFrom {
		p = append(p, "from="+c.from.String(), "policy="+c.policy.String(), "exclude="+strings.Join(c.exclude, ","),
			"since="+c.since.Format(time.RFC3339), "until="+c.until.Format(time.RFC3339))
	} else if len(c.exclude) > 0 {
		p = append(p, "exclude="+strings.Join(c.exclude, ","))
	}
	return strings.Join(p, " ")
}
