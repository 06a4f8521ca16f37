package replica

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mailrepl/mailrepl/journal"
	"github.com/mailrepl/mailrepl/mailbox"
	"github.com/mailrepl/mailrepl/mailbox/memstore"
	"github.com/mailrepl/mailrepl/uid"
)

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("input/output error") }
func (errReader) Close() error             { return nil }

// TestRecoverFindsDamage: a body that no longer matches its EmailID, one
// that cannot be read, and one that vanished though the index lists it are
// recorded as lost (sure), quarantined when readable, and expunged; the
// sound messages are untouched.
func TestRecoverFindsDamage(t *testing.T) {
	ctx := context.Background()
	live := newMem(t, nil)
	for _, n := range []string{"a", "b", "c", "d", "e"} {
		mustAppend(t, live, mailbox.Inbox, n, mailbox.Seen)
	}
	w := &world{body: func(mbox string, u uid.UID, rc io.ReadCloser) io.ReadCloser {
		switch u {
		case 2:
			return flipByte(rc)
		case 3:
			rc.Close()
			return errReader{}
		}
		return rc
	}, spy: func(op, mbox string, u uid.UID) error {
		if op == "open" && u == 4 {
			return &mailbox.Error{Op: "open", Mailbox: mbox, UID: u, Err: mailbox.ErrNotFound}
		}
		return nil
	}}
	state := NewMemState()
	q := t.TempDir()
	store := &faultStore{s: live, w: w}
	dry, err := Recover(ctx, store, &RecoverOptions{User: "alice", Records: state, DryRun: true})
	if err != nil || dry.Lost != 3 || len(state.mu.lost["alice"]) != 0 {
		t.Fatalf("dry run: %+v, %v (records %d)", dry, err, len(state.mu.lost["alice"]))
	}
	rep, err := Recover(ctx, store, &RecoverOptions{User: "alice", Records: state, QuarantineDir: q})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Lost != 3 || rep.Checked != 5 {
		t.Fatalf("%+v", rep)
	}
	var left []uid.UID
	for m, err := range live.Messages(ctx, mailbox.Inbox, uid.All) {
		if err != nil {
			t.Fatal(err)
		}
		left = append(left, m.UID)
	}
	if len(left) != 2 || left[0] != 1 || left[1] != 5 {
		t.Fatalf("left %v, want [1 5]", left)
	}
	reasons := map[uid.UID]string{}
	for l, err := range state.LostIn(ctx, "alice", dry.itemsMailboxID(t, live)) {
		if err != nil {
			t.Fatal(err)
		}
		if l.Unsure || l.EmailID.IsZero() || !l.Flags.Has(mailbox.Seen) {
			t.Errorf("lost record %+v", l)
		}
		reasons[l.UID] = l.Reason
	}
	for u, want := range map[uid.UID]string{2: "damaged", 3: "unreadable", 4: "missing"} {
		if !strings.Contains(reasons[u], want) {
			t.Errorf("uid %d lost for %q, want it to say %q", u, reasons[u], want)
		}
	}
	files, _ := filepath.Glob(filepath.Join(q, "alice", "*.eml"))
	if len(files) != 1 {
		t.Fatalf("quarantine holds %v, want uid 2's damaged body", files)
	}
	if b, _ := os.ReadFile(files[0]); len(b) != len(body("b")) {
		t.Errorf("quarantined %d bytes, want %d", len(b), len(body("b")))
	}
}

func (r *RecoverReport) itemsMailboxID(t *testing.T, s mailbox.Reader) mailbox.ID {
	info, err := s.Status(context.Background(), mailbox.Inbox)
	if err != nil {
		t.Fatal(err)
	}
	return info.ID
}

