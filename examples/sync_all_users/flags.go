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
	usersFile string
	args      []string // users named after the flags
	source    batch.Template
	target    batch.Template
	mode      replica.Mode
	journal   string

	concurrency        int
	mailboxConcurrency int
	rates              batch.RateFlags
	limits             ratelimit.Config
	sourceServer       string
	targetServer       string

	shard            batch.Shard
	full             bool
	dryRun           bool
	jsonOut          bool
	readOnlySource   bool
	deleteTargetOnly bool
	folderNames      folderNames // -map-folder
	noSpecialUseMap  bool
	verbose          bool
	progressInterval time.Duration

	sourceAuth, targetAuth string
	caFile                 string

	demo         bool
	demoMessages int
	keep         bool
}

const usageText = `usage: sync_all_users -source TMPL -target TMPL -journal DIR [flags] [-users FILE] [USER...]
       sync_all_users -demo [-keep]

Replicates each user's mail from the source store to the target store.
Users come from -users and from the arguments. Flags:
`

func parseFlags(args []string, stderr io.Writer) (*config, int) {
	fs := flag.NewFlagSet("sync_all_users", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, usageText)
		fs.PrintDefaults()
	}
	var (
		c                    config
		source, target, mode string
		shard                string
	)
	fs.StringVar(&c.usersFile, "users", "", "a `FILE` of user names, one per line, '#' comments; '-' reads standard input")
	fs.StringVar(&source, "source", "", "the source store of each user, a template (`TMPL`) such as maildir:/srv/mail/{user}, imaps://{user}@imap.example.org or mailrepl://HOST:PORT/{user}; mbox:PATH and loose:DIR (read only) can be migrated or mirrored from")
	fs.StringVar(&target, "target", "", "the target store of each user, a template (`TMPL`) such as maildir:/replica/{user}, imap://{user}@HOST:PORT or mailrepl://HOST:PORT/{user}")
	fs.StringVar(&c.sourceAuth, "source-auth", "", "the `FILE` of credentials of an IMAP or mailrepl:// source (IMAP: lines LOGIN PASSWORD, LOGIN bearer:TOKEN, or * ADMIN PASSWORD; mailrepl://: the first line is the token, later lines ca-file PATH, cert-file PATH, key-file PATH, plaintext); only its owner may read it")
	fs.StringVar(&c.targetAuth, "target-auth", "", "the `FILE` of credentials of an IMAP or mailrepl:// target, as -source-auth")
	fs.StringVar(&c.caFile, "ca-file", "", "IMAP: trust the certificate authorities of this PEM `FILE` instead of the system's")
	fs.StringVar(&mode, "mode", "mirror", "the mode (`M`): mirror (the target becomes the source), sync (two-way) or migrate (copy what the target lacks)")
	fs.StringVar(&c.journal, "journal", "", "the journal's directory (`DIR`): sync state and the batch's progress (needed except with -dry-run)")
	fs.IntVar(&c.concurrency, "concurrency", 4, "users synced at once")
	fs.IntVar(&c.mailboxConcurrency, "mailbox-concurrency", 2, "mailboxes of one user synced at once")
	c.rates.Register(fs)
	fs.StringVar(&c.sourceServer, "source-server", "", "`NAME` of the source server for -server-conns and -server-rate-* (default: the template's directory)")
	fs.StringVar(&c.targetServer, "target-server", "", "`NAME` of the target server for -server-conns and -server-rate-* (default: the template's directory)")
	fs.StringVar(&shard, "shard", "", "this machine's share of the users, `i/n` (1 ≤ i ≤ n): the users whose name hashes to it")
	fs.BoolVar(&c.full, "full", false, "sync every user, also those the journal's change log shows unchanged")
	fs.BoolVar(&c.dryRun, "dry-run", false, "print each user's plan, change nothing")
	fs.BoolVar(&c.jsonOut, "json", false, "print the result as JSON on standard output (and nothing else there)")
	fs.BoolVar(&c.readOnlySource, "read-only-source", false, "mirror: never write to the source; mail found only on the target stays there and the user fails with the reason (by default it is copied back to the source)")
	fs.BoolVar(&c.deleteTargetOnly, "delete-target-only", false, "mirror: delete mail found only on the target (reported) instead of keeping it")
	fs.Var(&c.folderNames, "map-folder", "`SOURCE=TARGET`: sync the source folder SOURCE, and the folders below it, into the target folder TARGET, e.g. 'Sent=Sent Items' (repeatable; wins over the pairing by special use; SOURCE holds no '=', neither side is INBOX)")
	fs.BoolVar(&c.noSpecialUseMap, "no-special-use-map", false, "do not pair folders of one special use whose names differ (by default the source's Sent syncs into the target's Sent Items when each side has one \\Sent folder)")
	fs.BoolVar(&c.verbose, "v", false, "log what the engine does")
	fs.DurationVar(&c.progressInterval, "progress-interval", 5*time.Second, "time between progress lines when the standard error is not a terminal")
	fs.BoolVar(&c.demo, "demo", false, "build a sample source in a temporary directory, mirror it, change it, sync again, verify")
	fs.IntVar(&c.demoMessages, "demo-messages", 3000, "-demo: generated messages in all (real mail comes on top)")
	fs.BoolVar(&c.keep, "keep", false, "-demo: keep the temporary directory")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, exitOK
		}
		return nil, exitUsage
	}
	c.args = fs.Args()
	var errs []string
	bad := func(format string, args ...any) { errs = append(errs, fmt.Sprintf(format, args...)) }
	if err := batch.CheckArgs(c.args); err != nil {
		bad("%v", err)
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })

	var err error
	if c.mode, err = replica.ParseMode(mode); err != nil {
		bad("-mode: %v", err)
	}
	if c.limits, err = c.rates.Config(); err != nil {
		bad("%v", err)
	}
	if c.shard, err = batch.ParseShard(shard); err != nil {
		bad("-shard: %v", err)
	}
	if c.concurrency < 1 || c.mailboxConcurrency < 1 {
		bad("-concurrency and -mailbox-concurrency must be at least 1")
	}
	if c.progressInterval <= 0 {
		bad("-progress-interval must be positive")
	}
	if err := (&replica.Options{FolderNames: c.folderNames}).Validate(); err != nil {
		bad("-map-folder: %v", err)
	}
	if c.readOnlySource || c.deleteTargetOnly {
		if c.mode != replica.Mirror {
			bad("-read-only-source and -delete-target-only apply to -mode mirror only")
		}
	}
	if c.demo {
		for _, f := range []string{"users", "source", "target", "journal", "shard", "json", "dry-run", "mode", "read-only-source", "delete-target-only"} {
			if set[f] {
				bad("-demo makes its own -%s", f)
			}
		}
		if len(c.args) > 0 {
			bad("-demo takes no users")
		}
		if c.demoMessages < 0 {
			bad("-demo-messages must not be negative")
		}
	} else {
		for _, f := range []string{"keep", "demo-messages"} {
			if set[f] {
				bad("-%s goes with -demo", f)
			}
		}
		if source == "" || target == "" {
			bad("-source and -target are needed")
		} else {
			if c.source, err = batch.ParseTemplate(source); err != nil {
				bad("-source: %v", err)
			}
			if c.target, err = batch.ParseTemplate(target); err != nil {
				bad("-target: %v", err)
			}
			if c.source, err = c.source.WithAuthFlag("source-auth", c.sourceAuth); err != nil {
				bad("-source: %v", err)
			}
			if c.target, err = c.target.WithAuthFlag("target-auth", c.targetAuth); err != nil {
				bad("-target: %v", err)
			}
			if err == nil && !c.target.Writable() {
				bad("-target: %s stores are read-only: the target must be a maildir or an IMAP account", c.target.Scheme())
			}
			if err == nil && c.source.Scheme() != "" && !c.source.Writable() && c.mode == replica.TwoWay {
				bad("-source: %s stores are read-only: -mode sync writes to the source", c.source.Scheme())
			}
			if err == nil && c.source.Server() != "" && c.source.Same(c.target) {
				bad("-source and -target name the same stores")
			}
		}
		if c.journal == "" && !c.dryRun {
			bad("-journal is needed: it keeps the sync state and makes the batch resumable")
		}
		if c.usersFile == "" && len(c.args) == 0 {
			bad("no users: give -users FILE or user names after the flags")
		}
	}
	if len(errs) > 0 {
		for _, e := range errs {
			fmt.Fprintf(stderr, "sync_all_users: %s\n", e)
		}
		fmt.Fprintln(stderr, "run sync_all_users -h for help")
		return nil, exitUsage
	}
	return &c, exitOK
}

