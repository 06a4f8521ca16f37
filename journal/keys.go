package journal

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/mailrepl/mailrepl/mailbox"
	"github.com/mailrepl/mailrepl/uid"
)

// Tables: the first byte of every key. The layout is drawn in doc.go.
const (
	tMeta        byte = 0x00 // reserved keys: format version, truncation point
	tEvent       byte = 0x01 // seq → event
	tCursor      byte = 0x02 // cursor name → seq
	tDirtyByMbox byte = 0x03 // user, mailbox → last seq that changed it
	tDirtyBySeq  byte = 0x04 // seq, user, mailbox → (same value)
	tHeader      byte = 0x10 // pair, source mailbox ID → header
	tEntry       byte = 0x11 // pair, source mailbox ID, source UID → entry
	tEntryByDst  byte = 0x12 // pair, source mailbox ID, target UID → entry
	tIntent      byte = 0x13 // pair, source mailbox ID, EmailID, direction, UID → intent
	tPairIndex   byte = 0x14 // source mailbox ID, pair → (nothing): the pairs a mailbox is in (v2)
	tTombstone   byte = 0x20 // user, mailbox ID, EmailID, UID → tombstone
	tTombByEmail byte = 0x21 // user, EmailID, mailbox ID, UID → tombstone
	tLost        byte = 0x22 // user, mailbox ID, EmailID, UID → lost record
	tEmailID     byte = 0x30 // store, mailbox ID, UIDVALIDITY, UID → EmailID
	tRecord      byte = 0x40 // namespace, key → a program's record
	tNumbering   byte = 0x50 // numbering ID → numbering (v2)
	tNumbered    byte = 0x51 // numbering ID, message key → UID (v2)
	tNumberIndex byte = 0x52 // scheme, message key, numbering ID → (nothing) (v2)
	tNumberName  byte = 0x53 // scope, scheme, mailbox name → numbering ID (v2)
)

// The reserved keys of tMeta.
var (
	keyFormat    = []byte{tMeta, 'F'}
	keyTruncated = []byte{tMeta, 'T'}
	keyValidity  = []byte{tMeta, 'V'} // the last UIDVALIDITY a numbering took (v2)
)

// tableName names a table in error messages.
func tableName(t byte) string {
	switch t {
	case tMeta:
		return "meta"
	case tEvent:
		return "event"
	case tCursor:
		return "cursor"
	case tDirtyByMbox, tDirtyBySeq:
		return "dirty-mailbox index"
	case tHeader:
		return "state header"
	case tEntry:
		return "state entry"
	case tEntryByDst:
		return "state entry (by target UID)"
	case tIntent:
		return "intent"
	case tTombstone, tTombByEmail:
		return "tombstone"
	case tLost:
		return "lost record"
	case tEmailID:
		return "EmailID cache"
	case tRecord:
		return "record"
	case tPairIndex:
		return "pair index"
	case tNumbering:
		return "numbering"
	case tNumbered:
		return "numbered message"
	case tNumberIndex:
		return "numbering index"
	case tNumberName:
		return "numbering name"
	}
	return fmt.Sprintf("table 0x%02x", t)
}

// Strings inside keys are escaped so that the encoding keeps their order
// and no encoded string is a prefix of another: each 0x00 byte becomes
// 0x00 0xFF, and the string ends with 0x00 0x01.
const (
	escByte  byte = 0x00
	escNul   byte = 0xFF
	escTerm  byte = 0x01
	uint32Sz      = 4
	uint64Sz      = 8
)

// keyBuf builds keys.
type keyBuf []byte

func newKey(table byte) keyBuf { return keyBuf{table} }

func (k keyBuf) str(s string) keyBuf {
	for i := 0; i < len(s); i++ {
		if s[i] == escByte {
			k = append(k, escByte, escNul)
		} else {
			k = append(k, s[i])
		}
	}
	return append(k, escByte, escTerm)
}

func (k keyBuf) u32(v uint32) keyBuf { return binary.BigEndian.AppendUint32(k, v) }
func (k keyBuf) u64(v uint64) keyBuf { return binary.BigEndian.AppendUint64(k, v) }
func (k keyBuf) b(v byte) keyBuf     { return append(k, v) }
func (k keyBuf) id(v mailbox.EmailID) keyBuf {
	return append(k, v[:]...)
}

// mbox encodes the mailbox of a dirty-index key: by ID when there is one,
// else by name, so that a rename (same ID) stays one mailbox.
func (k keyBuf) mbox(id mailbox.ID, name string) keyBuf {
	if id != "" {
		return k.b(mboxByID).str(string(id))
	}
	return k.b(mboxByName).str(name)
}

const (
	mboxByID   byte = 'i'
	mboxByName byte = 'n'
)

// errKey is the detail error of a key that does not parse.
var errKey = errors.New("malformed key")

// keyReader reads keys built by keyBuf.
type keyReader struct {
	b   []byte
	err error
}

func readKey(k []byte, table byte) keyReader {
	if len(k) == 0 || k[0] != table {
		return keyReader{err: errKey}
	}
	return keyReader{b: k[1:]}
}

