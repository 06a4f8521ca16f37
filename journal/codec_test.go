package journal

import (
	"slices"
	"testing"

	"github.com/mailrepl/mailrepl/mailbox"
	"github.com/mailrepl/mailrepl/uid"
	"github.com/stretchr/testify/require"
)

func TestKeyStringEscaping(t *testing.T) {
	tests := []struct {
		in   string
		want []byte
	}{
		{"", []byte{0x7f, 0, 1}},
		{"a", []byte{0x7f, 'a', 0, 1}},
		{"a\x00b", []byte{0x7f, 'a', 0, 0xff, 'b', 0, 1}},
		{"\x00", []byte{0x7f, 0, 0xff, 0, 1}},
	}
	for _, tc := range tests {
		got := newKey(0x7f).str(tc.in)
		require.Equal(t, tc.want, []byte(got), "str(%q)", tc.in)
		r := readKey(got, 0x7f)
		require.Equal(t, tc.in, r.str())
		require.NoError(t, r.done())
	}
	// Order is kept, and a string is never a prefix-match of another.
	words := []string{"", "\x00", "\x00\x00", "a", "a\x00", "a\x00b", "a\x01", "ab", "b"}
	var keys [][]byte
	for _, w := range words {
		keys = append(keys, newKey(0x7f).str(w))
	}
	require.True(t, slices.IsSortedFunc(keys, func(a, b []byte) int { return slices.Compare(a, b) }))
	for _, bad := range [][]byte{{0x7f, 'a'}, {0x7f, 'a', 0}, {0x7f, 'a', 0, 2}, {0x7e, 0, 1}} {
		r := readKey(bad, 0x7f)
		r.str()
		require.Error(t, r.done(), "%x", bad)
	}
}

func TestSetEncoding(t *testing.T) {
	for _, s := range []string{"", "1", "1:*", "4294967295", "1,3,5:9,100:200,4294967294", "2:4294967294"} {
		var set uid.Set
		if s != "" {
			set = uid.MustParseSet(s)
		}
		d := dec{b: enc{}.set(set)}
		got := d.set()
		require.NoError(t, d.end(), s)
		require.True(t, set.Equal(got), "%s: got %s", s, got)
	}
}

