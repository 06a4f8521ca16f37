package ratelimit

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// ErrClosed is returned by the methods of a [Handle] after its Close.
var ErrClosed = errors.New("ratelimit: closed")

// Limiter holds every bucket, server and user of a batch. Create it with
// [New]; hand each user's sync a [Handle] from [Limiter.For]. A Limiter is
// safe for simultaneous use by many goroutines. It starts no goroutine and
// holds nothing that needs closing.
type Limiter struct {
	cfg    Config     // immutable; Adapt with its defaults
	global bucketPair // immutable
	mu     struct {
		sync.Mutex
		servers map[string]*server
		users   map[string]*userState
	}
}

// New returns a Limiter for cfg, or the problems [Config.Validate] finds.
// It does no I/O. The Limiter keeps a copy of cfg.
func New(cfg Config) (*Limiter, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.Adapt = cfg.Adapt.withDefaults()
	l := &Limiter{cfg: cfg, global: newBucketPair(cfg.Global)}
	l.mu.servers = make(map[string]*server)
	l.mu.users = make(map[string]*userState)
	return l, nil
}

// For returns the handle through which one user's sync, reading from
// sourceServer and writing to targetServer, waits for its share. Each Wait
// on it draws from the global limit, the source server's source limit, the
// target server's target limit and the user's limit. An empty user or
// server name means none: no per-user (or per-server) limit, cap or
// adaptation applies for it. Handles of the same user share the user's
// buckets. Close the handle when the user is done, so the Limiter can
// forget the user.
func (l *Limiter) For(user, sourceServer, targetServer string) *Handle {
	h := &Handle{l: l, name: user}
	l.mu.Lock()
	if user != "" {
		u := l.mu.users[user]
		if u == nil {
			u = &userState{buckets: newBucketPair(l.cfg.User)}
			l.mu.users[user] = u
		}
		u.refs++
		h.user = u
	}
	h.src = l.serverLocked(sourceServer)
	h.tgt = l.serverLocked(targetServer)
	l.mu.Unlock()

	var pairs []bucketPair
	pairs = append(pairs, l.global)
	if h.src != nil {
		pairs = append(pairs, h.src.src)
	}
	if h.tgt != nil {
		pairs = append(pairs, h.tgt.tgt)
	}
	if h.user != nil {
		pairs = append(pairs, h.user.buckets)
	}
	for _, p := range pairs {
		if p.msgs != nil {
			h.msgs = append(h.msgs, p.msgs.lim)
		}
		if p.bytes != nil {
			h.bytes = append(h.bytes, p.bytes.lim)
		}
	}
	return h
}

// serverLocked returns the server of that name, created on first use; nil
// for "".
func (l *Limiter) serverLocked(name string) *server {
	if name == "" {
		return nil
	}
	s := l.mu.servers[name]
	if s == nil {
		s = newServer(name, &l.cfg)
		l.mu.servers[name] = s
	}
	return s
}

// Acquire takes one of the server's [Config.ServerConns] slots, waiting in
// line (first come, first served) until one is free or ctx ends, and
// returns the function that gives it back (calling it more than once is
// harmless). An empty server name, or a zero ServerConns, never waits.
func (l *Limiter) Acquire(ctx context.Context, server string) (release func(), err error) {
	if server == "" {
		return func() {}, nil
	}
	l.mu.Lock()
	s := l.serverLocked(server)
	l.mu.Unlock()
	if err := s.conns.acquire(ctx); err != nil {
		return nil, fmt.Errorf("ratelimit: acquire %q: %w", server, err)
	}
	return sync.OnceFunc(s.conns.release), nil
}

// Rate is a pair of rates per second. Zero means unlimited.
type Rate struct {
	Msgs  float64 // messages per second
	Bytes float64 // bytes per second
}

// ServerRates is the state of one server, for a progress display.
type ServerRates struct {
	Server string
	// Factor is the server's adaptive factor, from [Adapt.Floor] to 1.
	Factor float64
	// Source and Target are the limits in effect now for reading from and
	// writing to the server: the configured ones times Factor.
	Source, Target Rate
	// PausedUntil is the end of a pause the server asked for; zero, or in
	// the past, when it is not paused.
	PausedUntil time.Time
	// InFlight counts the slots held, Queued the callers waiting for one.
	InFlight, Queued int
}

// Rates is the state of a whole Limiter.
type Rates struct {
	Global  Rate          // the global limit (never adapted)
	Servers []ServerRates // every server seen so far, by name
}

// Rates returns the limits in effect now.
func (l *Limiter) Rates() Rates {
	l.mu.Lock()
	servers := make([]*server, 0, len(l.mu.servers))
	for _, s := range l.mu.servers {
		servers = append(servers, s)
	}
	l.mu.Unlock()
	slices.SortFunc(servers, func(a, b *server) int { return cmp.Compare(a.name, b.name) })
	r := Rates{Global: Rate{Msgs: l.cfg.Global.Msgs, Bytes: l.cfg.Global.Bytes}}
	for _, s := range servers {
		r.Servers = append(r.Servers, s.rates())
	}
	return r
}

// Effective returns the limits in effect now for one server; for a server
// not seen yet, the configured ones.
func (l *Limiter) Effective(server string) ServerRates {
	l.mu.Lock()
	s := l.mu.servers[server]
	l.mu.Unlock()
	if s == nil {
		return ServerRates{
			Server: server,
			Factor: 1,
			Source: Rate{Msgs: l.cfg.Source.Msgs, Bytes: l.cfg.Source.Bytes},
			Target: Rate{Msgs: l.cfg.Target.Msgs, Bytes: l.cfg.Target.Bytes},
		}
	}
	return s.rates()
}

// release drops one reference to a user; the last one forgets it.
func (l *Limiter) release(name string, u *userState) {
	l.mu.Lock()
	defer l.mu.Unlock()
	u.refs--
	if u.refs == 0 && l.mu.users[name] == u {
		delete(l.mu.users, name)
	}
}

// userState is the state shared by the handles of one user.
type userState struct {
	buckets bucketPair // immutable
	refs    int        // guarded by Limiter.mu
}

// bucket is one token bucket with its configured size; nil means unlimited.
type bucket struct {
	lim   *rate.Limiter
	rate  float64 // configured tokens per second; immutable
	burst int     // configured burst; immutable
}

type bucketPair struct{ msgs, bytes *bucket }

func newBucketPair(l Limit) bucketPair {
	var p bucketPair
	if l.Msgs > 0 {
		p.msgs = newBucket(l.Msgs, l.msgBurst())
	}
	if l.Bytes > 0 {
		p.bytes = newBucket(l.Bytes, l.byteBurst())
	}
	return p
}

func newBucket(r float64, burst int) *bucket {
	return &bucket{lim: rate.NewLimiter(rate.Limit(r), burst), rate: r, burst: burst}
}

// scale sets the bucket to f times its configured rate and burst, from t.
// Reservations made before keep their times (as with rate.Limiter.SetLimitAt).
func (b *bucket) scale(t time.Time, f float64) {
	if b == nil {
		return
	}
	b.lim.SetLimitAt(t, rate.Limit(b.rate*f))
	b.lim.SetBurstAt(t, max(1, int(float64(b.burst)*f)))
}

// effective returns the bucket's rate now; 0 for an unlimited (nil) bucket.
func (b *bucket) effective() float64 {
	if b == nil {
		return 0
	}
	return float64(b.lim.Limit())
}
