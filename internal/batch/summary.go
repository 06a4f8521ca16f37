package batch

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"
)

// statusOrder is the order in which summaries name the statuses.
var statusOrder = []Status{StatusOK, StatusFailed, StatusStopped, StatusPending, StatusSkipped, StatusDone}

// WriteTable writes the result for people: a table with a line per user
// (status, messages copied, flag changes, expunges, conflicts, failed
// messages, bytes, time, reason), a total line, and a line that counts
// the users by status.
func (r *Result) WriteTable(w io.Writer) error {
	head := []string{"user", "status", "copied", "flags", "expunged", "conflicts", "failed", "bytes", "time", "reason"}
	right := []bool{false, false, true, true, true, true, true, true, true, false}
	rows := [][]string{head}
	for _, u := range r.Users {
		c := u.Counts
		rows = append(rows, []string{u.User, string(u.Status),
			itoa(c.Appended + c.AppendedToSource), itoa(c.FlagChanges), itoa(c.Expunged + c.ExpungedSource),
			itoa(c.Conflicts), itoa(c.Failed), FormatBytes(c.Bytes), durationCell(u), u.Reason})
	}
	t := r.Total
	rows = append(rows, []string{"total", "",
		itoa(t.Appended + t.AppendedToSource), itoa(t.FlagChanges), itoa(t.Expunged + t.ExpungedSource),
		itoa(t.Conflicts), itoa(t.Failed), FormatBytes(t.Bytes), FormatDuration(r.Duration), ""})
	widths := make([]int, len(head))
	for _, row := range rows {
		for i, cell := range row {
			widths[i] = max(widths[i], utf8.RuneCountInString(cell))
		}
	}
	var b strings.Builder
	for _, row := range rows {
		var line strings.Builder
		for i, cell := range row {
			pad := strings.Repeat(" ", widths[i]-utf8.RuneCountInString(cell))
			if i > 0 {
				line.WriteString("  ")
			}
			if right[i] {
				line.WriteString(pad + cell)
			} else if i < len(row)-1 {
				line.WriteString(cell + pad)
			} else {
				line.WriteString(cell)
			}
		}
		b.WriteString(strings.TrimRight(line.String(), " "))
		b.WriteByte('\n')
	}
	b.WriteString(r.StatusLine())
	b.WriteByte('\n')
	_, err := io.WriteString(w, b.String())
	return err
}

func durationCell(u UserResult) string {
	if u.Duration == 0 {
		return ""
	}
	return FormatDuration(u.Duration)
}

// StatusLine counts the users by status: "12 users: 10 ok, 1 failed, 1
// skipped", and says when the batch stopped early or resumed.
func (r *Result) StatusLine() string {
	var parts []string
	for _, s := range statusOrder {
		if n := r.Statuses[s]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, s))
		}
	}
	line := fmt.Sprintf("%d users", len(r.Users))
	if len(parts) > 0 {
		line += ": " + strings.Join(parts, ", ")
	}
	if r.Resumed {
		line += "; resumed an unfinished batch"
	}
	if r.Stopped {
		line += "; stopped before the end: run the same command again to resume"
	}
	return line
}

func itoa(n int) string { return strconv.Itoa(n) }
