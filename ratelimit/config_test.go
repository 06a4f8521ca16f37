package ratelimit

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"
)

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want []string // one part of each problem reported; nil for a valid config
	}{
		{name: "zero", cfg: Config{}},
		{name: "full", cfg: Config{
			Global:      Limit{Msgs: 100, Bytes: 20e6, MsgBurst: 10, ByteBurst: 1 << 20},
			Source:      Limit{Msgs: 0.5},
			Target:      Limit{Bytes: 1e6},
			User:        Limit{Msgs: 10, Bytes: 1e6},
			ServerConns: 50,
			Adapt:       Adapt{Decrease: 0.7, Increase: 1, Interval: time.Minute, Floor: 1, SlowRatio: 1.5, SlowMin: time.Second, MaxPause: time.Hour},
		}},
		{name: "adapt off", cfg: Config{Adapt: Adapt{Off: true}}},
		{name: "negative rates", cfg: Config{Global: Limit{Msgs: -1}, User: Limit{Bytes: -5}},
			want: []string{"Global.Msgs is -1", "User.Bytes is -5"}},
		{name: "infinite and NaN", cfg: Config{Source: Limit{Msgs: math.Inf(1), Bytes: math.NaN()}},
			want: []string{"Source.Msgs is +Inf", "Source.Bytes is NaN"}},
		{name: "bursts", cfg: Config{Target: Limit{MsgBurst: -1, ByteBurst: -1}, User: Limit{MsgBurst: 5, ByteBurst: 7}},
			want: []string{"Target.MsgBurst is -1", "Target.ByteBurst is -1", "User.MsgBurst is 5, want 0 when Msgs is 0", "User.ByteBurst is 7, want 0 when Bytes is 0"}},
		{name: "conns", cfg: Config{ServerConns: -3}, want: []string{"ServerConns is -3"}},
		{name: "adapt", cfg: Config{Adapt: Adapt{Decrease: 1, Increase: 1.5, Interval: -1, Floor: -0.1, SlowRatio: 1, SlowMin: -1, MaxPause: -time.Second}},
			want: []string{"Adapt.Decrease is 1", "Adapt.Increase is 1.5", "Adapt.Interval is -1ns", "Adapt.Floor is -0.1",
				"Adapt.SlowRatio is 1,", "Adapt.SlowMin is -1ns", "Adapt.MaxPause is -1s"}},
		{name: "adapt NaN", cfg: Config{Adapt: Adapt{Decrease: math.NaN(), Increase: math.NaN(), Floor: math.NaN(), SlowRatio: math.Inf(1)}},
			want: []string{"Adapt.Decrease is NaN", "Adapt.Increase is NaN", "Adapt.Floor is NaN", "Adapt.SlowRatio is +Inf"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				if _, err := New(tc.cfg); err != nil {
					t.Fatalf("New() = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate() = nil, want %d problems", len(tc.want))
			}
			if !errors.Is(err, ErrInvalidConfig) {
				t.Errorf("Validate() = %v, does not wrap ErrInvalidConfig", err)
			}
			lines := strings.Split(err.Error(), "\n")
			if len(lines) != len(tc.want) {
				t.Errorf("Validate() reported %d problems, want %d:\n%v", len(lines), len(tc.want), err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Validate() = %v\nwant a problem containing %q", err, w)
				}
			}
			if l, err2 := New(tc.cfg); l != nil || err2 == nil || err2.Error() != err.Error() {
				t.Errorf("New() = %v, %v; want nil and the errors of Validate", l, err2)
			}
		})
	}
}

func TestAdaptDefaults(t *testing.T) {
	got := Adapt{}.withDefaults()
	want := Adapt{Decrease: 0.5, Increase: 0.05, Interval: time.Second, Floor: 0.1, SlowRatio: 4, SlowMin: 250 * time.Millisecond, MaxPause: 15 * time.Minute}
	if got != want {
		t.Errorf("Adapt{}.withDefaults() = %+v, want %+v", got, want)
	}
	set := Adapt{Off: true, Decrease: 0.9, Increase: 0.2, Interval: 3, Floor: 0.3, SlowRatio: 2, SlowMin: 4, MaxPause: 5}
	if got := set.withDefaults(); got != set {
		t.Errorf("withDefaults changed set fields: %+v, want %+v", got, set)
	}
}

func TestLimitBursts(t *testing.T) {
	tests := []struct {
		l         Limit
		msgs, byt int
	}{
		{l: Limit{Msgs: 100, Bytes: 20e6}, msgs: 100, byt: 20_000_000},
		{l: Limit{Msgs: 0.5, Bytes: 0.1}, msgs: 1, byt: 1},
		{l: Limit{Msgs: 2.5, Bytes: 1000.5}, msgs: 3, byt: 1001},
		{l: Limit{Msgs: 100, Bytes: 1e6, MsgBurst: 7, ByteBurst: 64 << 10}, msgs: 7, byt: 64 << 10},
		{l: Limit{Msgs: 1e300, Bytes: 1e300}, msgs: maxBurst, byt: maxBurst},
	}
	for _, tc := range tests {
		if m, b := tc.l.msgBurst(), tc.l.byteBurst(); m != tc.msgs || b != tc.byt {
			t.Errorf("%+v: bursts = %d msgs, %d bytes; want %d, %d", tc.l, m, b, tc.msgs, tc.byt)
		}
	}
}
