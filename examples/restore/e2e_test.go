package main

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/mailrepl/mailrepl/internal/batchtest"
	"github.com/mailrepl/mailrepl/internal/dovecottest"
	"github.com/mailrepl/mailrepl/internal/mailgen"
	"github.com/mailrepl/mailrepl/mailbox"
	"github.com/mailrepl/mailrepl/uid"
	"github.com/stretchr/testify/require"
)

var (
	flagSeed     = flag.Uint64("seed", 0, "run the randomized disaster scenario with this seed only")
	flagMessages = flag.Int("disaster-messages", 10_000, "messages of the live store in TestDisaster")
)

// disaster is issue 7's scenario on Maildir trees, driven through the
// programs an operator runs: a live store mirrored to a replica by
// sync_all_users; a backup taken; new mail, and users deleting old mail
// (through the store and through a real Dovecot); mirrored again, so the
// journal sees the deletions; then a failure removes the bodies of some
// messages, their uidlist lines left. restore -recover must expunge and
// record exactly those; restore -from the backup must bring back exactly
// those the backup has, with new UIDs, their flags and dates, none of the
// deleted ones, the new mail untouched; a second restore must do nothing;
// and Dovecot must then serve the store with no blank message and no
// duplicate.
type disaster struct {
	messages, newMail int
	deletedStore      int // deleted through the store
	deletedDovecot    int // deleted through Dovecot (IMAP EXPUNGE)
	lostOld, lostNew  int // bodies lost: of old mail (in the backup), of new mail (not)
	folders           []string
	twoFolderCopy     bool // one message present in two folders
	inProcess         bool // run restore in this process (else its binary)
	seed              uint64
}

// TestDisaster is the scenario at the size the issue names.
func TestDisaster(t *testing.T) {
	n := *flagMessages
	if testing.Short() {
		n = 2_000
	}
	d := disaster{messages: n, newMail: n / 20, deletedStore: 3 * n / 200, deletedDovecot: 3 * n / 200,
		lostOld: n / 5, folders: []string{"INBOX"}, seed: 1, inProcess: true}
	d.run(t)
}

// TestDisasterRandomized runs variants: random sizes of each group,
// several folders, a message in two folders, lost new mail. Replay one
// with -seed.
func TestDisasterRandomized(t *testing.T) {
	seeds := []uint64{11, 12, 13}
	if *flagSeed != 0 {
		seeds = []uint64{*flagSeed}
	}
	for _, seed := range seeds {
		r := rand.New(rand.NewPCG(seed, 17))
		d := disaster{
			messages: 150 + r.IntN(250), newMail: r.IntN(40), deletedStore: r.IntN(20), deletedDovecot: r.IntN(20),
			lostOld: 1 + r.IntN(60), folders: []string{"INBOX", "Work", "Lists/go"}[:1+r.IntN(3)],
			twoFolderCopy: r.IntN(2) == 0, inProcess: true, seed: seed,
		}
		d.lostNew = r.IntN(d.newMail/4 + 1)
		if seed == seeds[0] && *flagSeed == 0 {
			// One variant with all of it: three folders, a message in two
			// of them, lost new mail.
			d.folders, d.twoFolderCopy, d.lostNew = []string{"INBOX", "Work", "Lists/go"}, true, max(d.lostNew, 2)
			d.newMail = max(d.newMail, 12)
		}
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			t.Logf("seed %d (replay with -run TestDisasterRandomized -seed %d): %+v", seed, seed, d)
			d.run(t)
		})
	}
}

// picked is a message chosen in a folder.
type picked struct {
	folder string
	msg    mailbox.Message
}

