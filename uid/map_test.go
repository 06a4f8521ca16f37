package uid

import (
	"slices"
	"strings"
	"testing"
)

// pairs collects an iterator of pairs.
func pairs(seq func(func(UID, UID) bool)) []Pair {
	var out []Pair
	for s, d := range seq {
		out = append(out, Pair{s, d})
	}
	return out
}

func TestMapZeroValue(t *testing.T) {
	var m Map
	if m.Len() != 0 || !m.Monotonic() {
		t.Errorf("zero Map: Len %d, Monotonic %v", m.Len(), m.Monotonic())
	}
	if _, ok := m.Dst(1); ok {
		t.Error("zero Map has Dst(1)")
	}
	if _, ok := m.Src(1); ok {
		t.Error("zero Map has Src(1)")
	}
	if m.DeleteSrc(1) || m.DeleteDst(1) {
		t.Error("zero Map deleted something")
	}
	if len(pairs(m.All())) != 0 || len(pairs(m.ByDst())) != 0 {
		t.Error("zero Map yields pairs")
	}
	if !m.SrcSet().IsEmpty() || !m.DstSet().IsEmpty() {
		t.Error("zero Map has UIDs")
	}
}

func TestMapAdd(t *testing.T) {
	var m Map
	// Out of order on both sides.
	for _, p := range []Pair{{10, 3}, {2, 20}, {5, 5}, {1, Max}, {Max, 1}} {
		if err := m.Add(p.Src, p.Dst); err != nil {
			t.Fatalf("Add(%d, %d): %v", p.Src, p.Dst, err)
		}
	}
	if m.Len() != 5 {
		t.Errorf("Len() = %d, want 5", m.Len())
	}
	wantAll := []Pair{{1, Max}, {2, 20}, {5, 5}, {10, 3}, {Max, 1}}
	if got := pairs(m.All()); !slices.Equal(got, wantAll) {
		t.Errorf("All() = %v, want %v", got, wantAll)
	}
	wantByDst := []Pair{{Max, 1}, {10, 3}, {5, 5}, {2, 20}, {1, Max}}
	if got := pairs(m.ByDst()); !slices.Equal(got, wantByDst) {
		t.Errorf("ByDst() = %v, want %v", got, wantByDst)
	}
	for _, p := range wantAll {
		if d, ok := m.Dst(p.Src); !ok || d != p.Dst {
			t.Errorf("Dst(%d) = %d, %v; want %d", p.Src, d, ok, p.Dst)
		}
		if s, ok := m.Src(p.Dst); !ok || s != p.Src {
			t.Errorf("Src(%d) = %d, %v; want %d", p.Dst, s, ok, p.Src)
		}
	}
	for _, u := range []UID{0, 3, 4, 11, Max - 1} {
		if d, ok := m.Dst(u); ok {
			t.Errorf("Dst(%d) = %d, want none", u, d)
		}
	}
	for _, u := range []UID{0, 2, 4, 21, Max - 1} {
		if s, ok := m.Src(u); ok {
			t.Errorf("Src(%d) = %d, want none", u, s)
		}
	}
	if got, want := m.SrcSet().String(), "1:2,5,10,*"; got != want {
		t.Errorf("SrcSet() = %q, want %q", got, want)
	}
	if got, want := m.DstSet().String(), "1,3,5,20,*"; got != want {
		t.Errorf("DstSet() = %q, want %q", got, want)
	}
	if m.Monotonic() {
		t.Error("Monotonic() = true for a reversing map")
	}
}

