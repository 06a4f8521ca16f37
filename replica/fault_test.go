package replica

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"math/rand/v2"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mailrepl/mailrepl/mailbox"
	"github.com/mailrepl/mailrepl/mailbox/memstore"
	"github.com/mailrepl/mailrepl/uid"
)

// errKilled is what every operation returns once the simulated process
// died: nothing after that point reaches a store or the state.
var errKilled = errors.New("killed")

// world counts the operations on both stores and the state; at operation
// `at` the process "dies": that operation and every later one fail.
type world struct {
	n, at atomic.Int64
	// spy, if set, sees every operation (kind, mailbox, UID) and may fail it.
	spy func(op, mbox string, u uid.UID) error
	// body, if set, may replace the body a read returns.
	body func(mbox string, u uid.UID, rc io.ReadCloser) io.ReadCloser
}

func (w *world) tick(op, mbox string, u uid.UID) error {
	if n := w.n.Add(1); w.at.Load() > 0 && n >= w.at.Load() {
		return errKilled
	}
	if w.spy != nil {
		return w.spy(op, mbox, u)
	}
	return nil
}

// faultStore wraps a store of every capability and fails on the world's
// command. It forwards the optional interfaces.
type faultStore struct {
	s mailbox.Store
	w *world
}

func (f *faultStore) Mailboxes(ctx context.Context) ([]mailbox.Info, error) {
	if err := f.w.tick("mailboxes", "", 0); err != nil {
		return nil, err
	}
	return f.s.Mailboxes(ctx)
}
func (f *faultStore) Status(ctx context.Context, name string) (mailbox.Info, error) {
	if err := f.w.tick("status", name, 0); err != nil {
		return mailbox.Info{}, err
	}
	return f.s.Status(ctx, name)
}
func (f *faultStore) Messages(ctx context.Context, name string, set uid.Set) iter.Seq2[mailbox.Message, error] {
	if err := f.w.tick("messages", name, 0); err != nil {
		return func(yield func(mailbox.Message, error) bool) { yield(mailbox.Message{}, err) }
	}
	return faultSeq(f.w, name, f.s.Messages(ctx, name, set))
}
func (f *faultStore) Changes(ctx context.Context, name string, v uid.Validity, since mailbox.ModSeq) iter.Seq2[mailbox.Change, error] {
	if err := f.w.tick("changes", name, 0); err != nil {
		return func(yield func(mailbox.Change, error) bool) { yield(mailbox.Change{}, err) }
	}
	return faultSeq(f.w, name, f.s.(mailbox.ChangeTracker).Changes(ctx, name, v, since))
}

func faultSeq[T any](w *world, name string, seq iter.Seq2[T, error]) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		for v, err := range seq {
			if e := w.tick("next", name, 0); e != nil {
				var zero T
				yield(zero, e)
				return
			}
			if !yield(v, err) {
				return
			}
		}
	}
}

func (f *faultStore) Open(ctx context.Context, name string, u uid.UID) (io.ReadCloser, error) {
	if err := f.w.tick("open", name, u); err != nil {
		return nil, err
	}
	rc, err := f.s.Open(ctx, name, u)
	if err == nil && f.w.body != nil {
		rc = f.w.body(name, u, rc)
	}
	return rc, err
}
func (f *faultStore) Create(ctx context.Context, name string) (mailbox.Info, error) {
	if err := f.w.tick("create", name, 0); err != nil {
		return mailbox.Info{}, err
	}
	return f.s.Create(ctx, name)
}
func (f *faultStore) Rename(ctx context.Context, o, n string) error {
	if err := f.w.tick("rename", o, 0); err != nil {
		return err
	}
	return f.s.Rename(ctx, o, n)
}
func (f *faultStore) Delete(ctx context.Context, name string) error {
	if err := f.w.tick("delete", name, 0); err != nil {
		return err
	}
	return f.s.Delete(ctx, name)
}
func (f *faultStore) Subscribe(ctx context.Context, name string, on bool) error {
	if err := f.w.tick("subscribe", name, 0); err != nil {
		return err
	}
	return f.s.Subscribe(ctx, name, on)
}
func (f *faultStore) Append(ctx context.Context, name string, lit mailbox.Literal, meta mailbox.AppendMeta) (uid.UID, error) {
	if err := f.w.tick("append", name, 0); err != nil {
		return 0, err
	}
	return f.s.Append(ctx, name, lit, meta)
}
func (f *faultStore) AppendUID(ctx context.Context, name string, u uid.UID, lit mailbox.Literal, meta mailbox.AppendMeta) error {
	if err := f.w.tick("append", name, u); err != nil {
		return err
	}
	return f.s.(mailbox.UIDSetter).AppendUID(ctx, name, u, lit, meta)
}
func (f *faultStore) SetUIDNext(ctx context.Context, name string, next uid.UID) error {
	if err := f.w.tick("setuidnext", name, 0); err != nil {
		return err
	}
	return f.s.(mailbox.UIDSetter).SetUIDNext(ctx, name, next)
}
func (f *faultStore) ResetUIDs(ctx context.Context, name string, v uid.Validity, m *uid.Map) error {
	if err := f.w.tick("resetuids", name, 0); err != nil {
		return err
	}
	return f.s.(mailbox.UIDSetter).ResetUIDs(ctx, name, v, m)
}
func (f *faultStore) StoreFlags(ctx context.Context, name string, set uid.Set, op mailbox.FlagOp, fl mailbox.Flags) error {
	if err := f.w.tick("flags", name, 0); err != nil {
		return err
	}
	return f.s.StoreFlags(ctx, name, set, op, fl)
}
func (f *faultStore) Expunge(ctx context.Context, name string, set uid.Set) error {
	if err := f.w.tick("expunge", name, 0); err != nil {
		return err
	}
	return f.s.Expunge(ctx, name, set)
}
func (f *faultStore) Close() error { return f.s.Close() }

