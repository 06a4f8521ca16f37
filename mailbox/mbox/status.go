package mbox

import (
	"bytes"
	"strconv"

	"github.com/mailrepl/mailrepl/mailbox"
)

// The header fields in which mail programs keep a message's flags inside
// an mbox file.
const (
	fieldStatus    = iota // Status: R (seen), O (old: not \Recent)
	fieldXStatus          // X-Status: A (answered), F (flagged), D (deleted), T (draft)
	fieldKeywords         // X-Keywords: Dovecot's keywords
	fieldMozStatus        // X-Mozilla-Status: Thunderbird's flags, 4 hex digits
	fieldMozKeys          // X-Mozilla-Keys: Thunderbird's tags
	numFields
)

var fieldNames = [numFields]string{
	fieldStatus:    "status:",
	fieldXStatus:   "x-status:",
	fieldKeywords:  "x-keywords:",
	fieldMozStatus: "x-mozilla-status:",
	fieldMozKeys:   "x-mozilla-keys:",
}

// maxFieldValue bounds what is kept of one field.
const maxFieldValue = 1024

// Thunderbird's X-Mozilla-Status bits (nsMsgMessageFlags).
const (
	mozRead      = 0x0001
	mozReplied   = 0x0002
	mozMarked    = 0x0004
	mozExpunged  = 0x0008 // deleted, the folder not compacted yet
	mozForwarded = 0x1000
)

// statusFields gathers, from a message's header lines, the fields that
// hold its flags. The first occurrence of each field counts; folded
// lines continue it.
type statusFields struct {
	seen    [numFields]bool
	values  [numFields][]byte
	last    int  // the field the previous header line started, or -1
	imap    bool // the header has an X-IMAP field (folder internal data)
	started bool
}

func (s *statusFields) reset() {
	for i := range s.values {
		s.values[i] = s.values[i][:0]
		s.seen[i] = false
	}
	s.last, s.imap, s.started = -1, false, true
}

// line takes one header line (or the first piece of a long one).
func (s *statusFields) line(l []byte) {
	if len(l) > 0 && (l[0] == ' ' || l[0] == '\t') {
		if s.last >= 0 {
			s.add(s.last, l)
		}
		return
	}
	s.last = -1
	if hasPrefixFold(l, "x-imap:") {
		s.imap = true
		return
	}
	for i, name := range fieldNames {
		if hasPrefixFold(l, name) {
			if !s.seen[i] {
				s.seen[i] = true
				s.last = i
				s.add(i, l[len(name):])
			}
			return
		}
	}
}

func (s *statusFields) add(i int, v []byte) {
	v = bytes.TrimRight(v, "\r\n")
	room := maxFieldValue - len(s.values[i])
	if room <= 0 {
		return
	}
	if len(v) > room {
		v = v[:room]
	}
	s.values[i] = append(append(s.values[i], ' '), v...)
}

// flags returns the flags the fields give. Keywords that are no IMAP
// atoms are left out.
func (s *statusFields) flags() mailbox.Flags {
	var list []mailbox.Flag
	for _, c := range bytes.TrimSpace(s.values[fieldStatus]) {
		if c == 'R' {
			list = append(list, mailbox.Seen)
		}
	}
	for _, c := range bytes.TrimSpace(s.values[fieldXStatus]) {
		switch c {
		case 'A':
			list = append(list, mailbox.Answered)
		case 'F':
			list = append(list, mailbox.Flagged)
		case 'D':
			list = append(list, mailbox.Deleted)
		case 'T':
			list = append(list, mailbox.Draft)
		}
	}
	if v := bytes.TrimSpace(s.values[fieldMozStatus]); len(v) > 0 {
		if bits, err := strconv.ParseUint(string(v), 16, 32); err == nil {
			for _, b := range []struct {
				bit  uint64
				flag mailbox.Flag
			}{
				{mozRead, mailbox.Seen},
				{mozReplied, mailbox.Answered},
				{mozMarked, mailbox.Flagged},
				{mozExpunged, mailbox.Deleted},
				{mozForwarded, "$Forwarded"},
			} {
				if bits&b.bit != 0 {
					list = append(list, b.flag)
				}
			}
		}
	}
	for _, i := range []int{fieldKeywords, fieldMozKeys} {
		for _, w := range bytes.FieldsFunc(s.values[i], func(r rune) bool { return r == ' ' || r == '\t' || r == ',' }) {
			if f, err := mailbox.ParseFlag(string(w)); err == nil && f.IsKeyword() {
				list = append(list, f)
			}
		}
	}
	fl, err := mailbox.NewFlags(list...)
	if err != nil {
		return mailbox.Flags{} // cannot happen: every flag was checked
	}
	return fl
}

// hasPrefixFold reports whether b starts with the lower-case ASCII prefix,
// in any case.
func hasPrefixFold(b []byte, prefix string) bool {
	if len(b) < len(prefix) {
		return false
	}
	for i := 0; i < len(prefix); i++ {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != prefix[i] {
			return false
		}
	}
	return true
}
