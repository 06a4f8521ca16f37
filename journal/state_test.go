package journal

import (
	"context"
	"testing"
	"time"

	"github.com/mailrepl/mailrepl/mailbox"
	"github.com/mailrepl/mailrepl/uid"
	"github.com/stretchr/testify/require"
)

func entry(src, dst uid.UID) Entry {
	return Entry{SrcUID: src, DstUID: dst, EmailID: emailID(int(src)), Flags: mailbox.MustFlags(mailbox.Seen)}
}

func TestStateRoundTrip(t *testing.T) {
	j := openTest(t, t.TempDir())
	h := Header{
		Src: Side{MailboxID: "src-1", Mailbox: "INBOX", UIDValidity: 7, UIDNext: 11, HighestModSeq: 30},
		Dst: Side{MailboxID: "dst-1", Mailbox: "INBOX", UIDValidity: 9, UIDNext: 21, HighestModSeq: 4},
	}
	b := j.NewBatch()
	b.PutHeader("p", h)
	for u := uid.UID(10); u >= 1; u-- { // any order
		b.PutEntry("p", "src-1", entry(u, 21-u)) // target UIDs descend
	}
	b.PutEntry("q", "src-1", entry(1, 1)) // another pair
	_, err := b.Commit(bg)
	require.NoError(t, err)

	got, found, err := j.Header("p", "src-1")
	require.NoError(t, err)
	require.True(t, found)
	require.Equal(t, h.Src, got.Src)
	require.Equal(t, h.Dst, got.Dst)
	require.False(t, got.Updated.IsZero(), "Commit sets Updated")

	es := collect(t, j.State(bg, "p", "src-1"))
	require.Len(t, es, 10)
	for i, e := range es {
		require.Equal(t, uid.UID(i+1), e.SrcUID)
		require.Equal(t, uid.UID(20-i), e.DstUID)
		require.Equal(t, emailID(i+1), e.EmailID)
	}
	byDst := collect(t, j.StateByDst(bg, "p", "src-1"))
	require.Len(t, byDst, 10)
	require.Equal(t, uid.UID(11), byDst[0].DstUID)
	require.Equal(t, uid.UID(10), byDst[0].SrcUID)
	from := collect(t, j.StateFrom(bg, "p", "src-1", 8))
	require.Len(t, from, 3)

	e, found, err := j.EntryByDst("p", "src-1", 15)
	require.NoError(t, err)
	require.True(t, found)
	require.Equal(t, uid.UID(6), e.SrcUID)
	_, found, err = j.Entry("p", "src-1", 99)
	require.NoError(t, err)
	require.False(t, found)

	// Change a target UID, delete an entry: both orders follow.
	b = j.NewBatch()
	b.PutEntry("p", "src-1", entry(1, 100))
	b.DeleteEntry("p", "src-1", 2)
	b.DeleteEntry("p", "src-1", 77) // absent: nothing to do
	_, err = b.Commit(bg)
	require.NoError(t, err)
	_, found, err = j.EntryByDst("p", "src-1", 20)
	require.NoError(t, err)
	require.False(t, found, "the old target UID is no longer indexed")
	_, found, err = j.EntryByDst("p", "src-1", 19)
	require.NoError(t, err)
	require.False(t, found, "the deleted entry is gone from the index")
	byDst = collect(t, j.StateByDst(bg, "p", "src-1"))
	require.Len(t, byDst, 9)
	require.Equal(t, uid.UID(100), byDst[8].DstUID)

	require.Equal(t, []string{"p"}, collect(t, j.Pairs(bg)), "q has entries but no header")
	hs := collect(t, j.Mailboxes(bg, "p"))
	require.Len(t, hs, 1)
	require.Equal(t, mailbox.ID("src-1"), hs[0].Src.MailboxID)
}

