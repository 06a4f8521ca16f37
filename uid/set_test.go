package uid

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

// checkCanonical fails unless s is canonical: ranges non-empty, bounds
// non-zero, sorted, disjoint and not adjacent.
func checkCanonical(t testing.TB, what string, s Set) {
	t.Helper()
	if s != nil && len(s) == 0 {
		t.Errorf("%s: empty but not nil: %#v", what, s)
	}
	for i, r := range s {
		if r.Start == 0 || r.Start > r.Stop {
			t.Errorf("%s: range %d is %d:%d", what, i, r.Start, r.Stop)
		}
		if i > 0 && uint64(s[i-1].Stop)+1 >= uint64(r.Start) {
			t.Errorf("%s: ranges %d and %d (%v, %v) overlap, touch or are out of order", what, i-1, i, s[i-1], r)
		}
	}
}

// RFC 9051 §9: sequence-set = (seq-number / seq-range) ["," sequence-set];
// seq-range = seq-number ":" seq-number, either order; "*" is the largest.
func TestParseSet(t *testing.T) {
	tests := []struct {
		in   string
		want Set
		str  string // canonical form
	}{
		{"1", Set{{1, 1}}, "1"},
		{"1:1", Set{{1, 1}}, "1"},
		{"1:4,7,9:*", Set{{1, 4}, {7, 7}, {9, Max}}, "1:4,7,9:*"},
		{"5:3", Set{{3, 5}}, "3:5"},
		{"*", Set{{Max, Max}}, "*"},
		{"*:*", Set{{Max, Max}}, "*"},
		{"4294967295", Set{{Max, Max}}, "*"},
		{"1:*", All, "1:*"},
		{"*:1", All, "1:*"},
		{"1:4294967295", All, "1:*"},
		{"4294967294:*", Set{{Max - 1, Max}}, "4294967294:*"},
		{"4294967294", Set{{Max - 1, Max - 1}}, "4294967294"},
		{"3,1,2", Set{{1, 3}}, "1:3"},
		{"7,7,7", Set{{7, 7}}, "7"},
		{"1,3", Set{{1, 1}, {3, 3}}, "1,3"},
		{"1:3,2:5", Set{{1, 5}}, "1:5"},
		{"1:3,4:5", Set{{1, 5}}, "1:5"},
		{"1:3,5:6", Set{{1, 3}, {5, 6}}, "1:3,5:6"},
		{"10:20,1:5,6:9", Set{{1, 20}}, "1:20"},
		{"2:4,1:10", Set{{1, 10}}, "1:10"},
		{"1:10,2:4", Set{{1, 10}}, "1:10"},
		{"20,10:15,1", Set{{1, 1}, {10, 15}, {20, 20}}, "1,10:15,20"},
		{"100:*,5", Set{{5, 5}, {100, Max}}, "5,100:*"},
		{"*,1", Set{{1, 1}, {Max, Max}}, "1,*"},
		{"4294967293,*", Set{{Max - 2, Max - 2}, {Max, Max}}, "4294967293,*"},
	}
	for _, tc := range tests {
		got, err := ParseSet(tc.in)
		if err != nil {
			t.Errorf("ParseSet(%q): %v", tc.in, err)
			continue
		}
		if !got.Equal(tc.want) {
			t.Errorf("ParseSet(%q) = %#v, want %#v", tc.in, got, tc.want)
		}
		checkCanonical(t, fmt.Sprintf("ParseSet(%q)", tc.in), got)
		if s := got.String(); s != tc.str {
			t.Errorf("ParseSet(%q).String() = %q, want %q", tc.in, s, tc.str)
		}
		again, err := ParseSet(tc.str)
		if err != nil || !again.Equal(got) {
			t.Errorf("ParseSet(%q) = %v, %v; want %v", tc.str, again, err, got)
		}
		if m := MustParseSet(tc.in); !m.Equal(got) {
			t.Errorf("MustParseSet(%q) = %v, want %v", tc.in, m, got)
		}
	}
}

