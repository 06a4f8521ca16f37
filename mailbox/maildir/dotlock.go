package maildir

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/mailrepl/mailrepl/mailbox"
)

// Dotlocks, as Dovecot takes them (src/lib/file-dotlock.c with
// dotlock_use_excl=yes, its default): the lock of file F is the file
// "F.lock", created with O_EXCL and holding "<pid>:<hostname>". The holder
// deletes it when done. Someone waiting for it overrides (deletes) it as
// stale when
//
//   - it names a process on this host that no longer exists, and is more
//     than 2 seconds old; or
//   - neither it nor F has changed for staleTimeout (Dovecot: 2 minutes for
//     dovecot-uidlist and dovecot-keywords, 30 seconds for subscriptions).
//
// So a holder that keeps a lock for long touches it (updates its mtime)
// now and then. Waiters poll, first every 0.1-0.2 s and then more slowly,
// up to every 3 s, and give up after the timeout.
//
// Within one process, a second lock of the same file would look like its
// own stale lock (same pid); an in-process mutex per lock path keeps
// goroutines and stores of this process in line before they touch the
// file.

// lockSettings are the timings of one kind of dotlock.
type lockSettings struct {
	timeout      time.Duration // give up waiting after this long
	staleTimeout time.Duration // override a lock unchanged this long

	// clock, if set, replaces time.Now in the staleness checks (tests:
	// a lock file's ctime cannot be set into the past).
	clock func() time.Time
}

var (
	uidlistLockSettings = lockSettings{timeout: 122 * time.Second, staleTimeout: 120 * time.Second}
	subsLockSettings    = lockSettings{timeout: 120 * time.Second, staleTimeout: 30 * time.Second}
)

// stalePIDCheck is how old a lock must be before its PID is checked.
const stalePIDCheck = 2 * time.Second

// touchEvery is how often a lock held for long is touched (Dovecot:
// MAILDIR_LOCK_TOUCH_SECS).
const touchEvery = 10 * time.Second

// errLockTimeout is wrapped, with mailbox.ErrTransient, by the error of a
// lock not had in time.
var errLockTimeout = errors.New("timed out waiting for the lock")

// inprocLocks serializes this process's holders of one lock path.
var inprocLocks sync.Map // lock path → chan struct{} (1-buffered)

func inprocAcquire(ctx context.Context, lockPath string, timeout time.Duration) (release func(), err error) {
	v, _ := inprocLocks.LoadOrStore(lockPath, make(chan struct{}, 1))
	ch := v.(chan struct{})
	select {
	case ch <- struct{}{}:
		return func() { <-ch }, nil
	default:
	}
	if timeout <= 0 {
		return nil, fmt.Errorf("%w: %w: %s is held in this process", mailbox.ErrTransient, errLockTimeout, lockPath)
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case ch <- struct{}{}:
		return func() { <-ch }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-t.C:
		return nil, fmt.Errorf("%w: %w: %s held in this process for more than %v", mailbox.ErrTransient, errLockTimeout, lockPath, timeout)
	}
}

// dotlock is a dotlock held by this process.
type dotlock struct {
	path, lockPath string
	dev, ino       uint64
	mtime          int64 // seconds, as last set by us
	fd             *os.File
	release        func()
}

// lockIdentity is the pid:host a dotlock of ours holds.
func lockIdentity() string {
	h, _ := os.Hostname()
	return strconv.Itoa(os.Getpid()) + ":" + h
}

// changeInfo follows one file's changes while waiting for a lock.
type changeInfo struct {
	dev, ino     uint64
	size         int64
	ctime, mtime int64
}

// update records st and moves lastChange forward when the file changed,
// as Dovecot's update_change_info does. It reports whether it changed.
func (c *changeInfo) update(st *syscall.Stat_t, lastChange *int64, now int64) bool {
	ctime, mtime := st.Ctim.Sec, st.Mtim.Sec
	if c.ino == st.Ino && c.dev == uint64(st.Dev) && c.ctime == ctime && c.mtime == mtime && c.size == st.Size {
		return false
	}
	changeTime := now
	if c.ctime == 0 {
		// First look: the file's own change time, or its mtime when
		// later but not in the future.
		changeTime = ctime
		if mtime <= now && mtime > ctime {
			changeTime = mtime
		}
	}
	if *lastChange < changeTime {
		*lastChange = changeTime
	}
	*c = changeInfo{dev: uint64(st.Dev), ino: st.Ino, size: st.Size, ctime: ctime, mtime: mtime}
	return true
}

