package batch

import (
	"strings"
	"testing"
	"time"
)

func TestETAFromWork(t *testing.T) {
	tests := []struct {
		name     string
		left     Work
		measured Rates
		span     time.Duration
		limits   Rates
		want     time.Duration
		ok       bool
	}{
		{name: "nothing left", want: 0, ok: true},
		{name: "no rate yet, no limit", left: Work{10, 1000}, ok: false},
		{name: "no rate yet, the limit", left: Work{10, 1000}, limits: Rates{Bytes: 100}, want: 10 * time.Second, ok: true},
		{name: "burst above the limit", left: Work{10, 1000}, measured: Rates{50, 400}, span: 3 * time.Second, limits: Rates{Bytes: 100}, want: 10 * time.Second, ok: true},
		{name: "slower than the limit", left: Work{10, 1000}, measured: Rates{1, 50}, span: 3 * time.Second, limits: Rates{Bytes: 100}, want: 20 * time.Second, ok: true},
		{name: "a measured rate too short", left: Work{10, 1000}, measured: Rates{1, 50}, span: time.Second, limits: Rates{Bytes: 100}, want: 10 * time.Second, ok: true},
		{name: "the unlimited kind only follows", left: Work{10, 1000}, measured: Rates{0.5, 100}, span: 3 * time.Second, limits: Rates{Bytes: 100}, want: 10 * time.Second, ok: true},
		{name: "both limited: the longer", left: Work{100, 1000}, measured: Rates{5, 100}, span: 3 * time.Second, limits: Rates{5, 1000}, want: 20 * time.Second, ok: true},
		{name: "no limit: the mean", left: Work{10, 1000}, measured: Rates{1, 200}, span: 3 * time.Second, want: 7500 * time.Millisecond, ok: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := etaFromWork(tc.left, tc.measured, tc.span, tc.limits)
			if got != tc.want || ok != tc.ok {
				t.Errorf("etaFromWork(%v, %v, %v, %v) = %v, %v; want %v, %v", tc.left, tc.measured, tc.span, tc.limits, got, ok, tc.want, tc.ok)
			}
		})
	}
}

// TestWorkLeft: planned less copied for the users not finished; users not
// sized yet count as the average of those that were.
func TestWorkLeft(t *testing.T) {
	p := &progress{}
	p.mu.total = 4
	if _, ok := p.workLeftLocked(); ok {
		t.Fatal("work left known before any user was sized")
	}
	p.planned("a", Work{100, 10000})
	p.planned("b", Work{20, 2000})
	p.started("a")
	p.copiedBy("a", 30, 3000)
	// a: 70/7000 left; b: 20/2000; c and d unsized: 60/6000 each.
	p.mu.Lock()
	left, ok := p.workLeftLocked()
	p.mu.Unlock()
	if want := (Work{70 + 20 + 120, 7000 + 2000 + 12000}); !ok || left != want {
		t.Errorf("work left %v, %v; want %v", left, ok, want)
	}
	p.ended("a")
	p.finish(StatusOK, true)
	p.planned("a", Work{1, 1}) // too late: it finished
	p.mu.Lock()
	left, _ = p.workLeftLocked()
	line := p.inFlightLocked()
	p.mu.Unlock()
	if want := (Work{20 + 120, 2000 + 12000}); left != want {
		t.Errorf("after a finished: work left %v, want %v", left, want)
	}
	if line != "" {
		t.Errorf("in flight %q, want nothing (b has not started)", line)
	}
	p.started("b")
	p.copiedBy("b", 5, 500)
	p.mu.Lock()
	line = p.inFlightLocked()
	p.mu.Unlock()
	if !strings.Contains(line, "b 25% of 2.0 kB") {
		t.Errorf("in flight %q, want b at 25%%", line)
	}
}
