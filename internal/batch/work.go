package batch

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Work is an amount of copying: messages and bytes.
type Work struct {
	Msgs  int64 `json:"messages"`
	Bytes int64 `json:"bytes"`
}

func (w Work) add(o Work) Work { return Work{w.Msgs + o.Msgs, w.Bytes + o.Bytes} }

// left is what of w remains once done is done (never below zero).
func (w Work) left(done Work) Work {
	return Work{max(0, w.Msgs-done.Msgs), max(0, w.Bytes-done.Bytes)}
}

// Rates is a pair of rates per second; zero means none (unknown or
// unlimited).
type Rates struct {
	Msgs  float64 `json:"messages_per_s"`
	Bytes float64 `json:"bytes_per_s"`
}

// WorkReport is what the batch's listings said it had to copy, and how
// the copying went: the figures the progress line's ETA rests on.
type WorkReport struct {
	// Planned is the work of the users whose stores were listed before
	// their jobs ran ([Options.Estimate]); Sized counts them.
	Planned Work `json:"planned"`
	Sized   int  `json:"users_sized"`
	// Copied is what the jobs copied.
	Copied Work `json:"copied"`
	// Rate is Copied over the batch's duration; Limits the most the
	// batch may move per second ([Options.Limits]), zero when unlimited.
	Rate   Rates `json:"rate"`
	Limits Rates `json:"limits"`
}

// userWork is one user's share of the batch, for the ETA.
type userWork struct {
	name     string
	planned  Work
	sized    bool // planned is known
	copied   Work
	inFlight bool
	finished bool
}

// user returns the record of a user, created on first use; p.mu held.
func (p *progress) userLocked(name string) *userWork {
	u := p.mu.users[name]
	if u == nil {
		u = &userWork{name: name}
		if p.mu.users == nil {
			p.mu.users = map[string]*userWork{}
		}
		p.mu.users[name] = u
	}
	return u
}

func (p *progress) copiedBy(user string, msgs int, bytes int64) {
	p.add(msgs, bytes)
	p.mu.Lock()
	u := p.userLocked(user)
	u.copied = u.copied.add(Work{int64(msgs), bytes})
	p.mu.Unlock()
}

func (p *progress) planned(user string, w Work) {
	p.mu.Lock()
	defer p.mu.Unlock()
	u := p.userLocked(user)
	if !u.finished {
		u.planned, u.sized = w, true
		p.mu.sized++
		p.mu.plannedAll = p.mu.plannedAll.add(w)
	}
}

func (p *progress) started(user string) {
	p.mu.Lock()
	p.userLocked(user).inFlight = true
	p.mu.Unlock()
}

func (p *progress) ended(user string) {
	p.mu.Lock()
	u := p.userLocked(user)
	u.inFlight, u.finished = false, true
	p.mu.Unlock()
}

// isFinished reports whether user's turn is over.
func (p *progress) isFinished(user string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	u := p.mu.users[user]
	return u != nil && u.finished
}

// workLeftLocked is the work the batch has left: for each user not
// finished, what its listings planned less what it copied; users not
// listed yet count as the average of those that were. ok is false when no
// user was listed yet (and some are left).
func (p *progress) workLeftLocked() (left Work, ok bool) {
	unsized := p.mu.total - p.mu.finished
	for _, u := range p.mu.users {
		if u.finished || !u.sized {
			continue
		}
		unsized--
		left = left.add(u.planned.left(u.copied))
	}
	if unsized > 0 {
		if p.mu.sized == 0 {
			return left, false
		}
		n := int64(p.mu.sized)
		avg := Work{p.mu.plannedAll.Msgs / n, p.mu.plannedAll.Bytes / n}
		left = left.add(Work{avg.Msgs * int64(unsized), avg.Bytes * int64(unsized)})
	}
	return left, true
}

// etaFromWork estimates the time left from the work left, the rates
// measured over the last seconds (when they cover at least minRateSpan)
// and the limits in force. Under limits, each limited kind (messages,
// bytes) gives a time, at the rate measured but never above its limit (and
// at the limit before a rate is measured), and the longest is the
// estimate: the kind not limited only follows. Without limits both
// measured rates describe one flow, and the estimate is the mean of the
// times they give. ok is false when no rate tells the time.
func etaFromWork(left Work, measured Rates, span time.Duration, limits Rates) (time.Duration, bool) {
	if left == (Work{}) {
		return 0, true
	}
	limited := limits.Msgs > 0 || limits.Bytes > 0
	var times []float64
	for _, k := range []struct{ left, measured, limit float64 }{
		{float64(left.Msgs), measured.Msgs, limits.Msgs},
		{float64(left.Bytes), measured.Bytes, limits.Bytes},
	} {
		if k.left == 0 || limited && k.limit == 0 {
			continue
		}
		r := 0.0
		if span >= minRateSpan && k.measured > 0 {
			r = k.measured
		}
		if k.limit > 0 && (r == 0 || r > k.limit) {
			r = k.limit
		}
		if r > 0 {
			times = append(times, k.left/r)
		}
	}
	if len(times) == 0 {
		return 0, false
	}
	eta := slices.Max(times)
	if !limited {
		eta = 0
		for _, t := range times {
			eta += t / float64(len(times))
		}
	}
	return time.Duration(eta * float64(time.Second)), true
}

