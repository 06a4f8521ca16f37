package ratelimit

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// engineLimiter is the interface that the sync engine declares for what it
// needs (it never imports this package); a Handle must satisfy it.
type engineLimiter interface {
	Wait(ctx context.Context, msgs int, bytes int64) error
	Observe(target bool, latency time.Duration, overloaded bool, retryAfter time.Duration)
}

var _ engineLimiter = (*Handle)(nil)

// waitAt runs h.Wait in a goroutine and returns a function that reports,
// once the goroutine has returned, how long after start it returned and
// its error.
func waitAt(ctx context.Context, h *Handle, msgs int, bytes int64) func() (time.Duration, error) {
	start := time.Now()
	var (
		took time.Duration
		err  error
		done = make(chan struct{})
	)
	go func() {
		err = h.Wait(ctx, msgs, bytes)
		took = time.Since(start)
		close(done)
	}()
	return func() (time.Duration, error) {
		<-done
		return took, err
	}
}

func TestWaitUnlimited(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := mustNew(t, Config{})
		h := l.For("u", "a", "b")
		start := time.Now()
		for _, c := range []struct {
			msgs  int
			bytes int64
		}{{0, 0}, {1, 0}, {0, 1}, {1 << 30, 1 << 60}} {
			if err := h.Wait(t.Context(), c.msgs, c.bytes); err != nil {
				t.Errorf("Wait(%d, %d) = %v, want nil", c.msgs, c.bytes, err)
			}
		}
		if d := time.Since(start); d != 0 {
			t.Errorf("unlimited Waits took %v, want 0", d)
		}
		if err := h.Wait(t.Context(), -1, 0); err == nil {
			t.Error("Wait(-1, 0) = nil, want an error")
		}
		if err := h.Wait(t.Context(), 0, -1); err == nil {
			t.Error("Wait(0, -1) = nil, want an error")
		}
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		if err := h.Wait(ctx, 0, 0); !errors.Is(err, context.Canceled) {
			t.Errorf("Wait(cancelled ctx, 0, 0) = %v, want context.Canceled", err)
		}
	})
}

// TestBurstBounded: after an idle period exactly the burst passes at
// once, and then the rate.
func TestBurstBounded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := mustNew(t, Config{Global: Limit{Msgs: 10, MsgBurst: 25}})
		var passed atomic.Int64
		var wg sync.WaitGroup
		for i := range 60 {
			h := l.For("u"+string(rune('a'+i%26)), "a", "b")
			defer h.Close()
			wg.Go(func() {
				if err := h.Wait(t.Context(), 1, 0); err != nil {
					t.Errorf("Wait: %v", err)
				}
				passed.Add(1)
			})
		}
		synctest.Wait()
		if n := passed.Load(); n != 25 {
			t.Errorf("at t=0 %d passed, want the burst, 25", n)
		}
		time.Sleep(time.Second + time.Millisecond)
		synctest.Wait()
		if n := passed.Load(); n != 35 {
			t.Errorf("at t=1s %d passed, want burst + rate×1s = 35", n)
		}
		time.Sleep(2 * time.Second)
		synctest.Wait()
		if n := passed.Load(); n != 55 {
			t.Errorf("at t=3s %d passed, want burst + rate×3s = 55", n)
		}
		wg.Wait()
	})
}

// TestSplit: an item larger than a bucket's burst passes in burst-sized
// pieces: neither refused nor let through at once.
func TestSplit(t *testing.T) {
	tests := []struct {
		name     string
		cfg      Config
		src, tgt string // "a", "b" if empty; "-" for no server
		msgs     int
		bytes    int64
		want     time.Duration
	}{
		{name: "bytes over one bucket", cfg: Config{Global: Limit{Bytes: 1000, ByteBurst: 5000}},
			bytes: 20_000, want: 15 * time.Second}, // 5000 at once, then 15000 at 1000/s
		{name: "bytes, smallest burst of two", cfg: Config{Global: Limit{Bytes: 1000, ByteBurst: 5000}, User: Limit{Bytes: 1000, ByteBurst: 2000}},
			bytes: 10_000, want: 8 * time.Second}, // pieces of 2000; the user bucket refills in 2 s
		{name: "messages over the burst", cfg: Config{Source: Limit{Msgs: 2, MsgBurst: 3}},
			msgs: 9, want: 3 * time.Second},
		{name: "messages and bytes", cfg: Config{Target: Limit{Msgs: 1, Bytes: 100, ByteBurst: 100}},
			msgs: 1, bytes: 1000, want: 9 * time.Second},
		{name: "within the burst", cfg: Config{Global: Limit{Msgs: 1, Bytes: 100}},
			msgs: 1, bytes: 100, want: 0},
		{name: "no servers", cfg: Config{Global: Limit{Msgs: 1}, Source: Limit{Msgs: 0.1}}, src: "-", tgt: "-",
			msgs: 4, want: 3 * time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				src, tgt := cmp.Or(tc.src, "a"), cmp.Or(tc.tgt, "b")
				if tc.src == "-" {
					src, tgt = "", ""
				}
				h := mustNew(t, tc.cfg).For("u", src, tgt)
				start := time.Now()
				if err := h.Wait(t.Context(), tc.msgs, tc.bytes); err != nil {
					t.Fatalf("Wait(%d, %d) = %v", tc.msgs, tc.bytes, err)
				}
				if d := time.Since(start); d < tc.want || d > tc.want+time.Millisecond {
					t.Errorf("Wait(%d, %d) took %v, want %v", tc.msgs, tc.bytes, d, tc.want)
				}
			})
		})
	}
}

