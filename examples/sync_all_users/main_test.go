package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mailrepl/mailrepl/internal/batch"
	"github.com/mailrepl/mailrepl/internal/batchtest"
	"github.com/mailrepl/mailrepl/internal/mailgen"
	"github.com/mailrepl/mailrepl/journal"
	"github.com/mailrepl/mailrepl/mailbox"
	"github.com/mailrepl/mailrepl/mailbox/maildir"
	"github.com/stretchr/testify/require"
)

// TestMirrorUsers mirrors several users, checks each replica, changes the
// sources and syncs again: only the changes are copied.
func TestMirrorUsers(t *testing.T) {
	tr := newTree(t)
	users := []string{"alice", "bob@example.org", "carol", "Zoë"}
	for i, u := range users {
		tr.populate(t, u, 40+10*i, uint64(i+1))
	}
	usersFile := filepath.Join(tr.root, "users")
	writeFile(t, usersFile, "# the users\nalice\nbob@example.org\n\ncarol\n")
	code, stdout, stderr := runInProcess(t, tr.args("-users", usersFile, "-concurrency", "2", "Zoë")...)
	require.Equal(t, exitOK, code, "stdout:\n%s\nstderr:\n%s", stdout, stderr)
	for i, u := range users {
		tr.requireMirrored(t, u)
		require.Regexp(t, fmt.Sprintf(`(?m)^%s\s+ok\s+%d\s`, regexp.QuoteMeta(u), 40+10*i), stdout)
	}
	require.Contains(t, stdout, "4 users: 4 ok\n")
	require.Contains(t, stderr, "sync_all_users: 4 users, mirror maildir:")

	var want mailgen.Stats
	for i, u := range users[:2] {
		want = tr.mutate(t, u, uint64(10+i), mailgen.MutateSpec{New: 3, FlagChanges: 4, Expunges: 2})
	}
	code, stdout, stderr = runInProcess(t, tr.args("-users", usersFile, "-json", "Zoë")...)
	require.Equal(t, exitOK, code, stderr)
	out := decode(t, stdout)
	require.False(t, out.Resumed, "the first batch completed: a new one")
	for _, u := range users {
		tr.requireMirrored(t, u)
	}
	got := byUser(out)
	require.EqualValues(t, want.Messages, got["bob@example.org"].Counts["appended"])
	require.EqualValues(t, want.FlagChanges, got["bob@example.org"].Counts["flag_changes"])
	require.EqualValues(t, want.Expunges, got["bob@example.org"].Counts["expunged"])
	require.Zero(t, got["carol"].Counts["appended"]+got["carol"].Counts["flag_changes"]+got["carol"].Counts["expunged"], "unchanged")
	require.Equal(t, batch.StatusOK, got["carol"].Status)
	require.EqualValues(t, 2*3, out.Total["appended"])
	require.Equal(t, "mirror", out.Mode)
	require.Equal(t, exitOK, out.ExitStatus)
}

