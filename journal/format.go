package journal

import (
	"fmt"

	"github.com/cockroachdb/pebble/v2"
	"github.com/mailrepl/mailrepl/mailbox"
)

// FormatVersion is the version of the key and value layout this build
// writes. The layout of each version is described in the package
// documentation and kept, as golden encodings, in testdata/format/vN.
//
// Version history:
//
//	0  never written; a journal without a version key is empty or damaged
//	1  the first layout
//	2  adds the pair index (the pairs each source mailbox is in, so that a
//	   sync finds its state by the stores' mailbox IDs when its pair's
//	   name changed) and numberings (the UIDs kept for stores without a
//	   UID list of their own); upgrading from 1 builds the pair index
const FormatVersion = 2

// oldestFormat is the oldest version this build still upgrades. Versions
// below it are retired: a build that can read them must upgrade them first.
const oldestFormat = 1

// An upgradeStep rewrites a journal of version v into version v+1. It
// writes into b, an indexed batch over the journal, so that it reads its
// own writes; the version key is set by the caller in the same batch, and
// the batch is committed with a sync. A step must keep every record's
// meaning: upgrades never drop data.
type upgradeStep func(b *pebble.Batch) error

// formatSpec describes the versions a build reads: the version it writes,
// the oldest it upgrades, and the step from each version to the next.
// Tests use synthetic specs to exercise the upgrade machinery.
type formatSpec struct {
	current uint64
	oldest  uint64
	steps   map[uint64]upgradeStep // steps[v] upgrades v to v+1
}

// upgrades holds the real upgrade steps.
var upgrades = map[uint64]upgradeStep{1: upgradeTo2}

// upgradeTo2 builds the pair index from the headers of version 1. The
// numbering tables start empty.
func upgradeTo2(b *pebble.Batch) error {
	it, err := b.NewIter(&pebble.IterOptions{LowerBound: []byte{tHeader}, UpperBound: []byte{tHeader + 1}})
	if err != nil {
		return err
	}
	var idx [][]byte
	for ok := it.First(); ok; ok = it.Next() {
		r := readKey(it.Key(), tHeader)
		pair := r.str()
		mbox := mailbox.ID(r.str())
		if err := r.done(); err != nil {
			_ = it.Close()
			return badRecord(tHeader, it.Key(), err)
		}
		idx = append(idx, pairIndexKey(mbox, pair))
	}
	if err := firstErr(it.Error(), it.Close()); err != nil {
		return err
	}
	for _, k := range idx {
		if err := b.Set(k, newValue(recPairIndex), nil); err != nil {
			return err
		}
	}
	return nil
}

var currentFormat = formatSpec{current: FormatVersion, oldest: oldestFormat, steps: upgrades}

// checkFormat reads the format version; writes it into a new journal;
// refuses a version it does not read; and upgrades an older one step by
// step, each step committed with its new version so that a crash between
// steps resumes at the next one.
func (j *Journal) checkFormat(spec formatSpec) error {
	v, found, err := getFrom(j.db, keyFormat)
	if err != nil {
		return j.err("open", "format version", err)
	}
	if !found {
		empty, err := j.isEmpty()
		if err != nil {
			return j.err("open", "", err)
		}
		if !empty {
			return j.err("open", "format version", fmt.Errorf("%w: the journal has records but no format version key", ErrCorrupt))
		}
		if err := j.db.Set(keyFormat, encodeFormat(spec.current), pebble.Sync); err != nil {
			return j.err("open", "format version", err)
		}
		return nil
	}
	version, err := decodeFormat(v)
	if err != nil {
		return j.err("open", "format version", err)
	}
	switch {
	case version > spec.current:
		return &Error{Op: "open", Dir: j.dir, Err: fmt.Errorf("%w: found version %d, this build reads versions %d to %d",
			ErrFormatTooNew, version, spec.oldest, spec.current)}
	case version < spec.oldest:
		return &Error{Op: "open", Dir: j.dir, Err: fmt.Errorf("%w: found version %d, this build reads versions %d to %d; upgrade it with an older build first",
			ErrFormatTooOld, version, spec.oldest, spec.current)}
	}
	for ; version < spec.current; version++ {
		step := spec.steps[version]
		if step == nil {
			return &Error{Op: "open", Dir: j.dir, Err: fmt.Errorf("no upgrade from format version %d to %d", version, version+1)}
		}
		b := j.db.NewIndexedBatch()
		err := step(b)
		if err == nil {
			err = b.Set(keyFormat, encodeFormat(version+1), nil)
		}
		if err == nil {
			err = b.Commit(pebble.Sync)
		}
		_ = b.Close()
		if err != nil {
			return j.err("open", fmt.Sprintf("upgrade format %d to %d", version, version+1), err)
		}
		j.opts.Logger.Info("journal format upgraded", "dir", j.dir, "from", version, "to", version+1)
	}
	return nil
}

// isEmpty reports whether the database holds no key at all.
func (j *Journal) isEmpty() (bool, error) {
	it, err := j.db.NewIter(nil)
	if err != nil {
		return false, err
	}
	empty := !it.First()
	return empty, it.Close()
}

// loadSeqs reads the last event and the truncation point.
func (j *Journal) loadSeqs() error {
	v, found, err := getFrom(j.db, keyTruncated)
	if err != nil {
		return j.err("open", "truncation point", err)
	}
	var trunc Seq
	if found {
		if trunc, err = decodeSeq(tMeta, keyTruncated, v, recTruncated); err != nil {
			return j.err("open", "truncation point", err)
		}
	}
	it, err := j.db.NewIter(&pebble.IterOptions{LowerBound: []byte{tEvent}, UpperBound: []byte{tEvent + 1}})
	if err != nil {
		return j.err("open", "events", err)
	}
	var first, last Seq
	if it.First() {
		first, err = seqOfKey(it.Key())
		if err == nil && it.Last() {
			last, err = seqOfKey(it.Key())
		}
	}
	err = firstErr(err, it.Error(), it.Close())
	if err != nil {
		return j.err("open", "events", err)
	}
	if first != 0 && first <= trunc {
		return j.err("open", "events", fmt.Errorf("%w: event %d found at or below the truncation point %d", ErrCorrupt, first, trunc))
	}
	j.mu.trunc = trunc
	j.mu.last = max(last, trunc)
	return nil
}

func seqOfKey(k []byte) (Seq, error) {
	r := readKey(k, tEvent)
	s := Seq(r.u64())
	if err := r.done(); err != nil {
		return 0, badRecord(tEvent, k, err)
	}
	return s, nil
}

func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