// TestCancelReleases: a Wait whose ctx ends gives back what it reserved,
// in every bucket, so a later waiter is not delayed by it.
func TestCancelReleases(t *testing.T) {
	cfg := Config{
		Global: Limit{Bytes: 1000, ByteBurst: 10_000},
		Source: Limit{Bytes: 1000, ByteBurst: 10_000},
		Target: Limit{Bytes: 1000, ByteBurst: 10_000},
		User:   Limit{Bytes: 1000, ByteBurst: 10_000},
	}
	t.Run("waiting", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			l := mustNew(t, cfg)
			a, b, c := l.For("a", "s", "t"), l.For("b", "s", "t"), l.For("c", "s", "t")
			if err := a.Wait(t.Context(), 1, 10_000); err != nil { // empties global, s, t
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(t.Context())
			bDone := waitAt(ctx, b, 1, 10_000) // reserved until t=10s
			time.Sleep(time.Second)
			cancel()
			if took, err := bDone(); !errors.Is(err, context.Canceled) || took != time.Second {
				t.Errorf("cancelled Wait returned %v after %v, want context.Canceled after 1s", err, took)
			}
			time.Sleep(time.Second)
			// At t=2s every shared bucket holds 2000 again.
			if took, err := waitAt(t.Context(), c, 1, 2000)(); err != nil || took != 0 {
				t.Errorf("Wait after a cancelled one = %v after %v, want nil at once (not delayed by the cancelled reservation)", err, took)
			}
		})
	})
	t.Run("between pieces", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			l := mustNew(t, cfg)
			a, b, c := l.For("a", "s", "t"), l.For("b", "s", "t"), l.For("c", "s", "t")
			if err := a.Wait(t.Context(), 1, 10_000); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(t.Context())
			bDone := waitAt(ctx, b, 1, 30_000) // pieces pass at 10 s, 20 s, 30 s
			time.Sleep(15 * time.Second)
			cancel()
			if _, err := bDone(); !errors.Is(err, context.Canceled) {
				t.Errorf("cancelled Wait = %v, want context.Canceled", err)
			}
			// The first piece passed; the second is given back: at 16 s
			// the shared buckets hold 6000.
			time.Sleep(time.Second)
			if took, err := waitAt(t.Context(), c, 1, 6000)(); err != nil || took != 0 {
				t.Errorf("Wait after a cancelled one = %v after %v, want nil at once", err, took)
			}
			if took, err := waitAt(t.Context(), c, 0, 1000)(); err != nil || took != time.Second {
				t.Errorf("next Wait = %v after %v, want nil after 1s", err, took)
			}
		})
	})
	t.Run("deadline too close for the item", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			l := mustNew(t, Config{Global: Limit{Bytes: 1000}})
			h := l.For("a", "s", "t")
			ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
			defer cancel()
			// 11000 bytes take at least 10 s: fails at once, taking nothing.
			if took, err := waitAt(ctx, h, 1, 11_000)(); !errors.Is(err, context.DeadlineExceeded) || took != 0 {
				t.Errorf("Wait = %v after %v, want context.DeadlineExceeded at once", err, took)
			}
			if took, err := waitAt(t.Context(), h, 0, 1000)(); err != nil || took != 0 {
				t.Errorf("next Wait = %v after %v, want nil at once", err, took)
			}
			ctx, cancel = context.WithTimeout(t.Context(), 15*time.Second)
			defer cancel()
			if took, err := waitAt(ctx, h, 1, 10_000)(); err != nil || took != 10*time.Second {
				t.Errorf("Wait within the deadline = %v after %v, want nil after 10s", err, took)
			}
		})
	})
	t.Run("deadline too close", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			l := mustNew(t, Config{Global: Limit{Msgs: 1}})
			a, b, c := l.For("a", "s", "t"), l.For("b", "s", "t"), l.For("c", "s", "t")
			if err := a.Wait(t.Context(), 1, 0); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(t.Context(), 500*time.Millisecond)
			defer cancel()
			// b would wait 1 s: it fails at once, taking nothing.
			if took, err := waitAt(ctx, b, 1, 0)(); !errors.Is(err, context.DeadlineExceeded) || took != 0 {
				t.Errorf("Wait past the deadline = %v after %v, want context.DeadlineExceeded at once", err, took)
			}
			if took, err := waitAt(t.Context(), c, 1, 0)(); err != nil || took != time.Second {
				t.Errorf("next Wait = %v after %v, want nil after 1s", err, took)
			}
		})
	})
}

