package mailbox

import (
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"
)

func TestParseFlag(t *testing.T) {
	tests := []struct {
		in   string
		want Flag
		kind string // system, keyword, private
	}{
		{`\Seen`, Seen, "system"},
		{`\seen`, Seen, "system"},
		{`\SEEN`, Seen, "system"},
		{`\answered`, Answered, "system"},
		{`\FLAGGED`, Flagged, "system"},
		{`\dElEtEd`, Deleted, "system"},
		{`\draft`, Draft, "system"},
		{`$Forwarded`, `$Forwarded`, "keyword"},
		{`$forwarded`, `$forwarded`, "keyword"},
		{`$MDNSent`, `$MDNSent`, "keyword"},
		{`$Junk`, `$Junk`, "keyword"},
		{`Work`, `Work`, "keyword"},
		{`a`, `a`, "keyword"},
		{`NonJunk`, `NonJunk`, "keyword"},
		{`x-y.z_1+2!#&'~;<>=?@[^|}`, `x-y.z_1+2!#&'~;<>=?@[^|}`, "keyword"},
		{`%Passed`, Passed, "private"},
		{`%passed`, `%passed`, "private"},
		{`%X`, `%X`, "private"},
		{`%$weird`, `%$weird`, "private"},
	}
	for _, tc := range tests {
		got, err := ParseFlag(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParseFlag(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
			continue
		}
		kinds := map[string]bool{"system": got.IsSystem(), "keyword": got.IsKeyword(), "private": got.IsPrivate()}
		for k, v := range kinds {
			if v != (k == tc.kind) {
				t.Errorf("%q: Is%s = %v, want %v", got, k, v, k == tc.kind)
			}
		}
	}
	if Flag("").IsKeyword() || Flag("").IsSystem() || Flag("").IsPrivate() {
		t.Error("the empty flag has a kind")
	}
}

func TestParseFlagErrors(t *testing.T) {
	tests := []struct {
		in  string
		msg string
	}{
		{"", "empty"},
		{`\Recent`, "session state"},
		{`\recent`, "session state"},
		{`\Foo`, "not a system flag"},
		{`\`, "not a system flag"},
		{`\*`, "not a system flag"},
		{`\Seen2`, "not a system flag"},
		{`\ Seen`, "not a system flag"},
		{`%`, "private flag"},
		{`%%`, "private flag"},
		{`%a b`, "private flag"},
		{`%\Seen`, "private flag"},
		{`%é`, "private flag"},
		{"a b", "atom"},
		{"a(", "atom"},
		{"a)", "atom"},
		{"{3}", "atom"},
		{"a*", "atom"},
		{"a%", "atom"},
		{`a"b`, "atom"},
		{`a\b`, "atom"},
		{"a]", "atom"},
		{"a\x00", "atom"},
		{"a\x7f", "atom"},
		{"a\tb", "atom"},
		{"Été", "atom"},
		{"a\xff", "atom"},
	}
	for _, tc := range tests {
		got, err := ParseFlag(tc.in)
		if err == nil {
			t.Errorf("ParseFlag(%q) = %q, want an error", tc.in, got)
			continue
		}
		if !errors.Is(err, ErrInvalidFlag) {
			t.Errorf("ParseFlag(%q) = %v, not ErrInvalidFlag", tc.in, err)
		}
		if !strings.Contains(err.Error(), strconv.Quote(tc.in)) || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("ParseFlag(%q) = %q, want it to quote the input and say %q", tc.in, err, tc.msg)
		}
		if got != "" {
			t.Errorf("ParseFlag(%q) = %q with an error", tc.in, got)
		}
	}
}

func TestNewFlags(t *testing.T) {
	tests := []struct {
		name  string
		in    []Flag
		want  string
		count int
	}{
		{"none", nil, "", 0},
		{"canonical order", []Flag{Seen, "Work", Answered, Passed, "$Forwarded"}, `$Forwarded %Passed \Answered \Seen Work`, 5},
		{"system flags canonicalised", []Flag{`\seen`, `\SEEN`, `\Seen`}, `\Seen`, 1},
		{"first keyword spelling kept", []Flag{"Work", "WORK", "work"}, "Work", 1},
		{"first keyword spelling kept, reversed", []Flag{"work", "Work"}, "work", 1},
		{"private flags too", []Flag{"%passed", Passed}, "%passed", 1},
		{"keyword order ignores case", []Flag{"b", "A", "c"}, "A b c", 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := slices.Clone(tc.in)
			f, err := NewFlags(tc.in...)
			if err != nil {
				t.Fatal(err)
			}
			if f.String() != tc.want || f.Len() != tc.count || f.IsEmpty() != (tc.count == 0) {
				t.Errorf("NewFlags(%q) = %q (%d), want %q (%d)", tc.in, f, f.Len(), tc.want, tc.count)
			}
			if !slices.Equal(in, tc.in) {
				t.Errorf("NewFlags changed its argument to %q", tc.in)
			}
			if m := MustFlags(tc.in...); !m.Equal(f) || m.String() != f.String() {
				t.Errorf("MustFlags(%q) = %q", tc.in, m)
			}
		})
	}
	if _, err := NewFlags(Seen, `\Recent`); !errors.Is(err, ErrInvalidFlag) {
		t.Errorf(`NewFlags(\Seen, \Recent) = %v, want ErrInvalidFlag`, err)
	}
}

func TestMustFlagsPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("MustFlags(`\\Foo`) did not panic")
		}
	}()
	MustFlags(`\Foo`)
}

func TestFlagsQueries(t *testing.T) {
	f := MustFlags(Seen, "Work", Passed)
	for _, x := range []Flag{Seen, `\seen`, `\SEEN`, "work", "WORK", Passed, "%PASSED"} {
		if !f.Has(x) {
			t.Errorf("%q.Has(%q) = false", f, x)
		}
	}
	for _, x := range []Flag{Answered, "Work2", "Passed", "", "%Seen"} {
		if f.Has(x) {
			t.Errorf("%q.Has(%q) = true", f, x)
		}
	}
	want := []Flag{Passed, Seen, "Work"}
	if got := slices.Collect(f.All()); !slices.Equal(got, want) {
		t.Errorf("All() = %q, want %q", got, want)
	}
	list := f.List()
	if !slices.Equal(list, want) {
		t.Errorf("List() = %q, want %q", list, want)
	}
	list[0] = "changed"
	if !f.Has(Passed) || f.Has("changed") {
		t.Error("List() shares its slice with the set")
	}
	var zero Flags
	if !zero.IsEmpty() || zero.Len() != 0 || zero.Has(Seen) || zero.String() != "" || len(zero.List()) != 0 {
		t.Error("the zero Flags is not empty")
	}
}

func TestFlagsAlgebra(t *testing.T) {
	tests := []struct {
		f, g                   string
		union, minus, intersec string
	}{
		{"", "", "", "", ""},
		{`\Seen`, "", `\Seen`, `\Seen`, ""},
		{"", `\Seen`, `\Seen`, "", ""},
		{`\Seen Work`, `\Seen`, `\Seen Work`, "Work", `\Seen`},
		{`\Seen Work`, `work \Flagged`, `\Flagged \Seen Work`, `\Seen`, "Work"},
		{`work \Flagged`, `\Seen Work`, `\Flagged \Seen work`, `\Flagged`, "work"},
		{`%Passed $Junk`, `%passed $junk`, `$Junk %Passed`, "", `$Junk %Passed`},
		{`a b c`, `d e`, `a b c d e`, `a b c`, ""},
	}
	for _, tc := range tests {
		f, g := mustParseFlags(t, tc.f), mustParseFlags(t, tc.g)
		fs, gs := f.String(), g.String()
		if got := f.Union(g); got.String() != tc.union {
			t.Errorf("%q ∪ %q = %q, want %q", tc.f, tc.g, got, tc.union)
		}
		if got := f.Minus(g); got.String() != tc.minus {
			t.Errorf("%q − %q = %q, want %q", tc.f, tc.g, got, tc.minus)
		}
		if got := f.Intersect(g); got.String() != tc.intersec {
			t.Errorf("%q ∩ %q = %q, want %q", tc.f, tc.g, got, tc.intersec)
		}
		if got := FlagsAdd.Apply(f, g); got.String() != tc.union {
			t.Errorf("+FLAGS.Apply(%q, %q) = %q, want %q", tc.f, tc.g, got, tc.union)
		}
		if got := FlagsRemove.Apply(f, g); got.String() != tc.minus {
			t.Errorf("-FLAGS.Apply(%q, %q) = %q, want %q", tc.f, tc.g, got, tc.minus)
		}
		if got := FlagsReplace.Apply(f, g); got.String() != g.String() {
			t.Errorf("FLAGS.Apply(%q, %q) = %q, want %q", tc.f, tc.g, got, g)
		}
		if f.String() != fs || g.String() != gs {
			t.Errorf("operands changed: %q, %q", f, g)
		}
	}
}

