package journal

import (
	"context"
	"fmt"
	"iter"

	"github.com/cockroachdb/pebble/v2"
	"github.com/mailrepl/mailrepl/mailbox"
	"github.com/mailrepl/mailrepl/uid"
)

// Sync state is kept per pair and per source mailbox. A pair is a name the
// engine gives to one replication relationship (for example
// "alice@src→alice@dst"); a mailbox is known by its source mailbox ID,
// which stays the same across renames.

// Header returns the header of the pair's mailbox; found is false when the
// mailbox has no state.
func (j *Journal) Header(pair string, mbox mailbox.ID) (h Header, found bool, err error) {
	k := headerKey(pair, mbox)
	v, found, err := j.get(k)
	if err != nil || !found {
		return Header{}, false, j.err("header", stateDesc(pair, mbox), err)
	}
	_, h, err = decodeHeader(k, v)
	if err != nil {
		return Header{}, false, j.err("header", stateDesc(pair, mbox), err)
	}
	return h, true, nil
}

// State yields the entries of the pair's mailbox in ascending source-UID
// order, as of the moment the iteration starts, holding only a few hundred
// in memory at a time. Errors end the sequence and are yielded once, with a
// zero Entry; stopping early is allowed.
func (j *Journal) State(ctx context.Context, pair string, mbox mailbox.ID) iter.Seq2[Entry, error] {
	p := entryPrefix(tEntry, pair, mbox)
	return scan(j, ctx, "state", stateDesc(pair, mbox), p, prefixEnd(p), decodeEntry)
}

// StateFrom is State starting at source UID from.
func (j *Journal) StateFrom(ctx context.Context, pair string, mbox mailbox.ID, from uid.UID) iter.Seq2[Entry, error] {
	p := entryPrefix(tEntry, pair, mbox)
	return scan(j, ctx, "state", stateDesc(pair, mbox), entryKey(tEntry, pair, mbox, from), prefixEnd(p), decodeEntry)
}

// StateByDst yields the same entries as State in ascending target-UID
// order, for a merge with a listing of the target.
func (j *Journal) StateByDst(ctx context.Context, pair string, mbox mailbox.ID) iter.Seq2[Entry, error] {
	p := entryPrefix(tEntryByDst, pair, mbox)
	return scan(j, ctx, "state by target UID", stateDesc(pair, mbox), p, prefixEnd(p), decodeEntry)
}

// Entry returns the entry of source UID src; found is false when there is
// none.
func (j *Journal) Entry(pair string, mbox mailbox.ID, src uid.UID) (Entry, bool, error) {
	return j.entry(tEntry, pair, mbox, src)
}

// EntryByDst returns the entry of target UID dst; found is false when
// there is none.
func (j *Journal) EntryByDst(pair string, mbox mailbox.ID, dst uid.UID) (Entry, bool, error) {
	return j.entry(tEntryByDst, pair, mbox, dst)
}

func (j *Journal) entry(table byte, pair string, mbox mailbox.ID, u uid.UID) (Entry, bool, error) {
	what := fmt.Sprintf("%s uid %d", stateDesc(pair, mbox), u)
	k := entryKey(table, pair, mbox, u)
	v, found, err := j.get(k)
	if err != nil || !found {
		return Entry{}, false, j.err("entry", what, err)
	}
	e, err := decodeEntry(k, v)
	if err != nil {
		return Entry{}, false, j.err("entry", what, err)
	}
	return e, true, nil
}

// Mailboxes yields the headers of the pair's mailboxes, by source mailbox
// ID.
func (j *Journal) Mailboxes(ctx context.Context, pair string) iter.Seq2[Header, error] {
	p := newKey(tHeader).str(pair)
	return scan(j, ctx, "mailboxes", fmt.Sprintf("pair %q", pair), p, prefixEnd(p), func(k, v []byte) (Header, error) {
		_, h, err := decodeHeader(k, v)
		return h, err
	})
}

// Pairs yields the names of the pairs that have state, in order, each
// once.
func (j *Journal) Pairs(ctx context.Context) iter.Seq2[string, error] {
	return func(yield func(string, error) bool) {
		last, first := "", true
		for p, err := range scan(j, ctx, "pairs", "", []byte{tHeader}, []byte{tHeader + 1}, func(k, v []byte) (string, error) {
			pair, _, err := decodeHeader(k, v)
			return pair, err
		}) {
			if err != nil {
				yield("", err)
				return
			}
			if !first && p == last {
				continue
			}
			last, first = p, false
			if !yield(p, nil) {
				return
			}
		}
	}
}

// Intents yields the intents of the pair's mailbox mbox, or of all its
// mailboxes when mbox is "", in the order of their keys.
func (j *Journal) Intents(ctx context.Context, pair string, mbox mailbox.ID) iter.Seq2[Intent, error] {
	p := newKey(tIntent).str(pair)
	if mbox != "" {
		p = p.str(string(mbox))
	}
	return scan(j, ctx, "intents", stateDesc(pair, mbox), p, prefixEnd(p), func(k, v []byte) (Intent, error) {
		_, in, err := decodeIntent(k, v)
		return in, err
	})
}