// TestRetryAfter: a server's retryAfter hint pauses every wait on it, and
// only on it; a longer hint extends the pause, a shorter one does not
// shorten it; MaxPause caps it; a deadline before its end fails at once.
func TestRetryAfter(t *testing.T) {
	t.Run("pauses the server only", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			l := mustNew(t, Config{}) // unlimited: pauses still apply
			a, other := l.For("a", "old", "new"), l.For("b", "other", "new2")
			start := time.Now()
			a.Observe(false, 0, false, 30*time.Second)
			aDone := waitAt(t.Context(), a, 1, 100)
			if took, err := waitAt(t.Context(), other, 1, 100)(); err != nil || took != 0 {
				t.Errorf("Wait on other servers = %v after %v, want nil at once", err, took)
			}
			time.Sleep(10 * time.Second)
			a.Observe(true, 0, false, 60*time.Second) // the target too: until 70 s
			time.Sleep(5 * time.Second)
			a.Observe(false, 0, false, time.Second) // shorter: changes nothing
			if took, err := aDone(); err != nil || took != 70*time.Second {
				t.Errorf("Wait on a paused server = %v after %v, want nil after 70s", err, took)
			}
			if got := l.Effective("old").PausedUntil; !got.Equal(start.Add(30 * time.Second)) {
				t.Errorf("Effective(old).PausedUntil = %v, want start+30s", got.Sub(start))
			}
			if got := l.Effective("new").PausedUntil; !got.Equal(start.Add(70 * time.Second)) {
				t.Errorf("Effective(new).PausedUntil = %v, want start+70s", got.Sub(start))
			}
		})
	})
	t.Run("a waiter already holding a reservation", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			l := mustNew(t, Config{Source: Limit{Msgs: 1}})
			h := l.For("a", "old", "new")
			if err := h.Wait(t.Context(), 1, 0); err != nil {
				t.Fatal(err)
			}
			done := waitAt(t.Context(), h, 1, 0) // reserved for t=1s
			time.Sleep(500 * time.Millisecond)
			h.Observe(false, 0, false, 10*time.Second)
			if took, err := done(); err != nil || took != 10500*time.Millisecond {
				t.Errorf("Wait = %v after %v, want nil after 10.5s", err, took)
			}
		})
	})
	t.Run("MaxPause and Off", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			l := mustNew(t, Config{Source: Limit{Msgs: 100}, Adapt: Adapt{Off: true, MaxPause: time.Minute}})
			h := l.For("a", "old", "new")
			h.Observe(false, time.Hour, true, time.Hour)
			if took, err := waitAt(t.Context(), h, 1, 0)(); err != nil || took != time.Minute {
				t.Errorf("Wait = %v after %v, want nil after MaxPause, 1m", err, took)
			}
			if f := l.Effective("old").Factor; f != 1 {
				t.Errorf("factor with Adapt.Off = %v, want 1", f)
			}
		})
	})
	t.Run("deadline before the end", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			l := mustNew(t, Config{})
			h := l.For("a", "old", "new")
			h.Observe(true, 0, false, 30*time.Second)
			ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
			defer cancel()
			if took, err := waitAt(ctx, h, 1, 0)(); !errors.Is(err, context.DeadlineExceeded) || took != 0 {
				t.Errorf("Wait = %v after %v, want context.DeadlineExceeded at once", err, took)
			}
			ctx2, cancel2 := context.WithCancel(t.Context())
			done := waitAt(ctx2, h, 1, 0)
			time.Sleep(time.Second)
			cancel2()
			if took, err := done(); !errors.Is(err, context.Canceled) || took != time.Second {
				t.Errorf("Wait = %v after %v, want context.Canceled after 1s", err, took)
			}
		})
	})
}

func TestHandleClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := mustNew(t, Config{User: Limit{Msgs: 10}, ServerConns: 1})
		h1, h2 := l.For("alice", "a", "b"), l.For("alice", "a", "b")
		if h1.user != h2.user {
			t.Fatal("two handles of one user do not share the user's buckets")
		}
		// They share the limit: 10 at once (the burst), the next after 100 ms.
		for range 5 {
			if err := h1.Wait(t.Context(), 1, 0); err != nil {
				t.Fatal(err)
			}
			if err := h2.Wait(t.Context(), 1, 0); err != nil {
				t.Fatal(err)
			}
		}
		if took, err := waitAt(t.Context(), h2, 1, 0)(); err != nil || took != 100*time.Millisecond {
			t.Errorf("11th Wait of a user = %v after %v, want nil after 100ms", err, took)
		}
		if err := h1.Close(); err != nil {
			t.Fatalf("Close = %v", err)
		}
		if err := h1.Close(); !errors.Is(err, ErrClosed) {
			t.Errorf("second Close = %v, want ErrClosed", err)
		}
		if err := h1.Wait(t.Context(), 1, 0); !errors.Is(err, ErrClosed) {
			t.Errorf("Wait after Close = %v, want ErrClosed", err)
		}
		if _, err := h1.Acquire(t.Context()); !errors.Is(err, ErrClosed) {
			t.Errorf("Acquire after Close = %v, want ErrClosed", err)
		}
		h1.Observe(false, 0, true, time.Hour) // ignored after Close
		if r := l.Effective("a"); r.Factor != 1 || !r.PausedUntil.IsZero() {
			t.Errorf("Observe after Close changed the server: %+v", r)
		}
		l.mu.Lock()
		n := len(l.mu.users)
		l.mu.Unlock()
		if n != 1 {
			t.Errorf("with one handle open, %d users known, want 1", n)
		}
		if err := h2.Close(); err != nil {
			t.Fatal(err)
		}
		l.mu.Lock()
		n = len(l.mu.users)
		l.mu.Unlock()
		if n != 0 {
			t.Errorf("with every handle closed, %d users known, want 0", n)
		}
		// A new handle starts with a fresh user bucket.
		h3 := l.For("alice", "a", "b")
		defer h3.Close()
		if took, err := waitAt(t.Context(), h3, 10, 0)(); err != nil || took != 0 {
			t.Errorf("Wait of a new handle = %v after %v, want nil at once", err, took)
		}
	})
}

// TestReserveAllOrNothing: a piece that one bucket cannot hold (its burst
// shrank since the piece was cut) takes nothing from the others.
func TestReserveAllOrNothing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := mustNew(t, Config{Global: Limit{Bytes: 1000, ByteBurst: 5000}, User: Limit{Bytes: 1000, ByteBurst: 2000}})
		h := l.For("u", "a", "b")
		ok, err := h.reserve(t.Context(), time.Now(), 0, 3000)
		if ok || err != nil {
			t.Fatalf("reserve(3000 bytes) over a 2000-byte burst = %v, %v; want false, nil", ok, err)
		}
		if tokens := l.global.bytes.lim.Tokens(); tokens != 5000 {
			t.Errorf("the global bucket holds %v tokens after a failed reserve, want 5000", tokens)
		}
		ok, err = h.reserve(t.Context(), time.Now(), 0, 2000)
		if !ok || err != nil {
			t.Fatalf("reserve(2000 bytes) = %v, %v; want true, nil", ok, err)
		}
		if tokens := l.global.bytes.lim.Tokens(); tokens != 3000 {
			t.Errorf("the global bucket holds %v tokens, want 3000", tokens)
		}
	})
}

func TestRates(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := Config{
			Global:      Limit{Msgs: 500, Bytes: 50e6},
			Source:      Limit{Msgs: 100},
			Target:      Limit{Bytes: 20e6},
			ServerConns: 2,
		}
		l := mustNew(t, cfg)
		if got := l.Rates(); got.Global != (Rate{500, 50e6}) || len(got.Servers) != 0 {
			t.Errorf("Rates() of a new Limiter = %+v", got)
		}
		unseen := ServerRates{Server: "x", Factor: 1, Source: Rate{Msgs: 100}, Target: Rate{Bytes: 20e6}}
		if got := l.Effective("x"); got != unseen {
			t.Errorf("Effective(unseen) = %+v, want %+v", got, unseen)
		}
		h1, h2 := l.For("u1", "old", "new"), l.For("u2", "new", "old")
		defer h1.Close()
		defer h2.Close()
		release, err := h1.Acquire(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		defer release()
		start := time.Now()
		h1.Observe(false, 0, true, time.Minute)
		got := l.Rates()
		want := Rates{Global: Rate{500, 50e6}, Servers: []ServerRates{
			{Server: "new", Factor: 1, Source: Rate{Msgs: 100}, Target: Rate{Bytes: 20e6}, InFlight: 1},
			{Server: "old", Factor: 0.5, Source: Rate{Msgs: 50}, Target: Rate{Bytes: 10e6}, PausedUntil: start.Add(time.Minute), InFlight: 1},
		}}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("Rates() = %+v\nwant %+v", got, want)
		}
	})
}
