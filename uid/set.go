package uid

import (
	"iter"
	"slices"
	"strconv"
	"strings"
)

// Range is the closed interval of UIDs from Start to Stop, Start <= Stop.
// A Stop of [Max] is written "*": in a UID set "*" stands for the largest
// UID in use, and every UID a mailbox can hold is at most Max.
type Range struct {
	Start, Stop UID
}

// Contains reports whether u lies in r.
func (r Range) Contains(u UID) bool { return r.Start <= u && u <= r.Stop }

// Len is the number of UIDs in r.
func (r Range) Len() uint64 { return uint64(r.Stop) - uint64(r.Start) + 1 }

func (r Range) String() string {
	var b strings.Builder
	r.appendTo(&b)
	return b.String()
}

func (r Range) appendTo(b *strings.Builder) {
	b.WriteString(formatBound(r.Start))
	if r.Start != r.Stop {
		b.WriteByte(':')
		b.WriteString(formatBound(r.Stop))
	}
}

func formatBound(u UID) string {
	if u == Max {
		return "*"
	}
	return strconv.FormatUint(uint64(u), 10)
}

// Set is a set of UIDs held as sorted, disjoint, non-adjacent ranges: the
// canonical form. The zero value (nil) is the empty set. Sets are values:
// operations return new sets and never change their operands.
//
// Build sets with [NewSet], [SetOf], [Parse] or [Set.Add]; a Set literal
// that is not canonical gives undefined results.
type Set []Range

// All is the set of every UID, "1:*".
var All = Set{{1, Max}}

// NewSet returns the set of the given ranges, in any order, overlapping or
// not. Ranges with Start > Stop are taken as Stop:Start; zero bounds are
// raised to 1.
func NewSet(ranges ...Range) Set {
	if len(ranges) == 0 {
		return nil
	}
	rs := make([]Range, 0, len(ranges))
	for _, r := range ranges {
		if r.Start > r.Stop {
			r.Start, r.Stop = r.Stop, r.Start
		}
		if r.Stop == 0 {
			continue
		}
		if r.Start == 0 {
			r.Start = 1
		}
		rs = append(rs, r)
	}
	return normalize(rs)
}

// SetOf returns the set of the given UIDs. Zero is ignored.
func SetOf(uids ...UID) Set {
	rs := make([]Range, 0, len(uids))
	for _, u := range uids {
		if u != 0 {
			rs = append(rs, Range{u, u})
		}
	}
	return normalize(rs)
}

// normalize sorts and merges rs in place and returns the canonical set.
func normalize(rs []Range) Set {
	if len(rs) == 0 {
		return nil
	}
	slices.SortFunc(rs, func(a, b Range) int {
		switch {
		case a.Start < b.Start:
			return -1
		case a.Start > b.Start:
			return 1
		}
		return 0
	})
	out := rs[:1]
	for _, r := range rs[1:] {
		last := &out[len(out)-1]
		if uint64(r.Start) <= uint64(last.Stop)+1 {
			last.Stop = max(last.Stop, r.Stop)
			continue
		}
		out = append(out, r)
	}
	return Set(slices.Clip(out))
}

// ParseSet parses an IMAP sequence-set of UIDs (RFC 9051 §9):
// comma-separated numbers and ranges "a:b" in any order, "*" for the largest
// UID. The result is canonical. Empty input, empty parts, zero, numbers
// above 2^32-1 and any other character are errors that quote the input.
func ParseSet(s string) (Set, error) {
	if s == "" {
		return nil, &SyntaxError{Input: s, Msg: "empty set"}
	}
	parts := strings.Split(s, ",")
	rs := make([]Range, 0, len(parts))
	for i, p := range parts {
		if p == "" {
			return nil, &SyntaxError{Input: s, Msg: "empty element " + strconv.Itoa(i+1)}
		}
		lo, hi, isRange := strings.Cut(p, ":")
		a, err := parseBound(s, lo)
		if err != nil {
			return nil, err
		}
		b := a
		if isRange {
			if b, err = parseBound(s, hi); err != nil {
				return nil, err
			}
		}
		rs = append(rs, Range{min(a, b), max(a, b)})
	}
	return normalize(rs), nil
}

