package replica

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/mailrepl/mailrepl/mailbox"
	"github.com/mailrepl/mailrepl/mailbox/memstore"
)

func TestFolderMapTranslates(t *testing.T) {
	m := folderMap{{src: "Sent", dst: "Sent Items"}, {src: "[Gmail]/Trash", dst: "Deleted Items"}}
	for _, c := range []struct {
		name   string
		target string // the target name of source mailbox name
		tok    bool
		source string // the source's name for target mailbox name
		sok    bool
	}{
		{"Sent", "Sent Items", true, "Sent", false},
		{"Sent/2024", "Sent Items/2024", true, "Sent/2024", false},
		{"Sent Items", "Sent Items", false, "Sent", true},
		{"Sent Items/2024", "Sent Items/2024", false, "Sent/2024", true},
		{"[Gmail]/Trash", "Deleted Items", true, "[Gmail]/Trash", false},
		{"Deleted Items", "Deleted Items", false, "[Gmail]/Trash", true},
		{"[Gmail]", "[Gmail]", true, "[Gmail]", true},
		{"Sentinel", "Sentinel", true, "Sentinel", true},
		{"INBOX", "INBOX", true, "INBOX", true},
		{"INBOX/Sent", "INBOX/Sent", true, "INBOX/Sent", true},
	} {
		if got, ok := m.target(c.name); got != c.target || ok != c.tok {
			t.Errorf("target(%q) = %q, %v, want %q, %v", c.name, got, ok, c.target, c.tok)
		}
		if got, ok := m.source(c.name); got != c.source || ok != c.sok {
			t.Errorf("source(%q) = %q, %v, want %q, %v", c.name, got, ok, c.source, c.sok)
		}
	}
}

func TestExplicitFolderMap(t *testing.T) {
	for _, c := range []struct {
		names map[string]string
		want  folderMap
		err   string // a part of the error, "" for none
	}{
		{names: nil},
		{names: map[string]string{"Sent": "Sent Items"}, want: folderMap{{src: "Sent", dst: "Sent Items"}}},
		{names: map[string]string{"Sent": "Sent Items", "Trash": "Deleted Items"},
			want: folderMap{{src: "Sent", dst: "Sent Items"}, {src: "Trash", dst: "Deleted Items"}}},
		{names: map[string]string{"Sent": "Sent"}},
		{names: map[string]string{"inbox/Sent": "Inbox/Sent Items"}, want: folderMap{{src: "INBOX/Sent", dst: "INBOX/Sent Items"}}},
		{names: map[string]string{"inbox/Sent": "INBOX/Sent"}},
		{names: map[string]string{"INBOX": "Old"}, err: `"INBOX"="Old": INBOX`},
		{names: map[string]string{"Old": "inbox"}, err: `"Old"="inbox": INBOX`},
		{names: map[string]string{"Sent": ""}, err: `"Sent"="": `},
		{names: map[string]string{"/Sent": "Sent Items"}, err: `"/Sent"="Sent Items": `},
		{names: map[string]string{"Sent": "Sent/Items"}, err: `"Sent"="Sent/Items": its names overlap`},
		{names: map[string]string{"Sent": "Sent Items", "Sent Items": "Sent"}, err: `"Sent Items"="Sent": its names overlap`},
		{names: map[string]string{"Sent": "A", "Sent/2024": "B"}, err: `"Sent/2024"="B": its names overlap`},
		{names: map[string]string{"A": "Sent", "B": "Sent"}, err: `"B"="Sent": its names overlap`},
	} {
		got, err := explicitFolderMap(c.names)
		switch {
		case c.err == "" && err != nil:
			t.Errorf("%v: %v", c.names, err)
		case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
			t.Errorf("%v: error %v, want one with %q", c.names, err, c.err)
		case c.err == "" && !slices.Equal(got, c.want):
			t.Errorf("%v: %v, want %v", c.names, got, c.want)
		}
	}
	if _, err := New(newMem(t, nil), newMem(t, nil), &Options{FolderNames: map[string]string{"INBOX": "x"}}); err == nil {
		t.Error("New took a FolderNames that maps INBOX")
	}
}

