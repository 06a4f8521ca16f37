package replica

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mailrepl/mailrepl/journal"
	"github.com/mailrepl/mailrepl/mailbox"
	"github.com/mailrepl/mailrepl/mailbox/loose"
	"github.com/mailrepl/mailrepl/mailbox/maildir"
	"github.com/mailrepl/mailrepl/mailbox/mbox"
	"github.com/mailrepl/mailrepl/uid"
)

// TestModelPlainSources is the model test of sources that keep no UID
// list of their own: a Maildir without dovecot-uidlist (as Postfix or
// procmail write it), a directory of mbox files, a tree of loose message
// files. Their UIDs come from the journal's UID keeper. A random mix of
// what an MDA, a mail client or a user's script does to the files
// (deliver, delete, change flags by renaming, copy to another folder,
// create and rename folders) alternates with syncs, and sometimes the
// source tree and the journal move elsewhere (a new mount point) and the
// pair is renamed. After each sync: the target equals the source (by UID
// where the target keeps the source's UIDs); the source's messages kept
// their UIDs and UIDVALIDITY; a mirror or migration wrote nothing into the
// source; the sync read no body but those of the mail added since the last
// one; after a move it found its state; a second sync does nothing.
// Replay a failure with -run 'TestModelPlainSources/<config>' -seed N.
func TestModelPlainSources(t *testing.T) {
	type config struct {
		kind    string // "maildir", "mbox", "loose"
		mode    Mode
		mapUIDs bool // the target cannot set UIDs
	}
	var configs []config
	for _, kind := range []string{"maildir", "mbox", "loose"} {
		for _, mode := range []Mode{Mirror, Migrate} {
			configs = append(configs, config{kind: kind, mode: mode}, config{kind: kind, mode: mode, mapUIDs: true})
		}
	}
	configs = append(configs, config{kind: "maildir", mode: TwoWay}, config{kind: "maildir", mode: TwoWay, mapUIDs: true})
	n := *flagScenarios
	if n == 0 {
		n = 12
		if testing.Short() {
			n = 5
		}
	}
	for _, cfg := range configs {
		name := cfg.kind + "/" + cfg.mode.String()
		if cfg.mapUIDs {
			name += "/map"
		}
		t.Run(name, func(t *testing.T) {
			if *flagSeed != 0 {
				newPlainModel(t, cfg.kind, cfg.mode, cfg.mapUIDs, *flagSeed).run()
				return
			}
			for i := range n {
				if !newPlainModel(t, cfg.kind, cfg.mode, cfg.mapUIDs, uint64(i)*104729+3).run() {
					return
				}
			}
		})
	}
}

// pmsg is one message of the plain source, as the model wrote it.
type pmsg struct {
	name  string // the file (maildir: the base name; loose: the file name)
	body  []byte
	flags string // maildir flag letters
	inNew bool   // maildir: still in new/
}

type plainModel struct {
	t       *testing.T
	kind    string
	mode    Mode
	mapUIDs bool
	seed    uint64
	rng     *rand.Rand
	ctx     context.Context

	root    string             // the source tree
	folders map[string][]*pmsg // by mailbox name
	jdir    string
	j       *journal.Journal
	state   *JournalState
	dst     mailbox.Store
	pair    string
	moved   bool
	n       int
	renames int
	added   int // messages delivered to the source since the last sync
	logMu   sync.Mutex
	log     []string
	lastUID map[mailbox.EmailID]string // unique EmailID → "mailboxID/validity/uid" at the last sync
	synced  map[*pmsg]bool             // the messages the last sync saw
	pinned  map[*pmsg]bool             // a renamed folder's message that stays until the next sync
}

func newPlainModel(t *testing.T, kind string, mode Mode, mapUIDs bool, seed uint64) *plainModel {
	m := &plainModel{t: t, kind: kind, mode: mode, mapUIDs: mapUIDs, seed: seed,
		rng: rand.New(rand.NewPCG(seed, 0x91a1)), ctx: context.Background(),
		root: filepath.Join(t.TempDir(), "src"), folders: map[string][]*pmsg{mailbox.Inbox: nil},
		jdir: filepath.Join(t.TempDir(), "journal"), pair: "alice → first/path", lastUID: map[mailbox.EmailID]string{},
		synced: map[*pmsg]bool{}, pinned: map[*pmsg]bool{}}
	m.openJournal()
	m.dst = newMem(t, &fakeClock{t: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)})
	if err := os.MkdirAll(m.root, 0o700); err != nil {
		t.Fatal(err)
	}
	m.mkFolder(mailbox.Inbox)
	return m
}

