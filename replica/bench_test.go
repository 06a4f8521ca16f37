package replica_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/mailrepl/mailrepl/internal/mailgen"
	"github.com/mailrepl/mailrepl/journal"
	"github.com/mailrepl/mailrepl/mailbox"
	"github.com/mailrepl/mailrepl/mailbox/maildir"
	"github.com/mailrepl/mailrepl/mailbox/memstore"
	"github.com/mailrepl/mailrepl/replica"
	"github.com/mailrepl/mailrepl/uid"
)

// BenchmarkMirror times the engine's mirror of a generated account
// (internal/mailgen, seed 1) on three set-ups:
//
//   - memstore: both sides in memory, the state in memory (replica.MemState):
//     the engine's own cost, no disk at all;
//   - memstore+journal: the same with the state in a real journal on disk;
//   - maildir: both sides Maildir trees in temporary directories, the state
//     in a journal: what a mirror between two Maildir servers costs.
//
// The memstore corpus has no attachments (mean ≈ 6 KB a message), so that
// two copies of 100,000 messages fit in memory; the maildir corpus is
// mailgen's default, the one the anchors (doveadm backup, mbsync, rsync)
// were timed on in /work/shared/bench (mean ≈ 17 KB, a few up to 4 MiB).
//
// Each has two cases:
//
//   - full: a mirror into an empty target (a new target and a new state
//     each iteration, made outside the timed part). Reports msgs/s and
//     MB/s of the copy, and x-copy: its time over the time of a plain copy
//     of the same messages through the store API (list, open, batched
//     appends with the source's UIDs), measured in the same iteration: the
//     engine's overhead over the bare stores.
//   - incremental: 1 % of the messages changed on the source before each
//     iteration (mailgen Mutate, outside the timed part: 0.25 % new mail,
//     0.5 % flag changes, 0.25 % expunges), then a mirror. Reports msgs/s
//     (messages of the account brought up to date per second), changes/s
//     and MB/s of the new mail copied, and x-list: its time over the time
//     of one listing of both sides (every mailbox's Messages), measured in
//     the same iteration; the least any incremental sync of a store that
//     does not track changes must do.
//
// Sizes are sub-benchmarks, so one can pick (each level of -bench is an
// unanchored pattern, so "msgs=10000" alone would also pick 100000):
//
//	go test ./replica -run '^$' -bench 'Mirror/.*/msgs=10000$'       # every set-up at 10,000: about a minute
//	go test ./replica -run '^$' -bench 'Mirror/maildir/msgs=100000$/full'
//
// A whole -bench=. run takes about 4 minutes on the project's 2-core
// machine, most of it generating the 100,000-message accounts (tens of seconds
// for the Maildir one, 1.7 GB) and, for the full mirrors on Maildir,
// removing and remaking targets outside the timed part; those run one
// iteration each, so their ratios are noisy: compare runs with -count and
// benchstat.
func BenchmarkMirror(b *testing.B) {
	small := &mailgen.Options{AttachmentRate: -1, LargeRate: -1}
	setups := []struct {
		name    string
		opts    *mailgen.Options
		maildir bool
		journal bool
	}{
		{"memstore", small, false, false},
		{"memstore+journal", small, false, true},
		{"maildir", nil, true, true},
	}
	for _, su := range setups {
		b.Run(su.name, func(b *testing.B) {
			for _, n := range []int{10_000, 100_000} {
				b.Run(fmt.Sprintf("msgs=%d", n), func(b *testing.B) {
					g, err := mailgen.NewWithOptions(1, su.opts)
					if err != nil {
						b.Fatal(err)
					}
					env := &benchEnv{maildir: su.maildir, journal: su.journal, dir: b.TempDir()}
					defer env.close()
					src := env.newStore(b, "src")
					st, err := g.Populate(b.Context(), src, mailgen.AccountSpec{Messages: n})
					if err != nil {
						b.Fatal(err)
					}
					b.Run("full", func(b *testing.B) { benchFull(b, env, src, st) })
					b.Run("incremental", func(b *testing.B) { benchIncremental(b, env, g, src, n) })
				})
			}
		})
	}
}

// benchEnv makes the stores and states of one set-up.
type benchEnv struct {
	maildir, journal bool
	dir              string
	seq              int
	closers          []func() error
}

func (e *benchEnv) close() {
	for i := len(e.closers) - 1; i >= 0; i-- {
		e.closers[i]()
	}
	e.closers = nil
}

// path returns a new path under the set-up's directory.
func (e *benchEnv) path(name string) string {
	e.seq++
	return filepath.Join(e.dir, fmt.Sprintf("%s-%d", name, e.seq))
}

