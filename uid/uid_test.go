package uid

import (
	"errors"
	"strconv"
	"strings"
	"testing"
)

// checkSyntaxError fails unless err is a *SyntaxError for input whose
// message quotes input.
func checkSyntaxError(t *testing.T, call, input string, err error) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s(%q): no error", call, input)
	}
	var se *SyntaxError
	if !errors.As(err, &se) {
		t.Fatalf("%s(%q): error %v (%T) is not a *SyntaxError", call, input, err, err)
	}
	if se.Input != input {
		t.Errorf("%s(%q): SyntaxError.Input = %q", call, input, se.Input)
	}
	if !strings.Contains(err.Error(), strconv.Quote(input)) {
		t.Errorf("%s(%q): error %q does not quote the input", call, input, err)
	}
	if !strings.HasPrefix(err.Error(), "uid: ") {
		t.Errorf("%s(%q): error %q lacks the package prefix", call, input, err)
	}
}

func TestParse(t *testing.T) {
	tests := []struct {
		in   string
		want UID
	}{
		{"1", 1},
		{"9", 9},
		{"10", 10},
		{"42", 42},
		{"4294967294", Max - 1},
		{"4294967295", Max},
	}
	for _, tc := range tests {
		got, err := Parse(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("Parse(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
		v, err := ParseValidity(tc.in)
		if err != nil || v != Validity(tc.want) {
			t.Errorf("ParseValidity(%q) = %v, %v; want %v", tc.in, v, err, tc.want)
		}
		if s := got.String(); s != tc.in {
			t.Errorf("UID(%d).String() = %q, want %q", got, s, tc.in)
		}
		if s := v.String(); s != tc.in {
			t.Errorf("Validity(%d).String() = %q, want %q", v, s, tc.in)
		}
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		in  string
		msg string // part of the message
	}{
		{"", "empty"},
		{"0", "zero"},
		{"00", "leading zero"},
		{"01", "leading zero"},
		{"007", "leading zero"},
		{"4294967296", "out of range"},
		{"99999999999999999999999", "out of range"},
		{"-1", "not a number"},
		{"+1", "not a number"},
		{" 1", "not a number"},
		{"1 ", "not a number"},
		{"1\n", "not a number"},
		{"1.0", "not a number"},
		{"1e3", "not a number"},
		{"0x10", "not a number"},
		{"abc", "not a number"},
		{"*", "not a number"},
		{"1:2", "not a number"},
		{"١", "not a number"}, // ARABIC-INDIC DIGIT ONE
		{"１", "not a number"}, // FULLWIDTH DIGIT ONE
		{"\x00", "not a number"},
	}
	for _, tc := range tests {
		for _, p := range []struct {
			name  string
			parse func(string) error
		}{
			{"Parse", func(s string) error { _, err := Parse(s); return err }},
			{"ParseValidity", func(s string) error { _, err := ParseValidity(s); return err }},
		} {
			err := p.parse(tc.in)
			checkSyntaxError(t, p.name, tc.in, err)
			if err != nil && !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("%s(%q) = %q, want it to say %q", p.name, tc.in, err, tc.msg)
			}
		}
	}
}

func TestSyntaxErrorText(t *testing.T) {
	err := &SyntaxError{Input: `1,"x`, Msg: "bad"}
	if got, want := err.Error(), `uid: invalid "1,\"x": bad`; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}
