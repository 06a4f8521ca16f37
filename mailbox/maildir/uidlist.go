package maildir

import (
	"bytes"
	"cmp"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/mailrepl/mailrepl/mailbox"
	"github.com/mailrepl/mailrepl/uid"
)

// uidlistName is the file, in each folder, that gives messages their UIDs.
const uidlistName = "dovecot-uidlist"

// The dovecot-uidlist file, version 3 (Dovecot 1.1 and later):
//
//	3 V<uidvalidity> N<nextuid> G<mailbox guid> [<key><value> ...]
//	<uid> [<key><value> ...] :<base name>
//	...
//
// Lines are sorted by UID. A line whose file is gone is an expunged
// message that Dovecot has not compacted away yet. Record fields are an
// upper-case key letter and a value without spaces; Dovecot uses S (size),
// W (size with CRLF), P and O (POP3), G (message GUID), and keeps fields it
// does not know when it rewrites the file. This store adds one:
//
//	X1:<64 hex digits>
//
// the message's EmailID (version 1 of the field: the SHA-256 of the message
// with CRLF line endings, as [mailbox.EmailID] defines it), so listings
// know EmailIDs without reading bodies. A field X of another version is
// kept as it is and not read.
//
// Version 1 (Dovecot before 1.1, Courier) is read too: header
// "1 <uidvalidity> <nextuid>", lines "<uid> <file name>". It is written
// back as version 3, as Dovecot does.

// emailIDKey is the record field holding the EmailID cache.
const (
	emailIDKey    = 'X'
	emailIDPrefix = "X1:"
)

// uidlist is a parsed dovecot-uidlist.
type uidlist struct {
	version  int // 1 or 3, as read; always written as 3
	validity uid.Validity
	next     uid.UID  // the header's N: at least every UID listed + 1 once parsed
	guid     string   // the header's G (32 hex digits), "" when absent
	hdrExt   []string // other header fields, verbatim
	recs     []record // ascending UIDs

	ix *uidlistIndex // built on first use; a list is not changed once indexed
}

func newUidlist(v uid.Validity, next uid.UID) *uidlist {
	return &uidlist{version: 3, validity: v, next: next, ix: new(uidlistIndex)}
}

// record is one line of the uidlist.
type record struct {
	uid  uid.UID
	ext  []string // fields, verbatim ("S123", "X1:…"), in file order
	base string
}

// emailID returns the EmailID cached in the record, if any.
func (r *record) emailID() (mailbox.EmailID, bool) {
	for _, f := range r.ext {
		if h, ok := strings.CutPrefix(f, emailIDPrefix); ok {
			var id mailbox.EmailID
			if len(h) != 2*len(id) {
				return mailbox.EmailID{}, false
			}
			for i := 0; i < len(h); i++ {
				if c := h[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
					return mailbox.EmailID{}, false // only the form we write
				}
			}
			hex.Decode(id[:], []byte(h))
			return id, true
		}
	}
	return mailbox.EmailID{}, false
}

// setEmailID caches id in the record, unless it holds an X field of a
// version this store does not know, which it keeps. It reports whether
// the record changed.
func (r *record) setEmailID(id mailbox.EmailID) bool {
	field := emailIDPrefix + strings.TrimPrefix(id.String(), "sha256:")
	for i, f := range r.ext {
		if f != "" && f[0] == emailIDKey {
			if !strings.HasPrefix(f, emailIDPrefix) || f == field {
				return false
			}
			r.ext[i] = field
			return true
		}
	}
	r.ext = append(r.ext, field)
	return true
}

// find returns the index of the record with UID u.
func (l *uidlist) find(u uid.UID) (int, bool) {
	lo, hi := 0, len(l.recs)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if l.recs[m].uid < u {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo, lo < len(l.recs) && l.recs[lo].uid == u
}

// errUidlist is the cause of a damaged uidlist; the error says the line.
var errUidlist = errors.New("damaged dovecot-uidlist")

// uidlistError reports what is wrong at line n (1-based).
func uidlistError(n int, format string, args ...any) error {
	return fmt.Errorf("%w: line %d: %s", errUidlist, n, fmt.Sprintf(format, args...))
}

// errUnknownVersion wraps a uidlist version this store does not read.
var errUnknownVersion = errors.New("unknown dovecot-uidlist version")

// parseUidlist parses a whole dovecot-uidlist. It is strict: anything
// Dovecot would call broken is an error that names the line, and nothing
// is guessed. A base name listed twice keeps the later line, as in
// Dovecot; dups counts such lines.
func parseUidlist(data []byte) (l *uidlist, dups int, err error) {
	if len(data) == 0 {
		return nil, 0, uidlistError(1, "empty file")
	}
	lines := bytes.Split(data, []byte("\n"))
	if len(lines[len(lines)-1]) == 0 {
		lines = lines[:len(lines)-1]
	}
	l = &uidlist{ix: new(uidlistIndex)}
	if err := l.parseHeader(string(lines[0])); err != nil {
		return nil, 0, err
	}
	l.recs = make([]record, 0, len(lines)-1)
	seen := make(map[string]int, len(lines)-1)
	var prev uid.UID
	for i, raw := range lines[1:] {
		n := i + 2
		line := string(raw)
		r, err := parseRecord(line, l.version)
		if err != nil {
			return nil, 0, uidlistError(n, "%v: %q", err, clip(line))
		}
		if r.uid <= prev {
			return nil, 0, uidlistError(n, "UID %d not above %d", r.uid, prev)
		}
		if l.version == 1 && uid.UID(r.uid) >= l.next {
			return nil, 0, uidlistError(n, "UID %d not below next UID %d", r.uid, l.next)
		}
		prev = r.uid
		if j, dup := seen[r.base]; dup {
			l.recs[j].base = "" // dropped below
			dups++
		}
		seen[r.base] = len(l.recs)
		l.recs = append(l.recs, r)
	}
	if dups > 0 {
		kept := l.recs[:0]
		for _, r := range l.recs {
			if r.base != "" {
				kept = append(kept, r)
			}
		}
		l.recs = kept
	}
	if prev >= l.next {
		l.next = prev + 1
	}
	return l, dups, nil
}

func clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}

