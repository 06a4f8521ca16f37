package journal

import (
	"context"
	"flag"
	"fmt"
	"iter"
	"math/rand/v2"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/mailrepl/mailrepl/mailbox"
	"github.com/mailrepl/mailrepl/uid"
	"github.com/stretchr/testify/require"
)

var (
	seedFlag = flag.Uint64("seed", 0, "seed for randomized tests (0: a new one)")
	longFlag = flag.Bool("long", false, "run the long variants of the crash and property tests")
)

// testSeed returns the seed of a randomized test and prints it on failure.
func testSeed(t testing.TB) uint64 {
	t.Helper()
	seed := *seedFlag
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("replay with -seed=%d", seed)
		}
	})
	return seed
}

func newRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 0)) }

// fixedClock returns a clock that starts at a fixed instant and advances a
// second per call.
func fixedClock() func() time.Time {
	t := time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)
	return func() time.Time {
		t = t.Add(time.Second)
		return t
	}
}

func openTest(t testing.TB, dir string) *Journal {
	t.Helper()
	j, err := Open(dir, &Options{Now: fixedClock()})
	require.NoError(t, err)
	t.Cleanup(func() {
		if !j.closed.Load() {
			require.NoError(t, j.Close())
		}
	})
	return j
}

// openMem opens a journal on a memory filesystem.
func openMem(t testing.TB, fs vfs.FS, dir string) *Journal {
	t.Helper()
	j, err := open(dir, fs, &Options{Now: fixedClock()}, currentFormat)
	require.NoError(t, err)
	t.Cleanup(func() {
		if !j.closed.Load() {
			require.NoError(t, j.Close())
		}
	})
	return j
}

func collect[T any](t testing.TB, seq func(func(T, error) bool)) []T {
	t.Helper()
	var out []T
	for x, err := range seq {
		require.NoError(t, err)
		out = append(out, x)
	}
	return out
}

func emailID(n int) mailbox.EmailID {
	return mailbox.EmailIDOf([]byte(fmt.Sprintf("message %d\r\n", n)))
}

func ev(user, mbox string, kind EventKind) Event {
	return Event{Kind: kind, User: user, MailboxID: mailbox.ID("id-" + mbox), Mailbox: mbox}
}

func TestMain(m *testing.M) {
	flag.Parse()
	if os.Getenv(crashChildEnv) != "" {
		os.Exit(crashChild())
	}
	code := m.Run()
	if code == 0 {
		if leaked := leakedGoroutines(); leaked != "" {
			fmt.Fprintf(os.Stderr, "goroutines of the journal still running after the tests:\n%s", leaked)
			code = 1
		}
	}
	os.Exit(code)
}

// leakedGoroutines returns the stacks of journal goroutines (a committer
// whose journal was not closed) still running after a grace period.
func leakedGoroutines() string {
	var leaked string
	for range 50 {
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		leaked = ""
		for g := range strings.SplitSeq(string(buf), "\n\n") {
			if strings.Contains(g, "journal.(*Journal).committer") {
				leaked += g + "\n\n"
			}
		}
		if leaked == "" {
			return ""
		}
		time.Sleep(20 * time.Millisecond)
	}
	return leaked
}

var bg = context.Background()

// iterPull is iter.Pull2 for the test's sequences.
func iterPull[T any](seq func(func(T, error) bool)) (func() (T, error, bool), func()) {
	return iter.Pull2(iter.Seq2[T, error](seq))
}

func uidOf(n int) uid.UID { return uid.UID(n) }
