package batch

import (
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"
)

// Shard is one machine's share of a batch's users: the users whose name
// hashes (FNV-1a, 64 bits) to Index-1 modulo Count. Every user belongs to
// exactly one of the Count shards, whatever the order or the other names
// of the users file, so n machines given shards 1/n … n/n split a batch
// disjointly and completely. The zero Shard holds every user.
type Shard struct {
	Index int // from 1 to Count
	Count int
}

// ParseShard parses "i/n", 1 ≤ i ≤ n; "" is the zero Shard (every user).
func ParseShard(s string) (Shard, error) {
	if s == "" {
		return Shard{}, nil
	}
	a, b, ok := strings.Cut(s, "/")
	i, err1 := strconv.Atoi(a)
	n, err2 := strconv.Atoi(b)
	if !ok || err1 != nil || err2 != nil || n < 1 || i < 1 || i > n {
		return Shard{}, fmt.Errorf("batch: invalid shard %q: want i/n with 1 ≤ i ≤ n, e.g. 2/4", s)
	}
	return Shard{Index: i, Count: n}, nil
}

// Has reports whether user belongs to the shard.
func (s Shard) Has(user string) bool {
	if s.Count <= 1 {
		return true
	}
	h := fnv.New64a()
	h.Write([]byte(user))
	return h.Sum64()%uint64(s.Count) == uint64(s.Index-1)
}

// Filter returns the users of the shard, in order.
func (s Shard) Filter(users []string) []string {
	var out []string
	for _, u := range users {
		if s.Has(u) {
			out = append(out, u)
		}
	}
	return out
}

func (s Shard) String() string {
	if s.Count == 0 {
		return ""
	}
	return fmt.Sprintf("%d/%d", s.Index, s.Count)
}