func TestEntriesPairOneToOne(t *testing.T) {
	j := openTest(t, t.TempDir())
	b := j.NewBatch()
	b.PutEntry("p", "m", entry(1, 5))
	_, err := b.Commit(bg)
	require.NoError(t, err)

	// A batch pairing target UID 5 again fails alone, even when it shares
	// a group commit with good batches.
	bad := j.NewBatch()
	bad.PutEntry("p", "m", entry(3, 3))
	bad.PutEntry("p", "m", entry(2, 5))
	good := j.NewBatch()
	good.PutEntry("p", "m", entry(4, 4))
	good.Append(ev("u", "INBOX", KindAppend))
	j.mu.Lock() // queue both before the committer looks
	badReq := &commitReq{b: bad, done: make(chan struct{})}
	goodReq := &commitReq{b: good, done: make(chan struct{})}
	bad.started, good.started = true, true
	j.mu.queue = append(j.mu.queue, badReq, goodReq)
	j.mu.Unlock()
	j.wake <- struct{}{}
	<-badReq.done
	<-goodReq.done
	require.ErrorIs(t, badReq.err, ErrInvalid)
	require.Contains(t, badReq.err.Error(), "target UID 5 is paired with source UID 1")
	require.NoError(t, goodReq.err)
	require.Equal(t, Seq(1), goodReq.last)

	es := collect(t, j.State(bg, "p", "m"))
	require.Equal(t, []Entry{entry(1, 5), entry(4, 4)}, es, "nothing of the bad batch is written")

	// Moving the pairing within a batch works: delete, then put.
	b = j.NewBatch()
	b.DeleteEntry("p", "m", 1)
	b.PutEntry("p", "m", entry(2, 5))
	_, err = b.Commit(bg)
	require.NoError(t, err)
	e, _, err := j.EntryByDst("p", "m", 5)
	require.NoError(t, err)
	require.Equal(t, uid.UID(2), e.SrcUID)
}

func TestBatchChecksArguments(t *testing.T) {
	j := openTest(t, t.TempDir())
	tests := []struct {
		name string
		add  func(b *Batch)
	}{
		{"empty pair", func(b *Batch) { b.PutEntry("", "m", entry(1, 1)) }},
		{"empty mailbox", func(b *Batch) { b.PutHeader("p", Header{}) }},
		{"zero UID", func(b *Batch) { b.PutEntry("p", "m", entry(0, 1)) }},
		{"intent without EmailID", func(b *Batch) { b.PutIntent("p", Intent{MailboxID: "m"}) }},
		{"tombstone without EmailID", func(b *Batch) { b.PutTombstone(Tombstone{MailboxID: "m"}) }},
		{"lost without UID", func(b *Batch) { b.PutLost(Lost{MailboxID: "m"}) }},
		{"cache without UIDVALIDITY", func(b *Batch) {
			b.PutEmailID(CachedEmailID{MailboxID: "m", UID: 1, EmailID: emailID(1)})
		}},
		{"empty cursor name", func(b *Batch) { b.SetCursor("", 0) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := j.NewBatch()
			b.PutEntry("p", "m", entry(9, 9))
			tc.add(b)
			b.PutEntry("p", "m", entry(8, 8))
			require.ErrorIs(t, b.Err(), ErrInvalid)
			_, err := b.Commit(bg)
			require.ErrorIs(t, err, ErrInvalid)
			require.Empty(t, collect(t, j.State(bg, "p", "m")))
		})
	}
}

