package journal

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/mailrepl/mailrepl/mailbox"
	"github.com/mailrepl/mailrepl/uid"
	"github.com/stretchr/testify/require"
)

func TestAppendAndEvents(t *testing.T) {
	dir := t.TempDir()
	j := openTest(t, dir)
	a := ev("alice", "INBOX", KindAppend)
	a.UIDs = uid.MustParseSet("1:3,7")
	a.EmailIDs = []mailbox.EmailID{emailID(1), emailID(2)}
	a.Flags = mailbox.MustFlags(mailbox.Seen, "$Work")
	a.UIDValidity = 42
	a.ModSeq = 9
	a.Origin = "replica-b"
	r := ev("alice", "Work", KindRename)
	r.OldName = "Job"
	last, err := j.Append(bg, a, r)
	require.NoError(t, err)
	require.Equal(t, Seq(2), last)
	last, err = j.Append(bg, ev("bob", "INBOX", KindCreate))
	require.NoError(t, err)
	require.Equal(t, Seq(3), last)

	got := collect(t, j.Events(bg, 0))
	require.Len(t, got, 3)
	require.Equal(t, Seq(1), got[0].Seq)
	require.Equal(t, KindAppend, got[0].Kind)
	require.Equal(t, "1:3,7", got[0].UIDs.String())
	require.Equal(t, a.EmailIDs, got[0].EmailIDs)
	require.True(t, got[0].Flags.Equal(a.Flags))
	require.Equal(t, "replica-b", got[0].Origin)
	require.False(t, got[0].Time.IsZero(), "Append fills in the time")
	require.Equal(t, "Job", got[1].OldName)
	require.Equal(t, Seq(3), got[2].Seq)

	require.Len(t, collect(t, j.Events(bg, 2)), 1)
	require.Empty(t, collect(t, j.Events(bg, 3)))
	require.Empty(t, collect(t, j.Events(bg, 99)))

	// Numbers go on after a restart.
	require.NoError(t, j.Close())
	j = openTest(t, dir)
	require.Equal(t, Seq(3), j.LastSeq())
	last, err = j.Append(bg, ev("bob", "INBOX", KindDelete))
	require.NoError(t, err)
	require.Equal(t, Seq(4), last)
}

func TestAppendRejectsBadEvents(t *testing.T) {
	j := openTest(t, t.TempDir())
	tests := []struct {
		name string
		ev   Event
	}{
		{"no kind", Event{Mailbox: "INBOX"}},
		{"unknown kind", Event{Kind: 99, Mailbox: "INBOX"}},
		{"no mailbox", Event{Kind: KindAppend, User: "u"}},
		{"bad name", Event{Kind: KindAppend, Mailbox: "../x"}},
		{"rename without old name", Event{Kind: KindRename, Mailbox: "a"}},
		{"bad flag op", Event{Kind: KindFlags, Mailbox: "a", FlagOp: 7}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := j.Append(bg, ev("u", "ok", KindCreate), tc.ev)
			require.ErrorIs(t, err, ErrInvalid)
			var je *Error
			require.ErrorAs(t, err, &je)
			require.Equal(t, j.Dir(), je.Dir)
		})
	}
	require.Equal(t, Seq(0), j.LastSeq(), "a batch with a bad event writes nothing")
}

func TestGroupCommitConcurrentAppends(t *testing.T) {
	j := openTest(t, t.TempDir())
	const writers, each = 8, 25
	var wg sync.WaitGroup
	seqs := make(chan Seq, writers*each)
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				e := ev("u", "INBOX", KindAppend)
				e.UIDs = uid.SetOf(uid.UID(w*1000 + i + 1))
				s, err := j.Append(bg, e)
				if err != nil {
					t.Error(err)
					return
				}
				seqs <- s
			}
		})
	}
	wg.Wait()
	close(seqs)
	seen := map[Seq]bool{}
	for s := range seqs {
		require.False(t, seen[s], "seq %d given twice", s)
		seen[s] = true
	}
	evs := collect(t, j.Events(bg, 0))
	require.Len(t, evs, writers*each)
	for i, e := range evs {
		require.Equal(t, Seq(i+1), e.Seq)
		require.True(t, seen[e.Seq])
	}
}

