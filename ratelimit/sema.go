package ratelimit

import (
	"container/list"
	"context"
	"sync"
)

// sema is a counting semaphore whose waiters are served first come, first
// served: a waiter is never overtaken by one that came after it. A size of
// 0 means no cap (acquire never blocks, but in-flight operations are still
// counted).
type sema struct {
	size int // immutable
	mu   struct {
		sync.Mutex
		cur     int       // slots held
		waiters list.List // of chan struct{}, closed when granted
	}
}

// acquire takes a slot, waiting in line until one is free or ctx ends.
func (s *sema) acquire(ctx context.Context) error {
	s.mu.Lock()
	if s.size == 0 || s.mu.cur < s.size && s.mu.waiters.Len() == 0 {
		s.mu.cur++
		s.mu.Unlock()
		return nil
	}
	if err := ctx.Err(); err != nil {
		s.mu.Unlock()
		return err
	}
	ready := make(chan struct{})
	elem := s.mu.waiters.PushBack(ready)
	s.mu.Unlock()

	select {
	case <-ready:
		return nil
	case <-ctx.Done():
		s.mu.Lock()
		select {
		case <-ready:
			// Granted while ctx ended: give the slot to the next in line.
			s.mu.cur--
		default:
			s.mu.waiters.Remove(elem)
		}
		s.grantLocked()
		s.mu.Unlock()
		return ctx.Err()
	}
}

// release gives back a slot taken by acquire.
func (s *sema) release() {
	s.mu.Lock()
	s.mu.cur--
	if s.mu.cur < 0 {
		s.mu.Unlock()
		panic("ratelimit: release without acquire")
	}
	s.grantLocked()
	s.mu.Unlock()
}

// grantLocked hands free slots to the waiters at the front of the line.
func (s *sema) grantLocked() {
	for s.mu.cur < s.size && s.mu.waiters.Len() > 0 {
		ready := s.mu.waiters.Remove(s.mu.waiters.Front()).(chan struct{})
		s.mu.cur++
		close(ready)
	}
}

// counts returns the slots held and the waiters in line.
func (s *sema) counts() (inFlight, queued int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mu.cur, s.mu.waiters.Len()
}
