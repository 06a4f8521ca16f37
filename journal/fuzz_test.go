package journal

import (
	"bytes"
	"cmp"
	"reflect"
	"testing"

	"github.com/mailrepl/mailrepl/mailbox"
)

// The decoders meet whatever is on disk: they must never panic, and what
// they accept must encode back to what decodes to the same value. Seeds
// are the golden records (testdata/fuzz/…, written by TestGoldenFormat
// -update) and the f.Add calls below.

func addGoldenSeeds(f *testing.F, tables ...byte) {
	for _, recs := range goldenCases() {
		for _, r := range recs {
			if len(tables) == 0 || bytes.IndexByte(tables, r.key[0]) >= 0 {
				f.Add(r.key, r.val)
			}
		}
	}
}

// sameAfterRoundTrip checks that decoding the re-encoded value gives the
// same value back.
func sameAfterRoundTrip[T any](t *testing.T, got, again T, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("re-encoded record does not decode: %v", err)
	}
	if !reflect.DeepEqual(got, again) {
		t.Fatalf("round trip changed the record:\n%+v\n%+v", got, again)
	}
}

func FuzzDecodeEvent(f *testing.F) {
	addGoldenSeeds(f, tEvent)
	f.Add(eventKey(1), []byte{recEvent})
	f.Fuzz(func(t *testing.T, k, v []byte) {
		e, err := decodeEvent(k, v)
		if err != nil {
			return
		}
		if !bytes.Equal(eventKey(e.Seq), k) {
			t.Fatalf("key %x decodes to seq %d", k, e.Seq)
		}
		again, err := decodeEvent(k, encodeEvent(&e))
		sameAfterRoundTrip(t, e, again, err)
	})
}

func FuzzDecodeDirty(f *testing.F) {
	addGoldenSeeds(f, tDirtyByMbox, tDirtyBySeq)
	f.Fuzz(func(t *testing.T, k, v []byte) {
		m, err := decodeDirty(k, v)
		if err != nil {
			return
		}
		var key []byte
		id, name := m.MailboxID, ""
		if id == "" {
			name = m.Mailbox
		}
		if k[0] == tDirtyByMbox {
			key = dirtyByMboxKey(m.User, id, name)
		} else {
			key = dirtyBySeqKey(m.Seq, m.User, id, name)
		}
		if !bytes.Equal(key, k) {
			t.Fatalf("key %x decodes to %+v, which encodes to %x", k, m, key)
		}
		again, err := decodeDirty(k, encodeDirty(&m))
		sameAfterRoundTrip(t, m, again, err)
	})
}

func FuzzDecodeHeader(f *testing.F) {
	addGoldenSeeds(f, tHeader)
	f.Fuzz(func(t *testing.T, k, v []byte) {
		pair, h, err := decodeHeader(k, v)
		if err != nil {
			return
		}
		if key := headerKey(pair, h.Src.MailboxID); !bytes.Equal(key, k) {
			t.Fatalf("key %x re-encodes as %x", k, key)
		}
		_, again, err := decodeHeader(k, encodeHeader(&h))
		sameAfterRoundTrip(t, h, again, err)
	})
}

func FuzzDecodeEntry(f *testing.F) {
	addGoldenSeeds(f, tEntry, tEntryByDst)
	f.Fuzz(func(t *testing.T, k, v []byte) {
		e, err := decodeEntry(k, v)
		if err != nil {
			return
		}
		r := readKey(k, k[0])
		pair, mbox := r.str(), mailbox.ID(r.str())
		u := e.SrcUID
		if k[0] == tEntryByDst {
			u = e.DstUID
		}
		if key := entryKey(k[0], pair, mbox, u); !bytes.Equal(key, k) {
			t.Fatalf("key %x re-encodes as %x", k, key)
		}
		again, err := decodeEntry(k, encodeEntry(&e))
		sameAfterRoundTrip(t, e, again, err)
	})
}

func FuzzDecodeIntent(f *testing.F) {
	addGoldenSeeds(f, tIntent)
	f.Fuzz(func(t *testing.T, k, v []byte) {
		pair, in, err := decodeIntent(k, v)
		if err != nil {
			return
		}
		if key := intentKey(pair, in); !bytes.Equal(key, k) {
			t.Fatalf("key %x re-encodes as %x", k, key)
		}
		_, again, err := decodeIntent(k, encodeIntent(&in))
		sameAfterRoundTrip(t, in, again, err)
	})
}

func FuzzDecodeTombstone(f *testing.F) {
	addGoldenSeeds(f, tTombstone, tTombByEmail)
	f.Fuzz(func(t *testing.T, k, v []byte) {
		ts, err := decodeTombstone(k, v)
		if err != nil {
			return
		}
		key := tombstoneKey(ts)
		if k[0] == tTombByEmail {
			key = tombByEmailKey(ts)
		}
		if !bytes.Equal(key, k) {
			t.Fatalf("key %x re-encodes as %x", k, key)
		}
		again, err := decodeTombstone(k, encodeTombstone(&ts))
		sameAfterRoundTrip(t, ts, again, err)
	})
}

func FuzzDecodeLost(f *testing.F) {
	addGoldenSeeds(f, tLost)
	f.Fuzz(func(t *testing.T, k, v []byte) {
		l, err := decodeLost(k, v)
		if err != nil {
			return
		}
		if key := lostKey(l); !bytes.Equal(key, k) {
			t.Fatalf("key %x re-encodes as %x", k, key)
		}
		again, err := decodeLost(k, encodeLost(&l))
		sameAfterRoundTrip(t, l, again, err)
	})
}