// Reset deletes the whole state of a pair (headers, entries, intents) in
// one durable write, on an operator's request or when the state cannot be
// read. It reads none of the records, so damaged ones go too.
func (j *Journal) Reset(ctx context.Context, pair string) error {
	if pair == "" {
		return &Error{Op: "reset", Dir: j.dir, Err: invalid("empty pair name")}
	}
	b := j.NewBatch()
	b.add("reset", fmt.Sprintf("pair %q", pair), nil, func(g *group) error { return g.deleteRanges(pairStateRanges(pair)) })
	_, err := b.Commit(ctx)
	return err
}

// ResetAll deletes the state of every pair. The change log, cursors,
// tombstones, lost records and the EmailID cache stay.
func (j *Journal) ResetAll(ctx context.Context) error {
	b := j.NewBatch()
	b.add("reset all", "", nil, func(g *group) error {
		return g.deleteRanges([]keyRange{{[]byte{tHeader}, []byte{tPairIndex + 1}}})
	})
	_, err := b.Commit(ctx)
	return err
}

// PairsOf yields the names of the pairs that have a header for the source
// mailbox with ID mbox, in order: how a sync finds its state when the
// name of its pair changed (a store moved, a template rewritten) but the
// stores, known by their mailbox IDs, are the same.
func (j *Journal) PairsOf(ctx context.Context, mbox mailbox.ID) iter.Seq2[string, error] {
	p := newKey(tPairIndex).str(string(mbox))
	what := fmt.Sprintf("mailbox %q", mbox)
	return func(yield func(string, error) bool) {
		for pair, err := range scan(j, ctx, "pairs of", what, p, prefixEnd(p), decodePairIndex) {
			if err != nil {
				yield("", err)
				return
			}
			// The index may outlive a pair's Reset: the header decides.
			if _, found, err := j.Header(pair, mbox); err != nil {
				yield("", err)
				return
			} else if !found {
				continue
			}
			if !yield(pair, nil) {
				return
			}
		}
	}
}

func decodePairIndex(k, v []byte) (string, error) {
	r := readKey(k, tPairIndex)
	r.skipStr()
	pair := r.str()
	if err := r.done(); err != nil {
		return "", badRecord(tPairIndex, k, err)
	}
	d := newDec(v, recPairIndex)
	if err := d.end(); err != nil {
		return "", badRecord(tPairIndex, k, err)
	}
	return pair, nil
}

// RenamePair moves the whole state of pair from (headers, entries,
// intents) to pair to, in one durable write. It fails with ErrInvalid when
// to has state already. Moving a pair with no state does nothing.
func (j *Journal) RenamePair(ctx context.Context, from, to string) error {
	const op = "rename pair"
	what := fmt.Sprintf("pair %q to %q", from, to)
	if from == "" || to == "" || from == to {
		return &Error{Op: op, Dir: j.dir, Key: what, Err: invalid("pair names must differ and not be empty")}
	}
	b := j.NewBatch()
	b.add(op, what, nil, func(g *group) error {
		for _, t := range []byte{tHeader, tEntry, tEntryByDst, tIntent} {
			if taken, err := dbHasPrefix(j.db, newKey(t).str(to)); err != nil {
				return err
			} else if taken {
				return g.invalid(invalid("pair %q has state already", to))
			}
		}
		for _, t := range []byte{tHeader, tEntry, tEntryByDst, tIntent} {
			p := newKey(t).str(from)
			it, err := j.db.NewIter(&pebble.IterOptions{LowerBound: p, UpperBound: prefixEnd(p)})
			if err != nil {
				return err
			}
			for ok := it.First(); ok; ok = it.Next() {
				rest := it.Key()[len(p):]
				v, err := it.ValueAndErr()
				if err == nil && t == tHeader {
					var h Header
					if _, h, err = decodeHeader(it.Key(), v); err == nil {
						if err = g.del(pairIndexKey(h.Src.MailboxID, from)); err == nil {
							err = g.set(pairIndexKey(h.Src.MailboxID, to), newValue(recPairIndex))
						}
					}
				}
				if err == nil {
					nk := append(newKey(t).str(to), rest...)
					err = g.set(nk, append([]byte(nil), v...))
				}
				if err != nil {
					_ = it.Close()
					return err
				}
			}
			if err := it.Close(); err != nil {
				return err
			}
		}
		return g.deleteRanges(pairStateRanges(from))
	})
	_, err := b.Commit(ctx)
	return err
}

// dbHasPrefix reports whether the database holds a key starting with p.
func dbHasPrefix(db *pebble.DB, p []byte) (bool, error) {
	it, err := db.NewIter(&pebble.IterOptions{LowerBound: p, UpperBound: prefixEnd(p)})
	if err != nil {
		return false, err
	}
	found := it.First()
	return found, firstErr(it.Error(), it.Close())
}
