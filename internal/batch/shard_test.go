package batch

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

var seedFlag = flag.Uint64("seed", 0, "seed for randomized tests (0: a new one)")

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

func TestParseShard(t *testing.T) {
	tests := []struct {
		in   string
		want Shard
		ok   bool
	}{
		{"", Shard{}, true},
		{"1/1", Shard{1, 1}, true},
		{"2/4", Shard{2, 4}, true},
		{"4/4", Shard{4, 4}, true},
		{"0/4", Shard{}, false},
		{"5/4", Shard{}, false},
		{"-1/4", Shard{}, false},
		{"1/0", Shard{}, false},
		{"1", Shard{}, false},
		{"a/b", Shard{}, false},
		{"1/2/3", Shard{}, false},
		{" 1/2", Shard{}, false},
	}
	for _, tc := range tests {
		got, err := ParseShard(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("ParseShard(%q) = %v, %v; want %v, ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
		if err == nil && got.String() != tc.in {
			t.Errorf("ParseShard(%q).String() = %q", tc.in, got.String())
		}
	}
}

// TestShardsSplitUsers checks that the n shards of a random list of users
// hold every user exactly once, whatever the order of the list, and that
// no shard is far from its share.
func TestShardsSplitUsers(t *testing.T) {
	r := rand.New(rand.NewPCG(testSeed(t), 0))
	users := make([]string, 5000)
	for i := range users {
		users[i] = fmt.Sprintf("user%d-%x@example.org", i, r.Uint64())
	}
	for _, n := range []int{1, 2, 3, 7} {
		owner := map[string]int{}
		for i := 1; i <= n; i++ {
			s := Shard{i, n}
			shuffled := append([]string(nil), users...)
			r.Shuffle(len(shuffled), func(a, b int) { shuffled[a], shuffled[b] = shuffled[b], shuffled[a] })
			part := s.Filter(shuffled)
			for _, u := range part {
				prev, dup := owner[u]
				require.False(t, dup, "%s in shards %d and %d of %d", u, prev, i, n)
				owner[u] = i
			}
			require.InDelta(t, len(users)/n, len(part), float64(len(users)/n)/5, "shard %d/%d holds %d users", i, n, len(part))
		}
		require.Len(t, owner, len(users), "every user in a shard of %d", n)
	}
	require.True(t, Shard{}.Has("anyone"))
}
