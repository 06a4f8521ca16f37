package replica

import (
	"context"
	"flag"
	"fmt"
	"io/fs"
	"iter"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mailrepl/mailrepl/journal"
	"github.com/mailrepl/mailrepl/mailbox"
	"github.com/mailrepl/mailrepl/mailbox/maildir"
	"github.com/mailrepl/mailrepl/mailbox/memstore"
	"github.com/mailrepl/mailrepl/uid"
)

var (
	flagSeed      = flag.Uint64("seed", 0, "replay one randomized scenario with this seed")
	flagScenarios = flag.Int("scenarios", 0, "randomized scenarios per configuration (default: a CI-sized number)")
)

// plainStore hides a store's optional capabilities, so the engine sees a
// store that can neither set UIDs nor track changes nor batch.
type plainStore struct{ mailbox.Store }

// trackerStore exposes change tracking but not UID setting.
type trackerStore struct {
	mailbox.Store
	ct mailbox.ChangeTracker
}

func (s trackerStore) Changes(ctx context.Context, name string, v uid.Validity, since mailbox.ModSeq) iter.Seq2[mailbox.Change, error] {
	return s.ct.Changes(ctx, name, v, since)
}

// noIDStore lists messages without their EmailIDs, as a Maildir that
// Dovecot delivered into lists them, and hides the optional capabilities.
type noIDStore struct{ mailbox.Store }

func (s noIDStore) Messages(ctx context.Context, name string, set uid.Set) iter.Seq2[mailbox.Message, error] {
	return func(yield func(mailbox.Message, error) bool) {
		for m, err := range s.Store.Messages(ctx, name, set) {
			m.EmailID = mailbox.EmailID{}
			if !yield(m, err) {
				return
			}
		}
	}
}

// modelConfig is one kind of scenario.
type modelConfig struct {
	mode     Mode
	dstPlain bool // the target cannot set UIDs: the state maps UIDs
	dstTrack bool // with dstPlain: the target still tracks changes
	srcPlain bool // the source cannot set UIDs
	noIDs    bool // the source lists no EmailIDs (and cannot set UIDs)
	policy   TargetOnly
	journal  bool // the state in a real journal (on disk), not in memory
	maildir  bool // both stores are Maildir trees, not memstores
	remote   bool // the target is reached through mailbox/remote over TCP
}

func (c modelConfig) String() string {
	s := c.mode.String()
	if c.dstPlain {
		s += "/map"
		if c.dstTrack {
			s += "+changes"
		}
	} else {
		s += "/uids"
	}
	if c.srcPlain {
		s += "/src-plain"
	}
	if c.noIDs {
		s += "/src-no-ids"
	}
	if c.policy == DeleteTargetOnly {
		s += "/delete-target-only"
	}
	if c.journal {
		s += "/journal"
	}
	if c.maildir {
		s = "maildir/" + s
	}
	if c.remote {
		s = "remote/" + s
	}
	return s
}

