package ratelimit

import (
	"errors"
	"fmt"
	"math/big"
	"strings"
)

// ErrInvalidSize marks the errors of [ParseSize].
var ErrInvalidSize = errors.New("ratelimit: invalid size")

// sizeUnits maps a unit, in lower case, to its number of bytes. The SI
// units (k, M, G, T, with or without B) are powers of 1000, as in "20MB" on
// a network link; the IEC units (KiB, MiB, GiB, TiB) are powers of 1024.
var sizeUnits = map[string]int64{
	"": 1, "b": 1,
	"k": 1e3, "kb": 1e3, "kib": 1 << 10,
	"m": 1e6, "mb": 1e6, "mib": 1 << 20,
	"g": 1e9, "gb": 1e9, "gib": 1 << 30,
	"t": 1e12, "tb": 1e12, "tib": 1 << 40,
}

// ParseSize parses a byte size such as "20MB", "1.5GiB", "512k" or "4096":
// a decimal number, optionally with a fraction, then optionally spaces and a
// unit, case-insensitive: B; k, M, G, T and kB, MB, GB, TB (powers of
// 1000); KiB, MiB, GiB, TiB (powers of 1024). The result must be a whole
// number of bytes from 0 to 2^63-1. Errors wrap [ErrInvalidSize] and quote
// the input.
func ParseSize(s string) (int64, error) {
	fail := func(msg string) (int64, error) {
		return 0, fmt.Errorf("%w %q: %s", ErrInvalidSize, s, msg)
	}
	t := strings.TrimSpace(s)
	i := 0
	for i < len(t) && (t[i] >= '0' && t[i] <= '9' || t[i] == '.') {
		i++
	}
	num, unit := t[:i], strings.TrimLeft(t[i:], " \t")
	if num == "" {
		if t == "" {
			return fail("empty")
		}
		return fail("not a number followed by a unit")
	}
	intPart, frac, hasDot := strings.Cut(num, ".")
	if intPart == "" || hasDot && frac == "" || strings.Contains(frac, ".") {
		return fail("malformed number")
	}
	mult, ok := sizeUnits[strings.ToLower(unit)]
	if !ok {
		return fail(fmt.Sprintf("unknown unit %q (want B, k, kB, KiB, M, MB, MiB, G, GB, GiB, T, TB or TiB)", unit))
	}
	// A long run of digits cannot be a size; refuse it before the
	// arithmetic (2^63 has 19 digits; leave room for leading zeros and
	// fractions that a unit makes whole).
	if len(num) > 64 {
		return fail("number too long")
	}
	r, ok := new(big.Rat).SetString(num)
	if !ok {
		return fail("malformed number")
	}
	r.Mul(r, new(big.Rat).SetInt64(mult))
	if !r.IsInt() {
		return fail("not a whole number of bytes")
	}
	n := r.Num()
	if !n.IsInt64() {
		return fail("too large (max 2^63-1 bytes)")
	}
	return n.Int64(), nil
}
