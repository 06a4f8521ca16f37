package journal

import (
	"context"
	"iter"

	"github.com/cockroachdb/pebble/v2"
)

// scanChunk is how many records a scan reads per visit to the database.
// Between visits it holds only a snapshot, never an open iterator, so that a
// slow consumer does not hold Close up and memory stays flat.
const scanChunk = 256

// scan yields the records with keys in [lo, hi) decoded by decode, in key
// order, as of the moment the scan starts (a snapshot). op names the scan
// in errors.
func scan[T any](j *Journal, ctx context.Context, op, what string, lo, hi []byte, decode func(k, v []byte) (T, error)) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		var zero T
		if err := j.ctxErr(ctx, op); err != nil {
			yield(zero, err)
			return
		}
		snap, err := j.snapshot()
		if err != nil {
			yield(zero, &Error{Op: op, Dir: j.dir, Key: what, Err: err})
			return
		}
		defer j.release(snap)
		buf := make([]T, 0, scanChunk)
		resume := lo
		for {
			var more bool
			buf, resume, more, err = readChunk(j, snap, resume, hi, decode, buf[:0])
			for _, x := range buf {
				if !yield(x, nil) {
					return
				}
			}
			if err != nil {
				yield(zero, j.err(op, what, err))
				return
			}
			if !more {
				return
			}
			if err := j.ctxErr(ctx, op); err != nil {
				yield(zero, err)
				return
			}
		}
	}
}

// readChunk reads up to scanChunk records from [lo, hi). It returns the key
// to resume at and whether there are more.
func readChunk[T any](j *Journal, snap *pebble.Snapshot, lo, hi []byte, decode func(k, v []byte) (T, error), buf []T) ([]T, []byte, bool, error) {
	if err := j.enter(); err != nil {
		return buf, nil, false, err
	}
	defer j.leave()
	it, err := snap.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		return buf, nil, false, err
	}
	var next []byte
	for ok := it.First(); ok; ok = it.Next() {
		if len(buf) == scanChunk {
			next = append([]byte(nil), it.Key()...)
			break
		}
		v, err := it.ValueAndErr()
		if err != nil {
			_ = it.Close()
			return buf, nil, false, err
		}
		x, err := decode(it.Key(), v)
		if err != nil {
			_ = it.Close()
			return buf, nil, false, err
		}
		buf = append(buf, x)
	}
	if err := firstErr(it.Error(), it.Close()); err != nil {
		return buf, nil, false, err
	}
	return buf, next, next != nil, nil
}

// snapshot takes a snapshot that Close will close if the scan is still
// running then.
func (j *Journal) snapshot() (*pebble.Snapshot, error) {
	if err := j.enter(); err != nil {
		return nil, err
	}
	defer j.leave()
	s := j.db.NewSnapshot()
	j.mu.Lock()
	j.mu.snaps[s] = struct{}{}
	j.mu.Unlock()
	return s, nil
}

func (j *Journal) release(s *pebble.Snapshot) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if _, ok := j.mu.snaps[s]; ok {
		delete(j.mu.snaps, s)
		_ = s.Close()
	}
}