func TestDeleteMailboxStateAndReset(t *testing.T) {
	j := openTest(t, t.TempDir())
	fill := func(pair string, mbox mailbox.ID) {
		b := j.NewBatch()
		b.PutHeader(pair, Header{Src: Side{MailboxID: mbox, UIDValidity: 1}})
		b.PutEntry(pair, mbox, entry(1, 1))
		b.PutEntry(pair, mbox, entry(2, 2))
		b.PutIntent(pair, Intent{MailboxID: mbox, EmailID: emailID(3), SrcUID: 3})
		_, err := b.Commit(bg)
		require.NoError(t, err)
	}
	count := func(pair string, mbox mailbox.ID) int {
		_, found, err := j.Header(pair, mbox)
		require.NoError(t, err)
		n := len(collect(t, j.State(bg, pair, mbox))) + len(collect(t, j.StateByDst(bg, pair, mbox))) +
			len(collect(t, j.Intents(bg, pair, mbox)))
		if found {
			n++
		}
		return n
	}
	fill("p", "a")
	fill("p", "b")
	fill("p2", "a")
	fill("pp", "a") // a pair whose name extends "p"
	require.Equal(t, 6, count("p", "a"))

	// UIDVALIDITY changed: drop the mailbox's state and start again in
	// the same batch.
	b := j.NewBatch()
	b.DeleteMailboxState("p", "a")
	b.PutHeader("p", Header{Src: Side{MailboxID: "a", UIDValidity: 2}})
	b.PutEntry("p", "a", entry(1, 7))
	_, err := b.Commit(bg)
	require.NoError(t, err)
	require.Equal(t, []Entry{entry(1, 7)}, collect(t, j.State(bg, "p", "a")))
	require.Equal(t, []Entry{entry(1, 7)}, collect(t, j.StateByDst(bg, "p", "a")))
	require.Empty(t, collect(t, j.Intents(bg, "p", "a")))
	require.Equal(t, 6, count("p", "b"))

	require.Equal(t, []string{"p", "p2", "pp"}, collect(t, j.Pairs(bg)))
	require.NoError(t, j.Reset(bg, "p"))
	require.Equal(t, 0, count("p", "a"))
	require.Equal(t, 0, count("p", "b"))
	require.Equal(t, 6, count("p2", "a"))
	require.Equal(t, 6, count("pp", "a"))
	require.Equal(t, []string{"p2", "pp"}, collect(t, j.Pairs(bg)))

	_, err = j.Append(bg, ev("u", "INBOX", KindCreate))
	require.NoError(t, err)
	require.NoError(t, j.ResetAll(bg))
	require.Empty(t, collect(t, j.Pairs(bg)))
	require.Equal(t, 0, count("pp", "a"))
	require.Len(t, collect(t, j.Events(bg, 0)), 1, "the change log stays")
}

func TestIntents(t *testing.T) {
	j := openTest(t, t.TempDir())
	in1 := Intent{MailboxID: "a", EmailID: emailID(1), SrcUID: 4, DstUID: 4}
	in2 := Intent{MailboxID: "a", EmailID: emailID(1), SrcUID: 5} // a duplicate message
	in3 := Intent{MailboxID: "b", EmailID: emailID(2), SrcUID: 9, Reverse: true}
	b := j.NewBatch()
	b.PutIntent("p", in1)
	b.PutIntent("p", in2)
	b.PutIntent("p", in3)
	_, err := b.Commit(bg)
	require.NoError(t, err)
	all := collect(t, j.Intents(bg, "p", ""))
	require.Len(t, all, 3)
	require.Len(t, collect(t, j.Intents(bg, "p", "a")), 2)
	got := collect(t, j.Intents(bg, "p", "b"))
	require.Len(t, got, 1)
	require.True(t, got[0].Reverse)
	require.Equal(t, uid.UID(9), got[0].SrcUID)
	require.False(t, got[0].Time.IsZero())

	// The state commit removes the intent.
	b = j.NewBatch()
	b.PutEntry("p", "a", entry(4, 4))
	b.DeleteIntent("p", in1)
	_, err = b.Commit(bg)
	require.NoError(t, err)
	got = collect(t, j.Intents(bg, "p", "a"))
	require.Len(t, got, 1)
	require.Equal(t, uid.UID(5), got[0].SrcUID)
}