func TestModel(t *testing.T) {
	configs := []modelConfig{
		{mode: Mirror},
		{mode: Mirror, policy: DeleteTargetOnly},
		{mode: Mirror, dstPlain: true},
		{mode: Mirror, dstPlain: true, dstTrack: true},
		{mode: TwoWay},
		{mode: TwoWay, dstPlain: true},
		{mode: TwoWay, dstPlain: true, dstTrack: true},
		{mode: Migrate},
		{mode: Migrate, dstPlain: true},
		{mode: Mirror, journal: true},
		{mode: Mirror, dstPlain: true, journal: true},
		{mode: TwoWay, journal: true},
		{mode: TwoWay, dstPlain: true, journal: true},
		{mode: Migrate, journal: true},
		{mode: Mirror, maildir: true},
		{mode: Mirror, maildir: true, policy: DeleteTargetOnly},
		{mode: TwoWay, maildir: true},
		{mode: TwoWay, maildir: true, dstPlain: true, journal: true},
		{mode: Migrate, maildir: true},
		{mode: Mirror, noIDs: true, journal: true},
		{mode: Mirror, dstPlain: true, noIDs: true},
		{mode: TwoWay, noIDs: true, journal: true},
		{mode: Migrate, noIDs: true},
		{mode: Mirror, remote: true},
		{mode: Mirror, remote: true, journal: true},
		{mode: Mirror, remote: true, maildir: true},
		{mode: Mirror, remote: true, dstPlain: true, dstTrack: true},
		{mode: TwoWay, remote: true},
		{mode: Migrate, remote: true, maildir: true},
	}
	n := *flagScenarios
	if n == 0 {
		// 600 took 173 s under -race on two cores, the longest test of
		// CI; 300 halves that. Run -scenarios 600 or more before
		// changing the engine.
		n = 300
		if testing.Short() {
			n = 60
		}
	}
	for _, cfg := range configs {
		t.Run(cfg.String(), func(t *testing.T) {
			if *flagSeed != 0 {
				runModel(t, cfg, *flagSeed)
				return
			}
			count := n
			if cfg.journal {
				count = max(1, n/6) // a journal on disk per scenario
			}
			if cfg.maildir {
				count = max(1, n/10) // files, fsyncs
			}
			if cfg.remote {
				count = max(1, count/20) // a server and a connection per store
			}
			for i := range count {
				seed := uint64(i)*7919 + 1
				if !runModel(t, cfg, seed) {
					return
				}
			}
		})
	}
}

// model is one randomized scenario: two stores, a state, and what the test
// did to them, so that after every sync the invariants can be checked.
type model struct {
	t    *testing.T
	cfg  modelConfig
	seed uint64
	rng  *rand.Rand
	ctx  context.Context
	src  mailbox.Store
	dst  mailbox.Store
	rawS mailbox.Store
	rawD mailbox.Store
	// backups of both stores taken after the last sync ("last night's")
	backupS, backupD backup
	state            State
	n                int // messages made so far
	logMu            sync.Mutex
	log              []string

	expunged   map[mailbox.EmailID]bool // copies some user expunged (two-way: gone for good)
	srcGone    map[mailbox.EmailID]bool // mirror: messages the source's user expunged, never brought back
	splitBrain map[mailbox.EmailID]bool // mirror: written to the target by "its users"
	targetOwn  map[mailbox.EmailID]bool // migrate: the target's own mail
	seen       map[string]mailbox.EmailID
	nexts      map[string]uid.UID
	// pair names the pair in the state; a move gives it a new name, as a
	// template naming new paths does.
	pair  string
	moved bool // moved since the last sync
	moves int
}

func runModel(t *testing.T, cfg modelConfig, seed uint64) bool {
	t.Helper()
	clockS := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	clockD := &fakeClock{t: time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)}
	rs, rd := openStore(t, cfg, clockS), openStore(t, cfg, clockD)
	m := &model{
		t: t, cfg: cfg, seed: seed, rng: rand.New(rand.NewPCG(seed, 0xdecaf)), ctx: context.Background(),
		rawS: rs, rawD: rd, src: rs, dst: rd, state: newState(t, cfg),
		expunged: map[mailbox.EmailID]bool{}, splitBrain: map[mailbox.EmailID]bool{}, srcGone: map[mailbox.EmailID]bool{},
		targetOwn: map[mailbox.EmailID]bool{}, seen: map[string]mailbox.EmailID{}, nexts: map[string]uid.UID{},
		pair: "default",
	}
	m.replace(Source, rs)
	m.replace(Target, rd)
	defer func() {
		if r := recover(); r != nil {
			t.Errorf("seed %d (%s) panicked: %v\n%s", seed, cfg, r, strings.Join(m.log, "\n"))
			panic(r)
		}
	}()
	rounds := 2 + m.rng.IntN(4)
	for round := range rounds {
		m.mutate(Source, round == 0)
		if round > 0 || m.rng.IntN(3) == 0 {
			m.mutate(Target, round == 0)
		}
		if round > 0 && m.rng.IntN(4) == 0 {
			m.move()
		}
		if !m.syncAndCheck() {
			return false
		}
	}
	return true
}