// TestDecodeRejects feeds damaged values to the decoders: each must fail
// with an error, never panic or accept.
func TestDecodeRejects(t *testing.T) {
	e := Entry{SrcUID: 3, DstUID: 4, EmailID: emailID(1), Flags: mailbox.MustFlags(mailbox.Seen)}
	good := encodeEntry(&e)
	kSrc := entryKey(tEntry, "p", "m", 3)
	mutate := func(b []byte, f func([]byte) []byte) []byte { return f(slices.Clone(b)) }
	tests := []struct {
		name string
		k, v []byte
	}{
		{"empty value", kSrc, nil},
		{"wrong record type", kSrc, mutate(good, func(b []byte) []byte { b[0] = recHeader; return b })},
		{"truncated", kSrc, good[:len(good)-3]},
		{"trailing bytes", kSrc, append(slices.Clone(good), 0)},
		{"key UID differs", entryKey(tEntry, "p", "m", 5), good},
		{"by-target key UID differs", entryKey(tEntryByDst, "p", "m", 3), good},
		{"zero UID", entryKey(tEntry, "p", "m", 0), encodeEntry(&Entry{DstUID: 1})},
		{"flags not canonical", kSrc, enc(slices.Clone(good[:len(good)-6])).str("\\Seen \\Seen")},
		{"flags invalid", kSrc, enc(slices.Clone(good[:len(good)-6])).str("\\Bogus")},
		{"key of another table", headerKey("p", "m"), good},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := decodeEntry(tc.k, tc.v)
			require.Error(t, err)
		})
	}

	ev := Event{Kind: KindExpunge, Mailbox: "INBOX", UIDs: uid.MustParseSet("1:2,5")}
	v := encodeEvent(&ev)
	eventCases := []struct {
		name string
		v    []byte
	}{
		{"unknown kind", mutate(v, func(b []byte) []byte { b[1] = 99; return b })},
		{"zero kind", mutate(v, func(b []byte) []byte { b[1] = 0; return b })},
		{"string longer than the value", newValue(recEvent).byte(1).uvarint(1000)},
		{"UID ranges touch", newValue(recEvent).byte(1).str("").str("").str("m").str("").uvarint(0).uvarint(2).uvarint(1).uvarint(0).uvarint(1).uvarint(0)},
		{"UID range past the maximum", newValue(recEvent).byte(1).str("").str("").str("m").str("").uvarint(0).uvarint(1).uvarint(1).uvarint(1 << 32)},
		{"too many EmailIDs", newValue(recEvent).byte(1).str("").str("").str("m").str("").uvarint(0).uvarint(0).uvarint(1 << 40)},
		{"too many ranges", newValue(recEvent).byte(1).str("").str("").str("m").str("").uvarint(0).uvarint(1 << 40)},
		{"UIDVALIDITY too large", newValue(recEvent).byte(1).str("").str("").str("m").str("").uvarint(1 << 33)},
	}
	for _, tc := range eventCases {
		t.Run("event "+tc.name, func(t *testing.T) {
			_, err := decodeEvent(eventKey(1), tc.v)
			require.Error(t, err)
		})
	}
	_, err := decodeEvent(eventKey(1)[:5], v)
	require.Error(t, err, "short key")

	// Times: nanoseconds out of range, the zero time written as set, a
	// bad presence byte.
	for _, tv := range [][]byte{
		enc{}.byte(1).varint(0).uvarint(1e9),
		enc{}.byte(1).varint(-62135596800).uvarint(0),
		enc{}.byte(2),
	} {
		d := dec{b: tv}
		d.time()
		require.Error(t, d.end(), "%x", tv)
	}

	// The dirty index: key and value must name the same mailbox and seq.
	m := UserMailbox{User: "u", MailboxID: "id", Mailbox: "INBOX", Seq: 5}
	_, err = decodeDirty(dirtyBySeqKey(6, "u", "id", ""), encodeDirty(&m))
	require.ErrorContains(t, err, "seq in key and value differ")
	_, err = decodeDirty(dirtyByMboxKey("u", "other", ""), encodeDirty(&m))
	require.ErrorContains(t, err, "mailbox in key and value differ")
	_, _, err = decodeHeader(headerKey("p", "a"), encodeHeader(&Header{Src: Side{MailboxID: "b"}}))
	require.ErrorContains(t, err, "source mailbox ID")
	_, _, err = decodeIntent(append(intentKey("p", Intent{MailboxID: "m", EmailID: emailID(1)})[:0:0], newKey(tIntent).str("p").str("m").id(emailID(1)).b('X').u32(1)...), encodeIntent(&Intent{}))
	require.Error(t, err, "bad direction")
}

func TestDescribeKey(t *testing.T) {
	tests := []struct {
		k    []byte
		want string
	}{
		{eventKey(9), "seq 9"},
		{cursorKey("c"), `"c"`},
		{entryKey(tEntry, "p", "m", 4), `pair "p" mailbox "m" uid 4`},
		{dirtyBySeqKey(3, "u", "", "INBOX"), `seq 3 user "u" mailbox "INBOX"`},
		{tombstoneKey(Tombstone{User: "u", MailboxID: "m", EmailID: emailID(1), UID: 2}), `user "u" mailbox "m" ` + emailID(1).Short() + " uid 2"},
		{emailIDKey("s", "m", 1, 2), `store "s" mailbox "m" uidvalidity 1 uid 2`},
		{[]byte{tEvent, 1}, "0101"},
		{[]byte{0x99}, "99"},
		{nil, "(empty key)"},
	}
	for _, tc := range tests {
		require.Equal(t, tc.want, describeKey(tc.k), "%x", tc.k)
	}
}
