package journal

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mailrepl/mailrepl/mailbox"
	"github.com/mailrepl/mailrepl/uid"
	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite testdata/format/v<current> and the fuzz seed corpus from the encoders: only when the format deliberately changes")

// goldenRecord is one record of a golden file.
type goldenRecord struct {
	name     string
	key, val []byte
	decoded  string
}

// goldenCases are the records of the current format version, by file.
// The golden files of every version must decode, byte for byte, forever: a
// later version that changes a record gives it a new type byte and keeps
// decoding the old ones.
func goldenCases() map[string][]goldenRecord {
	when := time.Date(2024, 5, 6, 7, 8, 9, 123456789, time.UTC)
	id1, id2 := mailbox.EmailIDOf([]byte("Subject: one\r\n\r\nbody\r\n")), mailbox.EmailIDOf([]byte("Subject: two\r\n\r\nbody\r\n"))
	full := Event{Seq: 7, Kind: KindAppend, User: "alice@example.org", MailboxID: "f0e1d2c3", Mailbox: "INBOX/Ünïcode",
		UIDValidity: 1714000000, UIDs: uid.MustParseSet("1:3,9,4294967295"), EmailIDs: []mailbox.EmailID{id1, id2},
		Flags: mailbox.MustFlags(mailbox.Seen, mailbox.Passed, "$Forwarded"), FlagOp: mailbox.FlagsReplace,
		ModSeq: 1 << 40, Time: when, Origin: "replica-b"}
	rename := Event{Seq: 1 << 56, Kind: KindRename, Mailbox: "New\x00Name", OldName: "Old"}
	dirtyID := UserMailbox{User: "alice", MailboxID: "f0e1", Mailbox: "Work", Seq: 300}
	dirtyName := UserMailbox{User: "", Mailbox: "a/b", Seq: 301, Deleted: true}
	h := Header{
		Src:     Side{MailboxID: "src-1", Mailbox: "INBOX", UIDValidity: 7, UIDNext: 1001, HighestModSeq: 5000},
		Dst:     Side{MailboxID: "dst-9", Mailbox: "Archive/INBOX", UIDValidity: 4294967295, UIDNext: 4294967295, HighestModSeq: 0},
		Updated: when,
	}
	hMarks := h
	hMarks.Subscribed, hMarks.Marks = true, 0x2d
	inMove := Intent{MailboxID: "src-1", EmailID: id2, SrcUID: 19, DstUID: 31, Reverse: true, Move: true, AlsoUID: 4000000002, Time: when}
	e := Entry{SrcUID: 17, DstUID: 4000000000, EmailID: id1, Flags: mailbox.MustFlags(mailbox.Answered, "Work")}
	eNoID := Entry{SrcUID: 1, DstUID: 1}
	in := Intent{MailboxID: "src-1", EmailID: id2, SrcUID: 18, DstUID: 4000000001, Time: when}
	inRev := Intent{MailboxID: "src-1", EmailID: id1, SrcUID: 0, Reverse: true}
	ts := Tombstone{User: "bob", MailboxID: "m\x00x", Mailbox: "Trash", EmailID: id1, UID: 55, Time: when}
	lost := Lost{User: "bob", MailboxID: "m1", Mailbox: "INBOX", UID: 56, EmailID: id2, Flags: mailbox.MustFlags(mailbox.Flagged),
		InternalDate: time.Date(1999, 12, 31, 23, 59, 59, 0, time.UTC), Size: 12345, Reason: "body missing", Time: when}
	lostNoID := Lost{User: "bob", MailboxID: "m1", UID: 57, InternalDate: time.Unix(-86400, 0).UTC(), Reason: "unreadable", Time: when}
	lostUnsure := lost
	lostUnsure.UID, lostUnsure.Unsure, lostUnsure.Reason = 58, true, "no body; no record of an expunge"
	cache := CachedEmailID{Store: "/var/mail/bob", MailboxID: "m1", UIDValidity: 3, UID: 9, EmailID: id2}
	num := numbering{id: "5f0c2a9e4b7d11ef8a1b0242ac120002", scheme: "maildir", scope: "alice", name: "Archive/2023",
		validity: 1733500000, next: 20021, updated: when}

	return map[string][]goldenRecord{
		"meta.txt": {
			{name: "format version", key: keyFormat, val: encodeFormat(FormatVersion)},
			{name: "truncation point", key: keyTruncated, val: encodeSeq(recTruncated, 12345)},
		},
		"event.txt": {
			{name: "append with every field", key: eventKey(full.Seq), val: encodeEvent(&full)},
			{name: "rename without ID, a NUL in the name", key: eventKey(rename.Seq), val: encodeEvent(&rename)},
		},
		"cursor.txt": {
			{name: "cursor", key: cursorKey("replica-b"), val: encodeSeq(recCursor, 299)},
		},
		"dirty.txt": {
			{name: "by mailbox, with an ID", key: dirtyByMboxKey(dirtyID.User, dirtyID.MailboxID, dirtyID.Mailbox), val: encodeDirty(&dirtyID)},
			{name: "by seq, with an ID", key: dirtyBySeqKey(dirtyID.Seq, dirtyID.User, dirtyID.MailboxID, dirtyID.Mailbox), val: encodeDirty(&dirtyID)},
			{name: "by mailbox, by name, deleted", key: dirtyByMboxKey(dirtyName.User, "", dirtyName.Mailbox), val: encodeDirty(&dirtyName)},
			{name: "by seq, by name, deleted", key: dirtyBySeqKey(dirtyName.Seq, dirtyName.User, "", dirtyName.Mailbox), val: encodeDirty(&dirtyName)},
		},
		"state.txt": {
			{name: "header", key: headerKey("alice@a→alice@b", h.Src.MailboxID), val: encodeHeader(&h)},
			{name: "entry by source UID", key: entryKey(tEntry, "p", "src-1", e.SrcUID), val: encodeEntry(&e)},
			{name: "entry by target UID", key: entryKey(tEntryByDst, "p", "src-1", e.DstUID), val: encodeEntry(&e)},
			{name: "entry without EmailID or flags", key: entryKey(tEntry, "p", "src-1", eNoID.SrcUID), val: encodeEntry(&eNoID)},
			{name: "intent to the target", key: intentKey("p", in), val: encodeIntent(&in)},
			{name: "intent to the source, no UIDs", key: intentKey("p", inRev), val: encodeIntent(&inRev)},
			{name: "header, subscribed, with marks", key: headerKey("p", hMarks.Src.MailboxID), val: encodeHeader(&hMarks)},
			{name: "move intent with the other side's copy", key: intentKey("p", inMove), val: encodeIntent(&inMove)},
			{name: "pair index", key: pairIndexKey(h.Src.MailboxID, "alice@a→alice@b"), val: newValue(recPairIndex)},
		},
		"numbering.txt": {
			{name: "numbering", key: numberingKey(num.id), val: encodeNumbering(&num)},
			{name: "numbered message", key: numberedKey(num.id, "1733400000.M1P2Q3.host,S=4242,W=4300"), val: newValue(recNumbered).uvarint(4294967294)},
			{name: "numbering index", key: numberIndexKey("maildir", "1733400000.M1P2Q3.host,S=4242,W=4300", num.id), val: newValue(recNumberIndex)},
			{name: "numbering name, NUL in the scope", key: numberNameKey("a\x00b", "mbox", "INBOX"), val: newValue(recNumberName).str(string(num.id))},
			{name: "last UIDVALIDITY given", key: keyValidity, val: newValue(recValidity).uvarint(1733500000)},
		},
		"records.txt": {
			{name: "tombstone", key: tombstoneKey(ts), val: encodeTombstone(&ts)},
			{name: "tombstone by EmailID", key: tombByEmailKey(ts), val: encodeTombstone(&ts)},
			{name: "lost", key: lostKey(lost), val: encodeLost(&lost)},
			{name: "lost without EmailID, date before 1970", key: lostKey(lostNoID), val: encodeLost(&lostNoID)},
			{name: "lost, unsure", key: lostKey(lostUnsure), val: encodeLost(&lostUnsure)},
		},
		"cache.txt": {
			{name: "EmailID", key: emailIDKey(cache.Store, cache.MailboxID, cache.UIDValidity, cache.UID), val: encodeEmailID(cache.EmailID)},
		},
		"record.txt": {
			{name: "program record", key: recordKey("sync_all_users/batch/1f2e", "alice@example.org"), val: encodeRecord([]byte(`{"status":"ok"}`))},
			{name: "empty key, NUL in the namespace, empty value", key: recordKey("a\x00b", ""), val: encodeRecord(nil)},
			{name: "binary value", key: recordKey("n", "k"), val: encodeRecord([]byte{0, 1, 0xff, 0x50})},
		},
	}
}

