package ratelimit

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// Handle is one user's view of a [Limiter]: its Wait draws from every limit
// that applies to the user, its Observe feeds the servers' adaptation, its
// Acquire takes a slot on both servers. A Handle is safe for simultaneous
// use by the goroutines of the user's sync.
type Handle struct {
	l      *Limiter        // immutable
	name   string          // the user; immutable
	user   *userState      // nil for an unnamed user; immutable
	src    *server         // nil when unnamed; immutable
	tgt    *server         // nil when unnamed; immutable
	msgs   []*rate.Limiter // every message bucket that applies; immutable
	bytes  []*rate.Limiter // every byte bucket that applies; immutable
	closed atomic.Bool
}

// Wait blocks until msgs messages and bytes bytes may move (either may be
// 0): it takes them from every bucket that applies at once, all or nothing,
// and waits for the last bucket to allow them. A piece larger than a
// bucket's burst is split into burst-sized pieces that pass one after the
// other. While the source or target server is paused (a retryAfter hint to
// [Handle.Observe]), Wait takes nothing and waits for the pause to end.
//
// A waiter that holds its reservation when a pause starts keeps it and
// passes when the pause ends.
//
// Waiters are served in the order they reserve, so users sharing a limit
// all progress. If ctx ends, Wait gives back what it reserved for the piece
// it was waiting for and returns an error wrapping ctx.Err(). If ctx's
// deadline would pass before the item (as the rates stand) or the current
// piece may move, Wait gives back what it reserved and returns at once with
// an error wrapping [context.DeadlineExceeded]. Pieces that already passed
// are not given back.
func (h *Handle) Wait(ctx context.Context, msgs int, bytes int64) error {
	if h.closed.Load() {
		return fmt.Errorf("ratelimit: wait %q: %w", h.name, ErrClosed)
	}
	if msgs < 0 || bytes < 0 {
		return fmt.Errorf("ratelimit: wait %q: negative count (%d messages, %d bytes)", h.name, msgs, bytes)
	}
	if deadline, ok := ctx.Deadline(); ok {
		need := max(minDuration(h.msgs, int64(msgs)), minDuration(h.bytes, bytes))
		if time.Now().Add(need).After(deadline) {
			return fmt.Errorf("ratelimit: wait %q: %d messages and %d bytes take at least %v, past the deadline: %w",
				h.name, msgs, bytes, need, context.DeadlineExceeded)
		}
	}
	for {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("ratelimit: wait %q: %w", h.name, err)
		}
		// Reserve nothing while a server is paused: the reservation
		// would be spent in the pause, and pass the moment it ends.
		now := time.Now()
		if h.src.paused(now) || h.tgt.paused(now) {
			if err := h.sleepUntil(ctx, now); err != nil {
				return err
			}
			continue
		}
		if msgs == 0 && bytes == 0 {
			return nil
		}
		pm, pb := msgs, bytes
		for _, b := range h.msgs {
			pm = min(pm, b.Burst())
		}
		for _, b := range h.bytes {
			pb = min(pb, int64(b.Burst()))
		}
		ok, err := h.reserve(ctx, now, pm, pb)
		if err != nil {
			return err
		}
		if ok {
			msgs -= pm
			bytes -= pb
		}
	}
}

// Paces reports whether a Wait can make its caller wait for a rate: some
// limit applies to the user (pauses of a server aside, which stop a Wait
// whatever it asks for). A caller may then move in smaller steps, so that
// what it moves arrives at the rate rather than in bursts.
func (h *Handle) Paces() bool { return len(h.msgs) > 0 || len(h.bytes) > 0 }

// minDuration is the least time that n tokens take from the buckets: a
// bucket gives at most its burst at once, then its rate.
func minDuration(buckets []*rate.Limiter, n int64) time.Duration {
	var d time.Duration
	for _, b := range buckets {
		if over := n - int64(b.Burst()); over > 0 {
			d = max(d, time.Duration(float64(over)/float64(b.Limit())*float64(time.Second)))
		}
	}
	return d
}

