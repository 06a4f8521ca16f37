package ratelimit

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"testing"
)

func TestParseSize(t *testing.T) {
	tests := []struct {
		in      string
		want    int64
		wantErr string // a part of the error; "" for success
	}{
		{in: "0", want: 0},
		{in: "4096", want: 4096},
		{in: "4096B", want: 4096},
		{in: "20MB", want: 20_000_000},
		{in: "20mb", want: 20_000_000},
		{in: "20M", want: 20_000_000},
		{in: "20 MB", want: 20_000_000},
		{in: "  20MB\t", want: 20_000_000},
		{in: "512k", want: 512_000},
		{in: "512kB", want: 512_000},
		{in: "512KB", want: 512_000},
		{in: "1KiB", want: 1024},
		{in: "1kib", want: 1024},
		{in: "3MiB", want: 3 << 20},
		{in: "1.5GiB", want: 3 << 29},
		{in: "1.5GB", want: 1_500_000_000},
		{in: "2G", want: 2_000_000_000},
		{in: "2T", want: 2_000_000_000_000},
		{in: "1TiB", want: 1 << 40},
		{in: "0.5k", want: 500},
		{in: "0.001KB", want: 1},
		{in: "007MB", want: 7_000_000},
		{in: "9223372036854775807", want: math.MaxInt64},
		{in: "8388608TiB", wantErr: "too large"},
		{in: "9223372036854775808", wantErr: "too large"},
		{in: "9223372036854775807k", wantErr: "too large"},
		{in: "1.5B", wantErr: "whole number"},
		{in: "0.0001KB", wantErr: "whole number"},
		{in: "", wantErr: "empty"},
		{in: "   ", wantErr: "empty"},
		{in: "MB", wantErr: "not a number"},
		{in: "-1", wantErr: "not a number"},
		{in: "+1", wantErr: "not a number"},
		{in: "1.2.3", wantErr: "malformed"},
		{in: "1.", wantErr: "malformed"},
		{in: ".5", wantErr: "malformed"},
		{in: "20XB", wantErr: `unknown unit "XB"`},
		{in: "1e3", wantErr: `unknown unit "e3"`},
		{in: "0x10", wantErr: `unknown unit "x10"`},
		{in: "1,000", wantErr: `unknown unit ",000"`},
		{in: "20 M B", wantErr: `unknown unit "M B"`},
		{in: "20Mb/s", wantErr: "unknown unit"},
		{in: strings.Repeat("1", 65), wantErr: "too long"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseSize(tc.in)
			if tc.wantErr == "" {
				if err != nil || got != tc.want {
					t.Fatalf("ParseSize(%q) = %d, %v, want %d", tc.in, got, err, tc.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("ParseSize(%q) = %d, want an error containing %q", tc.in, got, tc.wantErr)
			}
			if !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), strconv.Quote(tc.in)) {
				t.Errorf("ParseSize(%q) error %q: want it to contain %q and quote the input", tc.in, err, tc.wantErr)
			}
			if !errors.Is(err, ErrInvalidSize) {
				t.Errorf("ParseSize(%q) error %q does not wrap ErrInvalidSize", tc.in, err)
			}
		})
	}
}

// FuzzParseSize checks that ParseSize never panics, that its errors wrap
// ErrInvalidSize and quote the input, and that what it accepts it accepts
// again the same in other spellings (plain bytes, "B", other case, spaces,
// leading zeros, every unit that divides the result).
func FuzzParseSize(f *testing.F) {
	for _, s := range []string{"20MB", "1.5GiB", "0", "512 k", "9223372036854775807", "1.5B", "-1", "1e3", "", "7tib"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseSize(s)
		if err != nil {
			if !errors.Is(err, ErrInvalidSize) || !strings.Contains(err.Error(), strconv.Quote(s)) {
				t.Fatalf("ParseSize(%q) error %q: want it to wrap ErrInvalidSize and quote the input", s, err)
			}
			return
		}
		if n < 0 {
			t.Fatalf("ParseSize(%q) = %d < 0", s, n)
		}
		again := []string{
			strconv.FormatInt(n, 10),
			strconv.FormatInt(n, 10) + "B",
			" 0" + strconv.FormatInt(n, 10) + " b ",
			strings.ToUpper(s),
			strings.ToLower(s),
			"\t" + s + " ",
		}
		for unit, mult := range sizeUnits {
			if n%mult == 0 {
				again = append(again, fmt.Sprintf("%d%s", n/mult, unit), fmt.Sprintf("%d %s", n/mult, strings.ToUpper(unit)))
			}
		}
		for _, s2 := range again {
			if n2, err := ParseSize(s2); n2 != n || err != nil {
				t.Fatalf("ParseSize(%q) = %d, but ParseSize(%q) = %d, %v", s, n, s2, n2, err)
			}
		}
	})
}