// decodeRecord decodes any record and renders it as text.
func decodeRecord(k, v []byte) (string, error) {
	if len(k) == 0 {
		return "", fmt.Errorf("empty key")
	}
	tm := func(t time.Time) string {
		if t.IsZero() {
			return "zero"
		}
		return t.Format(time.RFC3339Nano)
	}
	switch k[0] {
	case tMeta:
		switch {
		case bytes.Equal(k, keyFormat):
			n, err := decodeFormat(v)
			return fmt.Sprintf("format version %d", n), err
		case bytes.Equal(k, keyTruncated):
			s, err := decodeSeq(tMeta, k, v, recTruncated)
			return fmt.Sprintf("truncated through %d", s), err
		case bytes.Equal(k, keyValidity):
			d := newDec(v, recValidity)
			n := d.uvarint()
			return fmt.Sprintf("last UIDVALIDITY %d", n), d.end()
		}
		return "", fmt.Errorf("unknown meta key %x", k)
	case tEvent:
		e, err := decodeEvent(k, v)
		var ids []string
		for _, id := range e.EmailIDs {
			ids = append(ids, id.Short())
		}
		return fmt.Sprintf("seq=%d kind=%s user=%q mailboxid=%q mailbox=%q oldname=%q uidvalidity=%d uids=%q emailids=%v flags=%q flagop=%s modseq=%d time=%s origin=%q",
			e.Seq, e.Kind, e.User, e.MailboxID, e.Mailbox, e.OldName, e.UIDValidity, e.UIDs, ids, e.Flags, e.FlagOp, e.ModSeq, tm(e.Time), e.Origin), err
	case tCursor:
		name, s, err := decodeCursor(k, v)
		return fmt.Sprintf("cursor %q at %d", name, s), err
	case tDirtyByMbox, tDirtyBySeq:
		m, err := decodeDirty(k, v)
		return fmt.Sprintf("user=%q mailboxid=%q mailbox=%q seq=%d deleted=%v", m.User, m.MailboxID, m.Mailbox, m.Seq, m.Deleted), err
	case tHeader:
		pair, h, err := decodeHeader(k, v)
		side := func(s Side) string {
			return fmt.Sprintf("{id=%q name=%q uidvalidity=%d uidnext=%d highestmodseq=%d}", s.MailboxID, s.Mailbox, s.UIDValidity, s.UIDNext, s.HighestModSeq)
		}
		return fmt.Sprintf("pair=%q src=%s dst=%s updated=%s", pair, side(h.Src), side(h.Dst), tm(h.Updated)), err
	case tEntry, tEntryByDst:
		e, err := decodeEntry(k, v)
		return fmt.Sprintf("%s src=%d dst=%d emailid=%s flags=%q", describeKey(k), e.SrcUID, e.DstUID, e.EmailID.Short(), e.Flags), err
	case tIntent:
		pair, in, err := decodeIntent(k, v)
		return fmt.Sprintf("pair=%q mailboxid=%q emailid=%s srcuid=%d dstuid=%d reverse=%v time=%s", pair, in.MailboxID, in.EmailID.Short(), in.SrcUID, in.DstUID, in.Reverse, tm(in.Time)), err
	case tTombstone, tTombByEmail:
		t, err := decodeTombstone(k, v)
		return fmt.Sprintf("user=%q mailboxid=%q mailbox=%q emailid=%s uid=%d time=%s", t.User, t.MailboxID, t.Mailbox, t.EmailID.Short(), t.UID, tm(t.Time)), err
	case tLost:
		l, err := decodeLost(k, v)
		return fmt.Sprintf("user=%q mailboxid=%q mailbox=%q uid=%d emailid=%s flags=%q internaldate=%s size=%d reason=%q time=%s",
			l.User, l.MailboxID, l.Mailbox, l.UID, l.EmailID.Short(), l.Flags, tm(l.InternalDate), l.Size, l.Reason, tm(l.Time)), err
	case tEmailID:
		c, err := decodeEmailID(k, v)
		return fmt.Sprintf("store=%q mailboxid=%q uidvalidity=%d uid=%d emailid=%s", c.Store, c.MailboxID, c.UIDValidity, c.UID, c.EmailID), err
	case tRecord:
		r, err := decodeRecordValue(k, v)
		return fmt.Sprintf("namespace=%q key=%q value=%q", r.Namespace, r.Key, r.Value), err
	case tPairIndex:
		pair, err := decodePairIndex(k, v)
		return fmt.Sprintf("%s → pair %q", describeKey(k), pair), err
	case tNumbering:
		n, err := decodeNumbering(k, v)
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("id=%q scheme=%q scope=%q name=%q uidvalidity=%d uidnext=%d updated=%s", n.id, n.scheme, n.scope, n.name, n.validity, n.next, tm(n.updated)), nil
	case tNumbered:
		key, u, err := decodeNumbered(k, v)
		return fmt.Sprintf("%s key=%q uid=%d", describeKey(k), key, u), err
	case tNumberIndex:
		scheme, key, id, err := decodeNumberIndex(k, v)
		return fmt.Sprintf("scheme=%q key=%q numbering=%q", scheme, key, id), err
	case tNumberName:
		id, err := decodeNumberName(k, v)
		return fmt.Sprintf("%s → numbering %q", describeKey(k), id), err
	}
	return "", fmt.Errorf("unknown table 0x%02x", k[0])
}