// logf records a step; OnOp calls it from mailboxes synced at once.
func (m *plainModel) logf(format string, args ...any) {
	m.logMu.Lock()
	defer m.logMu.Unlock()
	m.log = append(m.log, fmt.Sprintf(format, args...))
}

func (m *plainModel) fail(format string, args ...any) bool {
	m.t.Errorf("seed %d (%s/%s, map %v; replay with -seed %d): %s\nsteps:\n%s", m.seed, m.kind, m.mode, m.mapUIDs, m.seed, fmt.Sprintf(format, args...), strings.Join(m.log, "\n"))
	return false
}

func (m *plainModel) openJournal() {
	j, err := journal.Open(m.jdir, &journal.Options{NoSync: true})
	if err != nil {
		m.t.Fatal(err)
	}
	m.j, m.state = j, NewJournalState(j)
	m.t.Cleanup(func() { j.Close() })
}

// dir is the directory of a mailbox (maildir, loose) or its file (mbox).
func (m *plainModel) dir(name string) string {
	switch {
	case name == mailbox.Inbox && m.kind == "mbox":
		return filepath.Join(m.root, "INBOX")
	case name == mailbox.Inbox:
		return m.root
	case m.kind == "maildir":
		return filepath.Join(m.root, "."+name)
	}
	return filepath.Join(m.root, name)
}

func (m *plainModel) mkFolder(name string) {
	switch m.kind {
	case "maildir":
		for _, sub := range []string{"cur", "new", "tmp"} {
			if err := os.MkdirAll(filepath.Join(m.dir(name), sub), 0o700); err != nil {
				m.t.Fatal(err)
			}
		}
	case "loose":
		if err := os.MkdirAll(m.dir(name), 0o700); err != nil {
			m.t.Fatal(err)
		}
	}
}

// path is where a message's file is (maildir, loose).
func (m *plainModel) path(folder string, p *pmsg) string {
	if m.kind == "loose" {
		return filepath.Join(m.dir(folder), p.name)
	}
	if p.inNew {
		return filepath.Join(m.dir(folder), "new", p.name)
	}
	return filepath.Join(m.dir(folder), "cur", p.name+":2,"+p.flags)
}

// writeMbox writes a folder's mbox file from the model.
func (m *plainModel) writeMbox(folder string) {
	var b []byte
	for _, p := range m.folders[folder] {
		b = append(b, "From sender@example.org Mon Jan  1 00:00:00 2024\n"...)
		b = append(b, p.body...)
		b = append(b, '\n')
	}
	if err := os.WriteFile(m.dir(folder), b, 0o600); err != nil {
		m.t.Fatal(err)
	}
}

func (m *plainModel) deliver(folder string, body []byte) {
	m.n++
	p := &pmsg{name: fmt.Sprintf("%d.P%dQ%d.mx", 1700000000+m.n, m.n%97, m.n), body: body}
	if m.kind == "loose" {
		p.name = fmt.Sprintf("#%07d", m.n)
	}
	if m.kind == "maildir" {
		p.inNew = m.rng.IntN(2) == 0
		if !p.inNew {
			p.flags = []string{"", "S", "FS", "RS", "PS"}[m.rng.IntN(5)]
		}
	}
	m.folders[folder] = append(m.folders[folder], p)
	switch m.kind {
	case "mbox":
		m.writeMbox(folder)
	default:
		if err := os.WriteFile(m.path(folder, p), body, 0o600); err != nil {
			m.t.Fatal(err)
		}
	}
	m.added++
	m.logf("deliver to %q: %s %s", folder, p.name, mailbox.EmailIDOf(body).Short())
}

func (m *plainModel) names() []string {
	var ns []string
	for n := range m.folders {
		ns = append(ns, n)
	}
	slices.Sort(ns)
	return ns
}