func parseBound(input, s string) (UID, error) {
	if s == "*" {
		return Max, nil
	}
	n, err := parseNumber(s)
	if err != nil {
		msg := err.(*SyntaxError).Msg
		if s != "" {
			msg += " in " + strconv.Quote(s)
		}
		return 0, &SyntaxError{Input: input, Msg: msg}
	}
	return UID(n), nil
}

// MustParseSet is [ParseSet] for constants in tests and examples; it
// panics on error.
func MustParseSet(s string) Set {
	set, err := ParseSet(s)
	if err != nil {
		panic(err)
	}
	return set
}

// String formats s in canonical sequence-set syntax ("1:4,7,9:*"); the
// empty set formats as "".
func (s Set) String() string {
	var b strings.Builder
	for i, r := range s {
		if i > 0 {
			b.WriteByte(',')
		}
		r.appendTo(&b)
	}
	return b.String()
}

// IsEmpty reports whether s holds no UID.
func (s Set) IsEmpty() bool { return len(s) == 0 }

// Len is the number of UIDs in s.
func (s Set) Len() uint64 {
	var n uint64
	for _, r := range s {
		n += r.Len()
	}
	return n
}

// Min is the smallest UID in s, or 0 when s is empty.
func (s Set) Min() UID {
	if len(s) == 0 {
		return 0
	}
	return s[0].Start
}

// Max is the largest UID in s, or 0 when s is empty.
func (s Set) Max() UID {
	if len(s) == 0 {
		return 0
	}
	return s[len(s)-1].Stop
}

// Contains reports whether u is in s.
func (s Set) Contains(u UID) bool {
	_, found := slices.BinarySearchFunc(s, u, func(r Range, u UID) int {
		switch {
		case r.Stop < u:
			return -1
		case r.Start > u:
			return 1
		}
		return 0
	})
	return found
}

// Add returns s with u added.
func (s Set) Add(u UID) Set { return s.Union(SetOf(u)) }

// AddRange returns s with the UIDs from lo to hi added.
func (s Set) AddRange(lo, hi UID) Set { return s.Union(NewSet(Range{lo, hi})) }

// Union returns the UIDs in s or t.
func (s Set) Union(t Set) Set {
	if len(t) == 0 {
		return slices.Clone(s)
	}
	if len(s) == 0 {
		return slices.Clone(t)
	}
	// Fast path for the common append of a higher UID.
	if len(t) == 1 && uint64(t[0].Start) > uint64(s[len(s)-1].Stop)+1 {
		return append(slices.Clip(s), t[0])
	}
	rs := make([]Range, 0, len(s)+len(t))
	rs = append(append(rs, s...), t...)
	return normalize(rs)
}

// Intersect returns the UIDs in both s and t.
func (s Set) Intersect(t Set) Set {
	var out []Range
	i, j := 0, 0
	for i < len(s) && j < len(t) {
		lo := max(s[i].Start, t[j].Start)
		hi := min(s[i].Stop, t[j].Stop)
		if lo <= hi {
			out = append(out, Range{lo, hi})
		}
		if s[i].Stop < t[j].Stop {
			i++
		} else {
			j++
		}
	}
	return Set(out)
}

// Difference returns the UIDs in s but not in t.
func (s Set) Difference(t Set) Set {
	var out []Range
	j := 0
	for _, r := range s {
		start := r.Start
		for j < len(t) && t[j].Stop < start {
			j++
		}
		k := j
		done := false
		for k < len(t) && t[k].Start <= r.Stop {
			if t[k].Start > start {
				out = append(out, Range{start, t[k].Start - 1})
			}
			if t[k].Stop >= r.Stop {
				done = true
				break
			}
			start = t[k].Stop + 1
			k++
		}
		if !done {
			out = append(out, Range{start, r.Stop})
		}
	}
	return Set(out)
}

// Equal reports whether s and t hold the same UIDs.
func (s Set) Equal(t Set) bool { return slices.Equal(s, t) }

// All yields the UIDs of s in ascending order.
func (s Set) All() iter.Seq[UID] {
	return func(yield func(UID) bool) {
		for _, r := range s {
			for u := r.Start; ; u++ {
				if !yield(u) {
					return
				}
				if u == r.Stop {
					break
				}
			}
		}
	}
}

// Ranges yields the ranges of s in ascending order.
func (s Set) Ranges() iter.Seq[Range] { return slices.Values(s) }