// goldenDir holds the golden files of the current format version; those
// of every earlier version stay beside it and must decode forever.
var goldenDir = fmt.Sprintf("testdata/format/v%d", FormatVersion)

func writeGolden(t *testing.T, file string, recs []goldenRecord) {
	var b strings.Builder
	fmt.Fprintf(&b, "# journal format v%d: %s records.\n", FormatVersion, strings.TrimSuffix(file, ".txt"))
	b.WriteString("# Each record: a name, its key and value in hex, and what it decodes to.\n")
	b.WriteString("# These must decode forever. Regenerate (go test -run TestGoldenFormat -update)\n")
	b.WriteString("# only when the format deliberately changes, in a new version's directory.\n")
	for _, r := range recs {
		fmt.Fprintf(&b, "\nname: %s\nkey: %x\nvalue: %x\ndecoded: %s\n", r.name, r.key, r.val, r.decoded)
	}
	require.NoError(t, os.MkdirAll(goldenDir, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(goldenDir, file), []byte(b.String()), 0o644))
}

func readGolden(t *testing.T, path string) []goldenRecord {
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	var recs []goldenRecord
	var cur *goldenRecord
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		field, value, ok := strings.Cut(line, ": ")
		require.True(t, ok, "%s: bad line %q", path, line)
		switch field {
		case "name":
			recs = append(recs, goldenRecord{name: value})
			cur = &recs[len(recs)-1]
		case "key", "value":
			require.NotNil(t, cur, "%s: %s before name", path, field)
			b, err := hex.DecodeString(value)
			require.NoError(t, err, "%s: %s", path, line)
			if field == "key" {
				cur.key = b
			} else {
				cur.val = b
			}
		case "decoded":
			require.NotNil(t, cur)
			cur.decoded = value
		default:
			t.Fatalf("%s: unknown field %q", path, field)
		}
	}
	require.NoError(t, sc.Err())
	return recs
}

