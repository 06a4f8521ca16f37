package replica

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mailrepl/mailrepl/internal/dovecottest"
	"github.com/mailrepl/mailrepl/internal/mailgen"
	"github.com/mailrepl/mailrepl/journal"
	"github.com/mailrepl/mailrepl/mailbox"
	"github.com/mailrepl/mailrepl/mailbox/maildir"
	"github.com/mailrepl/mailrepl/uid"
)

// recoveryScenario is the disaster of issue 7 on real Maildir trees: a
// live store mirrored to a replica; a backup taken; new mail and user
// deletions, mirrored again (the journal sees the deletions); then a
// failure removes the bodies of some old messages, their uidlist lines
// left. Recover must expunge and record exactly those; Restore from the
// backup must bring back exactly those the backup has, with new UIDs and
// their flags and dates, none of the deleted ones, touching nothing else;
// a second Restore must do nothing.
type recoveryScenario struct {
	messages, newMail, deleted, lost int
	folders                          []string
	twoFolderCopy                    bool // one message present in two folders
	seed                             uint64
}

func TestRecoverAndRestore(t *testing.T) {
	scenarios := []recoveryScenario{
		{messages: 400, newMail: 50, deleted: 30, lost: 80, folders: []string{"INBOX", "Work"}, twoFolderCopy: true, seed: 1},
	}
	n := 3
	if testing.Short() {
		n = 1
	}
	if *flagSeed != 0 {
		scenarios, n = nil, 1
	}
	for i := range n {
		seed := uint64(i)*31 + 7
		if *flagSeed != 0 {
			seed = *flagSeed
		}
		r := rand.New(rand.NewPCG(seed, 3))
		scenarios = append(scenarios, recoveryScenario{
			messages: 100 + r.IntN(300), newMail: r.IntN(40), deleted: r.IntN(40), lost: 1 + r.IntN(60),
			folders: []string{"INBOX", "Lists/go", "Été"}[:1+r.IntN(3)], twoFolderCopy: r.IntN(2) == 0, seed: seed,
		})
	}
	for _, sc := range scenarios {
		t.Run(fmt.Sprintf("seed=%d", sc.seed), func(t *testing.T) {
			sc.run(t)
		})
	}
}