func (m *model) logf(format string, args ...any) {
	m.logMu.Lock()
	defer m.logMu.Unlock()
	m.log = append(m.log, fmt.Sprintf(format, args...))
}

func (m *model) fail(format string, args ...any) bool {
	m.t.Errorf("seed %d (%s; replay with -run 'TestModel/%s' -seed %d): %s\nsteps:\n%s",
		m.seed, m.cfg, strings.ReplaceAll(m.cfg.String(), "/", "_"), m.seed, fmt.Sprintf(format, args...), strings.Join(m.log, "\n"))
	return false
}

func (m *model) store(side Side) mailbox.Store {
	if side == Source {
		return m.rawS
	}
	return m.rawD
}

func (m *model) names(side Side) []string {
	infos, err := m.store(side).Mailboxes(m.ctx)
	if err != nil {
		m.t.Fatal(err)
	}
	var ns []string
	for _, i := range infos {
		ns = append(ns, i.Name)
	}
	return ns
}

func (m *model) uids(side Side, name string) []mailbox.Message {
	var out []mailbox.Message
	for msg, err := range m.store(side).Messages(m.ctx, name, uid.All) {
		if err != nil {
			m.t.Fatal(err)
		}
		out = append(out, msg)
	}
	return out
}

var modelFlags = []mailbox.Flag{mailbox.Seen, mailbox.Answered, mailbox.Flagged, mailbox.Deleted, mailbox.Draft, mailbox.Passed, "$Label1", "Work"}

func (m *model) randFlags() mailbox.Flags {
	var fs []mailbox.Flag
	for _, f := range modelFlags {
		if m.rng.IntN(3) == 0 {
			fs = append(fs, f)
		}
	}
	return mailbox.MustFlags(fs...)
}

func (m *model) pick(xs []string) string { return xs[m.rng.IntN(len(xs))] }