func (f *faultStore) Batch(ctx context.Context, name string) (mailbox.Batch, error) {
	if err := f.w.tick("batch", name, 0); err != nil {
		return nil, err
	}
	b, err := f.s.(mailbox.Batcher).Batch(ctx, name)
	if err != nil {
		return nil, err
	}
	return &faultBatch{b: b, w: f.w}, nil
}

type faultBatch struct {
	b mailbox.Batch
	w *world
}

func (f *faultBatch) Append(ctx context.Context, lit mailbox.Literal, meta mailbox.AppendMeta) (uid.UID, error) {
	if err := f.w.tick("append", "", 0); err != nil {
		return 0, err
	}
	return f.b.Append(ctx, lit, meta)
}
func (f *faultBatch) AppendUID(ctx context.Context, u uid.UID, lit mailbox.Literal, meta mailbox.AppendMeta) error {
	if err := f.w.tick("append", "", u); err != nil {
		return err
	}
	return f.b.AppendUID(ctx, u, lit, meta)
}
func (f *faultBatch) Commit(ctx context.Context) error {
	if err := f.w.tick("commit", "", 0); err != nil {
		return err
	}
	return f.b.Commit(ctx)
}

// Close after a kill leaves the batch's appends where they are: a dead
// process undoes nothing.
func (f *faultBatch) Close() error {
	if f.w.at.Load() > 0 && f.w.n.Load() >= f.w.at.Load() {
		return nil
	}
	return f.b.Close()
}

// faultState wraps a State: a commit is one operation.
type faultState struct {
	State
	w *world
}

func (f faultState) Begin(pair string) StateBatch { return faultStateBatch{f.State.Begin(pair), f.w} }

type faultStateBatch struct {
	StateBatch
	w *world
}

func (f faultStateBatch) Commit(ctx context.Context) error {
	if err := f.w.tick("state", "", 0); err != nil {
		return err
	}
	return f.StateBatch.Commit(ctx)
}

// faultScenario builds, from a seed, the stores and state of a scenario
// just before its last sync.
type faultScenario struct {
	cfg  modelConfig
	seed uint64
}

func (fs faultScenario) build(t *testing.T) *model {
	clockS := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	clockD := &fakeClock{t: time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)}
	rs := memstore.New(&memstore.Options{Now: clockS.Now, Rand: rand.NewChaCha8([32]byte{1})})
	rd := memstore.New(&memstore.Options{Now: clockD.Now, Rand: rand.NewChaCha8([32]byte{2})})
	m := &model{
		t: t, cfg: fs.cfg, seed: fs.seed, rng: rand.New(rand.NewPCG(fs.seed, 0xfa17)), ctx: context.Background(),
		rawS: rs, rawD: rd, src: rs, dst: rd, state: newState(t, fs.cfg),
		expunged: map[mailbox.EmailID]bool{}, splitBrain: map[mailbox.EmailID]bool{}, srcGone: map[mailbox.EmailID]bool{},
		targetOwn: map[mailbox.EmailID]bool{}, seen: map[string]mailbox.EmailID{}, nexts: map[string]uid.UID{},
	}
	if fs.cfg.dstPlain {
		m.dst = plainStore{rd}
	}
	if fs.cfg.srcPlain {
		m.src = plainStore{rs}
	}
	rounds := 1 + m.rng.IntN(3)
	for round := range rounds {
		m.mutate(Source, round == 0)
		m.mutate(Target, round == 0)
		if round < rounds-1 {
			m.sync(nil, nil)
		}
	}
	return m
}