func (sc recoveryScenario) run(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	liveRoot, replicaRoot, backupRoot := filepath.Join(dir, "live"), filepath.Join(dir, "replica"), filepath.Join(dir, "backup")
	live := openMaildir(t, liveRoot, false)
	replicaStore := openMaildir(t, replicaRoot, false)
	j, err := journal.Open(filepath.Join(dir, "journal"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	state := NewJournalState(j)
	fail := func(format string, args ...any) {
		t.Helper()
		t.Fatalf("seed %d (replay with -run TestRecoverAndRestore -seed %d): %s", sc.seed, sc.seed, fmt.Sprintf(format, args...))
	}

	// A live store, mirrored.
	var folders []mailgen.Folder
	for _, f := range sc.folders {
		folders = append(folders, mailgen.Folder{Name: f, Kind: mailgen.Received, Weight: 1})
	}
	gen, err := mailgen.NewWithOptions(sc.seed, &mailgen.Options{Folders: folders, MaxSize: 64 << 10, DuplicateRate: -1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := gen.Populate(ctx, live, mailgen.AccountSpec{Messages: sc.messages}); err != nil {
		t.Fatal(err)
	}
	if sc.twoFolderCopy && len(sc.folders) > 1 {
		// One message in two folders: losing it in one must not touch the
		// other, and the backup restores the lost one only.
		var first mailbox.Message
		for m, err := range live.Messages(ctx, sc.folders[0], uid.SetOf(1)) {
			if err != nil {
				t.Fatal(err)
			}
			first = m
		}
		copyMessage(t, live, sc.folders[0], first, sc.folders[1])
	}
	mirror := func() *Report {
		t.Helper()
		s, err := New(live, replicaStore, &Options{State: state, User: "alice", Pair: "alice", Cache: state})
		if err != nil {
			t.Fatal(err)
		}
		rep, err := s.Sync(ctx)
		if err != nil {
			fail("mirror: %v", err)
		}
		return rep
	}
	mirror()
	// Last night's backup.
	copyDir(t, liveRoot, backupRoot)

	// The day: new mail, and users delete some old mail; mirrored.
	if _, err := gen.Mutate(ctx, live, sc.seed+1, mailgen.MutateSpec{New: sc.newMail}); err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(sc.seed, 5))
	old := listAll(t, live) // folder → messages (the new mail included)
	deletedIDs := map[mailbox.EmailID]bool{}
	pickOld := func(k int, exclude map[mailbox.EmailID]bool) map[string][]mailbox.Message {
		out := map[string][]mailbox.Message{}
		var all []struct {
			f string
			m mailbox.Message
		}
		for f, ms := range old {
			for _, m := range ms {
				if m.InternalDate.Before(gen.Options().Epoch.Add(gen.Options().Span)) && !exclude[m.EmailID] {
					all = append(all, struct {
						f string
						m mailbox.Message
					}{f, m})
				}
			}
		}
		slices.SortFunc(all, func(a, b struct {
			f string
			m mailbox.Message
		}) int {
			return strings.Compare(a.f+a.m.EmailID.String(), b.f+b.m.EmailID.String())
		})
		r.Shuffle(len(all), func(i, j int) { all[i], all[j] = all[j], all[i] })
		for _, x := range all[:min(k, len(all))] {
			out[x.f] = append(out[x.f], x.m)
		}
		return out
	}
	newIDs := map[mailbox.EmailID]bool{}
	for i := range sc.newMail {
		newIDs[mailbox.EmailIDOf(gen.NewMail(sc.seed+1, i).Body)] = true
	}
	for f, ms := range pickOld(sc.deleted, newIDs) {
		var set []uid.UID
		for _, m := range ms {
			set = append(set, m.UID)
			deletedIDs[m.EmailID] = true
		}
		if err := live.Expunge(ctx, f, uid.SetOf(set...)); err != nil {
			t.Fatal(err)
		}
	}
	mirror()

	// The failure: bodies of old messages gone, their uidlist lines left.
	old = listAll(t, live)
	exclude := map[mailbox.EmailID]bool{}
	for id := range newIDs {
		exclude[id] = true
	}
	lost := pickOld(sc.lost, exclude)
	lostIDs := map[string]map[mailbox.EmailID]mailbox.Message{}
	nLost := 0
	for f, ms := range lost {
		lostIDs[f] = map[mailbox.EmailID]mailbox.Message{}
		for _, m := range ms {
			removeFile(t, liveRoot, f, m)
			lostIDs[f][m.EmailID] = m
			nLost++
		}
	}
	beforeRecover := listAll(t, openMaildir(t, liveRoot, true))

	// Recover: exactly those, recorded.
	rrep, err := Recover(ctx, live, &RecoverOptions{User: "alice", Records: state})
	if err != nil {
		fail("recover: %v", err)
	}
	if rrep.Lost != nLost {
		fail("recover recorded %d lost messages, want %d: %v", rrep.Lost, nLost, rrep.Items)
	}
	for _, it := range rrep.Items {
		id, _ := mailbox.ParseEmailID(it.EmailID)
		if _, ok := lostIDs[it.Mailbox][id]; !ok {
			fail("recover took %s uid %d (%s) for lost", it.Mailbox, it.UID, it.EmailID)
		}
	}
	if again, err := Recover(ctx, live, &RecoverOptions{User: "alice", Records: state}); err != nil || again.Lost != 0 {
		fail("a second recover: %d lost, %v", again.Lost, err)
	}
	// The journal holds a record of each, unsure (a uidlist line without a
	// file proves nothing by itself), with what the line cached.
	recorded := lostRecords(t, live, state)
	if len(recorded) != nLost {
		fail("%d lost records, want %d", len(recorded), nLost)
	}
	for _, l := range recorded {
		if _, ok := lostIDs[l.Mailbox][l.EmailID]; !ok || !l.Unsure || l.UID == 0 {
			fail("lost record %+v", l)
		}
	}

	// Restore from the backup: the lost ones come back, nothing else.
	backup := openMaildir(t, backupRoot, true)
	rs, err := Restore(ctx, backup, live, &RestoreOptions{User: "alice", Records: state})
	if err != nil {
		fail("restore: %v", err)
	}
	if rs.Total.Restored != nLost || rs.Total.Failed != 0 {
		fail("restored %+v, want %d restored", rs.Total, nLost)
	}
	if rs.Total.SkippedDeleted != len(deletedIDs) {
		fail("restore skipped %d as deleted, want %d: %v", rs.Total.SkippedDeleted, len(deletedIDs), rs.Skipped)
	}
	after := listAll(t, live)
	for f, ms := range after {
		seen := map[mailbox.EmailID]int{}
		for _, m := range ms {
			seen[m.EmailID]++
			if deletedIDs[m.EmailID] && !slices.ContainsFunc(beforeRecover[f], func(b mailbox.Message) bool { return b.EmailID == m.EmailID }) {
				fail("deleted message %s came back in %s", m.EmailID.Short(), f)
			}
		}
		for id, n := range seen {
			want := 0
			for _, b := range beforeRecover[f] {
				if b.EmailID == id {
					want++
				}
			}
			if _, wasLost := lostIDs[f][id]; wasLost {
				want++
			}
			if n != want {
				fail("%s holds %s %d times, want %d", f, id.Short(), n, want)
			}
		}
		// Restored messages: new UIDs, their flags and dates.
		for id, orig := range lostIDs[f] {
			i := slices.IndexFunc(ms, func(m mailbox.Message) bool { return m.EmailID == id })
			if i < 0 {
				fail("lost message %s not restored in %s", id.Short(), f)
			}
			m := ms[i]
			if m.UID <= orig.UID || !m.Flags.Equal(orig.Flags) || !m.InternalDate.Equal(orig.InternalDate) {
				fail("restored %s in %s: uid %d (was %d), flags (%s) (were (%s)), date %v (was %v)", id.Short(), f, m.UID, orig.UID, m.Flags, orig.Flags, m.InternalDate, orig.InternalDate)
			}
		}
	}
	// The messages untouched by the failure are exactly as before.
	for f, ms := range beforeRecover {
		for _, b := range ms {
			if !slices.ContainsFunc(after[f], func(m mailbox.Message) bool {
				return m.UID == b.UID && m.EmailID == b.EmailID && m.Flags.Equal(b.Flags)
			}) {
				fail("%s uid %d (%s) changed or vanished", f, b.UID, b.EmailID.Short())
			}
		}
	}
	if again, err := Restore(ctx, backup, live, &RestoreOptions{User: "alice", Records: state}); err != nil || again.Total.Restored != 0 {
		fail("a second restore: %+v, %v", again.Total, err)
	}
	if left := lostRecords(t, live, state); len(left) != 0 {
		fail("lost records left after the restore: %+v", left)
	}

	// A real Dovecot serves the live store: no blank message, no duplicate.
	if dovecottest.Binary() == "" {
		t.Log("dovecot is not installed: the IMAP check is skipped")
		return
	}
	srv := dovecottest.Start(t, dovecottest.Config{MailRoot: liveRoot})
	c := srv.Login(t)
	defer c.Logout()
	for f, ms := range after {
		sel, err := c.Select(utf7(f))
		if err != nil {
			fail("select %s: %v", f, err)
		}
		got, err := c.UIDFetch("1:*", dovecottest.FetchItemsBody)
		if err != nil {
			fail("fetch %s: %v", f, err)
		}
		if len(got) != len(ms) || int(sel.Exists) != len(ms) {
			fail("Dovecot serves %d messages in %s (EXISTS %d), want %d", len(got), f, sel.Exists, len(ms))
		}
		for _, g := range got {
			if len(g.Body) == 0 || g.Size == 0 {
				fail("Dovecot serves a blank message, %s uid %d", f, g.UID)
			}
		}
	}
}

func lostRecords(t testing.TB, s mailbox.Reader, rec Records) []Lost {
	t.Helper()
	infos, err := s.Mailboxes(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var out []Lost
	for _, info := range infos {
		for l, err := range rec.LostIn(context.Background(), "alice", info.ID) {
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, l)
		}
	}
	return out
}

func openMaildir(t testing.TB, root string, readOnly bool) *maildir.Store {
	t.Helper()
	s, err := maildir.Open(root, &maildir.Options{ReadOnly: readOnly})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func listAll(t testing.TB, s mailbox.Reader) map[string][]mailbox.Message {
	t.Helper()
	ctx := context.Background()
	infos, err := s.Mailboxes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]mailbox.Message{}
	for _, info := range infos {
		out[info.Name] = nil
		for m, err := range s.Messages(ctx, info.Name, uid.All) {
			if err != nil {
				t.Fatal(err)
			}
			if m.EmailID.IsZero() {
				rc, err := s.Open(ctx, info.Name, m.UID)
				if err != nil {
					t.Fatal(err)
				}
				m.EmailID, _, _ = mailbox.ComputeEmailID(rc)
				rc.Close()
			}
			out[info.Name] = append(out[info.Name], m)
		}
	}
	return out
}

func copyMessage(t testing.TB, s mailbox.Store, from string, m mailbox.Message, to string) {
	t.Helper()
	ctx := context.Background()
	rc, err := s.Open(ctx, from, m.UID)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if _, err := s.Append(ctx, to, mailbox.NewLiteral(rc, m.Size), mailbox.AppendMeta{Flags: m.Flags, InternalDate: m.InternalDate}); err != nil {
		t.Fatal(err)
	}
}

// removeFile deletes a message's file behind the store's back, as a disk
// failure would: its uidlist line stays.
func removeFile(t testing.TB, root, folder string, m mailbox.Message) {
	t.Helper()
	dir := root
	if folder != mailbox.Inbox {
		dir = filepath.Join(root, "."+strings.ReplaceAll(utf7(folder), "/", "."))
	}
	for _, sub := range []string{"cur", "new"} {
		es, _ := os.ReadDir(filepath.Join(dir, sub))
		for _, e := range es {
			p := filepath.Join(dir, sub, e.Name())
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			if mailbox.EmailIDOf(b) == m.EmailID {
				if err := os.Remove(p); err != nil {
					t.Fatal(err)
				}
				return
			}
		}
	}
	t.Fatalf("no file for %s in %s", m.EmailID.Short(), dir)
}

func copyDir(t testing.TB, from, to string) {
	t.Helper()
	if err := os.CopyFS(to, os.DirFS(from)); err != nil {
		t.Fatal(err)
	}
	// Keep mtimes: Maildir internal dates.
	filepath.WalkDir(from, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(from, p)
			if fi, err := d.Info(); err == nil {
				os.Chtimes(filepath.Join(to, rel), fi.ModTime(), fi.ModTime())
			}
		}
		return nil
	})
}

// utf7 is the IMAP (modified UTF-7) form of a mailbox name, enough for the
// names these tests use.
func utf7(name string) string {
	return strings.ReplaceAll(name, "Été", "&AMk-t&AOk-")
}
