// Command vsdsync times mailrepl's mirror against Dovecot's `doveadm
// backup` (dsync) on one generated Maildir corpus, with `rsync -a` as a
// floor, and prints their wall times and the ratio ours / dsync's.
//
//	go run ./examples/vsdsync -messages 20000
//
// It generates a Maildir++ tree A with internal/mailgen (the corpus the
// anchors in /work/shared/bench were timed on has the same shape: 10
// folders, 20,000 messages, about 270 MB), then times each tool on its own
// copy of A:
//
//   - full: A into an empty tree B;
//   - incremental: the same tool again after a change set made on A (by
//     default 100 new messages, 500 flag changes and 100 expunges,
//     mailgen's Mutate through the maildir store);
//   - no-op: once more with nothing to do.
//
// The tools:
//
//   - mailrepl: replica.Mirror between two maildir stores, in this
//     process, the state in a journal; files and directories are fsynced,
//     the journal syncs every commit;
//   - mailrepl-remote: the same, B reached through mailbox/remote's
//     server on 127.0.0.1 in this process (the protocol over loopback);
//   - dsync: `doveadm backup` with Dovecot's defaults (mail_fsync =
//     optimized), which hard-links message files when A and B share a file
//     system and their folders have the same permissions, as here;
//   - dsync-copy: the same with maildir_copy_with_hardlinks=no: every file
//     copied, as mailrepl does;
//   - rsync: `rsync -a A/ B/` (incremental and no-op: with --delete), a
//     copy of files that understands nothing of mail: the floor.
//
// doveadm runs as an unprivileged user (-user, default nobody, when run as
// root) with a throwaway configuration; nothing of /etc/dovecot is read.
// Before each timed run the inputs are fresh copies (cp -a, untimed), then
// sync(2) and a pause (-settle) let the disk settle. Each cell is the
// median of -reps runs. Every result is checked against its source:
// mailboxes, UIDVALIDITY, UIDs, contents (EmailID) and flags; the verify
// column says "ok", or which of dsync's known changes it found (the Maildir
// P flag dropped, CRs before line feeds stripped), or MISMATCH.
//
// -cpuprofile DIR writes a CPU profile of each of mailrepl's timed runs.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"os/user"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/mailrepl/mailrepl/internal/mailgen"
	"github.com/mailrepl/mailrepl/journal"
	"github.com/mailrepl/mailrepl/mailbox"
	"github.com/mailrepl/mailrepl/mailbox/maildir"
	"github.com/mailrepl/mailrepl/mailbox/remote"
	"github.com/mailrepl/mailrepl/replica"
)

type config struct {
	messages, folders int
	seed, mutSeed     uint64
	newMsgs, flagChg  int
	expunges          int
	work              string
	keep              bool
	reps              int
	settle            time.Duration
	tools             []string
	mailUser          string
	cpuProfile        string
}

func main() {
	var c config
	var tools string
	flag.IntVar(&c.messages, "messages", 20000, "messages in the corpus")
	flag.IntVar(&c.folders, "folders", 10, "folders in the corpus (mailgen's default folders, then Extra/N)")
	flag.Uint64Var(&c.seed, "seed", 1, "seed of the corpus")
	flag.Uint64Var(&c.mutSeed, "mutseed", 2, "seed of the change set")
	flag.IntVar(&c.newMsgs, "new", 100, "new messages in the change set")
	flag.IntVar(&c.flagChg, "flags", 500, "flag changes in the change set")
	flag.IntVar(&c.expunges, "expunges", 100, "expunges in the change set")
	flag.StringVar(&c.work, "work", "", "work directory (default: a new one under $TMPDIR, removed at the end)")
	flag.BoolVar(&c.keep, "keep", false, "keep the work directory")
	flag.IntVar(&c.reps, "reps", 3, "timed runs per tool and case (the median is shown)")
	flag.DurationVar(&c.settle, "settle", 2*time.Second, "pause after sync(2) before each timed run")
	flag.StringVar(&tools, "tools", "mailrepl,dsync,dsync-copy,rsync", "tools to time, comma separated")
	flag.StringVar(&c.mailUser, "user", "nobody", "unprivileged user doveadm accesses mail as, when run as root")
	flag.StringVar(&c.cpuProfile, "cpuprofile", "", "directory for CPU profiles of mailrepl's timed runs")
	flag.Parse()
	c.tools = strings.Split(tools, ",")
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, c, os.Stdout); err != nil {
		log.Fatal(err)
	}
}

