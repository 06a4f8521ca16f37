package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// grant is one Wait that returned nil in a flood.
type grant struct {
	who   int           // index of the flooder
	at    time.Duration // since the start of the flood
	bytes int64
}

// flooder waits for one message of size bytes after the other.
type flooder struct {
	h    *Handle
	size int64
}

// flood runs the flooders until window has passed (on the bubble's clock)
// and returns every grant in time order. Call it inside a synctest bubble.
func flood(t *testing.T, fs []flooder, window time.Duration) []grant {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), window)
	defer cancel()
	start := time.Now()
	var (
		mu     sync.Mutex
		grants []grant
		wg     sync.WaitGroup
	)
	for i, f := range fs {
		wg.Go(func() {
			for {
				err := f.h.Wait(ctx, 1, f.size)
				if err != nil {
					if ctx.Err() == nil && !errors.Is(err, context.DeadlineExceeded) {
						t.Errorf("flooder %d: Wait: %v", i, err)
					}
					return
				}
				at := time.Since(start)
				if at > window {
					t.Errorf("flooder %d: Wait returned at %v, after the deadline %v", i, at, window)
				}
				mu.Lock()
				grants = append(grants, grant{who: i, at: at, bytes: f.size})
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	slices.SortStableFunc(grants, func(a, b grant) int { return int(a.at - b.at) })
	return grants
}

// group is a set of flooders that one limit binds.
type group struct {
	name    string
	members []int   // flooder indexes
	rate    float64 // per second: messages, or bytes if bytes
	burst   float64
	bytes   bool
	lower   bool // the limit is the binding one: check the rate from below too
}

// check verifies that a group's grants never exceed rate×d + burst over
// any interval of length d (10 s and the whole window), and, for a binding
// limit, that they reach 95 % of rate×window.
func (g group) check(t *testing.T, grants []grant, window time.Duration) {
	t.Helper()
	in := make(map[int]bool)
	for _, m := range g.members {
		in[m] = true
	}
	var times []time.Duration
	var weights []float64
	var total, maxItem float64
	for _, gr := range grants {
		if !in[gr.who] {
			continue
		}
		w := 1.0
		if g.bytes {
			w = float64(gr.bytes)
		}
		times = append(times, gr.at)
		weights = append(weights, w)
		total += w
		maxItem = max(maxItem, w)
	}
	want := g.rate * window.Seconds()
	// One item of slack: a waiter's reservation in a bucket that does
	// not bind may lie before the interval while the item passes in it.
	// An item larger than the burst passes in pieces but counts when its
	// last piece passes: one item per flooder.
	slack := maxItem
	if maxItem > g.burst {
		slack = maxItem * float64(len(g.members))
	}
	if hi := want + g.burst + slack; total > hi {
		t.Errorf("%s: %.0f passed in %v, want at most %.0f (rate×window + burst + slack)", g.name, total, window, hi)
	}
	if g.lower && (total < 0.95*want || total > 1.05*want) {
		t.Errorf("%s: %.0f passed in %v, want %.0f within 5%%", g.name, total, window, want)
	}
	const d = 10 * time.Second
	for i := range times {
		sum := 0.0
		for j := i; j < len(times) && times[j] < times[i]+d; j++ {
			sum += weights[j]
		}
		if hi := g.rate*d.Seconds() + g.burst + slack; sum > hi {
			t.Errorf("%s: %.0f passed in [%v, %v), want at most %.0f", g.name, sum, times[i], times[i]+d, hi)
			return
		}
	}
	t.Logf("%s: %.0f in %v: %.3f of the limit", g.name, total, window, total/want)
}

func mustNew(t testing.TB, cfg Config) *Limiter {
	t.Helper()
	l, err := New(cfg)
	if err != nil {
		t.Fatalf("New(%+v): %v", cfg, err)
	}
	return l
}

func span(from, to int) []int {
	var s []int
	for i := from; i < to; i++ {
		s = append(s, i)
	}
	return s
}

// TestLimitsHold floods limiters for 60 s of simulated time and checks each
// limit within 5 %, and over every 10 s interval.
func TestLimitsHold(t *testing.T) {
	const window = 60 * time.Second
	type user struct {
		name, src, tgt string
		size           int64
	}
	users := func(n int, size int64, srcs, tgts []string) []user {
		var us []user
		for i := range n {
			us = append(us, user{fmt.Sprintf("u%d", i), srcs[i%len(srcs)], tgts[i%len(tgts)], size})
		}
		return us
	}
	tests := []struct {
		name   string
		cfg    Config
		users  []user
		groups []group
	}{
		{
			name:   "global messages",
			cfg:    Config{Global: Limit{Msgs: 100}},
			users:  users(10, 1000, []string{"a"}, []string{"b"}),
			groups: []group{{name: "global", members: span(0, 10), rate: 100, burst: 100, lower: true}},
		},
		{
			name:   "global bytes",
			cfg:    Config{Global: Limit{Bytes: 1e6}},
			users:  users(10, 10_000, []string{"a"}, []string{"b"}),
			groups: []group{{name: "global", members: span(0, 10), rate: 1e6, burst: 1e6, bytes: true, lower: true}},
		},
		{
			name:  "global bytes, items larger than the burst",
			cfg:   Config{Global: Limit{Bytes: 1e6, ByteBurst: 100_000}},
			users: users(4, 350_000, []string{"a"}, []string{"b"}),
			groups: []group{
				{name: "global", members: span(0, 4), rate: 1e6, burst: 100_000, bytes: true, lower: true},
			},
		},
		{
			name:  "per source server",
			cfg:   Config{Source: Limit{Msgs: 50}},
			users: users(8, 1000, []string{"a", "b"}, []string{"c"}),
			groups: []group{
				{name: "source a", members: []int{0, 2, 4, 6}, rate: 50, burst: 50, lower: true},
				{name: "source b", members: []int{1, 3, 5, 7}, rate: 50, burst: 50, lower: true},
			},
		},
		{
			name:  "per target server, bytes",
			cfg:   Config{Target: Limit{Bytes: 500_000, ByteBurst: 50_000}},
			users: users(6, 20_000, []string{"a"}, []string{"x", "y", "z"}),
			groups: []group{
				{name: "target x", members: []int{0, 3}, rate: 500_000, burst: 50_000, bytes: true, lower: true},
				{name: "target y", members: []int{1, 4}, rate: 500_000, burst: 50_000, bytes: true, lower: true},
				{name: "target z", members: []int{2, 5}, rate: 500_000, burst: 50_000, bytes: true, lower: true},
			},
		},
		{
			name:  "per user",
			cfg:   Config{User: Limit{Msgs: 20}},
			users: users(3, 1000, []string{"a"}, []string{"b"}),
			groups: []group{
				{name: "u0", members: []int{0}, rate: 20, burst: 20, lower: true},
				{name: "u1", members: []int{1}, rate: 20, burst: 20, lower: true},
				{name: "u2", members: []int{2}, rate: 20, burst: 20, lower: true},
			},
		},
		{
			name:  "global binds, users do not",
			cfg:   Config{Global: Limit{Msgs: 100}, User: Limit{Msgs: 30}},
			users: users(6, 1000, []string{"a"}, []string{"b"}),
			groups: []group{
				{name: "global", members: span(0, 6), rate: 100, burst: 100, lower: true},
				{name: "u0", members: []int{0}, rate: 30, burst: 30},
				{name: "u5", members: []int{5}, rate: 30, burst: 30},
			},
		},
		{
			name:  "users bind, global does not",
			cfg:   Config{Global: Limit{Msgs: 1000}, User: Limit{Msgs: 10, MsgBurst: 2}},
			users: users(4, 1000, []string{"a"}, []string{"b"}),
			groups: []group{
				{name: "global", members: span(0, 4), rate: 1000, burst: 1000},
				{name: "u0", members: []int{0}, rate: 10, burst: 2, lower: true},
				{name: "u3", members: []int{3}, rate: 10, burst: 2, lower: true},
			},
		},
		{
			name: "every limit at once",
			cfg: Config{
				Global: Limit{Msgs: 200, Bytes: 2e6},
				Source: Limit{Msgs: 80},
				Target: Limit{Bytes: 1e6},
				User:   Limit{Msgs: 30, Bytes: 400_000},
			},
			// Source a: users 0..5 at 5 KB (messages bind: 80/s);
			// target t: users 6..9 at 100 KB (target bytes bind:
			// 1 MB/s, 10/s, below the user limits).
			users: append(users(6, 5_000, []string{"a"}, []string{"s"}),
				user{"v0", "b", "t", 100_000}, user{"v1", "b", "t", 100_000}, user{"v2", "c", "t", 100_000}, user{"v3", "c", "t", 100_000}),
			groups: []group{
				{name: "global msgs", members: span(0, 10), rate: 200, burst: 200},
				{name: "global bytes", members: span(0, 10), rate: 2e6, burst: 2e6, bytes: true},
				{name: "source a", members: span(0, 6), rate: 80, burst: 80, lower: true},
				{name: "target t", members: span(6, 10), rate: 1e6, burst: 1e6, bytes: true, lower: true},
				{name: "user v0 bytes", members: []int{6}, rate: 400_000, burst: 400_000, bytes: true},
				{name: "user u0 msgs", members: []int{0}, rate: 30, burst: 30},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				l := mustNew(t, tc.cfg)
				var fs []flooder
				for _, u := range tc.users {
					h := l.For(u.name, u.src, u.tgt)
					defer h.Close()
					fs = append(fs, flooder{h, u.size})
				}
				grants := flood(t, fs, window)
				for _, g := range tc.groups {
					g.check(t, grants, window)
				}
			})
		})
	}
}
