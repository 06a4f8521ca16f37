package replica

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/mailrepl/mailrepl/journal"
	"github.com/mailrepl/mailrepl/mailbox"
	"github.com/mailrepl/mailrepl/mailbox/maildir"
	"github.com/mailrepl/mailrepl/uid"
)

// ageTrees sets the times of every file and directory under the roots to
// t: the trees last changed then, long enough ago for their stamps.
func ageTrees(tb testing.TB, t time.Time, roots ...string) {
	tb.Helper()
	for _, root := range roots {
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			return os.Chtimes(p, t, t)
		})
		if err != nil {
			tb.Fatal(err)
		}
	}
}

// stampsFixture opens a source and a target Maildir and a journal, closed
// when the test ends, with two messages in two folders of the source.
func stampsFixture(t *testing.T) (src, dst *maildir.Store, j *journal.Journal, srcRoot, dstRoot string) {
	t.Helper()
	dir := t.TempDir()
	srcRoot, dstRoot = filepath.Join(dir, "src"), filepath.Join(dir, "dst")
	var err error
	if src, err = maildir.Open(srcRoot, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { src.Close() })
	if dst, err = maildir.Open(dstRoot, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dst.Close() })
	if j, err = journal.Open(filepath.Join(dir, "journal"), nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { j.Close() })
	mustCreate(t, src, "Archive")
	mustAppend(t, src, mailbox.Inbox, "a")
	mustAppend(t, src, "Archive", "b", mailbox.Seen)
	return src, dst, j, srcRoot, dstRoot
}

// TestStampsSkipUnchanged checks that a sync of two Maildirs whose stamps
// are as when they last agreed lists nothing and does nothing, and that
// every change on either side, a full scan and other options make the
// sync do its work again.
func TestStampsSkipUnchanged(t *testing.T) {
	for _, mode := range []Mode{Mirror, TwoWay} {
		t.Run(mode.String(), func(t *testing.T) {
			ctx := context.Background()
			src, dst, j, srcRoot, dstRoot := stampsFixture(t)
			opts := &Options{Mode: mode, State: NewJournalState(j), Pair: "p"}
			clock := time.Now().Add(-time.Hour)
			age := func() {
				clock = clock.Add(time.Minute)
				ageTrees(t, clock, srcRoot, dstRoot)
			}
			sync := func(what string, wantUnchanged bool, o *Options) *Report {
				t.Helper()
				rep := mustSync(t, src, dst, o)
				if rep.Unchanged != wantUnchanged {
					t.Fatalf("%s: Unchanged = %v, want %v (report %+v)", what, rep.Unchanged, wantUnchanged, rep.Total)
				}
				return rep
			}
			same := func(what string) {
				t.Helper()
				if s, d := dump(t, src, true), dump(t, dst, true); s != d {
					t.Fatalf("%s: stores differ:\nsource:\n%s\ntarget:\n%s", what, s, d)
				}
			}

			sync("first copy", false, opts)
			age()
			sync("first sync after the copy (the copy wrote the target)", false, opts)
			sync("nothing changed since both agreed", true, opts)
			same("unchanged")

			// A source change is seen.
			if err := src.StoreFlags(ctx, mailbox.Inbox, uid.SetOf(1), mailbox.FlagsAdd, mailbox.MustFlags(mailbox.Flagged)); err != nil {
				t.Fatal(err)
			}
			age()
			if rep := sync("source flag changed", false, opts); rep.Total.FlagChanges != 1 {
				t.Fatalf("source flag changed: %d flag changes, want 1", rep.Total.FlagChanges)
			}
			same("after the source's flag change")
			age()
			sync("after it, once", false, opts)
			sync("after it, twice", true, opts)

			// A target change is seen: reverted in a mirror, taken in a
			// two-way sync.
			mustAppend(t, dst, "Archive", "c")
			age()
			sync("target appended", false, opts)
			same("after the target's append")
			age()
			sync("after it, once", false, opts)
			sync("after it, twice", true, opts)

			// A change too recent for the stamps: the sync does its work.
			mustAppend(t, src, mailbox.Inbox, "d")
			sync("source appended just now", false, opts)
			same("after the source's append")

			age()
			sync("after it, once", false, opts)
			sync("after it, twice", true, opts)
			full := *opts
			full.FullScan = true
			sync("full scan", false, &full)
			other := *opts
			other.TargetOnly = DeleteTargetOnly
			sync("other options", false, &other)

			// The folder map is among the options that count; its
			// defaults change nothing.
			sync("the options back", false, opts)
			sync("the options back, twice", true, opts)
			noMap := *opts
			noMap.NoSpecialUseMap = true
			sync("pairing by special use off", false, &noMap)
			sync("pairing by special use off, twice", true, &noMap)
			mapped := *opts
			mapped.FolderNames = map[string]string{"Work": "Projects"} // no such mailbox: only the options change
			sync("a folder map", false, &mapped)
			sync("a folder map, twice", true, &mapped)
			same("after the folder map")
		})
	}
}