// TestBrokenUsers: a users file with a missing directory, an unreadable
// one, a damaged dovecot-uidlist and unsafe names: each fails with its
// reason, the others are synced. (A damaged uidlist fails its whole user:
// the Maildir store's listing of mailboxes reads every folder's.) The program runs as a subprocess, as an
// unprivileged user when the test runs as root (root reads any
// directory).
func TestBrokenUsers(t *testing.T) {
	tr := newTree(t)
	for i, u := range []string{"alice", "bob", "locked", "damaged"} {
		tr.populate(t, u, 30, uint64(i+1))
	}
	// damaged: INBOX's uidlist is garbage; its other mailboxes are fine.
	uidlist := filepath.Join(tr.src, "damaged", "dovecot-uidlist")
	b, err := os.ReadFile(uidlist)
	require.NoError(t, err)
	writeFile(t, uidlist, string(b)+"this is not a uidlist line\n")
	usersFile := filepath.Join(tr.root, "users")
	writeFile(t, usersFile, "alice\nmissing\nlocked\n../x\ndamaged\na/b\nbob\n")

	cmd := exec.Command(binary, tr.args("-users", usersFile, "-json", "")...)
	locked := filepath.Join(tr.src, "locked")
	if os.Geteuid() == 0 {
		asNobody(t, cmd, tr.root)
		require.NoError(t, os.Chown(locked, 0, 0))
		require.NoError(t, os.Chmod(locked, 0o700))
	} else {
		require.NoError(t, os.Chmod(locked, 0))
		t.Cleanup(func() { os.Chmod(locked, 0o700) })
	}
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	require.Equal(t, exitFailed, cmd.ProcessState.ExitCode(), "%v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	out := decode(t, stdout.String())
	got := byUser(out)
	require.Len(t, got, 8)
	reasons := map[string]string{
		"missing": "source maildir:" + tr.src + "/missing: mailbox: open",
		"locked":  "permission denied",
		"damaged": "dovecot-uidlist",
		"../x":    `unsafe user name "../x": holds ".."`,
		"a/b":     `unsafe user name "a/b": holds a '/'`,
		"":        `unsafe user name "": empty name`,
	}
	for u, want := range reasons {
		require.Equal(t, batch.StatusFailed, got[u].Status, "user %q", u)
		require.Contains(t, got[u].Reason, want, "user %q", u)
	}
	require.Contains(t, got["missing"].Reason, "not found")
	require.NoDirExists(t, filepath.Join(tr.dst, "missing"), "no target made for a missing source")
	for _, u := range []string{"alice", "bob"} {
		require.Equal(t, batch.StatusOK, got[u].Status, "user %s: %s", u, got[u].Reason)
		tr.requireMirrored(t, u)
	}
	// The damaged user's other mailboxes were synced all the same.
	require.Contains(t, got["damaged"].Reason, filepath.Join(tr.src, "damaged", "dovecot-uidlist"))
	require.Contains(t, got["damaged"].Reason, `line 9: uid: invalid "this"`)
	require.Contains(t, stderr.String(), "progress: users 8/8 (6 failed)")
}

// TestExitStatuses checks the usage errors (status 2) and their messages.
func TestExitStatuses(t *testing.T) {
	tr := newTree(t)
	tr.populate(t, "alice", 5, 1)
	ok := tr.args("alice")
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no flags", nil, "-source and -target are needed"},
		{"unknown flag", slices.Concat([]string{"-nope"}, ok), "flag provided but not defined: -nope"},
		{"unknown mode", append([]string{"-mode", "copy"}, ok...), `unknown mode "copy"`},
		{"unknown scheme", []string{"-source", "pop3:/h/{user}", "-target", "maildir:/x/{user}", "-journal", tr.journal, "a"}, `unknown scheme "pop3"`},
		{"imap template without a login", []string{"-source", "imap://h/{user}", "-target", "maildir:/x/{user}", "-journal", tr.journal, "a"}, "want imap://{user}@HOST:PORT"},
		{"template without {user}", []string{"-source", "maildir:/x/all", "-target", "maildir:/y/{user}", "-journal", tr.journal, "a"}, "does not hold {user}"},
		{"same stores", []string{"-source", "maildir:/x/{user}", "-target", "maildir:/x//{user}/", "-journal", tr.journal, "a"}, "name the same stores"},
		{"no journal", []string{"-source", "maildir:/x/{user}", "-target", "maildir:/y/{user}", "a"}, "-journal is needed"},
		{"no users", tr.args(), "no users"},
		{"bad shard", append([]string{"-shard", "3/2"}, ok...), "want i/n with 1 ≤ i ≤ n"},
		{"bad size", append([]string{"-rate-bytes", "20XB"}, ok...), `invalid size "20XB"`},
		{"flag after a user", append(append([]string{}, ok...), "-full"), `"-full" comes after a user name`},
		{"bad user rate", append([]string{"-user-rate-bytes", "lots", "-server-rate-msgs", "-5"}, ok...), "-server-rate-msgs must not be negative"},
		{"zero concurrency", append([]string{"-concurrency", "0"}, ok...), "must be at least 1"},
		{"read-only source in sync mode", append([]string{"-mode", "sync", "-read-only-source"}, ok...), "mirror only"},
		{"demo with users", []string{"-demo", "alice"}, "-demo takes no users"},
		{"demo with source", []string{"-demo", "-source", "maildir:/x/{user}"}, "-demo makes its own -source"},
		{"keep without demo", append([]string{"-keep"}, ok...), "-keep goes with -demo"},
		{"users file missing", tr.args("-users", filepath.Join(tr.root, "nope")), "users file"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runInProcess(t, tc.args...)
			require.Equal(t, exitUsage, code, stderr)
			require.Empty(t, stdout)
			require.Contains(t, stderr, tc.want)
		})
	}
	require.NoDirExists(t, tr.dst, "usage errors change nothing")
	require.NoDirExists(t, tr.journal)

	code, _, stderr := runInProcess(t, "-h")
	require.Equal(t, exitOK, code)
	require.Contains(t, stderr, "-rate-bytes SIZE")

	code, _, _ = runInProcess(t, ok...)
	require.Equal(t, exitOK, code)
	code, _, _ = runInProcess(t, tr.args("alice", "missing")...)
	require.Equal(t, exitFailed, code)
}