// TestRestoreEvidence: what the evidence and the policy decide.
func TestRestoreEvidence(t *testing.T) {
	ctx := context.Background()
	type setup struct {
		backup, live *memstore.Store
		state        *MemState
		inbox        mailbox.ID
	}
	// A backup of a, b, c, d, e; the live store then loses or deletes some.
	build := func(t *testing.T) setup {
		live := newMem(t, nil)
		for _, n := range []string{"a", "b", "c", "d", "e"} {
			mustAppend(t, live, mailbox.Inbox, n, mailbox.Flagged)
		}
		backup, err := live.Clone()
		if err != nil {
			t.Fatal(err)
		}
		info, _ := live.Status(ctx, mailbox.Inbox)
		state := NewMemState()
		// b: a user expunged it (a sync left a tombstone).
		// c: recovery lost it (sure); d: lost, unsure; e: gone, no evidence.
		state.RecordLost(ctx, "alice", []Lost{
			{MailboxID: info.ID, Mailbox: mailbox.Inbox, UID: 3, EmailID: mailbox.EmailIDOf(body("c")), Time: time.Now()},
			{MailboxID: info.ID, Mailbox: mailbox.Inbox, UID: 4, EmailID: mailbox.EmailIDOf(body("d")), Unsure: true, Time: time.Now()},
		})
		b := state.Begin("p")
		b.PutTombstone("alice", Tombstone{MailboxID: info.ID, Mailbox: mailbox.Inbox, EmailID: mailbox.EmailIDOf(body("b")), UID: 2, Time: time.Now().Add(-time.Hour)})
		b.Commit(ctx)
		if err := live.Expunge(ctx, mailbox.Inbox, uid.SetOf(2, 3, 4, 5)); err != nil {
			t.Fatal(err)
		}
		return setup{backup, live, state, info.ID}
	}
	ids := func(s mailbox.Reader) []string {
		var out []string
		for m, err := range s.Messages(ctx, mailbox.Inbox, uid.All) {
			if err != nil {
				t.Fatal(err)
			}
			for _, n := range []string{"a", "b", "c", "d", "e"} {
				if m.EmailID == mailbox.EmailIDOf(body(n)) {
					out = append(out, n)
					if !m.Flags.Has(mailbox.Flagged) || m.UID <= 5 && n != "a" {
						t.Errorf("%s at uid %d with (%s): want a new UID and \\Flagged", n, m.UID, m.Flags)
					}
				}
			}
		}
		return out
	}
	tests := []struct {
		name   string
		policy RestorePolicy
		live   func(s setup) mailbox.Store // defaults to the live store
		want   string
	}{
		// memstore's index records expunges: e is known expunged after the
		// backup, by a user (no lost record), so it stays out.
		{name: "restore when unsure, authoritative index", policy: RestoreWhenUnsure, want: "a c d"},
		{name: "skip when unsure, authoritative index", policy: SkipWhenUnsure, want: "a c"},
		// Without an authoritative index (no change tracking), e is unsure.
		{name: "restore when unsure, plain index", policy: RestoreWhenUnsure, live: func(s setup) mailbox.Store { return plainStore{s.live} }, want: "a c d e"},
		{name: "skip when unsure, plain index", policy: SkipWhenUnsure, live: func(s setup) mailbox.Store { return plainStore{s.live} }, want: "a c"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := build(t)
			into := mailbox.Store(s.live)
			if tc.live != nil {
				into = tc.live(s)
			}
			rep, err := Restore(ctx, s.backup, into, &RestoreOptions{User: "alice", Records: s.state, Policy: tc.policy})
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(ids(s.live), " "); got != tc.want {
				t.Fatalf("live holds %s, want %s (report %+v, skipped %v)", got, tc.want, rep.Total, rep.Skipped)
			}
			if rep.Total.SkippedDeleted < 1 || rep.Total.Present != 1 {
				t.Errorf("report %+v", rep.Total)
			}
			// Restored lost records are gone; the unsure one skipped stays.
			var left []uid.UID
			for l := range s.state.LostIn(ctx, "alice", s.inbox) {
				left = append(left, l.UID)
			}
			wantLeft := 0
			if tc.policy == SkipWhenUnsure {
				wantLeft = 1
			}
			if len(left) != wantLeft {
				t.Errorf("lost records left: %v, want %d", left, wantLeft)
			}
			again, err := Restore(ctx, s.backup, into, &RestoreOptions{User: "alice", Records: s.state, Policy: tc.policy})
			if err != nil || again.Total.Restored != 0 {
				t.Errorf("second restore: %+v, %v", again.Total, err)
			}
		})
	}
	t.Run("time window and excluded folders", func(t *testing.T) {
		s := build(t)
		rep, err := Restore(ctx, s.backup, plainStore{s.live}, &RestoreOptions{User: "alice", Records: s.state,
			Until: time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)})
		if err != nil || rep.Total.Restored != 0 || rep.Total.SkippedPolicy != 4 {
			t.Fatalf("window before every message: %+v, %v", rep.Total, err)
		}
		rep, err = Restore(ctx, s.backup, plainStore{s.live}, &RestoreOptions{User: "alice", Records: s.state,
			Mailboxes: func(string) bool { return false }})
		if err != nil || len(rep.Mailboxes) != 0 {
			t.Fatalf("every folder excluded: %+v, %v", rep, err)
		}
	})
	t.Run("missing live mailbox", func(t *testing.T) {
		s := build(t)
		if _, err := s.backup.Create(ctx, "Work"); err != nil {
			t.Fatal(err)
		}
		mustAppend(t, s.backup, "Work", "w")
		rep, err := Restore(ctx, s.backup, s.live, &RestoreOptions{User: "alice", Records: s.state})
		if err != nil || !rep.Mailboxes[len(rep.Mailboxes)-1].Created || rep.Total.Restored != 3 {
			t.Fatalf("%+v, %v", rep, err)
		}
		// Deleted by its user on record: left alone.
		s = build(t)
		info, _ := s.backup.Create(ctx, "Old")
		mustAppend(t, s.backup, "Old", "o")
		s.state.RecordMailboxDeleted("alice", info.ID)
		rep, err = Restore(ctx, s.backup, s.live, &RestoreOptions{User: "alice", Records: s.state})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.live.Status(ctx, "Old"); !errors.Is(err, mailbox.ErrNotFound) {
			t.Fatalf("a mailbox its user deleted was recreated: %v, %+v", err, rep.Total)
		}
	})
}

