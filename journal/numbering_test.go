package journal

import (
	"context"
	"fmt"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/mailrepl/mailrepl/mailbox"
	"github.com/mailrepl/mailrepl/uid"
	"github.com/stretchr/testify/require"
)

func keys(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s%04d.M1P1.host", prefix, i)
	}
	return out
}

func uids(us ...uid.UID) []uid.UID { return us }

func number(t *testing.T, k mailbox.UIDKeeper, name string, ks []string, others ...string) mailbox.Numbering {
	t.Helper()
	n, err := k.Number(context.Background(), mailbox.NumberRequest{Scheme: "maildir", Name: name, Keys: ks, Others: others})
	require.NoError(t, err)
	require.Len(t, n.UIDs, len(ks))
	return n
}

// TestNumberKeepsUIDs: a message keeps its UID while it stays, new ones
// get the next UIDs, removed ones are forgotten, UIDVALIDITY and ID stay.
func TestNumberKeepsUIDs(t *testing.T) {
	j := openTest(t, t.TempDir())
	k := j.UIDKeeper("alice")
	a := keys("a", 5)
	first := number(t, k, "INBOX", a)
	require.Equal(t, uids(1, 2, 3, 4, 5), first.UIDs)
	require.Equal(t, uid.UID(6), first.UIDNext)
	require.Len(t, string(first.ID), 32)
	require.NotZero(t, first.UIDValidity)

	again := number(t, k, "INBOX", a)
	require.Equal(t, first, again, "an unchanged mailbox: the same numbering")

	// a[1] removed, two new ones added, one of them listed first.
	next := []string{"new-early", a[0], a[2], a[3], a[4], "new-late"}
	n := number(t, k, "INBOX", next)
	require.Equal(t, first.ID, n.ID)
	require.Equal(t, first.UIDValidity, n.UIDValidity)
	require.Equal(t, uids(6, 1, 3, 4, 5, 7), n.UIDs)
	require.Equal(t, uid.UID(8), n.UIDNext)

	// The removed one comes back: it is a new message now.
	n = number(t, k, "INBOX", append(next, a[1]))
	require.Equal(t, uid.UID(8), n.UIDs[len(n.UIDs)-1])

	// Emptied: UIDNEXT stays, the numbering too.
	n = number(t, k, "INBOX", nil)
	require.Equal(t, first.ID, n.ID)
	require.Equal(t, uid.UID(9), n.UIDNext)
	n = number(t, k, "INBOX", []string{"later"})
	require.Equal(t, first.ID, n.ID)
	require.Equal(t, uids(9), n.UIDs)
}

// TestNumberFollowsTheMessages: a mailbox is found by its messages' keys,
// whatever the scope or name it is asked for under, and a numbering is
// never given to two mailboxes of one store.
func TestNumberFollowsTheMessages(t *testing.T) {
	j := openTest(t, t.TempDir())
	a, b := keys("a", 40), keys("b", 40)
	k := j.UIDKeeper("alice")
	na := number(t, k, "Archive", a, "Work")
	nb := number(t, k, "Work", b, "Archive")
	require.NotEqual(t, na.ID, nb.ID)
	require.NotEqual(t, na.UIDValidity, nb.UIDValidity, "a later numbering takes a later UIDVALIDITY")

	// Renamed (its old name is gone from the store): the same numbering.
	r := number(t, k, "Archive/Old", a, "Work")
	require.Equal(t, na.ID, r.ID)
	require.Equal(t, na.UIDs, r.UIDs)

	// Under another name, all but one of its messages still there: found
	// by its messages.
	m := number(t, k, "Work2", b[1:], "Archive/Old")
	require.Equal(t, nb.ID, m.ID)
	require.Equal(t, nb.UIDs[1:], m.UIDs)
	m = number(t, k, "Work", b[1:], "Archive/Old")
	require.Equal(t, nb.ID, m.ID)

	// Another scope (another user's store holding the same files) never
	// takes this scope's numbering.
	other := number(t, j.UIDKeeper("bob"), "Work", b, "Archive/Old")
	require.NotEqual(t, nb.ID, other.ID)

	// A new folder holding some of Work's files while Work still exists:
	// a numbering of its own, and Work keeps its own.
	c := number(t, k, "Work-copy", b[:10], "Work", "Archive/Old")
	require.NotEqual(t, nb.ID, c.ID)
	require.Equal(t, uids(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), c.UIDs)
	w := number(t, k, "Work", b[1:], "Work-copy", "Archive/Old")
	require.Equal(t, nb.ID, w.ID)

	// Taken: a numbering another mailbox of the store holds is not given.
	n, err := k.Number(context.Background(), mailbox.NumberRequest{Scheme: "maildir", Name: "Other", Keys: a, Taken: []mailbox.ID{na.ID}})
	require.NoError(t, err)
	require.NotEqual(t, na.ID, n.ID)

	// Another scheme never meets these keys.
	mb, err := k.Number(context.Background(), mailbox.NumberRequest{Scheme: "mbox", Name: "Archive/Old", Keys: a})
	require.NoError(t, err)
	require.NotEqual(t, na.ID, mb.ID)
}

