package replica_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/mailrepl/mailrepl/internal/dovecottest"
	"github.com/mailrepl/mailrepl/internal/mailgen"
	"github.com/mailrepl/mailrepl/journal"
	"github.com/mailrepl/mailrepl/mailbox"
	"github.com/mailrepl/mailrepl/mailbox/maildir"
	"github.com/mailrepl/mailrepl/replica"
	"github.com/mailrepl/mailrepl/uid"
)

// TestDsyncEquivalence mirrors one Maildir tree A twice: with mailrepl
// (B: replica.Mirror between two maildir stores, the state in a journal)
// and with Dovecot's own `doveadm backup` (C: dsync copying the files;
// D: dsync with its default of hard-linking them). A real Dovecot then
// serves B and C, and the test compares what IMAP clients see of them,
// folder by folder: the mailbox list and subscriptions, UIDVALIDITY,
// UIDNEXT, UIDs, flags and keywords, internal dates, sizes and bytes. On
// disk it checks that B holds A's bytes and flags exactly, and names what
// dsync changes:
//
//   - the Maildir P flag (mailbox.Passed): dsync drops it (in C and D);
//     Dovecot shows P to no IMAP client, so over IMAP the two agree;
//   - CRs before a line feed: dsync's copy (C) strips one CR before each
//     LF, so a message stored with CRLF line endings becomes LF (the same
//     message to IMAP clients and by EmailID), a CR CR LF becomes CR LF,
//     and a CR that ends the file goes: those last two are other messages
//     to IMAP clients, and the test checks that IMAP shows exactly those
//     as different; a CR inside a line is kept. With hard links (D),
//     dsync links a file only when the two folders' permissions agree
//     (Dovecot 2.3.19 checks the modes; here only INBOX's, whose roots
//     the test opened to the unprivileged user) and copies the others,
//     rewriting them as in C; the test accepts either per file and logs
//     how many were linked.
//
// mailrepl reads A and writes nothing into it (every file name and byte
// is checked); dsync writes Dovecot's index files into A, which the test
// lists.
func TestDsyncEquivalence(t *testing.T) {
	if dovecottest.Binary() == "" {
		t.Skip("dovecot is not installed (apt-get install dovecot-core dovecot-imapd): skipping the comparison with doveadm backup")
	}
	ctx := t.Context()
	root := t.TempDir()
	dirA, dirB, dirC, dirD := filepath.Join(root, "A"), filepath.Join(root, "B"), filepath.Join(root, "C"), filepath.Join(root, "D")
	special := buildDsyncCorpus(t, dirA)
	before := snapshotTree(t, dirA)

	// mailrepl: A → B, twice (the second finds nothing to do).
	jdir := filepath.Join(root, "journal")
	for round := range 2 {
		a, err := maildir.Open(dirA, nil)
		if err != nil {
			t.Fatal(err)
		}
		b, err := maildir.Open(dirB, nil)
		if err != nil {
			t.Fatal(err)
		}
		j, err := journal.Open(jdir, nil)
		if err != nil {
			t.Fatal(err)
		}
		s, err := replica.New(a, b, &replica.Options{Mode: replica.Mirror, State: replica.NewJournalState(j)})
		if err != nil {
			t.Fatal(err)
		}
		rep, err := s.Sync(ctx)
		if err != nil {
			t.Fatalf("mirror A → B (round %d): %v", round+1, err)
		}
		if !rep.OK() {
			var w strings.Builder
			rep.WriteTable(&w)
			t.Fatalf("mirror A → B (round %d) reports failures:\n%s", round+1, w.String())
		}
		if round == 1 && rep.Total.Changed() {
			t.Errorf("a second mirror with nothing changed changed something: %+v", rep.Total)
		}
		for _, c := range []io.Closer{a, b, j} {
			if err := c.Close(); err != nil {
				t.Fatal(err)
			}
		}
	}
	if diff := diffSnapshots(before, snapshotTree(t, dirA)); diff != "" {
		t.Errorf("mailrepl changed its source A:\n%s", diff)
	}

	// dsync: A → C (copying) and A → D (hard links, its default).
	afterMailrepl := snapshotTree(t, dirA)
	if _, err := dovecottest.Backup(t, dirA, dirD); err != nil {
		t.Fatal(err)
	}
	if out, err := dovecottest.Backup(t, dirA, dirC, "maildir_copy_with_hardlinks=no"); err != nil {
		t.Fatal(err)
	} else if out != "" {
		t.Logf("doveadm backup A → C: %s", out)
	}
	if diff := diffSnapshots(afterMailrepl, snapshotTree(t, dirA)); diff != "" {
		t.Logf("what doveadm backup changed in its source A:\n%s", diff)
		if strings.Contains(diff, "/cur/") || strings.Contains(diff, "/new/") {
			t.Errorf("doveadm backup changed message files of A (expected index files only)")
		}
	} else {
		t.Errorf("doveadm backup left A untouched; expected it to write its index files there")
	}

	// On disk.
	listA, listB := readTree(t, dirA), readTree(t, dirB)
	listC, listD := readTree(t, dirC), readTree(t, dirD)
	if d := compareTrees(listA, listB, exact); d != "" {
		t.Errorf("mailrepl's copy B differs from A:\n%s", d)
	}
	var passed, rewritten, crlfOnly int
	dsyncCopy := func(m, _ treeMessage) treeMessage {
		if m.Flags.Has(mailbox.Passed) {
			passed++
			m.Flags = m.Flags.Without(mailbox.Passed)
		}
		if r := dsyncRewrite(m.Raw); !bytes.Equal(r, m.Raw) {
			if mailbox.EmailIDOf(r) == m.EmailID {
				crlfOnly++
			} else {
				rewritten++
			}
			m.Raw, m.EmailID = r, mailbox.EmailIDOf(r)
		}
		return m
	}
	if d := compareTrees(listA, listC, dsyncCopy); d != "" {
		t.Errorf("dsync's copy C differs from A by more than P flags and CRs before line feeds:\n%s", d)
	}
	t.Logf("dsync's copy C: P dropped from %d messages; %d messages rewritten into another message (CR CR LF, final CR), %d only from CRLF to LF", passed, rewritten, crlfOnly)
	if passed < len(special.passed) || rewritten < 2 || crlfOnly < 1 {
		t.Errorf("the corpus was to show each difference: P on %d (want ≥ %d), rewritten %d (want ≥ 2), CRLF only %d (want ≥ 1)",
			passed, len(special.passed), rewritten, crlfOnly)
	}
	// In D, a file is a hard link to A's (the same bytes) or a copy,
	// rewritten as in C.
	var dPassed, dRewritten, dCRLF int
	if d := compareTrees(listA, listD, func(m, got treeMessage) treeMessage {
		if m.Flags.Has(mailbox.Passed) {
			dPassed++
			m.Flags = m.Flags.Without(mailbox.Passed)
		}
		if r := dsyncRewrite(m.Raw); !bytes.Equal(got.Raw, m.Raw) && bytes.Equal(got.Raw, r) {
			if mailbox.EmailIDOf(r) == m.EmailID {
				dCRLF++
			} else {
				dRewritten++
			}
			m.Raw = r
		}
		return m
	}); d != "" {
		t.Errorf("dsync's hard-linked copy D differs from A by more than P flags and CRs before line feeds:\n%s", d)
	}
	linked, files := hardLinks(t, dirD)
	t.Logf("dsync's hard-linked copy D: %d of %d message files are hard links to A's (by folder: %v); P dropped from %d messages; %d rewritten into another message, %d only from CRLF to LF",
		sum(linked), files, linked, dPassed, dRewritten, dCRLF)
	if dPassed < len(special.passed) || sum(linked) == 0 {
		t.Errorf("D: P dropped from %d messages (want ≥ %d), %d hard links (want some)", dPassed, len(special.passed), sum(linked))
	}

	// Over IMAP: Dovecot serves B and C.
	srvB := dovecottest.Start(t, dovecottest.Config{MailRoot: dirB})
	srvC := dovecottest.Start(t, dovecottest.Config{MailRoot: dirC})
	imapB, imapC := imapView(t, srvB), imapView(t, srvC)
	if !slices.Equal(imapB.list, imapC.list) {
		t.Errorf("LIST: mailrepl's copy %q, dsync's %q", imapB.list, imapC.list)
	}
	if !slices.Equal(imapB.subscribed, imapC.subscribed) {
		t.Errorf("LSUB: mailrepl's copy %q, dsync's %q", imapB.subscribed, imapC.subscribed)
	}
	var same, differ int
	for _, name := range slices.Sorted(maps.Keys(listA)) {
		mbA := listA[name]
		ibox := imapName(name)
		fb, fc := imapB.boxes[ibox], imapC.boxes[ibox]
		if fb == nil || fc == nil {
			t.Errorf("%s: served from mailrepl's copy %v, from dsync's %v", name, fb != nil, fc != nil)
			continue
		}
		if fb.validity != uint32(mbA.info.UIDValidity) || fc.validity != fb.validity {
			t.Errorf("%s: UIDVALIDITY %d in A, %d from mailrepl's copy, %d from dsync's", name, mbA.info.UIDValidity, fb.validity, fc.validity)
		}
		if fb.uidNext != uint32(mbA.info.UIDNext) || fc.uidNext != fb.uidNext {
			t.Errorf("%s: UIDNEXT %d in A, %d from mailrepl's copy, %d from dsync's", name, mbA.info.UIDNext, fb.uidNext, fc.uidNext)
		}
		if len(fb.msgs) != len(mbA.msgs) || len(fc.msgs) != len(mbA.msgs) {
			t.Errorf("%s: %d messages in A, %d from mailrepl's copy, %d from dsync's", name, len(mbA.msgs), len(fb.msgs), len(fc.msgs))
			continue
		}
		for k, ma := range mbA.msgs {
			mb, mc := fb.msgs[k], fc.msgs[k]
			wantFlags := imapFlags(ma.Flags)
			if mb.UID != uint32(ma.UID) || mc.UID != mb.UID {
				t.Errorf("%s: message %d has UID %d in A, %d from mailrepl's copy, %d from dsync's", name, k, ma.UID, mb.UID, mc.UID)
				continue
			}
			if got := strings.Join(mb.Flags, " "); got != wantFlags {
				t.Errorf("%s uid %d: flags from mailrepl's copy (%s), want (%s)", name, ma.UID, got, wantFlags)
			}
			if got := strings.Join(mc.Flags, " "); got != wantFlags {
				t.Errorf("%s uid %d: flags from dsync's copy (%s), want (%s)", name, ma.UID, got, wantFlags)
			}
			if !mb.InternalDate.Equal(ma.Date) || !mc.InternalDate.Equal(ma.Date) {
				t.Errorf("%s uid %d: INTERNALDATE %v in A, %v from mailrepl's copy, %v from dsync's", name, ma.UID, ma.Date, mb.InternalDate, mc.InternalDate)
			}
			if want := crlf(ma.Raw); !bytes.Equal(mb.Body, want) || mb.Size != int64(len(want)) {
				t.Errorf("%s uid %d: mailrepl's copy serves %d bytes (RFC822.SIZE %d) %q, want A's message %q", name, ma.UID, len(mb.Body), mb.Size, clip(mb.Body), clip(want))
			}
			if want := crlf(dsyncRewrite(ma.Raw)); !bytes.Equal(mc.Body, want) || mc.Size != int64(len(want)) {
				t.Errorf("%s uid %d: dsync's copy serves %d bytes (RFC822.SIZE %d) %q, want %q", name, ma.UID, len(mc.Body), mc.Size, clip(mc.Body), clip(want))
			}
			if bytes.Equal(mb.Body, mc.Body) {
				same++
			} else {
				differ++
				t.Logf("%s uid %d: IMAP clients see another message from dsync's copy: %q instead of %q", name, ma.UID, clip(mc.Body), clip(mb.Body))
			}
		}
	}
	t.Logf("over IMAP: %d messages the same from both copies, %d differ (dsync rewrote them); flags, keywords, UIDs, UIDVALIDITY and internal dates agree", same, differ)
	if differ != rewritten {
		t.Errorf("%d messages differ over IMAP, want the %d that dsync rewrote into other messages", differ, rewritten)
	}
}

