package journal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/mailrepl/mailrepl/mailbox"
	"github.com/mailrepl/mailrepl/uid"
)

// Record types: the first byte of every value. A record whose encoding
// changes gets a new type byte; decoders keep reading the old ones.
const (
	recFormat    byte = 0x01 // uvarint version
	recEvent     byte = 0x10
	recCursor    byte = 0x11 // uvarint seq
	recTruncated byte = 0x12 // uvarint seq
	recDirty     byte = 0x13
	recHeader    byte = 0x20
	recEntry     byte = 0x21
	recIntent    byte = 0x22
	recTombstone byte = 0x30
	recLost      byte = 0x31
	recEmailID   byte = 0x40
	recRecord    byte = 0x50 // length-prefixed bytes
	recPairIndex byte = 0x23 // empty (v2)
	// Numberings (v2).
	recNumbering   byte = 0x60
	recNumbered    byte = 0x61 // uvarint UID
	recNumberIndex byte = 0x62 // empty
	recNumberName  byte = 0x63 // string numbering ID
	recValidity    byte = 0x64 // uvarint UIDVALIDITY
)

// enc builds values.
type enc []byte

func newValue(rec byte) enc { return enc{rec} }

func (e enc) uvarint(v uint64) enc { return binary.AppendUvarint(e, v) }
func (e enc) varint(v int64) enc   { return binary.AppendVarint(e, v) }
func (e enc) byte(v byte) enc      { return append(e, v) }
func (e enc) str(s string) enc     { return append(e.uvarint(uint64(len(s))), s...) }
func (e enc) id(v mailbox.EmailID) enc {
	return append(e, v[:]...)
}

func (e enc) bool(v bool) enc {
	if v {
		return e.byte(1)
	}
	return e.byte(0)
}

// time writes 0 for the zero time, else 1, seconds and nanoseconds since
// the Unix epoch (UTC; the location is not kept).
func (e enc) time(t time.Time) enc {
	if t.IsZero() {
		return e.byte(0)
	}
	return e.byte(1).varint(t.Unix()).uvarint(uint64(t.Nanosecond()))
}

// set writes the number of ranges, then each range as the distance of its
// start from the previous range's stop (from 0 for the first) and its
// length minus one.
func (e enc) set(s uid.Set) enc {
	e = e.uvarint(uint64(len(s)))
	var prev uint64
	for _, r := range s {
		e = e.uvarint(uint64(r.Start) - prev).uvarint(uint64(r.Stop - r.Start))
		prev = uint64(r.Stop)
	}
	return e
}

// dec reads values; the first error sticks.
type dec struct {
	b   []byte
	err error
}

func (d *dec) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf(format, args...)
	}
}

func (d *dec) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail("bad varint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *dec) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail("bad varint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *dec) u32(what string) uint32 {
	v := d.uvarint()
	if v > math.MaxUint32 {
		d.fail("%s %d out of range", what, v)
		return 0
	}
	return uint32(v)
}

