package batch

import (
	"testing"
	"time"

	"github.com/mailrepl/mailrepl/journal"
	"github.com/stretchr/testify/require"
)

func TestSyncLogAndChanges(t *testing.T) {
	j := openJournal(t, t.TempDir())
	log := NewSyncLog(j, "tool")
	_, found, err := log.Last("alice→dst")
	require.NoError(t, err)
	require.False(t, found)

	ev := func(user, mbox string) journal.Event {
		return journal.Event{Kind: journal.KindAppend, User: user, Mailbox: mbox}
	}
	_, err = j.Append(bg, ev("alice", "INBOX"), ev("bob", "INBOX"))
	require.NoError(t, err)
	when := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	require.NoError(t, log.Put(bg, "alice→dst", LastSync{Seq: j.LastSeq(), Time: when}))
	_, err = j.Append(bg, ev("bob", "Sent"))
	require.NoError(t, err)
	require.NoError(t, log.Put(bg, "bob→dst", LastSync{Seq: 1}))

	last, found, err := log.Last("alice→dst")
	require.NoError(t, err)
	require.True(t, found)
	require.Equal(t, journal.Seq(2), last.Seq)
	require.Equal(t, when, last.Time)

	c, err := ReadChanges(bg, j)
	require.NoError(t, err)
	require.True(t, c.Tracked("alice"))
	require.False(t, c.Tracked("carol"), "no events: not tracked")
	require.True(t, c.Unchanged("alice", 2))
	require.False(t, c.Unchanged("bob", 2), "bob's Sent changed at 3")
	require.True(t, c.Unchanged("bob", 3))
	require.False(t, c.Unchanged("carol", 99), "a user without events must be synced")

	require.NoError(t, j.PutRecord(bg, "tool/synced", "bad", []byte("[]")))
	_, _, err = log.Last("bad")
	require.ErrorContains(t, err, `sync log of pair "bad"`)
}
