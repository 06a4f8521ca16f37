package main

import (
	"cmp"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mailrepl/mailrepl/internal/batch"
	"github.com/mailrepl/mailrepl/internal/batchtest"
	"github.com/mailrepl/mailrepl/internal/mailgen"
	"github.com/mailrepl/mailrepl/mailbox"
	"github.com/mailrepl/mailrepl/mailbox/maildir"
	"github.com/stretchr/testify/require"
)

func TestUsage(t *testing.T) {
	dir := t.TempDir()
	into := "maildir:" + dir + "/live/{user}"
	from := "maildir:" + dir + "/backup/{user}"
	j := filepath.Join(dir, "journal")
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no -into", []string{"-journal", j, "-recover", "alice"}, "-into is needed"},
		{"read-only -into", []string{"-into", "mbox:" + dir + "/{user}", "-journal", j, "-recover", "alice"}, "the live store must be a maildir"},
		{"nothing to do", []string{"-into", into, "-journal", j, "alice"}, "nothing to do"},
		{"no journal", []string{"-into", into, "-recover", "alice"}, "-journal is needed"},
		{"bad policy", []string{"-into", into, "-from", from, "-journal", j, "-policy", "maybe", "alice"}, "unknown restore policy"},
		{"policy without -from", []string{"-into", into, "-journal", j, "-recover", "-policy", "skip-when-unsure", "alice"}, "give -from"},
		{"bad date", []string{"-into", into, "-from", from, "-journal", j, "-since", "yesterday", "alice"}, `"yesterday" is not a date`},
		{"empty window", []string{"-into", into, "-from", from, "-journal", j, "-since", "2024-05-01", "-until", "2024-04-01", "alice"}, "-since must be before -until"},
		{"quarantine without -recover", []string{"-into", into, "-from", from, "-journal", j, "-quarantine", dir, "alice"}, "-quarantine goes with -recover"},
		{"unsafe folder", []string{"-into", into, "-from", from, "-journal", j, "-exclude", "Junk,../x", "alice"}, "-exclude"},
		{"same stores", []string{"-into", into, "-from", into, "-journal", j, "alice"}, "name the same stores"},
		{"bad template", []string{"-into", "maildir:" + dir + "/live", "-journal", j, "-recover", "alice"}, "does not hold {user}"},
		{"no users", []string{"-into", into, "-journal", j, "-recover"}, "no users"},
		{"flag after a user", []string{"-into", into, "-journal", j, "-from", from, "alice", "-recover"}, `"-recover" comes after a user name`},
		{"unknown flag", []string{"-into", into, "-journal", j, "-recover", "-frobnicate", "alice"}, "flag provided but not defined"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runInProcess(t, tc.args...)
			require.Equal(t, exitUsage, code, stderr)
			require.Empty(t, stdout)
			require.Contains(t, stderr, tc.want)
		})
	}
	_, err := os.Stat(j)
	require.ErrorIs(t, err, os.ErrNotExist, "a usage error touches nothing")
	code, _, stderr := runInProcess(t, "-h")
	require.Equal(t, exitOK, code)
	for _, f := range []string{"-into", "-from", "-users", "-user", "-journal", "-recover", "-policy", "-exclude", "-dry-run", "-json"} {
		require.Regexp(t, `\n  `+f+`\b`, stderr, "the help names %s", f)
	}
}

// world is a test's directories: each user's live store and backup, and
// a journal.
type world struct {
	root, live, backup, journal string
}

func newWorld(t *testing.T) world {
	root := t.TempDir()
	return world{root: root, live: filepath.Join(root, "live"), backup: filepath.Join(root, "backup"), journal: filepath.Join(root, "journal")}
}

func (w world) args(more ...string) []string {
	return append([]string{"-into", "maildir:" + w.live + "/{user}", "-from", "maildir:" + w.backup + "/{user}", "-journal", w.journal}, more...)
}

