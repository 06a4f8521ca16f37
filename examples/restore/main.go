// Command restore brings users back after a storage failure: it expunges
// from each user's live store the messages whose bodies are gone or
// damaged (-recover), recording each as lost in the journal, and delivers
// again, from a backup or a repaired volume (-from), the messages the live
// store lacks, with new UIDs and their flags and dates, never the mail a
// user deleted since the backup.
//
//	restore -into maildir:/srv/mail/{user} -journal /var/lib/mailrepl \
//	    -users users.txt -recover -from maildir:/backup/daily/{user}
//
// # Recover
//
// With -recover, each mailbox of the live store is read through: an entry
// whose body is missing, unreadable, truncated, or no longer matches the
// EmailID known for it is recorded as lost in the journal (user, mailbox,
// UID, EmailID, flags, date), then expunged, so IMAP clients never see a
// blank message. A body that is fine is never touched. On a Dovecot
// Maildir a dovecot-uidlist line without a file is a user's expunge when
// the journal holds its tombstone (sync_all_users leaves one for every
// expunge it sees); otherwise it is recorded as lost but unsure.
// -quarantine DIR keeps a copy of every damaged body that could be read.
//
// # Restore
//
// With -from, each mailbox of the backup (a maildir, an mbox file or
// directory, or a directory of loose message files such as fsck leaves in
// lost+found) is compared with the live mailbox of the same name by
// EmailID. A message the live mailbox lacks is delivered with a new UID
// above its UIDNEXT, unless the evidence says its user deleted it:
// a tombstone in the journal, or a live index that records expunges
// authoritatively. A message recorded as lost is restored. One with no
// evidence either way is "unsure": -policy restore-when-unsure (the
// default: an extra mail is better than a lost one) restores it,
// skip-when-unsure leaves it out and reports it. -since and -until keep
// to mail received in a time window; -exclude leaves folders alone
// (and the folders below them). Restoring again restores nothing.
//
// The live store must be named as sync_all_users named it as its source
// (the same template), so that the EmailIDs and tombstones its syncs kept
// in the journal are found. Without -from only the recovery runs; without
// -recover only the restore.
//
// # Batch
//
// Users come from -users FILE ('-' reads standard input), -user NAME and
// the arguments. Several users run at once (-concurrency), under the rate
// limits (-rate-msgs, -rate-bytes, -server-conns). One user's failure (a
// missing store, a damaged uidlist, an unsafe name such as "../x") is
// reported with its reason and the others go on. Ctrl-C (SIGINT or
// SIGTERM) finishes the messages in flight, records them and stops; the
// same command run again continues, and does not redo the users it
// finished. Progress goes to the standard error (a live line on a
// terminal, else a line every -progress-interval); a summary table, or
// with -json the whole result, goes to the standard output. With -dry-run
// nothing is changed: the report says what would be done. The exit status
// is 0 when every user succeeded, 1 when some failed or the batch stopped
// before the end, 2 for a usage error.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
)

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// run runs the program with the command-line arguments args (without the
// program's name) and returns its exit status.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	cfg, code := parseFlags(args, stderr)
	if cfg == nil {
		return code
	}
	users, err := cfg.readUsers(stdin)
	if err != nil {
		fmt.Fprintf(stderr, "restore: %v\n", err)
		return exitUsage
	}
	_, code = runBatch(ctx, cfg, users, stdout, stderr)
	return code
}
