package replica

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"

	"github.com/mailrepl/mailrepl/mailbox"
	"github.com/mailrepl/mailrepl/mailbox/memstore"
	"github.com/mailrepl/mailrepl/uid"
)

// countingLimiter records what the engine waited for.
type countingLimiter struct {
	mu    sync.Mutex
	msgs  int
	bytes int64
}

func (l *countingLimiter) Wait(ctx context.Context, msgs int, bytes int64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.msgs += msgs
	l.bytes += bytes
	return ctx.Err()
}

func TestLimiterWaitsForEveryMessageAndByte(t *testing.T) {
	for _, mode := range []Mode{Mirror, TwoWay, Migrate} {
		t.Run(mode.String(), func(t *testing.T) {
			src, dst := newMem(t, nil), newMem(t, nil)
			var want int64
			for i := range 20 {
				mustAppend(t, src, mailbox.Inbox, strings.Repeat("x", i))
				want += int64(len(body(strings.Repeat("x", i))))
			}
			lim := &countingLimiter{}
			rep := mustSync(t, src, dst, &Options{Mode: mode, Limiter: lim})
			if lim.msgs != 20 || lim.bytes != want || rep.Total.Bytes != want {
				t.Errorf("waited for %d messages, %d bytes; copied %d bytes; want 20 messages, %d bytes", lim.msgs, lim.bytes, rep.Total.Bytes, want)
			}
		})
	}
}

// flipByte returns the body with one byte changed: same size, another
// EmailID.
func flipByte(rc io.ReadCloser) io.ReadCloser {
	b, _ := io.ReadAll(rc)
	rc.Close()
	b[len(b)/2] ^= 0x20
	return io.NopCloser(bytes.NewReader(b))
}

func TestCorruptSourceBodyIsNotReplicated(t *testing.T) {
	for _, plain := range []bool{false, true} {
		src, dst := newMem(t, nil), newMem(t, nil)
		for _, n := range []string{"a", "b", "c", "d"} {
			mustAppend(t, src, mailbox.Inbox, n)
		}
		w := &world{body: func(mbox string, u uid.UID, rc io.ReadCloser) io.ReadCloser {
			if u == 2 {
				return flipByte(rc)
			}
			return rc
		}}
		var target mailbox.Store = &faultStore{s: dst, w: w}
		if plain {
			target = plainStore{target}
		}
		state := NewMemState()
		s, err := New(&faultStore{s: src, w: w}, target, &Options{State: state})
		if err != nil {
			t.Fatal(err)
		}
		rep, err := s.Sync(context.Background())
		if err != nil {
			t.Fatalf("plain=%v: sync: %v", plain, err)
		}
		if rep.Total.Appended != 3 || rep.Total.Failed != 1 || len(rep.Failed) != 1 {
			t.Fatalf("plain=%v: %+v failed %v; want 3 copied, 1 failed", plain, rep.Total, rep.Failed)
		}
		f := rep.Failed[0]
		if f.UID != 2 || f.Side != "source" || !strings.Contains(f.Reason, "EmailID") {
			t.Errorf("plain=%v: failure %+v does not name source uid 2 and the EmailID", plain, f)
		}
		var ids []mailbox.EmailID
		for m, err := range dst.Messages(context.Background(), mailbox.Inbox, uid.All) {
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, m.EmailID)
		}
		for _, id := range ids {
			if id == mailbox.EmailIDOf(body("b")) || id == mailbox.EmailIDOf(bytes.Replace(body("b"), body("b")[len(body("b"))/2:len(body("b"))/2+1], nil, 1)) {
				t.Errorf("plain=%v: the corrupt message reached the target", plain)
			}
		}
		if len(ids) != 3 {
			t.Errorf("plain=%v: target holds %d messages, want 3", plain, len(ids))
		}
	}
}

func TestBrokenMailboxDoesNotStopTheOthers(t *testing.T) {
	ctx := context.Background()
	src, dst := newMem(t, nil), newMem(t, nil)
	for _, n := range []string{"A", "Bad", "C"} {
		mustCreate(t, src, n)
		mustAppend(t, src, n, "m-"+n)
	}
	w := &world{spy: func(op, mbox string, u uid.UID) error {
		if op == "messages" && mbox == "Bad" {
			return &mailbox.Error{Op: "list", Mailbox: mbox, Err: mailbox.ErrCorrupt}
		}
		return nil
	}}
	s, err := New(&faultStore{s: src, w: w}, dst, nil)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := s.Sync(ctx)
	if err == nil || !strings.Contains(err.Error(), `"Bad"`) {
		t.Fatalf("sync error %v, want one naming mailbox Bad", err)
	}
	for _, mb := range rep.Mailboxes {
		switch {
		case mb.Source == "Bad" && mb.Error == "":
			t.Errorf("mailbox Bad reports no error")
		case mb.Source != "Bad" && (mb.Error != "" || (mb.Appended != 1 && mb.Source != mailbox.Inbox)):
			t.Errorf("mailbox %s: %+v", mb.Source, mb)
		}
	}
	if rep.OK() {
		t.Error("report says OK")
	}
}