func (e *benchEnv) newStore(b *testing.B, name string) mailbox.Store {
	b.Helper()
	var s mailbox.Store
	if e.maildir {
		var err error
		if s, err = maildir.Open(e.path(name), nil); err != nil {
			b.Fatal(err)
		}
	} else {
		s = memstore.New(nil)
	}
	e.closers = append(e.closers, s.Close)
	return s
}

// newState returns a fresh state and a function that closes it and
// removes what it left on disk.
func (e *benchEnv) newState(b *testing.B) (replica.State, func()) {
	b.Helper()
	if !e.journal {
		return replica.NewMemState(), func() {}
	}
	dir := e.path("journal")
	j, err := journal.Open(dir, nil)
	if err != nil {
		b.Fatal(err)
	}
	return replica.NewJournalState(j), func() {
		if err := j.Close(); err != nil {
			b.Error(err)
		}
		os.RemoveAll(dir)
	}
}

func benchFull(b *testing.B, env *benchEnv, src mailbox.Store, st mailgen.Stats) {
	ctx := b.Context()
	b.SetBytes(st.Bytes)
	var copyTime time.Duration
	var dst mailbox.Store
	var dstPath string
	for b.Loop() {
		b.StopTimer()
		dstPath = env.path("dst")
		dst = newBenchStore(b, env.maildir, dstPath)
		state, closeState := env.newState(b)
		s, err := replica.New(src, dst, &replica.Options{Mode: replica.Mirror, State: state})
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		rep, err := s.Sync(ctx)
		b.StopTimer()
		if err != nil {
			b.Fatal(err)
		}
		if rep.Total.Appended != st.Messages || rep.Total.Bytes != st.Bytes {
			b.Fatalf("mirror copied %d messages, %d bytes; want %d, %d", rep.Total.Appended, rep.Total.Bytes, st.Messages, st.Bytes)
		}
		closeState()
		drop(b, dst, dstPath)

		// The baseline: the same copy through the stores alone.
		basePath := env.path("base")
		base := newBenchStore(b, env.maildir, basePath)
		start := time.Now()
		plainCopy(b, ctx, src, base)
		copyTime += time.Since(start)
		drop(b, base, basePath)
		b.StartTimer()
	}
	elapsed := b.Elapsed()
	b.ReportMetric(float64(st.Messages)*float64(b.N)/elapsed.Seconds(), "msgs/s")
	b.ReportMetric(elapsed.Seconds()/copyTime.Seconds(), "x-copy")
}

func benchIncremental(b *testing.B, env *benchEnv, g *mailgen.Generator, src mailbox.Store, n int) {
	ctx := b.Context()
	dstPath := env.path("dst")
	dst := newBenchStore(b, env.maildir, dstPath)
	defer drop(b, dst, dstPath)
	state, closeState := env.newState(b)
	defer closeState()
	s, err := replica.New(src, dst, &replica.Options{Mode: replica.Mirror, State: state})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := s.Sync(ctx); err != nil {
		b.Fatal(err)
	}
	spec := mailgen.MutateSpec{New: n / 400, FlagChanges: n / 200, Expunges: n / 400}
	var (
		listTime time.Duration
		changes  int
		bytes    int64
		seed     uint64 = 1000
	)
	for b.Loop() {
		b.StopTimer()
		seed++
		mst, err := g.Mutate(ctx, src, seed, spec)
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		rep, err := s.Sync(ctx)
		b.StopTimer()
		if err != nil {
			b.Fatal(err)
		}
		t := rep.Total
		if t.Appended != mst.Messages || t.Expunged != mst.Expunges || t.FlagChanges != mst.FlagChanges {
			b.Fatalf("mirror of %d new, %d flag changes, %d expunges: %+v", mst.Messages, mst.FlagChanges, mst.Expunges, t)
		}
		changes += mst.Messages + mst.FlagChanges + mst.Expunges
		bytes += t.Bytes
		start := time.Now()
		listAll(b, ctx, src)
		listAll(b, ctx, dst)
		listTime += time.Since(start)
		b.StartTimer()
	}
	elapsed := b.Elapsed().Seconds()
	b.ReportMetric(float64(n)*float64(b.N)/elapsed, "msgs/s")
	b.ReportMetric(float64(changes)/elapsed, "changes/s")
	b.ReportMetric(float64(bytes)/1e6/elapsed, "MB/s")
	b.ReportMetric(elapsed/listTime.Seconds(), "x-list")
	b.StopTimer()
	if diff := compareStores(ctx, src, dst); diff != "" {
		b.Fatalf("after the incremental mirrors the target differs from the source: %s", diff)
	}
}