// mutate applies random user operations to one side.
func (m *model) mutate(side Side, first bool) {
	s := m.store(side)
	ops := m.rng.IntN(8)
	if first {
		ops += 4
	}
	role := "user"
	if side == Target {
		switch m.cfg.mode {
		case Mirror:
			role = "split-brain"
			if !first && m.rng.IntN(2) == 0 {
				return
			}
			ops = 1 + m.rng.IntN(3)
		case Migrate:
			role = "target-own"
		}
	}
	for range ops {
		names := m.names(side)
		name := m.pick(names)
		msgs := m.uids(side, name)
		switch r := m.rng.IntN(100); {
		case r < 45 || len(msgs) == 0:
			m.n++
			b := []byte(fmt.Sprintf("Subject: m%d\nMessage-ID: <m%d.%d@model>\n\nbody %d of seed %d\n", m.n, m.n, m.seed, m.n, m.seed))
			if m.rng.IntN(4) == 0 {
				b = []byte(strings.ReplaceAll(string(b), "\n", "\r\n"))
			}
			id := mailbox.EmailIDOf(b)
			u, err := s.Append(m.ctx, name, mailbox.BytesLiteral(b), mailbox.AppendMeta{Flags: m.randFlags()})
			if err != nil {
				m.t.Fatal(err)
			}
			m.logf("%s %s: append %q uid %d %s", side, role, name, u, id.Short())
			switch role {
			case "split-brain":
				m.splitBrain[id] = true
			case "target-own":
				m.targetOwn[id] = true
			}
		case r < 65:
			msg := msgs[m.rng.IntN(len(msgs))]
			op := mailbox.FlagOp(m.rng.IntN(3))
			fs := m.randFlags()
			if err := s.StoreFlags(m.ctx, name, uid.SetOf(msg.UID), op, fs); err != nil {
				m.t.Fatal(err)
			}
			m.logf("%s %s: %s %q uid %d %s %s", side, role, "flags", name, msg.UID, op, fs)
		case r < 80:
			if m.cfg.mode == Migrate && side == Target {
				continue // migrate's target keeps its mail in this model
			}
			msg := msgs[m.rng.IntN(len(msgs))]
			if err := s.Expunge(m.ctx, name, uid.SetOf(msg.UID)); err != nil {
				m.t.Fatal(err)
			}
			m.expunged[msg.EmailID] = true
			delete(m.splitBrain, msg.EmailID)
			if side == Source {
				m.srcGone[msg.EmailID] = true
			}
			m.logf("%s %s: expunge %q uid %d %s", side, role, name, msg.UID, msg.EmailID.Short())
		case r < 85:
			// The same message delivered again, maybe to another mailbox.
			msg := msgs[m.rng.IntN(len(msgs))]
			rc, err := s.Open(m.ctx, name, msg.UID)
			if err != nil {
				m.t.Fatal(err)
			}
			var sb strings.Builder
			buf := make([]byte, 4096)
			for {
				k, err := rc.Read(buf)
				sb.Write(buf[:k])
				if err != nil {
					break
				}
			}
			rc.Close()
			to := m.pick(names)
			u, err := s.Append(m.ctx, to, mailbox.BytesLiteral([]byte(sb.String())), mailbox.AppendMeta{Flags: msg.Flags})
			if err != nil {
				m.t.Fatal(err)
			}
			if m.expunged[msg.EmailID] {
				// The model tracks copies of one EmailID together.
				delete(m.expunged, msg.EmailID)
			}
			delete(m.srcGone, msg.EmailID)
			m.logf("%s %s: append copy of %s to %q uid %d", side, role, msg.EmailID.Short(), to, u)
		case r < 93:
			if side == Target && m.cfg.mode != TwoWay {
				continue
			}
			nm := fmt.Sprintf("F%d", m.rng.IntN(4))
			if m.rng.IntN(3) == 0 && name != mailbox.Inbox {
				nm = name + "/" + nm
			}
			if _, err := s.Create(m.ctx, nm); err == nil {
				m.logf("%s %s: create %q", side, role, nm)
			}
		case r < 97:
			if side == Target || name == mailbox.Inbox {
				continue
			}
			nm := fmt.Sprintf("R%d", m.n)
			if err := s.Rename(m.ctx, name, nm); err == nil {
				m.logf("%s %s: rename %q to %q", side, role, name, nm)
			}
		case r < 98 && side == Source || (r < 98 && m.cfg.mode == TwoWay):
			// The side's storage is restored from last night's backup:
			// what came since is gone and UIDNEXTs went back. A loss, not
			// expunges: no sync may propagate it.
			if m.cfg.mode == Migrate || m.backup(side) == nil {
				continue
			}
			lost := m.snap(side).counts()
			m.replace(side, m.backup(side).restore(m.t))
			for id, n := range m.snap(side).counts() {
				lost[id] -= n
			}
			// A copy lost that the other side does not hold is gone for
			// good: no sync can bring it back. The rest must come back.
			other := m.snap(side.Other()).counts()
			for id, n := range lost {
				if n > 0 && other[id] == 0 {
					m.expunged[id] = true
					delete(m.splitBrain, id)
				}
			}
			m.logf("%s %s: storage restored from last night's backup", side, role)
			for _, n := range m.names(side) {
				info, _ := m.store(side).Status(m.ctx, n)
				m.forget(side, info.ID)
			}
			// Deliveries after a restore can reuse the lost UIDs and hide
			// it from any sync (garbage in): this model keeps the restore
			// visible until the next sync.
			return
		default:
			// A rebuilt index: new UIDVALIDITY, messages renumbered.
			if m.cfg.mode == Migrate && side == Target {
				continue
			}
			setter := s.(mailbox.UIDSetter)
			info, _ := s.Status(m.ctx, name)
			var mp uid.Map
			for i, msg := range msgs {
				mp.Add(msg.UID, uid.UID(i+1))
			}
			v := info.UIDValidity + uid.Validity(1+m.rng.IntN(1000))
			if err := setter.ResetUIDs(m.ctx, name, v, &mp); err != nil {
				m.t.Fatal(err)
			}
			m.logf("%s %s: reset UIDs of %q, UIDVALIDITY %d", side, role, name, v)
			m.forget(side, info.ID)
		}
	}
}

