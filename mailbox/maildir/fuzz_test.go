package maildir

import (
	"bytes"
	"slices"
	"testing"
)

// FuzzParseFileName checks that the file-name parser never panics, that
// what parses formats back to the same bytes, and that changing the flags
// keeps the base and gives a name that parses to sorted flags.
func FuzzParseFileName(f *testing.F) {
	for _, s := range []string{
		"1700000000.M1P2.host,S=100,W=102:2,FS",
		"1700000000.M1P2Q3.host,S=100,W=102",
		"04:2,", "x:2,S,extra", "x:1,whatever", "x,S=12a:2,", ":2,S", ".hidden", "a:b:c",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := parseFileName(s)
		if err != nil {
			return
		}
		if n.String() != s {
			t.Fatalf("parseFileName(%q).String() = %q", s, n.String())
		}
		n.size()
		n.vsize()
		flags, rest := n.flagChars()
		m := n.withFlags(flags + "S")
		again, err := parseFileName(m.String())
		if err != nil {
			t.Fatalf("withFlags gave %q, which does not parse: %v", m.String(), err)
		}
		gotFlags, gotRest := again.flagChars()
		if again.base != n.base || gotRest != rest || !slices.IsSorted([]byte(gotFlags)) {
			t.Fatalf("%q.withFlags(%q) = %q", s, flags+"S", m.String())
		}
	})
}

// FuzzParseUidlist checks that the uidlist parser never panics and that
// what parses formats to a file that parses to the same content, which
// formats to the same bytes again.
func FuzzParseUidlist(f *testing.F) {
	for _, s := range []string{
		"3 V1795311105 N7 Gbb7ceb2d0246026b9c39000083ecc375\n3 X1:abababababababababababababababababababababababababababababababab :1795311107.M81063P14748.vm,S=18,W=21\n6 :1795311116.M975218P14953.vm,S=18,W=21\n",
		"3 V5 N1 G00000000000000000000000000000000 Pfoo\n1 W21 :a\n2 :b\n",
		"1 1234 10\n3 1700.M1P1.h:2,S\n",
		"3 V5 N9 G00000000000000000000000000000000\n1 :a\n3 :a\n",
		"3 V5 N9 G00000000000000000000000000000000\n1 X1::1700000000 :a\n2 X1:abababababababababababababababababababababababababababababababab:-5 :b\n",
		"3 V5",
		"",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		l, _, err := parseUidlist(data)
		if err != nil {
			return
		}
		if l.guid == "" {
			l.guid = "00000000000000000000000000000000"
		}
		out := l.format()
		l2, dups, err := parseUidlist(out)
		if err != nil {
			t.Fatalf("formatted uidlist does not parse: %v\n%s", err, out)
		}
		if dups != 0 {
			t.Fatalf("formatted uidlist has %d duplicate names", dups)
		}
		if out2 := l2.format(); !bytes.Equal(out, out2) {
			t.Fatalf("format is not stable:\n%s\n%s", out, out2)
		}
		for i := range l.recs {
			if l.recs[i].cache != l2.recs[i].cache || l.recs[i].base != l2.recs[i].base || l.recs[i].uid != l2.recs[i].uid {
				t.Fatalf("line %d: %+v formats and parses as %+v", i, l.recs[i], l2.recs[i])
			}
		}
	})
}

// FuzzUTF7 checks that decoding never panics and that a name that decodes
// encodes back to the same bytes, and the other way round.
func FuzzUTF7(f *testing.F) {
	for _, s := range []string{"INBOX", "&AMk-t&AOk-", "a&-b", "&2D3eAA-", "&AGE-", "Été"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if dec, err := decodeUTF7(s); err == nil {
			if enc := encodeUTF7(dec); enc != s {
				t.Fatalf("decodeUTF7(%q) = %q, which encodes to %q", s, dec, enc)
			}
		}
		if !utf8Valid(s) {
			return
		}
		enc := encodeUTF7(s)
		if dec, err := decodeUTF7(enc); err != nil && !hasNUL(s) {
			t.Fatalf("encodeUTF7(%q) = %q, which does not decode: %v", s, enc, err)
		} else if err == nil && dec != s {
			t.Fatalf("encodeUTF7(%q) = %q, which decodes to %q", s, enc, dec)
		}
	})
}

func utf8Valid(s string) bool { return bytes.Equal([]byte(string([]rune(s))), []byte(s)) }

func hasNUL(s string) bool { return bytes.IndexByte([]byte(s), 0) >= 0 }
