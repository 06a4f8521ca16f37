package main

import (
	"math"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mailrepl/mailrepl/internal/batchtest"
	"github.com/mailrepl/mailrepl/internal/mailgen"
	"github.com/stretchr/testify/require"
)

// progressLine is what TestETA reads of a progress line.
var progressLine = regexp.MustCompile(`^progress: users (\d+)/\d+.*?, (\d+) messages, .*, elapsed (\S+), ETA (\S+)`)

// TestETA runs a batch under a rate limit, one large user and three small
// ones, two at a time (issue 12: with few large users the ETA stayed
// unknown until most were done). Once a tenth of the messages is copied,
// every progress line's elapsed time plus its ETA is within 10% of the
// batch's actual duration; the large user is shown in flight with its
// progress; the JSON report gives the work its listings planned, which a
// first mirror copies exactly.
func TestETA(t *testing.T) {
	root := diskDir(t)
	tr := tree{root: root, src: filepath.Join(root, "src"), dst: filepath.Join(root, "dst"), journal: filepath.Join(root, "journal")}
	sizes := map[string]int{"big": 200, "small1": 30, "small2": 30, "small3": 30}
	users := []string{"big", "small1", "small2", "small3"}
	var total int64
	msgs := 0
	for i, u := range users {
		dir := filepath.Join(tr.src, u)
		require.NoError(t, benchPopulate(dir, uint64(200+i), sizes[u], &mailgen.Options{AttachmentRate: -1, LargeRate: -1}))
		for _, a := range arrivals(t, dir) {
			total += a.size
		}
		msgs += sizes[u]
	}
	rate := math.Round(float64(total) / 12) // a run of about 12 s
	start := time.Now()
	p := batchtest.Start(t, binary, append(tr.args("-rate-bytes", strconv.FormatFloat(rate, 'f', 0, 64), "-concurrency", "2",
		"-progress-interval", "500ms", "-json"), users...)...)
	code := p.Wait(t)
	wall := time.Since(start)
	require.Equal(t, exitOK, code, "stderr:\n%s", batchtest.Tail(p.Stderr(), 20))
	out := decode(t, p.Stdout())
	actual := out.Duration
	t.Logf("%d messages, %d bytes at %.0f B/s: %v (%v with the program's start)", msgs, total, rate, actual.Round(time.Millisecond), wall.Round(time.Millisecond))

	// The JSON report's figures.
	require.NotNil(t, out.Work, "the JSON report gives the work")
	require.EqualValues(t, msgs, out.Work.Planned.Msgs)
	require.Equal(t, total, out.Work.Planned.Bytes)
	require.Equal(t, out.Work.Planned, out.Work.Copied, "a first mirror copies what its listings planned")
	require.Equal(t, len(users), out.Work.Sized)
	require.Equal(t, rate, out.Work.Limits.Bytes)
	for _, u := range out.Users {
		require.NotNil(t, u.Planned, u.User)
		require.EqualValues(t, sizes[u.User], u.Planned.Msgs, u.User)
	}

	checked, worst, sawBig := 0, 0.0, false
	for line := range strings.Lines(p.Stderr()) {
		m := progressLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		sawBig = sawBig || strings.Contains(line, "in flight: big ")
		copied, _ := strconv.Atoi(m[2])
		if copied*10 < msgs || m[4] == "0s" {
			continue
		}
		elapsed, err := time.ParseDuration(m[3])
		require.NoError(t, err, line)
		require.NotEqual(t, "unknown", m[4], line)
		eta, err := time.ParseDuration(m[4])
		require.NoError(t, err, line)
		predicted := elapsed + eta
		off := math.Abs(predicted.Seconds()-actual.Seconds()) / actual.Seconds()
		worst = max(worst, off)
		checked++
		if off > 0.10 {
			t.Errorf("at %v (%d of %d messages) the ETA %v predicts the end at %v; it came at %v (%.1f%% off)",
				elapsed, copied, msgs, eta, predicted, actual.Round(time.Millisecond), 100*off)
		}
	}
	t.Logf("%d progress lines past a tenth of the work: the predicted end at most %.1f%% off the actual", checked, 100*worst)
	require.GreaterOrEqual(t, checked, 10, "progress lines:\n%s", p.Stderr())
	require.True(t, sawBig, "the large user is never shown in flight:\n%s", p.Stderr())
	for _, u := range users {
		tr.requireMirrored(t, u)
	}
}
