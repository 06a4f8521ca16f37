package ratelimit

import (
	"sync"
	"sync/atomic"
	"time"
)

// Latency samples a server's normal needs before a slow answer can count.
const minLatencySamples = 8

// server is the state of one server: its buckets as a source and as a
// target, its connection slots, its adaptive factor and its pause.
type server struct {
	name  string // immutable
	adapt Adapt  // immutable; defaults applied
	src   bucketPair
	tgt   bucketPair
	conns sema
	// pausedUntil mirrors mu.pausedUntil in Unix nanoseconds, so that a
	// wait can tell without the lock that the server is not paused.
	pausedUntil atomic.Int64
	mu          struct {
		sync.Mutex
		factor       float64
		lastDecrease time.Time // zero: never
		lastChange   time.Time // of factor
		latency      [2]ewma   // [0] as a source, [1] as a target
		pausedUntil  time.Time
		pauseCh      chan struct{} // closed, and replaced, when a pause starts or grows
	}
}

func newServer(name string, cfg *Config) *server {
	s := &server{
		name:  name,
		adapt: cfg.Adapt,
		src:   newBucketPair(cfg.Source),
		tgt:   newBucketPair(cfg.Target),
		conns: sema{size: cfg.ServerConns},
	}
	s.mu.factor = 1
	s.mu.pauseCh = make(chan struct{})
	return s
}

// ewma is an exponentially weighted moving average of latencies, with
// weight 1/8 for a new sample (as TCP's smoothed round-trip time).
type ewma struct {
	avg float64 // nanoseconds
	n   int
}

func (e *ewma) add(d time.Duration) {
	if e.n == 0 {
		e.avg = float64(d)
	} else {
		e.avg += (float64(d) - e.avg) / 8
	}
	e.n++
}

// observe applies one answer of the server at time now (see [Adapt]).
func (s *server) observe(now time.Time, target bool, latency time.Duration, overloaded bool, retryAfter time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := &s.adapt
	if retryAfter > 0 {
		until := now.Add(min(retryAfter, a.MaxPause))
		if until.After(s.mu.pausedUntil) {
			s.mu.pausedUntil = until
			s.pausedUntil.Store(until.UnixNano())
			close(s.mu.pauseCh)
			s.mu.pauseCh = make(chan struct{})
		}
	}
	if a.Off {
		return
	}
	slow := false
	if latency > 0 {
		e := &s.mu.latency[0]
		if target {
			e = &s.mu.latency[1]
		}
		slow = e.n >= minLatencySamples && latency >= a.SlowMin && float64(latency) > a.SlowRatio*e.avg
		e.add(latency)
	}
	switch {
	case overloaded || slow:
		if !s.mu.lastDecrease.IsZero() && now.Sub(s.mu.lastDecrease) < a.Interval {
			return // the same overload, seen by another operation in flight
		}
		s.mu.lastDecrease, s.mu.lastChange = now, now
		s.setFactorLocked(now, max(a.Floor, s.mu.factor*a.Decrease))
	case retryAfter > 0:
		// A request to back off is no success.
	case s.mu.factor < 1:
		k := now.Sub(s.mu.lastChange) / a.Interval
		if k <= 0 {
			return
		}
		s.mu.lastChange = s.mu.lastChange.Add(k * a.Interval)
		s.setFactorLocked(now, min(1, s.mu.factor+float64(k)*a.Increase))
	}
}

func (s *server) setFactorLocked(now time.Time, f float64) {
	if f == s.mu.factor {
		return
	}
	s.mu.factor = f
	for _, b := range []*bucket{s.src.msgs, s.src.bytes, s.tgt.msgs, s.tgt.bytes} {
		b.scale(now, f)
	}
}

// paused reports whether the server is paused at now. Nil-safe.
func (s *server) paused(now time.Time) bool {
	return s != nil && s.pausedUntil.Load() > now.UnixNano()
}

// pause returns the end of the server's pause (possibly past) and a
// channel closed when a pause starts or grows after this call.
func (s *server) pause() (until time.Time, changed <-chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mu.pausedUntil, s.mu.pauseCh
}

func (s *server) rates() ServerRates {
	s.mu.Lock()
	r := ServerRates{
		Server:      s.name,
		Factor:      s.mu.factor,
		Source:      Rate{Msgs: s.src.msgs.effective(), Bytes: s.src.bytes.effective()},
		Target:      Rate{Msgs: s.tgt.msgs.effective(), Bytes: s.tgt.bytes.effective()},
		PausedUntil: s.mu.pausedUntil,
	}
	s.mu.Unlock()
	r.InFlight, r.Queued = s.conns.counts()
	return r
}