// forget drops what the model remembers of a mailbox's UIDs (a new
// UIDVALIDITY epoch, or a realign the report declares).
func (m *model) forget(side Side, id mailbox.ID) {
	prefix := fmt.Sprintf("%s/%s/", side, id)
	for k := range m.seen {
		if strings.HasPrefix(k, prefix) {
			delete(m.seen, k)
		}
	}
	for k := range m.nexts {
		if strings.HasPrefix(k, prefix) {
			delete(m.nexts, k)
		}
	}
}

type snapshot map[string][]mailbox.Message // mailbox name → messages

func (m *model) snap(side Side) snapshot {
	sn := snapshot{}
	for _, n := range m.names(side) {
		sn[n] = m.uids(side, n)
	}
	return sn
}

func (sn snapshot) ids() map[mailbox.EmailID]bool {
	out := map[mailbox.EmailID]bool{}
	for _, msgs := range sn {
		for _, msg := range msgs {
			out[msg.EmailID] = true
		}
	}
	return out
}

func (sn snapshot) counts() map[mailbox.EmailID]int {
	out := map[mailbox.EmailID]int{}
	for _, msgs := range sn {
		for _, msg := range msgs {
			out[msg.EmailID]++
		}
	}
	return out
}

func describe(msgs []mailbox.Message, withUIDs bool) string {
	var parts []string
	for _, msg := range msgs {
		p := fmt.Sprintf("%s(%s)", msg.EmailID.Short(), msg.Flags)
		if withUIDs {
			p = fmt.Sprintf("%d:%s", msg.UID, p)
		}
		parts = append(parts, p)
	}
	if !withUIDs {
		slices.Sort(parts)
	}
	return strings.Join(parts, " ")
}

