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

// Column is a column of the summary table: the sum of some counts.
type Column struct {
	Head  string
	Keys  []string // the counts summed
	Bytes bool     // shown as a size (12.3 MB)
}

// SyncColumns are the summary columns of a replica sync: messages copied
// (both ways), flag changes, expunges (both sides), conflicts, failed
// messages, bytes.
var SyncColumns = []Column{
	{Head: "copied", Keys: []string{"appended", "appended_to_source"}},
	{Head: "flags", Keys: []string{"flag_changes"}},
	{Head: "expunged", Keys: []string{"expunged", "expunged_source"}},
	{Head: "conflicts", Keys: []string{"conflicts"}},
	{Head: "failed", Keys: []string{"failed"}},
	{Head: "bytes", Keys: []string{"bytes"}, Bytes: true},
}

func (c Column) cell(counts Counts) string {
	var n int64
	for _, k := range c.Keys {
		n += counts[k]
	}
	if c.Bytes {
		return FormatBytes(n)
	}
	return strconv.FormatInt(n, 10)
}

// WriteTable writes the result for people: a table with a line per user
// (status, the counts of the batch's columns, time, reason), a total
// line, and a line that counts the users by status.
func (r *Result) WriteTable(w io.Writer) error {
	cols := r.columns
	if cols == nil {
		cols = SyncColumns
	}
	head := []string{"user", "status"}
	right := []bool{false, false}
	for _, c := range cols {
		head, right = append(head, c.Head), append(right, true)
	}
	head, right = append(head, "time", "reason"), append(right, true, false)
	rows := [][]string{head}
	for _, u := range r.Users {
		row := []string{u.User, string(u.Status)}
		for _, c := range cols {
			row = append(row, c.cell(u.Counts))
		}
		rows = append(rows, append(row, durationCell(u), u.Reason))
	}
	total := []string{"total", ""}
	for _, c := range cols {
		total = append(total, c.cell(r.Total))
	}
	rows = append(rows, append(total, FormatDuration(r.Duration), ""))
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
