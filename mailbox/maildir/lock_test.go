package maildir

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/mailrepl/mailrepl/mailbox"
	"github.com/mailrepl/mailrepl/uid"
)

func hostname() string { h, _ := os.Hostname(); return h }

// deadPID returns the pid of a process that has exited.
func deadPID(t *testing.T) int {
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	return cmd.Process.Pid
}

func TestStaleLocks(t *testing.T) {
	for _, tc := range []struct {
		name    string
		content func(t *testing.T) string
		age     time.Duration
		later   bool // look from 3 minutes later
	}{
		// Dovecot overrides a lock whose process is gone once it is more
		// than 2 seconds old...
		{"dead process", func(t *testing.T) string { return fmt.Sprintf("%d:%s", deadPID(t), hostname()) }, 5 * time.Second, false},
		// ...and any lock that, like the file it protects, has not
		// changed for 2 minutes.
		{"old, other host", func(t *testing.T) string { return "1:elsewhere.example" }, 3 * time.Minute, true},
		{"old, empty", func(t *testing.T) string { return "" }, 3 * time.Minute, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			s := openTest(t, root, &Options{LockTimeout: 10 * time.Second})
			appendMsg(t, s, "INBOX", "x\n")
			if tc.later {
				// The lock's ctime is now and cannot be set back: look
				// at it from 3 minutes later instead.
				s.lockSet.clock = func() time.Time { return time.Now().Add(3 * time.Minute) }
			}
			old := time.Now().Add(-tc.age)
			os.Chtimes(filepath.Join(root, uidlistName), old, old)
			lock := filepath.Join(root, uidlistName+".lock")
			if err := os.WriteFile(lock, []byte(tc.content(t)), 0o600); err != nil {
				t.Fatal(err)
			}
			os.Chtimes(lock, old, old)
			start := time.Now()
			appendMsg(t, s, "INBOX", "y\n")
			if d := time.Since(start); d > 3*time.Second {
				t.Errorf("took %v to override the stale lock", d)
			}
			if _, err := os.Stat(lock); err == nil {
				t.Error("lock left behind")
			}
		})
	}
}

func TestLiveLockWaitsThenFails(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	s := openTest(t, root, &Options{LockTimeout: 700 * time.Millisecond})
	appendMsg(t, s, "INBOX", "x\n")
	lock := filepath.Join(root, uidlistName+".lock")
	// A live process (the test's parent) holds it.
	content := []byte(strconv.Itoa(os.Getppid()) + ":" + hostname())
	if err := os.WriteFile(lock, content, 0o600); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err := s.Append(ctx, "INBOX", mailbox.BytesLiteral([]byte("y\n")), mailbox.AppendMeta{})
	checkErr(t, "append while locked", err, mailbox.ErrTransient, lock)
	if d := time.Since(start); d < 600*time.Millisecond {
		t.Errorf("gave up after %v", d)
	}
	if got, _ := os.ReadFile(lock); string(got) != string(content) {
		t.Errorf("the other's lock was touched: %q", got)
	}
	if ents, _ := os.ReadDir(filepath.Join(root, "tmp")); len(ents) != 0 {
		t.Errorf("tmp/ holds %v", ents)
	}
	// Released by its holder: the store goes on.
	ctx2, cancel := context.WithCancel(ctx)
	done := make(chan error)
	go func() {
		_, err := s.Append(ctx2, "INBOX", mailbox.BytesLiteral([]byte("z\n")), mailbox.AppendMeta{})
		done <- err
	}()
	time.Sleep(300 * time.Millisecond)
	os.Remove(lock)
	if err := <-done; err != nil {
		t.Errorf("append after the lock was released: %v", err)
	}
	cancel()
	// A cancelled context ends the wait at once.
	os.WriteFile(lock, content, 0o600)
	ctx3, cancel3 := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel3()
	_, err = s.Append(ctx3, "INBOX", mailbox.BytesLiteral([]byte("w\n")), mailbox.AppendMeta{})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("append with an expiring context: %v", err)
	}
	os.Remove(lock)
}

