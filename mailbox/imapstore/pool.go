package imapstore

import (
	"context"
	"sync"
)

// Pool caps the connections open to one server, shared by every [Store]
// of that server (one per user): a batch of thousands of users never
// holds more than Max connections to it, whatever its concurrency. Each
// connection is logged in as one user, so a slot freed by one user is
// taken by another with a new login. A Pool is safe for concurrent use;
// its zero value is not usable: call [NewPool].
type Pool struct {
	slots chan struct{}

	mu      sync.Mutex
	stores  map[*Store]struct{}
	waiting map[*Store]int // stores waiting for a slot
}

// DefaultConns is the connections a store opens to its server when it is
// given no Pool.
const DefaultConns = 4

// NewPool returns a pool of max connections (at least 1).
func NewPool(max int) *Pool {
	if max < 1 {
		max = 1
	}
	return &Pool{slots: make(chan struct{}, max), stores: map[*Store]struct{}{}, waiting: map[*Store]int{}}
}

func (p *Pool) register(s *Store) {
	p.mu.Lock()
	p.stores[s] = struct{}{}
	p.mu.Unlock()
}

func (p *Pool) unregister(s *Store) {
	p.mu.Lock()
	delete(p.stores, s)
	p.mu.Unlock()
}

// reclaim asks a store with an idle connection to close it, so that a
// store waiting for a slot gets one.
func (p *Pool) reclaim(except *Store) {
	p.mu.Lock()
	stores := make([]*Store, 0, len(p.stores))
	for s := range p.stores {
		if s != except {
			stores = append(stores, s)
		}
	}
	p.mu.Unlock()
	for _, s := range stores {
		if s.closeIdle() {
			return
		}
	}
}

// Max is the number of connections the pool allows.
func (p *Pool) Max() int { return cap(p.slots) }

// acquire takes a slot for s, waiting for one, for an idle connection of
// s's own (then it returns false), or for ctx. While it waits, idle
// connections of other stores are closed to free their slots.
func (p *Pool) acquire(ctx context.Context, s *Store) (bool, error) {
	select {
	case p.slots <- struct{}{}:
		return true, nil
	default:
	}
	p.mu.Lock()
	p.waiting[s]++
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		if p.waiting[s]--; p.waiting[s] == 0 {
			delete(p.waiting, s)
		}
		p.mu.Unlock()
	}()
	p.reclaim(s)
	select {
	case p.slots <- struct{}{}:
		return true, nil
	case <-s.wake:
		return false, nil
	case <-ctx.Done():
		return false, ctx.Err()
	}
}

// othersWaiting reports whether a store other than s waits for a slot.
func (p *Pool) othersWaiting(s *Store) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for w := range p.waiting {
		if w != s {
			return true
		}
	}
	return false
}

func (p *Pool) release() { <-p.slots }

// Pools gives each server its own [Pool] of at most Max connections, for
// programs that open stores on many servers: Get("host:993") returns the
// same pool for every user of that server.
type Pools struct {
	Max int // connections per server; 0 means DefaultConns

	mu    sync.Mutex
	pools map[string]*Pool
}

// Get returns the pool of a server, made on first use.
func (ps *Pools) Get(server string) *Pool {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if ps.pools == nil {
		ps.pools = map[string]*Pool{}
	}
	p := ps.pools[server]
	if p == nil {
		n := ps.Max
		if n <= 0 {
			n = DefaultConns
		}
		p = NewPool(n)
		ps.pools[server] = p
	}
	return p
}