// TestReplicaKeepsWhatTheSourceLost: a message recovery recorded as lost
// on the live store is not expunged from its mirror; a restore from the
// mirror brings it back under a new UID; the next mirror converges and
// leaves no tombstone for it.
func TestReplicaKeepsWhatTheSourceLost(t *testing.T) {
	ctx := context.Background()
	live, replica := newMem(t, nil), newMem(t, nil)
	for _, n := range []string{"a", "b", "c"} {
		mustAppend(t, live, mailbox.Inbox, n, mailbox.Answered)
	}
	state := NewMemState()
	opts := &Options{State: state, User: "alice"}
	mustSync(t, live, replica, opts)
	// b's body is lost on the live store.
	w := &world{spy: func(op, mbox string, u uid.UID) error {
		if op == "open" && u == 2 {
			return &mailbox.Error{Op: "open", Mailbox: mbox, UID: u, Err: mailbox.ErrNotFound}
		}
		return nil
	}}
	if rep, err := Recover(ctx, &faultStore{s: live, w: w}, &RecoverOptions{User: "alice", Records: state}); err != nil || rep.Lost != 1 {
		t.Fatalf("recover: %+v, %v", rep, err)
	}
	rep := mustSync(t, live, replica, opts)
	if rep.Total.Expunged != 0 || rep.Total.Skipped != 1 || !strings.Contains(rep.Skipped[0].Reason, "lost on the source") {
		t.Fatalf("mirror after the loss: %+v %v", rep.Total, rep.Skipped)
	}
	// Restore from the replica.
	rs, err := Restore(ctx, replica, live, &RestoreOptions{User: "alice", Records: state})
	if err != nil || rs.Total.Restored != 1 || rs.Total.Present != 2 {
		t.Fatalf("restore from the replica: %+v, %v", rs.Total, err)
	}
	rep = mustSync(t, live, replica, opts)
	if got, want := dump(t, replica, true), dump(t, live, true); got != want {
		t.Fatalf("replica after the restore:\n%s\nwant:\n%s", got, want)
	}
	if len(state.Tombstones("alice")) != 0 {
		t.Errorf("tombstones %+v: nobody deleted anything", state.Tombstones("alice"))
	}
}