func TestParseSetErrors(t *testing.T) {
	tests := []struct {
		in  string
		msg string // part of the message
	}{
		{"", "empty set"},
		{",", "empty element 1"},
		{"1,", "empty element 2"},
		{",1", "empty element 1"},
		{"1,,2", "empty element 2"},
		{":", "empty number"},
		{"1:", "empty number"},
		{":1", "empty number"},
		{"0", "zero"},
		{"0:5", "zero"},
		{"5:0", "zero"},
		{"1,0", "zero"},
		{"4294967296", `out of range (max 4294967295) in "4294967296"`},
		{"1:4294967296", "out of range"},
		{"18446744073709551617", "out of range"},
		{"01", `leading zero in "01"`},
		{"1:02", "leading zero"},
		{" 1", "not a number"},
		{"1 ", "not a number"},
		{"1, 2", `not a number in " 2"`},
		{"1 :2", "not a number"},
		{"+1", "not a number"},
		{"-1", "not a number"},
		{"1:-2", "not a number"},
		{"a", "not a number"},
		{"1:2:3", `not a number in "2:3"`},
		{"1;2", "not a number"},
		{"1.5", "not a number"},
		{"**", "not a number"},
		{"*:", "empty number"},
		{"1:3,x", "not a number"},
		{"$", "not a number"},
		{"1\x00", "not a number"},
		{"\xff", "not a number"},
	}
	for _, tc := range tests {
		got, err := ParseSet(tc.in)
		checkSyntaxError(t, "ParseSet", tc.in, err)
		if got != nil {
			t.Errorf("ParseSet(%q) = %v with the error, want nil", tc.in, got)
		}
		if err != nil && !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("ParseSet(%q) error %q, want it to say %q", tc.in, err, tc.msg)
		}
	}
}

func TestMustParseSetPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("MustParseSet(\"0\") did not panic")
		}
	}()
	MustParseSet("0")
}

func TestSetString(t *testing.T) {
	tests := []struct {
		set  Set
		want string
	}{
		{nil, ""},
		{Set{}, ""},
		{Set{{1, 1}}, "1"},
		{Set{{1, 2}}, "1:2"},
		{Set{{Max, Max}}, "*"},
		{Set{{Max - 1, Max}}, "4294967294:*"},
		{All, "1:*"},
		{Set{{1, 4}, {7, 7}, {9, Max}}, "1:4,7,9:*"},
	}
	for _, tc := range tests {
		if got := tc.set.String(); got != tc.want {
			t.Errorf("%#v.String() = %q, want %q", tc.set, got, tc.want)
		}
	}
	if got := (Range{3, 9}).String(); got != "3:9" {
		t.Errorf("Range{3, 9}.String() = %q", got)
	}
	if got := (Range{Max, Max}).String(); got != "*" {
		t.Errorf("Range{Max, Max}.String() = %q", got)
	}
}

func TestNewSet(t *testing.T) {
	tests := []struct {
		name   string
		ranges []Range
		want   string
	}{
		{"none", nil, ""},
		{"one", []Range{{3, 5}}, "3:5"},
		{"reversed", []Range{{5, 3}}, "3:5"},
		{"zero start raised to 1", []Range{{0, 4}}, "1:4"},
		{"zero stop reversed", []Range{{4, 0}}, "1:4"},
		{"zero only dropped", []Range{{0, 0}}, ""},
		{"zero among others", []Range{{0, 0}, {2, 2}}, "2"},
		{"unsorted overlapping", []Range{{10, 20}, {1, 5}, {4, 12}}, "1:20"},
		{"adjacent", []Range{{1, 3}, {4, 6}}, "1:6"},
		{"disjoint", []Range{{7, 9}, {1, 3}}, "1:3,7:9"},
		{"contained", []Range{{1, 100}, {5, 6}, {50, 60}}, "1:100"},
		{"at Max", []Range{{Max, Max}, {Max - 1, Max - 1}}, "4294967294:*"},
		{"everything", []Range{{Max, 1}}, "1:*"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := slices.Clone(tc.ranges)
			got := NewSet(tc.ranges...)
			checkCanonical(t, "NewSet", got)
			if got.String() != tc.want {
				t.Errorf("NewSet(%v) = %q, want %q", tc.ranges, got, tc.want)
			}
			if !slices.Equal(in, tc.ranges) {
				t.Errorf("NewSet changed its argument: %v, was %v", tc.ranges, in)
			}
		})
	}
	if got := NewSet(); got != nil {
		t.Errorf("NewSet() = %#v, want nil", got)
	}
}

