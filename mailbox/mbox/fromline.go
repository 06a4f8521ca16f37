package mbox

import (
	"bytes"
	"strings"
	"time"
)

// maxFromLine is how much of a From line is looked at for its date.
const maxFromLine = 1024

// The layouts of a From line's date, after the sender: asctime (RFC 4155
// §2, "From sender Thu Aug 22 12:46:39 2002"), with or without seconds,
// with a zone before or after the year.
var fromLayouts = []struct {
	fields int
	layout string
}{
	// Longer layouts first: a date followed by a zone also parses
	// without it.
	{6, "Mon Jan 2 15:04:05 2006 -0700"},
	{6, "Mon Jan 2 15:04:05 -0700 2006"},
	{6, "Mon Jan 2 15:04:05 MST 2006"},
	{6, "Mon Jan 2 15:04:05 2006 MST"},
	{6, "Mon Jan 2 15:04 -0700 2006"},
	{6, "Mon Jan 2 15:04 2006 -0700"},
	{5, "Mon Jan 2 15:04:05 2006"},
	{5, "Mon Jan 2 15:04 2006"},
}

var weekdays = []string{"mon", "tue", "wed", "thu", "fri", "sat", "sun"}

// parseFromDate returns the date of an mbox From line ("From " included,
// line ending excluded or not): the asctime date after the sender, in loc
// unless the line names a zone. The sender may hold spaces; the date is
// found at the first weekday name followed by a date that parses. What
// follows the date (UUCP's "remote from host") is ignored.
func parseFromDate(line []byte, loc *time.Location) (time.Time, bool) {
	if len(line) > maxFromLine {
		line = line[:maxFromLine]
	}
	line = bytes.TrimPrefix(line, []byte(fromMarker))
	fields := strings.Fields(string(line))
	for i, f := range fields {
		if !isWeekday(f) {
			continue
		}
		for _, l := range fromLayouts {
			if i+l.fields > len(fields) {
				continue
			}
			s := strings.Join(fields[i:i+l.fields], " ")
			if t, err := time.ParseInLocation(l.layout, s, loc); err == nil {
				return t, true
			}
		}
	}
	return time.Time{}, false
}

func isWeekday(s string) bool {
	if len(s) != 3 {
		return false
	}
	for _, w := range weekdays {
		if strings.EqualFold(s, w) {
			return true
		}
	}
	return false
}