func TestWait(t *testing.T) {
	j := openTest(t, t.TempDir())
	done := make(chan error, 1)
	go func() { done <- j.Wait(bg, 0) }()
	select {
	case err := <-done:
		t.Fatalf("Wait returned %v before any event", err)
	case <-time.After(20 * time.Millisecond):
	}
	_, err := j.Append(bg, ev("u", "INBOX", KindCreate))
	require.NoError(t, err)
	require.NoError(t, <-done)
	require.NoError(t, j.Wait(bg, 0), "an event after 0 exists")

	ctx, cancel := context.WithCancel(bg)
	go func() { done <- j.Wait(ctx, 1) }()
	cancel()
	require.ErrorIs(t, <-done, context.Canceled)

	go func() { done <- j.Wait(bg, 1) }()
	time.Sleep(10 * time.Millisecond)
	require.NoError(t, j.Close())
	require.ErrorIs(t, <-done, ErrClosed)
}

func TestCursorsAndTruncate(t *testing.T) {
	dir := t.TempDir()
	j := openTest(t, dir)
	for range 10 {
		_, err := j.Append(bg, ev("u", "INBOX", KindAppend))
		require.NoError(t, err)
	}
	_, found, err := j.Cursor("a")
	require.NoError(t, err)
	require.False(t, found)

	trunc, err := j.Truncate(bg)
	require.NoError(t, err)
	require.Equal(t, Seq(0), trunc, "no cursor: nothing removed")

	require.NoError(t, j.SetCursor(bg, "a", 6))
	require.NoError(t, j.SetCursor(bg, "b", 4))
	err = j.SetCursor(bg, "c", 11)
	require.ErrorIs(t, err, ErrInvalid, "a cursor beyond the last event")
	s, found, err := j.Cursor("a")
	require.NoError(t, err)
	require.True(t, found)
	require.Equal(t, Seq(6), s)
	require.Equal(t, []NamedSeq{{"a", 6}, {"b", 4}}, collect(t, j.Cursors(bg)))

	trunc, err = j.Truncate(bg)
	require.NoError(t, err)
	require.Equal(t, Seq(4), trunc)
	evs := collect(t, j.Events(bg, 4))
	require.Len(t, evs, 6)
	require.Equal(t, Seq(5), evs[0].Seq)
	for _, err := range j.Events(bg, 3) {
		require.ErrorIs(t, err, ErrTruncated)
	}

	require.NoError(t, j.DeleteCursor(bg, "b"))
	require.NoError(t, j.DeleteCursor(bg, "a"))
	trunc, err = j.Truncate(bg)
	require.NoError(t, err)
	require.Equal(t, Seq(4), trunc, "no cursor left: nothing more removed")

	// Truncate everything: numbers still go on after a restart.
	require.NoError(t, j.SetCursor(bg, "a", 10))
	trunc, err = j.Truncate(bg)
	require.NoError(t, err)
	require.Equal(t, Seq(10), trunc)
	require.Empty(t, collect(t, j.Events(bg, 10)))
	require.NoError(t, j.Close())
	j = openTest(t, dir)
	require.Equal(t, Seq(10), j.LastSeq())
	require.Equal(t, Seq(10), j.Truncated())
	last, err := j.Append(bg, ev("u", "INBOX", KindAppend))
	require.NoError(t, err)
	require.Equal(t, Seq(11), last)
}

func TestBatchCursorWithEvents(t *testing.T) {
	j := openTest(t, t.TempDir())
	b := j.NewBatch()
	b.Append(ev("u", "INBOX", KindCreate), ev("u", "INBOX", KindAppend))
	b.SetCursor("self", 2) // the batch's own events count
	last, err := b.Commit(bg)
	require.NoError(t, err)
	require.Equal(t, Seq(2), last)
	s, _, err := j.Cursor("self")
	require.NoError(t, err)
	require.Equal(t, Seq(2), s)

	_, err = b.Commit(bg)
	require.Error(t, err, "a batch commits once")
}