// TestLockContent checks that our lock is Dovecot's: "<pid>:<host>".
func TestLockContent(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	s := openTest(t, root, nil)
	b, err := s.Batch(ctx, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Append(ctx, mailbox.BytesLiteral([]byte("x\n")), mailbox.AppendMeta{}); err != nil {
		t.Fatal(err)
	}
	lock := filepath.Join(root, uidlistName+".lock")
	got, err := os.ReadFile(lock)
	if err != nil || string(got) != fmt.Sprintf("%d:%s", os.Getpid(), hostname()) {
		t.Errorf("lock holds %q, %v", got, err)
	}
	// A batch held long touches its lock.
	old := time.Now().Add(-time.Minute)
	os.Chtimes(lock, old, old)
	bb := b.(*batch)
	bb.dl.mtime = old.Unix()
	bb.lastTouch = old
	if _, err := b.Append(ctx, mailbox.BytesLiteral([]byte("y\n")), mailbox.AppendMeta{}); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(lock); err != nil || time.Since(fi.ModTime()) > 5*time.Second {
		t.Errorf("lock not touched: %v %v", fi.ModTime(), err)
	}
	if err := b.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(lock); err == nil {
		t.Error("lock left after commit")
	}
}

// TestConcurrentStores runs appends from several goroutines and two
// stores of one process on one tree: no UID is given twice and nothing is
// lost.
func TestConcurrentStores(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	s1 := openTest(t, root, nil)
	s2 := openTest(t, root, nil)
	var mu sync.Mutex
	uids := map[uid.UID]string{}
	var wg sync.WaitGroup
	for g := range 6 {
		s := s1
		if g%2 == 1 {
			s = s2
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 10 {
				body := fmt.Sprintf("Subject: %d-%d\n\nx\n", g, i)
				u, err := s.Append(ctx, "INBOX", mailbox.BytesLiteral([]byte(body)), mailbox.AppendMeta{})
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				if prev, dup := uids[u]; dup {
					t.Errorf("UID %d given to %q and %q", u, prev, body)
				}
				uids[u] = body
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	msgs := list(t, s1, "INBOX")
	if len(msgs) != 60 || len(uids) != 60 {
		t.Fatalf("listed %d, appended %d", len(msgs), len(uids))
	}
	for _, m := range msgs {
		if got := string(readMsg(t, s2, "INBOX", m.UID)); got != uids[m.UID] {
			t.Errorf("uid %d: %q, want %q", m.UID, got, uids[m.UID])
		}
	}
}

// TestReadsDuringBatch checks that while a batch holds the uidlist lock,
// its goroutine can still list, read and change flags in the mailbox
// without waiting (files delivered meanwhile by others wait for a later
// listing to get UIDs), and that only what needs the lock waits for it.
func TestReadsDuringBatch(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	s := openTest(t, root, &Options{LockTimeout: 300 * time.Millisecond})
	u1 := appendMsg(t, s, "INBOX", "Subject: before\n\nx\n", "kw")
	b, err := s.Batch(ctx, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	u2, err := b.Append(ctx, mailbox.BytesLiteral([]byte("Subject: in batch\n\nx\n")), mailbox.AppendMeta{})
	if err != nil {
		t.Fatal(err)
	}
	// Another program delivers a file meanwhile.
	os.WriteFile(filepath.Join(root, "new", "1700000000.M1P1.mda"), []byte("Subject: mda\n\nx\n"), 0o600)
	start := time.Now()
	if got := list(t, s, "INBOX"); len(got) != 1 || got[0].UID != u1 {
		t.Errorf("listed %v during the batch, want only UID %d", got, u1)
	}
	if _, err := s.Status(ctx, "INBOX"); err != nil {
		t.Error(err)
	}
	readMsg(t, s, "INBOX", u1)
	if err := s.StoreFlags(ctx, "INBOX", uid.SetOf(u1), mailbox.FlagsAdd, mailbox.MustFlags(mailbox.Seen, "kw")); err != nil {
		t.Error(err)
	}
	if d := time.Since(start); d > 250*time.Millisecond {
		t.Errorf("reads during the batch took %v", d)
	}
	// A new keyword needs the lock the batch holds.
	err = s.StoreFlags(ctx, "INBOX", uid.SetOf(u1), mailbox.FlagsAdd, mailbox.MustFlags("brandnew"))
	checkErr(t, "new keyword during a batch", err, mailbox.ErrTransient, "")
	if err := b.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	got := list(t, s, "INBOX")
	if len(got) != 3 || got[0].UID != u1 || got[1].UID != u2 || got[2].UID != u2+1 {
		t.Errorf("after the batch: %v", got)
	}
}

// TestSettle: a file delivered by a process that died before publishing
// its UID, with that process's lock left behind, is not listed (a listing
// does not wait for a lock); Settle waits for the lock, takes it over and
// publishes the UID, and the file is listed. A live holder makes Settle
// fail with ErrTransient after LockTimeout.
func TestSettle(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	s := openTest(t, root, &Options{LockTimeout: 10 * time.Second})
	appendMsg(t, s, "INBOX", "x\n")
	// The dead delivery: its file in cur/, its lock, no uidlist line.
	name := "1700000000.M1P1Q1.host,S=2,W=3:2,S"
	if err := os.WriteFile(filepath.Join(root, "cur", name), []byte("y\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	lock := filepath.Join(root, uidlistName+".lock")
	if err := os.WriteFile(lock, []byte(fmt.Sprintf("%d:%s", deadPID(t), hostname())), 0o600); err != nil {
		t.Fatal(err)
	}
	count := func() int {
		n := 0
		for _, err := range s.Messages(ctx, "INBOX", uid.All) {
			if err != nil {
				t.Fatal(err)
			}
			n++
		}
		return n
	}
	if n := count(); n != 1 {
		t.Fatalf("listed %d messages while the lock is held, want 1 (the file waits for its UID)", n)
	}
	if err := s.Settle(ctx, "INBOX"); err != nil {
		t.Fatal(err)
	}
	if n := count(); n != 2 {
		t.Fatalf("listed %d messages after Settle, want 2", n)
	}
	if err := s.Settle(ctx, "INBOX"); err != nil {
		t.Fatalf("a settled mailbox: %v", err)
	}

	// A live holder.
	s2 := openTest(t, t.TempDir(), &Options{LockTimeout: 500 * time.Millisecond})
	appendMsg(t, s2, "INBOX", "x\n")
	if err := os.WriteFile(filepath.Join(s2.root, "cur", name), []byte("y\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(s2.root, uidlistName+".lock"), []byte(strconv.Itoa(os.Getppid())+":"+hostname()), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := s2.Settle(ctx, "INBOX"); !errors.Is(err, mailbox.ErrTransient) {
		t.Fatalf("Settle under a live lock: %v, want ErrTransient", err)
	}
	if err := s2.Settle(ctx, "Nope"); !errors.Is(err, mailbox.ErrNotFound) {
		t.Fatalf("Settle of a missing mailbox: %v", err)
	}
}