// TestNumberEmptyMailbox: an empty mailbox is found by its name in its
// scope only.
func TestNumberEmptyMailbox(t *testing.T) {
	j := openTest(t, t.TempDir())
	e1 := number(t, j.UIDKeeper("alice"), "Drafts", nil)
	require.Equal(t, uid.UID(1), e1.UIDNext)
	require.Equal(t, e1.ID, number(t, j.UIDKeeper("alice"), "Drafts", nil).ID)
	require.NotEqual(t, e1.ID, number(t, j.UIDKeeper("bob"), "Drafts", nil).ID)
}

// TestNumberSurvivesReopen: what Number returned is durable.
func TestNumberSurvivesReopen(t *testing.T) {
	fs := vfs.NewMem()
	j := openMem(t, fs, "db")
	a := keys("a", 3)
	n := number(t, j.UIDKeeper("s"), "INBOX", a)
	require.NoError(t, j.Close())
	j = openMem(t, fs, "db")
	require.Equal(t, n, number(t, j.UIDKeeper("s"), "INBOX", a))
}

func TestNumberForget(t *testing.T) {
	j := openTest(t, t.TempDir())
	k := j.UIDKeeper("alice")
	a := keys("a", 3)
	n := number(t, k, "INBOX", a)
	require.NoError(t, k.Forget(context.Background(), n.ID))
	require.NoError(t, k.Forget(context.Background(), n.ID), "forgetting twice")
	again := number(t, k, "INBOX", a)
	require.NotEqual(t, n.ID, again.ID)
	require.Greater(t, again.UIDValidity, n.UIDValidity, "a new numbering never takes an old UIDVALIDITY")
}