// minRateSpan is the least span of time a measured rate must cover for
// the ETA to use it.
const minRateSpan = 2 * time.Second

// inFlightLocked describes the users in flight whose work is a large share
// of the batch's (at least largeShare of the messages or bytes planned),
// with their progress, the largest first, at most maxInFlight: "big 45%
// of 12.4 MB".
func (p *progress) inFlightLocked() string {
	total := p.mu.plannedAll
	var big []*userWork
	for _, u := range p.mu.users {
		if !u.inFlight || !u.sized {
			continue
		}
		if float64(u.planned.Bytes) >= largeShare*float64(total.Bytes) && u.planned.Bytes > 0 ||
			float64(u.planned.Msgs) >= largeShare*float64(total.Msgs) && u.planned.Msgs > 0 {
			big = append(big, u)
		}
	}
	if len(big) == 0 {
		return ""
	}
	slices.SortFunc(big, func(a, b *userWork) int {
		return cmp.Or(cmp.Compare(b.planned.Bytes, a.planned.Bytes), cmp.Compare(a.name, b.name))
	})
	var parts []string
	for _, u := range big[:min(len(big), maxInFlight)] {
		pct := 100.0
		switch {
		case u.planned.Bytes > 0:
			pct = 100 * float64(min(u.copied.Bytes, u.planned.Bytes)) / float64(u.planned.Bytes)
		case u.planned.Msgs > 0:
			pct = 100 * float64(min(u.copied.Msgs, u.planned.Msgs)) / float64(u.planned.Msgs)
		}
		parts = append(parts, fmt.Sprintf("%s %.0f%% of %s", u.name, pct, FormatBytes(u.planned.Bytes)))
	}
	if len(big) > maxInFlight {
		parts = append(parts, fmt.Sprintf("%d more", len(big)-maxInFlight))
	}
	return "; in flight: " + strings.Join(parts, ", ")
}

const (
	largeShare  = 0.05
	maxInFlight = 3
)

// size runs estimate for each user in order, one at a time, ahead of
// the jobs, until every user is sized or stop is closed. Users whose turn
// is over by then are passed over; a failed estimate leaves the user
// unsized.
func (p *progress) size(ctx context.Context, users []string, estimate func(context.Context, string) (Work, error), stop <-chan struct{}) {
	for _, u := range users {
		select {
		case <-stop:
			return
		default:
		}
		if ctx.Err() != nil {
			return
		}
		if p.isFinished(u) || ValidUser(u) != nil {
			continue
		}
		w, err := estimate(ctx, u)
		if err != nil {
			continue
		}
		p.planned(u, w)
	}
}

// report returns the work figures at the end of a batch of duration d.
func (p *progress) report(d time.Duration, limits Rates) *WorkReport {
	p.mu.Lock()
	defer p.mu.Unlock()
	r := &WorkReport{Planned: p.mu.plannedAll, Sized: p.mu.sized,
		Copied: Work{p.msgs.Load(), p.bytes.Load()}, Limits: limits}
	if s := d.Seconds(); s > 0 {
		r.Rate = Rates{float64(r.Copied.Msgs) / s, float64(r.Copied.Bytes) / s}
	}
	return r
}

// plannedOf returns the planned work of user, nil when it was not sized.
func (p *progress) plannedOf(user string) *Work {
	p.mu.Lock()
	defer p.mu.Unlock()
	if u := p.mu.users[user]; u != nil && u.sized {
		w := u.planned
		return &w
	}
	return nil
}

// mergeStop returns a channel closed when either a (which may be nil) or
// b is closed.
func mergeStop(a, b <-chan struct{}) <-chan struct{} {
	if a == nil {
		return b
	}
	c := make(chan struct{})
	go func() {
		defer close(c)
		select {
		case <-a:
		case <-b:
		}
	}()
	return c
}