// A set built by Minus, Intersect or Filter must not share its list with
// the operand, and appending through Union must not change either.
func TestFlagsDoNotAlias(t *testing.T) {
	f := MustFlags("a", "b", "c", "d")
	g := f.Minus(MustFlags("z"))
	h := f.Intersect(MustFlags("a", "b", "c", "d"))
	k := f.Filter(func(Flag) bool { return true })
	for _, x := range []Flags{g, h, k} {
		if len(x.list) > 0 && len(f.list) > 0 && &x.list[0] == &f.list[0] {
			t.Fatal("result shares its backing array with the operand")
		}
	}
	u1 := g.Union(MustFlags("e"))
	u2 := g.Union(MustFlags("f"))
	if u1.String() != "a b c d e" || u2.String() != "a b c d f" || g.String() != "a b c d" {
		t.Errorf("unions of one set: %q, %q; operand %q", u1, u2, g)
	}
}

func TestFlagsWithWithout(t *testing.T) {
	f := MustFlags(Seen)
	g := f.With(`\flagged`, "Work", "work")
	if g.String() != `\Flagged \Seen Work` {
		t.Errorf("With = %q", g)
	}
	if f.String() != `\Seen` {
		t.Errorf("With changed its receiver to %q", f)
	}
	if h := g.Without(`\SEEN`, "WORK", "absent", `\Recent`); h.String() != `\Flagged` {
		t.Errorf("Without = %q", h)
	}
	if h := g.Without(); !h.Equal(g) {
		t.Errorf("Without() = %q", h)
	}
	args := []Flag{"work", `\seen`}
	g.Without(args...)
	if !slices.Equal(args, []Flag{"work", `\seen`}) {
		t.Errorf("Without reordered its argument: %q", args)
	}
	defer func() {
		if recover() == nil {
			t.Error(`With(\Recent) did not panic`)
		}
	}()
	f.With(`\Recent`)
}

func TestFlagsEqualFilter(t *testing.T) {
	a := MustFlags(Seen, "Work")
	b := MustFlags("WORK", `\seen`)
	if !a.Equal(b) || !b.Equal(a) {
		t.Errorf("%q and %q differ", a, b)
	}
	if a.Equal(MustFlags(Seen)) || a.Equal(Flags{}) || a.Equal(MustFlags(Seen, "Play")) {
		t.Error("different sets equal")
	}
	if !(Flags{}).Equal(MustFlags()) {
		t.Error("empty sets differ")
	}
	all := MustFlags(Seen, Answered, "Work", "$Junk", Passed)
	if got := all.Filter(Flag.IsSystem).String(); got != `\Answered \Seen` {
		t.Errorf("Filter(IsSystem) = %q", got)
	}
	if got := all.Filter(Flag.IsKeyword).String(); got != "$Junk Work" {
		t.Errorf("Filter(IsKeyword) = %q", got)
	}
	if got := all.Filter(Flag.IsPrivate).String(); got != "%Passed" {
		t.Errorf("Filter(IsPrivate) = %q", got)
	}
	if got := all.Filter(func(Flag) bool { return false }); !got.IsEmpty() {
		t.Errorf("Filter(none) = %q", got)
	}
}

func mustParseFlags(t *testing.T, s string) Flags {
	t.Helper()
	f, err := ParseFlags(s)
	if err != nil {
		t.Fatalf("ParseFlags(%q): %v", s, err)
	}
	return f
}

func TestParseFlags(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"", ""},
		{"()", ""},
		{"( )", ""},
		{"   ", ""},
		{`\Seen`, `\Seen`},
		{`(\Seen)`, `\Seen`},
		{`(\Seen $Forwarded)`, `$Forwarded \Seen`},
		{`\Seen $Forwarded`, `$Forwarded \Seen`},
		{"  ( \\seen   work\t)  ", `\Seen work`},
		{"\\seen\twork\nWORK", `\Seen work`},
		{`%Passed \Draft`, `%Passed \Draft`},
	}
	for _, tc := range tests {
		f, err := ParseFlags(tc.in)
		if err != nil || f.String() != tc.want {
			t.Errorf("ParseFlags(%q) = %q, %v; want %q", tc.in, f, err, tc.want)
		}
	}
	for _, in := range []string{"(", ")", `(\Seen`, `\Seen)`, "((a))", `(\Recent)`, `\Seen \Foo`, "a b{", "(a) (b)"} {
		f, err := ParseFlags(in)
		if !errors.Is(err, ErrInvalidFlag) {
			t.Errorf("ParseFlags(%q) = %q, %v; want ErrInvalidFlag", in, f, err)
		}
	}
}