func TestTombstonesAndLost(t *testing.T) {
	j := openTest(t, t.TempDir())
	when := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	b := j.NewBatch()
	b.PutTombstone(Tombstone{User: "alice", MailboxID: "m1", Mailbox: "INBOX", EmailID: emailID(1), UID: 3, Time: when})
	b.PutTombstone(Tombstone{User: "alice", MailboxID: "m1", Mailbox: "INBOX", EmailID: emailID(1), UID: 2, Time: when.Add(time.Hour)})
	b.PutTombstone(Tombstone{User: "alice", MailboxID: "m2", Mailbox: "Old", EmailID: emailID(1), UID: 9, Time: when})
	b.PutTombstone(Tombstone{User: "bob", MailboxID: "m1", Mailbox: "INBOX", EmailID: emailID(2), UID: 1})
	b.PutLost(Lost{User: "alice", MailboxID: "m1", Mailbox: "INBOX", UID: 5, EmailID: emailID(5),
		Flags: mailbox.MustFlags(mailbox.Flagged), InternalDate: when, Size: 1234, Reason: "body missing"})
	b.PutLost(Lost{User: "alice", MailboxID: "m1", Mailbox: "INBOX", UID: 6, Reason: "unreadable"})
	_, err := b.Commit(bg)
	require.NoError(t, err)

	ts, found, err := j.Tombstone("alice", "m1", emailID(1))
	require.NoError(t, err)
	require.True(t, found)
	require.Equal(t, uid.UID(2), ts.UID, "the lowest UID")
	require.Equal(t, "INBOX", ts.Mailbox)
	_, found, err = j.Tombstone("alice", "m1", emailID(2))
	require.NoError(t, err)
	require.False(t, found, "bob's tombstone is not alice's")
	require.Len(t, collect(t, j.Tombstones(bg, "alice", "m1")), 2)
	require.Len(t, collect(t, j.TombstonesOf(bg, "alice", emailID(1))), 3)
	require.Len(t, collect(t, j.TombstonesOf(bg, "bob", emailID(1))), 0)

	n, err := j.PruneTombstones(bg, when.Add(time.Minute))
	require.NoError(t, err)
	require.Equal(t, 2, n)
	require.Len(t, collect(t, j.TombstonesOf(bg, "alice", emailID(1))), 1)
	require.Len(t, collect(t, j.Tombstones(bg, "bob", "m1")), 1, "bob's has the commit's time, after the limit")

	lost := collect(t, j.Lost(bg, "alice", "m1"))
	require.Len(t, lost, 2)
	require.True(t, lost[0].EmailID.IsZero(), "unknown EmailIDs first")
	l, found, err := j.LostRecord("alice", "m1", emailID(5))
	require.NoError(t, err)
	require.True(t, found)
	require.Equal(t, int64(1234), l.Size)
	require.Equal(t, when, l.InternalDate)
	require.True(t, l.Flags.Has(mailbox.Flagged))
	b = j.NewBatch()
	b.DeleteLost(l)
	_, err = b.Commit(bg)
	require.NoError(t, err)
	require.Len(t, collect(t, j.Lost(bg, "alice", "m1")), 1)
}

func TestEmailIDCache(t *testing.T) {
	j := openTest(t, t.TempDir())
	c := func(store string, mbox mailbox.ID, v uid.Validity, u uid.UID) CachedEmailID {
		return CachedEmailID{Store: store, MailboxID: mbox, UIDValidity: v, UID: u, EmailID: emailID(int(u))}
	}
	require.NoError(t, j.PutEmailIDs(c("s", "m", 1, 3), c("s", "m", 1, 1), c("s", "m", 2, 1), c("s", "n", 1, 1), c("t", "m", 1, 1)))
	b := j.NewBatch()
	b.PutEmailID(c("s", "m", 1, 2))
	_, err := b.Commit(bg)
	require.NoError(t, err)

	id, found, err := j.EmailID("s", "m", 1, 3)
	require.NoError(t, err)
	require.True(t, found)
	require.Equal(t, emailID(3), id)
	_, found, err = j.EmailID("s", "m", 3, 3)
	require.NoError(t, err)
	require.False(t, found)
	got := collect(t, j.EmailIDs(bg, "s", "m", 1))
	require.Len(t, got, 3)
	for i, g := range got {
		require.Equal(t, uid.UID(i+1), g.UID)
	}
	require.NoError(t, j.DropEmailIDs("s", "m"))
	require.Empty(t, collect(t, j.EmailIDs(bg, "s", "m", 1)))
	require.Empty(t, collect(t, j.EmailIDs(bg, "s", "m", 2)))
	require.Len(t, collect(t, j.EmailIDs(bg, "s", "n", 1)), 1)
	require.Len(t, collect(t, j.EmailIDs(bg, "t", "m", 1)), 1)
	require.ErrorIs(t, j.PutEmailIDs(CachedEmailID{MailboxID: "m", UIDValidity: 1, UID: 1}), ErrInvalid)
}