// TestProgressNotTerminal checks the progress lines written when the
// standard error is not a terminal.
func TestProgressNotTerminal(t *testing.T) {
	tr := newTree(t)
	for i, u := range []string{"a", "b", "c"} {
		tr.populate(t, u, 60, uint64(i+1))
	}
	code, _, stderr := runInProcess(t, tr.args("-progress-interval", "50ms", "-rate-msgs", "150", "-concurrency", "1", "a", "b", "c")...)
	require.Equal(t, exitOK, code, stderr)
	line := regexp.MustCompile(`^progress: users [0-3]/3, \d+ messages, [0-9.]+ (B|kB|MB) copied, \d+ msg/s, [0-9.]+ (B|kB|MB)/s, elapsed [0-9.]+m?s, ETA (unknown|[0-9.]+m?s( \([0-9.]+ (B|kB|MB), \d+ messages left\))?)(; in flight: .*% of .*)?$`)
	var lines []string
	for l := range strings.SplitSeq(strings.TrimSpace(stderr), "\n") {
		if strings.HasPrefix(l, "progress: ") {
			require.Regexp(t, line, l)
			lines = append(lines, l)
		}
	}
	require.GreaterOrEqual(t, len(lines), 5, "a line every 50ms over a second or more:\n%s", stderr)
	require.Regexp(t, `^progress: users 3/3, 180 messages, .* ETA 0s$`, lines[len(lines)-1])
	require.NotContains(t, stderr, "\r", "no redrawing when not on a terminal")
}