// TestStampsAfterMirrorWork checks that a mirror that did work records the
// stamps as it left the stores, so that the next sync of unchanged stores
// lists nothing; that what it recorded was the truth (a full scan then
// finds nothing to do); and that a source change during the sync, or a
// two-way sync's work, records nothing.
func TestStampsAfterMirrorWork(t *testing.T) {
	ctx := context.Background()
	src, dst, j, srcRoot, _ := stampsFixture(t)
	clock := time.Now().Add(-time.Hour)
	ageSource := func() {
		clock = clock.Add(time.Minute)
		ageTrees(t, clock, srcRoot)
	}
	opts := &Options{Mode: Mirror, State: NewJournalState(j), Pair: "p"}
	sync := func(what string, wantUnchanged bool, o *Options) *Report {
		t.Helper()
		rep := mustSync(t, src, dst, o)
		if rep.Unchanged != wantUnchanged {
			t.Fatalf("%s: Unchanged = %v, want %v (report %+v)", what, rep.Unchanged, wantUnchanged, rep.Total)
		}
		return rep
	}
	agreed := func(what string) {
		t.Helper()
		full := *opts
		full.FullScan = true
		if rep := sync(what+": full scan", false, &full); rep.Total.Changed() {
			t.Fatalf("%s: the stamps were recorded before the stores agreed: a full scan did %+v", what, rep.Total)
		}
		if s, d := dump(t, src, true), dump(t, dst, true); s != d {
			t.Fatalf("%s: stores differ:\nsource:\n%s\ntarget:\n%s", what, s, d)
		}
	}

	ageSource()
	if rep := sync("first copy", false, opts); rep.Total.Appended != 2 {
		t.Fatalf("first copy appended %d, want 2", rep.Total.Appended)
	}
	sync("right after the copy", true, opts)
	agreed("after the copy")

	if err := src.StoreFlags(ctx, mailbox.Inbox, uid.SetOf(1), mailbox.FlagsAdd, mailbox.MustFlags(mailbox.Flagged)); err != nil {
		t.Fatal(err)
	}
	mustAppend(t, src, "Archive", "c")
	ageSource()
	if rep := sync("source changed", false, opts); rep.Total.FlagChanges != 1 || rep.Total.Appended != 1 {
		t.Fatalf("source changed: %+v, want 1 flag change and 1 append", rep.Total)
	}
	sync("right after", true, opts)
	agreed("after the source's changes")

	// Mail delivered to the source while the mirror runs: the source's
	// stamp moved, nothing is recorded, the next sync copies it.
	mustAppend(t, src, mailbox.Inbox, "d")
	ageSource()
	during := *opts
	delivered := false
	during.OnOp = func(string, Op) {
		if !delivered {
			delivered = true
			mustAppend(t, src, "Archive", "e")
		}
	}
	sync("delivery during the sync", false, &during)
	if !delivered {
		t.Fatal("the sync had nothing to do: the test delivered nothing")
	}
	ageSource()
	if rep := sync("after the delivery", false, opts); rep.Total.Appended != 1 {
		t.Fatalf("after the delivery: appended %d, want 1", rep.Total.Appended)
	}
	sync("right after", true, opts)
	agreed("after the delivery")

	// A two-way sync that did work records nothing: both sides are
	// others' to write.
	mustAppend(t, src, mailbox.Inbox, "f")
	ageSource()
	two := *opts
	two.Mode = TwoWay
	two.Pair = "two-way"
	sync("two-way, first", false, &two)
	mustAppend(t, src, mailbox.Inbox, "g")
	ageSource()
	if rep := sync("two-way with work", false, &two); rep.Total.Appended != 1 {
		t.Fatalf("two-way: appended %d, want 1", rep.Total.Appended)
	}
	sync("two-way after work", false, &two)
}