// mutate does a few of the things an MDA, a client or a user does to the
// source's files.
func (m *plainModel) mutate(first bool) {
	ops := 1 + m.rng.IntN(6)
	if first {
		ops += 6
	}
	for range ops {
		names := m.names()
		folder := names[m.rng.IntN(len(names))]
		msgs := m.folders[folder]
		switch r := m.rng.IntN(100); {
		case r < 45 || len(msgs) == 0:
			m.deliver(folder, []byte(fmt.Sprintf("From: a@example.org\nSubject: p%d\nMessage-ID: <p%d.%d@model>\n\nbody %d of seed %d\n", m.n+1, m.n+1, m.seed, m.n+1, m.seed)))
		case r < 60:
			i := m.rng.IntN(len(msgs))
			p := msgs[i]
			if m.pinned[p] {
				continue
			}
			m.folders[folder] = slices.Delete(msgs, i, i+1)
			if m.kind == "mbox" {
				m.writeMbox(folder)
			} else if err := os.Remove(m.path(folder, p)); err != nil {
				m.t.Fatal(err)
			}
			m.logf("delete from %q: %s", folder, p.name)
		case r < 75 && m.kind == "maildir":
			p := msgs[m.rng.IntN(len(msgs))]
			from := m.path(folder, p)
			p.inNew, p.flags = false, []string{"", "S", "FS", "RS", "PS", "DS"}[m.rng.IntN(6)]
			if err := os.Rename(from, m.path(folder, p)); err != nil {
				m.t.Fatal(err)
			}
			m.logf("flags in %q: %s :2,%s", folder, p.name, p.flags)
		case r < 82:
			// A copy into another folder: the same bytes under a new name.
			p := msgs[m.rng.IntN(len(msgs))]
			to := names[m.rng.IntN(len(names))]
			m.deliver(to, p.body)
		case r < 90:
			name := fmt.Sprintf("F%d", m.rng.IntN(4))
			if _, ok := m.folders[name]; ok {
				continue
			}
			m.folders[name] = nil
			m.mkFolder(name)
			m.logf("create folder %q", name)
			if m.kind != "maildir" {
				m.deliver(name, []byte(fmt.Sprintf("Subject: first of %s\nMessage-ID: <f%d.%d@model>\n\nx\n", name, m.n+1, m.seed)))
			}
		case r < 95:
			// A folder is known by its messages: one renamed must keep
			// one the last sync saw until the next (renamed with all its
			// mail replaced, it is a new folder, and the old one, gone
			// from the source, is kept on the target).
			i := slices.IndexFunc(msgs, func(p *pmsg) bool { return m.synced[p] })
			if folder == mailbox.Inbox || i < 0 {
				continue
			}
			m.pinned[msgs[i]] = true
			m.renames++
			to := fmt.Sprintf("R%d", m.renames)
			if err := os.Rename(m.dir(folder), m.dir(to)); err != nil {
				m.t.Fatal(err)
			}
			m.folders[to] = m.folders[folder]
			delete(m.folders, folder)
			m.logf("rename folder %q to %q", folder, to)
		}
	}
}

// rescan reads the model's view of a Maildir source from its files, after
// a two-way sync delivered, expunged and renamed some.
func (m *plainModel) rescan() {
	folders := map[string][]*pmsg{}
	ents, err := os.ReadDir(m.root)
	if err != nil {
		m.t.Fatal(err)
	}
	dirs := map[string]string{mailbox.Inbox: m.root}
	for _, e := range ents {
		if e.IsDir() && strings.HasPrefix(e.Name(), ".") && e.Name() != "." {
			dirs[e.Name()[1:]] = filepath.Join(m.root, e.Name())
		}
	}
	for name, dir := range dirs {
		folders[name] = nil
		for _, sub := range []string{"new", "cur"} {
			files, err := os.ReadDir(filepath.Join(dir, sub))
			if err != nil {
				m.t.Fatal(err)
			}
			for _, f := range files {
				b, err := os.ReadFile(filepath.Join(dir, sub, f.Name()))
				if err != nil {
					m.t.Fatal(err)
				}
				p := &pmsg{body: b, inNew: sub == "new"}
				p.name, p.flags, _ = strings.Cut(f.Name(), ":2,")
				folders[name] = append(folders[name], p)
			}
		}
	}
	m.folders = folders
}

// move moves the source tree and the journal elsewhere, as to new
// storage, and renames the pair, as a template naming the new path does.
func (m *plainModel) move() {
	if err := m.j.Close(); err != nil {
		m.t.Fatal(err)
	}
	root, jdir := filepath.Join(m.t.TempDir(), "moved-src"), filepath.Join(m.t.TempDir(), "moved-journal")
	for _, mv := range [][2]string{{m.root, root}, {m.jdir, jdir}} {
		if err := os.Rename(mv[0], mv[1]); err != nil {
			m.t.Fatal(err)
		}
	}
	m.root, m.jdir = root, jdir
	m.openJournal()
	m.pair = "alice → " + root
	m.moved = true
	m.logf("move: source and journal moved, pair %q", m.pair)
}