func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// hardLinks counts the message files under dir that have other links, by
// folder directory, and all message files.
func hardLinks(t *testing.T, dir string) (linked map[string]int, files int) {
	t.Helper()
	linked = map[string]int{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		if sub := filepath.Base(filepath.Dir(p)); sub != "cur" && sub != "new" {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		files++
		if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Nlink > 1 {
			rel, _ := filepath.Rel(dir, filepath.Dir(filepath.Dir(p)))
			linked[rel]++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return linked, files
}

// dsyncCorpus names the messages the corpus holds on purpose.
type dsyncCorpus struct {
	passed []string // mailbox/uid of messages with the P flag
}

// buildDsyncCorpus writes the corpus into a Maildir tree at dir: 300
// messages of mailgen's default account (folders INBOX, Archive,
// Archive/2023, Lists/golang-nuts and Lists/debian-devel under a parent
// that is no folder, Sent, Drafts, Trash, Work and Été; flags with
// keywords and P on forwarded mail), a nested non-ASCII folder, messages
// with CRs that are not line ends, with CRLF line ends, with P flags and
// with keywords of their own, and subscriptions.
func buildDsyncCorpus(t *testing.T, dir string) dsyncCorpus {
	t.Helper()
	ctx := t.Context()
	s, err := maildir.Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}()
	g := mailgen.New(20261122)
	if _, err := g.Populate(ctx, s, mailgen.AccountSpec{Messages: 300}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Create(ctx, "Été/Août"); err != nil {
		t.Fatal(err)
	}
	var c dsyncCorpus
	date := time.Date(2024, 8, 15, 9, 30, 0, 0, time.UTC)
	add := func(mbox, subject, body string, flags ...mailbox.Flag) {
		t.Helper()
		msg := "From: Ann <ann@example.org>\nTo: bob@example.net\nSubject: " + subject +
			"\nMessage-ID: <" + strings.ReplaceAll(subject, " ", ".") + "@example.org>\nDate: Thu, 15 Aug 2024 09:29:00 +0000\n\n" + body
		f := mailbox.MustFlags(flags...)
		u, err := s.Append(ctx, mbox, mailbox.BytesLiteral([]byte(msg)), mailbox.AppendMeta{Flags: f, InternalDate: date})
		if err != nil {
			t.Fatal(err)
		}
		if f.Has(mailbox.Passed) {
			c.passed = append(c.passed, fmt.Sprintf("%s/%d", mbox, u))
		}
		date = date.Add(time.Hour)
	}
	add(mailbox.Inbox, "progress bar", "Progress: 10%\r 50%\r 100%\r done.\n", mailbox.Seen)
	add(mailbox.Inbox, "cr cr lf", "A line that ends in CR CR LF\r\r\nand one that does not.\n", mailbox.Seen, mailbox.Flagged)
	add(mailbox.Inbox, "final cr", "The last byte of this message is a CR.\r")
	add("Work", "crlf ends", strings.ReplaceAll("Every line of this one\nends in CRLF.\n", "\n", "\r\n"), mailbox.Seen)
	add("Work", "forwarded", "Sent on to Carol.\n", mailbox.Seen, mailbox.Passed, "$Forwarded")
	add("Archive/2023", "passed unseen", "Bounced, never read.\n", mailbox.Passed)
	add("Archive/2023", "keywords", "Filed with keywords.\n", mailbox.Seen, "$Label1", "Project-X", "NonJunk")
	add("Été/Août", "vacances", "Un message d'été.\n", mailbox.Seen, mailbox.Answered, "$Label2")
	for _, name := range []string{mailbox.Inbox, "Work", "Été", "Été/Août", "Lists/golang-nuts"} {
		if err := s.Subscribe(ctx, name, true); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

// dsyncRewrite is what dsync's copy makes of a message's bytes: one CR
// before each LF is dropped, and a CR that ends the message.
func dsyncRewrite(b []byte) []byte {
	b = bytes.ReplaceAll(b, []byte("\r\n"), []byte("\n"))
	return bytes.TrimSuffix(b, []byte("\r"))
}

// crlf is a message as IMAP sends it: each LF not after a CR gets one.
func crlf(b []byte) []byte {
	out := make([]byte, 0, len(b)+len(b)/32)
	for i, c := range b {
		if c == '\n' && (i == 0 || b[i-1] != '\r') {
			out = append(out, '\r')
		}
		out = append(out, c)
	}
	return out
}

func clip(b []byte) []byte {
	if len(b) > 120 {
		return b[len(b)-120:]
	}
	return b
}

// imapFlags is how Dovecot shows flags: system flags and keywords, no
// private flags, in mailbox.Flags' order.
func imapFlags(f mailbox.Flags) string {
	var out []string
	for x := range f.Filter(func(x mailbox.Flag) bool { return !x.IsPrivate() }).All() {
		out = append(out, string(x))
	}
	return strings.Join(out, " ")
}

// imapName is a mailbox name as Dovecot's IMAP (separator "/") spells it.
func imapName(name string) string {
	levels := strings.Split(name, "/")
	for i, l := range levels {
		levels[i] = utf7(l)
	}
	return strings.Join(levels, "/")
}

// utf7 encodes s in IMAP's modified UTF-7 (RFC 3501 §5.1.3).
func utf7(s string) string {
	var b strings.Builder
	var run []uint16
	flush := func() {
		if len(run) == 0 {
			return
		}
		raw := make([]byte, 0, 2*len(run))
		for _, u := range run {
			raw = append(raw, byte(u>>8), byte(u))
		}
		b.WriteByte('&')
		b.WriteString(strings.ReplaceAll(base64.RawStdEncoding.EncodeToString(raw), "/", ","))
		b.WriteByte('-')
		run = run[:0]
	}
	for _, r := range s {
		switch {
		case r >= 0x20 && r <= 0x7e:
			flush()
			if r == '&' {
				b.WriteString("&-")
			} else {
				b.WriteRune(r)
			}
		default:
			run = utf16.AppendRune(run, r)
		}
	}
	flush()
	return b.String()
}

// treeFile is one file of a snapshot.
type treeFile struct {
	sum  [sha256.Size]byte
	size int64
}

// snapshotTree records every regular file under dir by its path and
// content.
func snapshotTree(t *testing.T, dir string) map[string]treeFile {
	t.Helper()
	files := map[string]treeFile{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		files[rel] = treeFile{sha256.Sum256(b), int64(len(b))}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// diffSnapshots lists the files added, removed and changed from a to b.
func diffSnapshots(a, b map[string]treeFile) string {
	var lines []string
	for p, f := range b {
		if old, ok := a[p]; !ok {
			lines = append(lines, fmt.Sprintf("  added   %s (%d bytes)", p, f.size))
		} else if old != f {
			lines = append(lines, fmt.Sprintf("  changed %s (%d → %d bytes)", p, old.size, f.size))
		}
	}
	for p := range a {
		if _, ok := b[p]; !ok {
			lines = append(lines, "  removed "+p)
		}
	}
	slices.Sort(lines)
	return strings.Join(lines, "\n")
}

// treeMessage is one message of a Maildir tree, as this project's store
// reads it.
type treeMessage struct {
	UID     uid.UID
	EmailID mailbox.EmailID
	Flags   mailbox.Flags
	Date    time.Time
	Raw     []byte
}

type treeMailbox struct {
	info mailbox.Info
	msgs []treeMessage
}

// readTree reads every mailbox and message of a Maildir tree, read-only.
func readTree(t *testing.T, dir string) map[string]*treeMailbox {
	t.Helper()
	ctx := context.Background()
	s, err := maildir.Open(dir, &maildir.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	infos, err := s.Mailboxes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	tree := map[string]*treeMailbox{}
	for _, info := range infos {
		mb := &treeMailbox{info: info}
		for m, err := range s.Messages(ctx, info.Name, uid.All) {
			if err != nil {
				t.Fatalf("%s: %v", dir, err)
			}
			rc, err := s.Open(ctx, info.Name, m.UID)
			if err != nil {
				t.Fatalf("%s: %v", dir, err)
			}
			raw, err := io.ReadAll(rc)
			rc.Close()
			if err != nil {
				t.Fatalf("%s: %v", dir, err)
			}
			mb.msgs = append(mb.msgs, treeMessage{UID: m.UID, EmailID: mailbox.EmailIDOf(raw), Flags: m.Flags, Date: m.InternalDate, Raw: raw})
		}
		tree[info.Name] = mb
	}
	return tree
}

func exact(m, _ treeMessage) treeMessage { return m }

// compareTrees says how got differs from want after expect is applied
// to each of want's messages (and the message got holds in its place):
// mailboxes, UIDVALIDITY, UIDNEXT, subscriptions and per message UID,
// bytes, flags and internal date.
func compareTrees(want, got map[string]*treeMailbox, expect func(want, got treeMessage) treeMessage) string {
	var d []string
	if w, g := slices.Sorted(maps.Keys(want)), slices.Sorted(maps.Keys(got)); !slices.Equal(w, g) {
		return fmt.Sprintf("mailboxes %q, want %q", g, w)
	}
	for _, name := range slices.Sorted(maps.Keys(want)) {
		w, g := want[name], got[name]
		if w.info.UIDValidity != g.info.UIDValidity || w.info.UIDNext != g.info.UIDNext || w.info.Subscribed != g.info.Subscribed {
			d = append(d, fmt.Sprintf("%s: UIDVALIDITY %d, UIDNEXT %d, subscribed %v; want %d, %d, %v", name,
				g.info.UIDValidity, g.info.UIDNext, g.info.Subscribed, w.info.UIDValidity, w.info.UIDNext, w.info.Subscribed))
		}
		if len(w.msgs) != len(g.msgs) {
			d = append(d, fmt.Sprintf("%s: %d messages, want %d", name, len(g.msgs), len(w.msgs)))
			continue
		}
		for k := range w.msgs {
			gm := g.msgs[k]
			wm := expect(w.msgs[k], gm)
			if wm.UID != gm.UID || !bytes.Equal(wm.Raw, gm.Raw) || !wm.Flags.Equal(gm.Flags) || !wm.Date.Equal(gm.Date) {
				d = append(d, fmt.Sprintf("%s: uid %d (%s) %v %q; want uid %d (%s) %v %q", name,
					gm.UID, gm.Flags, gm.Date, clip(gm.Raw), wm.UID, wm.Flags, wm.Date, clip(wm.Raw)))
			}
		}
	}
	return strings.Join(d, "\n")
}

// imapFolder is what IMAP shows of one mailbox.
type imapFolder struct {
	validity, uidNext uint32
	msgs              []dovecottest.Message
}

type imapState struct {
	list, subscribed []string // names, with \Noselect marked
	boxes            map[string]*imapFolder
}

// imapView reads everything a server shows its user.
func imapView(t *testing.T, srv *dovecottest.Server) imapState {
	t.Helper()
	c := srv.Login(t)
	defer c.Logout()
	v := imapState{boxes: map[string]*imapFolder{}}
	for _, sub := range []bool{false, true} {
		list, err := c.List(sub)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, m := range list {
			name := m.Name
			if slices.ContainsFunc(m.Attrs, func(a string) bool { return strings.EqualFold(a, `\Noselect`) }) {
				name += ` (\Noselect)`
			} else if !sub {
				v.boxes[m.Name] = nil
			}
			names = append(names, name)
		}
		slices.Sort(names)
		if sub {
			v.subscribed = names
		} else {
			v.list = names
		}
	}
	for name := range v.boxes {
		sel, err := c.Select(name)
		if err != nil {
			t.Fatal(err)
		}
		msgs, err := c.UIDFetch("1:*", dovecottest.FetchItemsBody)
		if err != nil {
			t.Fatal(err)
		}
		if len(msgs) != sel.Exists {
			t.Fatalf("%s: %d messages fetched of %d", name, len(msgs), sel.Exists)
		}
		for i := range msgs {
			slices.SortFunc(msgs[i].Flags, func(a, b string) int { return strings.Compare(strings.ToLower(a), strings.ToLower(b)) })
		}
		v.boxes[name] = &imapFolder{validity: sel.UIDValidity, uidNext: sel.UIDNext, msgs: msgs}
	}
	return v
}