func TestNumberBadRequest(t *testing.T) {
	j := openTest(t, t.TempDir())
	k := j.UIDKeeper("alice")
	for _, req := range []mailbox.NumberRequest{
		{Name: "INBOX", Keys: []string{"a"}},
		{Scheme: "maildir", Name: "INBOX", Keys: []string{"a", ""}},
		{Scheme: "maildir", Name: "INBOX", Keys: []string{"a", "b", "a"}},
	} {
		_, err := k.Number(context.Background(), req)
		require.ErrorIs(t, err, ErrInvalid, "%+v", req)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := k.Number(ctx, mailbox.NumberRequest{Scheme: "maildir", Name: "INBOX"})
	require.ErrorIs(t, err, context.Canceled)
}

// TestNumberDamagedRecord: a numbering that does not decode fails the
// call with ErrCorrupt naming it, and nothing is renumbered.
func TestNumberDamagedRecord(t *testing.T) {
	j := openTest(t, t.TempDir())
	k := j.UIDKeeper("alice")
	n := number(t, k, "INBOX", keys("a", 3))
	require.NoError(t, j.db.Set(numberingKey(n.ID), []byte{recNumbering, 0xff}, pebble.Sync))
	_, err := k.Number(context.Background(), mailbox.NumberRequest{Scheme: "maildir", Name: "INBOX", Keys: keys("a", 3)})
	require.ErrorIs(t, err, ErrCorrupt)
	require.ErrorContains(t, err, string(n.ID))
}

// TestPairsOfAndRenamePair: the pair index finds a pair by a source
// mailbox's ID, RenamePair moves all of a pair's state, and the index
// follows.
func TestPairsOfAndRenamePair(t *testing.T) {
	ctx := context.Background()
	j := openTest(t, t.TempDir())
	b := j.NewBatch()
	for _, pair := range []string{"alice → /old/path", "alice → elsewhere"} {
		b.PutHeader(pair, Header{Src: Side{MailboxID: "m1", Mailbox: "INBOX", UIDValidity: 1, UIDNext: 3}, Dst: Side{MailboxID: "d1", UIDValidity: 1, UIDNext: 3}})
		b.PutEntry(pair, "m1", Entry{SrcUID: 1, DstUID: 1, EmailID: emailID(1)})
		b.PutEntry(pair, "m1", Entry{SrcUID: 2, DstUID: 2, EmailID: emailID(2)})
		b.PutIntent(pair, Intent{MailboxID: "m1", EmailID: emailID(3), SrcUID: 3})
	}
	_, err := b.Commit(ctx)
	require.NoError(t, err)
	require.ElementsMatch(t, []string{"alice → /old/path", "alice → elsewhere"}, collect(t, j.PairsOf(ctx, "m1")))
	require.Empty(t, collect(t, j.PairsOf(ctx, "m2")))

	require.NoError(t, j.RenamePair(ctx, "alice → /old/path", "alice → /new/path"))
	require.ElementsMatch(t, []string{"alice → /new/path", "alice → elsewhere"}, collect(t, j.PairsOf(ctx, "m1")))
	h, found, err := j.Header("alice → /new/path", "m1")
	require.NoError(t, err)
	require.True(t, found)
	require.Equal(t, uid.UID(3), h.Src.UIDNext)
	require.Len(t, collect(t, j.State(ctx, "alice → /new/path", "m1")), 2)
	require.Len(t, collect(t, j.StateByDst(ctx, "alice → /new/path", "m1")), 2)
	require.Len(t, collect(t, j.Intents(ctx, "alice → /new/path", "m1")), 1)
	require.Empty(t, collect(t, j.State(ctx, "alice → /old/path", "m1")))
	_, found, err = j.Header("alice → /old/path", "m1")
	require.NoError(t, err)
	require.False(t, found)

	require.ErrorIs(t, j.RenamePair(ctx, "alice → /new/path", "alice → elsewhere"), ErrInvalid, "onto a pair with state")
	require.ErrorIs(t, j.RenamePair(ctx, "x", "x"), ErrInvalid)

	// A reset pair is no longer found, though its index entry stays.
	require.NoError(t, j.Reset(ctx, "alice → elsewhere"))
	require.Equal(t, []string{"alice → /new/path"}, collect(t, j.PairsOf(ctx, "m1")))
	// Deleting a mailbox's state drops it from the index.
	b = j.NewBatch()
	b.DeleteMailboxState("alice → /new/path", "m1")
	_, err = b.Commit(ctx)
	require.NoError(t, err)
	require.Empty(t, collect(t, j.PairsOf(ctx, "m1")))
}

// TestUpgradeFrom1BuildsPairIndex: a journal of format 1 (no pair index)
// is upgraded on open, and its pairs are then found by mailbox ID.
func TestUpgradeFrom1BuildsPairIndex(t *testing.T) {
	ctx := context.Background()
	fs := vfs.NewMem()
	j, err := open("db", fs, &Options{Now: fixedClock()}, specWith(1, 1, nil))
	require.NoError(t, err)
	b := j.NewBatch()
	b.PutHeader("p1", Header{Src: Side{MailboxID: "m1", UIDValidity: 1, UIDNext: 1}, Dst: Side{MailboxID: "d1", UIDValidity: 1, UIDNext: 1}})
	b.PutHeader("p2", Header{Src: Side{MailboxID: "m2", UIDValidity: 1, UIDNext: 1}, Dst: Side{MailboxID: "d2", UIDValidity: 1, UIDNext: 1}})
	_, err = b.Commit(ctx)
	require.NoError(t, err)
	// Version 1 had no pair index.
	require.NoError(t, j.db.DeleteRange([]byte{tPairIndex}, []byte{tPairIndex + 1}, pebble.Sync))
	require.Empty(t, collect(t, j.PairsOf(ctx, "m1")))
	require.NoError(t, j.Close())

	j = openMem(t, fs, "db")
	v, found, err := getFrom(j.db, keyFormat)
	require.NoError(t, err)
	require.True(t, found)
	n, err := decodeFormat(v)
	require.NoError(t, err)
	require.Equal(t, uint64(FormatVersion), n)
	require.Equal(t, []string{"p1"}, collect(t, j.PairsOf(ctx, "m1")))
	require.Equal(t, []string{"p2"}, collect(t, j.PairsOf(ctx, "m2")))
}
