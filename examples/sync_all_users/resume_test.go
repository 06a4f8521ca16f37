package main

import (
	"fmt"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mailrepl/mailrepl/internal/batch"
	"github.com/mailrepl/mailrepl/internal/batchtest"
	"github.com/stretchr/testify/require"
)

var usersDone = regexp.MustCompile(`(?m)^progress: users (\d+)/(\d+)`)

// waitUsers waits until the progress says at least n users are done, and
// returns how many it says.
func waitUsers(t *testing.T, p *batchtest.Process, n int) int {
	t.Helper()
	done := 0
	p.WaitFor(t, 60*time.Second, fmt.Sprintf("progress to %d users", n), func(stderr string) bool {
		all := usersDone.FindAllStringSubmatch(stderr, -1)
		if len(all) > 0 {
			done, _ = strconv.Atoi(all[len(all)-1][1])
		}
		return done >= n
	})
	return done
}

// resumeSetup makes a tree of users large enough that a rate-limited
// batch takes a few seconds.
func resumeSetup(t *testing.T) (tree, []string, []string) {
	tr := newTree(t)
	var users []string
	for i := range 8 {
		u := fmt.Sprintf("user%d", i)
		tr.populate(t, u, 80, uint64(i+1))
		users = append(users, u)
	}
	args := tr.args(append([]string{"-json", "-concurrency", "2", "-rate-msgs", "150", "-progress-interval", "20ms"}, users...)...)
	return tr, users, args
}

// checkResume runs the batch again after an interruption and checks it:
// the users finished before are not synced again (their targets are not
// touched), the others copy exactly what their targets lack, and at the
// end every target mirrors its source.
func checkResume(t *testing.T, tr tree, users []string, args []string, doneBefore int) {
	t.Helper()
	had := map[string]int{}
	snaps := map[string]map[string]string{}
	for _, u := range users {
		had[u] = count(t, filepath.Join(tr.dst, u))
		snaps[u] = batchtest.Snapshot(t, filepath.Join(tr.dst, u))
	}
	s := batchtest.Start(t, binary, args...)
	code := s.Wait(t)
	out := decode(t, s.Stdout())
	require.Equal(t, exitOK, code, "%s", failures(out))
	require.Contains(t, s.Stderr(), "sync_all_users: resuming the batch started ")
	require.True(t, out.Resumed)
	done := 0
	for _, u := range out.Users {
		want := count(t, filepath.Join(tr.src, u.User))
		switch u.Status {
		case batch.StatusDone:
			done++
			require.Equal(t, want, had[u.User], "%s was finished", u.User)
			batchtest.RequireSame(t, snaps[u.User], batchtest.Snapshot(t, filepath.Join(tr.dst, u.User)), u.User+" is not synced again")
		case batch.StatusOK:
			require.EqualValues(t, want-had[u.User], u.Counts["appended"], "%s copies what its target lacks, nothing again: %d in the source, %d in the target; %+v; skipped %v, conflicts %v",
				u.User, want, had[u.User], u.Counts, u.Report.Skipped, u.Report.Conflicts)
		default:
			t.Fatalf("%s: %s %s", u.User, u.Status, u.Reason)
		}
		tr.requireMirrored(t, u.User)
	}
	require.GreaterOrEqual(t, done, doneBefore, "the users finished before the interruption")
	require.Less(t, done, len(users), "some users were left to do")
}

// TestKillAndResume kills the program (SIGKILL) in the middle of a batch
// and runs it again: nothing lost, nothing copied twice, finished users
// not synced again.
func TestKillAndResume(t *testing.T) {
	tr, users, args := resumeSetup(t)
	s := batchtest.Start(t, binary, args...)
	doneBefore := waitUsers(t, s, 3)
	require.NoError(t, s.Cmd.Process.Signal(syscall.SIGKILL))
	require.Equal(t, -1, s.Wait(t))
	require.Empty(t, s.Stdout(), "killed before the report")
	t.Logf("killed with %d users done", doneBefore)
	batchtest.NameDeadHolder(t, tr.dst, s.Cmd.Process.Pid)
	// Restart at once, as an operator would: the sync settles each target
	// mailbox first (the files of the batch the kill interrupted get
	// their UIDs, the dead process's lock taken over), so they are found
	// and not copied again.
	checkResume(t, tr, users, args, doneBefore)
}

// TestInterruptAndResume interrupts the program (SIGINT) in the middle of
// a batch: it stops gracefully, reports, exits with status 1, and a new
// run resumes.
func TestInterruptAndResume(t *testing.T) {
	tr, users, args := resumeSetup(t)
	s := batchtest.Start(t, binary, args...)
	doneBefore := waitUsers(t, s, 2)
	sent := time.Now()
	require.NoError(t, s.Cmd.Process.Signal(syscall.SIGINT))
	code := s.Wait(t)
	require.Less(t, time.Since(sent), 10*time.Second, "a graceful stop is quick")
	require.Equal(t, exitFailed, code, batchtest.Tail(s.Stderr(), 10))
	require.Contains(t, s.Stderr(), "interrupt: stopping: finishing the messages in flight")
	out := decode(t, s.Stdout())
	require.True(t, out.Stopped)
	var stopped int
	for _, u := range out.Users {
		switch u.Status {
		case batch.StatusStopped, batch.StatusPending:
			stopped++
			require.Contains(t, u.Reason, "stop")
		case batch.StatusOK:
		default:
			t.Fatalf("%s: %s %s", u.User, u.Status, u.Reason)
		}
	}
	require.Positive(t, stopped)
	checkResume(t, tr, users, args, doneBefore)
}

// failures lists the users that did not succeed, for a test's message.
func failures(out jsonOutput) string {
	var b strings.Builder
	for _, u := range out.Users {
		if !u.Status.Succeeded() {
			fmt.Fprintf(&b, "%s: %s: %s\n", u.User, u.Status, u.Reason)
		}
	}
	return b.String()
}
