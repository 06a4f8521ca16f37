package ratelimit

import (
	"fmt"
	"math"
	"testing"
	"testing/synctest"
	"time"
)

// TestFairness: users of very different message sizes share a byte limit.
// Waits are served in the order they are made, one piece (a message, or a
// burst of a larger one) per user per round, so every user progresses at
// its round-robin share: no user starves, however small or large its
// messages. (The initial burst goes to whoever comes first.)
func TestFairness(t *testing.T) {
	const (
		users  = 24
		rate   = 5e6 // bytes per second
		burst  = 1e6 // the largest piece
		window = 60 * time.Second
	)
	r := newRand(t)
	sizes := make([]int64, users)
	for i := range sizes {
		// log-uniform from 1 KB to 5 MB
		sizes[i] = int64(math.Exp(math.Log(1e3) + r.Float64()*math.Log(5e3)))
	}
	synctest.Test(t, func(t *testing.T) {
		l := mustNew(t, Config{Global: Limit{Bytes: rate, ByteBurst: burst}})
		var fs []flooder
		for i, size := range sizes {
			h := l.For(fmt.Sprint("u", i), "src", "dst")
			defer h.Close()
			fs = append(fs, flooder{h: h, size: size})
		}
		grants := flood(t, fs, window)

		// Round robin by pieces: a round moves one piece of every
		// user; a user's message takes ceil(size/burst) rounds.
		var roundBytes float64
		for _, s := range sizes {
			pieces := math.Ceil(float64(s) / burst)
			roundBytes += float64(s) / pieces
		}
		rounds := rate * window.Seconds() / roundBytes
		got := make([]int, users)
		lastAt := make([]time.Duration, users)
		for _, g := range grants {
			// The burst, at t=0, goes to whoever comes first, as
			// with any token bucket; fairness is about the rest.
			if g.at == 0 {
				continue
			}
			got[g.who]++
			lastAt[g.who] = g.at
		}
		for i, s := range sizes {
			want := rounds / math.Ceil(float64(s)/burst)
			if lo, hi := 0.85*want-1, 1.15*want+1; float64(got[i]) < lo || float64(got[i]) > hi {
				t.Errorf("user %d (%d-byte messages): %d messages in %v, want %.1f (its round-robin share) within 15%%", i, s, got[i], window, want)
			}
			// Still served at the end: nobody was pushed out.
			if gap := window - lastAt[i]; gap > 3*time.Duration(float64(time.Second)*roundBytes/rate*math.Ceil(float64(s)/burst)) {
				t.Errorf("user %d: last message at %v, want one in the last 3 rounds", i, lastAt[i])
			}
		}
		t.Logf("%d users, %.1f rounds of %.0f bytes; messages per user: %v", users, rounds, roundBytes, got)
	})
}