func FuzzDecodeEmailID(f *testing.F) {
	addGoldenSeeds(f, tEmailID)
	f.Fuzz(func(t *testing.T, k, v []byte) {
		c, err := decodeEmailID(k, v)
		if err != nil {
			return
		}
		if key := emailIDKey(c.Store, c.MailboxID, c.UIDValidity, c.UID); !bytes.Equal(key, k) {
			t.Fatalf("key %x re-encodes as %x", k, key)
		}
		if val := encodeEmailID(c.EmailID); !bytes.Equal(val, v) {
			t.Fatalf("value %x re-encodes as %x", v, val)
		}
	})
}

func FuzzDecodeRecordValue(f *testing.F) {
	addGoldenSeeds(f, tRecord)
	f.Add(recordKey("n", "k"), []byte{recRecord, 5, 'a'})
	f.Fuzz(func(t *testing.T, k, v []byte) {
		r, err := decodeRecordValue(k, v)
		if err != nil {
			return
		}
		if key := recordKey(r.Namespace, r.Key); !bytes.Equal(key, k) {
			t.Fatalf("key %x re-encodes as %x", k, key)
		}
		if val := encodeRecord(r.Value); !bytes.Equal(val, v) {
			t.Fatalf("value %x re-encodes as %x", v, val)
		}
	})
}

// FuzzDecodeNumbering covers the records of numberings and the pair
// index: what decodes re-encodes to a record that decodes the same.
func FuzzDecodeNumbering(f *testing.F) {
	addGoldenSeeds(f, tNumbering, tNumbered, tNumberIndex, tNumberName, tPairIndex)
	f.Fuzz(func(t *testing.T, k, v []byte) {
		if len(k) == 0 {
			return
		}
		switch k[0] {
		case tNumbering:
			n, err := decodeNumbering(k, v)
			if err != nil {
				return
			}
			if key := numberingKey(n.id); !bytes.Equal(key, k) {
				t.Fatalf("key %x re-encodes as %x", k, key)
			}
			again, err := decodeNumbering(k, encodeNumbering(n))
			sameAfterRoundTrip(t, n, again, err)
		case tNumbered:
			key, u, err := decodeNumbered(k, v)
			if err != nil {
				return
			}
			k2, u2, err := decodeNumbered(k, newValue(recNumbered).uvarint(uint64(u)))
			if err != nil || k2 != key || u2 != u {
				t.Fatalf("numbered %q %d: round trip gave %q %d, %v", key, u, k2, u2, err)
			}
		case tNumberIndex:
			scheme, key, id, err := decodeNumberIndex(k, v)
			if err == nil && !bytes.Equal(numberIndexKey(scheme, key, id), k) {
				t.Fatalf("key %x re-encodes as %x", k, numberIndexKey(scheme, key, id))
			}
		case tNumberName:
			id, err := decodeNumberName(k, v)
			if err != nil {
				return
			}
			if again, err := decodeNumberName(k, newValue(recNumberName).str(string(id))); err != nil || again != id {
				t.Fatalf("name of %q: round trip gave %q, %v", id, again, err)
			}
		case tPairIndex:
			_, _ = decodePairIndex(k, v)
		}
	})
}

// FuzzDecodeSeq covers the small records: the format version, the
// truncation point and cursors.
func FuzzDecodeSeq(f *testing.F) {
	addGoldenSeeds(f, tMeta, tCursor)
	f.Fuzz(func(t *testing.T, k, v []byte) {
		if n, err := decodeFormat(v); err == nil {
			if again, err := decodeFormat(encodeFormat(n)); err != nil || again != n {
				t.Fatalf("format version %d: round trip gave %d, %v", n, again, err)
			}
		}
		if s, err := decodeSeq(tMeta, k, v, recTruncated); err == nil {
			if again, err := decodeSeq(tMeta, k, encodeSeq(recTruncated, s), recTruncated); err != nil || again != s {
				t.Fatalf("seq %d: round trip gave %d, %v", s, again, err)
			}
		}
		if name, s, err := decodeCursor(k, v); err == nil {
			if !bytes.Equal(cursorKey(name), k) {
				t.Fatalf("cursor key %x re-encodes as %x", k, cursorKey(name))
			}
			if _, again, err := decodeCursor(k, encodeSeq(recCursor, s)); err != nil || again != s {
				t.Fatalf("cursor %d: round trip gave %d, %v", s, again, err)
			}
		}
	})
}

// FuzzDecodeRecord feeds any key and value to the decoder of the key's
// table, and to the key describer used in error messages.
func FuzzDecodeRecord(f *testing.F) {
	addGoldenSeeds(f)
	f.Add([]byte{}, []byte{})
	f.Add([]byte{0xff}, []byte{0x00})
	f.Fuzz(func(t *testing.T, k, v []byte) {
		_, _ = decodeRecord(k, v)
		_ = describeKey(k)
	})
}

// FuzzKeyString checks that key strings decode to what was encoded and
// keep the order of the strings.
func FuzzKeyString(f *testing.F) {
	f.Add("", "a")
	f.Add("a\x00", "a")
	f.Add("a\x00\x01", "a\x00\xff")
	f.Add("INBOX", "INBOX/Sent")
	f.Fuzz(func(t *testing.T, a, b string) {
		ka, kb := newKey(0x7f).str(a).u32(1), newKey(0x7f).str(b).u32(2)
		r := readKey(ka, 0x7f)
		if got := r.str(); got != a || r.u32() != 1 || r.done() != nil {
			t.Fatalf("%q decodes as %q", a, got)
		}
		if got, want := bytes.Compare(ka, kb), cmp.Compare(a, b); got != want && !(want == 0 && got < 0) {
			t.Fatalf("order of %q and %q: keys %d, strings %d", a, b, got, want)
		}
	})
}