func TestStreamStopsEarlyAndHonoursContext(t *testing.T) {
	j := openTest(t, t.TempDir())
	b := j.NewBatch()
	for u := uid.UID(1); u <= 3*scanChunk; u++ {
		b.PutEntry("p", "m", entry(u, u))
	}
	_, err := b.Commit(bg)
	require.NoError(t, err)
	n := 0
	for _, err := range j.State(bg, "p", "m") {
		require.NoError(t, err)
		n++
		if n == 5 {
			break
		}
	}
	ctx, cancel := context.WithCancel(bg)
	defer cancel()
	n = 0
	var last error
	for _, err := range j.State(ctx, "p", "m") {
		if err != nil {
			last = err
			break
		}
		n++
		if n == 10 {
			cancel()
		}
	}
	require.ErrorIs(t, last, context.Canceled)
	require.Equal(t, scanChunk, n, "the chunk read before the cancel is yielded")
	j.mu.Lock()
	require.Empty(t, j.mu.snaps, "every scan released its snapshot")
	j.mu.Unlock()
}

func TestStateIsASnapshot(t *testing.T) {
	j := openTest(t, t.TempDir())
	b := j.NewBatch()
	for u := uid.UID(1); u <= 2*scanChunk; u++ {
		b.PutEntry("p", "m", entry(u, u))
	}
	_, err := b.Commit(bg)
	require.NoError(t, err)
	n := 0
	for e, err := range j.State(bg, "p", "m") {
		require.NoError(t, err)
		n++
		if e.SrcUID == 1 {
			// A commit while streaming is not seen by this stream.
			b := j.NewBatch()
			b.PutEntry("p", "m", entry(10_000, 10_000))
			b.DeleteEntry("p", "m", 2*scanChunk)
			_, err := b.Commit(bg)
			require.NoError(t, err)
		}
	}
	require.Equal(t, 2*scanChunk, n)
}

// TestStreamMemoryFlat streams a 100,000-entry state and checks that the
// live heap does not grow with it: holding the entries would take several
// MiB (BenchmarkStateStreamMemory measures a million).
func TestStreamMemoryFlat(t *testing.T) {
	j, err := Open(t.TempDir(), &Options{NoSync: true})
	require.NoError(t, err)
	defer func() { require.NoError(t, j.Close()) }()
	const n = 100_000
	writeState(t, j, "p", "m", n, 20_000)
	got, peak := streamPeakHeap(t, j, "p", "m", 5_000)
	require.Equal(t, n, got)
	t.Logf("peak live-heap growth while streaming %d entries: %d KiB", n, peak>>10)
	require.Less(t, peak, uint64(1<<20), "the stream holds entries")
}