func (d disaster) run(t *testing.T) {
	if dovecottest.Binary() == "" {
		t.Skip("dovecot is not installed: this scenario deletes mail through it and serves the result with it (apt-get install dovecot-imapd)")
	}
	fail := func(format string, args ...any) {
		t.Helper()
		t.Fatalf("seed %d: %s", d.seed, fmt.Sprintf(format, args...))
	}
	dir := t.TempDir()
	const user = "alice"
	start := time.Now()
	phase := func(name string) { t.Logf("%6.1fs %s", time.Since(start).Seconds(), name) }
	liveTmpl, replicaTmpl, backupTmpl := "maildir:"+dir+"/live/{user}", "maildir:"+dir+"/replica/{user}", "maildir:"+dir+"/backup/{user}"
	liveRoot, backupRoot := filepath.Join(dir, "live", user), filepath.Join(dir, "backup", user)
	journalDir := filepath.Join(dir, "journal")
	syncArgs := []string{"-source", liveTmpl, "-target", replicaTmpl, "-journal", journalDir, "-json", user}
	restore := func(args ...string) jsonOutput {
		t.Helper()
		args = append([]string{"-into", liveTmpl, "-journal", journalDir, "-json", "-user", user}, args...)
		var code int
		var stdout, stderr string
		if d.inProcess {
			code, stdout, stderr = runInProcess(t, args...)
		} else {
			code, stdout, stderr = runBinary(t, restoreBin, args...)
		}
		if code != exitOK {
			fail("restore %v: exit %d\n%s\n%s", args, code, stdout, stderr)
		}
		return decode(t, stdout)
	}

	// The live store, mirrored.
	var folders []mailgen.Folder
	for _, f := range d.folders {
		folders = append(folders, mailgen.Folder{Name: f, Kind: mailgen.Received, Weight: 1})
	}
	gen, err := mailgen.NewWithOptions(d.seed, &mailgen.Options{Folders: folders, AttachmentRate: -1, LargeRate: -1, DuplicateRate: -1})
	require.NoError(t, err)
	live := openMaildir(t, liveRoot, false)
	_, err = gen.Populate(bg, live, mailgen.AccountSpec{Messages: d.messages})
	require.NoError(t, err)
	if d.twoFolderCopy && len(d.folders) > 1 {
		var first mailbox.Message
		for m, err := range live.Messages(bg, d.folders[0], uid.SetOf(1)) {
			require.NoError(t, err)
			first = m
		}
		rc, err := live.Open(bg, d.folders[0], first.UID)
		require.NoError(t, err)
		_, err = live.Append(bg, d.folders[1], mailbox.NewLiteral(rc, first.Size), mailbox.AppendMeta{Flags: first.Flags, InternalDate: first.InternalDate})
		rc.Close()
		require.NoError(t, err)
	}
	require.NoError(t, live.Close())
	if code, stdout, stderr := runBinary(t, syncBin, syncArgs...); code != 0 {
		fail("first mirror: exit %d\n%s\n%s", code, stdout, stderr)
	}

	phase("populated and mirrored")
	// Last night's backup.
	copyDir(t, liveRoot, backupRoot)
	backupIDs := map[string]map[mailbox.EmailID]mailbox.Message{}
	for f, ms := range listAll(t, backupRoot) {
		backupIDs[f] = map[mailbox.EmailID]mailbox.Message{}
		for _, m := range ms {
			backupIDs[f][m.EmailID] = m
		}
	}
	inBackup := func(f string, id mailbox.EmailID) bool { _, ok := backupIDs[f][id]; return ok }

	phase("backup taken")
	// The day: new mail arrives, through the store and through Dovecot
	// (whose uidlist lines cache no EmailID); users delete old mail,
	// through the store and through Dovecot.
	viaDovecot := d.newMail / 3
	live = openMaildir(t, liveRoot, false)
	_, err = gen.Mutate(bg, live, d.seed+1, mailgen.MutateSpec{New: d.newMail - viaDovecot})
	require.NoError(t, err)
	r := rand.New(rand.NewPCG(d.seed, 5))
	pick := func(k int, from map[string][]mailbox.Message, ok func(f string, m mailbox.Message) bool) []picked {
		var all []picked
		for _, f := range slices.Sorted(func(yield func(string) bool) {
			for f := range from {
				if !yield(f) {
					return
				}
			}
		}) {
			for _, m := range from[f] {
				if ok(f, m) {
					all = append(all, picked{f, m})
				}
			}
		}
		r.Shuffle(len(all), func(i, j int) { all[i], all[j] = all[j], all[i] })
		return all[:min(k, len(all))]
	}
	day := listAll(t, liveRoot)
	deleted := map[string]map[mailbox.EmailID]bool{}
	for f := range day {
		deleted[f] = map[mailbox.EmailID]bool{}
	}
	old := func(f string, m mailbox.Message) bool { return inBackup(f, m.EmailID) && !deleted[f][m.EmailID] }
	for _, p := range pick(d.deletedStore, day, old) {
		require.NoError(t, live.Expunge(bg, p.folder, uid.SetOf(p.msg.UID)))
		deleted[p.folder][p.msg.EmailID] = true
	}
	require.NoError(t, live.Close())
	byDovecot := pick(d.deletedDovecot, day, old)
	if len(byDovecot) > 0 || viaDovecot > 0 {
		srv := dovecottest.Start(t, dovecottest.Config{MailRoot: liveRoot})
		srv.Chown(t)
		c := srv.Login(t)
		for i := range viaDovecot {
			m := gen.NewMail(d.seed+2, i)
			_, _, err := c.Append(mailbox.Inbox, nil, m.InternalDate, m.Body)
			require.NoError(t, err)
		}
		uids := map[string][]uid.UID{}
		for _, p := range byDovecot {
			uids[p.folder] = append(uids[p.folder], p.msg.UID)
			deleted[p.folder][p.msg.EmailID] = true
		}
		for f, us := range uids {
			_, err := c.Select(f)
			require.NoError(t, err)
			require.NoError(t, c.UIDStore(uid.SetOf(us...).String(), "+FLAGS", `\Deleted`))
			require.NoError(t, c.Expunge())
		}
		require.NoError(t, c.Logout())
		srv.Stop()
	}
	nDeleted := 0
	for _, ids := range deleted {
		nDeleted += len(ids)
	}
	if code, stdout, stderr := runBinary(t, syncBin, syncArgs...); code != 0 {
		fail("second mirror: exit %d\n%s\n%s", code, stdout, stderr)
	}

	phase("the day's changes mirrored")
	// The failure: bodies gone, their uidlist lines left.
	before := listAll(t, liveRoot)
	lost := pick(d.lostOld, before, func(f string, m mailbox.Message) bool { return inBackup(f, m.EmailID) })
	lost = append(lost, pick(d.lostNew, before, func(f string, m mailbox.Message) bool { return !inBackup(f, m.EmailID) })...)
	lostIn := map[string]map[mailbox.EmailID]mailbox.Message{}
	for f := range before {
		lostIn[f] = map[mailbox.EmailID]mailbox.Message{}
	}
	wantRestored := 0
	paths := map[string]map[mailbox.EmailID]string{}
	for f := range before {
		paths[f] = files(t, liveRoot, f)
	}
	for _, p := range lost {
		path, ok := paths[p.folder][p.msg.EmailID]
		if !ok {
			fail("no file for %s in %s", p.msg.EmailID.Short(), p.folder)
		}
		require.NoError(t, os.Remove(path))
		lostIn[p.folder][p.msg.EmailID] = p.msg
		if inBackup(p.folder, p.msg.EmailID) {
			wantRestored++
		}
	}
	survivors := map[string][]mailbox.Message{}
	for f, ms := range before {
		for _, m := range ms {
			if _, gone := lostIn[f][m.EmailID]; !gone {
				survivors[f] = append(survivors[f], m)
			}
		}
	}

	phase("failure made")
	// restore -recover: exactly those, recorded. A dry run first.
	snap := batchtest.Snapshot(t, liveRoot)
	dry := byUser(restore("-recover", "-dry-run"))[user]
	if dry.Report == nil || dry.Report.Recover.Lost != len(lost) {
		fail("dry-run recover: %+v, want %d lost", dry.Report, len(lost))
	}
	batchtest.RequireSame(t, snap, batchtest.Snapshot(t, liveRoot), "a dry run changes nothing")
	rec := byUser(restore("-recover"))[user]
	if rec.Status != "ok" || rec.Report.Recover.Lost != len(lost) {
		fail("recover: %s %s, %d lost, want %d: %v", rec.Status, rec.Reason, rec.Report.Recover.Lost, len(lost), rec.Report.Recover.Items)
	}
	for _, it := range rec.Report.Recover.Items {
		id, err := mailbox.ParseEmailID(it.EmailID)
		if _, ok := lostIn[it.Mailbox][id]; err != nil || !ok {
			fail("recover took %s uid %d (%s) for lost", it.Mailbox, it.UID, it.EmailID)
		}
	}
	if got := listAll(t, liveRoot); !sameMessages(got, survivors) {
		fail("after recover the live store is not exactly the survivors")
	}

	phase("recovered")
	// restore -from the backup: the lost ones it has come back, nothing else.
	rs := byUser(restore("-from", backupTmpl))[user]
	if rs.Status != "ok" {
		fail("restore: %s %s", rs.Status, rs.Reason)
	}
	tot := rs.Report.Restore.Total
	if tot.Restored != wantRestored || tot.SkippedDeleted != nDeleted || tot.Failed != 0 || tot.SkippedPolicy != 0 {
		fail("restore: %+v; want %d restored, %d skipped as deleted; skipped: %v", tot, wantRestored, nDeleted, rs.Report.Restore.Skipped)
	}
	after := listAll(t, liveRoot)
	for f := range after {
		counts := map[mailbox.EmailID]int{}
		for _, m := range after[f] {
			counts[m.EmailID]++
			if deleted[f][m.EmailID] {
				fail("deleted message %s came back in %s", m.EmailID.Short(), f)
			}
		}
		for id, n := range counts {
			if n != 1 {
				fail("%s holds %s %d times", f, id.Short(), n)
			}
		}
		// Restored messages: new UIDs, their flags and dates.
		for id, orig := range lostIn[f] {
			i := slices.IndexFunc(after[f], func(m mailbox.Message) bool { return m.EmailID == id })
			if !inBackup(f, id) {
				if i >= 0 {
					fail("lost new message %s is back in %s, though no backup has it", id.Short(), f)
				}
				continue
			}
			if i < 0 {
				fail("lost message %s not restored in %s", id.Short(), f)
			}
			m := after[f][i]
			if m.UID <= orig.UID || !m.Flags.Equal(orig.Flags) || !m.InternalDate.Equal(orig.InternalDate) {
				fail("restored %s in %s: uid %d (was %d), flags (%s) (were (%s)), date %v (was %v)",
					id.Short(), f, m.UID, orig.UID, m.Flags, orig.Flags, m.InternalDate, orig.InternalDate)
			}
		}
		// The survivors, the new mail among them, are untouched.
		for _, s := range survivors[f] {
			if !slices.ContainsFunc(after[f], func(m mailbox.Message) bool {
				return m.UID == s.UID && m.EmailID == s.EmailID && m.Flags.Equal(s.Flags)
			}) {
				fail("%s uid %d (%s) changed or vanished", f, s.UID, s.EmailID.Short())
			}
		}
	}
	phase("restored")
	kept := 0
	for _, m := range rec.Report.Recover.Mailboxes {
		kept += m.Expunged
	}
	t.Logf("seed %d: %d lost (%d of them new), %d restored, %d present, %d deleted by users skipped (%d uidlist lines of Dovecot's expunges left alone by recover)",
		d.seed, len(lost), len(lost)-wantRestored, tot.Restored, tot.Present, tot.SkippedDeleted, kept)
	again := byUser(restore("-from", backupTmpl))[user]
	if again.Report.Restore.Total.Restored != 0 {
		fail("a second restore restored %d", again.Report.Restore.Total.Restored)
	}
	if got := listAll(t, liveRoot); !sameMessages(got, after) {
		fail("a second restore changed the live store")
	}

	phase("restored again")
	// A real Dovecot serves the live store: no blank message, no duplicate.
	srv := dovecottest.Start(t, dovecottest.Config{MailRoot: liveRoot})
	srv.Chown(t)
	c := srv.Login(t)
	defer c.Logout()
	for f, ms := range after {
		sel, err := c.Select(f)
		require.NoError(t, err, f)
		got, err := c.UIDFetch("1:*", dovecottest.FetchItemsBody)
		require.NoError(t, err, f)
		if len(got) != len(ms) || sel.Exists != len(ms) {
			fail("Dovecot serves %d messages in %s (EXISTS %d), want %d", len(got), f, sel.Exists, len(ms))
		}
		seen := map[mailbox.EmailID]bool{}
		for _, g := range got {
			if len(g.Body) == 0 || g.Size == 0 {
				fail("Dovecot serves a blank message, %s uid %d", f, g.UID)
			}
			id := mailbox.EmailIDOf(g.Body)
			if seen[id] {
				fail("Dovecot serves %s twice in %s", id.Short(), f)
			}
			seen[id] = true
		}
	}
}

// sameMessages reports whether two listings hold the same messages under
// the same UIDs with the same flags.
func sameMessages(a, b map[string][]mailbox.Message) bool {
	for f := range a {
		if len(a[f]) != len(b[f]) {
			return false
		}
	}
	for f := range b {
		if len(a[f]) != len(b[f]) {
			return false
		}
		for i := range b[f] {
			x, y := a[f][i], b[f][i]
			if x.UID != y.UID || x.EmailID != y.EmailID || !x.Flags.Equal(y.Flags) {
				return false
			}
		}
	}
	return true
}