// A tool copies the tree dir/A into dir/B; kase is "full",
// "incremental" or "no-op".
type tool struct {
	name string
	run  func(ctx context.Context, dir string, kase string) error
}

// result is one timed run.
type result struct {
	secs   float64
	verify string
}

func run(ctx context.Context, c config, out io.Writer) error {
	if c.messages < 1 || c.folders < 1 || c.reps < 1 {
		return errors.New("vsdsync: -messages, -folders and -reps must be positive")
	}
	if c.work == "" {
		dir, err := os.MkdirTemp("", "vsdsync-")
		if err != nil {
			return err
		}
		c.work = dir
		if !c.keep {
			defer os.RemoveAll(dir)
		}
	} else if err := os.MkdirAll(c.work, 0o755); err != nil {
		return err
	}
	if err := os.Chmod(c.work, 0o755); err != nil {
		return err
	}
	env, err := newDoveadm(c)
	if err != nil {
		return err
	}
	var tools []tool
	for _, name := range c.tools {
		switch name {
		case "mailrepl":
			tools = append(tools, tool{name, func(ctx context.Context, dir, kase string) error { return mirror(ctx, c, dir, kase, false) }})
		case "mailrepl-remote":
			tools = append(tools, tool{name, func(ctx context.Context, dir, kase string) error { return mirror(ctx, c, dir, kase, true) }})
		case "dsync", "dsync-copy":
			if _, err := exec.LookPath("doveadm"); err != nil {
				fmt.Fprintf(out, "doveadm is not installed: the %s rows are left out (apt-get install dovecot-core)\n", name)
				continue
			}
			var settings []string
			if name == "dsync-copy" {
				settings = []string{"maildir_copy_with_hardlinks=no"}
			}
			tools = append(tools, tool{name, func(ctx context.Context, dir, _ string) error { return env.backup(ctx, dir, settings...) }})
		case "rsync":
			if _, err := exec.LookPath("rsync"); err != nil {
				fmt.Fprintln(out, "rsync is not installed: its rows are left out (apt-get install rsync)")
				continue
			}
			tools = append(tools, tool{name, func(ctx context.Context, dir, kase string) error {
				args := []string{"-a", filepath.Join(dir, "A") + "/", filepath.Join(dir, "B") + "/"}
				if kase != "full" {
					args = append([]string{"--delete"}, args...)
				}
				return command(ctx, "rsync", args...).Run()
			}})
		default:
			return fmt.Errorf("vsdsync: unknown tool %q (want mailrepl, mailrepl-remote, dsync, dsync-copy or rsync)", name)
		}
	}

	corpus := filepath.Join(c.work, "corpus")
	start := time.Now()
	st, err := generate(ctx, c, corpus)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "corpus: %d messages, %.1f MB, %d folders, seed %d (generated in %.1f s) in %s\n",
		st.Messages, float64(st.Bytes)/1e6, c.folders, c.seed, time.Since(start).Seconds(), corpus)
	fmt.Fprintf(out, "change set: %d new, %d flag changes, %d expunges (seed %d); %d runs per cell, median; %s, %d CPUs\n\n",
		c.newMsgs, c.flagChg, c.expunges, c.mutSeed, c.reps, runtime.GOOS, runtime.NumCPU())

	cases := []string{"full", "incremental", "no-op"}
	results := map[string]map[string][]result{}
	for _, kase := range cases {
		results[kase] = map[string][]result{}
	}
	for _, t := range tools {
		base := filepath.Join(c.work, t.name)
		if err := os.RemoveAll(base); err != nil {
			return err
		}
		runDir := filepath.Join(base, "run")
		snap := filepath.Join(base, "snap")
		for rep := range c.reps {
			if err := os.RemoveAll(runDir); err != nil {
				return err
			}
			if err := os.MkdirAll(runDir, 0o755); err != nil {
				return err
			}
			if err := command(ctx, "cp", "-a", corpus, filepath.Join(runDir, "A")).Run(); err != nil {
				return err
			}
			r, err := timed(ctx, c, env, t, runDir, "full", rep)
			if err != nil {
				return err
			}
			results["full"][t.name] = append(results["full"][t.name], r)
			fmt.Fprintf(os.Stderr, "full        %-10s run %d: %6.2f s  %s\n", t.name, rep+1, r.secs, r.verify)
		}
		// The change set, on the last full run's A; that state is the
		// input of every incremental run.
		if err := mutate(ctx, c, filepath.Join(runDir, "A")); err != nil {
			return err
		}
		os.RemoveAll(snap)
		if err := os.Rename(runDir, snap); err != nil {
			return err
		}
		for rep := range c.reps {
			if err := os.RemoveAll(runDir); err != nil {
				return err
			}
			// One cp keeps the hard links between A and B.
			if err := command(ctx, "cp", "-a", snap, runDir).Run(); err != nil {
				return err
			}
			r, err := timed(ctx, c, env, t, runDir, "incremental", rep)
			if err != nil {
				return err
			}
			results["incremental"][t.name] = append(results["incremental"][t.name], r)
			fmt.Fprintf(os.Stderr, "incremental %-10s run %d: %6.2f s  %s\n", t.name, rep+1, r.secs, r.verify)
		}
		for rep := range c.reps {
			r, err := timed(ctx, c, env, t, runDir, "no-op", rep)
			if err != nil {
				return err
			}
			results["no-op"][t.name] = append(results["no-op"][t.name], r)
			fmt.Fprintf(os.Stderr, "no-op       %-10s run %d: %6.2f s  %s\n", t.name, rep+1, r.secs, r.verify)
		}
		if !c.keep {
			os.RemoveAll(base)
		}
	}

	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "case\ttool\tmedian s\truns s\tverify\n")
	for _, kase := range cases {
		for _, t := range tools {
			rs := results[kase][t.name]
			var runs []string
			for _, r := range rs {
				runs = append(runs, fmt.Sprintf("%.2f", r.secs))
			}
			fmt.Fprintf(tw, "%s\t%s\t%.2f\t%s\t%s\n", kase, t.name, median(rs), strings.Join(runs, " "), verdicts(rs))
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(out)
	for _, kase := range cases {
		for _, name := range []string{"mailrepl", "mailrepl-remote"} {
			ours := median(results[kase][name])
			for _, other := range []string{"mailrepl", "dsync-copy", "dsync", "rsync"} {
				if rs := results[kase][other]; other != name && len(rs) > 0 && ours > 0 {
					fmt.Fprintf(out, "%-11s %s / %-10s = %.2f\n", kase, name, other, ours/median(rs))
				}
			}
		}
	}
	return nil
}

// timed runs one tool once on dir, after the untimed preparation, and
// checks its result.
func timed(ctx context.Context, c config, env *doveadm, t tool, dir, kase string, rep int) (result, error) {
	a, b := filepath.Join(dir, "A"), filepath.Join(dir, "B")
	if err := os.MkdirAll(b, 0o700); err != nil {
		return result{}, err
	}
	if err := env.own(dir); err != nil {
		return result{}, err
	}
	syscall.Sync()
	time.Sleep(c.settle)
	var prof *os.File
	if c.cpuProfile != "" && t.name == "mailrepl" {
		if err := os.MkdirAll(c.cpuProfile, 0o755); err != nil {
			return result{}, err
		}
		var err error
		if prof, err = os.Create(filepath.Join(c.cpuProfile, fmt.Sprintf("mailrepl-%s-%d.pprof", kase, rep+1))); err != nil {
			return result{}, err
		}
		if err := pprof.StartCPUProfile(prof); err != nil {
			return result{}, err
		}
	}
	start := time.Now()
	err := t.run(ctx, dir, kase)
	secs := time.Since(start).Seconds()
	if prof != nil {
		pprof.StopCPUProfile()
		prof.Close()
	}
	if err != nil {
		return result{}, fmt.Errorf("%s %s: %w", t.name, kase, err)
	}
	v, err := verify(ctx, a, b)
	if err != nil {
		return result{}, fmt.Errorf("%s %s: verify: %w", t.name, kase, err)
	}
	return result{secs: secs, verify: v}, nil
}

// mirror is mailrepl's run: A into B, the state in dir/journal. With
// remote, B is reached through a mailbox/remote server on 127.0.0.1 in
// this process (mailrepl's own protocol over loopback TCP, plaintext).
func mirror(ctx context.Context, c config, dir, kase string, remoteTarget bool) (err error) {
	src, err := maildir.Open(filepath.Join(dir, "A"), nil)
	if err != nil {
		return err
	}
	defer closeInto(&err, src)
	var dst mailbox.Store
	if remoteTarget {
		var srv *remote.Server
		if dst, srv, err = serveRemote(ctx, filepath.Join(dir, "B")); err != nil {
			return err
		}
		defer closeInto(&err, srv) // after dst's Close
	} else {
		dst, err = maildir.Open(filepath.Join(dir, "B"), nil)
	}
	if err != nil {
		return err
	}
	defer closeInto(&err, dst)
	j, err := journal.Open(filepath.Join(dir, "journal"), nil)
	if err != nil {
		return err
	}
	defer closeInto(&err, j)
	s, err := replica.New(src, dst, &replica.Options{Mode: replica.Mirror, State: replica.NewJournalState(j)})
	if err != nil {
		return err
	}
	rep, err := s.Sync(ctx)
	if err != nil {
		return err
	}
	if !rep.OK() {
		var b strings.Builder
		rep.WriteTable(&b)
		return fmt.Errorf("mirror reports failures:\n%s", b.String())
	}
	if kase == "no-op" && rep.Total.Changed() {
		return fmt.Errorf("a mirror with nothing to do changed something: %+v", rep.Total)
	}
	return nil
}

// serveRemote serves the Maildir at root on 127.0.0.1 and dials it.
func serveRemote(ctx context.Context, root string) (mailbox.Store, *remote.Server, error) {
	const token = "vsdsync"
	srv, err := remote.NewServer(remote.ServerOptions{Token: token, Open: func(context.Context, string, bool) (mailbox.Store, error) {
		return maildir.Open(root, nil)
	}})
	if err != nil {
		return nil, nil, err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, nil, err
	}
	go srv.Serve(l, nil)
	st, err := remote.Dial(ctx, l.Addr().String(), "b", &remote.Options{Token: token})
	if err != nil {
		srv.Close()
		return nil, nil, err
	}
	return st, srv, nil
}

func closeInto(err *error, c io.Closer) {
	if cerr := c.Close(); cerr != nil && *err == nil {
		*err = cerr
	}
}

// generator returns the corpus's generator.
func generator(c config) (*mailgen.Generator, error) {
	folders := mailgen.DefaultFolders()
	for i := len(folders); i < c.folders; i++ {
		folders = append(folders, mailgen.Folder{Name: fmt.Sprintf("Extra/%d", i+1), Kind: mailgen.Received, Weight: 4})
	}
	return mailgen.NewWithOptions(c.seed, &mailgen.Options{Folders: folders[:c.folders]})
}

// generate writes the corpus into a Maildir tree at dir.
func generate(ctx context.Context, c config, dir string) (st mailgen.Stats, err error) {
	g, err := generator(c)
	if err != nil {
		return st, err
	}
	if err := os.RemoveAll(dir); err != nil {
		return st, err
	}
	s, err := maildir.Open(dir, nil)
	if err != nil {
		return st, err
	}
	defer closeInto(&err, s)
	return g.Populate(ctx, s, mailgen.AccountSpec{Messages: c.messages})
}

// mutate applies the change set to the Maildir tree at dir.
func mutate(ctx context.Context, c config, dir string) (err error) {
	g, err := generator(c)
	if err != nil {
		return err
	}
	s, err := maildir.Open(dir, nil)
	if err != nil {
		return err
	}
	defer closeInto(&err, s)
	_, err = g.Mutate(ctx, s, c.mutSeed, mailgen.MutateSpec{New: c.newMsgs, FlagChanges: c.flagChg, Expunges: c.expunges})
	return err
}

func median(rs []result) float64 {
	if len(rs) == 0 {
		return 0
	}
	s := make([]float64, len(rs))
	for i, r := range rs {
		s[i] = r.secs
	}
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// verdicts joins the distinct verify results of runs.
func verdicts(rs []result) string {
	var v []string
	for _, r := range rs {
		if !slices.Contains(v, r.verify) {
			v = append(v, r.verify)
		}
	}
	return strings.Join(v, "; ")
}

func command(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stderr = os.Stderr
	return cmd
}

// doveadm runs `doveadm backup` as an unprivileged user.
type doveadm struct {
	conf     string
	home     string
	user     string
	uid, gid int
	root     bool
}

func newDoveadm(c config) (*doveadm, error) {
	d := &doveadm{home: filepath.Join(c.work, "doveadm"), uid: os.Getuid(), gid: os.Getgid(), root: os.Getuid() == 0}
	if err := os.MkdirAll(d.home, 0o755); err != nil {
		return nil, err
	}
	if d.root {
		u, err := user.Lookup(c.mailUser)
		if err != nil {
			return nil, fmt.Errorf("vsdsync: -user: %w", err)
		}
		d.user = u.Username
		d.uid, _ = strconv.Atoi(u.Uid)
		d.gid, _ = strconv.Atoi(u.Gid)
	} else {
		u, err := user.Current()
		if err != nil {
			return nil, err
		}
		d.user = u.Username
	}
	d.conf = filepath.Join(d.home, "doveadm.conf")
	text := fmt.Sprintf("# vsdsync: doveadm alone on two Maildir trees; nothing of /etc/dovecot is read\nbase_dir = %s\nstate_dir = %s\n",
		filepath.Join(d.home, "run"), filepath.Join(d.home, "state"))
	if err := os.WriteFile(d.conf, []byte(text), 0o644); err != nil {
		return nil, err
	}
	return d, d.own(d.home)
}

// own hands a tree to the mail user, when run as root.
func (d *doveadm) own(dir string) error {
	if !d.root {
		return nil
	}
	return filepath.WalkDir(dir, func(p string, _ os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, d.uid, d.gid)
	})
}

// backup runs doveadm backup from dir/A into dir/B with extra settings.
func (d *doveadm) backup(ctx context.Context, dir string, settings ...string) error {
	args := []string{"-c", d.conf, "-o", "mail_uid=" + strconv.Itoa(d.uid), "-o", "mail_gid=" + strconv.Itoa(d.gid),
		"-o", "mail_location=maildir:" + filepath.Join(dir, "A")}
	for _, s := range settings {
		args = append(args, "-o", s)
	}
	args = append(args, "backup", "maildir:"+filepath.Join(dir, "B"))
	cmd := command(ctx, "doveadm", args...)
	cmd.Env = append(os.Environ(), "USER="+d.user, "HOME="+d.home)
	return cmd.Run()
}