func (m *model) syncAndCheck() bool {
	beforeS, beforeD := m.snap(Source), m.snap(Target)
	opts := &Options{Mode: m.cfg.mode, TargetOnly: m.cfg.policy, State: m.state, BatchMessages: 3, Pair: m.pair,
		OnOp:        func(mb string, op Op) { m.logf("  plan %s: %s", mb, op) },
		OnMailboxOp: func(op MailboxOp) { m.logf("  plan %s", op) }}
	s, err := New(m.src, m.dst, opts)
	if err != nil {
		m.t.Fatal(err)
	}
	rep, err := s.Sync(m.ctx)
	if err != nil {
		return m.fail("sync: %v", err)
	}
	if len(rep.Failed) > 0 {
		return m.fail("sync reported failures: %v", rep.Failed)
	}
	if m.moved {
		// The stores are the same: their state is found by their IDs.
		if !strings.HasPrefix(rep.State, "took over the state of pair") {
			return m.fail("after a move the sync found no state: %q", rep.State)
		}
		m.moved = false
	}
	for _, mb := range rep.Mailboxes {
		if mb.Realigned != "" {
			m.logf("  realigned %s: %s", mb.Source, mb.Realigned)
			if info, err := m.rawD.Status(m.ctx, mb.Target); err == nil {
				m.forget(Target, info.ID)
			}
			if m.cfg.mode == TwoWay {
				if info, err := m.rawS.Status(m.ctx, mb.Source); err == nil {
					m.forget(Source, info.ID)
				}
			}
		}
	}
	afterS, afterD := m.snap(Source), m.snap(Target)
	if !m.checkUIDs(Source, afterS) || !m.checkUIDs(Target, afterD) {
		return false
	}
	identity := !m.cfg.dstPlain && !(m.cfg.mode == TwoWay && (m.cfg.srcPlain || m.cfg.noIDs))
	switch m.cfg.mode {
	case Mirror, TwoWay:
		if !slices.Equal(m.names(Source), m.names(Target)) {
			return m.fail("mailboxes differ: source %v, target %v", m.names(Source), m.names(Target))
		}
		for name, sm := range afterS {
			if identity {
				if a, b := describe(sm, true), describe(afterD[name], true); a != b {
					return m.fail("%q differs by UID:\nsource %s\ntarget %s", name, a, b)
				}
				si, _ := m.rawS.Status(m.ctx, name)
				di, _ := m.rawD.Status(m.ctx, name)
				if si.UIDValidity != di.UIDValidity {
					return m.fail("%q UIDVALIDITY %d on source, %d on target", name, si.UIDValidity, di.UIDValidity)
				}
				if m.cfg.mode == Mirror && di.UIDNext < si.UIDNext {
					return m.fail("%q target UIDNEXT %d below the source's %d", name, di.UIDNext, si.UIDNext)
				}
			} else if a, b := describe(sm, false), describe(afterD[name], false); a != b {
				return m.fail("%q differs:\nsource %s\ntarget %s", name, a, b)
			}
		}
	case Migrate:
		for name, sm := range afterS {
			have := map[mailbox.EmailID]bool{}
			for _, msg := range afterD[name] {
				have[msg.EmailID] = true
			}
			for _, msg := range sm {
				if !have[msg.EmailID] {
					return m.fail("%q: source message %s missing on target", name, msg.EmailID.Short())
				}
			}
		}
		ids := afterD.ids()
		for id := range m.targetOwn {
			if !ids[id] {
				return m.fail("target's own message %s was deleted", id.Short())
			}
		}
	}
	// Nothing lost that nobody expunged.
	idsS, idsD := afterS.ids(), afterD.ids()
	switch m.cfg.mode {
	case Mirror:
		for id := range beforeS.ids() {
			if !idsS[id] {
				return m.fail("mirror removed %s from the source", id.Short())
			}
		}
		if m.cfg.policy == KeepTargetOnly {
			for id := range m.splitBrain {
				if !idsS[id] {
					return m.fail("split-brain message %s not kept on the source", id.Short())
				}
			}
		}
		// What the source's user expunged, no sync brings back to it.
		before := beforeS.ids()
		for id := range idsS {
			if !before[id] && m.srcGone[id] && !m.splitBrain[id] {
				return m.fail("mirror brought back to the source %s, which its user expunged", id.Short())
			}
		}
		clear(m.splitBrain)
	case TwoWay:
		for id := range beforeS.ids() {
			if !m.expunged[id] && !idsS[id] {
				return m.fail("message %s lost from the source", id.Short())
			}
		}
		for id := range beforeD.ids() {
			if !m.expunged[id] && !(idsS[id] && idsD[id]) {
				return m.fail("message %s lost", id.Short())
			}
		}
	}
	// A second sync finds nothing to do.
	m.logf("  -- second sync")
	rep, err = s.Sync(m.ctx)
	if err != nil {
		return m.fail("second sync: %v", err)
	}
	if rep.Total.Changed() || rep.Total.Paired > 0 {
		return m.fail("second sync was not a no-op: %+v", rep.Total)
	}
	m.takeBackups()
	return true
}

