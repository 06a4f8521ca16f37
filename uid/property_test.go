package uid

import (
	"flag"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

var (
	seedFlag  = flag.Uint64("seed", 0, "seed of the randomized tests (0: from the clock)")
	roundFlag = flag.Int("rounds", 1000, "rounds of the randomized set test")
)

// newRand returns a PRNG seeded from -seed or the clock, and logs the seed
// so that a failure can be replayed with -seed.
func newRand(t *testing.T) *rand.Rand {
	t.Helper()
	seed := *seedFlag
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("seed %d (replay with -seed=%d)", seed, seed)
	return rand.New(rand.NewPCG(seed, 0))
}

// The random sets live in two windows of UIDs, one at each end of the UID
// space, so that every operation meets both 1 and Max.
const window = 200

func randUID(r *rand.Rand) UID {
	off := UID(r.IntN(window))
	if r.IntN(2) == 0 {
		return 1 + off
	}
	return Max - off
}

// randRange returns a range within one window, its bounds in either order.
func randRange(r *rand.Rand) (UID, UID) {
	a := randUID(r)
	if r.IntN(3) == 0 {
		return a, a
	}
	width := UID(r.IntN(window / 4))
	if a <= window {
		return a, min(a+width, window)
	}
	return a, max(a-width, Max-window+1)
}

type model map[UID]bool

// randSet builds a set and its model by one of the ways the API offers.
func randSet(r *rand.Rand) (Set, model) {
	m := model{}
	var s Set
	n := r.IntN(8)
	switch r.IntN(4) {
	case 0: // NewSet
		var rs []Range
		for range n {
			a, b := randRange(r)
			rs = append(rs, Range{a, b})
			m.addRange(a, b)
		}
		s = NewSet(rs...)
	case 1: // SetOf
		var us []UID
		for range n * 4 {
			u := randUID(r)
			us = append(us, u)
			m[u] = true
		}
		s = SetOf(us...)
	case 2: // Add and AddRange
		for range n {
			if r.IntN(2) == 0 {
				u := randUID(r)
				s = s.Add(u)
				m[u] = true
			} else {
				a, b := randRange(r)
				s = s.AddRange(a, b)
				m.addRange(a, b)
			}
		}
	case 3: // ParseSet
		if n == 0 {
			return nil, m
		}
		text := ""
		for i := range n {
			if i > 0 {
				text += ","
			}
			a, b := randRange(r)
			m.addRange(a, b)
			text += formatBound(a)
			if a != b || r.IntN(4) == 0 {
				text += ":" + formatBound(b)
			}
		}
		var err error
		if s, err = ParseSet(text); err != nil {
			panic(fmt.Sprintf("ParseSet(%q): %v", text, err))
		}
	}
	return s, m
}

func (m model) addRange(a, b UID) {
	if a > b {
		a, b = b, a
	}
	for u := a; ; u++ {
		m[u] = true
		if u == b {
			break
		}
	}
}

func (m model) sorted() []UID { return slices.Sorted(maps.Keys(m)) }

// checkModel fails unless s holds exactly the UIDs of m.
func checkModel(t *testing.T, what string, s Set, m model) {
	t.Helper()
	checkCanonical(t, what, s)
	want := m.sorted()
	if got := slices.Collect(s.All()); !slices.Equal(got, want) {
		t.Fatalf("%s = %v, want %v", what, s, Set(setOfModel(m)))
	}
	if s.Len() != uint64(len(want)) {
		t.Fatalf("%s.Len() = %d, want %d", what, s.Len(), len(want))
	}
	if s.IsEmpty() != (len(want) == 0) {
		t.Fatalf("%s.IsEmpty() = %v", what, s.IsEmpty())
	}
	var wantMin, wantMax UID
	if len(want) > 0 {
		wantMin, wantMax = want[0], want[len(want)-1]
	}
	if s.Min() != wantMin || s.Max() != wantMax {
		t.Fatalf("%s: Min, Max = %d, %d; want %d, %d", what, s.Min(), s.Max(), wantMin, wantMax)
	}
	for _, u := range probes {
		if s.Contains(u) != m[u] {
			t.Fatalf("%s.Contains(%d) = %v, want %v", what, u, s.Contains(u), m[u])
		}
	}
	var rs []Range
	for r := range s.Ranges() {
		rs = append(rs, r)
	}
	if !slices.Equal(rs, []Range(s)) {
		t.Fatalf("%s.Ranges() = %v", what, rs)
	}
	if len(s) > 0 {
		back, err := ParseSet(s.String())
		if err != nil || !back.Equal(s) {
			t.Fatalf("ParseSet(%q) = %v, %v; want %v", s.String(), back, err, s)
		}
	} else if s.String() != "" {
		t.Fatalf("%s: empty set formats as %q", what, s.String())
	}
}

// setOfModel is the set of a model's UIDs, for failure messages.
func setOfModel(m model) Set { return SetOf(m.sorted()...) }

// probes are every UID of both windows and the UIDs around them.
var probes = func() []UID {
	us := []UID{0, window + 1, window + 2, Max - window, Max - window - 1, 1 << 31}
	for i := range UID(window) {
		us = append(us, 1+i, Max-i)
	}
	return us
}()

func setOps(m1, m2 model) (union, inter, diff model) {
	union, inter, diff = model{}, model{}, model{}
	for u := range m1 {
		union[u] = true
		if m2[u] {
			inter[u] = true
		} else {
			diff[u] = true
		}
	}
	for u := range m2 {
		union[u] = true
	}
	return union, inter, diff
}

// TestSetProperties checks the set algebra against a plain map of UIDs.
func TestSetProperties(t *testing.T) {
	r := newRand(t)
	for i := range *roundFlag {
		a, ma := randSet(r)
		b, mb := randSet(r)
		ac, bc := slices.Clone(a), slices.Clone(b)
		checkModel(t, fmt.Sprintf("round %d: a", i), a, ma)
		checkModel(t, fmt.Sprintf("round %d: b", i), b, mb)

		union, inter, diff := setOps(ma, mb)
		name := fmt.Sprintf("round %d: (%v)", i, a)
		checkModel(t, name+" ∪ ("+b.String()+")", a.Union(b), union)
		checkModel(t, name+" ∩ ("+b.String()+")", a.Intersect(b), inter)
		checkModel(t, name+" ∖ ("+b.String()+")", a.Difference(b), diff)

		if got, want := a.Equal(b), maps.Equal(ma, mb); got != want {
			t.Fatalf("%s.Equal(%v) = %v, want %v", name, b, got, want)
		}
		// Identities that tie the operations together.
		if u := a.Difference(b).Union(a.Intersect(b)); !u.Equal(a) {
			t.Fatalf("%s: (a∖b)∪(a∩b) = %v", name, u)
		}
		if x := a.Difference(b).Intersect(b); !x.IsEmpty() {
			t.Fatalf("%s: (a∖b)∩b = %v", name, x)
		}
		if c := All.Difference(All.Difference(a)); !c.Equal(a) {
			t.Fatalf("%s: complement of complement = %v", name, c)
		}
		if !a.Equal(ac) || !b.Equal(bc) {
			t.Fatalf("round %d: operands changed: %v, %v; were %v, %v", i, a, b, ac, bc)
		}
	}
}