// TestIncrementalReadsOnlyChanges: with stores that track changes, a sync
// with nothing changed lists nothing, reads no body and writes nothing; a
// sync after one change asks for changes, not listings.
func TestIncrementalReadsOnlyChanges(t *testing.T) {
	ctx := context.Background()
	for _, mode := range []Mode{Mirror, TwoWay} {
		t.Run(mode.String(), func(t *testing.T) {
			src, dst := newMem(t, nil), newMem(t, nil)
			mustCreate(t, src, "Work")
			for i := range 30 {
				mustAppend(t, src, mailbox.Inbox, strings.Repeat("i", i+1))
				mustAppend(t, src, "Work", strings.Repeat("w", i+1))
			}
			state := NewMemState()
			mustSync(t, src, dst, &Options{Mode: mode, State: state})
			var mu sync.Mutex
			ops := map[string]int{}
			w := &world{spy: func(op, mbox string, u uid.UID) error {
				mu.Lock()
				ops[op]++
				mu.Unlock()
				return nil
			}}
			sync := func() *Report {
				ops = map[string]int{}
				s, err := New(&faultStore{s: src, w: w}, &faultStore{s: dst, w: w}, &Options{Mode: mode, State: faultState{state, w}})
				if err != nil {
					t.Fatal(err)
				}
				rep, err := s.Sync(ctx)
				if err != nil {
					t.Fatal(err)
				}
				return rep
			}
			rep := sync()
			for _, op := range []string{"open", "messages", "changes", "append", "flags", "expunge", "create", "resetuids", "setuidnext", "subscribe", "state"} {
				if ops[op] != 0 {
					t.Errorf("unchanged: %d %s calls (%v)", ops[op], op, ops)
				}
			}
			if rep.Total.Changed() {
				t.Errorf("unchanged: %+v", rep.Total)
			}
			if err := src.StoreFlags(ctx, "Work", uid.SetOf(7), mailbox.FlagsAdd, mailbox.MustFlags(mailbox.Seen)); err != nil {
				t.Fatal(err)
			}
			rep = sync()
			if ops["messages"] != 0 || ops["open"] != 0 || ops["changes"] != 2 || rep.Total.FlagChanges != 1 {
				t.Errorf("one flag changed: %+v, calls %v; want 2 changes calls, no listing, no body read, 1 flag change", rep.Total, ops)
			}
		})
	}
}

func TestDryRunChangesNothing(t *testing.T) {
	ctx := context.Background()
	src, dst := newMem(t, nil), newMem(t, nil)
	mustCreate(t, src, "Work")
	mustAppend(t, src, mailbox.Inbox, "a", mailbox.Seen)
	mustAppend(t, src, "Work", "b")
	state := NewMemState()
	mustSync(t, src, dst, &Options{State: state})
	mustAppend(t, src, mailbox.Inbox, "c")
	mustAppend(t, dst, mailbox.Inbox, "split")
	if err := src.Expunge(ctx, "Work", uid.SetOf(1)); err != nil {
		t.Fatal(err)
	}
	mustCreate(t, src, "New")
	mustAppend(t, src, "New", "n")
	beforeS, beforeD, commits := dump(t, src, true), dump(t, dst, true), state.Commits()
	var (
		mu      sync.Mutex
		planned []string
	)
	note := func(s string) {
		mu.Lock()
		defer mu.Unlock()
		planned = append(planned, s)
	}
	rep := mustSync(t, src, dst, &Options{State: state, DryRun: true,
		OnOp:        func(mb string, op Op) { note(mb + ": " + op.String()) },
		OnMailboxOp: func(op MailboxOp) { note(op.String()) }})
	if dump(t, src, true) != beforeS || dump(t, dst, true) != beforeD || state.Commits() != commits {
		t.Fatal("a dry run changed a store or the state")
	}
	if len(planned) != 3 || rep.Total.Appended != 1 || rep.Total.Expunged != 1 {
		t.Errorf("dry run planned %v, %+v", planned, rep.Total)
	}
	for _, mb := range rep.Mailboxes {
		if mb.Source == mailbox.Inbox && !strings.HasPrefix(mb.Realigned, "would realign") {
			t.Errorf("INBOX (split brain): %+v, want a realign announced", mb)
		}
	}
	// The real sync does what the dry run said, and more only where it
	// announced a realign.
	real := mustSync(t, src, dst, &Options{State: state})
	if real.Total.Appended < rep.Total.Appended || real.Total.Expunged != rep.Total.Expunged {
		t.Errorf("real sync %+v, dry run %+v", real.Total, rep.Total)
	}
	t.Logf("dry run:\n%s", strings.Join(planned, "\n"))
}