// TestGoldenFormat decodes every golden record of every format version
// and compares it with what it decoded to when it was written. For the
// version this build writes, it also checks that the encoders still write
// those bytes.
func TestGoldenFormat(t *testing.T) {
	cases := goldenCases()
	if *update {
		for file, recs := range cases {
			for i := range recs {
				d, err := decodeRecord(recs[i].key, recs[i].val)
				require.NoError(t, err, "%s: %s", file, recs[i].name)
				recs[i].decoded = d
			}
			writeGolden(t, file, recs)
		}
		writeFuzzSeeds(t, cases)
	}
	current, err := filepath.Glob(filepath.Join(goldenDir, "*.txt"))
	require.NoError(t, err)
	require.Len(t, current, len(cases), "golden files of %s", goldenDir)
	files, err := filepath.Glob("testdata/format/v*/*.txt")
	require.NoError(t, err)
	seen := 0
	for _, path := range files {
		for _, r := range readGolden(t, path) {
			got, err := decodeRecord(r.key, r.val)
			require.NoError(t, err, "%s: %s", path, r.name)
			require.Equal(t, r.decoded, got, "%s: %s", path, r.name)
			seen++
		}
		if filepath.Dir(path) == goldenDir {
			want := cases[filepath.Base(path)]
			got := readGolden(t, path)
			require.Equal(t, len(want), len(got), path)
			for i := range want {
				require.Equal(t, want[i].name, got[i].name, path)
				require.Equal(t, hex.EncodeToString(want[i].key), hex.EncodeToString(got[i].key), "%s: %s: key encoding changed", path, want[i].name)
				require.Equal(t, hex.EncodeToString(want[i].val), hex.EncodeToString(got[i].val), "%s: %s: value encoding changed", path, want[i].name)
			}
		}
	}
	require.Greater(t, seen, 15)
}

