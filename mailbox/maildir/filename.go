package maildir

import (
	"errors"
	"slices"
	"strconv"
	"strings"
)

// A message file name is "<base>" in new/ and "<base>:2,<flags>" in cur/
// (the Maildir spec; Dovecot reads "2," info in either). The base is the
// message's identity: dovecot-uidlist keys UIDs by it, and it never
// changes when flags do. Dovecot and this store write bases of the form
//
//	<seconds>.M<microseconds>P<pid>[Q<n>].<host>,S=<size>,W=<vsize>
//
// where S= is the file's exact size and W= its size with CRLF line endings
// (what IMAP reports as RFC822.SIZE), so that listing needs no stat(2).
// Flags are single characters kept in ASCII order; a second "," ends them
// and what follows is kept as it is.
type fileName struct {
	base    string // up to the ':'; never empty
	hasInfo bool   // the name has a ':'
	info    string // after the ':'
}

var (
	errNameEmptyBase = errors.New("empty base name")
	errNameDot       = errors.New("starts with '.'")
	errNameChar      = errors.New("holds '/', NUL, CR or LF")
	errNameColons    = errors.New("more than one ':'")
)

// parseFileName splits a directory entry of cur/ or new/ into its parts.
// It fails for names that are not messages: hidden files (Dovecot skips
// them), an empty base, more than one ':' or a character no Maildir name
// holds. Whatever parses, String gives back unchanged.
func parseFileName(s string) (fileName, error) {
	switch {
	case s == "" || s[0] == ':':
		return fileName{}, errNameEmptyBase
	case s[0] == '.':
		return fileName{}, errNameDot
	case strings.ContainsAny(s, "/\x00\r\n"):
		return fileName{}, errNameChar
	}
	base, info, hasInfo := strings.Cut(s, ":")
	if strings.IndexByte(info, ':') >= 0 {
		return fileName{}, errNameColons
	}
	return fileName{base: base, hasInfo: hasInfo, info: info}, nil
}

func (f fileName) String() string {
	if !f.hasInfo {
		return f.base
	}
	return f.base + ":" + f.info
}

// flagChars returns the flag characters of a "2," info, and the rest of
// the info after a second ',' (with that ','), which no one here reads.
func (f fileName) flagChars() (flags, rest string) {
	if !strings.HasPrefix(f.info, "2,") {
		return "", ""
	}
	flags = f.info[2:]
	if i := strings.IndexByte(flags, ','); i >= 0 {
		return flags[:i], flags[i:]
	}
	return flags, ""
}

// withFlags returns the name with its flag characters replaced by chars
// (in any order; kept sorted and unique), keeping the base and any rest
// after a second ','. An info other than "2," is replaced, as Dovecot
// does.
func (f fileName) withFlags(chars string) fileName {
	_, rest := f.flagChars()
	b := []byte(chars)
	slices.Sort(b)
	b = slices.Compact(b)
	return fileName{base: f.base, hasInfo: true, info: "2," + string(b) + rest}
}

// size returns the S= (physical size) field of the base, if any.
func (f fileName) size() (int64, bool) { return baseField(f.base, 'S') }

// vsize returns the W= (size with CRLF line endings) field, if any.
func (f fileName) vsize() (int64, bool) { return baseField(f.base, 'W') }

// baseField finds ",<key>=<digits>" in base, the digits ending the base
// or followed by ','. Like Dovecot, the first ",<key>=" counts.
func baseField(base string, key byte) (int64, bool) {
	pat := ",?="
	for i := 0; i+3 <= len(base); i++ {
		if base[i] != pat[0] || base[i+1] != key || base[i+2] != pat[2] {
			continue
		}
		j := i + 3
		for j < len(base) && base[j] >= '0' && base[j] <= '9' {
			j++
		}
		if j == i+3 || (j < len(base) && base[j] != ',') {
			return 0, false
		}
		n, err := strconv.ParseInt(base[i+3:j], 10, 64)
		if err != nil {
			return 0, false
		}
		return n, true
	}
	return 0, false
}

// newBase builds the base name of a message this store delivers.
func newBase(sec int64, usec int, pid int, q uint64, host string, size, vsize int64) string {
	var b strings.Builder
	b.Grow(64 + len(host))
	b.WriteString(strconv.FormatInt(sec, 10))
	b.WriteString(".M")
	b.WriteString(strconv.Itoa(usec))
	b.WriteByte('P')
	b.WriteString(strconv.Itoa(pid))
	b.WriteByte('Q')
	b.WriteString(strconv.FormatUint(q, 10))
	b.WriteByte('.')
	b.WriteString(host)
	b.WriteString(",S=")
	b.WriteString(strconv.FormatInt(size, 10))
	b.WriteString(",W=")
	b.WriteString(strconv.FormatInt(vsize, 10))
	return b.String()
}

// safeHost makes a host name fit a Maildir base: '/' and ':' are written
// as octal escapes as the Maildir spec asks, and so are ',' (which would
// start a field) and '.' is kept. An empty name becomes "localhost".
func safeHost(h string) string {
	if h == "" {
		return "localhost"
	}
	var b strings.Builder
	for i := 0; i < len(h); i++ {
		c := h[i]
		switch {
		case c == '/' || c == ':' || c == ',' || c == '\\' || c < 0x21 || c >= 0x7f:
			b.WriteByte('\\')
			b.WriteString(strconv.FormatUint(uint64(c)|0o1000, 8)[1:])
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// compareBase orders base names as Dovecot orders new messages before it
// gives them UIDs: by the leading decimal seconds, then by the
// microseconds after ".M" when both have them, then bytewise.
func compareBase(a, b string) int {
	sa, ra := leadingNumber(a)
	sb, rb := leadingNumber(b)
	if sa != sb {
		if sa < sb {
			return -1
		}
		return 1
	}
	if ua, ok := usecs(ra); ok {
		if ub, ok := usecs(rb); ok && ua != ub {
			if ua < ub {
				return -1
			}
			return 1
		}
	}
	return strings.Compare(ra, rb)
}

// leadingNumber parses the leading decimal digits of s (saturating, so
// that absurd timestamps still sort after sane ones).
func leadingNumber(s string) (uint64, string) {
	var n uint64
	i := 0
	for ; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
		if n < 1<<60 {
			n = n*10 + uint64(s[i]-'0')
		}
	}
	return n, s[i:]
}

// usecs finds the microseconds "M<digits>" in the part after the seconds,
// which must start with '.', before the next '.'.
func usecs(s string) (uint64, bool) {
	if s == "" || s[0] != '.' {
		return 0, false
	}
	for i := 1; i < len(s) && s[i] != '.'; i++ {
		if s[i] == 'M' {
			n, _ := leadingNumber(s[i+1:])
			return n, true
		}
	}
	return 0, false
}