func newBenchStore(b *testing.B, onDisk bool, path string) mailbox.Store {
	b.Helper()
	if !onDisk {
		return memstore.New(nil)
	}
	s, err := maildir.Open(path, nil)
	if err != nil {
		b.Fatal(err)
	}
	return s
}

// drop closes a store and removes its tree, if it has one.
func drop(b *testing.B, s mailbox.Store, path string) {
	b.Helper()
	if err := s.Close(); err != nil {
		b.Error(err)
	}
	if _, ok := s.(*maildir.Store); ok {
		if err := os.RemoveAll(path); err != nil {
			b.Error(err)
		}
	}
}

// plainCopy copies every mailbox of src into the empty dst through the
// stores' API alone, as the engine's mirror does (two mailboxes at once,
// the source's UIDs, appends in batches of 256) but without a state, a
// diff or checks.
func plainCopy(b *testing.B, ctx context.Context, src, dst mailbox.Store) {
	b.Helper()
	infos, err := src.Mailboxes(ctx)
	if err != nil {
		b.Fatal(err)
	}
	for _, info := range infos {
		if info.Name != mailbox.Inbox {
			if _, err := dst.Create(ctx, info.Name); err != nil {
				b.Fatal(err)
			}
		}
	}
	work := make(chan string)
	errs := make(chan error, len(infos))
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for name := range work {
				errs <- copyMailbox(ctx, src, dst, name)
			}
		}()
	}
	for _, info := range infos {
		work <- info.Name
	}
	close(work)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			b.Fatal(err)
		}
	}
}

func copyMailbox(ctx context.Context, src, dst mailbox.Store, name string) error {
	batch, err := dst.(mailbox.Batcher).Batch(ctx, name)
	if err != nil {
		return err
	}
	defer func() { batch.Close() }()
	k := 0
	for m, err := range src.Messages(ctx, name, uid.All) {
		if err != nil {
			return err
		}
		rc, err := src.Open(ctx, name, m.UID)
		if err != nil {
			return err
		}
		err = batch.AppendUID(ctx, m.UID, mailbox.NewLiteral(rc, m.Size), mailbox.AppendMeta{Flags: m.Flags, InternalDate: m.InternalDate, EmailID: m.EmailID})
		rc.Close()
		if err != nil {
			return err
		}
		if k++; k%256 == 0 {
			if err := batch.Commit(ctx); err != nil {
				return err
			}
			if batch, err = dst.(mailbox.Batcher).Batch(ctx, name); err != nil {
				return err
			}
		}
	}
	return batch.Commit(ctx)
}

// listAll lists every message of every mailbox of s.
func listAll(b *testing.B, ctx context.Context, s mailbox.Reader) int {
	b.Helper()
	infos, err := s.Mailboxes(ctx)
	if err != nil {
		b.Fatal(err)
	}
	n := 0
	for _, info := range infos {
		for _, err := range s.Messages(ctx, info.Name, uid.All) {
			if err != nil {
				b.Fatal(err)
			}
			n++
		}
	}
	return n
}

// compareStores says how b differs from a, mailbox by mailbox, by UID,
// EmailID, flags and UIDVALIDITY; "" when they agree.
func compareStores(ctx context.Context, a, b mailbox.Reader) string {
	ia, err := a.Mailboxes(ctx)
	if err != nil {
		return err.Error()
	}
	ib, err := b.Mailboxes(ctx)
	if err != nil {
		return err.Error()
	}
	if len(ia) != len(ib) {
		return fmt.Sprintf("%d mailboxes, want %d", len(ib), len(ia))
	}
	for k := range ia {
		if ia[k].Name != ib[k].Name || ia[k].UIDValidity != ib[k].UIDValidity {
			return fmt.Sprintf("mailbox %q v=%d, want %q v=%d", ib[k].Name, ib[k].UIDValidity, ia[k].Name, ia[k].UIDValidity)
		}
		var la []mailbox.Message
		for m, err := range a.Messages(ctx, ia[k].Name, uid.All) {
			if err != nil {
				return err.Error()
			}
			la = append(la, m)
		}
		i := 0
		for m, err := range b.Messages(ctx, ib[k].Name, uid.All) {
			if err != nil {
				return err.Error()
			}
			if i >= len(la) {
				return fmt.Sprintf("%s: extra %v", ib[k].Name, m)
			}
			w := la[i]
			if m.UID != w.UID || m.EmailID != w.EmailID || !m.Flags.Equal(w.Flags) || m.Size != w.Size {
				return fmt.Sprintf("%s: %v, want %v", ib[k].Name, m, w)
			}
			i++
		}
		if i != len(la) {
			return fmt.Sprintf("%s: %d messages, want %d", ib[k].Name, i, len(la))
		}
	}
	return ""
}