// TestRecoverBodilessUsesCache: in a Maildir that only the engine read
// (read-only, so its uidlist caches no EmailID), an entry without a body
// is identified through the EmailID cache: with a tombstone it is a
// user's expunge and is left alone; without, it is lost under its EmailID.
func TestRecoverBodilessUsesCache(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	root := filepath.Join(dir, "live")
	live := openMaildir(t, root, false)
	for _, n := range []string{"a", "b", "c"} {
		mustAppend(t, live, mailbox.Inbox, n, mailbox.Seen)
	}
	info, err := live.Status(ctx, mailbox.Inbox)
	if err != nil {
		t.Fatal(err)
	}
	msgs := listAll(t, live)[mailbox.Inbox]
	if err := live.Close(); err != nil {
		t.Fatal(err)
	}
	// Strip the cached EmailIDs from the uidlist, as in a tree where
	// Dovecot delivered the mail.
	uidlist := filepath.Join(root, "dovecot-uidlist")
	b, err := os.ReadFile(uidlist)
	if err != nil {
		t.Fatal(err)
	}
	stripped := regexp.MustCompile(` X1:[^ ]*`).ReplaceAll(b, nil)
	if bytes.Equal(stripped, b) {
		t.Fatalf("no X1 field in %s:\n%s", uidlist, b)
	}
	if err := os.WriteFile(uidlist, stripped, 0o644); err != nil {
		t.Fatal(err)
	}
	j, err := journal.Open(filepath.Join(dir, "journal"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	state := NewJournalState(j)
	const storeID = "maildir:live"
	for _, m := range msgs {
		if err := state.PutEmailID(storeID, info.ID, info.UIDValidity, m.UID, m.EmailID); err != nil {
			t.Fatal(err)
		}
	}
	tb := state.Begin("alice")
	tb.PutTombstone("alice", Tombstone{MailboxID: info.ID, Mailbox: mailbox.Inbox, EmailID: msgs[0].EmailID, UID: msgs[0].UID, Time: time.Now()})
	if err := tb.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	removeFile(t, root, mailbox.Inbox, msgs[0]) // a user's expunge, line kept
	removeFile(t, root, mailbox.Inbox, msgs[1]) // lost
	live = openMaildir(t, root, false)

	dry, err := Recover(ctx, live, &RecoverOptions{User: "alice", Records: state, DryRun: true})
	if err != nil || dry.Lost != 2 {
		t.Fatalf("without the cache: %+v, %v; want both entries taken for lost", dry, err)
	}
	rep, err := Recover(ctx, live, &RecoverOptions{User: "alice", Records: state, Cache: state, StoreID: storeID})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Lost != 1 || rep.Mailboxes[0].Expunged != 1 || rep.Items[0].UID != msgs[1].UID || rep.Items[0].EmailID != msgs[1].EmailID.String() {
		t.Fatalf("with the cache: %+v", rep)
	}
	if l, ok, err := state.LostRecord(ctx, "alice", info.ID, msgs[1].EmailID); err != nil || !ok || !l.Unsure {
		t.Fatalf("lost record of b: %+v %v %v", l, ok, err)
	}
}

// TestRestoreAndRecoverStop: a closed Stop stops a restore between
// messages, with what was delivered recorded; a second run restores the
// rest and nothing twice. A recovery stopped changes nothing.
func TestRestoreAndRecoverStop(t *testing.T) {
	ctx := context.Background()
	backup := newMem(t, nil)
	for i := range 10 {
		mustAppend(t, backup, mailbox.Inbox, fmt.Sprintf("m%d", i))
	}
	live := newMem(t, nil)
	state := NewMemState()
	stop := make(chan struct{})
	n := 0
	rep, err := Restore(ctx, backup, live, &RestoreOptions{User: "alice", Records: state, BatchMessages: 2, Stop: stop,
		Progress: func(int, int64) {
			if n++; n == 3 {
				close(stop)
			}
		}})
	if !errors.Is(err, ErrStopped) {
		t.Fatalf("stopped restore: %v", err)
	}
	if rep.Total.Restored < 3 || rep.Total.Restored >= 10 {
		t.Fatalf("stopped restore restored %d, want at least 3 and not all", rep.Total.Restored)
	}
	first := rep.Total.Restored
	rep, err = Restore(ctx, backup, live, &RestoreOptions{User: "alice", Records: state})
	if err != nil || rep.Total.Restored != 10-first || rep.Total.Present != first {
		t.Fatalf("second restore: %+v, %v; want %d restored, %d present", rep.Total, err, 10-first, first)
	}

	closed := make(chan struct{})
	close(closed)
	before := dump(t, live, true)
	if _, err := Recover(ctx, live, &RecoverOptions{User: "alice", Records: state, Stop: closed}); !errors.Is(err, ErrStopped) {
		t.Fatalf("stopped recover: %v", err)
	}
	if got := dump(t, live, true); got != before {
		t.Fatalf("a stopped recovery changed the store:\n%s\nwas:\n%s", got, before)
	}
}

// TestRestoreHonoursLoggedExpunges: an expunge that an embedding server
// logged in the journal's change log is a user's deletion: the restore
// skips the message.
func TestRestoreHonoursLoggedExpunges(t *testing.T) {
	ctx := context.Background()
	live := newMem(t, nil)
	for _, n := range []string{"a", "b", "c"} {
		mustAppend(t, live, mailbox.Inbox, n)
	}
	backup, err := live.Clone()
	if err != nil {
		t.Fatal(err)
	}
	info, _ := live.Status(ctx, mailbox.Inbox)
	j, err := journal.Open(filepath.Join(t.TempDir(), "journal"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	// The server expunges b and logs it; c is lost without a trace (the
	// live store keeps no index of expunges: plainStore hides memstore's).
	if err := live.Expunge(ctx, mailbox.Inbox, uid.SetOf(2, 3)); err != nil {
		t.Fatal(err)
	}
	if _, err := j.Append(ctx, journal.Event{Kind: journal.KindExpunge, User: "alice", MailboxID: info.ID, Mailbox: mailbox.Inbox,
		UIDs: uid.SetOf(2), EmailIDs: []mailbox.EmailID{mailbox.EmailIDOf(body("b"))}}); err != nil {
		t.Fatal(err)
	}
	rep, err := Restore(ctx, backup, plainStore{live}, &RestoreOptions{User: "alice", Records: NewJournalState(j)})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Total.SkippedDeleted != 1 || rep.Total.Restored != 1 || rep.Total.Present != 1 {
		t.Fatalf("%+v; want b skipped as deleted, c restored, a present", rep.Total)
	}
}

// TestRestoreDropsStaleLostRecords: a restore killed after its delivery
// but before it dropped the lost record leaves the record behind; the
// next restore finds the message present and drops the record, so a later
// user's expunge of the restored copy (logged by the server) is honoured.
func TestRestoreDropsStaleLostRecords(t *testing.T) {
	ctx := context.Background()
	backup := newMem(t, nil)
	for _, n := range []string{"a", "b"} {
		mustAppend(t, backup, mailbox.Inbox, n)
	}
	live, err := backup.Clone()
	if err != nil {
		t.Fatal(err)
	}
	info, _ := live.Status(ctx, mailbox.Inbox)
	j, err := journal.Open(filepath.Join(t.TempDir(), "journal"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	state := NewJournalState(j)
	idB := mailbox.EmailIDOf(body("b"))
	// Recovery: b lost at UID 2, recorded, expunged.
	if err := state.RecordLost(ctx, "alice", []Lost{{MailboxID: info.ID, Mailbox: mailbox.Inbox, UID: 2, EmailID: idB, Reason: "body missing", Time: time.Now()}}); err != nil {
		t.Fatal(err)
	}
	if err := live.Expunge(ctx, mailbox.Inbox, uid.SetOf(2)); err != nil {
		t.Fatal(err)
	}
	// The killed restore: b delivered again, its record kept.
	newUID := mustAppend(t, live, mailbox.Inbox, "b")
	rep, err := Restore(ctx, backup, plainStore{live}, &RestoreOptions{User: "alice", Records: state})
	if err != nil || rep.Total.Present != 2 || rep.Total.Restored != 0 {
		t.Fatalf("%+v %v", rep.Total, err)
	}
	if _, found, _ := state.LostRecord(ctx, "alice", info.ID, idB); found {
		t.Fatal("the lost record of a message present again is kept")
	}
	// The user deletes b; the server logs it; a restore leaves it deleted.
	if err := live.Expunge(ctx, mailbox.Inbox, uid.SetOf(newUID)); err != nil {
		t.Fatal(err)
	}
	if _, err := j.Append(ctx, journal.Event{Kind: journal.KindExpunge, User: "alice", MailboxID: info.ID, Mailbox: mailbox.Inbox,
		UIDs: uid.SetOf(newUID), EmailIDs: []mailbox.EmailID{idB}}); err != nil {
		t.Fatal(err)
	}
	rep, err = Restore(ctx, backup, plainStore{live}, &RestoreOptions{User: "alice", Records: state})
	if err != nil || rep.Total.Restored != 0 || rep.Total.SkippedDeleted != 1 {
		t.Fatalf("the user's deletion was undone: %+v %v", rep.Total, err)
	}
}