func TestDirty(t *testing.T) {
	j := openTest(t, t.TempDir())
	appendOne := func(e Event) Seq {
		s, err := j.Append(bg, e)
		require.NoError(t, err)
		return s
	}
	appendOne(ev("alice", "INBOX", KindAppend))                  // 1
	appendOne(ev("bob", "INBOX", KindAppend))                    // 2
	appendOne(ev("alice", "Work", KindCreate))                   // 3
	appendOne(ev("alice", "INBOX", KindFlags))                   // 4
	appendOne(Event{Kind: KindAppend, Mailbox: "NoID"})          // 5
	r := Event{Kind: KindRename, Mailbox: "New", OldName: "Old"} // 6, no ID: both names
	appendOne(r)
	d := ev("bob", "INBOX", KindDelete) // 7
	appendOne(d)

	got := collect(t, j.Dirty(bg, 0))
	type km struct {
		user, mbox string
		seq        Seq
	}
	var keys []km
	for _, m := range got {
		keys = append(keys, km{m.User, m.Mailbox, m.Seq})
	}
	require.Equal(t, []km{
		{"alice", "Work", 3},
		{"alice", "INBOX", 4},
		{"", "NoID", 5},
		{"", "New", 6},
		{"", "Old", 6},
		{"bob", "INBOX", 7},
	}, keys)
	require.True(t, got[len(got)-1].Deleted)
	require.Equal(t, mailbox.ID("id-Work"), got[0].MailboxID)

	got = collect(t, j.Dirty(bg, 4))
	require.Len(t, got, 4)
	require.Empty(t, collect(t, j.Dirty(bg, 7)))

	m, found, err := j.MailboxSeq("alice", "id-INBOX", "")
	require.NoError(t, err)
	require.True(t, found)
	require.Equal(t, Seq(4), m.Seq)
}

func TestCommitCancelledBeforeQueueWritesNothing(t *testing.T) {
	j := openTest(t, t.TempDir())
	ctx, cancel := context.WithCancel(bg)
	cancel()
	_, err := j.Append(ctx, ev("u", "INBOX", KindCreate))
	require.ErrorIs(t, err, context.Canceled)
	require.Empty(t, collect(t, j.Events(bg, 0)))
}

func TestClosed(t *testing.T) {
	j := openTest(t, t.TempDir())
	b := j.NewBatch()
	for range scanChunk + 10 {
		b.Append(ev("u", "INBOX", KindAppend))
	}
	_, err := b.Commit(bg)
	require.NoError(t, err)
	// An iteration in progress when Close runs yields what it had read,
	// then ErrClosed.
	next, stop := iterPull(j.Events(bg, 0))
	defer stop()
	_, err, ok := next()
	require.True(t, ok)
	require.NoError(t, err)

	require.NoError(t, j.Close())
	n := 1
	for {
		_, err, ok := next()
		require.True(t, ok, "the iteration ends with an error")
		if err != nil {
			require.ErrorIs(t, err, ErrClosed)
			break
		}
		n++
	}
	require.Equal(t, scanChunk, n)

	require.ErrorIs(t, j.Close(), ErrClosed)
	require.ErrorIs(t, j.Close(), mailbox.ErrClosed)
	_, err = j.Append(bg, ev("u", "INBOX", KindCreate))
	require.ErrorIs(t, err, ErrClosed)
	_, _, err = j.Cursor("x")
	require.ErrorIs(t, err, ErrClosed)
	for _, err := range j.Events(bg, 0) {
		require.ErrorIs(t, err, ErrClosed)
	}
	_, _, err = j.Header("p", "m")
	require.ErrorIs(t, err, ErrClosed)
	require.True(t, errors.Is(j.Wait(bg, 5), ErrClosed))
}

// TestEventsSeeOnlyCommitted writes an event and its dirty-index entry
// behind the committer's back, as a commit whose sync has not ended yet
// looks to readers: Events and Dirty must not show it.
func TestEventsSeeOnlyCommitted(t *testing.T) {
	j := openTest(t, t.TempDir())
	_, err := j.Append(bg, ev("u", "INBOX", KindCreate))
	require.NoError(t, err)
	pending := ev("u", "Work", KindCreate)
	pending.Seq = 2
	m := UserMailbox{User: "u", MailboxID: pending.MailboxID, Mailbox: "Work", Seq: 2}
	require.NoError(t, j.db.Set(eventKey(2), encodeEvent(&pending), nil))
	require.NoError(t, j.db.Set(dirtyBySeqKey(2, "u", pending.MailboxID, ""), encodeDirty(&m), nil))
	require.Len(t, collect(t, j.Events(bg, 0)), 1)
	require.Empty(t, collect(t, j.Events(bg, 1)))
	require.Len(t, collect(t, j.Dirty(bg, 0)), 1)
	require.Empty(t, collect(t, j.Dirty(bg, 1)))
}

// TestEventsWhileAppending reads the log while writers append: every
// read sees a gap-free prefix of the log.
func TestEventsWhileAppending(t *testing.T) {
	j := openTest(t, t.TempDir())
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := j.Append(bg, ev("u", "INBOX", KindAppend), ev("u", "Work", KindAppend)); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	for range 50 {
		var n Seq
		for e, err := range j.Events(bg, 0) {
			require.NoError(t, err)
			n++
			require.Equal(t, n, e.Seq)
		}
	}
	close(stop)
	wg.Wait()
}
