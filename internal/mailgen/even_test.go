package mailgen

import (
	"math"
	"testing"
)

// TestEvenSpread checks the promise of even: any window of n consecutive
// messages holds n·rate of a rare feature, give or take three, whatever
// the seed, the stream, the feature and the window.
func TestEvenSpread(t *testing.T) {
	worst := 0.0
	for seed := range uint64(60) {
		g := New(seed)
		for k := range alphas {
			for _, st := range []uint64{0, mutationStream(seed)} {
				for _, rate := range []float64{0.001, 0.002, 0.01, 0.03} {
					for _, w := range []struct{ start, n int }{{0, 1000}, {0, 3000}, {0, 20000}, {123456, 5000}, {1 << 40, 3000}} {
						count := 0
						for i := w.start; i < w.start+w.n; i++ {
							if g.even(k, st, i, rate) {
								count++
							}
						}
						dev := math.Abs(float64(count) - rate*float64(w.n))
						worst = max(worst, dev)
						if dev > 3.5 {
							t.Errorf("seed %d feature %d stream %x rate %v: %d in [%d, %d), want %v ± 3", seed, k, st, rate, count, w.start, w.start+w.n, rate*float64(w.n))
						}
					}
				}
			}
		}
	}
	t.Logf("largest deviation %.2f", worst)
}