// backupAndLose writes n generated messages into user's backup, in the
// given folders, makes the live store a copy of it, and deletes lose
// messages from the live store (no journal: no evidence either way). It
// returns the messages deleted.
func (w world) backupAndLose(t *testing.T, user string, n, lose int, seed uint64, folders ...string) []picked {
	t.Helper()
	var fs []mailgen.Folder
	for _, f := range folders {
		fs = append(fs, mailgen.Folder{Name: f, Kind: mailgen.Received, Weight: 1})
	}
	g, err := mailgen.NewWithOptions(seed, &mailgen.Options{Folders: fs, AttachmentRate: -1, LargeRate: -1, DuplicateRate: -1})
	require.NoError(t, err)
	s, err := maildir.Open(filepath.Join(w.backup, user), nil)
	require.NoError(t, err)
	_, err = g.Populate(bg, s, mailgen.AccountSpec{Messages: n})
	require.NoError(t, err)
	require.NoError(t, s.Close())
	copyDir(t, filepath.Join(w.backup, user), filepath.Join(w.live, user))
	live := openMaildir(t, filepath.Join(w.live, user), false)
	all := listAll(t, filepath.Join(w.live, user))
	var every []picked
	for _, f := range slices.Sorted(maps.Keys(all)) {
		for _, m := range all[f] {
			every = append(every, picked{f, m})
		}
	}
	// Every third message first, spread over the folders, then the rest.
	slices.SortStableFunc(every, func(a, b picked) int { return cmp.Compare(min(a.msg.UID%3, 1), min(b.msg.UID%3, 1)) })
	gone := every[:lose]
	for _, p := range gone {
		require.NoError(t, live.Expunge(bg, p.folder, uidSet(p.msg.UID)))
	}
	require.NoError(t, live.Close())
	require.Len(t, gone, lose)
	return gone
}

// TestBatch: users that fail (a missing live store, an unsafe name, a
// damaged uidlist) fail alone with their reason, the others are restored;
// the exit status says some failed; the progress is logged in lines; a
// second run restores nothing.
func TestBatch(t *testing.T) {
	w := newWorld(t)
	w.backupAndLose(t, "alice", 60, 10, 1, "INBOX", "Work")
	w.backupAndLose(t, "bob@example.org", 40, 5, 2, "INBOX")
	w.backupAndLose(t, "carol", 20, 2, 3, "INBOX")
	require.NoError(t, os.WriteFile(filepath.Join(w.live, "carol", "dovecot-uidlist"), []byte("3 V1 N5 Gx\n1 :x\ngarbage line\n"), 0o644))
	usersFile := filepath.Join(w.root, "users.txt")
	require.NoError(t, os.WriteFile(usersFile, []byte("# the users\nalice\nbob@example.org\ncarol\nnobody-here\n../x\n"), 0o644))

	code, stdout, stderr := runInProcess(t, w.args("-users", usersFile, "-progress-interval", "10ms")...)
	require.Equal(t, exitFailed, code, stderr)
	require.Regexp(t, `(?m)^alice\s+ok\s+0\s+10\s+50\s+0\s+0\s+0\s`, stdout)
	require.Regexp(t, `(?m)^bob@example.org\s+ok\s+0\s+5\s+35\s`, stdout)
	require.Regexp(t, `(?m)^carol\s+failed\s.*dovecot-uidlist`, stdout)
	require.Regexp(t, `(?m)^nobody-here\s+failed\s.*live store maildir:.*/live/nobody-here: .*no such file`, stdout)
	require.Regexp(t, `(?m)^\.\./x\s+failed\s.*unsafe user name`, stdout)
	require.Contains(t, stdout, "5 users: 2 ok, 3 failed")
	require.Regexp(t, `(?m)^progress: users 5/5 \(3 failed\), 15 messages, `, stderr)
	_, err := os.Stat(filepath.Join(w.live, "nobody-here"))
	require.ErrorIs(t, err, os.ErrNotExist, "no store is made for a user without one")

	code, stdout, stderr = runInProcess(t, w.args("-json", "alice", "bob@example.org")...)
	require.Equal(t, exitOK, code, stderr)
	for _, u := range decode(t, stdout).Users {
		require.Equal(t, batch.StatusOK, u.Status, u.User)
		require.Zero(t, u.Report.Restore.Total.Restored, "%s: a second run restores nothing", u.User)
	}
}

