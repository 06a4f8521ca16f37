package replica

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mailrepl/mailrepl/journal"
	"github.com/mailrepl/mailrepl/mailbox"
)

// startReplicator runs a replicator until the test ends, returning the
// function that stops it and waits.
func startReplicator(t *testing.T, opts *ReplicatorOptions) (*Replicator, func()) {
	t.Helper()
	r, err := NewReplicator(opts)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		require.NoError(t, <-done)
	}
	t.Cleanup(stop)
	return r, stop
}

func TestReplicatorFailedUserDoesNotStopOthers(t *testing.T) {
	j, err := journal.Open(t.TempDir(), &journal.Options{NoSync: true})
	require.NoError(t, err)
	defer j.Close()
	outcomes := make(chan SyncOutcome, 100)
	r, stop := startReplicator(t, &ReplicatorOptions{
		Journal: j, FailAfter: 2, Backoff: time.Millisecond, MaxBackoff: time.Millisecond,
		Sync: func(ctx context.Context, job SyncJob) (*Report, error) {
			if job.User == "bad" {
				return nil, errors.New("target: permission denied")
			}
			return &Report{}, nil
		},
		OnSync: func(o SyncOutcome) { outcomes <- o },
	})
	ctx := context.Background()
	require.NoError(t, r.Notify(ctx, Notice{User: "bad", Mailbox: "INBOX", Priority: PriorityChange}))
	for !(<-outcomes).Failed {
	}
	require.NoError(t, r.Notify(ctx, Notice{User: "good", Mailbox: "INBOX", Priority: PriorityChange}))
	for o := <-outcomes; o.Job.User != "good"; o = <-outcomes {
	}
	snap := r.Snapshot()
	require.Len(t, snap.Failed, 1)
	require.Equal(t, "bad", snap.Failed[0].User)
	require.Contains(t, snap.Failed[0].Reason, "permission denied")
	stop()
	// The failing user's notice is still recorded, the good one's is not.
	rec, found, err := j.Record("replicator", noticeRecKey(noticeKey{"bad", "INBOX"}))
	require.NoError(t, err)
	require.True(t, found, "%s", rec)
	_, found, err = j.Record("replicator", noticeRecKey(noticeKey{"good", "INBOX"}))
	require.NoError(t, err)
	require.False(t, found)
}

// TestReplicatorNoticesSurviveRestart: what a replicator did not sync
// before it stopped, a new one over the same journal syncs: notices of
// Notify and of the change log alike.
func TestReplicatorNoticesSurviveRestart(t *testing.T) {
	dir := t.TempDir()
	j, err := journal.Open(dir, nil)
	require.NoError(t, err)
	ctx := context.Background()
	failed := make(chan SyncOutcome, 100)
	r, stop := startReplicator(t, &ReplicatorOptions{
		Journal: j, FailAfter: 1, Backoff: time.Hour,
		Sync: func(ctx context.Context, job SyncJob) (*Report, error) {
			return nil, errors.New("the replica is down")
		},
		OnSync: func(o SyncOutcome) { failed <- o },
	})
	require.NoError(t, r.Notify(ctx, Notice{User: "a", Mailbox: "Sent", Priority: PriorityChange}))
	_, err = j.Append(ctx, journal.Event{Kind: journal.KindAppend, User: "b", Mailbox: mailbox.Inbox})
	require.NoError(t, err)
	seen := map[string]bool{}
	for len(seen) < 2 {
		seen[(<-failed).Job.User] = true
	}
	stop()
	require.NoError(t, j.Close())

	// The same journal, opened again as after a crash or a restart.
	j, err = journal.Open(dir, nil)
	require.NoError(t, err)
	defer j.Close()
	synced := make(chan SyncOutcome, 100)
	_, stop = startReplicator(t, &ReplicatorOptions{
		Journal: j,
		Sync:    func(ctx context.Context, job SyncJob) (*Report, error) { return &Report{}, nil },
		OnSync:  func(o SyncOutcome) { synced <- o },
	})
	got := map[string][]string{}
	for len(got) < 2 {
		o := <-synced
		require.NoError(t, o.Err)
		got[o.Job.User] = o.Job.Mailboxes
	}
	require.Equal(t, map[string][]string{"a": {"Sent"}, "b": {mailbox.Inbox}}, got)
	stop()
	cur, _, err := j.Cursor("replicator")
	require.NoError(t, err)
	require.Equal(t, j.LastSeq(), cur)
	var left int
	for _, err := range j.Records(ctx, "replicator") {
		require.NoError(t, err)
		left++
	}
	require.Equal(t, 2, left, "only the users' records are left") // u/a and u/b
}

