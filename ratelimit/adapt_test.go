package ratelimit

import (
	"fmt"
	"math"
	"testing"
	"testing/synctest"
	"time"
)

// step is one answer of a server, at a time since the start.
type step struct {
	at         time.Duration
	target     bool
	latency    time.Duration
	overloaded bool
	retryAfter time.Duration
	// the factors of the source ("old") and target ("new") servers after it
	wantSrc, wantTgt float64
}

func runSteps(t *testing.T, cfg Config, steps []step) {
	t.Helper()
	synctest.Test(t, func(t *testing.T) {
		l := mustNew(t, cfg)
		h := l.For("u", "old", "new")
		defer h.Close()
		start := time.Now()
		for i, s := range steps {
			time.Sleep(start.Add(s.at).Sub(time.Now()))
			h.Observe(s.target, s.latency, s.overloaded, s.retryAfter)
			src, tgt := l.Effective("old"), l.Effective("new")
			if !near(src.Factor, s.wantSrc) || !near(tgt.Factor, s.wantTgt) {
				t.Fatalf("step %d (%+v): factors %v, %v; want %v, %v", i, s, src.Factor, tgt.Factor, s.wantSrc, s.wantTgt)
			}
			checkScaled(t, fmt.Sprintf("step %d, source", i), h.src.src, cfg.Source, src.Source, s.wantSrc)
			checkScaled(t, fmt.Sprintf("step %d, target", i), h.tgt.tgt, cfg.Target, tgt.Target, s.wantTgt)
		}
	})
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

// checkScaled checks that a server's buckets run at f times their
// configured rate and burst, and that Effective says so.
func checkScaled(t *testing.T, what string, p bucketPair, l Limit, eff Rate, f float64) {
	t.Helper()
	if !near(eff.Msgs, l.Msgs*f) || !near(eff.Bytes, l.Bytes*f) {
		t.Errorf("%s: effective %+v, want %v × %+v", what, eff, f, l)
	}
	if p.msgs != nil {
		if b, want := p.msgs.lim.Burst(), max(1, int(float64(l.msgBurst())*f)); b != want {
			t.Errorf("%s: message burst %d, want %d", what, b, want)
		}
	}
	if p.bytes != nil {
		if b, want := p.bytes.lim.Burst(), max(1, int(float64(l.byteBurst())*f)); b != want {
			t.Errorf("%s: byte burst %d, want %d", what, b, want)
		}
	}
}

const ms = time.Millisecond

// TestAdaptRule follows the documented rule of Adapt step by step with
// the defaults: ×0.5 per overload, at most once per 1 s interval, not
// below 0.1; +0.05 per whole interval of success.
func TestAdaptRule(t *testing.T) {
	cfg := Config{Source: Limit{Msgs: 100, Bytes: 1e6}, Target: Limit{Msgs: 40, ByteBurst: 0}}
	runSteps(t, cfg, []step{
		{at: 0, wantSrc: 1, wantTgt: 1},                                              // success at the limit: nothing to raise
		{at: 0, overloaded: true, wantSrc: 0.5, wantTgt: 1},                          // ×0.5
		{at: 500 * ms, overloaded: true, wantSrc: 0.5, wantTgt: 1},                   // same overload (< 1 interval)
		{at: 999 * ms, overloaded: true, wantSrc: 0.5, wantTgt: 1},                   // still
		{at: 1000 * ms, overloaded: true, wantSrc: 0.25, wantTgt: 1},                 // a new interval: ×0.5
		{at: 2000 * ms, overloaded: true, wantSrc: 0.125, wantTgt: 1},                //
		{at: 3000 * ms, overloaded: true, wantSrc: 0.1, wantTgt: 1},                  // 0.0625 → the floor
		{at: 4500 * ms, overloaded: true, wantSrc: 0.1, wantTgt: 1},                  // at the floor
		{at: 5000 * ms, wantSrc: 0.1, wantTgt: 1},                                    // 0.5 interval since the last change
		{at: 5500 * ms, wantSrc: 0.15, wantTgt: 1},                                   // 1 interval: +0.05
		{at: 6000 * ms, wantSrc: 0.15, wantTgt: 1},                                   //
		{at: 8000 * ms, wantSrc: 0.25, wantTgt: 1},                                   // 2.5 intervals: +0.10, the half carries over
		{at: 8500 * ms, wantSrc: 0.3, wantTgt: 1},                                    // the half, completed
		{at: 9000 * ms, retryAfter: 2 * time.Second, wantSrc: 0.3, wantTgt: 1},       // a back-off is no success
		{at: 9700 * ms, latency: 10 * ms, wantSrc: 0.35, wantTgt: 1},                 // 1.2 intervals
		{at: 9800 * ms, target: true, overloaded: true, wantSrc: 0.35, wantTgt: 0.5}, // the target is a server of its own
		{at: 9900 * ms, overloaded: true, wantSrc: 0.175, wantTgt: 0.5},              // a decrease after an increase
		{at: 30 * time.Second, wantSrc: 1, wantTgt: 0.5},                             // 20 intervals: back to the limit, not above
		{at: 31 * time.Second, target: true, wantSrc: 1, wantTgt: 1},                 // 21 intervals: +1.05, capped
	})
}

func TestAdaptCustom(t *testing.T) {
	cfg := Config{
		Source: Limit{Msgs: 10, MsgBurst: 20},
		Adapt:  Adapt{Decrease: 0.8, Increase: 0.1, Interval: 10 * time.Second, Floor: 0.6},
	}
	runSteps(t, cfg, []step{
		{at: 0, overloaded: true, wantSrc: 0.8, wantTgt: 1},
		{at: 9 * time.Second, overloaded: true, wantSrc: 0.8, wantTgt: 1},
		{at: 10 * time.Second, overloaded: true, wantSrc: 0.64, wantTgt: 1},
		{at: 20 * time.Second, overloaded: true, wantSrc: 0.6, wantTgt: 1},
		{at: 29 * time.Second, wantSrc: 0.6, wantTgt: 1},
		{at: 30 * time.Second, wantSrc: 0.7, wantTgt: 1},
		{at: 65 * time.Second, wantSrc: 1, wantTgt: 1},
	})
	// Off: overloads change nothing.
	cfg.Adapt.Off = true
	runSteps(t, cfg, []step{
		{at: 0, overloaded: true, wantSrc: 1, wantTgt: 1},
		{at: time.Hour, overloaded: true, latency: time.Hour, wantSrc: 1, wantTgt: 1},
	})
}

// TestAdaptSlow: a latency above SlowRatio × the recent normal (and at
// least SlowMin), once the normal rests on 8 samples, counts as an
// overload; sources and targets keep normals of their own.
func TestAdaptSlow(t *testing.T) {
	var steps []step
	at := time.Duration(0)
	add := func(target bool, latency time.Duration, src, tgt float64) {
		at += 100 * ms
		steps = append(steps, step{at: at, target: target, latency: latency, wantSrc: src, wantTgt: tgt})
	}
	// 7 samples are no normal yet: the 8th, at 100×, is not slow.
	for range 7 {
		add(false, 10*ms, 1, 1)
	}
	add(false, time.Second, 1, 1) // source normal now 133.75 ms
	for range 8 {
		add(true, 100*ms, 1, 1) // target normal 100 ms
	}
	add(true, 300*ms, 1, 1)    // 3× the normal: not slow; normal 125 ms
	add(true, 2000*ms, 1, 0.5) // 16×: slow (t=1.8 s); normal 359 ms
	for range 40 {
		add(false, 10*ms, 1, 0.5) // the source's normal falls to about 10.6 ms
	}
	add(false, 200*ms, 1, 0.5)    // 19× the normal, but below SlowMin (250 ms)
	add(false, 1000*ms, 0.5, 0.5) // 29×: slow (t=6.0 s)
	add(false, 0, 0.5, 0.5)       // latency unknown: a success, 0.1 s after the decrease
	add(true, 150*ms, 0.5, 0.7)   // target: not slow against its own normal; 4.4 intervals since its decrease
	runSteps(t, Config{Source: Limit{Msgs: 100}, Target: Limit{Bytes: 1e6}}, steps)
}

// TestAdaptThroughput: the lowered and raised rates are the rates that
// waits get, within 5 %.
func TestAdaptThroughput(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := mustNew(t, Config{Source: Limit{Msgs: 100}})
		var fs []flooder
		for i := range 4 {
			h := l.For(fmt.Sprint("u", i), "old", "new")
			defer h.Close()
			fs = append(fs, flooder{h: h, size: 1000})
		}
		done := make(chan []grant)
		go func() { done <- flood(t, fs, 60*time.Second) }()
		time.Sleep(10 * time.Second)
		fs[0].h.Observe(false, 0, true, 0) // ×0.5 at 10 s
		time.Sleep(20 * time.Second)
		fs[1].h.Observe(false, 0, false, 0) // +20×0.05 at 30 s: back to 1
		grants := <-done
		for _, w := range []struct {
			from, to time.Duration
			rate     float64
		}{{1 * time.Second, 10 * time.Second, 100}, {11 * time.Second, 30 * time.Second, 50}, {31 * time.Second, 60 * time.Second, 100}} {
			n := 0
			for _, g := range grants {
				if g.at >= w.from && g.at < w.to {
					n++
				}
			}
			want := w.rate * (w.to - w.from).Seconds()
			if math.Abs(float64(n)-want) > 0.05*want {
				t.Errorf("[%v, %v): %d passed, want %.0f within 5%%", w.from, w.to, n, want)
			}
		}
	})
}
