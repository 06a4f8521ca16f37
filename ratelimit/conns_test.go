package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// TestServerConnsCap: many users going every way between three servers
// never hold more than ServerConns slots on a server, and fill them.
func TestServerConnsCap(t *testing.T) {
	const conns = 3
	r := newRand(t)
	synctest.Test(t, func(t *testing.T) {
		l := mustNew(t, Config{ServerConns: conns})
		servers := []string{"A", "B", "C"}
		var inFlight, peak [3]atomic.Int64
		enter := func(i int) {
			n := inFlight[i].Add(1)
			for {
				p := peak[i].Load()
				if n <= p || peak[i].CompareAndSwap(p, n) {
					break
				}
			}
		}
		type job struct {
			src, tgt int
			direct   bool // Limiter.Acquire on the source only
			holds    []time.Duration
		}
		var jobs []job
		for range 60 {
			j := job{src: r.IntN(3), tgt: r.IntN(3), direct: r.IntN(5) == 0}
			for range 5 {
				j.holds = append(j.holds, time.Duration(1+r.IntN(100))*time.Millisecond)
			}
			jobs = append(jobs, j)
		}
		var wg sync.WaitGroup
		for n, j := range jobs {
			h := l.For(fmt.Sprint("u", n), servers[j.src], servers[j.tgt])
			defer h.Close()
			wg.Go(func() {
				for _, hold := range j.holds {
					var release func()
					var err error
					held := []int{j.src}
					if j.direct {
						release, err = l.Acquire(t.Context(), servers[j.src])
					} else {
						release, err = h.Acquire(t.Context())
						if j.tgt != j.src {
							held = append(held, j.tgt)
						}
					}
					if err != nil {
						t.Errorf("Acquire: %v", err)
						return
					}
					for _, s := range held {
						enter(s)
					}
					time.Sleep(hold)
					for _, s := range held {
						inFlight[s].Add(-1)
					}
					release()
					release() // harmless
				}
			})
		}
		wg.Wait()
		for i, s := range servers {
			if p := peak[i].Load(); p != conns {
				t.Errorf("server %s: at most %d in flight, want %d (the cap, reached)", s, p, conns)
			}
		}
		for _, sr := range l.Rates().Servers {
			if sr.InFlight != 0 || sr.Queued != 0 {
				t.Errorf("server %s after the run: %d in flight, %d queued; want 0, 0", sr.Server, sr.InFlight, sr.Queued)
			}
		}
	})
}

// TestServerConnsFIFO: waiters get a slot in the order they came; one that
// gives up leaves the line without disturbing it.
func TestServerConnsFIFO(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := mustNew(t, Config{ServerConns: 1})
		release, err := l.Acquire(t.Context(), "A")
		if err != nil {
			t.Fatal(err)
		}
		var (
			mu    sync.Mutex
			order []int
			wg    sync.WaitGroup
		)
		for i := range 10 {
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			if i == 4 {
				time.AfterFunc(20*time.Millisecond, cancel)
			}
			wg.Go(func() {
				time.Sleep(time.Duration(i) * time.Millisecond)
				rel, err := l.Acquire(ctx, "A")
				if i == 4 {
					if !errors.Is(err, context.Canceled) {
						t.Errorf("waiter 4: Acquire = %v, want context.Canceled", err)
					}
					return
				}
				if err != nil {
					t.Errorf("waiter %d: Acquire = %v", i, err)
					return
				}
				mu.Lock()
				order = append(order, i)
				mu.Unlock()
				time.Sleep(time.Second)
				rel()
			})
		}
		time.Sleep(15 * time.Millisecond)
		if r := l.Effective("A"); r.InFlight != 1 || r.Queued != 10 {
			t.Errorf("Effective(A) = %d in flight, %d queued; want 1, 10", r.InFlight, r.Queued)
		}
		time.Sleep(10 * time.Millisecond)
		if r := l.Effective("A"); r.Queued != 9 {
			t.Errorf("after a waiter gave up, %d queued, want 9", r.Queued)
		}
		release()
		wg.Wait()
		if want := []int{0, 1, 2, 3, 5, 6, 7, 8, 9}; !slices.Equal(order, want) {
			t.Errorf("slots granted in order %v, want %v", order, want)
		}
	})
}

