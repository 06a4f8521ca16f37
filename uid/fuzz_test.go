package uid

import (
	"errors"
	"strconv"
	"strings"
	"testing"
)

// FuzzParseSet checks that ParseSet never panics, that what it rejects is
// a *SyntaxError quoting the input, and that what it accepts formats to a
// canonical string that parses back to the same set. The seed corpus is in
// testdata/fuzz/FuzzParseSet.
func FuzzParseSet(f *testing.F) {
	for _, s := range []string{"1", "1:4,7,9:*", "5:3", "*", "1:*", "0", "1,,2", ":", "4294967296", "01", " 1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		set, err := ParseSet(in)
		if err != nil {
			var se *SyntaxError
			if !errors.As(err, &se) || se.Input != in {
				t.Fatalf("ParseSet(%q): error %v is not a SyntaxError for the input", in, err)
			}
			if !strings.Contains(err.Error(), strconv.Quote(in)) {
				t.Fatalf("ParseSet(%q): error %q does not quote the input", in, err)
			}
			if set != nil {
				t.Fatalf("ParseSet(%q) = %v with an error", in, set)
			}
			return
		}
		if set.IsEmpty() {
			t.Fatalf("ParseSet(%q) accepted an empty set", in)
		}
		checkCanonical(t, "ParseSet("+strconv.Quote(in)+")", set)
		text := set.String()
		back, err := ParseSet(text)
		if err != nil {
			t.Fatalf("ParseSet(%q) = %v, whose String %q does not parse: %v", in, set, text, err)
		}
		if !back.Equal(set) {
			t.Fatalf("ParseSet(%q) = %v; ParseSet(%q) = %v", in, set, text, back)
		}
		if again := back.String(); again != text {
			t.Fatalf("String not canonical: %q then %q", text, again)
		}
		// Every UID the input names is in the set.
		for part := range strings.SplitSeq(in, ",") {
			lo, hi, _ := strings.Cut(part, ":")
			for _, b := range []string{lo, hi} {
				if b == "" {
					continue
				}
				u := Max
				if b != "*" {
					n, err := Parse(b)
					if err != nil {
						t.Fatalf("ParseSet(%q) accepted bound %q that Parse rejects: %v", in, b, err)
					}
					u = n
				}
				if !set.Contains(u) {
					t.Fatalf("ParseSet(%q) = %v lacks its bound %d", in, set, u)
				}
			}
		}
	})
}