// TestExpungeEventsLeaveTombstones: a user's expunge logged in the change
// log leaves a tombstone per EmailID, in the same commit; one a replica
// applied (Origin set), one without a mailbox ID, and one of a message
// recovery recorded as lost leave none.
func TestExpungeEventsLeaveTombstones(t *testing.T) {
	j := openTest(t, t.TempDir())
	when := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	b := j.NewBatch()
	b.PutLost(Lost{User: "alice", MailboxID: "m1", Mailbox: "INBOX", UID: 7, EmailID: emailID(7), Reason: "body missing"})
	_, err := b.Commit(bg)
	require.NoError(t, err)
	_, err = j.Append(bg,
		Event{Kind: KindExpunge, User: "alice", MailboxID: "m1", Mailbox: "INBOX", UIDs: uid.SetOf(3, 4, 7), EmailIDs: []mailbox.EmailID{emailID(3), emailID(4), emailID(7)}, Time: when},
		Event{Kind: KindExpunge, User: "alice", MailboxID: "m1", Mailbox: "INBOX", UIDs: uid.SetOf(5), EmailIDs: []mailbox.EmailID{emailID(5)}, Origin: "replica-b"},
		Event{Kind: KindExpunge, User: "alice", Mailbox: "Work", UIDs: uid.SetOf(6), EmailIDs: []mailbox.EmailID{emailID(6)}},
		Event{Kind: KindExpunge, User: "bob", MailboxID: "m9", Mailbox: "INBOX", UIDs: uid.SetOf(1, 2), EmailIDs: []mailbox.EmailID{emailID(8)}},
	)
	require.NoError(t, err)
	for _, tc := range []struct {
		user  string
		mbox  mailbox.ID
		id    int
		found bool
		uid   uid.UID
	}{
		{"alice", "m1", 3, true, 3}, {"alice", "m1", 4, true, 4},
		{"alice", "m1", 7, false, 0}, // lost: recovery's expunge
		{"alice", "m1", 5, false, 0}, // a replica's
		{"bob", "m9", 8, true, 0},    // which UID is not known
	} {
		ts, found, err := j.Tombstone(tc.user, tc.mbox, emailID(tc.id))
		require.NoError(t, err)
		require.Equal(t, tc.found, found, "%s %s %d", tc.user, tc.mbox, tc.id)
		if found {
			require.Equal(t, tc.uid, ts.UID)
			require.Equal(t, "INBOX", ts.Mailbox)
		}
	}
	ts, _, _ := j.Tombstone("alice", "m1", emailID(3))
	require.True(t, ts.Time.Equal(when), "the event's time")
	n := 0
	for _, err := range j.TombstonesOf(bg, "alice", emailID(6)) {
		require.NoError(t, err)
		n++
	}
	require.Zero(t, n, "no mailbox ID, no tombstone")
}

// TestExpungeTombstonesSeeTheBatch: whether a logged expunge is
// recovery's is decided as the commit sees the lost records, its own
// batch's changes included, and by the exact message when the event gives
// UIDs: a lost record of the same EmailID at another UID (a message
// restored under a new UID) does not hide a user's expunge.
func TestExpungeTombstonesSeeTheBatch(t *testing.T) {
	lost := Lost{User: "alice", MailboxID: "m1", Mailbox: "INBOX", UID: 7, EmailID: emailID(7), Reason: "body missing"}
	expunge := func(u uid.UID) Event {
		return Event{Kind: KindExpunge, User: "alice", MailboxID: "m1", Mailbox: "INBOX", UIDs: uid.SetOf(u), EmailIDs: []mailbox.EmailID{emailID(7)}}
	}
	for _, tc := range []struct {
		name      string
		before    func(b *Batch) // committed first
		same      func(b *Batch) // in the expunge's batch
		event     Event
		tombstone bool
	}{
		{"lost in the same batch", nil, func(b *Batch) { b.PutLost(lost) }, expunge(7), false},
		{"forgotten in the same batch", func(b *Batch) { b.PutLost(lost) }, func(b *Batch) { b.DeleteLost(lost) }, expunge(7), true},
		{"lost at another UID", func(b *Batch) { b.PutLost(lost) }, nil, expunge(40), true},
		{"lost, no UIDs in the event", func(b *Batch) { b.PutLost(lost) }, nil,
			Event{Kind: KindExpunge, User: "alice", MailboxID: "m1", EmailIDs: []mailbox.EmailID{emailID(7)}}, false},
		{"lost and forgotten, no UIDs", func(b *Batch) { b.PutLost(lost) }, func(b *Batch) { b.DeleteLost(lost) },
			Event{Kind: KindExpunge, User: "alice", MailboxID: "m1", EmailIDs: []mailbox.EmailID{emailID(7)}}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			j := openTest(t, t.TempDir())
			if tc.before != nil {
				b := j.NewBatch()
				tc.before(b)
				_, err := b.Commit(bg)
				require.NoError(t, err)
			}
			b := j.NewBatch()
			if tc.same != nil {
				tc.same(b)
			}
			b.Append(tc.event)
			_, err := b.Commit(bg)
			require.NoError(t, err)
			_, found, err := j.Tombstone("alice", "m1", emailID(7))
			require.NoError(t, err)
			require.Equal(t, tc.tombstone, found)
		})
	}
}