// fuzzTargets maps each fuzz target to the tables whose golden records
// seed it.
var fuzzTargets = map[string][]byte{
	"FuzzDecodeEvent":       {tEvent},
	"FuzzDecodeDirty":       {tDirtyByMbox, tDirtyBySeq},
	"FuzzDecodeHeader":      {tHeader},
	"FuzzDecodeEntry":       {tEntry, tEntryByDst},
	"FuzzDecodeIntent":      {tIntent},
	"FuzzDecodeTombstone":   {tTombstone, tTombByEmail},
	"FuzzDecodeLost":        {tLost},
	"FuzzDecodeEmailID":     {tEmailID},
	"FuzzDecodeRecordValue": {tRecord},
	"FuzzDecodeNumbering":   {tNumbering, tNumbered, tNumberIndex, tNumberName, tPairIndex},
	"FuzzDecodeSeq":         {tMeta, tCursor},
	"FuzzDecodeRecord":      nil, // every table
}

func writeFuzzSeeds(t *testing.T, cases map[string][]goldenRecord) {
	for target, tables := range fuzzTargets {
		dir := filepath.Join("testdata", "fuzz", target)
		require.NoError(t, os.MkdirAll(dir, 0o755))
		for _, recs := range cases {
			for _, r := range recs {
				if tables != nil && !slices.Contains(tables, r.key[0]) {
					continue
				}
				name := strings.NewReplacer(" ", "-", ",", "", "→", "-").Replace(r.name)
				body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n[]byte(%q)\n", r.key, r.val)
				require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644))
			}
		}
	}
}