// TestPolicyWindowExclude: skip-when-unsure leaves out what nothing
// proves lost; -exclude leaves folders (and those below) alone; -since and
// -until keep to a window of internal dates; -dry-run changes nothing.
func TestPolicyWindowExclude(t *testing.T) {
	w := newWorld(t)
	gone := w.backupAndLose(t, "alice", 90, 30, 4, "INBOX", "Junk", "Junk/old", "Trash")
	live := filepath.Join(w.live, "alice")
	perFolder := map[string]int{}
	for _, p := range gone {
		perFolder[p.folder]++
	}
	require.Positive(t, perFolder["INBOX"])
	require.Positive(t, perFolder["Junk/old"]+perFolder["Junk"])

	snap := batchtest.Snapshot(t, live)
	code, stdout, stderr := runInProcess(t, w.args("-json", "-dry-run", "alice")...)
	require.Equal(t, exitOK, code, stderr)
	require.Equal(t, 30, byUser(decode(t, stdout))["alice"].Report.Restore.Total.Restored)
	batchtest.RequireSame(t, snap, batchtest.Snapshot(t, live), "a dry run changes nothing")

	code, stdout, stderr = runInProcess(t, w.args("-json", "-policy", "skip-when-unsure", "alice")...)
	require.Equal(t, exitOK, code, stderr)
	tot := byUser(decode(t, stdout))["alice"].Report.Restore.Total
	require.Equal(t, 0, tot.Restored)
	require.Equal(t, 30, tot.SkippedPolicy)
	batchtest.RequireSame(t, snap, batchtest.Snapshot(t, live), "skip-when-unsure restores nothing unsure")

	code, stdout, stderr = runInProcess(t, w.args("-json", "-exclude", "junk,Trash", "alice")...)
	require.Equal(t, exitOK, code, stderr)
	rep := byUser(decode(t, stdout))["alice"].Report.Restore
	require.Equal(t, perFolder["INBOX"], rep.Total.Restored)
	for _, m := range rep.Mailboxes {
		require.NotContains(t, []string{"Junk", "Junk/old", "Trash"}, m.Mailbox, "excluded folders are not looked at")
	}

	// The window: half of the rest by date.
	var dates []time.Time
	for _, p := range gone {
		if p.folder != "INBOX" {
			dates = append(dates, p.msg.InternalDate)
		}
	}
	slices.SortFunc(dates, func(a, b time.Time) int { return a.Compare(b) })
	cut := dates[len(dates)/2]
	want := 0
	for _, d := range dates {
		if !d.Before(cut) {
			want++
		}
	}
	code, stdout, stderr = runInProcess(t, w.args("-json", "-since", cut.Format(time.RFC3339), "alice")...)
	require.Equal(t, exitOK, code, stderr)
	require.Equal(t, want, byUser(decode(t, stdout))["alice"].Report.Restore.Total.Restored)
	code, stdout, stderr = runInProcess(t, w.args("-json", "-until", cut.Format(time.RFC3339), "alice")...)
	require.Equal(t, exitOK, code, stderr)
	require.Equal(t, len(dates)-want, byUser(decode(t, stdout))["alice"].Report.Restore.Total.Restored)
	for f, ms := range listAll(t, live) {
		seen := map[mailbox.EmailID]bool{}
		for _, m := range ms {
			require.False(t, seen[m.EmailID], "%s holds %s twice", f, m.EmailID.Short())
			seen[m.EmailID] = true
		}
	}
}