// countingReader counts the bodies read from a store.
type countingReader struct {
	mailbox.Reader
	opens *atomic.Int64
}

func (c countingReader) Open(ctx context.Context, name string, u uid.UID) (io.ReadCloser, error) {
	c.opens.Add(1)
	return c.Reader.Open(ctx, name, u)
}

// openSource opens the source as a run of the tools does: afresh, with
// the journal's UID keeper.
func (m *plainModel) openSource(writable bool) interface {
	mailbox.Reader
	Close() error
} {
	keeper := m.j.UIDKeeper("alice")
	var s interface {
		mailbox.Reader
		Close() error
	}
	var err error
	switch m.kind {
	case "maildir":
		s, err = maildir.Open(m.root, &maildir.Options{ReadOnly: !writable, UIDs: keeper, Hostname: "model"})
	case "mbox":
		s, err = mbox.Open(m.root, &mbox.Options{UIDs: keeper})
	case "loose":
		s, err = loose.Open(m.root, &loose.Options{UIDs: keeper})
	}
	if err != nil {
		m.t.Fatal(err)
	}
	return s
}

func (m *plainModel) run() bool {
	rounds := 3 + m.rng.IntN(4)
	for round := range rounds {
		m.mutate(round == 0)
		if m.mode == TwoWay && round > 0 && m.rng.IntN(2) == 0 {
			m.mutateTarget()
		}
		if round > 0 && m.rng.IntN(3) == 0 {
			m.move()
		}
		if !m.syncAndCheck() {
			return false
		}
	}
	return true
}

// mutateTarget changes the target through its API (two-way).
func (m *plainModel) mutateTarget() {
	infos, err := m.dst.Mailboxes(m.ctx)
	if err != nil {
		m.t.Fatal(err)
	}
	info := infos[m.rng.IntN(len(infos))]
	var msgs []mailbox.Message
	for msg, err := range m.dst.Messages(m.ctx, info.Name, uid.All) {
		if err != nil {
			m.t.Fatal(err)
		}
		msgs = append(msgs, msg)
	}
	if len(msgs) == 0 || m.rng.IntN(2) == 0 {
		m.n++
		b := []byte(fmt.Sprintf("Subject: t%d\nMessage-ID: <t%d.%d@model>\n\ntarget %d\n", m.n, m.n, m.seed, m.n))
		u, err := m.dst.Append(m.ctx, info.Name, mailbox.BytesLiteral(b), mailbox.AppendMeta{})
		if err != nil {
			m.t.Fatal(err)
		}
		m.logf("target: append %q uid %d %s", info.Name, u, mailbox.EmailIDOf(b).Short())
		return
	}
	msg := msgs[m.rng.IntN(len(msgs))]
	if err := m.dst.Expunge(m.ctx, info.Name, uid.SetOf(msg.UID)); err != nil {
		m.t.Fatal(err)
	}
	m.logf("target: expunge %q uid %d %s", info.Name, msg.UID, msg.EmailID.Short())
}

