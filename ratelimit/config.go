package ratelimit

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// ErrInvalidConfig marks every problem [Config.Validate] reports.
var ErrInvalidConfig = errors.New("ratelimit: invalid config")

// Limit is one pair of token buckets: messages per second and bytes per
// second. The zero Limit is unlimited.
type Limit struct {
	// Msgs is the number of messages per second; 0 means no limit on
	// messages. Fractions are allowed (0.5 is one message every 2 s).
	Msgs float64
	// Bytes is the number of bytes per second; 0 means no limit on bytes.
	Bytes float64
	// MsgBurst is how many messages may pass at once after an idle
	// period. 0 means one second's worth, at least 1. A wait for more
	// messages than the burst is split, as for bytes.
	MsgBurst int
	// ByteBurst is how many bytes may pass at once after an idle period.
	// 0 means one second's worth, at least 1. A wait for more bytes than
	// the burst is split into burst-sized pieces that pass one after the
	// other; it is neither refused nor let through at once.
	ByteBurst int64
}

// Adapt configures how a server's rates follow its health. The zero Adapt
// turns adaptation on with the defaults given for each field.
//
// The rule, per server, with f the server's factor (1 at the start):
//
//   - An overloaded answer, or a latency above SlowRatio × the server's
//     recent normal latency (an average over its last answers, kept apart
//     for the server as a source and as a target, that counts once it
//     rests on 8 answers), and at least SlowMin, at time t: if no
//     decrease happened in the Interval before t, f = max(Floor, f×Decrease).
//     Many operations in flight see the same overload; they count once per
//     Interval.
//   - A success at time t: f = min(1, f + k×Increase), where k is the
//     number of whole Intervals since the last change of f; the last change
//     then moves forward by k Intervals, so a steady stream of successes
//     raises f by Increase per Interval.
//   - A retryAfter hint d > 0 at time t pauses every wait on the server
//     until t + min(d, MaxPause), whatever Off says.
//
// The server's effective source and target limits (rates and bursts) are
// its configured limits times f; waits that hold a reservation when f
// changes keep its time. Adaptation scales configured limits only: a server
// with no rate limit stays unlimited (but still obeys pauses and its
// ServerConns cap). Global and per-user limits are not adapted.
type Adapt struct {
	// Off keeps every server's factor at 1; retryAfter hints still pause.
	Off bool
	// Decrease multiplies the factor on overload. Default 0.5; in (0, 1).
	Decrease float64
	// Increase is added to the factor per Interval of success. Default
	// 0.05 (from 0.5 back to 1 in 10 Intervals); in (0, 1].
	Increase float64
	// Interval is the step of the rule above. Default 1 s.
	Interval time.Duration
	// Floor is the lowest factor. Default 0.1; in (0, 1].
	Floor float64
	// SlowRatio: a latency above SlowRatio times the recent normal is an
	// overload. Default 4; above 1.
	SlowRatio float64
	// SlowMin: latencies below it never count as slow. Default 250 ms.
	SlowMin time.Duration
	// MaxPause caps a server's retryAfter hint. Default 15 min.
	MaxPause time.Duration
}

// Config configures a [Limiter]. The zero Config limits nothing, caps
// nothing and adapts with the defaults of [Adapt].
type Config struct {
	// Global applies to every message of every user.
	Global Limit
	// Source applies to each source server separately: every server that
	// messages are read from gets its own buckets of this size.
	Source Limit
	// Target applies to each target server separately.
	Target Limit
	// User applies to each user separately (all of a user's handles share
	// one pair of buckets).
	User Limit
	// ServerConns is the most operations (or connections) in flight per
	// server, taken with [Limiter.Acquire] or [Handle.Acquire]. 0 means
	// no cap.
	ServerConns int
	// Adapt configures how server rates follow server health.
	Adapt Adapt
}

// Default values for the zero fields of [Adapt].
const (
	DefaultDecrease  = 0.5
	DefaultIncrease  = 0.05
	DefaultInterval  = time.Second
	DefaultFloor     = 0.1
	DefaultSlowRatio = 4.0
	DefaultSlowMin   = 250 * time.Millisecond
	DefaultMaxPause  = 15 * time.Minute
)