func (r *keyReader) str() string {
	if r.err != nil {
		return ""
	}
	var out []byte
	b := r.b
	for {
		i := bytes.IndexByte(b, escByte)
		if i < 0 || i+1 >= len(b) {
			r.err = errKey
			return ""
		}
		switch b[i+1] {
		case escTerm:
			out = append(out, b[:i]...)
			r.b = b[i+2:]
			return string(out)
		case escNul:
			out = append(out, b[:i+1]...)
			b = b[i+2:]
		default:
			r.err = errKey
			return ""
		}
	}
}

// skipStr skips a string without decoding it.
func (r *keyReader) skipStr() {
	if r.err != nil {
		return
	}
	b := r.b
	for {
		i := bytes.IndexByte(b, escByte)
		if i < 0 || i+1 >= len(b) {
			r.err = errKey
			return
		}
		switch b[i+1] {
		case escTerm:
			r.b = b[i+2:]
			return
		case escNul:
			b = b[i+2:]
		default:
			r.err = errKey
			return
		}
	}
}

func (r *keyReader) u32() uint32 {
	if r.err != nil || len(r.b) < uint32Sz {
		r.err = errKey
		return 0
	}
	v := binary.BigEndian.Uint32(r.b)
	r.b = r.b[uint32Sz:]
	return v
}

func (r *keyReader) u64() uint64 {
	if r.err != nil || len(r.b) < uint64Sz {
		r.err = errKey
		return 0
	}
	v := binary.BigEndian.Uint64(r.b)
	r.b = r.b[uint64Sz:]
	return v
}

func (r *keyReader) byte() byte {
	if r.err != nil || len(r.b) < 1 {
		r.err = errKey
		return 0
	}
	v := r.b[0]
	r.b = r.b[1:]
	return v
}

func (r *keyReader) id() mailbox.EmailID {
	var id mailbox.EmailID
	if r.err != nil || len(r.b) < len(id) {
		r.err = errKey
		return id
	}
	copy(id[:], r.b)
	r.b = r.b[len(id):]
	return id
}

func (r *keyReader) mbox() (mailbox.ID, string) {
	switch r.byte() {
	case mboxByID:
		return mailbox.ID(r.str()), ""
	case mboxByName:
		return "", r.str()
	}
	r.err = errKey
	return "", ""
}

// done reports the first error, or an error when bytes are left over.
func (r *keyReader) done() error {
	if r.err == nil && len(r.b) != 0 {
		r.err = errKey
	}
	return r.err
}

// Keys of each table.

func eventKey(s Seq) []byte { return newKey(tEvent).u64(uint64(s)) }

func cursorKey(name string) []byte { return newKey(tCursor).str(name) }

func dirtyByMboxKey(user string, id mailbox.ID, name string) []byte {
	return newKey(tDirtyByMbox).str(user).mbox(id, name)
}

func dirtyBySeqKey(s Seq, user string, id mailbox.ID, name string) []byte {
	return newKey(tDirtyBySeq).u64(uint64(s)).str(user).mbox(id, name)
}

func headerKey(pair string, mbox mailbox.ID) []byte {
	return newKey(tHeader).str(pair).str(string(mbox))
}

func entryPrefix(table byte, pair string, mbox mailbox.ID) keyBuf {
	return newKey(table).str(pair).str(string(mbox))
}

func entryKey(table byte, pair string, mbox mailbox.ID, u uid.UID) []byte {
	return entryPrefix(table, pair, mbox).u32(uint32(u))
}

func intentKey(pair string, in Intent) []byte {
	dir := dirToTarget
	if in.Reverse {
		dir = dirToSource
	}
	return newKey(tIntent).str(pair).str(string(in.MailboxID)).id(in.EmailID).b(dir).u32(uint32(in.SrcUID))
}

const (
	dirToTarget byte = 'T'
	dirToSource byte = 'S'
)

func tombstoneKey(t Tombstone) []byte {
	return newKey(tTombstone).str(t.User).str(string(t.MailboxID)).id(t.EmailID).u32(uint32(t.UID))
}

func tombByEmailKey(t Tombstone) []byte {
	return newKey(tTombByEmail).str(t.User).id(t.EmailID).str(string(t.MailboxID)).u32(uint32(t.UID))
}

func lostKey(l Lost) []byte {
	return newKey(tLost).str(l.User).str(string(l.MailboxID)).id(l.EmailID).u32(uint32(l.UID))
}

func pairIndexKey(mbox mailbox.ID, pair string) []byte {
	return newKey(tPairIndex).str(string(mbox)).str(pair)
}

func recordKey(ns, key string) []byte { return newKey(tRecord).str(ns).str(key) }

func emailIDKey(store string, mbox mailbox.ID, v uid.Validity, u uid.UID) []byte {
	return newKey(tEmailID).str(store).str(string(mbox)).u32(uint32(v)).u32(uint32(u))
}

// prefixEnd returns the smallest key above every key that starts with p.
func prefixEnd(p []byte) []byte {
	end := append([]byte(nil), p...)
	for i := len(end) - 1; i >= 0; i-- {
		end[i]++
		if end[i] != 0 {
			return end[:i+1]
		}
	}
	return nil // p is all 0xFF: no upper bound
}

// successor returns the smallest key above k.
func successor(k []byte) []byte {
	return append(append(make([]byte, 0, len(k)+1), k...), 0)
}
