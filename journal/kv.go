package journal

import (
	"context"
	"fmt"
	"iter"
	"unicode/utf8"
)

// MaxRecordSize is the largest value of a [Record], in bytes: records are
// for a program's small bookkeeping, not for mail.
const MaxRecordSize = 1 << 20

func recordDesc(ns, key string) string { return fmt.Sprintf("namespace %q key %q", ns, key) }

func checkRecordNS(ns string) error {
	if ns == "" {
		return invalid("empty record namespace")
	}
	if !utf8.ValidString(ns) {
		return invalid("record namespace is not valid UTF-8")
	}
	return nil
}

// PutRecord sets the record of key in namespace ns to value, replacing
// the one there. The namespace must be valid UTF-8 and not empty; the key
// valid UTF-8 (it may be empty); the value at most [MaxRecordSize] bytes.
func (b *Batch) PutRecord(ns, key string, value []byte) {
	check := checkRecordNS(ns)
	switch {
	case check != nil:
	case !utf8.ValidString(key):
		check = invalid("record key is not valid UTF-8")
	case len(value) > MaxRecordSize:
		check = invalid("record of %d bytes, more than %d", len(value), MaxRecordSize)
	}
	v := encodeRecord(value)
	b.add("put record", recordDesc(ns, key), check, func(g *group) error {
		return g.set(recordKey(ns, key), v)
	})
}

// DeleteRecord removes the record of key in namespace ns, if there is one.
func (b *Batch) DeleteRecord(ns, key string) {
	b.add("delete record", recordDesc(ns, key), checkRecordNS(ns), func(g *group) error {
		return g.del(recordKey(ns, key))
	})
}

// DeleteRecords removes every record of namespace ns (and of no other: a
// namespace that ns is a prefix of is left alone).
func (b *Batch) DeleteRecords(ns string) {
	b.add("delete records", fmt.Sprintf("namespace %q", ns), checkRecordNS(ns), func(g *group) error {
		return g.deleteRanges([]keyRange{prefixRange(newKey(tRecord).str(ns))})
	})
}

// PutRecord sets one record in a durable write. See [Batch.PutRecord].
func (j *Journal) PutRecord(ctx context.Context, ns, key string, value []byte) error {
	b := j.NewBatch()
	b.PutRecord(ns, key, value)
	_, err := b.Commit(ctx)
	return err
}

// Record returns the value of key in namespace ns (a copy); found is false
// when there is no such record.
func (j *Journal) Record(ns, key string) (value []byte, found bool, err error) {
	k := recordKey(ns, key)
	v, found, err := j.get(k)
	if err != nil || !found {
		return nil, false, j.err("record", recordDesc(ns, key), err)
	}
	r, err := decodeRecordValue(k, v)
	if err != nil {
		return nil, false, j.err("record", recordDesc(ns, key), err)
	}
	return r.Value, true, nil
}

// Records yields the records of namespace ns in the byte order of their
// keys, as of the moment the iteration starts.
func (j *Journal) Records(ctx context.Context, ns string) iter.Seq2[Record, error] {
	p := newKey(tRecord).str(ns)
	return scan(j, ctx, "records", fmt.Sprintf("namespace %q", ns), p, prefixEnd(p), decodeRecordValue)
}