func TestSetOf(t *testing.T) {
	tests := []struct {
		uids []UID
		want string
	}{
		{nil, ""},
		{[]UID{0}, ""},
		{[]UID{1}, "1"},
		{[]UID{3, 1, 2}, "1:3"},
		{[]UID{5, 0, 5, 9}, "5,9"},
		{[]UID{Max, 1, Max - 1}, "1,4294967294:*"},
	}
	for _, tc := range tests {
		got := SetOf(tc.uids...)
		checkCanonical(t, "SetOf", got)
		if got.String() != tc.want {
			t.Errorf("SetOf(%v) = %q, want %q", tc.uids, got, tc.want)
		}
	}
}

func TestSetQueries(t *testing.T) {
	tests := []struct {
		set      string
		len      uint64
		min, max UID
		in, out  []UID
	}{
		{"", 0, 0, 0, nil, []UID{0, 1, Max}},
		{"1", 1, 1, 1, []UID{1}, []UID{0, 2, Max}},
		{"*", 1, Max, Max, []UID{Max}, []UID{0, 1, Max - 1}},
		{"1:*", uint64(Max), 1, Max, []UID{1, 2, 1 << 31, Max - 1, Max}, []UID{0}},
		{"1:4,7,9:*", uint64(Max) - 3, 1, Max, []UID{1, 4, 7, 9, 10, Max}, []UID{0, 5, 6, 8}},
		{"2:3,10,20:30", 14, 2, 30, []UID{2, 3, 10, 20, 25, 30}, []UID{0, 1, 4, 9, 11, 19, 31, Max}},
	}
	for _, tc := range tests {
		var s Set
		if tc.set != "" {
			s = MustParseSet(tc.set)
		}
		if got := s.Len(); got != tc.len {
			t.Errorf("%q.Len() = %d, want %d", tc.set, got, tc.len)
		}
		if got := s.IsEmpty(); got != (tc.len == 0) {
			t.Errorf("%q.IsEmpty() = %v", tc.set, got)
		}
		if got := s.Min(); got != tc.min {
			t.Errorf("%q.Min() = %d, want %d", tc.set, got, tc.min)
		}
		if got := s.Max(); got != tc.max {
			t.Errorf("%q.Max() = %d, want %d", tc.set, got, tc.max)
		}
		for _, u := range tc.in {
			if !s.Contains(u) {
				t.Errorf("%q.Contains(%d) = false", tc.set, u)
			}
		}
		for _, u := range tc.out {
			if s.Contains(u) {
				t.Errorf("%q.Contains(%d) = true", tc.set, u)
			}
		}
	}
	if n := (Range{Max, Max}).Len(); n != 1 {
		t.Errorf("Range{Max, Max}.Len() = %d", n)
	}
	if n := (Range{1, Max}).Len(); n != 1<<32-1 {
		t.Errorf("Range{1, Max}.Len() = %d", n)
	}
	if !(Range{3, 5}).Contains(3) || !(Range{3, 5}).Contains(5) || (Range{3, 5}).Contains(2) || (Range{3, 5}).Contains(6) {
		t.Error("Range{3, 5}.Contains is wrong at a bound")
	}
}

// parseOrNil is MustParseSet that reads "" as the empty set.
func parseOrNil(s string) Set {
	if s == "" {
		return nil
	}
	return MustParseSet(s)
}