// TestDryRun: the plans are printed, nothing changes: neither the stores
// nor the journal's state.
func TestDryRun(t *testing.T) {
	tr := newTree(t)
	tr.populate(t, "alice", 20, 1)
	tr.populate(t, "bob", 10, 2)
	before := batchtest.Snapshot(t, tr.root)
	code, stdout, stderr := runInProcess(t, "-dry-run", "-source", "maildir:"+tr.src+"/{user}", "-target", "maildir:"+tr.dst+"/{user}", "alice", "bob")
	require.Equal(t, exitOK, code, stderr)
	batchtest.RequireSame(t, before, batchtest.Snapshot(t, tr.root), "a dry run changes nothing")
	require.Regexp(t, `(?m)^alice: mailbox create target "Archive"`, stdout)
	require.Regexp(t, `(?m)^alice: INBOX: append target uid 1 <- source uid 1 [0-9a-f]+ \(`, stdout)
	require.Len(t, regexp.MustCompile(`(?m)^alice: [^:]+: append target `).FindAllString(stdout, -1), 20, "an append per message")
	require.Regexp(t, `(?m)^alice\s+ok\s+20\s`, stdout, "the table counts what would be done")

	// A target whose INBOX has another UIDVALIDITY: the plan says it
	// would be realigned.
	tr.populate(t, "carol", 3, 3)
	require.NoError(t, os.MkdirAll(filepath.Join(tr.dst, "carol", "cur"), 0o700))
	writeFile(t, filepath.Join(tr.dst, "carol", "dovecot-uidlist"), "3 V7 N1 G0123456789abcdef0123456789abcdef\n")
	code, stdout, stderr = runInProcess(t, "-dry-run", "-source", "maildir:"+tr.src+"/{user}", "-target", "maildir:"+tr.dst+"/{user}", "carol")
	require.Equal(t, exitOK, code, stderr)
	require.Regexp(t, `(?m)^carol: INBOX: would realign: `, stdout)
	require.NoError(t, os.RemoveAll(filepath.Join(tr.dst, "carol")))

	// A real sync, changes, then a dry run against the journal's state.
	code, _, stderr = runInProcess(t, tr.args("alice", "bob")...)
	require.Equal(t, exitOK, code, stderr)
	tr.mutate(t, "alice", 7, mailgen.MutateSpec{New: 2, FlagChanges: 3, Expunges: 1})
	before = batchtest.Snapshot(t, tr.root)
	code, stdout, stderr = runInProcess(t, tr.args("-dry-run", "-json", "alice", "bob")...)
	require.Equal(t, exitOK, code, stderr)
	// The journal's files change when it is opened: its state is checked
	// below.
	batchtest.RequireSame(t, before, batchtest.Snapshot(t, tr.root), "a dry run changes no store", tr.journal)
	code, _, stderr = runInProcess(t, tr.args("-dry-run", "-mode", "sync", "alice", "bob")...)
	require.Equal(t, exitOK, code, stderr)
	batchtest.RequireSame(t, before, batchtest.Snapshot(t, tr.root), "a two-way dry run changes no store either", tr.journal)
	out := decode(t, stdout)
	require.True(t, out.DryRun)
	plan := out.Plans["alice"]
	require.Len(t, plan, 2+3+1, "%q", plan)
	var kinds []string
	for _, l := range plan {
		kinds = append(kinds, strings.Fields(l)[1])
	}
	slices.Sort(kinds)
	require.Equal(t, []string{"append", "append", "expunge", "flags", "flags", "flags"}, kinds)
	require.Empty(t, out.Plans["bob"])
	// and the state is untouched: a real run does the same work.
	code, stdout, _ = runInProcess(t, tr.args("-json", "alice", "bob")...)
	require.Equal(t, exitOK, code)
	require.EqualValues(t, 2, byUser(decode(t, stdout))["alice"].Counts["appended"])
	tr.requireMirrored(t, "alice")
}

// TestShards: the shards of a batch split its users disjointly and
// completely.
func TestShards(t *testing.T) {
	tr := newTree(t)
	var users []string
	for i := range 30 {
		users = append(users, fmt.Sprintf("user%02d", i))
	}
	usersFile := filepath.Join(tr.root, "users")
	writeFile(t, usersFile, strings.Join(users, "\n"))
	seen := map[string]string{}
	for i := 1; i <= 3; i++ {
		shard := fmt.Sprintf("%d/3", i)
		code, stdout, stderr := runInProcess(t, "-dry-run", "-json", "-shard", shard, "-users", usersFile,
			"-source", "maildir:"+tr.src+"/{user}", "-target", "maildir:"+tr.dst+"/{user}")
		require.Equal(t, exitFailed, code, "the sources do not exist: %s", stderr)
		out := decode(t, stdout)
		require.Equal(t, shard, out.Shard)
		require.NotEmpty(t, out.Users)
		for _, u := range out.Users {
			prev, dup := seen[u.User]
			require.False(t, dup, "%s in shards %s and %s", u.User, prev, shard)
			seen[u.User] = shard
			require.Contains(t, u.Reason, "not found")
		}
	}
	require.Len(t, seen, len(users))
}

