package uid

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// benchSet returns a set of n ranges with random lengths and gaps, the
// shape of a mailbox's UIDs after years of expunges.
func benchSet(n int, seed uint64) Set {
	r := rand.New(rand.NewPCG(seed, 0))
	rs := make([]Range, 0, n)
	u := UID(1)
	for range n {
		u += UID(r.IntN(20))
		stop := u + UID(r.IntN(50))
		rs = append(rs, Range{u, stop})
		u = stop + 2
	}
	return NewSet(rs...)
}

var benchSizes = []int{10, 1_000, 100_000}

func BenchmarkSet(b *testing.B) {
	for _, n := range benchSizes {
		s, t := benchSet(n, 1), benchSet(n, 2)
		text := s.String()
		b.Run(fmt.Sprintf("op=parse/ranges=%d", n), func(b *testing.B) {
			b.SetBytes(int64(len(text)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := ParseSet(text); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("op=format/ranges=%d", n), func(b *testing.B) {
			b.SetBytes(int64(len(text)))
			b.ReportAllocs()
			for b.Loop() {
				_ = s.String()
			}
		})
		b.Run(fmt.Sprintf("op=union/ranges=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_ = s.Union(t)
			}
		})
		b.Run(fmt.Sprintf("op=intersect/ranges=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_ = s.Intersect(t)
			}
		})
		b.Run(fmt.Sprintf("op=difference/ranges=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_ = s.Difference(t)
			}
		})
		probe := rand.New(rand.NewPCG(3, 0))
		hi := uint32(s.Max())
		b.Run(fmt.Sprintf("op=contains/ranges=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_ = s.Contains(UID(1 + probe.Uint32N(hi)))
			}
		})
		b.Run(fmt.Sprintf("op=add-next/ranges=%d", n), func(b *testing.B) {
			// The append of a new highest UID, as a sync does per message.
			b.ReportAllocs()
			next := s.Max() + 2
			for b.Loop() {
				_ = s.Add(next)
			}
		})
	}
}