func TestSetAlgebra(t *testing.T) {
	tests := []struct {
		a, b                string
		union, inter, diffs string // diffs: a minus b
		diffr               string // b minus a
	}{
		{"", "", "", "", "", ""},
		{"1:5", "", "1:5", "", "1:5", ""},
		{"", "1:5", "1:5", "", "", "1:5"},
		{"1:5", "1:5", "1:5", "1:5", "", ""},
		{"1:5", "6:9", "1:9", "", "1:5", "6:9"},
		{"1:5", "7:9", "1:5,7:9", "", "1:5", "7:9"},
		{"1:5", "3:9", "1:9", "3:5", "1:2", "6:9"},
		{"1:10", "3:4", "1:10", "3:4", "1:2,5:10", ""},
		{"1:10", "1", "1:10", "1", "2:10", ""},
		{"1:10", "10", "1:10", "10", "1:9", ""},
		{"1:10", "2,4,6,8", "1:10", "2,4,6,8", "1,3,5,7,9:10", ""},
		{"1,3,5", "2,4,6", "1:6", "", "1,3,5", "2,4,6"},
		{"1:3,7:9", "2:8", "1:9", "2:3,7:8", "1,9", "4:6"},
		{"1:3,7:9,20:30", "3:7,25", "1:9,20:30", "3,7,25", "1:2,8:9,20:24,26:30", "4:6"},
		{"5:10,20:25", "1:30", "1:30", "5:10,20:25", "", "1:4,11:19,26:30"},
		{"1:*", "*", "1:*", "*", "1:4294967294", ""},
		{"1:*", "1", "1:*", "1", "2:*", ""},
		{"1:*", "5:10", "1:*", "5:10", "1:4,11:*", ""},
		{"4294967290:*", "4294967293", "4294967290:*", "4294967293", "4294967290:4294967292,4294967294:*", ""},
		{"*", "4294967294", "4294967294:*", "", "*", "4294967294"},
		{"1,*", "2:4294967294", "1:*", "", "1,*", "2:4294967294"},
		{"1:3,*", "3:*", "1:*", "3,*", "1:2", "4:4294967294"},
	}
	for _, tc := range tests {
		a, b := parseOrNil(tc.a), parseOrNil(tc.b)
		ac, bc := slices.Clone(a), slices.Clone(b)
		check := func(op string, got Set, want string) {
			t.Helper()
			checkCanonical(t, fmt.Sprintf("%q %s %q", tc.a, op, tc.b), got)
			if got.String() != want {
				t.Errorf("%q %s %q = %q, want %q", tc.a, op, tc.b, got, want)
			}
		}
		check("∪", a.Union(b), tc.union)
		check("∪ reversed", b.Union(a), tc.union)
		check("∩", a.Intersect(b), tc.inter)
		check("∩ reversed", b.Intersect(a), tc.inter)
		check("∖", a.Difference(b), tc.diffs)
		check("∖ reversed", b.Difference(a), tc.diffr)
		if !a.Equal(ac) || !b.Equal(bc) {
			t.Errorf("operands changed: %v, %v; were %v, %v", a, b, ac, bc)
		}
	}
}

// A union must not share its backing array with an operand: appending to a
// result must not change the other.
func TestUnionDoesNotAlias(t *testing.T) {
	base := make(Set, 1, 8)
	base[0] = Range{1, 2}
	x := base.Union(SetOf(10))
	y := base.Union(SetOf(20))
	if x.String() != "1:2,10" || y.String() != "1:2,20" {
		t.Errorf("unions of one base: %q, %q; want \"1:2,10\", \"1:2,20\"", x, y)
	}
	if base.String() != "1:2" {
		t.Errorf("base changed to %q", base)
	}
	z := base.Union(nil)
	z[0].Stop = 5
	if base.String() != "1:2" {
		t.Errorf("s.Union(nil) aliases s: base now %q", base)
	}
	w := Set(nil).Union(base)
	w[0].Stop = 5
	if base.String() != "1:2" {
		t.Errorf("nil.Union(s) aliases s: base now %q", base)
	}
}

