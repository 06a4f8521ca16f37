package maildir

import (
	"errors"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// Modified UTF-7 (RFC 3501 §5.1.3) is how Dovecot, by default, stores
// mailbox names that are not plain ASCII: printable US-ASCII stands for
// itself except "&", which is written "&-"; every other run of characters
// is written "&", the modified BASE64 (',' instead of '/', no padding) of
// their UTF-16BE form, and "-".

const mbase64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,"

var mbase64Index = func() (t [256]int8) {
	for i := range t {
		t[i] = -1
	}
	for i := 0; i < len(mbase64); i++ {
		t[mbase64[i]] = int8(i)
	}
	return t
}()

// encodeUTF7 returns s, valid UTF-8, in modified UTF-7.
func encodeUTF7(s string) string {
	plain := true
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '&' {
			plain = false
			break
		}
	}
	if plain {
		return s
	}
	var b strings.Builder
	var run []uint16
	flush := func() {
		if len(run) == 0 {
			return
		}
		b.WriteByte('&')
		var bits, n uint32
		for _, u := range run {
			bits = bits<<16 | uint32(u)
			n += 16
			for n >= 6 {
				n -= 6
				b.WriteByte(mbase64[(bits>>n)&0x3f])
			}
		}
		if n > 0 {
			b.WriteByte(mbase64[(bits<<(6-n))&0x3f])
		}
		b.WriteByte('-')
		run = run[:0]
	}
	for _, r := range s {
		switch {
		case r == '&':
			flush()
			b.WriteString("&-")
		case r >= 0x20 && r < 0x7f:
			flush()
			b.WriteRune(r)
		default:
			run = utf16.AppendRune(run, r)
		}
	}
	flush()
	return b.String()
}

var errUTF7 = errors.New("not canonical modified UTF-7")

// decodeUTF7 decodes modified UTF-7. It accepts only the canonical form,
// the one [encodeUTF7] writes (as Dovecot does: no encoded printable
// ASCII, no NUL, no two shifted runs in a row, no stray surrogates), so
// that a name decodes and encodes back to the same bytes.
func decodeUTF7(s string) (string, error) {
	if strings.IndexByte(s, '&') < 0 {
		for i := 0; i < len(s); i++ {
			if c := s[i]; c < 0x20 || c >= 0x7f {
				return "", errUTF7
			}
		}
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		c := s[i]
		if c < 0x20 || c >= 0x7f {
			return "", errUTF7
		}
		if c != '&' {
			b.WriteByte(c)
			i++
			continue
		}
		j := strings.IndexByte(s[i+1:], '-')
		if j < 0 {
			return "", errUTF7
		}
		enc := s[i+1 : i+1+j]
		i += j + 2
		if enc == "" {
			b.WriteByte('&')
			continue
		}
		var units []uint16
		var bits, n uint32
		for k := 0; k < len(enc); k++ {
			v := mbase64Index[enc[k]]
			if v < 0 {
				return "", errUTF7
			}
			bits = bits<<6 | uint32(v)
			n += 6
			if n >= 16 {
				n -= 16
				units = append(units, uint16(bits>>n))
				bits &= 1<<n - 1
			}
		}
		if n >= 6 || bits != 0 || len(units) == 0 {
			return "", errUTF7 // more than padding left over, or non-zero padding
		}
		for k := 0; k < len(units); k++ {
			r := rune(units[k])
			switch {
			case utf16.IsSurrogate(r):
				if r >= 0xdc00 || k+1 >= len(units) {
					return "", errUTF7
				}
				k++
				if r = utf16.DecodeRune(r, rune(units[k])); r == utf8.RuneError {
					return "", errUTF7
				}
			case r == 0 || (r >= 0x20 && r < 0x7f):
				return "", errUTF7
			}
			b.WriteRune(r)
		}
		// A shifted run directly followed by another is not canonical.
		if i < len(s) && s[i] == '&' && (i+1 >= len(s) || s[i+1] != '-') {
			return "", errUTF7
		}
	}
	return b.String(), nil
}
