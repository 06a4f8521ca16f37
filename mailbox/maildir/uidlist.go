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
// does not know when it rewrites the file. This store adds one, a cache
// of what it would otherwise have to read from the message file:
//
//	X1:<EmailID>[:<internal date>]
//
// version 1 of the field: the message's EmailID as 64 lower-case hex
// digits (the SHA-256 of the message with CRLF line endings, as
// [mailbox.EmailID] defines it), or nothing when not known yet; then,
// when known, its internal date (the file's mtime when first seen) in
// Unix seconds. With it a listing reads no body and stats no file. A
// field X of another version is kept as it is and not read.
//
// Version 1 (Dovecot before 1.1, Courier) is read too: header
// "1 <uidvalidity> <nextuid>", lines "<uid> <file name>". It is written
// back as version 3, as Dovecot does.

// cacheKey is the key of the record field of the cache, and cachePrefix
// starts a field of the version this store reads and writes.
const (
	cacheKey    = 'X'
	cachePrefix = "X1:"
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
	uid   uid.UID
	ext   []string // fields, verbatim ("S123", "X1:…"), in file order
	base  string
	cache cacheEntry // the cache field parsed (kept in step with ext)
}

// cacheEntry is what the cache field of a record holds.
type cacheEntry struct {
	id      mailbox.EmailID
	date    int64 // Unix seconds
	hasID   bool
	hasDate bool
}

// merge returns c with what o knows added (o wins where both know).
func (c cacheEntry) merge(o cacheEntry) cacheEntry {
	if o.hasID {
		c.id, c.hasID = o.id, true
	}
	if o.hasDate {
		c.date, c.hasDate = o.date, true
	}
	return c
}

func (c cacheEntry) field() string {
	var b strings.Builder
	b.WriteString(cachePrefix)
	if c.hasID {
		b.WriteString(hex.EncodeToString(c.id[:]))
	}
	if c.hasDate {
		b.WriteByte(':')
		b.WriteString(strconv.FormatInt(c.date, 10))
	}
	return b.String()
}

// parseCacheField reads a field of version 1; ok is false for a field
// that is not one, or not in the form this store writes.
func parseCacheField(f string) (c cacheEntry, ok bool) {
	v, ok := strings.CutPrefix(f, cachePrefix)
	if !ok {
		return c, false
	}
	h, date, hasDate := strings.Cut(v, ":")
	if h != "" {
		if len(h) != 2*len(c.id) {
			return c, false
		}
		for i := 0; i < len(h); i++ {
			if x := h[i]; !(x >= '0' && x <= '9' || x >= 'a' && x <= 'f') {
				return c, false
			}
		}
		hex.Decode(c.id[:], []byte(h))
		c.hasID = true
	}
	if hasDate {
		n, err := strconv.ParseInt(date, 10, 64)
		if err != nil || strconv.FormatInt(n, 10) != date {
			return cacheEntry{}, false
		}
		c.date, c.hasDate = n, true
	}
	return c, c.hasID || c.hasDate
}

// parseCache sets r.cache from the record's cache field.
func (r *record) parseCache() {
	r.cache = cacheEntry{}
	for _, f := range r.ext {
		if len(f) > 0 && f[0] == cacheKey {
			r.cache, _ = parseCacheField(f)
			return
		}
	}
}

// emailID returns the EmailID cached in the record, if any.
func (r *record) emailID() (mailbox.EmailID, bool) {
	return r.cache.id, r.cache.hasID
}

// setCache adds what c knows to the record's cache field, unless the
// record holds an X field of a version this store does not know, which
// it keeps. A field of version 1 that does not parse is replaced. It
// reports whether the record changed. The record's fields are copied
// first, as they may be shared with another list.
func (r *record) setCache(c cacheEntry) bool {
	if !c.hasID && !c.hasDate {
		return false
	}
	for i, f := range r.ext {
		if len(f) == 0 || f[0] != cacheKey {
			continue
		}
		if !strings.HasPrefix(f, cachePrefix) {
			return false
		}
		old, _ := parseCacheField(f)
		nf := old.merge(c).field()
		if nf == f {
			return false
		}
		r.ext = slices.Clone(r.ext)
		r.ext[i] = nf
		r.parseCache()
		return true
	}
	r.ext = append(slices.Clip(r.ext), c.field())
	r.parseCache()
	return true
}

// setEmailID caches id in the record (see setCache).
func (r *record) setEmailID(id mailbox.EmailID) bool {
	return r.setCache(cacheEntry{id: id, hasID: true})
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
	r.parseCache()
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