func TestAdd(t *testing.T) {
	var s Set
	for _, u := range []UID{5, 3, 4, 0, 10, Max, 9, 5, 1} {
		s = s.Add(u)
		checkCanonical(t, "Add", s)
	}
	if got, want := s.String(), "1,3:5,9:10,*"; got != want {
		t.Errorf("after Adds: %q, want %q", got, want)
	}
	tests := []struct {
		set    string
		lo, hi UID
		want   string
	}{
		{"", 1, 1, "1"},
		{"", 3, 1, "1:3"},
		{"", 0, 0, ""},
		{"", 0, 2, "1:2"},
		{"5", 1, 4, "1:5"},
		{"5", 7, 9, "5,7:9"},
		{"1:3,10:12", 4, 9, "1:12"},
		{"1:3", Max, Max - 5, "1:3,4294967290:*"},
		{"*", 1, Max - 1, "1:*"},
	}
	for _, tc := range tests {
		s := parseOrNil(tc.set)
		got := s.AddRange(tc.lo, tc.hi)
		checkCanonical(t, "AddRange", got)
		if got.String() != tc.want {
			t.Errorf("%q.AddRange(%d, %d) = %q, want %q", tc.set, tc.lo, tc.hi, got, tc.want)
		}
		if s.String() != tc.set {
			t.Errorf("AddRange changed its receiver to %q", s)
		}
	}
}

func TestAll(t *testing.T) {
	tests := []struct {
		set  string
		want []UID
	}{
		{"", nil},
		{"1", []UID{1}},
		{"1:3,7,9:10", []UID{1, 2, 3, 7, 9, 10}},
		{"*", []UID{Max}},
		{"4294967293:*", []UID{Max - 2, Max - 1, Max}},
		{"1,4294967294:*", []UID{1, Max - 1, Max}},
	}
	for _, tc := range tests {
		got := slices.Collect(parseOrNil(tc.set).All())
		if !slices.Equal(got, tc.want) {
			t.Errorf("%q.All() = %v, want %v", tc.set, got, tc.want)
		}
	}

	// Stopping early, also inside a range reaching Max.
	var first []UID
	for u := range All.All() {
		first = append(first, u)
		if len(first) == 3 {
			break
		}
	}
	if !slices.Equal(first, []UID{1, 2, 3}) {
		t.Errorf("first 3 of 1:* = %v", first)
	}
	var seen []UID
	for u := range MustParseSet("1:2,4294967294:*").All() {
		seen = append(seen, u)
		if u == Max-1 {
			break
		}
	}
	if !slices.Equal(seen, []UID{1, 2, Max - 1}) {
		t.Errorf("stop at Max-1: %v", seen)
	}
	// Stopping at the last element must not restart or wrap.
	n := 0
	for u := range MustParseSet("*").All() {
		n++
		if u != Max || n > 1 {
			t.Fatalf("yielded %d (call %d)", u, n)
		}
	}
}

func TestRanges(t *testing.T) {
	s := MustParseSet("1:4,7,9:*")
	got := slices.Collect(s.Ranges())
	if want := []Range{{1, 4}, {7, 7}, {9, Max}}; !slices.Equal(got, want) {
		t.Errorf("Ranges() = %v, want %v", got, want)
	}
	if got := slices.Collect(Set(nil).Ranges()); len(got) != 0 {
		t.Errorf("nil.Ranges() = %v", got)
	}
}

func TestEqual(t *testing.T) {
	if !Set(nil).Equal(Set{}) {
		t.Error("nil and empty sets differ")
	}
	if MustParseSet("1:3").Equal(MustParseSet("1:4")) {
		t.Error("1:3 equals 1:4")
	}
	if !MustParseSet("3,1:2").Equal(MustParseSet("1:3")) {
		t.Error("3,1:2 differs from 1:3")
	}
	if All.String() != "1:*" || All.Len() != uint64(Max) {
		t.Errorf("All = %q, %d UIDs", All, All.Len())
	}
}