// lockWaiter is the state of one wait for a lock.
type lockWaiter struct {
	path, lockPath string
	set            lockSettings
	lock, file     changeInfo
	lastChange     int64
	pidRead        bool
	havePID        bool
	pid            int
	lastPIDCheck   int64
}

// check looks at the current lock file: it returns true when there is
// none (any more: a stale one is deleted here) and the caller may try to
// create it.
func (w *lockWaiter) check(now int64) (bool, error) {
	st, err := lstat(w.lockPath)
	if errors.Is(err, fs.ErrNotExist) {
		return true, nil
	} else if err != nil {
		return false, err
	}
	changed := w.lock.update(st, &w.lastChange, now)
	switch {
	case changed || !w.pidRead:
		w.pid = -1
		if w.lock.mtime >= now-int64(stalePIDCheck/time.Second) {
			w.pidRead = false
		} else {
			w.pid = readLockPID(w.lockPath)
			w.pidRead = true
		}
		w.havePID = w.pid != -1
	case !w.havePID:
	default:
		if w.lastPIDCheck == now {
			return false, nil
		}
		w.pid = readLockPID(w.lockPath)
		w.havePID = w.pid != -1
	}
	if w.havePID {
		w.lastPIDCheck = now
		if processExists(w.pid) && w.pid != os.Getpid() {
			return false, nil
		}
		// Gone (or ours, left over: this process holds the in-process
		// lock, so no goroutine of ours has it).
		st, err := lstat(w.lockPath)
		if errors.Is(err, fs.ErrNotExist) {
			return true, nil
		} else if err != nil {
			return false, err
		}
		if w.lock.update(st, &w.lastChange, now) {
			return true, nil // changed meanwhile: try again
		}
		return true, removeIfExists(w.lockPath)
	}
	if now > w.lastChange+int64(w.set.staleTimeout/time.Second) {
		st, err := stat(w.path)
		switch {
		case err == nil:
			w.file.update(st, &w.lastChange, now)
		case !errors.Is(err, fs.ErrNotExist):
			return false, err
		}
	}
	if now > w.lastChange+int64(w.set.staleTimeout/time.Second) {
		return true, removeIfExists(w.lockPath) // unchanged for too long
	}
	return false, nil
}

// readLockPID returns the pid a lock file names if it names this host,
// else -1.
func readLockPID(lockPath string) int {
	f, err := os.Open(lockPath)
	if err != nil {
		return -1
	}
	defer f.Close()
	buf := make([]byte, 511)
	n, _ := f.Read(buf)
	s := strings.TrimSuffix(string(buf[:n]), "\n")
	pidStr, host, ok := strings.Cut(s, ":")
	if !ok {
		return -1
	}
	if h, _ := os.Hostname(); host != h {
		return -1
	}
	pid, err := strconv.Atoi(pidStr)
	if err != nil || pid <= 0 {
		return -1
	}
	return pid
}

func processExists(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || !errors.Is(err, syscall.ESRCH)
}

// acquireDotlock takes the dotlock of path. With keepOpen, the lock file
// is left open and empty for the caller to write the file's new content
// into (see replace); else it holds "<pid>:<host>". It waits, checking ctx,
// until it has the lock or set.timeout passes (an error wrapping
// mailbox.ErrTransient).
func acquireDotlock(ctx context.Context, path string, set lockSettings, mode fs.FileMode, keepOpen bool) (*dotlock, error) {
	lockPath := path + ".lock"
	start := time.Now()
	release, err := inprocAcquire(ctx, lockPath, set.timeout)
	if err != nil {
		return nil, err
	}
	set.timeout -= time.Since(start)
	l, err := acquireFileLock(ctx, path, lockPath, set, mode, keepOpen)
	if err != nil {
		release()
		return nil, err
	}
	l.release = release
	return l, nil
}

