// Command sync_all_users replicates every user of one mail server to
// another: a mirror (or a two-way sync, or a migration) of each user's
// store, several users at once, under rate limits, resumable after a
// crash or Ctrl-C, one user's failure never stopping the others.
//
//	sync_all_users -users users.txt -source maildir:/srv/mail/{user} \
//	    -target maildir:/replica/{user} -journal /var/lib/mailrepl
//
// With -demo it builds a sample source in a temporary directory, mirrors
// it, changes it, syncs again and checks that the replica equals the
// source. Run it with -h for the flags.
//
// # Sources and targets
//
// A store template names each user's store, with {user} replaced by the
// user's name: "maildir:/srv/mail/{user}" (a Maildir++ tree, as Dovecot
// keeps it), or, as a source to migrate or mirror from, read only,
// "mbox:/var/mail/{user}" (an mbox file, or a directory of them) and
// "loose:/lost+found/{user}" (a tree of message files). User names that
// could lead a template out of its directory ("../x", "a/b", "", control
// characters) fail that user alone.
//
// A mirror or a migration leaves the source untouched: it is opened
// read-only. One exception, in a mirror: mail found only on the target
// that no sync put there (mail delivered to the replica while it was
// wrongly used as the primary: split brain) is copied back to the source,
// with new UIDs, and reported, before the target mirrors the source
// again; for that alone the user's sync runs a second time with the source
// writable. With -read-only-source the source is never written to: such
// mail is kept on the target and the user fails with the reason, until
// someone decides. With -delete-target-only it is deleted from the target
// and reported. The sync mode writes both sides. A dry run writes
// nothing, and shows what a real run would do.
//
// # Folders of one special use
//
// A source folder syncs into the target's folder of the same special use
// (RFC 6154: \Sent, \Drafts, \Trash, \Junk, \Archive, \All, \Flagged)
// when their names differ: the source's "Sent" into the target's "Sent
// Items", rather than into a new "Sent" beside it. An IMAP server tells
// the use in LIST; a Maildir is read by its folders' names ("Sent Items",
// "Deleted Items", "Junk E-mail", "[Gmail]/Sent Mail", ...). Only when
// exactly one folder of each side has the use, neither is INBOX, and
// neither side holds the other's name. -map-folder 'SOURCE=TARGET'
// (repeatable) names a pair outright and wins; -no-special-use-map turns
// the pairing by use off. A pair holds for the folders below it too.
//
// # Resuming, skipping
//
// The journal (-journal) keeps each user's sync state and the batch's
// progress. A batch stopped by Ctrl-C (SIGINT or SIGTERM: the messages in
// flight are finished and the state is committed; a second signal aborts
// at once) or killed resumes when the same command runs again: the users
// it finished are not synced again. Once a batch has run every user, the
// next run starts a new batch. When a mail server that embeds mailrepl
// logs its users' changes in the journal, a user whose changes are logged
// and who has none since the last successful sync is skipped; -full syncs
// every user.
//
// # Rate limits
//
// -rate-msgs and -rate-bytes bound the whole batch; -server-rate-msgs and
// -server-rate-bytes each server (source and target alike, named by
// -source-server and -target-server or by the templates' directories);
// -user-rate-msgs and -user-rate-bytes each user. A message waits on every
// limit that applies. -server-conns caps the users in flight per server.
// A server that answers slowly or asks to back off gets its rates lowered,
// then raised again gradually (package ratelimit).
//
// # Output
//
// Progress goes to the standard error: on a terminal a line redrawn in
// place (users done of the total, messages and bytes copied, the current
// rate, the time left), otherwise a line every -progress-interval. The
// summary table (or with -json the whole result as JSON) goes to the
// standard output. With -dry-run each user's plan is printed and nothing
// is changed. The exit status is 0 when every user succeeded, 1 when some
// failed or the batch stopped before the end, 2 for a usage error.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"runtime/pprof"
)

func main() {
	// MAILREPL_CPUPROFILE=FILE writes a CPU profile of the run (go tool
	// pprof), for the benchmarks of ../shared/bench.
	if path := os.Getenv("MAILREPL_CPUPROFILE"); path != "" {
		f, err := os.Create(path)
		if err != nil {
			fmt.Fprintf(os.Stderr, "sync_all_users: %v\n", err)
			os.Exit(exitUsage)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintf(os.Stderr, "sync_all_users: %v\n", err)
			os.Exit(exitUsage)
		}
		code := run(context.Background(), os.Args[1:], os.Stdout, os.Stderr)
		pprof.StopCPUProfile()
		f.Close()
		os.Exit(code)
	}
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}

// run runs the program with the command-line arguments args (without the
// program's name) and returns its exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cfg, code := parseFlags(args, stderr)
	if cfg == nil {
		return code
	}
	if cfg.demo {
		return runDemo(ctx, cfg, stdout, stderr)
	}
	users, err := cfg.readUsers(os.Stdin)
	if err != nil {
		fmt.Fprintf(stderr, "sync_all_users: %v\n", err)
		return exitUsage
	}
	_, code = runBatch(ctx, cfg, users, stdout, stderr)
	return code
}