func TestFlagsText(t *testing.T) {
	f := MustFlags(Seen, "Work", Passed)
	b, err := f.MarshalText()
	if err != nil || string(b) != `%Passed \Seen Work` {
		t.Fatalf("MarshalText = %q, %v", b, err)
	}
	var g Flags
	if err := g.UnmarshalText(b); err != nil || !g.Equal(f) {
		t.Fatalf("UnmarshalText(%q) = %q, %v", b, g, err)
	}
	if err := g.UnmarshalText([]byte(`\Recent`)); !errors.Is(err, ErrInvalidFlag) {
		t.Errorf(`UnmarshalText(\Recent) = %v`, err)
	}
	if !g.Equal(f) {
		t.Errorf("a failed UnmarshalText changed the value to %q", g)
	}

	// Through encoding/json, as a state file would store them.
	type rec struct{ Flags Flags }
	j, err := json.Marshal(rec{f})
	if err != nil || string(j) != `{"Flags":"%Passed \\Seen Work"}` {
		t.Fatalf("json.Marshal = %s, %v", j, err)
	}
	var r rec
	if err := json.Unmarshal(j, &r); err != nil || !r.Flags.Equal(f) {
		t.Fatalf("json.Unmarshal(%s) = %q, %v", j, r.Flags, err)
	}
}

func TestFlagOp(t *testing.T) {
	tests := []struct {
		op   FlagOp
		want string
	}{
		{FlagsAdd, "+FLAGS"},
		{FlagsRemove, "-FLAGS"},
		{FlagsReplace, "FLAGS"},
		{FlagOp(7), "FlagOp(7)"},
	}
	for _, tc := range tests {
		if got := tc.op.String(); got != tc.want {
			t.Errorf("FlagOp(%d).String() = %q, want %q", int(tc.op), got, tc.want)
		}
	}
}

// FuzzParseFlags checks that ParseFlags never panics, that its errors wrap
// ErrInvalidFlag, and that the canonical text of what it accepts parses
// back to the same set and the same text.
func FuzzParseFlags(f *testing.F) {
	for _, s := range []string{`(\Seen $Forwarded)`, `\seen Work work`, "%Passed", `\Recent`, "(", "a{b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		flags, err := ParseFlags(in)
		if err != nil {
			if !errors.Is(err, ErrInvalidFlag) {
				t.Fatalf("ParseFlags(%q) = %v, not ErrInvalidFlag", in, err)
			}
			return
		}
		text := flags.String()
		back, err := ParseFlags(text)
		if err != nil {
			t.Fatalf("ParseFlags(%q) = %q, which does not parse: %v", in, text, err)
		}
		if !back.Equal(flags) || back.String() != text {
			t.Fatalf("ParseFlags(%q) = %q; again: %q", in, text, back)
		}
		if paren, err := ParseFlags("(" + text + ")"); err != nil || paren.String() != text {
			t.Fatalf("ParseFlags((%s)) = %q, %v", text, paren, err)
		}
		prev := ""
		for x := range flags.All() {
			if c, err := ParseFlag(string(x)); err != nil || c != x {
				t.Fatalf("flag %q of %q: ParseFlag = %q, %v", x, in, c, err)
			}
			if k := strings.ToLower(string(x)); k <= prev {
				t.Fatalf("ParseFlags(%q) = %q: not sorted and unique", in, text)
			} else {
				prev = k
			}
			if !flags.Has(x) {
				t.Fatalf("ParseFlags(%q) = %q lacks %q", in, text, x)
			}
		}
	})
}

// RFC 9051 §9: a flag is "\" and an atom, and atoms are ASCII. Unicode case
// folding must not turn another spelling into a system flag ("ſ", U+017F
// LATIN SMALL LETTER LONG S, folds to "s").
func TestParseFlagASCIIOnly(t *testing.T) {
	for _, in := range []string{`\ſeen`, `\Anſwered`, `\Seen` + "\u200b", `\Recent` + "\u0301"} {
		if got, err := ParseFlag(in); !errors.Is(err, ErrInvalidFlag) {
			t.Errorf("ParseFlag(%q) = %q, %v; want ErrInvalidFlag", in, got, err)
		}
	}
	if _, err := NewFlags(`\ſeen`); !errors.Is(err, ErrInvalidFlag) {
		t.Errorf("NewFlags(`\\ſeen`) = %v, want ErrInvalidFlag", err)
	}
}