// sync runs one sync of the model's stores through w (nil: no faults).
func (m *model) sync(w *world, t *testing.T) (*Report, error) {
	src, dst := m.src, m.dst
	var state State = m.state
	if w != nil {
		src, dst = m.wrap(m.rawS, w, m.cfg.srcPlain), m.wrap(m.rawD, w, m.cfg.dstPlain)
		state = faultState{m.state, w}
	}
	s, err := New(src, dst, &Options{Mode: m.cfg.mode, TargetOnly: m.cfg.policy, State: state, BatchMessages: 2, Concurrency: 1, Retries: 1, RetryDelay: time.Millisecond})
	if err != nil {
		m.t.Fatal(err)
	}
	return s.Sync(m.ctx)
}

func (m *model) wrap(s mailbox.Store, w *world, plain bool) mailbox.Store {
	f := &faultStore{s: s, w: w}
	if plain {
		return plainStore{f}
	}
	return f
}

// outcome is a scenario's end result, without UIDs: per mailbox, the
// sorted messages of each side.
func (m *model) outcome() string {
	var b strings.Builder
	for _, side := range []Side{Source, Target} {
		sn := m.snap(side)
		names := slices.Sorted(func(yield func(string) bool) {
			for n := range sn {
				if !yield(n) {
					return
				}
			}
		})
		for _, n := range names {
			fmt.Fprintf(&b, "%s %s: %s\n", side, n, describe(sn[n], false))
		}
	}
	return b.String()
}

// TestCrashConverges kills the sync at every operation of a scenario and
// checks that a re-run ends exactly where an uninterrupted sync ends: no
// message lost, none duplicated, flags the same.
func TestCrashConverges(t *testing.T) {
	configs := []modelConfig{
		{mode: Mirror}, {mode: Mirror, dstPlain: true},
		{mode: TwoWay}, {mode: TwoWay, dstPlain: true},
		{mode: Migrate},
		{mode: Mirror, journal: true}, {mode: TwoWay, journal: true}, {mode: TwoWay, dstPlain: true, journal: true},
	}
	scenarios := 12
	if testing.Short() {
		scenarios = 3
	}
	if *flagScenarios > 0 {
		scenarios = *flagScenarios / 10
	}
	for _, cfg := range configs {
		t.Run(cfg.String(), func(t *testing.T) {
			scenarios := scenarios
			if cfg.journal {
				scenarios = max(1, scenarios/4)
			}
			for i := range scenarios {
				seed := uint64(i)*104729 + 7
				if *flagSeed != 0 {
					seed = *flagSeed
				}
				fs := faultScenario{cfg: cfg, seed: seed}
				ref := fs.build(t)
				w := &world{}
				if _, err := ref.sync(w, t); err != nil {
					t.Fatalf("seed %d: reference sync: %v", seed, err)
				}
				total := w.n.Load()
				want := ref.outcome()
				closeState(ref.state)
				for at := int64(1); at <= total; at++ {
					m := fs.build(t)
					w := &world{}
					w.at.Store(at)
					m.sync(w, t) // dies at operation at
					if _, err := m.sync(nil, t); err != nil {
						t.Fatalf("seed %d killed at op %d of %d: re-run failed: %v", seed, at, total, err)
					}
					if got := m.outcome(); got != want {
						t.Fatalf("seed %d (%s) killed at op %d of %d: re-run converged elsewhere:\ngot:\n%s\nwant:\n%s\nsteps:\n%s",
							seed, cfg, at, total, got, want, strings.Join(m.log, "\n"))
					}
					if rep, err := m.sync(nil, t); err != nil || rep.Total.Changed() {
						t.Fatalf("seed %d killed at op %d: third sync not a no-op: %v %+v", seed, at, err, rep.Total)
					}
					closeState(m.state)
				}
				if *flagSeed != 0 {
					return
				}
			}
		})
	}
}