func (l *uidlist) parseHeader(h string) error {
	if len(h) < 2 || h[0] < '0' || h[0] > '9' || h[1] != ' ' {
		return uidlistError(1, "no version number: %q", clip(h))
	}
	l.version = int(h[0] - '0')
	rest := h[2:]
	switch l.version {
	case 1:
		v, n, ok := strings.Cut(rest, " ")
		if !ok {
			return uidlistError(1, "version 1 header wants two numbers: %q", clip(h))
		}
		var err error
		if l.validity, err = uid.ParseValidity(v); err != nil {
			return uidlistError(1, "UIDVALIDITY: %v", err)
		}
		if l.next, err = uid.Parse(n); err != nil {
			return uidlistError(1, "next UID: %v", err)
		}
	case 3:
		for _, f := range strings.Split(rest, " ") {
			if f == "" {
				continue // Dovecot skips runs of spaces
			}
			var err error
			switch f[0] {
			case 'V':
				if l.validity, err = uid.ParseValidity(f[1:]); err != nil {
					return uidlistError(1, "UIDVALIDITY: %v", err)
				}
			case 'N':
				if l.next, err = uid.Parse(f[1:]); err != nil {
					return uidlistError(1, "next UID: %v", err)
				}
			case 'G':
				if !isGUID(f[1:]) {
					return uidlistError(1, "mailbox GUID %q is not 32 hex digits", f[1:])
				}
				l.guid = f[1:]
			default:
				l.hdrExt = append(l.hdrExt, f)
			}
		}
	default:
		return fmt.Errorf("%w %d (this store reads versions 1 and 3)", errUnknownVersion, l.version)
	}
	if l.validity == 0 || l.next == 0 {
		return uidlistError(1, "no UIDVALIDITY or next UID: %q", clip(h))
	}
	return nil
}

func isGUID(s string) bool {
	if len(s) != 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

func parseRecord(line string, version int) (record, error) {
	num, rest, ok := strings.Cut(line, " ")
	if !ok {
		return record{}, errors.New("no space after the UID")
	}
	u, err := uid.Parse(num)
	if err != nil {
		return record{}, err
	}
	if u == uid.Max {
		return record{}, errors.New("UID too high")
	}
	r := record{uid: u}
	if version == 1 {
		r.base = rest
	} else {
		for {
			rest = strings.TrimLeft(rest, " ")
			if rest == "" {
				return record{}, errors.New("no ':' before the file name")
			}
			if rest[0] == ':' {
				r.base = rest[1:]
				break
			}
			f, tail, _ := strings.Cut(rest, " ")
			if f[0] < 'A' || f[0] > 'Z' {
				return record{}, fmt.Errorf("field %q does not start with A-Z", f)
			}
			r.ext = append(r.ext, f)
			rest = tail
		}
	}
	if i := strings.IndexByte(r.base, ':'); i >= 0 {
		r.base = r.base[:i] // version 1 and old writers kept the flags
	}
	switch {
	case r.base == "":
		return record{}, errors.New("empty file name")
	case strings.ContainsAny(r.base, "/\x00\r"):
		return record{}, errors.New("file name holds '/', NUL or CR")
	}
	return r, nil
}

// format writes the uidlist as Dovecot writes it (version 3).
func (l *uidlist) format() []byte {
	var b bytes.Buffer
	b.Grow(64 + len(l.recs)*64)
	b.WriteString("3 V")
	b.WriteString(strconv.FormatUint(uint64(l.validity), 10))
	b.WriteString(" N")
	b.WriteString(strconv.FormatUint(uint64(l.next), 10))
	b.WriteString(" G")
	b.WriteString(l.guid)
	for _, f := range l.hdrExt {
		b.WriteByte(' ')
		b.WriteString(f)
	}
	b.WriteByte('\n')
	var num [10]byte
	for i := range l.recs {
		r := &l.recs[i]
		b.Write(strconv.AppendUint(num[:0], uint64(r.uid), 10))
		for _, f := range r.ext {
			b.WriteByte(' ')
			b.WriteString(f)
		}
		b.WriteString(" :")
		b.WriteString(r.base)
		b.WriteByte('\n')
	}
	return b.Bytes()
}

func sortRecords(recs []record) {
	slices.SortFunc(recs, func(a, b record) int { return cmp.Compare(a.uid, b.uid) })
}