// readUsers returns the users of the batch: those of -users and of the
// arguments, each once, then this machine's shard of them.
func (c *config) readUsers(stdin io.Reader) ([]string, error) {
	users, err := batch.Users(c.usersFile, stdin, c.args)
	if err != nil {
		return nil, err
	}
	return c.shard.Filter(users), nil
}

// params names the batch for its checkpoint: two runs with the same
// params are the same batch.
func (c *config) params() string {
	return strings.Join([]string{"source=" + c.source.String(), "target=" + c.target.String(),
		"mode=" + c.mode.String(), "shard=" + c.shard.String()}, " ")
}

// folderNames is the -map-folder flag: source folder → target folder.
type folderNames map[string]string

func (f *folderNames) String() string {
	if f == nil {
		return ""
	}
	var ps []string
	for s, t := range *f {
		ps = append(ps, s+"="+t)
	}
	slices.Sort(ps)
	return strings.Join(ps, ",")
}

// Set takes one SOURCE=TARGET; a source mapped twice is refused.
func (f *folderNames) Set(v string) error {
	src, dst, ok := strings.Cut(v, "=")
	switch {
	case !ok || src == "" || dst == "":
		return fmt.Errorf("%q: want SOURCE=TARGET, two folder names", v)
	case (*f)[src] != "":
		return fmt.Errorf("%q: source folder %q is mapped twice (to %q already)", v, src, (*f)[src])
	}
	if *f == nil {
		*f = folderNames{}
	}
	(*f)[src] = dst
	return nil
}
