package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/mailrepl/mailrepl/internal/batch"
	"github.com/mailrepl/mailrepl/journal"
)

// status is the status command: what a replicator has queued, failing,
// and how far behind it is. While the replicator runs (its journal is
// locked) it reads the snapshot the replicator keeps in the journal's
// directory, at most a second old; otherwise it reads the journal.
func status(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("mailrepld status", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("journal", "", "the replicator's journal `DIR`")
	asJSON := fs.Bool("json", false, "print the snapshot as JSON")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if *dir == "" || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "usage: mailrepld status -journal DIR [-json]")
		return 2
	}
	doc, err := readStatus(ctx, *dir)
	if err != nil {
		fmt.Fprintf(stderr, "mailrepld status: %v\n", err)
		return 1
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(doc); err != nil {
			return 1
		}
		return 0
	}
	writeStatusText(stdout, doc, time.Now())
	return 0
}

// readStatus returns the replicator's last snapshot: the status file's.
// When no replicator runs, the journal is read too, for the notices it
// left and the change-log events past its cursor.
func readStatus(ctx context.Context, dir string) (*statusDoc, error) {
	var doc statusDoc
	b, err := os.ReadFile(filepath.Join(dir, statusFile))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	if err == nil {
		if err := json.Unmarshal(b, &doc); err != nil || doc.V != 1 {
			return nil, fmt.Errorf("%s: not a status file of version 1 (version %d, %v)", filepath.Join(dir, statusFile), doc.V, err)
		}
	}
	j, err := journal.Open(dir, &journal.Options{})
	if errors.Is(err, journal.ErrInUse) {
		if doc.V == 0 {
			return nil, fmt.Errorf("the journal %s is in use, and no replicator status is in it yet", dir)
		}
		return &doc, nil
	}
	if err != nil {
		return nil, err
	}
	defer j.Close()
	doc.Running = false
	doc.LastSeq = j.LastSeq()
	// The notices a stopped replicator left, and the change-log events
	// past its cursor, are what it will sync first when it starts.
	doc.Queued = 0
	users := map[string]bool{}
	for c, err := range j.Cursors(ctx) {
		if err != nil {
			return nil, err
		}
		if !strings.HasPrefix(c.Name, "mailrepld ") {
			continue
		}
		doc.Cursor = c.Seq
		for m, err := range j.Dirty(ctx, c.Seq) {
			if err != nil {
				return nil, err
			}
			users[m.User] = true
		}
		for rec, err := range j.Records(ctx, c.Name) {
			if err != nil {
				return nil, err
			}
			if kind, rest, _ := strings.Cut(rec.Key, "\x00"); kind == "n" {
				user, _, _ := strings.Cut(rest, "\x00")
				users[user] = true
			}
		}
	}
	doc.Queued = len(users)
	doc.InFlight = 0
	return &doc, nil
}

// writeStatusText prints the status for an operator.
func writeStatusText(w io.Writer, doc *statusDoc, now time.Time) {
	state := "not running"
	if doc.Running {
		state = fmt.Sprintf("running (pid %d), as of %s", doc.PID, doc.Time.Local().Format("15:04:05"))
	} else if !doc.Time.IsZero() {
		state += fmt.Sprintf(" (last stopped %s)", doc.Time.Local().Format("2006-01-02 15:04:05"))
	}
	fmt.Fprintf(w, "replicator: %s\n", state)
	behind := "nothing pending"
	if !doc.OldestPending.IsZero() {
		behind = "oldest pending change " + batch.FormatDuration(now.Sub(doc.OldestPending)) + " old"
	}
	fmt.Fprintf(w, "behind:     %s; change log at event %d, replicator at %d\n", behind, doc.LastSeq, doc.Cursor)
	fmt.Fprintf(w, "users:      %d queued, %d in flight, %d failed, %d past their full verification\n",
		doc.Queued, doc.InFlight, len(doc.Failed), doc.PastFullDeadline)
	if len(doc.Failed) > 0 {
		fmt.Fprintln(w, "\nfailing:")
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "  USER\tFAILURES\tSINCE\tNEXT RETRY\tREASON")
		for _, f := range doc.Failed {
			fmt.Fprintf(tw, "  %s\t%d\t%s\t%s\t%s\n", f.User, f.Failures, f.Since.Local().Format("01-02 15:04:05"),
				f.NextRetry.Local().Format("15:04:05"), f.Reason)
		}
		tw.Flush()
	}
	var oldest time.Time
	var who string
	for _, u := range doc.Users {
		if oldest.IsZero() || u.LastSuccess.Before(oldest) {
			oldest, who = u.LastSuccess, u.User
		}
	}
	if who != "" {
		when := "never"
		if !oldest.IsZero() {
			when = batch.FormatDuration(now.Sub(oldest)) + " ago"
		}
		fmt.Fprintf(w, "least recently synced: %s, %s\n", who, when)
	}
}