// checkUIDs checks that no UID of a mailbox came back holding another
// message under the same UIDVALIDITY, and that UIDNEXT never went down.
func (m *model) checkUIDs(side Side, sn snapshot) bool {
	for name, msgs := range sn {
		info, err := m.store(side).Status(m.ctx, name)
		if err != nil {
			m.t.Fatal(err)
		}
		key := fmt.Sprintf("%s/%s/%d", side, info.ID, info.UIDValidity)
		if prev, ok := m.nexts[key]; ok && info.UIDNext < prev {
			return m.fail("%s %q UIDNEXT went down from %d to %d", side, name, prev, info.UIDNext)
		}
		m.nexts[key] = info.UIDNext
		for i, msg := range msgs {
			if i > 0 && msgs[i-1].UID >= msg.UID {
				return m.fail("%s %q UIDs not ascending", side, name)
			}
			if msg.UID >= info.UIDNext {
				return m.fail("%s %q uid %d not below UIDNEXT %d", side, name, msg.UID, info.UIDNext)
			}
			k := fmt.Sprintf("%s/%d", key, msg.UID)
			if prev, ok := m.seen[k]; ok && prev != msg.EmailID {
				return m.fail("%s %q uid %d reused: %s, before %s", side, name, msg.UID, msg.EmailID.Short(), prev.Short())
			}
			m.seen[k] = msg.EmailID
		}
	}
	return true
}

// move moves both stores and the journal to new places, as an operator
// moving them to new storage or a new mount point does, and renames the
// pair, as templates naming the new paths do. A memstore has no place:
// only the pair's name and the journal move.
func (m *model) move() {
	m.moves++
	m.pair = fmt.Sprintf("moved %d", m.moves)
	m.moved = true
	if c, ok := m.state.(*closingState); ok {
		m.state = c.move(m.t)
	}
	for _, side := range []Side{Source, Target} {
		ms, ok := m.store(side).(*maildir.Store)
		if !ok {
			continue
		}
		v, _ := maildirs.Load(ms)
		b := v.(dirBackup)
		if err := ms.Close(); err != nil {
			m.t.Fatal(err)
		}
		to := tempTree(m.t)
		if err := os.Remove(to); err != nil {
			m.t.Fatal(err)
		}
		if err := os.Rename(b.dir, to); err != nil {
			m.t.Fatal(err)
		}
		s, err := maildir.Open(to, b.opts)
		if err != nil {
			m.t.Fatal(err)
		}
		maildirs.Store(s, dirBackup{dir: to, opts: b.opts})
		m.t.Cleanup(func() { s.Close() })
		m.replace(side, s)
	}
	m.logf("move: stores and journal moved, pair now %q", m.pair)
}

// newState returns the state a scenario keeps: in memory, or in a journal
// in a temporary directory (without fsync: the crash tests of the journal
// itself cover durability).
func newState(t testing.TB, cfg modelConfig) State {
	if !cfg.journal {
		return NewMemState()
	}
	dir, err := os.MkdirTemp("", "mailrepl-model-")
	if err != nil {
		t.Fatal(err)
	}
	return openClosingState(t, dir)
}

func openClosingState(t testing.TB, dir string) *closingState {
	j, err := journal.Open(dir, &journal.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { j.Close(); os.RemoveAll(dir) })
	return &closingState{NewJournalState(j), dir, func() { j.Close(); os.RemoveAll(dir) }}
}

// closingState is a journal-backed State a scenario closes when it ends.
type closingState struct {
	*JournalState
	dir   string
	close func()
}

// move closes the journal, moves its directory elsewhere and opens it
// there.
func (c *closingState) move(t testing.TB) *closingState {
	if err := c.JournalState.j.Close(); err != nil {
		t.Fatal(err)
	}
	to, err := os.MkdirTemp("", "mailrepl-model-moved-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(to); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(c.dir, to); err != nil {
		t.Fatal(err)
	}
	return openClosingState(t, to)
}

// closeState releases a scenario's journal, if it has one.
func closeState(s State) {
	if c, ok := s.(*closingState); ok {
		c.close()
	}
}

