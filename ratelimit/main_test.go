package ratelimit

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

var seedFlag = flag.Uint64("seed", 0, "seed of the randomized tests (0: a new random seed)")

// newRand returns a seeded generator and logs the seed if the test fails;
// replay it with -seed.
func newRand(t *testing.T) *rand.Rand {
	t.Helper()
	seed := *seedFlag
	if seed == 0 {
		seed = rand.Uint64()
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("seed %d (replay with -seed=%d)", seed, seed)
		}
	})
	return rand.New(rand.NewPCG(seed, 0))
}

// TestMain fails the run if a test leaves goroutines of this package behind.
func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 {
		if leaked := leakedGoroutines(); leaked != "" {
			fmt.Fprintf(os.Stderr, "leaked goroutines:\n%s\n", leaked)
			code = 1
		}
	}
	os.Exit(code)
}

func leakedGoroutines() string {
	var stacks string
	for range 50 {
		buf := make([]byte, 1<<20)
		stacks = string(buf[:runtime.Stack(buf, true)])
		var leaked []string
		for g := range strings.SplitSeq(stacks, "\n\n") {
			if strings.Contains(g, "mailrepl/ratelimit.") && !strings.Contains(g, "TestMain") && !strings.Contains(g, "leakedGoroutines") {
				leaked = append(leaked, g)
			}
		}
		if len(leaked) == 0 {
			return ""
		}
		stacks = strings.Join(leaked, "\n\n")
		time.Sleep(20 * time.Millisecond)
	}
	return stacks
}
