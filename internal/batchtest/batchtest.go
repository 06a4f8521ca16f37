// Package batchtest holds what the tests of mailrepl's batch programs
// share: snapshots of directory trees, to prove that a run changed
// nothing; a program run as a subprocess, to kill or interrupt it midway;
// and the handling of the dovecot-uidlist locks a killed run leaves.
package batchtest

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Snapshot describes every file below dir (mode, size, time, a digest of
// its bytes), to tell whether anything changed. A missing dir is empty.
func Snapshot(t testing.TB, dir string) map[string]string {
	t.Helper()
	m := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if os.IsNotExist(err) {
				return nil
			}
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		desc := fmt.Sprintf("%v %d %d", fi.Mode(), fi.Size(), fi.ModTime().UnixNano())
		if fi.Mode().IsRegular() {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			sum := sha256.Sum256(b)
			desc += " " + hex.EncodeToString(sum[:8])
		}
		m[p] = desc
		return nil
	})
	require.NoError(t, err)
	return m
}

// RequireSame fails when two snapshots differ, naming the paths that do,
// leaving out those below any of ignore.
func RequireSame(t testing.TB, before, after map[string]string, msg string, ignore ...string) {
	t.Helper()
	skip := func(p string) bool {
		return slices.ContainsFunc(ignore, func(i string) bool { return strings.HasPrefix(p, i) })
	}
	var diffs []string
	for p, b := range before {
		if a, ok := after[p]; !skip(p) && (!ok || a != b) {
			diffs = append(diffs, fmt.Sprintf("%s: %q → %q", p, b, a))
		}
	}
	for p, a := range after {
		if _, ok := before[p]; !ok && !skip(p) {
			diffs = append(diffs, fmt.Sprintf("%s: new (%q)", p, a))
		}
	}
	slices.Sort(diffs)
	if len(diffs) > 0 {
		t.Fatalf("%s: %d paths changed:\n%s", msg, len(diffs), strings.Join(diffs[:min(len(diffs), 20)], "\n"))
	}
}

// Process is a program running as a subprocess, its standard error read
// as it comes (the progress lines) and its standard output kept.
type Process struct {
	Cmd    *exec.Cmd
	stdout strings.Builder
	mu     sync.Mutex
	stderr strings.Builder
	done   chan struct{} // closed when stderr is read to its end
}

// Start starts bin with args; the test's end kills it if it still runs.
func Start(t testing.TB, bin string, args ...string) *Process {
	t.Helper()
	p := &Process{Cmd: exec.Command(bin, args...), done: make(chan struct{})}
	p.Cmd.Stdout = &p.stdout
	pipe, err := p.Cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, p.Cmd.Start())
	t.Cleanup(func() { p.Cmd.Process.Kill() })
	go func() {
		defer close(p.done)
		sc := bufio.NewScanner(pipe)
		for sc.Scan() {
			p.mu.Lock()
			p.stderr.WriteString(sc.Text() + "\n")
			p.mu.Unlock()
		}
	}()
	return p
}

// Stderr returns the standard error so far.
func (p *Process) Stderr() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stderr.String()
}

// Stdout returns the standard output; call it after Wait.
func (p *Process) Stdout() string { return p.stdout.String() }

// WaitFor waits until match accepts the standard error so far, and fails
// the test when the program ends first or nothing matches within timeout.
func (p *Process) WaitFor(t testing.TB, timeout time.Duration, what string, match func(stderr string) bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if match(p.Stderr()) {
			return
		}
		select {
		case <-p.done:
			if match(p.Stderr()) {
				return
			}
			t.Fatalf("the program ended before %s:\n%s", what, Tail(p.Stderr(), 10))
		case <-time.After(5 * time.Millisecond):
		}
	}
	t.Fatalf("no %s within %v:\n%s", what, timeout, Tail(p.Stderr(), 10))
}

// WaitForMatch waits until re matches the standard error (see WaitFor).
func (p *Process) WaitForMatch(t testing.TB, re *regexp.Regexp) {
	t.Helper()
	p.WaitFor(t, 30*time.Second, re.String(), re.MatchString)
}

// Wait waits for the program's end and returns its exit status (-1 when
// a signal killed it).
func (p *Process) Wait(t testing.TB) int {
	t.Helper()
	<-p.done
	err := p.Cmd.Wait()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	require.NoError(t, err)
	return 0
}

// Tail returns the last n lines of s.
func Tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// NameDeadHolder makes every dovecot-uidlist lock below dir that a killed
// process left name that process. A lock naming its holder ("<pid>:<host>")
// is taken over at once once the holder is dead; but a lock killed while it
// held the new uidlist being written (Dovecot's way: the lock file becomes
// the new uidlist) names no one, and is taken as stale only after 2
// minutes without a change, as Dovecot does. Resuming is what the tests
// check, not that wait.
func NameDeadHolder(t testing.TB, dir string, pid int) {
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

// DecodeJSON decodes a program's -json output strictly: no field the
// type lacks, and nothing after the one JSON value.
func DecodeJSON[T any](t testing.TB, stdout string) T {
	t.Helper()
	var out T
	dec := json.NewDecoder(strings.NewReader(stdout))
	dec.DisallowUnknownFields()
	require.NoError(t, dec.Decode(&out), "stdout: %s", stdout)
	_, err := dec.Token()
	require.ErrorIs(t, err, io.EOF, "nothing after the JSON on stdout")
	return out
}