func (m *model) backup(side Side) backup {
	if side == Source {
		return m.backupS
	}
	return m.backupD
}

// replace puts a restored store in place of one side's.
func (m *model) replace(side Side, s mailbox.Store) {
	wrap := func(plain, track bool) mailbox.Store {
		switch {
		case plain && track:
			return trackerStore{Store: s, ct: s.(mailbox.ChangeTracker)}
		case plain:
			return plainStore{s}
		}
		return s
	}
	if side == Source && m.cfg.noIDs {
		m.rawS, m.src = s, noIDStore{s}
	} else if side == Source {
		m.rawS, m.src = s, wrap(m.cfg.srcPlain, false)
	} else {
		m.rawD, m.dst = s, wrap(m.cfg.dstPlain, m.cfg.dstTrack)
		if m.cfg.remote {
			m.dst = remoteTarget(m.t, m.dst)
		}
	}
}

// takeBackups copies both stores, as a nightly backup would.
func (m *model) takeBackups() {
	m.backupS = takeBackup(m.t, m.rawS)
	m.backupD = takeBackup(m.t, m.rawD)
}

// backup is a copy of a store; restore gives a new store holding it.
type backup interface {
	restore(t testing.TB) mailbox.Store
}

type memBackup struct{ s *memstore.Store }

func (b memBackup) restore(t testing.TB) mailbox.Store {
	c, err := b.s.Clone()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// dirBackup is a Maildir tree copied aside.
type dirBackup struct {
	dir  string
	opts *maildir.Options
}

func (b dirBackup) restore(t testing.TB) mailbox.Store {
	dir := copyTree(t, b.dir)
	s, err := maildir.Open(dir, b.opts)
	if err != nil {
		t.Fatal(err)
	}
	maildirs.Store(s, dirBackup{dir: dir, opts: b.opts})
	t.Cleanup(func() { s.Close() })
	return s
}

// maildirs remembers the root and options of each Maildir store opened by
// the tests.
var maildirs sync.Map // *maildir.Store → dirBackup

func takeBackup(t testing.TB, s mailbox.Store) backup {
	switch s := s.(type) {
	case *memstore.Store:
		c, err := s.Clone()
		if err != nil {
			t.Fatal(err)
		}
		return memBackup{c}
	case *maildir.Store:
		v, _ := maildirs.Load(s)
		b := v.(dirBackup)
		return dirBackup{dir: copyTree(t, b.dir), opts: b.opts}
	}
	t.Fatalf("no backup for %T", s)
	return nil
}

// openStore opens a fresh store of the configuration's kind.
func openStore(t testing.TB, cfg modelConfig, clock *fakeClock) mailbox.Store {
	if !cfg.maildir {
		return newMem(t, clock)
	}
	opts := &maildir.Options{Now: clock.Now, Hostname: "model", Rand: rand.NewChaCha8([32]byte{byte(clock.t.Month())})}
	dir := tempTree(t)
	s, err := maildir.Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	maildirs.Store(s, dirBackup{dir: dir, opts: opts})
	t.Cleanup(func() { s.Close() })
	return s
}

// tempTree makes a directory for a Maildir tree, on tmpfs when there is
// one (fsync costs nothing there; the Maildir package's own tests cover
// durability).
func tempTree(t testing.TB) string {
	base := ""
	if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
		base = "/dev/shm"
	}
	dir, err := os.MkdirTemp(base, "mailrepl-model-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

func copyTree(t testing.TB, from string) string {
	to := tempTree(t)
	err := filepath.WalkDir(from, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, path)
		dst := filepath.Join(to, rel)
		if d.IsDir() {
			return os.MkdirAll(dst, 0o700)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		if err := os.WriteFile(dst, b, 0o600); err != nil {
			return err
		}
		return os.Chtimes(dst, fi.ModTime(), fi.ModTime())
	})
	if err != nil {
		t.Fatal(err)
	}
	return to
}