// TestServerConnsGrantAndCancel: a waiter whose ctx ends at the instant
// its slot is granted passes the slot on; nothing leaks either way.
func TestServerConnsGrantAndCancel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := mustNew(t, Config{ServerConns: 1})
		for range 20 {
			release, err := l.Acquire(t.Context(), "A")
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(t.Context())
			// Cancelled and granted at once.
			time.AfterFunc(time.Second, func() { cancel(); release() }) // the waiter often finds both done
			rel, err := l.Acquire(ctx, "A")
			if err == nil {
				rel()
			} else if !errors.Is(err, context.Canceled) {
				t.Fatalf("Acquire = %v", err)
			}
			synctest.Wait()
			if r := l.Effective("A"); r.InFlight != 0 || r.Queued != 0 {
				t.Fatalf("after the race: %d in flight, %d queued; want 0, 0", r.InFlight, r.Queued)
			}
		}
	})
}

// TestHandleAcquire: handles going in opposite directions on servers with
// one slot each do not deadlock (the bubble would report it); a handle on
// one server takes one slot; a failed Acquire gives back what it took.
func TestHandleAcquire(t *testing.T) {
	t.Run("opposite directions", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			l := mustNew(t, Config{ServerConns: 1})
			var wg sync.WaitGroup
			var busy [2]atomic.Int64
			for i := range 20 {
				src, tgt := "A", "B"
				if i%2 == 1 {
					src, tgt = tgt, src
				}
				h := l.For(fmt.Sprint("u", i), src, tgt)
				defer h.Close()
				wg.Go(func() {
					for range 10 {
						release, err := h.Acquire(t.Context())
						if err != nil {
							t.Error(err)
							return
						}
						if busy[0].Add(1) != 1 || busy[1].Add(1) != 1 {
							t.Error("two handles hold a server with one slot")
						}
						time.Sleep(time.Millisecond)
						busy[0].Add(-1)
						busy[1].Add(-1)
						release()
					}
				})
			}
			wg.Wait()
		})
	})
	t.Run("same server", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			l := mustNew(t, Config{ServerConns: 1})
			h := l.For("u", "A", "A")
			release, err := h.Acquire(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if r := l.Effective("A"); r.InFlight != 1 {
				t.Errorf("%d in flight, want 1", r.InFlight)
			}
			release()
			if r := l.Effective("A"); r.InFlight != 0 {
				t.Errorf("%d in flight after release, want 0", r.InFlight)
			}
		})
	})
	t.Run("failure gives back", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			l := mustNew(t, Config{ServerConns: 1})
			holdB, err := l.Acquire(t.Context(), "B")
			if err != nil {
				t.Fatal(err)
			}
			defer holdB()
			ctx, cancel := context.WithTimeout(t.Context(), time.Second)
			defer cancel()
			if _, err := l.For("u", "A", "B").Acquire(ctx); !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("Acquire = %v, want context.DeadlineExceeded", err)
			}
			if r := l.Effective("A"); r.InFlight != 0 {
				t.Errorf("A: %d in flight after a failed Acquire, want 0", r.InFlight)
			}
		})
	})
	t.Run("ctx done before waiting", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			l := mustNew(t, Config{ServerConns: 1})
			release, err := l.Acquire(t.Context(), "A")
			if err != nil {
				t.Fatal(err)
			}
			defer release()
			ctx, cancel := context.WithCancel(t.Context())
			cancel()
			if _, err := l.Acquire(ctx, "A"); !errors.Is(err, context.Canceled) {
				t.Errorf("Acquire(done ctx) on a full server = %v, want context.Canceled", err)
			}
			if r := l.Effective("A"); r.InFlight != 1 || r.Queued != 0 {
				t.Errorf("%d in flight, %d queued; want 1, 0", r.InFlight, r.Queued)
			}
		})
	})
	t.Run("no server, no cap", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			l := mustNew(t, Config{ServerConns: 1})
			var releases []func()
			for range 3 {
				r1, err1 := l.Acquire(t.Context(), "")
				r2, err2 := l.For("u", "", "").Acquire(t.Context())
				if err1 != nil || err2 != nil {
					t.Fatal(err1, err2)
				}
				releases = append(releases, r1, r2)
			}
			for _, r := range releases {
				r()
			}
			l2 := mustNew(t, Config{}) // ServerConns 0: no cap, but counted
			var rs []func()
			for range 100 {
				r, err := l2.Acquire(t.Context(), "A")
				if err != nil {
					t.Fatal(err)
				}
				rs = append(rs, r)
			}
			if r := l2.Effective("A"); r.InFlight != 100 {
				t.Errorf("uncapped: %d in flight, want 100", r.InFlight)
			}
			for _, r := range rs {
				r()
			}
		})
	})
}
