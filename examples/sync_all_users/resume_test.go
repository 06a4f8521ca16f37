package main

import (
	"bufio"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mailrepl/mailrepl/internal/batch"
	"github.com/stretchr/testify/require"
)

// started is the program running as a subprocess.
type started struct {
	cmd    *exec.Cmd
	stdout strings.Builder
	mu     sync.Mutex
	stderr strings.Builder
	done   chan struct{} // closed when stderr is read to its end
}

func start(t *testing.T, args ...string) *started {
	t.Helper()
	s := &started{cmd: exec.Command(binary, args...), done: make(chan struct{})}
	s.cmd.Stdout = &s.stdout
	pipe, err := s.cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, s.cmd.Start())
	t.Cleanup(func() { s.cmd.Process.Kill() })
	go func() {
		defer close(s.done)
		sc := bufio.NewScanner(pipe)
		for sc.Scan() {
			s.mu.Lock()
			s.stderr.WriteString(sc.Text() + "\n")
			s.mu.Unlock()
		}
	}()
	return s
}

func (s *started) errOutput() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stderr.String()
}

var usersDone = regexp.MustCompile(`(?m)^progress: users (\d+)/(\d+)`)

// waitUsers waits until the progress says at least n users are done, and
// returns how many it says.
func (s *started) waitUsers(t *testing.T, n int) int {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		all := usersDone.FindAllStringSubmatch(s.errOutput(), -1)
		if len(all) > 0 {
			done, _ := strconv.Atoi(all[len(all)-1][1])
			if done >= n {
				return done
			}
		}
		select {
		case <-s.done:
			t.Fatalf("the program ended before %d users were done:\n%s", n, tail(s.errOutput(), 10))
		case <-time.After(5 * time.Millisecond):
		}
	}
	t.Fatalf("no progress to %d users:\n%s", n, tail(s.errOutput(), 10))
	return 0
}

// wait waits for the program's end and returns its exit status.
func (s *started) wait(t *testing.T) int {
	t.Helper()
	<-s.done
	err := s.cmd.Wait()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode() // -1 when killed by a signal
	}
	require.NoError(t, err)
	return 0
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
		snaps[u] = snapshot(t, filepath.Join(tr.dst, u))
	}
	s := start(t, args...)
	code := s.wait(t)
	out := decode(t, s.stdout.String())
	require.Equal(t, exitOK, code, "%s", failures(out))
	require.Contains(t, s.errOutput(), "sync_all_users: resuming the batch started ")
	require.True(t, out.Resumed)
	done := 0
	for _, u := range out.Users {
		want := count(t, filepath.Join(tr.src, u.User))
		switch u.Status {
		case batch.StatusDone:
			done++
			require.Equal(t, want, had[u.User], "%s was finished", u.User)
			requireSame(t, snaps[u.User], snapshot(t, filepath.Join(tr.dst, u.User)), u.User+" is not synced again")
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
	s := start(t, args...)
	doneBefore := s.waitUsers(t, 3)
	require.NoError(t, s.cmd.Process.Signal(syscall.SIGKILL))
	require.Equal(t, -1, s.wait(t))
	require.Empty(t, s.stdout.String(), "killed before the report")
	t.Logf("killed with %d users done", doneBefore)
	nameDeadHolder(t, tr.dst, s.cmd.Process.Pid)
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
	s := start(t, args...)
	doneBefore := s.waitUsers(t, 2)
	sent := time.Now()
	require.NoError(t, s.cmd.Process.Signal(syscall.SIGINT))
	code := s.wait(t)
	require.Less(t, time.Since(sent), 10*time.Second, "a graceful stop is quick")
	require.Equal(t, exitFailed, code, tail(s.errOutput(), 10))
	require.Contains(t, s.errOutput(), "interrupt: stopping: finishing the messages in flight")
	out := decode(t, s.stdout.String())
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

// nameDeadHolder handles the dovecot-uidlist locks the killed process
// left. A lock naming its holder ("<pid>:<host>") is taken at once once
// the holder is dead; but a lock killed while it held the new uidlist
// being written (Dovecot's way: the lock file becomes the new uidlist)
// names no one, and is taken as stale only after 2 minutes without a
// change, as Dovecot does. Resuming is the test here, not that wait: such
// a lock is made to name the dead holder.
func nameDeadHolder(t *testing.T, dir string, pid int) {
	t.Helper()
	host, err := os.Hostname()
	require.NoError(t, err)
	holder := fmt.Sprintf("%d:%s", pid, host)
	require.NoError(t, filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !strings.HasSuffix(p, ".lock") {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil || string(b) == holder {
			return err
		}
		t.Logf("%s holds %d bytes, not its holder: naming the dead holder", p, len(b))
		return os.WriteFile(p, []byte(holder), 0o600)
	}))
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

// tail returns the last lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