func (m *plainModel) syncAndCheck() bool {
	writable := m.mode == TwoWay
	raw := m.openSource(writable)
	defer raw.Close()
	var opens atomic.Int64
	var src mailbox.Reader = countingReader{raw, &opens}
	if writable {
		src = raw // all of the Maildir store: it can set UIDs
	}
	var dst mailbox.Store = m.dst
	if m.mapUIDs {
		dst = plainStore{m.dst}
	}
	before := snapshotTree(m.t, m.root)
	opts := &Options{Mode: m.mode, Pair: m.pair, User: "alice", State: m.state, Cache: m.state,
		SourceID: m.kind + ":alice", TargetID: "mem:alice", BatchMessages: 4,
		OnOp: func(mb string, op Op) { m.logf("  plan %s: %s", mb, op) }}
	s, err := New(src, dst, opts)
	if err != nil {
		m.t.Fatal(err)
	}
	rep, err := s.Sync(m.ctx)
	if err != nil {
		return m.fail("sync: %v", err)
	}
	// Two-way syncs meet UID conflicts (both sides took a UID): those are
	// resolved and reported; a mirror or migration of this model has none.
	if len(rep.Failed) > 0 || (len(rep.Conflicts) > 0 && m.mode != TwoWay) {
		return m.fail("sync reported failures %v, conflicts %v", rep.Failed, rep.Conflicts)
	}
	if m.moved && !strings.HasPrefix(rep.State, "took over the state of pair") {
		return m.fail("after a move the sync found no state: %q", rep.State)
	}
	m.moved = false
	if !writable {
		if after := snapshotTree(m.t, m.root); !maps2Equal(before, after) {
			return m.fail("the sync wrote into the source:\nbefore %v\nafter  %v", before, after)
		}
		if n := opens.Load(); n > int64(2*m.added) {
			return m.fail("the sync read %d bodies of the source, %d messages were added since the last one", n, m.added)
		}
	}
	m.added = 0
	if writable {
		m.rescan() // the sync changed the source's files too
	}
	clear(m.pinned)
	clear(m.synced)
	for _, msgs := range m.folders {
		for _, p := range msgs {
			m.synced[p] = true
		}
	}
	fresh := m.openSource(false)
	defer fresh.Close()
	if writable {
		fresh.Close()
		fresh = m.openSource(true)
	}
	switch m.mode {
	case Mirror, TwoWay:
		withUIDs := !m.mapUIDs
		if a, b := dump(m.t, fresh, withUIDs), dump(m.t, m.dst, withUIDs); a != b {
			return m.fail("source and target differ:\nsource:\n%s\ntarget:\n%s", a, b)
		}
	case Migrate:
		have := emailIDsByMailbox(m.t, m.dst)
		for name, ids := range emailIDsByMailbox(m.t, fresh) {
			for id := range ids {
				if !have[name][id] {
					return m.fail("%s: source message %s missing on the target:\n%s", name, id.Short(), dump(m.t, m.dst, false))
				}
			}
		}
	}
	if !writable && !m.checkStableUIDs(fresh) {
		return false
	}
	// A second sync has nothing to do.
	m.logf("  -- second sync")
	rep, err = s.Sync(m.ctx)
	if err != nil {
		return m.fail("second sync: %v", err)
	}
	if rep.Total.Changed() || rep.Total.Paired > 0 {
		return m.fail("second sync was not a no-op: %+v", rep.Total)
	}
	return true
}

// checkStableUIDs checks that every message of the source that exists
// once, now and at the last sync, kept its mailbox, UIDVALIDITY and UID.
func (m *plainModel) checkStableUIDs(s mailbox.Reader) bool {
	infos, err := s.Mailboxes(m.ctx)
	if err != nil {
		m.t.Fatal(err)
	}
	now := map[mailbox.EmailID]string{}
	count := map[mailbox.EmailID]int{}
	for _, info := range infos {
		for msg, err := range s.Messages(m.ctx, info.Name, uid.All) {
			if err != nil {
				m.t.Fatal(err)
			}
			id := msg.EmailID
			if id.IsZero() {
				rc, err := s.Open(m.ctx, info.Name, msg.UID)
				if err != nil {
					m.t.Fatal(err)
				}
				id, _, _ = mailbox.ComputeEmailID(rc)
				rc.Close()
			}
			count[id]++
			now[id] = fmt.Sprintf("%s/%d/%d", info.ID, info.UIDValidity, msg.UID)
		}
	}
	for id, where := range now {
		if count[id] != 1 {
			delete(now, id)
			continue
		}
		if was, ok := m.lastUID[id]; ok && was != where {
			return m.fail("message %s moved from %s to %s (mailbox ID/UIDVALIDITY/UID)", id.Short(), was, where)
		}
	}
	m.lastUID = now
	return true
}

// snapshotTree records every name, mode, size and mtime of a tree.
func snapshotTree(t testing.TB, root string) map[string]string {
	out := map[string]string{}
	err := filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		out[rel] = fmt.Sprintf("%v %d %d", fi.Mode(), fi.Size(), fi.ModTime().UnixNano())
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func maps2Equal(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// emailIDsByMailbox lists the EmailIDs of each mailbox of s.
func emailIDsByMailbox(t testing.TB, s mailbox.Reader) map[string]map[mailbox.EmailID]bool {
	ctx := context.Background()
	infos, err := s.Mailboxes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]map[mailbox.EmailID]bool{}
	for _, info := range infos {
		out[info.Name] = map[mailbox.EmailID]bool{}
		for msg, err := range s.Messages(ctx, info.Name, uid.All) {
			if err != nil {
				t.Fatal(err)
			}
			id := msg.EmailID
			if id.IsZero() {
				rc, err := s.Open(ctx, info.Name, msg.UID)
				if err != nil {
					t.Fatal(err)
				}
				id, _, _ = mailbox.ComputeEmailID(rc)
				rc.Close()
			}
			out[info.Name][id] = true
		}
	}
	return out
}
