package journal

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestRecords(t *testing.T) {
	j := openTest(t, t.TempDir())
	b := j.NewBatch()
	b.PutRecord("batch/1", "bob", []byte("ok"))
	b.PutRecord("batch/1", "alice", []byte("ok"))
	b.PutRecord("batch/1", "", []byte("header"))
	b.PutRecord("batch/10", "carol", []byte("other namespace, ns is its prefix"))
	b.PutRecord("batch/1\x00", "dave", nil)
	b.PutEntry("p", "m", entry(1, 1)) // records commit with the state
	_, err := b.Commit(bg)
	require.NoError(t, err)

	v, found, err := j.Record("batch/1", "alice")
	require.NoError(t, err)
	require.True(t, found)
	require.Equal(t, "ok", string(v))
	_, found, err = j.Record("batch/1", "carol")
	require.NoError(t, err)
	require.False(t, found)
	v, found, err = j.Record("batch/1\x00", "dave")
	require.NoError(t, err)
	require.True(t, found)
	require.Empty(t, v)

	var keys []string
	for r, err := range j.Records(bg, "batch/1") {
		require.NoError(t, err)
		require.Equal(t, "batch/1", r.Namespace)
		keys = append(keys, r.Key)
	}
	require.Equal(t, []string{"", "alice", "bob"}, keys, "by key, no other namespace")

	// Replace one, delete one, then a whole namespace; a put after the
	// delete in the same batch survives it.
	require.NoError(t, j.PutRecord(bg, "batch/1", "bob", []byte("failed")))
	v, _, err = j.Record("batch/1", "bob")
	require.NoError(t, err)
	require.Equal(t, "failed", string(v))
	b = j.NewBatch()
	b.DeleteRecord("batch/1", "alice")
	_, err = b.Commit(bg)
	require.NoError(t, err)
	require.Len(t, collect(t, j.Records(bg, "batch/1")), 2)
	b = j.NewBatch()
	b.DeleteRecords("batch/1")
	b.PutRecord("batch/1", "erin", []byte("new batch"))
	_, err = b.Commit(bg)
	require.NoError(t, err)
	got := collect(t, j.Records(bg, "batch/1"))
	require.Len(t, got, 1)
	require.Equal(t, "erin", got[0].Key)
	require.Len(t, collect(t, j.Records(bg, "batch/10")), 1, "a namespace that batch/1 is a prefix of stays")
	require.Len(t, collect(t, j.Records(bg, "batch/1\x00")), 1)
	_, found, err = j.Entry("p", "m", 1)
	require.NoError(t, err)
	require.True(t, found)

	// Survives a reopen.
	dir := j.Dir()
	require.NoError(t, j.Close())
	j = openTest(t, dir)
	v, found, err = j.Record("batch/10", "carol")
	require.NoError(t, err)
	require.True(t, found)
	require.Contains(t, string(v), "prefix")
}

func TestRecordsRejectBadArguments(t *testing.T) {
	j := openTest(t, t.TempDir())
	tests := []struct {
		name string
		put  func(b *Batch)
		want string
	}{
		{"empty namespace", func(b *Batch) { b.PutRecord("", "k", nil) }, "empty record namespace"},
		{"namespace not UTF-8", func(b *Batch) { b.PutRecord("\xff", "k", nil) }, "not valid UTF-8"},
		{"key not UTF-8", func(b *Batch) { b.PutRecord("n", "\xff", nil) }, "not valid UTF-8"},
		{"too large", func(b *Batch) { b.PutRecord("n", "k", make([]byte, MaxRecordSize+1)) }, "more than"},
		{"delete, empty namespace", func(b *Batch) { b.DeleteRecord("", "k") }, "empty record namespace"},
		{"delete all, empty namespace", func(b *Batch) { b.DeleteRecords("") }, "empty record namespace"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := j.NewBatch()
			tc.put(b)
			_, err := b.Commit(bg)
			require.ErrorIs(t, err, ErrInvalid)
			require.ErrorContains(t, err, tc.want)
		})
	}
	require.NoError(t, j.PutRecord(bg, "n", "k", make([]byte, MaxRecordSize)), "the largest record")
}

func TestRecordDamaged(t *testing.T) {
	j := openTest(t, t.TempDir())
	require.NoError(t, j.PutRecord(bg, "n", "a", []byte("fine")))
	// Write a value that does not decode, as damage would.
	require.NoError(t, j.db.Set(recordKey("n", "b"), []byte{recRecord, 9, 'x'}, nil))
	_, _, err := j.Record("n", "b")
	require.ErrorIs(t, err, ErrCorrupt)
	require.ErrorContains(t, err, `namespace "n" key "b"`)
	var n int
	for _, err := range j.Records(bg, "n") {
		if err != nil {
			require.ErrorIs(t, err, ErrCorrupt)
			break
		}
		n++
	}
	require.Equal(t, 1, n, "the good record, then the error")
	require.NoError(t, j.Close())
	_, _, err = j.Record("n", "a")
	require.ErrorIs(t, err, ErrClosed)
	for _, err := range j.Records(bg, "n") {
		require.ErrorIs(t, err, ErrClosed)
	}
}

func TestDecodeRecordRejects(t *testing.T) {
	k := recordKey("n", "k")
	tests := []struct {
		name string
		k, v []byte
	}{
		{"empty value", k, nil},
		{"wrong record type", k, []byte{recEntry, 0}},
		{"length past the end", k, []byte{recRecord, 3, 'a'}},
		{"trailing bytes", k, []byte{recRecord, 1, 'a', 'b'}},
		{"bad varint", k, []byte{recRecord, 0x80}},
		{"length not in its shortest form", k, []byte{recRecord, 0x81, 0x00, 'a'}},
		{"key of another table", cursorKey("n"), encodeRecord(nil)},
		{"key missing its key", newKey(tRecord).str("n"), encodeRecord(nil)},
		{"key with trailing bytes", append(recordKey("n", "k"), 1), encodeRecord(nil)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := decodeRecordValue(tc.k, tc.v)
			require.Error(t, err)
			require.True(t, strings.HasPrefix(err.Error(), "record "), err.Error())
		})
	}
	require.Equal(t, `namespace "n" key "k"`, describeKey(k))
}
