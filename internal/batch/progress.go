package batch

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// IsTerminal reports whether f is a terminal that can redraw a line: a
// character device, with TERM not "dumb".
func IsTerminal(f *os.File) bool {
	fi, err := f.Stat()
	if err != nil || fi.Mode()&os.ModeCharDevice == 0 {
		return false
	}
	return os.Getenv("TERM") != "dumb"
}

// progress counts what a batch did and shows it: on a terminal a line
// redrawn in place, otherwise a log line every interval.
type progress struct {
	w        io.Writer // nil: shows nothing
	terminal bool
	width    int // of the terminal: a live line is cut to width-1
	interval time.Duration
	now      func() time.Time
	start    time.Time

	msgs, bytes atomic.Int64

	mu struct {
		sync.Mutex
		total    int // users of the batch
		finished int // users with a final status
		failed   int
		stopped  int
		ran      int         // users whose job ran to an end (for the ETA)
		shown    bool        // a live line is on the terminal
		window   []rateStamp // recent counts, for the current rate

		users      map[string]*userWork // by name, for the ETA
		sized      int                  // users whose work is planned
		plannedAll Work                 // the planned work of the sized users
	}
	// limits, if not nil, returns the most the batch may move per second.
	limits func() Rates
}

type rateStamp struct {
	t           time.Time
	msgs, bytes int64
}

// rateWindow is how far back the current rate looks.
const rateWindow = 10 * time.Second

func (p *progress) add(msgs int, bytes int64) {
	p.msgs.Add(int64(msgs))
	p.bytes.Add(bytes)
}

func (p *progress) finish(st Status, ran bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.mu.finished++
	switch st {
	case StatusFailed:
		p.mu.failed++
	case StatusStopped, StatusPending:
		p.mu.stopped++
	}
	if ran {
		p.mu.ran++
	}
}

// run shows the progress until stop is closed, then shows it a last
// time.
func (p *progress) run(stop <-chan struct{}) {
	if p.w == nil {
		<-stop
		return
	}
	every := p.interval
	if p.terminal {
		every = min(every, 250*time.Millisecond)
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			p.show(false)
		case <-stop:
			p.show(true)
			return
		}
	}
}

func (p *progress) show(last bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	line := p.lineLocked()
	if p.terminal {
		// A line longer than the terminal would wrap, and the next
		// redraw would clear its last row only.
		if r := []rune(line); len(r) >= p.width {
			line = string(r[:max(p.width-2, 0)]) + "…"
		}
		fmt.Fprintf(p.w, "\r\x1b[K%s", line)
		p.mu.shown = true
		if last {
			fmt.Fprintln(p.w)
			p.mu.shown = false
		}
		return
	}
	fmt.Fprintf(p.w, "progress: %s\n", line)
}

// lineLocked renders the progress: users done of the total (and how many
// failed), messages and bytes copied, the rate over the last seconds, the
// time elapsed and the estimated time left.
func (p *progress) lineLocked() string {
	now := p.now()
	msgs, bytes := p.msgs.Load(), p.bytes.Load()
	p.mu.window = append(p.mu.window, rateStamp{now, msgs, bytes})
	for len(p.mu.window) > 2 && now.Sub(p.mu.window[1].t) >= rateWindow {
		p.mu.window = p.mu.window[1:]
	}
	var msgRate, byteRate float64
	var span time.Duration
	if first := p.mu.window[0]; now.Sub(first.t) > 0 {
		span = now.Sub(first.t)
		dt := span.Seconds()
		msgRate, byteRate = float64(msgs-first.msgs)/dt, float64(bytes-first.bytes)/dt
	} else if el := now.Sub(p.start).Seconds(); el > 0 {
		msgRate, byteRate = float64(msgs)/el, float64(bytes)/el
	}
	var b strings.Builder
	fmt.Fprintf(&b, "users %d/%d", p.mu.finished, p.mu.total)
	var notes []string
	if p.mu.failed > 0 {
		notes = append(notes, fmt.Sprintf("%d failed", p.mu.failed))
	}
	if p.mu.stopped > 0 {
		notes = append(notes, fmt.Sprintf("%d stopped", p.mu.stopped))
	}
	if len(notes) > 0 {
		fmt.Fprintf(&b, " (%s)", strings.Join(notes, ", "))
	}
	elapsed := now.Sub(p.start)
	fmt.Fprintf(&b, ", %d messages, %s copied, %.0f msg/s, %s/s, elapsed %s, ETA %s",
		msgs, FormatBytes(bytes), msgRate, FormatBytes(int64(byteRate)), FormatDuration(elapsed),
		p.etaLocked(elapsed, Rates{msgRate, byteRate}, span))
	b.WriteString(p.inFlightLocked())
	return b.String()
}

// etaLocked estimates the time left. From the work left, when the
// listings of some users gave it ([Options.Estimate]): messages and bytes
// still to copy, at the rate measured over the last seconds (span) and
// within the limits in force; "(12.3 MB, 1800 messages left)" follows.
// Else from the pace at which users finished so far (users that ran;
// those found done or skipped cost nothing).
func (p *progress) etaLocked(elapsed time.Duration, measured Rates, span time.Duration) string {
	left := p.mu.total - p.mu.finished
	if left == 0 {
		return "0s"
	}
	if work, ok := p.workLeftLocked(); ok {
		var limits Rates
		if p.limits != nil {
			limits = p.limits()
		}
		if eta, ok := etaFromWork(work, measured, span, limits); ok {
			return fmt.Sprintf("%s (%s, %d messages left)", FormatDuration(eta), FormatBytes(work.Bytes), work.Msgs)
		}
	}
	if p.mu.ran == 0 || elapsed <= 0 {
		return "unknown"
	}
	perUser := float64(elapsed) / float64(p.mu.ran)
	return FormatDuration(time.Duration(perUser * float64(left)))
}

// logWriter writes log lines so that they do not run into a live
// progress line: the line is cleared first and redrawn at the next tick.
type logWriter struct{ p *progress }

func (l logWriter) Write(b []byte) (int, error) {
	l.p.mu.Lock()
	defer l.p.mu.Unlock()
	if l.p.mu.shown {
		fmt.Fprint(l.p.w, "\r\x1b[K")
		l.p.mu.shown = false
	}
	return l.p.w.Write(b)
}

// FormatBytes writes n bytes for people, in decimal units (as ParseSize
// reads them): "512 B", "1.5 kB", "20.0 MB".
func FormatBytes(n int64) string {
	const unit = 1000
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	f := float64(n)
	for _, u := range []string{"kB", "MB", "GB", "TB"} {
		f /= unit
		if f < unit || u == "TB" {
			return fmt.Sprintf("%.1f %s", f, u)
		}
	}
	return "" // not reached
}

// FormatDuration writes d rounded for people: "850ms", "42s", "3m05s",
// "2h07m".
func FormatDuration(d time.Duration) string {
	switch {
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	case d < time.Minute:
		return d.Round(100 * time.Millisecond).String()
	case d < time.Hour:
		d = d.Round(time.Second)
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	}
	d = d.Round(time.Minute)
	return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
}