// TestFromMboxAndLoose restores from an mbox file and from a directory of
// loose message files (what fsck leaves in lost+found).
func TestFromMboxAndLoose(t *testing.T) {
	w := newWorld(t)
	require.NoError(t, os.MkdirAll(filepath.Join(w.live, "alice"), 0o755))
	msgs := []string{
		"From: a@example.org\nSubject: one\nDate: Sat, 3 Feb 2024 10:00:00 +0000\n\nfirst\n",
		"From: b@example.org\nSubject: two\nDate: Sun, 4 Feb 2024 11:00:00 +0000\n\nsecond\n>From the mbox\n",
	}
	var mb strings.Builder
	for _, m := range msgs {
		mb.WriteString("From sender@example.org Sat Feb  3 10:00:00 2024\n" + strings.ReplaceAll(m, "\n>From", "\n>>From") + "\n")
	}
	require.NoError(t, os.WriteFile(filepath.Join(w.root, "alice.mbox"), []byte(mb.String()), 0o644))
	found := filepath.Join(w.root, "lost+found", "alice")
	require.NoError(t, os.MkdirAll(found, 0o755))
	for i, m := range msgs {
		require.NoError(t, os.WriteFile(filepath.Join(found, "#"+string(rune('1'+i))), []byte(m), 0o644))
	}
	base := []string{"-into", "maildir:" + w.live + "/{user}", "-journal", w.journal, "-json", "-user", "alice"}
	code, stdout, stderr := runInProcess(t, append(base, "-from", "mbox:"+w.root+"/{user}.mbox")...)
	require.Equal(t, exitOK, code, stderr)
	require.Equal(t, 2, byUser(decode(t, stdout))["alice"].Report.Restore.Total.Restored)
	code, stdout, stderr = runInProcess(t, append(base, "-from", "loose:"+w.root+"/lost+found/{user}")...)
	require.Equal(t, exitOK, code, stderr)
	tot := byUser(decode(t, stdout))["alice"].Report.Restore.Total
	require.Equal(t, 0, tot.Restored, "the same messages, present by EmailID")
	require.Equal(t, 2, tot.Present)
	got := listAll(t, filepath.Join(w.live, "alice"))[mailbox.Inbox]
	require.Len(t, got, 2)
	for i, m := range got {
		require.Equal(t, mailbox.EmailIDOf([]byte(msgs[i])), m.EmailID, "bytes kept exactly (the mbox quoting undone)")
	}
}

// TestKillAndInterrupt kills the program (SIGKILL) while it delivers, and
// interrupts it (SIGINT) in another run: each time the next run completes
// the restore with nothing lost and nothing twice.
func TestKillAndInterrupt(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGKILL, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			w := newWorld(t)
			users := []string{"u1", "u2", "u3"}
			for i, u := range users {
				w.backupAndLose(t, u, 300, 200, uint64(10+i), "INBOX")
			}
			args := w.args(append([]string{"-json", "-rate-msgs", "150", "-concurrency", "2", "-progress-interval", "10ms"}, users...)...)
			s := batchtest.Start(t, restoreBin, args...)
			if sig == syscall.SIGKILL {
				// Killed while it delivers.
				s.WaitForMatch(t, regexp.MustCompile(`(?m)^progress: users \d/3.*?, [1-9]\d* messages`))
			} else {
				// Interrupted once a user is done: the next run resumes.
				s.WaitForMatch(t, regexp.MustCompile(`(?m)^progress: users [12]/3`))
			}
			require.NoError(t, s.Cmd.Process.Signal(sig))
			code := s.Wait(t)
			if sig == syscall.SIGKILL {
				require.Equal(t, -1, code)
				batchtest.NameDeadHolder(t, w.live, s.Cmd.Process.Pid)
			} else {
				require.Equal(t, exitFailed, code, s.Stderr())
				out := decode(t, s.Stdout())
				require.True(t, out.Stopped)
			}
			code, stdout, stderr := runBinary(t, restoreBin, args...)
			require.Equal(t, exitOK, code, stderr)
			out := decode(t, stdout)
			if sig == syscall.SIGINT {
				require.True(t, out.Resumed, "the interrupted batch resumes")
			}
			for _, u := range users {
				backup := listAll(t, filepath.Join(w.backup, u))[mailbox.Inbox]
				live := listAll(t, filepath.Join(w.live, u))[mailbox.Inbox]
				require.Len(t, live, len(backup), "%s: every message once", u)
				seen := map[mailbox.EmailID]bool{}
				for _, m := range live {
					require.False(t, seen[m.EmailID], "%s: %s twice", u, m.EmailID.Short())
					seen[m.EmailID] = true
				}
				for _, m := range backup {
					require.True(t, seen[m.EmailID], "%s: %s lost", u, m.EmailID.Short())
				}
			}
		})
	}
}