func TestGuessFolderMap(t *testing.T) {
	info := func(name string, use mailbox.SpecialUse) mailbox.Info {
		return mailbox.Info{Name: name, ID: mailbox.ID("id-" + name), SpecialUse: use}
	}
	sent := func(name string) mailbox.Info { return info(name, mailbox.UseSent) }
	inbox := info("INBOX", "")
	for _, c := range []struct {
		name     string
		explicit folderMap
		src, dst []mailbox.Info
		headers  []Header
		want     folderMap
	}{
		{name: "paired by use",
			src: []mailbox.Info{inbox, sent("Sent"), info("Trash", mailbox.UseTrash)},
			dst: []mailbox.Info{inbox, sent("Sent Items"), info("Deleted Items", mailbox.UseTrash)},
			want: folderMap{{src: "Sent", dst: "Sent Items", use: mailbox.UseSent},
				{src: "Trash", dst: "Deleted Items", use: mailbox.UseTrash}}},
		{name: "same name: nothing to map",
			src: []mailbox.Info{sent("Sent")}, dst: []mailbox.Info{sent("Sent")}},
		{name: "stores that say nothing: by name",
			src:  []mailbox.Info{info("INBOX", ""), info("Sent", ""), info("Work", "")},
			dst:  []mailbox.Info{info("INBOX", ""), info("[Gmail]/Sent Mail", ""), info("[Gmail]", "")},
			want: folderMap{{src: "Sent", dst: "[Gmail]/Sent Mail", use: mailbox.UseSent}}},
		{name: "a store that says: not by name",
			src: []mailbox.Info{info("Sent", ""), info("Trash", mailbox.UseTrash)},
			dst: []mailbox.Info{info("Sent Items", ""), info("Deleted Items", "")},
			// the target says nothing: its "Deleted Items" is \Trash by name
			want: folderMap{{src: "Trash", dst: "Deleted Items", use: mailbox.UseTrash}}},
		{name: "two of one use on the target",
			src: []mailbox.Info{sent("Sent")}, dst: []mailbox.Info{sent("Sent Items"), sent("Sent Messages")}},
		{name: "two of one use on the source",
			src: []mailbox.Info{sent("Sent"), sent("Outbox")}, dst: []mailbox.Info{sent("Sent Items")}},
		{name: "never INBOX",
			src: []mailbox.Info{info("INBOX", mailbox.UseAll)}, dst: []mailbox.Info{info("All Mail", mailbox.UseAll)}},
		{name: "the target has the source's name",
			src: []mailbox.Info{sent("Sent")}, dst: []mailbox.Info{sent("Sent Items"), info("Sent", "")}},
		{name: "the target has a mailbox below the source's name",
			src: []mailbox.Info{sent("Sent")}, dst: []mailbox.Info{sent("Sent Items"), info("Sent/2024", "")}},
		{name: "the source has the target's name",
			src: []mailbox.Info{sent("Sent"), info("Sent Items", "")}, dst: []mailbox.Info{sent("Sent Items")}},
		{name: "one below the other",
			src: []mailbox.Info{sent("Sent")}, dst: []mailbox.Info{sent("Sent/Mail")}},
		{name: "the explicit map names the folder",
			explicit: folderMap{{src: "Sent", dst: "Gesendet"}},
			src:      []mailbox.Info{sent("Sent")}, dst: []mailbox.Info{sent("Sent Items"), info("Gesendet", "")},
			want: folderMap{{src: "Sent", dst: "Gesendet"}}},
		{name: "the state pairs the source folder with another",
			src: []mailbox.Info{sent("Sent")}, dst: []mailbox.Info{sent("Sent Items"), info("Old Sent", "")},
			headers: []Header{{SrcID: "id-Sent", DstID: "id-Old Sent"}}},
		{name: "the state pairs the target folder with another",
			src: []mailbox.Info{sent("Sent"), info("Other", "")}, dst: []mailbox.Info{sent("Sent Items")},
			headers: []Header{{SrcID: "id-Other", DstID: "id-Sent Items"}}},
		{name: "the state pairs them",
			src: []mailbox.Info{sent("Sent")}, dst: []mailbox.Info{sent("Sent Items")},
			headers: []Header{{SrcID: "id-Sent", DstID: "id-Sent Items"}},
			want:    folderMap{{src: "Sent", dst: "Sent Items", use: mailbox.UseSent}}},
		{name: "two of one use on the target, the state pairs one",
			src: []mailbox.Info{sent("Sent")}, dst: []mailbox.Info{sent("Sent Items"), sent("Sent Messages")},
			headers: []Header{{SrcID: "id-Sent", DstID: "id-Sent Items", SrcName: "Sent", DstName: "Sent Items"}},
			want:    folderMap{{src: "Sent", dst: "Sent Items", use: mailbox.UseSent}}},
		{name: "two of one use on the target, the state pairs one under other names",
			src: []mailbox.Info{sent("Sent")}, dst: []mailbox.Info{sent("Sent Items"), sent("Sent Messages")},
			headers: []Header{{SrcID: "id-Sent", DstID: "id-Sent Items", SrcName: "Sent", DstName: "Gesendet"}}},
		{name: "the state's other mailbox is gone",
			src: []mailbox.Info{sent("Sent")}, dst: []mailbox.Info{sent("Sent Items")},
			headers: []Header{{SrcID: "id-Sent", DstID: "id-gone"}},
			want:    folderMap{{src: "Sent", dst: "Sent Items", use: mailbox.UseSent}}},
	} {
		got := guessFolderMap(slices.Clone(c.explicit), c.src, c.dst, c.headers)
		if !slices.Equal(got, c.want) {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}

// specialUseStores makes a source with "Sent" (\Sent, two messages, and
// "Sent/2024" below it) and a target whose \Sent folder is "Sent Items",
// as a Dovecot and an Exchange account have them.
func specialUseStores(t *testing.T) (src, dst *memstore.Store) {
	t.Helper()
	ctx := context.Background()
	src, dst = newMem(t, nil), newMem(t, nil)
	mustCreate(t, src, "Sent")
	mustCreate(t, src, "Sent/2024")
	mustCreate(t, src, "Work")
	mustAppend(t, src, "Sent", "s1", mailbox.Seen)
	mustAppend(t, src, "Sent", "s2", mailbox.Seen)
	mustAppend(t, src, "Sent/2024", "s3", mailbox.Seen)
	mustAppend(t, src, mailbox.Inbox, "i1")
	mustCreate(t, dst, "Sent Items")
	for _, c := range []struct {
		s    *memstore.Store
		name string
	}{{src, "Sent"}, {dst, "Sent Items"}} {
		if err := c.s.SetSpecialUse(ctx, c.name, mailbox.UseSent); err != nil {
			t.Fatal(err)
		}
	}
	return src, dst
}

// names lists a store's mailbox names.
func names(t *testing.T, s mailbox.Reader) []string {
	t.Helper()
	infos, err := s.Mailboxes(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var ns []string
	for _, i := range infos {
		ns = append(ns, i.Name)
	}
	return ns
}

// mailOf describes the messages of one mailbox, UIDs left out.
func mailOf(t *testing.T, s mailbox.Reader, name string) string {
	t.Helper()
	for line := range strings.SplitSeq(dump(t, s, false), "\n") {
		if n, rest, ok := strings.Cut(line, " sub="); ok && n == name {
			_, msgs, _ := strings.Cut(rest, ": ")
			return msgs
		}
	}
	t.Fatalf("no mailbox %q", name)
	return ""
}

// quiet checks that a sync changed nothing: no mailbox op, no copy.
func quiet(t *testing.T, rep *Report) {
	t.Helper()
	if rep.Total.Changed() || rep.Total.Appended+rep.Total.AppendedToSource > 0 || len(rep.MailboxOps) > 0 || len(rep.Conflicts) > 0 {
		t.Errorf("a second sync did something: ops %v, counts %+v, conflicts %v", rep.MailboxOps, rep.Total, rep.Conflicts)
	}
}

func TestSpecialUseMirror(t *testing.T) {
	for _, mode := range []Mode{Mirror, Migrate} {
		t.Run(mode.String(), func(t *testing.T) {
			src, dst := specialUseStores(t)
			st := NewMemState()
			opts := &Options{Mode: mode, State: st}
			rep := mustSync(t, src, dst, opts)
			if got, want := names(t, dst), []string{"INBOX", "Sent Items", "Sent Items/2024", "Work"}; !slices.Equal(got, want) {
				t.Fatalf("target mailboxes %q, want %q (ops %v)", got, want, rep.MailboxOps)
			}
			for s, d := range map[string]string{"Sent": "Sent Items", "Sent/2024": "Sent Items/2024", "INBOX": "INBOX"} {
				if got, want := mailOf(t, dst, d), mailOf(t, src, s); got != want {
					t.Errorf("target %q holds %s, source %q %s", d, got, s, want)
				}
			}
			if rep.Total.Appended != 4 {
				t.Errorf("appended %d, want 4", rep.Total.Appended)
			}
			if pairs, want := reportPairs(rep), []string{"INBOX→INBOX", "Sent/2024→Sent Items/2024", "Sent→Sent Items", "Work→Work"}; !slices.Equal(pairs, want) {
				t.Errorf("report pairs %q, want %q", pairs, want)
			}

			// The second sync lists both stores and finds nothing to do.
			quiet(t, mustSync(t, src, dst, &Options{Mode: mode, State: st, FullScan: true}))

			// New mail goes where the old went.
			mustAppend(t, src, "Sent", "s4", mailbox.Seen)
			rep = mustSync(t, src, dst, &Options{Mode: mode, State: st, FullScan: true})
			if rep.Total.Appended != 1 || len(rep.MailboxOps) > 0 {
				t.Errorf("third sync: ops %v, appended %d, want none and 1", rep.MailboxOps, rep.Total.Appended)
			}
			if got, want := mailOf(t, dst, "Sent Items"), mailOf(t, src, "Sent"); got != want {
				t.Errorf("target Sent Items holds %s, source Sent %s", got, want)
			}
			if got, want := names(t, dst), []string{"INBOX", "Sent Items", "Sent Items/2024", "Work"}; !slices.Equal(got, want) {
				t.Errorf("target mailboxes after the third sync %q, want %q", got, want)
			}
		})
	}
}

func TestSpecialUseTwoWay(t *testing.T) {
	src, dst := specialUseStores(t)
	st := NewMemState()
	mustAppend(t, dst, "Sent Items", "t1", mailbox.Seen)
	mustCreate(t, dst, "Sent Items/Old")
	mustAppend(t, dst, "Sent Items/Old", "t2")
	rep := mustSync(t, src, dst, &Options{Mode: TwoWay, State: st})
	if got, want := names(t, dst), []string{"INBOX", "Sent Items", "Sent Items/2024", "Sent Items/Old", "Work"}; !slices.Equal(got, want) {
		t.Fatalf("target mailboxes %q, want %q (ops %v)", got, want, rep.MailboxOps)
	}
	if got, want := names(t, src), []string{"INBOX", "Sent", "Sent/2024", "Sent/Old", "Work"}; !slices.Equal(got, want) {
		t.Fatalf("source mailboxes %q, want %q (ops %v)", got, want, rep.MailboxOps)
	}
	for s, d := range map[string]string{"Sent": "Sent Items", "Sent/2024": "Sent Items/2024", "Sent/Old": "Sent Items/Old"} {
		if got, want := mailOf(t, dst, d), mailOf(t, src, s); got != want {
			t.Errorf("target %q holds %s, source %q %s", d, got, s, want)
		}
	}
	if n := strings.Count(mailOf(t, src, "Sent"), "("); n != 3 {
		t.Errorf("source Sent holds %d messages, want 3 (two of its own, one from the target)", n)
	}
	quiet(t, mustSync(t, src, dst, &Options{Mode: TwoWay, State: st, FullScan: true}))

	// Changes on either side go to the paired folder.
	mustAppend(t, dst, "Sent Items", "t3")
	mustAppend(t, src, "Sent", "s5")
	// (Both take the same UID: the sync renumbers one, a UID conflict.)
	rep = mustSync(t, src, dst, &Options{Mode: TwoWay, State: st, FullScan: true})
	if len(rep.MailboxOps) > 0 {
		t.Errorf("third sync: ops %v, want none", rep.MailboxOps)
	}
	if got, want := mailOf(t, dst, "Sent Items"), mailOf(t, src, "Sent"); got != want || strings.Count(got, "(") != 5 {
		t.Errorf("target Sent Items holds %s, source Sent %s, want the same 5 messages", got, want)
	}
	if got, want := names(t, dst), []string{"INBOX", "Sent Items", "Sent Items/2024", "Sent Items/Old", "Work"}; !slices.Equal(got, want) {
		t.Errorf("target mailboxes after the third sync %q, want %q", got, want)
	}
	quiet(t, mustSync(t, src, dst, &Options{Mode: TwoWay, State: st, FullScan: true}))
}

func TestSpecialUseExplicitMapWins(t *testing.T) {
	src, dst := specialUseStores(t)
	mustCreate(t, dst, "Sent Mail")
	st := NewMemState()
	opts := func() *Options {
		return &Options{State: st, FullScan: true, FolderNames: map[string]string{"Sent": "Sent Mail"}}
	}
	rep := mustSync(t, src, dst, opts())
	if got, want := mailOf(t, dst, "Sent Mail"), mailOf(t, src, "Sent"); got != want {
		t.Errorf("target Sent Mail holds %s, source Sent %s (ops %v)", got, want, rep.MailboxOps)
	}
	if got := mailOf(t, dst, "Sent Items"); got != "" {
		t.Errorf("target Sent Items holds %s, want nothing", got)
	}
	if got := names(t, dst); slices.Contains(got, "Sent") || !slices.Contains(got, "Sent Mail/2024") {
		t.Errorf("target mailboxes %q: want Sent Mail/2024 and no Sent", got)
	}
	quiet(t, mustSync(t, src, dst, opts()))
}

func TestSpecialUseMapOff(t *testing.T) {
	src, dst := specialUseStores(t)
	rep := mustSync(t, src, dst, &Options{NoSpecialUseMap: true})
	got := names(t, dst)
	if want := []string{"INBOX", "Sent", "Sent Items", "Sent/2024", "Work"}; !slices.Equal(got, want) {
		t.Fatalf("target mailboxes %q, want %q (ops %v)", got, want, rep.MailboxOps)
	}
	if got, want := mailOf(t, dst, "Sent"), mailOf(t, src, "Sent"); got != want {
		t.Errorf("target Sent holds %s, source Sent %s", got, want)
	}
}

// TestFolderMapTakesName: a target mailbox whose name the explicit map
// gives a source folder is left alone and reported, every time.
func TestFolderMapTakesName(t *testing.T) {
	src, dst := specialUseStores(t)
	mustCreate(t, dst, "Sent")
	mustAppend(t, dst, "Sent", "x1")
	before := mailOf(t, dst, "Sent")
	st := NewMemState()
	for run := 0; run < 2; run++ {
		rep := mustSync(t, src, dst, &Options{State: st, FullScan: true, FolderNames: map[string]string{"Sent": "Sent Items"}})
		if len(rep.Conflicts) != 1 || rep.Conflicts[0].Mailbox != "Sent" || rep.Conflicts[0].Side != "target" ||
			!strings.Contains(rep.Conflicts[0].Reason, `"Sent" → "Sent Items"`) {
			t.Errorf("run %d: conflicts %+v, want the target's Sent", run, rep.Conflicts)
		}
		if got := mailOf(t, dst, "Sent"); got != before {
			t.Errorf("run %d: target Sent holds %s, want %s as it was", run, got, before)
		}
		if got, want := mailOf(t, dst, "Sent Items"), mailOf(t, src, "Sent"); got != want {
			t.Errorf("run %d: target Sent Items holds %s, source Sent %s", run, got, want)
		}
	}
	if got := names(t, src); slices.Contains(got, "Sent Items") {
		t.Errorf("source mailboxes %q: the target's hidden Sent came back as Sent Items", got)
	}
}

// TestSpecialUseDryRun: a dry run plans in the target's own names: it
// would create "Sent Items/2024", not "Sent", and sync "Sent" with "Sent
// Items".
func TestSpecialUseDryRun(t *testing.T) {
	src, dst := specialUseStores(t)
	rep := mustSync(t, src, dst, &Options{DryRun: true})
	if got, want := rep.MailboxOps, []string{`mailbox create target "Sent Items/2024": new`, `mailbox create target "Work": new`}; !slices.Equal(got, want) {
		t.Errorf("ops %q, want %q", got, want)
	}
	if pairs, want := reportPairs(rep), []string{"INBOX→INBOX", "Sent/2024→Sent Items/2024", "Sent→Sent Items", "Work→Work"}; !slices.Equal(pairs, want) {
		t.Errorf("report pairs %q, want %q", pairs, want)
	}
	if got, want := names(t, dst), []string{"INBOX", "Sent Items"}; !slices.Equal(got, want) {
		t.Errorf("a dry run changed the target: %q", got)
	}
}

// TestSpecialUsePairHolds: a pair made by use holds when a second folder
// of that use appears on the target: no rename, no copy.
func TestSpecialUsePairHolds(t *testing.T) {
	src, dst := specialUseStores(t)
	st := NewMemState()
	mustSync(t, src, dst, &Options{State: st})
	mustCreate(t, dst, "Sent Messages")
	if err := dst.SetSpecialUse(context.Background(), "Sent Messages", mailbox.UseSent); err != nil {
		t.Fatal(err)
	}
	rep := mustSync(t, src, dst, &Options{State: st, FullScan: true, TargetOnly: DeleteTargetOnly})
	if got, want := rep.MailboxOps, []string{`mailbox delete target "Sent Messages": only on target: deleted by policy`}; !slices.Equal(got, want) {
		t.Errorf("ops %q, want %q", got, want)
	}
	if rep.Total.Appended > 0 {
		t.Errorf("appended %d, want none", rep.Total.Appended)
	}
	if got, want := names(t, dst), []string{"INBOX", "Sent Items", "Sent Items/2024", "Work"}; !slices.Equal(got, want) {
		t.Errorf("target mailboxes %q, want %q", got, want)
	}
}

// TestSpecialUseMapTurnedOff: a pair made by use, the pairing then turned
// off: the source's name wins, the target folder is renamed to it and
// nothing is copied again.
func TestSpecialUseMapTurnedOff(t *testing.T) {
	src, dst := specialUseStores(t)
	st := NewMemState()
	mustSync(t, src, dst, &Options{State: st})
	before := mailOf(t, dst, "Sent Items")
	rep := mustSync(t, src, dst, &Options{State: st, FullScan: true, NoSpecialUseMap: true})
	if rep.Total.Appended > 0 {
		t.Errorf("appended %d, want none", rep.Total.Appended)
	}
	if got, want := names(t, dst), []string{"INBOX", "Sent", "Sent/2024", "Work"}; !slices.Equal(got, want) {
		t.Fatalf("target mailboxes %q, want %q (ops %v)", got, want, rep.MailboxOps)
	}
	if got := mailOf(t, dst, "Sent"); got != before {
		t.Errorf("target Sent holds %s, want what Sent Items held, %s", got, before)
	}
	quiet(t, mustSync(t, src, dst, &Options{State: st, FullScan: true, NoSpecialUseMap: true}))
}

// TestFolderMapTrustDeletesNothing: stores synced by name, then a map
// that takes names both have: the mailboxes it leaves out are not taken
// for vanished ones, so trusting missing mailboxes deletes nothing.
func TestFolderMapTrustDeletesNothing(t *testing.T) {
	src, dst := specialUseStores(t)
	mustCreate(t, src, "Sent Items")
	mustAppend(t, src, "Sent Items", "si1")
	st := NewMemState()
	mustSync(t, src, dst, &Options{State: st}) // by name: both have Sent and Sent Items
	if got, want := names(t, dst), []string{"INBOX", "Sent", "Sent Items", "Sent/2024", "Work"}; !slices.Equal(got, want) {
		t.Fatalf("target mailboxes %q, want %q", got, want)
	}
	for _, mode := range []Mode{Mirror, TwoWay} {
		rep := mustSync(t, src, dst, &Options{Mode: mode, State: st, FullScan: true, TrustMissingMailboxes: true,
			FolderNames: map[string]string{"Sent": "Sent Items"}})
		for _, op := range rep.MailboxOps {
			if strings.Contains(op, "delete") {
				t.Errorf("%s: %s", mode, op)
			}
		}
		var hidden []string
		for _, c := range rep.Conflicts {
			if strings.Contains(c.Reason, "folder map") {
				hidden = append(hidden, c.Side+" "+c.Mailbox)
			}
		}
		if want := []string{"source Sent Items", "target Sent", "target Sent/2024"}; !slices.Equal(hidden, want) {
			t.Errorf("%s: conflicts %q, want %q", mode, hidden, want)
		}
		for _, s := range []mailbox.Reader{src, dst} {
			for _, n := range []string{"Sent", "Sent Items"} {
				if !slices.Contains(names(t, s), n) {
					t.Errorf("%s: %q is gone", mode, n)
				}
			}
		}
	}
}

// reportPairs returns the report's mailbox pairs as "source→target",
// sorted.
func reportPairs(rep *Report) []string {
	var pairs []string
	for _, m := range rep.Mailboxes {
		pairs = append(pairs, m.Source+"→"+m.Target)
	}
	slices.Sort(pairs)
	return pairs
}