// TestStorageLossIsNotPropagated: a side restored from an old copy (its
// newest messages gone, UIDNEXT back) or rebuilt (a new UIDVALIDITY, or
// emptied) must not make the other side lose anything: what it lacks is
// copied back to it, in every mode that writes both ways or follows the
// source.
func TestStorageLossIsNotPropagated(t *testing.T) {
	ctx := context.Background()
	type loss struct {
		name string
		// do damages s; backup is a copy of s taken before its last 3
		// messages arrived. It returns the store to sync from now on.
		do func(t *testing.T, s, backup *memstore.Store) *memstore.Store
	}
	losses := []loss{
		{"restored from an old copy", func(t *testing.T, s, backup *memstore.Store) *memstore.Store {
			return backup
		}},
		{"index rebuilt, all mail gone", func(t *testing.T, s, backup *memstore.Store) *memstore.Store {
			info, _ := s.Status(ctx, mailbox.Inbox)
			if err := s.ResetUIDs(ctx, mailbox.Inbox, info.UIDValidity+77, nil); err != nil {
				t.Fatal(err)
			}
			return s
		}},
	}
	for _, l := range losses {
		for _, tc := range []struct {
			mode Mode
			side Side
		}{{TwoWay, Target}, {TwoWay, Source}, {Mirror, Target}, {Mirror, Source}} {
			t.Run(fmt.Sprintf("%s/%s/%s", tc.mode, tc.side, l.name), func(t *testing.T) {
				src, dst := newMem(t, nil), newMem(t, nil)
				for i := range 10 {
					mustAppend(t, src, mailbox.Inbox, fmt.Sprintf("m%d", i))
				}
				state := NewMemState()
				mustSync(t, src, dst, &Options{Mode: tc.mode, State: state})
				victim := dst
				if tc.side == Source {
					victim = src
				}
				backup, err := victim.Clone()
				if err != nil {
					t.Fatal(err)
				}
				for i := range 3 {
					mustAppend(t, src, mailbox.Inbox, fmt.Sprintf("late%d", i))
				}
				mustSync(t, src, dst, &Options{Mode: tc.mode, State: state})
				want := dump(t, src, false)
				if tc.side == Source {
					src = l.do(t, victim, backup)
				} else {
					dst = l.do(t, victim, backup)
				}
				rep := mustSync(t, src, dst, &Options{Mode: tc.mode, State: state})
				if got := dump(t, src, false); got != want {
					t.Errorf("source after the sync:\n%s\nwant:\n%s", got, want)
				}
				if got := dump(t, dst, false); got != want {
					t.Errorf("target after the sync:\n%s\nwant:\n%s", got, want)
				}
				if rep.Total.Expunged+rep.Total.ExpungedSource != 0 {
					t.Errorf("the sync expunged %+v", rep.Total)
				}
			})
		}
	}
}

// TestStopIsGraceful: a sync stopped through Options.Stop finishes the
// message in flight, commits what it copied, and a second sync copies the
// rest without a duplicate.
func TestStopIsGraceful(t *testing.T) {
	src, dst := newMem(t, nil), newMem(t, nil)
	for i := range 200 {
		mustAppend(t, src, mailbox.Inbox, fmt.Sprintf("s%d", i))
	}
	state := NewMemState()
	stop := make(chan struct{})
	var once sync.Once
	copied := 0
	s, err := New(src, dst, &Options{State: state, Stop: stop, BatchMessages: 16, Progress: func(int, int64) {
		copied++
		if copied == 50 {
			once.Do(func() { close(stop) })
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := s.Sync(context.Background())
	if !errors.Is(err, ErrStopped) {
		t.Fatalf("stopped sync: %v, want ErrStopped", err)
	}
	n := 0
	for range dst.Messages(context.Background(), mailbox.Inbox, uid.All) {
		n++
	}
	if n < 50 || n >= 200 || rep.Total.Appended != n {
		t.Fatalf("stopped after %d copies: target holds %d, report says %d", copied, n, rep.Total.Appended)
	}
	rep = mustSync(t, src, dst, &Options{State: state})
	if rep.Total.Appended != 200-n || rep.Total.Paired != 0 {
		t.Errorf("resumed sync: %+v, want %d copied and nothing paired", rep.Total, 200-n)
	}
	if got, want := dump(t, dst, true), dump(t, src, true); got != want {
		t.Errorf("after resuming:\n%s\nwant:\n%s", got, want)
	}
}

// TestTombstones: an expunge a user made leaves a tombstone; an expunge of
// one copy while another copy of the message stays does not.
func TestTombstones(t *testing.T) {
	ctx := context.Background()
	src, dst := newMem(t, nil), newMem(t, nil)
	mustAppend(t, src, mailbox.Inbox, "a")
	mustAppend(t, src, mailbox.Inbox, "b")
	mustAppend(t, src, mailbox.Inbox, "b") // a second copy of b
	state := NewMemState()
	mustSync(t, src, dst, &Options{State: state, User: "u"})
	if err := src.Expunge(ctx, mailbox.Inbox, uid.SetOf(1, 2)); err != nil {
		t.Fatal(err)
	}
	rep := mustSync(t, src, dst, &Options{State: state, User: "u"})
	if rep.Total.Expunged != 2 {
		t.Fatalf("%+v", rep.Total)
	}
	ts := state.Tombstones("u")
	if len(ts) != 1 || ts[0].EmailID != mailbox.EmailIDOf(body("a")) {
		t.Fatalf("tombstones %+v, want one, for a (b still has a copy)", ts)
	}
}