// TestSkipUnchanged: when the journal's change log holds a user's events,
// a user with none since the last sync is skipped; -full syncs it.
func TestSkipUnchanged(t *testing.T) {
	tr := newTree(t)
	for i, u := range []string{"alice", "bob", "carol"} {
		tr.populate(t, u, 10, uint64(i+1))
	}
	appendEvent := func(user string) {
		j, err := journal.Open(tr.journal, nil)
		require.NoError(t, err)
		_, err = j.Append(bg, journal.Event{Kind: journal.KindAppend, User: user, Mailbox: mailbox.Inbox})
		require.NoError(t, err)
		require.NoError(t, j.Close())
	}
	// A mail server logs alice's and bob's changes (not carol's).
	appendEvent("alice")
	appendEvent("bob")
	code, stdout, stderr := runInProcess(t, tr.args("-json", "alice", "bob", "carol")...)
	require.Equal(t, exitOK, code, stderr)
	for _, u := range decode(t, stdout).Users {
		require.Equal(t, batch.StatusOK, u.Status, u.User)
	}
	// alice gets mail (and the server logs it); bob and carol do not.
	tr.mutate(t, "alice", 5, mailgen.MutateSpec{New: 1})
	appendEvent("alice")
	code, stdout, stderr = runInProcess(t, tr.args("-json", "alice", "bob", "carol")...)
	require.Equal(t, exitOK, code, stderr)
	got := byUser(decode(t, stdout))
	require.Equal(t, batch.StatusOK, got["alice"].Status)
	require.EqualValues(t, 1, got["alice"].Counts["appended"])
	require.Equal(t, batch.StatusSkipped, got["bob"].Status)
	require.Contains(t, got["bob"].Reason, "no change logged since the last sync")
	require.Equal(t, batch.StatusOK, got["carol"].Status, "carol's changes are not logged: always synced")
	tr.requireMirrored(t, "alice")

	code, stdout, _ = runInProcess(t, tr.args("-json", "-full", "alice", "bob", "carol")...)
	require.Equal(t, exitOK, code)
	for _, u := range decode(t, stdout).Users {
		require.Equal(t, batch.StatusOK, u.Status, u.User)
	}
}

// TestModes: sync merges both ways; migrate copies what the target lacks
// and deletes nothing; a mirror keeps mail found only on the target
// (split brain) by copying it back to the source, or, if told, keeps it
// on the target without writing to the source, or deletes it.
func TestModes(t *testing.T) {
	tr := newTree(t)
	tr.populate(t, "alice", 10, 1)
	pristine := batchtest.Snapshot(t, tr.src)
	code, _, stderr := runInProcess(t, tr.args("alice")...)
	require.Equal(t, exitOK, code, stderr)
	code, _, stderr = runInProcess(t, tr.args("-full", "alice")...)
	require.Equal(t, exitOK, code, stderr)
	batchtest.RequireSame(t, pristine, batchtest.Snapshot(t, tr.src), "a mirror leaves its source untouched")
	extra := []byte("From: x@example.org\nSubject: written to the replica\n\nsplit brain\n")
	target, err := maildir.Open(filepath.Join(tr.dst, "alice"), nil)
	require.NoError(t, err)
	_, err = target.Append(bg, mailbox.Inbox, mailbox.BytesLiteral(extra), mailbox.AppendMeta{})
	require.NoError(t, err)
	require.NoError(t, target.Close())

	// -read-only-source: the mail is kept on the target, and the user
	// fails with the reason.
	srcBefore := batchtest.Snapshot(t, tr.src)
	code, stdout, _ := runInProcess(t, tr.args("-json", "-read-only-source", "alice")...)
	require.Equal(t, exitFailed, code, stdout)
	batchtest.RequireSame(t, srcBefore, batchtest.Snapshot(t, tr.src), "a mirror's source is read-only")
	alice := byUser(decode(t, stdout))["alice"]
	require.Equal(t, batch.StatusFailed, alice.Status)
	require.Contains(t, alice.Reason, "the target holds 1 messages the source lacks, and the source is read-only: nothing deleted")
	require.Equal(t, 11, count(t, filepath.Join(tr.dst, "alice")))

	// -delete-target-only deletes it, in a copy of the trees.
	cp := newTree(t)
	require.NoError(t, os.CopyFS(cp.src, os.DirFS(tr.src)))
	require.NoError(t, os.CopyFS(cp.dst, os.DirFS(tr.dst)))
	require.NoError(t, os.CopyFS(cp.journal, os.DirFS(tr.journal)))
	code, stdout, stderr = runInProcess(t, []string{"-source", "maildir:" + cp.src + "/{user}", "-target", "maildir:" + cp.dst + "/{user}",
		"-journal", cp.journal, "-json", "-delete-target-only", "alice"}...)
	require.Equal(t, exitOK, code, stderr)
	require.EqualValues(t, 1, byUser(decode(t, stdout))["alice"].Counts["expunged"])
	require.Equal(t, 10, count(t, filepath.Join(cp.dst, "alice")))

	// By default it is copied back to the source.
	code, stdout, stderr = runInProcess(t, tr.args("-json", "alice")...)
	require.Equal(t, exitOK, code, stderr)
	require.EqualValues(t, 1, byUser(decode(t, stdout))["alice"].Counts["appended_to_source"])
	require.Equal(t, 11, count(t, filepath.Join(tr.src, "alice")))
	tr.requireMirrored(t, "alice")

	// Two-way: a change on either side reaches the other.
	tr.mutate(t, "alice", 3, mailgen.MutateSpec{New: 2})
	code, stdout, stderr = runInProcess(t, tr.args("-json", "-mode", "sync", "alice")...)
	require.Equal(t, exitOK, code, stderr)
	require.EqualValues(t, 2, byUser(decode(t, stdout))["alice"].Counts["appended"])
	require.Equal(t, 13, count(t, filepath.Join(tr.dst, "alice")))

	// Migrate into a fresh target: copies, never deletes.
	tr2 := tr
	tr2.dst, tr2.journal = filepath.Join(tr.root, "dst2"), filepath.Join(tr.root, "journal2")
	code, _, stderr = runInProcess(t, tr2.args("-mode", "migrate", "alice")...)
	require.Equal(t, exitOK, code, stderr)
	require.Equal(t, 13, count(t, filepath.Join(tr2.dst, "alice")))
	tr.mutate(t, "alice", 4, mailgen.MutateSpec{Expunges: 3})
	code, _, stderr = runInProcess(t, tr2.args("-mode", "migrate", "alice")...)
	require.Equal(t, exitOK, code, stderr)
	require.Equal(t, 13, count(t, filepath.Join(tr2.dst, "alice")), "migrate deletes nothing")
}