func acquireFileLock(ctx context.Context, path, lockPath string, set lockSettings, mode fs.FileMode, keepOpen bool) (*dotlock, error) {
	w := &lockWaiter{path: path, lockPath: lockPath, set: set}
	start := time.Now()
	deadline := start.Add(set.timeout)
	wait := randomWait()
	prevLastChange := int64(0)
	prevWaitUpdate := int64(0)
	for first := true; ; first = false {
		now := time.Now()
		if !first {
			if w.lastChange != prevLastChange {
				wait = randomWait()
				prevLastChange = w.lastChange
				prevWaitUpdate = now.Unix()
			} else if prevWaitUpdate != now.Unix() && wait < 3*time.Second {
				prevWaitUpdate = now.Unix()
				wait += wait / 2
			}
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return nil, ctx.Err()
			case <-t.C:
			}
			now = time.Now()
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		checkTime := now
		if set.clock != nil {
			checkTime = set.clock()
		}
		free, err := w.check(checkTime.Unix())
		if err != nil {
			return nil, err
		}
		if free {
			l, err := createLockFile(path, lockPath, mode, keepOpen)
			if err == nil {
				return l, nil
			}
			if !errors.Is(err, fs.ErrExist) {
				return nil, err
			}
		}
		if !time.Now().Before(deadline) {
			return nil, fmt.Errorf("%w: %w: %s held for more than %v", mailbox.ErrTransient, errLockTimeout, lockPath, set.timeout)
		}
	}
}

func randomWait() time.Duration {
	return 100*time.Millisecond + rand.N(100*time.Millisecond)
}

func createLockFile(path, lockPath string, mode fs.FileMode, keepOpen bool) (*dotlock, error) {
	f, err := os.OpenFile(lockPath, os.O_RDWR|os.O_CREATE|os.O_EXCL, mode&0o666)
	if err != nil {
		return nil, err
	}
	if !keepOpen {
		if _, err := f.WriteString(lockIdentity()); err != nil {
			// Dovecot leaves the lock empty then; so do we.
			_ = f.Truncate(0)
		}
	}
	st, err := fstat(f)
	if err != nil {
		f.Close()
		os.Remove(lockPath)
		return nil, err
	}
	l := &dotlock{path: path, lockPath: lockPath, dev: uint64(st.Dev), ino: st.Ino, mtime: st.Mtim.Sec}
	if keepOpen {
		l.fd = f
		return l, nil
	}
	if err := f.Close(); err != nil {
		os.Remove(lockPath)
		return nil, err
	}
	return l, nil
}

// touch updates the lock's mtime so that waiters do not take it as stale;
// it does nothing when it was touched this second.
func (l *dotlock) touch() error {
	now := time.Now()
	if now.Unix() == l.mtime {
		return nil
	}
	if err := os.Chtimes(l.lockPath, now, now); err != nil {
		return err
	}
	l.mtime = now.Unix()
	return nil
}

// stillOurs reports whether the lock file is still the one we created.
func (l *dotlock) stillOurs() bool {
	st, err := lstat(l.lockPath)
	return err == nil && st.Ino == l.ino && uint64(st.Dev) == l.dev
}

// unlock deletes the lock file if it is still ours, and reports whether
// it was (false: someone took it as stale, which the caller may want to
// log).
func (l *dotlock) unlock() bool {
	if l.fd != nil {
		l.fd.Close()
		l.fd = nil
	}
	ours := l.stillOurs()
	if ours {
		os.Remove(l.lockPath)
	}
	if l.release != nil {
		l.release()
		l.release = nil
	}
	return ours
}

// replace makes the lock file, which the caller has written through l.fd,
// the new content of the protected file (fsync, then rename), and releases
// the lock.
func (l *dotlock) replace() error {
	defer func() {
		if l.release != nil {
			l.release()
			l.release = nil
		}
	}()
	err := l.fd.Sync()
	if cerr := l.fd.Close(); err == nil {
		err = cerr
	}
	l.fd = nil
	if err == nil && !l.stillOurs() {
		err = fmt.Errorf("lock %s was overridden", l.lockPath)
		return err
	}
	if err == nil {
		err = os.Rename(l.lockPath, l.path)
	}
	if err != nil {
		if l.stillOurs() {
			os.Remove(l.lockPath)
		}
		return err
	}
	return nil
}