func (d *dec) byte() byte {
	if d.err != nil {
		return 0
	}
	if len(d.b) == 0 {
		d.fail("truncated")
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
}

func (d *dec) bool() bool {
	switch d.byte() {
	case 0:
		return false
	case 1:
		return true
	}
	d.fail("bad boolean")
	return false
}

func (d *dec) str() string {
	n := d.uvarint()
	if d.err != nil {
		return ""
	}
	if n > uint64(len(d.b)) {
		d.fail("string of %d bytes, %d left", n, len(d.b))
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}

func (d *dec) id() mailbox.EmailID {
	var id mailbox.EmailID
	if d.err != nil {
		return id
	}
	if len(d.b) < len(id) {
		d.fail("truncated EmailID")
		return id
	}
	copy(id[:], d.b)
	d.b = d.b[len(id):]
	return id
}

func (d *dec) time() time.Time {
	switch d.byte() {
	case 0:
		return time.Time{}
	case 1:
	default:
		d.fail("bad time")
		return time.Time{}
	}
	sec := d.varint()
	nsec := d.uvarint()
	if d.err != nil {
		return time.Time{}
	}
	if nsec >= 1e9 {
		d.fail("bad time: %d ns", nsec)
		return time.Time{}
	}
	t := time.Unix(sec, int64(nsec)).UTC()
	if t.IsZero() {
		d.fail("bad time: zero time written as set")
	}
	return t
}

func (d *dec) flags() mailbox.Flags {
	n := d.uvarint()
	if d.err != nil {
		return mailbox.Flags{}
	}
	if n > uint64(len(d.b)) {
		d.fail("flags of %d bytes, %d left", n, len(d.b))
		return mailbox.Flags{}
	}
	b := d.b[:n]
	d.b = d.b[n:]
	if n == 0 {
		return mailbox.Flags{}
	}
	f, err := parseFlags(b)
	if err != nil {
		d.fail("%v", err)
	}
	return f
}

// flagCache remembers the flag sets decoded lately: most messages share a
// few sets, and parsing one allocates. Flags are values that no method
// changes, so one can be shared.
var flagCache struct {
	sync.Mutex
	m map[string]mailbox.Flags
}

const flagCacheSize = 1024

// parseFlags parses flags in canonical form.
func parseFlags(b []byte) (mailbox.Flags, error) {
	flagCache.Lock()
	f, ok := flagCache.m[string(b)]
	flagCache.Unlock()
	if ok {
		return f, nil
	}
	s := string(b)
	f, err := mailbox.ParseFlags(s)
	if err != nil {
		return mailbox.Flags{}, err
	}
	if f.String() != s {
		return mailbox.Flags{}, fmt.Errorf("flags %q not in canonical form", s)
	}
	flagCache.Lock()
	if len(flagCache.m) >= flagCacheSize || flagCache.m == nil {
		flagCache.m = make(map[string]mailbox.Flags, flagCacheSize)
	}
	flagCache.m[s] = f
	flagCache.Unlock()
	return f, nil
}

func (d *dec) set() uid.Set {
	n := d.uvarint()
	if d.err != nil {
		return nil
	}
	if n > uint64(len(d.b))/2 { // each range takes at least two bytes
		d.fail("%d UID ranges in %d bytes", n, len(d.b))
		return nil
	}
	if n == 0 {
		return nil
	}
	s := make(uid.Set, 0, n)
	var prev uint64
	for i := uint64(0); i < n; i++ {
		delta, length := d.uvarint(), d.uvarint()
		if d.err != nil {
			return nil
		}
		if delta == 0 || (i > 0 && delta < 2) {
			d.fail("UID ranges overlap or touch")
			return nil
		}
		start := prev + delta
		if start < prev || start > uint64(uid.Max) || length > uint64(uid.Max)-start {
			d.fail("UID range out of bounds")
			return nil
		}
		stop := start + length
		s = append(s, uid.Range{Start: uid.UID(start), Stop: uid.UID(stop)})
		prev = stop
	}
	return s
}

// end fails when bytes are left over, and returns the first error.
func (d *dec) end() error {
	if d.err == nil && len(d.b) != 0 {
		d.fail("%d unexpected trailing bytes", len(d.b))
	}
	return d.err
}

// newDec starts reading v, a record of type rec.
func newDec(v []byte, rec byte) dec {
	d := dec{b: v}
	switch {
	case len(v) == 0:
		d.fail("empty value")
	case v[0] != rec:
		d.fail("record type 0x%02x, want 0x%02x", v[0], rec)
	default:
		d.b = v[1:]
	}
	return d
}

// A decodeError says which record did not decode and why. Callers wrap it
// in ErrCorrupt with the journal's directory.
type decodeError struct {
	table byte
	key   []byte
	err   error
}

func (e *decodeError) Error() string {
	return fmt.Sprintf("%s record %s: %v", tableName(e.table), describeKey(e.key), e.err)
}

// describeKey spells a key out for people, or in hex when it does not
// parse.
func describeKey(k []byte) string {
	if len(k) == 0 {
		return "(empty key)"
	}
	r := readKey(k, k[0])
	var s string
	switch k[0] {
	case tEvent:
		s = fmt.Sprintf("seq %d", r.u64())
	case tCursor:
		s = fmt.Sprintf("%q", r.str())
	case tDirtyByMbox:
		user := r.str()
		id, name := r.mbox()
		s = fmt.Sprintf("user %q mailbox %q", user, string(id)+name)
	case tDirtyBySeq:
		seq := r.u64()
		user := r.str()
		id, name := r.mbox()
		s = fmt.Sprintf("seq %d user %q mailbox %q", seq, user, string(id)+name)
	case tHeader:
		s = fmt.Sprintf("pair %q mailbox %q", r.str(), r.str())
	case tEntry, tEntryByDst:
		pair, mbox := r.str(), r.str()
		s = fmt.Sprintf("pair %q mailbox %q uid %d", pair, mbox, r.u32())
	case tIntent:
		pair, mbox := r.str(), r.str()
		id := r.id()
		dir := r.byte()
		s = fmt.Sprintf("pair %q mailbox %q %s %c uid %d", pair, mbox, id.Short(), dir, r.u32())
	case tTombstone, tLost:
		user, mbox := r.str(), r.str()
		id := r.id()
		s = fmt.Sprintf("user %q mailbox %q %s uid %d", user, mbox, id.Short(), r.u32())
	case tTombByEmail:
		user := r.str()
		id := r.id()
		s = fmt.Sprintf("user %q %s mailbox %q uid %d", user, id.Short(), r.str(), r.u32())
	case tEmailID:
		store, mbox := r.str(), r.str()
		s = fmt.Sprintf("store %q mailbox %q uidvalidity %d uid %d", store, mbox, r.u32(), r.u32())
	case tRecord:
		ns := r.str()
		s = fmt.Sprintf("namespace %q key %q", ns, r.str())
	case tPairIndex:
		mbox := r.str()
		s = fmt.Sprintf("mailbox %q pair %q", mbox, r.str())
	case tNumbering:
		s = fmt.Sprintf("numbering %q", r.str())
	case tNumbered:
		id := r.str()
		s = fmt.Sprintf("numbering %q key %q", id, r.str())
	case tNumberIndex:
		scheme, key := r.str(), r.str()
		s = fmt.Sprintf("scheme %q key %q numbering %q", scheme, key, r.str())
	case tNumberName:
		scope, scheme := r.str(), r.str()
		s = fmt.Sprintf("scope %q scheme %q mailbox %q", scope, scheme, r.str())
	default:
		r.err = errKey
	}
	if r.done() != nil {
		return fmt.Sprintf("%x", k)
	}
	return s
}

func (e *decodeError) Unwrap() error { return e.err }

func badRecord(table byte, key []byte, err error) error {
	return &decodeError{table: table, key: append([]byte(nil), key...), err: err}
}

var errWrongTable = errors.New("key of another table")

// Format version.

func encodeFormat(v uint64) []byte { return newValue(recFormat).uvarint(v) }

func decodeFormat(v []byte) (uint64, error) {
	d := newDec(v, recFormat)
	n := d.uvarint()
	if err := d.end(); err != nil {
		return 0, badRecord(tMeta, keyFormat, err)
	}
	return n, nil
}

// Seq values: cursors and the truncation point.

func encodeSeq(rec byte, s Seq) []byte { return newValue(rec).uvarint(uint64(s)) }

func decodeSeq(table byte, k, v []byte, rec byte) (Seq, error) {
	d := newDec(v, rec)
	s := Seq(d.uvarint())
	if err := d.end(); err != nil {
		return 0, badRecord(table, k, err)
	}
	return s, nil
}

// decodeCursor decodes a cursor's name and position.
func decodeCursor(k, v []byte) (string, Seq, error) {
	r := readKey(k, tCursor)
	name := r.str()
	if err := r.done(); err != nil {
		return "", 0, badRecord(tCursor, k, err)
	}
	s, err := decodeSeq(tCursor, k, v, recCursor)
	return name, s, err
}

// Events.

func encodeEvent(ev *Event) []byte {
	e := newValue(recEvent).byte(byte(ev.Kind)).
		str(ev.User).str(string(ev.MailboxID)).str(ev.Mailbox).str(ev.OldName).
		uvarint(uint64(ev.UIDValidity)).set(ev.UIDs).
		uvarint(uint64(len(ev.EmailIDs)))
	for _, id := range ev.EmailIDs {
		e = e.id(id)
	}
	return e.str(ev.Flags.String()).byte(byte(ev.FlagOp)).uvarint(uint64(ev.ModSeq)).
		time(ev.Time).str(ev.Origin)
}

func decodeEvent(k, v []byte) (Event, error) {
	r := readKey(k, tEvent)
	seq := Seq(r.u64())
	if err := r.done(); err != nil {
		return Event{}, badRecord(tEvent, k, err)
	}
	d := newDec(v, recEvent)
	ev := Event{Seq: seq}
	ev.Kind = EventKind(d.byte())
	if d.err == nil && (ev.Kind < 1 || ev.Kind > maxKind) {
		d.fail("unknown event kind %d", ev.Kind)
	}
	ev.User = d.str()
	ev.MailboxID = mailbox.ID(d.str())
	ev.Mailbox = d.str()
	ev.OldName = d.str()
	ev.UIDValidity = uid.Validity(d.u32("UIDVALIDITY"))
	ev.UIDs = d.set()
	n := d.uvarint()
	if d.err == nil && n > uint64(len(d.b))/uint64(len(mailbox.EmailID{})) {
		d.fail("%d EmailIDs in %d bytes", n, len(d.b))
	}
	if d.err == nil && n > 0 {
		ev.EmailIDs = make([]mailbox.EmailID, n)
		for i := range ev.EmailIDs {
			ev.EmailIDs[i] = d.id()
		}
	}
	ev.Flags = d.flags()
	ev.FlagOp = mailbox.FlagOp(d.byte())
	if d.err == nil && ev.FlagOp > mailbox.FlagsReplace {
		d.fail("unknown flag operation %d", ev.FlagOp)
	}
	ev.ModSeq = mailbox.ModSeq(d.uvarint())
	ev.Time = d.time()
	ev.Origin = d.str()
	if err := d.end(); err != nil {
		return Event{}, badRecord(tEvent, k, err)
	}
	return ev, nil
}

// Dirty-mailbox index: both tables hold the same value.

func encodeDirty(m *UserMailbox) []byte {
	return newValue(recDirty).uvarint(uint64(m.Seq)).str(string(m.MailboxID)).str(m.Mailbox).bool(m.Deleted)
}

func decodeDirtyValue(table byte, k, v []byte) (UserMailbox, error) {
	d := newDec(v, recDirty)
	m := UserMailbox{Seq: Seq(d.uvarint())}
	m.MailboxID = mailbox.ID(d.str())
	m.Mailbox = d.str()
	m.Deleted = d.bool()
	if err := d.end(); err != nil {
		return UserMailbox{}, badRecord(table, k, err)
	}
	return m, nil
}

// decodeDirty decodes either table of the dirty index and checks that key
// and value agree.
func decodeDirty(k, v []byte) (UserMailbox, error) {
	if len(k) == 0 || (k[0] != tDirtyByMbox && k[0] != tDirtyBySeq) {
		return UserMailbox{}, badRecord(tDirtyBySeq, k, errWrongTable)
	}
	table := k[0]
	m, err := decodeDirtyValue(table, k, v)
	if err != nil {
		return UserMailbox{}, err
	}
	r := readKey(k, table)
	if table == tDirtyBySeq && Seq(r.u64()) != m.Seq && r.err == nil {
		return UserMailbox{}, badRecord(table, k, errors.New("seq in key and value differ"))
	}
	m.User = r.str()
	id, name := r.mbox()
	if err := r.done(); err != nil {
		return UserMailbox{}, badRecord(table, k, err)
	}
	if (id != "" && id != m.MailboxID) || (id == "" && (m.MailboxID != "" || name != m.Mailbox)) {
		return UserMailbox{}, badRecord(table, k, errors.New("mailbox in key and value differ"))
	}
	return m, nil
}

// State headers.

func (e enc) side(s *Side) enc {
	return e.str(string(s.MailboxID)).str(s.Mailbox).uvarint(uint64(s.UIDValidity)).
		uvarint(uint64(s.UIDNext)).uvarint(uint64(s.HighestModSeq))
}

func (d *dec) side() Side {
	var s Side
	s.MailboxID = mailbox.ID(d.str())
	s.Mailbox = d.str()
	s.UIDValidity = uid.Validity(d.u32("UIDVALIDITY"))
	s.UIDNext = uid.UID(d.u32("UIDNEXT"))
	s.HighestModSeq = mailbox.ModSeq(d.uvarint())
	return s
}

func encodeHeader(h *Header) []byte {
	e := newValue(recHeader).side(&h.Src).side(&h.Dst).time(h.Updated)
	if h.Subscribed || h.Marks != 0 {
		// Optional tail: records written before these fields existed end
		// after Updated.
		e = e.bool(h.Subscribed).uvarint(uint64(h.Marks))
	}
	return e
}

// decodeHeader decodes a header and the pair it belongs to.
func decodeHeader(k, v []byte) (string, Header, error) {
	r := readKey(k, tHeader)
	pair := r.str()
	mbox := mailbox.ID(r.str())
	if err := r.done(); err != nil {
		return "", Header{}, badRecord(tHeader, k, err)
	}
	d := newDec(v, recHeader)
	h := Header{Src: d.side(), Dst: d.side(), Updated: d.time()}
	if d.err == nil && len(d.b) > 0 {
		h.Subscribed = d.bool()
		h.Marks = d.u32("marks")
	}
	if err := d.end(); err != nil {
		return "", Header{}, badRecord(tHeader, k, err)
	}
	if h.Src.MailboxID != mbox {
		return "", Header{}, badRecord(tHeader, k, fmt.Errorf("source mailbox ID %q in value, %q in key", h.Src.MailboxID, mbox))
	}
	return pair, h, nil
}

// State entries: both tables hold the same value.

func encodeEntry(en *Entry) []byte {
	return newValue(recEntry).uvarint(uint64(en.SrcUID)).uvarint(uint64(en.DstUID)).id(en.EmailID).str(en.Flags.String())
}

func decodeEntry(k, v []byte) (Entry, error) {
	if len(k) == 0 || (k[0] != tEntry && k[0] != tEntryByDst) {
		return Entry{}, badRecord(tEntry, k, errWrongTable)
	}
	table := k[0]
	r := readKey(k, table)
	r.skipStr()
	r.skipStr()
	ku := uid.UID(r.u32())
	if err := r.done(); err != nil {
		return Entry{}, badRecord(table, k, err)
	}
	d := newDec(v, recEntry)
	en := Entry{SrcUID: uid.UID(d.u32("UID")), DstUID: uid.UID(d.u32("UID"))}
	en.EmailID = d.id()
	en.Flags = d.flags()
	if err := d.end(); err != nil {
		return Entry{}, badRecord(table, k, err)
	}
	want := en.SrcUID
	if table == tEntryByDst {
		want = en.DstUID
	}
	if ku != want || en.SrcUID == 0 || en.DstUID == 0 {
		return Entry{}, badRecord(table, k, fmt.Errorf("UIDs %d→%d do not match key UID %d", en.SrcUID, en.DstUID, ku))
	}
	return en, nil
}

// Intents: the key holds all but DstUID and Time.

func encodeIntent(in *Intent) []byte {
	e := newValue(recIntent).uvarint(uint64(in.DstUID)).time(in.Time)
	if in.Move || in.AlsoUID != 0 {
		e = e.bool(in.Move).uvarint(uint64(in.AlsoUID)) // optional tail
	}
	return e
}

// decodeIntent decodes an intent and the pair it belongs to.
func decodeIntent(k, v []byte) (string, Intent, error) {
	r := readKey(k, tIntent)
	pair := r.str()
	in := Intent{MailboxID: mailbox.ID(r.str())}
	in.EmailID = r.id()
	switch r.byte() {
	case dirToTarget:
	case dirToSource:
		in.Reverse = true
	default:
		if r.err == nil {
			r.err = errKey
		}
	}
	in.SrcUID = uid.UID(r.u32())
	if err := r.done(); err != nil {
		return "", Intent{}, badRecord(tIntent, k, err)
	}
	d := newDec(v, recIntent)
	in.DstUID = uid.UID(d.u32("UID"))
	in.Time = d.time()
	if d.err == nil && len(d.b) > 0 {
		in.Move = d.bool()
		in.AlsoUID = uid.UID(d.u32("UID"))
	}
	if err := d.end(); err != nil {
		return "", Intent{}, badRecord(tIntent, k, err)
	}
	return pair, in, nil
}

// Tombstones: both tables hold the same value.

func encodeTombstone(t *Tombstone) []byte {
	return newValue(recTombstone).str(t.Mailbox).time(t.Time)
}

func decodeTombstone(k, v []byte) (Tombstone, error) {
	if len(k) == 0 || (k[0] != tTombstone && k[0] != tTombByEmail) {
		return Tombstone{}, badRecord(tTombstone, k, errWrongTable)
	}
	table := k[0]
	r := readKey(k, table)
	var t Tombstone
	t.User = r.str()
	if table == tTombstone {
		t.MailboxID = mailbox.ID(r.str())
		t.EmailID = r.id()
	} else {
		t.EmailID = r.id()
		t.MailboxID = mailbox.ID(r.str())
	}
	t.UID = uid.UID(r.u32())
	if err := r.done(); err != nil {
		return Tombstone{}, badRecord(table, k, err)
	}
	d := newDec(v, recTombstone)
	t.Mailbox = d.str()
	t.Time = d.time()
	if err := d.end(); err != nil {
		return Tombstone{}, badRecord(table, k, err)
	}
	return t, nil
}

// Lost records.

func encodeLost(l *Lost) []byte {
	e := newValue(recLost).str(l.Mailbox).str(l.Flags.String()).time(l.InternalDate).
		varint(l.Size).str(l.Reason).time(l.Time)
	if l.Unsure {
		e = e.bool(true) // optional tail
	}
	return e
}

func decodeLost(k, v []byte) (Lost, error) {
	r := readKey(k, tLost)
	var l Lost
	l.User = r.str()
	l.MailboxID = mailbox.ID(r.str())
	l.EmailID = r.id()
	l.UID = uid.UID(r.u32())
	if err := r.done(); err != nil {
		return Lost{}, badRecord(tLost, k, err)
	}
	d := newDec(v, recLost)
	l.Mailbox = d.str()
	l.Flags = d.flags()
	l.InternalDate = d.time()
	l.Size = d.varint()
	l.Reason = d.str()
	l.Time = d.time()
	if d.err == nil && len(d.b) > 0 {
		l.Unsure = d.bool()
	}
	if err := d.end(); err != nil {
		return Lost{}, badRecord(tLost, k, err)
	}
	return l, nil
}

// EmailID cache.

func encodeEmailID(id mailbox.EmailID) []byte { return newValue(recEmailID).id(id) }

func decodeEmailID(k, v []byte) (CachedEmailID, error) {
	r := readKey(k, tEmailID)
	c := CachedEmailID{Store: r.str(), MailboxID: mailbox.ID(r.str())}
	c.UIDValidity = uid.Validity(r.u32())
	c.UID = uid.UID(r.u32())
	if err := r.done(); err != nil {
		return CachedEmailID{}, badRecord(tEmailID, k, err)
	}
	d := newDec(v, recEmailID)
	c.EmailID = d.id()
	if err := d.end(); err != nil {
		return CachedEmailID{}, badRecord(tEmailID, k, err)
	}
	return c, nil
}

// Records of programs: the value is opaque to the journal.

func encodeRecord(value []byte) []byte {
	return append(newValue(recRecord).uvarint(uint64(len(value))), value...)
}

func decodeRecordValue(k, v []byte) (Record, error) {
	r := readKey(k, tRecord)
	rec := Record{Namespace: r.str(), Key: r.str()}
	if err := r.done(); err != nil {
		return Record{}, badRecord(tRecord, k, err)
	}
	d := newDec(v, recRecord)
	before := len(d.b)
	n := d.uvarint()
	switch {
	case d.err != nil:
	case before-len(d.b) != len(binary.AppendUvarint(nil, n)):
		d.fail("length %d not in its shortest form", n) // one value, one encoding
	case n != uint64(len(d.b)):
		d.fail("value of %d bytes, %d left", n, len(d.b))
	}
	if d.err == nil && n > 0 {
		rec.Value = append([]byte(nil), d.b...)
		d.b = nil
	}
	if err := d.end(); err != nil {
		return Record{}, badRecord(tRecord, k, err)
	}
	return rec, nil
}