// Validate reports every problem of c at once, each wrapping
// [ErrInvalidConfig], joined with [errors.Join]; nil if there is none.
func (c *Config) Validate() error {
	var errs []error
	bad := func(field string, v any, want string) {
		errs = append(errs, fmt.Errorf("%w: %s is %v, want %s", ErrInvalidConfig, field, v, want))
	}
	for _, l := range []struct {
		name string
		l    Limit
	}{{"Global", c.Global}, {"Source", c.Source}, {"Target", c.Target}, {"User", c.User}} {
		if !finiteNonNeg(l.l.Msgs) {
			bad(l.name+".Msgs", l.l.Msgs, "a finite number ≥ 0 (0 means unlimited)")
		}
		if !finiteNonNeg(l.l.Bytes) {
			bad(l.name+".Bytes", l.l.Bytes, "a finite number ≥ 0 (0 means unlimited)")
		}
		if l.l.MsgBurst < 0 {
			bad(l.name+".MsgBurst", l.l.MsgBurst, "≥ 0 (0 means one second's worth)")
		} else if l.l.MsgBurst > 0 && l.l.Msgs == 0 {
			bad(l.name+".MsgBurst", l.l.MsgBurst, "0 when Msgs is 0 (unlimited)")
		}
		if l.l.ByteBurst < 0 || uint64(l.l.ByteBurst) > math.MaxInt {
			bad(l.name+".ByteBurst", l.l.ByteBurst, "≥ 0 (0 means one second's worth)")
		} else if l.l.ByteBurst > 0 && l.l.Bytes == 0 {
			bad(l.name+".ByteBurst", l.l.ByteBurst, "0 when Bytes is 0 (unlimited)")
		}
	}
	if c.ServerConns < 0 {
		bad("ServerConns", c.ServerConns, "≥ 0 (0 means no cap)")
	}
	a := c.Adapt
	if a.Decrease != 0 && !(a.Decrease > 0 && a.Decrease < 1) {
		bad("Adapt.Decrease", a.Decrease, "in (0, 1) (0 means 0.5)")
	}
	if a.Increase != 0 && !(a.Increase > 0 && a.Increase <= 1) {
		bad("Adapt.Increase", a.Increase, "in (0, 1] (0 means 0.05)")
	}
	if a.Interval < 0 {
		bad("Adapt.Interval", a.Interval, "≥ 0 (0 means 1s)")
	}
	if a.Floor != 0 && !(a.Floor > 0 && a.Floor <= 1) {
		bad("Adapt.Floor", a.Floor, "in (0, 1] (0 means 0.1)")
	}
	if a.SlowRatio != 0 && !(a.SlowRatio > 1 && !math.IsInf(a.SlowRatio, 1)) {
		bad("Adapt.SlowRatio", a.SlowRatio, "a finite number > 1 (0 means 4)")
	}
	if a.SlowMin < 0 {
		bad("Adapt.SlowMin", a.SlowMin, "≥ 0 (0 means 250ms)")
	}
	if a.MaxPause < 0 {
		bad("Adapt.MaxPause", a.MaxPause, "≥ 0 (0 means 15m0s)")
	}
	return errors.Join(errs...)
}

func finiteNonNeg(f float64) bool { return f >= 0 && !math.IsInf(f, 1) }

// withDefaults returns a copy of a with its zero fields set to the defaults.
func (a Adapt) withDefaults() Adapt {
	if a.Decrease == 0 {
		a.Decrease = DefaultDecrease
	}
	if a.Increase == 0 {
		a.Increase = DefaultIncrease
	}
	if a.Interval == 0 {
		a.Interval = DefaultInterval
	}
	if a.Floor == 0 {
		a.Floor = DefaultFloor
	}
	if a.SlowRatio == 0 {
		a.SlowRatio = DefaultSlowRatio
	}
	if a.SlowMin == 0 {
		a.SlowMin = DefaultSlowMin
	}
	if a.MaxPause == 0 {
		a.MaxPause = DefaultMaxPause
	}
	return a
}

// msgBurst and byteBurst return the burst in effect for l, defaults applied.
func (l Limit) msgBurst() int {
	if l.MsgBurst > 0 {
		return l.MsgBurst
	}
	return secondsWorth(l.Msgs)
}

func (l Limit) byteBurst() int {
	if l.ByteBurst > 0 {
		return int(l.ByteBurst)
	}
	return secondsWorth(l.Bytes)
}

// secondsWorth is one second of rate r as a bucket size: at least 1, at
// most maxBurst.
func secondsWorth(r float64) int {
	if r >= maxBurst {
		return maxBurst
	}
	return max(1, int(math.Ceil(r)))
}

// maxBurst keeps bucket sizes far from int overflow on every platform.
const maxBurst = math.MaxInt32
