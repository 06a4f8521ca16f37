package ratelimit

import "testing"

func TestHandlePaces(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		want bool
	}{
		{"no limits", Config{}, false},
		{"connection cap only", Config{ServerConns: 4}, false},
		{"global bytes", Config{Global: Limit{Bytes: 1e6}}, true},
		{"source messages", Config{Source: Limit{Msgs: 10}}, true},
		{"target bytes", Config{Target: Limit{Bytes: 1e6}}, true},
		{"per user", Config{User: Limit{Msgs: 5}}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, err := New(tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			h := l.For("alice", "src", "dst")
			defer h.Close()
			if got := h.Paces(); got != tc.want {
				t.Errorf("Paces() = %v, want %v", got, tc.want)
			}
		})
	}
}