// TestReplicatorDrainsOnStop: a sync in flight when Run is stopped sees
// its Stop channel closed and finishes before Run returns.
func TestReplicatorDrainsOnStop(t *testing.T) {
	j, err := journal.Open(t.TempDir(), &journal.Options{NoSync: true})
	require.NoError(t, err)
	defer j.Close()
	started := make(chan struct{})
	finished := make(chan struct{})
	r, stop := startReplicator(t, &ReplicatorOptions{
		Journal: j,
		Sync: func(ctx context.Context, job SyncJob) (*Report, error) {
			close(started)
			<-job.Stop
			close(finished)
			return &Report{}, nil
		},
	})
	require.NoError(t, r.Notify(context.Background(), Notice{User: "a"}))
	<-started
	stop()
	select {
	case <-finished:
	default:
		t.Fatal("Run returned before the sync in flight finished")
	}
	require.Zero(t, r.Snapshot().Queued)
}

func TestReplicatorServerCap(t *testing.T) {
	j, err := journal.Open(t.TempDir(), &journal.Options{NoSync: true})
	require.NoError(t, err)
	defer j.Close()
	release := make(chan struct{})
	running := make(chan string, 10)
	r, stop := startReplicator(t, &ReplicatorOptions{
		Journal: j, MaxPerServer: 1,
		Server: func(user string) string { return user[:1] }, // servers "x" and "y"
		Sync: func(ctx context.Context, job SyncJob) (*Report, error) {
			running <- job.User
			<-release
			return &Report{}, nil
		},
	})
	for _, u := range []string{"x1", "x2", "y1"} {
		require.NoError(t, r.Notify(context.Background(), Notice{User: u}))
	}
	first := map[string]bool{<-running: true, <-running: true}
	require.True(t, first["y1"], "one user of each server runs: %v", first)
	require.Equal(t, 2, r.Snapshot().InFlight)
	require.Equal(t, 1, r.Snapshot().Queued)
	close(release)
	<-running
	stop()
}

func TestReplicatorOptionsValidate(t *testing.T) {
	err := (&ReplicatorOptions{Concurrency: -1, Backoff: -time.Second}).Validate()
	require.Error(t, err)
	for _, want := range []string{"Journal is required", "Sync is required", "Concurrency", "Backoff"} {
		require.Contains(t, err.Error(), want)
	}
}

func TestNextSlotSpreadsUsers(t *testing.T) {
	r, err := NewReplicator(&ReplicatorOptions{Journal: &journal.Journal{}, Sync: func(context.Context, SyncJob) (*Report, error) { return nil, nil }, FullInterval: 24 * time.Hour})
	require.NoError(t, err)
	now := t0
	hours := map[int]int{}
	for i := range 240 {
		u := "user" + string(rune('a'+i%26)) + string(rune('a'+i/26))
		s := r.nextSlot(u, time.Time{}, now)
		require.True(t, s.After(now) && !s.After(now.Add(24*time.Hour)), "slot %v", s)
		hours[int(s.Sub(now)/time.Hour)]++
		// A slot after a verification is a day after the last.
		require.Equal(t, s.Add(24*time.Hour), r.nextSlot(u, s, s))
	}
	require.Greater(t, len(hours), 12, "240 users' slots fall in %d of 24 hours", len(hours))
}