// reserve takes pm messages and pb bytes from every bucket at now, all or
// nothing, and sleeps until all of them allow it (and no server is paused).
// It returns false, having taken nothing, if a bucket shrank below the
// piece since the caller looked.
func (h *Handle) reserve(ctx context.Context, now time.Time, pm int, pb int64) (bool, error) {
	var buf [8]*rate.Reservation
	rs := buf[:0]
	cancel := func(t time.Time) {
		for _, r := range rs {
			r.CancelAt(t)
		}
	}
	take := func(bs []*rate.Limiter, n int) bool {
		if n == 0 {
			return true
		}
		for _, b := range bs {
			r := b.ReserveN(now, n)
			if !r.OK() {
				return false
			}
			rs = append(rs, r)
		}
		return true
	}
	if !take(h.msgs, pm) || !take(h.bytes, int(pb)) {
		cancel(now)
		return false, nil
	}
	at := now
	for _, r := range rs {
		if d := r.DelayFrom(now); d > 0 && now.Add(d).After(at) {
			at = now.Add(d)
		}
	}
	if at.After(now) {
		if err := h.sleepUntil(ctx, at); err != nil {
			cancel(time.Now())
			return false, err
		}
	}
	return true, nil
}

// sleepUntil sleeps until at and until neither server is paused, or until
// ctx ends.
func (h *Handle) sleepUntil(ctx context.Context, at time.Time) error {
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		now := time.Now()
		if !at.After(now) && !h.src.paused(now) && !h.tgt.paused(now) {
			return nil
		}
		target := at
		var changed [2]<-chan struct{}
		for i, s := range [2]*server{h.src, h.tgt} {
			if s == nil {
				continue
			}
			var until time.Time
			until, changed[i] = s.pause()
			if until.After(target) {
				target = until
			}
		}
		d := target.Sub(now)
		if d <= 0 {
			return nil
		}
		if deadline, ok := ctx.Deadline(); ok && deadline.Before(target) {
			return fmt.Errorf("ratelimit: wait %q: would wait %v, past the deadline: %w", h.name, d, context.DeadlineExceeded)
		}
		if timer == nil {
			timer = time.NewTimer(d)
		} else {
			timer.Reset(d)
		}
		select {
		case <-timer.C:
		case <-changed[0]:
		case <-changed[1]:
		case <-ctx.Done():
			return fmt.Errorf("ratelimit: wait %q: %w", h.name, ctx.Err())
		}
	}
}

// Observe reports how a server answered: target false for the source
// server, true for the target server; latency is the time the operation
// took (0 if unknown); overloaded is true when the server answered "try
// again later" or the like; retryAfter is the server's explicit back-off
// hint, 0 if none. See [Adapt] for what follows. Observe never blocks on
// waits; after Close it does nothing.
func (h *Handle) Observe(target bool, latency time.Duration, overloaded bool, retryAfter time.Duration) {
	s := h.src
	if target {
		s = h.tgt
	}
	if s == nil || h.closed.Load() {
		return
	}
	s.observe(time.Now(), target, latency, overloaded, retryAfter)
}

// Acquire takes a slot on the source and on the target server (see
// [Limiter.Acquire]), in the order of their names, so that handles going
// in opposite directions cannot deadlock. A handle whose source and target
// are the same server takes one slot. It returns the function that gives
// the slots back (calling it more than once is harmless).
func (h *Handle) Acquire(ctx context.Context) (release func(), err error) {
	if h.closed.Load() {
		return nil, fmt.Errorf("ratelimit: acquire %q: %w", h.name, ErrClosed)
	}
	servers := make([]*server, 0, 2)
	for _, s := range []*server{h.src, h.tgt} {
		if s != nil && (len(servers) == 0 || servers[0] != s) {
			servers = append(servers, s)
		}
	}
	if len(servers) == 2 && servers[1].name < servers[0].name {
		servers[0], servers[1] = servers[1], servers[0]
	}
	var held []*server
	releaseAll := func() {
		for i := len(held) - 1; i >= 0; i-- {
			held[i].conns.release()
		}
	}
	for _, s := range servers {
		if err := s.conns.acquire(ctx); err != nil {
			releaseAll()
			return nil, fmt.Errorf("ratelimit: acquire %q for %q: %w", s.name, h.name, err)
		}
		held = append(held, s)
	}
	return sync.OnceFunc(releaseAll), nil
}

// Close forgets the handle; when the last handle of a user is closed the
// Limiter forgets the user. Wait and Acquire then return an error wrapping
// [ErrClosed]; so does a second Close.
func (h *Handle) Close() error {
	if h.closed.Swap(true) {
		return fmt.Errorf("ratelimit: close %q: %w", h.name, ErrClosed)
	}
	if h.user != nil {
		h.l.release(h.name, h.user)
	}
	return nil
}
