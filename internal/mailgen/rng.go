package mailgen

import (
	"encoding/binary"
	"math"
	"math/bits"
	"math/rand/v2"
)

// rng is a PCG stream with the few derived draws the generator needs. The
// draws are computed here, from PCG's 64-bit outputs alone, so the corpus
// depends on the seed and on PCG (whose algorithm math/rand/v2 fixes), not
// on how a Go release implements rand.Rand's helpers. A rng is a value: a
// message's streams live on the stack.
type rng struct{ pcg rand.PCG }

// mix is the splitmix64 finaliser: a bijection that spreads every input bit
// over the output.
func mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// The independent streams of one message.
const (
	streamBase    = iota + 1 // folder, date, sender, Message-ID: what other messages read
	streamThread             // the choice of a parent and of an original to duplicate
	streamContent            // the body
	streamFlags              // the flags
	streamParty              // the generator's correspondents (i is the party's number)
	streamSubject            // the subject of a conversation's first message
)

// newRNG returns the stream for part sub of message i of stream st of the
// generator seeded with seed. Distinct (seed, st, i, sub) give unrelated
// streams.
func newRNG(seed, st uint64, i int, sub uint64) rng {
	hi := mix(seed ^ mix(st*0x9e3779b97f4a7c15+sub))
	lo := mix(uint64(i) ^ mix(hi+sub*0xd1b54a32d192ed03))
	var r rng
	r.pcg.Seed(hi, lo)
	return r
}

func (r *rng) u64() uint64 { return r.pcg.Uint64() }

// intn returns a number in [0, n), n > 0 (Lemire's multiply-shift; the bias
// is below n/2⁶⁴).
func (r *rng) intn(n int) int {
	hi, _ := bits.Mul64(r.u64(), uint64(n))
	return int(hi)
}

// between returns a number in [lo, hi].
func (r *rng) between(lo, hi int) int { return lo + r.intn(hi-lo+1) }

// float returns a number in [0, 1).
func (r *rng) float() float64 { return float64(r.u64()>>11) / (1 << 53) }

// chance reports true with probability p.
func (r *rng) chance(p float64) bool { return r.float() < p }

// norm returns a standard normal number (Box-Muller).
func (r *rng) norm() float64 {
	u := 1 - r.float() // in (0, 1]
	v := r.float()
	return math.Sqrt(-2*math.Log(u)) * math.Cos(2*math.Pi*v)
}

// lognormal returns a number whose median is median and whose logarithm
// has standard deviation sigma.
func (r *rng) lognormal(median, sigma float64) float64 {
	return median * math.Exp(sigma*r.norm())
}

// fill fills b with random bytes.
func (r *rng) fill(b []byte) {
	for len(b) >= 8 {
		binary.LittleEndian.PutUint64(b, r.u64())
		b = b[8:]
	}
	if len(b) > 0 {
		v := r.u64()
		for i := range b {
			b[i] = byte(v >> (8 * i))
		}
	}
}

func pick[T any](r *rng, xs []T) T { return xs[r.intn(len(xs))] }

// Rare features are spread evenly over the stream rather than at random:
// message i has feature k when frac(i·αₖ + cₖ) < rate, where αₖ is the
// fractional part of the square root of a prime (badly approximable, so the
// sequence has low discrepancy) and cₖ comes from the seed. Any n
// consecutive messages then hold about n·rate of them, give or take two or
// three: an account of a few thousand messages does have its few large
// messages, duplicates, long lines and bare CRs.
var alphas = [...]uint64{
	evenLarge:    0x6a09e667f3bcc908, // √2
	evenDup:      0xbb67ae8584caa73b, // √3
	evenLongLine: 0x3c6ef372fe94f82b, // √5
	evenBareCR:   0xa54ff53a5f1d36f1, // √7
	evenNoMsgID:  0x510e527fade682d1, // √11
}

const (
	evenLarge = iota
	evenDup
	evenLongLine
	evenBareCR
	evenNoMsgID
)

// even reports whether message i of stream st has the evenly spread
// feature k, of which a share rate of messages have.
func (g *Generator) even(k int, st uint64, i int, rate float64) bool {
	x := uint64(i)*alphas[k] + mix(g.seed^mix(st+uint64(k+1)*0x9e3779b97f4a7c15))
	return float64(x>>11)/(1<<53) < rate
}