// TestDemo runs the demo, small.
func TestDemo(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	code, stdout, stderr := runInProcess(t, "-demo", "-demo-messages", "240")
	require.Equal(t, exitOK, code, "stdout:\n%s\nstderr:\n%s", stdout, stderr)
	require.Contains(t, stdout, "verdict: the replica equals the source")
	for _, u := range []string{"alice", "bob", "carol"} {
		require.Regexp(t, `(?m)^   `+u+`\s+equal: \d+ mailboxes, \d+ messages$`, stdout)
	}
	require.Regexp(t, `(?m)^alice\s+ok\s+120\s`, stdout, "the first mirror copies alice's 120 messages")
	require.Regexp(t, `(?m)^alice\s+ok\s+20\s+40\s+15\s`, stdout, "the incremental sync copies only the changes")
	left, err := os.ReadDir(tmp)
	require.NoError(t, err)
	require.Empty(t, left, "the demo removes its files")
	require.Regexp(t, `progress: users (3/3|4/4), `, stderr, "progress shown")
}

// TestUsersFromStdin reads the users file from the standard input ("-"),
// in a subprocess.
func TestUsersFromStdin(t *testing.T) {
	tr := newTree(t)
	tr.populate(t, "alice", 5, 1)
	tr.populate(t, "bob", 5, 2)
	cmd := exec.Command(binary, tr.args("-users", "-", "-json")...)
	cmd.Stdin = strings.NewReader("# from a pipe\nalice\nbob\n")
	stdout, err := cmd.Output()
	require.NoError(t, err)
	out := decode(t, string(stdout))
	require.Len(t, out.Users, 2)
	tr.requireMirrored(t, "alice")
	tr.requireMirrored(t, "bob")
}

// TestServerConns: with -server-conns 1, users are synced one at a time
// whatever -concurrency says (each user holds a slot on both servers).
func TestServerConns(t *testing.T) {
	tr := newTree(t)
	users := []string{"a", "b", "c", "d"}
	for i, u := range users {
		tr.populate(t, u, 30, uint64(i+1))
	}
	code, stdout, stderr := runInProcess(t, tr.args(append([]string{"-json", "-concurrency", "4", "-server-conns", "1", "-rate-msgs", "200"}, users...)...)...)
	require.Equal(t, exitOK, code, stderr)
	out := decode(t, stdout)
	type span struct{ from, to time.Time }
	var spans []span
	for _, u := range out.Users {
		require.NotNil(t, u.Report)
		spans = append(spans, span{u.Report.Start, u.Report.Start.Add(u.Report.Duration)})
	}
	slices.SortFunc(spans, func(a, b span) int { return a.from.Compare(b.from) })
	for i := 1; i < len(spans); i++ {
		require.False(t, spans[i].from.Before(spans[i-1].to), "two users at once: %v and %v", spans[i-1], spans[i])
	}
}