func TestMapAddRejects(t *testing.T) {
	var m Map
	for _, p := range []Pair{{1, 11}, {2, 12}} {
		if err := m.Add(p.Src, p.Dst); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name     string
		src, dst UID
		msg      string
	}{
		{"zero source", 0, 5, "zero UID"},
		{"zero target", 5, 0, "zero UID"},
		{"both zero", 0, 0, "zero UID"},
		{"source taken", 1, 13, "source UID 1 already paired with 11"},
		{"target taken", 3, 12, "target UID 12 already paired with 2"},
		{"same pair again", 2, 12, "source UID 2 already paired with 12"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := m.Add(tc.src, tc.dst)
			if err == nil {
				t.Fatalf("Add(%d, %d) succeeded", tc.src, tc.dst)
			}
			if !strings.HasPrefix(err.Error(), "uid: map add ") || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("Add(%d, %d) = %q, want it to say %q", tc.src, tc.dst, err, tc.msg)
			}
			if got := pairs(m.All()); !slices.Equal(got, []Pair{{1, 11}, {2, 12}}) {
				t.Errorf("a failed Add changed the map: %v", got)
			}
			if got := pairs(m.ByDst()); !slices.Equal(got, []Pair{{1, 11}, {2, 12}}) {
				t.Errorf("a failed Add changed the map by target: %v", got)
			}
		})
	}
}

func TestMapDelete(t *testing.T) {
	var m Map
	for _, p := range []Pair{{1, 30}, {2, 10}, {3, 20}, {4, 40}} {
		if err := m.Add(p.Src, p.Dst); err != nil {
			t.Fatal(err)
		}
	}
	if !m.DeleteSrc(2) {
		t.Fatal("DeleteSrc(2) = false")
	}
	if m.DeleteSrc(2) {
		t.Error("DeleteSrc(2) twice = true")
	}
	if _, ok := m.Src(10); ok {
		t.Error("target 10 still paired after DeleteSrc(2)")
	}
	if !m.DeleteDst(40) {
		t.Fatal("DeleteDst(40) = false")
	}
	if m.DeleteDst(40) || m.DeleteDst(4) {
		t.Error("DeleteDst of a missing target = true")
	}
	if _, ok := m.Dst(4); ok {
		t.Error("source 4 still paired after DeleteDst(40)")
	}
	if got, want := pairs(m.All()), []Pair{{1, 30}, {3, 20}}; !slices.Equal(got, want) {
		t.Errorf("All() = %v, want %v", got, want)
	}
	if got, want := pairs(m.ByDst()), []Pair{{3, 20}, {1, 30}}; !slices.Equal(got, want) {
		t.Errorf("ByDst() = %v, want %v", got, want)
	}
	// Freed UIDs can be paired again.
	if err := m.Add(2, 40); err != nil {
		t.Errorf("Add(2, 40) after deletes: %v", err)
	}
	if err := m.Add(4, 10); err != nil {
		t.Errorf("Add(4, 10) after deletes: %v", err)
	}
	if m.Len() != 4 || m.SrcSet().String() != "1:4" || m.DstSet().String() != "10,20,30,40" {
		t.Errorf("after re-adding: %v", pairs(m.All()))
	}
}

func TestMapMonotonic(t *testing.T) {
	tests := []struct {
		name  string
		pairs []Pair
		want  bool
	}{
		{"empty", nil, true},
		{"one", []Pair{{5, 1}}, true},
		{"ascending", []Pair{{1, 100}, {2, 101}, {7, 102}}, true},
		{"ascending added out of order", []Pair{{7, 102}, {1, 100}, {2, 101}}, true},
		{"gaps", []Pair{{1, 5}, {10, 6}, {11, 100}}, true},
		{"one swap", []Pair{{1, 100}, {2, 102}, {3, 101}}, false},
		{"descending", []Pair{{1, 3}, {2, 2}, {3, 1}}, false},
		{"swap at the ends", []Pair{{1, Max}, {Max, 1}}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var m Map
			for _, p := range tc.pairs {
				if err := m.Add(p.Src, p.Dst); err != nil {
					t.Fatal(err)
				}
			}
			if got := m.Monotonic(); got != tc.want {
				t.Errorf("Monotonic() = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestMapIterStop(t *testing.T) {
	var m Map
	for i := UID(1); i <= 5; i++ {
		if err := m.Add(i, 10*i); err != nil {
			t.Fatal(err)
		}
	}
	n := 0
	for range m.All() {
		n++
		if n == 2 {
			break
		}
	}
	for range m.ByDst() {
		n++
		if n == 4 {
			break
		}
	}
	if n != 4 {
		t.Errorf("early stops visited %d pairs, want 4", n)
	}
}