// TestMigrateFromMbox: an mbox file per user migrates into Maildir trees.
func TestMigrateFromMbox(t *testing.T) {
	dir := t.TempDir()
	var b strings.Builder
	for i := range 5 {
		fmt.Fprintf(&b, "From sender@example.org Sat Jan  3 01:05:%02d 2024\nFrom: sender@example.org\nSubject: message %d\n\nbody %d\n>From the past\n\n", i, i, i)
	}
	mboxPath := filepath.Join(dir, "alice.mbox")
	require.NoError(t, os.WriteFile(mboxPath, []byte(b.String()), 0o644))
	before, err := os.ReadFile(mboxPath)
	require.NoError(t, err)
	args := []string{"-source", "mbox:" + dir + "/{user}.mbox", "-target", "maildir:" + dir + "/md/{user}", "-journal", filepath.Join(dir, "j"), "-mode", "migrate", "-json", "alice"}
	code, stdout, stderr := runInProcess(t, args...)
	require.Equal(t, exitOK, code, stderr)
	require.EqualValues(t, 5, byUser(decode(t, stdout))["alice"].Counts["appended"])
	require.Equal(t, 5, count(t, filepath.Join(dir, "md", "alice")))
	code, stdout, stderr = runInProcess(t, args...)
	require.Equal(t, exitOK, code, stderr)
	require.EqualValues(t, 0, byUser(decode(t, stdout))["alice"].Counts["appended"], "a second migration copies nothing")
	after, err := os.ReadFile(mboxPath)
	require.NoError(t, err)
	require.Equal(t, before, after, "the mbox is untouched")

	code, _, stderr = runInProcess(t, "-source", "mbox:"+dir+"/{user}.mbox", "-target", "maildir:"+dir+"/md/{user}", "-journal", filepath.Join(dir, "j"), "-mode", "sync", "alice")
	require.Equal(t, exitUsage, code)
	require.Contains(t, stderr, "read-only")
}

// TestReadOnlySourceFailsOnTargetOnlyMailbox: with -read-only-source, a
// mailbox found only on the target (split brain) is kept there and the
// user fails with the reason, not silently ok; without the flag it is
// copied back to the source.
func TestReadOnlySourceFailsOnTargetOnlyMailbox(t *testing.T) {
	tr := newTree(t)
	tr.populate(t, "alice", 10, 1)
	code, _, stderr := runInProcess(t, tr.args("alice")...)
	require.Equal(t, exitOK, code, stderr)
	target, err := maildir.Open(filepath.Join(tr.dst, "alice"), nil)
	require.NoError(t, err)
	_, err = target.Create(bg, "OnlyOnTarget")
	require.NoError(t, err)
	_, err = target.Append(bg, "OnlyOnTarget", mailbox.BytesLiteral([]byte("From: x@example.org\nSubject: split brain\n\nbody\n")), mailbox.AppendMeta{})
	require.NoError(t, err)
	require.NoError(t, target.Close())

	before := batchtest.Snapshot(t, tr.src)
	code, stdout, _ := runInProcess(t, tr.args("-json", "-read-only-source", "-full", "alice")...)
	require.Equal(t, exitFailed, code)
	alice := byUser(decode(t, stdout))["alice"]
	require.Equal(t, batch.StatusFailed, alice.Status)
	require.Contains(t, alice.Reason, "the source is not written to (-read-only-source)")
	batchtest.RequireSame(t, before, batchtest.Snapshot(t, tr.src), "-read-only-source writes nothing to the source")

	code, stdout, stderr = runInProcess(t, tr.args("-json", "-full", "alice")...)
	require.Equal(t, exitOK, code, stderr)
	require.EqualValues(t, 1, byUser(decode(t, stdout))["alice"].Counts["appended_to_source"])
	tr.requireMirrored(t, "alice")
}
