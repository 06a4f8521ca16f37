package journal

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/cockroachdb/pebble/v2"
	"github.com/mailrepl/mailrepl/mailbox"
	"github.com/mailrepl/mailrepl/uid"
)

// Batch collects changes that [Batch.Commit] makes durable together, all or
// none: events, cursor moves, sync state, intents, tombstones, lost records,
// EmailID cache entries and programs' records. The methods that add a change check their
// arguments; the first problem is kept and returned by Commit (and by
// [Batch.Err]), and the changes after it are ignored. A Batch is used by
// one goroutine and committed once.
type Batch struct {
	j       *Journal
	ops     []func(*group) error
	events  int
	err     error
	started bool // Commit was called
}

// NewBatch starts an empty batch.
func (j *Journal) NewBatch() *Batch { return &Batch{j: j} }

// Err returns the first problem found by the methods that added changes.
func (b *Batch) Err() error { return b.err }

// Len is the number of changes in the batch.
func (b *Batch) Len() int { return len(b.ops) }

func (b *Batch) add(op string, key string, check error, f func(*group) error) {
	if b.err != nil {
		return
	}
	if b.started {
		b.err = &Error{Op: op, Dir: b.j.dir, Key: key, Err: errors.New("batch already committed")}
		return
	}
	if check != nil {
		b.err = &Error{Op: op, Dir: b.j.dir, Key: key, Err: check}
		return
	}
	b.ops = append(b.ops, f)
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

// Append adds events to the log. At commit they get consecutive sequence
// numbers, in the order given; Commit returns the last one.
func (b *Batch) Append(events ...Event) {
	for i := range events {
		ev := events[i]
		ev.UIDs = append(uid.Set(nil), ev.UIDs...)
		ev.EmailIDs = append([]mailbox.EmailID(nil), ev.EmailIDs...)
		b.add("append", eventDesc(&ev), checkEvent(&ev), func(g *group) error { return g.appendEvent(&ev) })
		if b.err == nil {
			b.events++
		}
	}
}

func eventDesc(ev *Event) string {
	return fmt.Sprintf("%s event user %q mailbox %q", ev.Kind, ev.User, ev.Mailbox)
}

func checkEvent(ev *Event) error {
	if ev.Kind < 1 || ev.Kind > maxKind {
		return invalid("unknown event kind %d", ev.Kind)
	}
	if ev.MailboxID == "" && ev.Mailbox == "" {
		return invalid("no mailbox ID and no mailbox name")
	}
	if ev.Mailbox != "" {
		if err := mailbox.ValidateName(ev.Mailbox); err != nil {
			return fmt.Errorf("%w: %w", ErrInvalid, err)
		}
	}
	if ev.Kind == KindRename {
		if err := mailbox.ValidateName(ev.OldName); err != nil {
			return fmt.Errorf("%w: rename: old name: %w", ErrInvalid, err)
		}
	}
	if ev.FlagOp > mailbox.FlagsReplace {
		return invalid("unknown flag operation %d", ev.FlagOp)
	}
	if !utf8.ValidString(ev.User) || !utf8.ValidString(ev.Origin) {
		return invalid("user or origin is not valid UTF-8")
	}
	return nil
}

// SetCursor moves the named cursor to s, which must not be beyond the last
// event (counting the events of this batch).
func (b *Batch) SetCursor(name string, s Seq) {
	var check error
	if name == "" {
		check = invalid("empty cursor name")
	}
	b.add("set cursor", fmt.Sprintf("%q", name), check, func(g *group) error {
		if s > g.last {
			return g.invalid(invalid("cursor %q at %d is beyond the last event %d", name, s, g.last))
		}
		return g.set(cursorKey(name), encodeSeq(recCursor, s))
	})
}

// DeleteCursor removes the named cursor, so that it no longer holds back
// [Journal.Truncate].
func (b *Batch) DeleteCursor(name string) {
	b.add("delete cursor", fmt.Sprintf("%q", name), nil, func(g *group) error {
		return g.del(cursorKey(name))
	})
}

// Truncate removes the events at or below the lowest cursor, as it is when
// the batch commits (counting the batch's own cursor moves). Without a
// cursor nothing is removed.
func (b *Batch) Truncate() {
	b.add("truncate", "", nil, func(g *group) error { return g.truncate() })
}

func stateDesc(pair string, mbox mailbox.ID) string {
	return fmt.Sprintf("pair %q mailbox %q", pair, mbox)
}

func checkPair(pair string, mbox mailbox.ID) error {
	if pair == "" {
		return invalid("empty pair name")
	}
	if mbox == "" {
		return invalid("empty source mailbox ID")
	}
	return nil
}

// PutHeader sets the header of the pair's mailbox h.Src.MailboxID. A zero
// Updated is set to the commit's time.
func (b *Batch) PutHeader(pair string, h Header) {
	b.add("put header", stateDesc(pair, h.Src.MailboxID), checkPair(pair, h.Src.MailboxID), func(g *group) error {
		if h.Updated.IsZero() {
			h.Updated = g.now
		}
		if err := g.set(pairIndexKey(h.Src.MailboxID, pair), newValue(recPairIndex)); err != nil {
			return err
		}
		return g.set(headerKey(pair, h.Src.MailboxID), encodeHeader(&h))
	})
}

// PutEntry sets the entry of e.SrcUID in the pair's mailbox, replacing the
// one there. Entries pair UIDs one to one: when e.DstUID is paired with
// another source UID, Commit fails with ErrInvalid (delete that entry
// first, in the same batch).
func (b *Batch) PutEntry(pair string, mbox mailbox.ID, e Entry) {
	check := checkPair(pair, mbox)
	if check == nil && (e.SrcUID == 0 || e.DstUID == 0) {
		check = invalid("zero UID in entry %d→%d", e.SrcUID, e.DstUID)
	}
	b.add("put entry", stateDesc(pair, mbox)+" uid "+e.SrcUID.String(), check, func(g *group) error {
		return g.putEntry(pair, mbox, &e)
	})
}

// DeleteEntry removes the entry of source UID src, if there is one.
func (b *Batch) DeleteEntry(pair string, mbox mailbox.ID, src uid.UID) {
	b.add("delete entry", stateDesc(pair, mbox)+" uid "+src.String(), checkPair(pair, mbox), func(g *group) error {
		return g.deleteEntry(pair, mbox, src)
	})
}

// DeleteMailboxState removes the header, the entries and the intents of the
// pair's mailbox: what a sync does when a UIDVALIDITY changed, or an
// operator asks to start a mailbox afresh.
func (b *Batch) DeleteMailboxState(pair string, mbox mailbox.ID) {
	b.add("delete mailbox state", stateDesc(pair, mbox), checkPair(pair, mbox), func(g *group) error {
		if err := g.del(pairIndexKey(mbox, pair)); err != nil {
			return err
		}
		return g.deleteRanges(mailboxStateRanges(pair, mbox))
	})
}

// PutIntent records a copy about to be made in the pair's mailbox
// in.MailboxID. A zero Time is set to the commit's time.
func (b *Batch) PutIntent(pair string, in Intent) {
	check := checkPair(pair, in.MailboxID)
	if check == nil && in.EmailID.IsZero() {
		check = invalid("intent without EmailID")
	}
	b.add("put intent", stateDesc(pair, in.MailboxID)+" "+in.EmailID.Short(), check, func(g *group) error {
		if in.Time.IsZero() {
			in.Time = g.now
		}
		return g.set(intentKey(pair, in), encodeIntent(&in))
	})
}

// DeleteIntent removes the intent with in's key (MailboxID, EmailID,
// Reverse, SrcUID), if there is one.
func (b *Batch) DeleteIntent(pair string, in Intent) {
	b.add("delete intent", stateDesc(pair, in.MailboxID)+" "+in.EmailID.Short(), checkPair(pair, in.MailboxID), func(g *group) error {
		return g.del(intentKey(pair, in))
	})
}

func checkUserMailbox(mbox mailbox.ID, id mailbox.EmailID, needID bool) error {
	if mbox == "" {
		return invalid("empty mailbox ID")
	}
	if needID && id.IsZero() {
		return invalid("zero EmailID")
	}
	return nil
}

// PutTombstone records that a user expunged t.EmailID from mailbox
// t.MailboxID. A zero Time is set to the commit's time.
func (b *Batch) PutTombstone(t Tombstone) {
	b.add("put tombstone", fmt.Sprintf("user %q mailbox %q %s", t.User, t.MailboxID, t.EmailID.Short()),
		checkUserMailbox(t.MailboxID, t.EmailID, true), func(g *group) error {
			if t.Time.IsZero() {
				t.Time = g.now
			}
			v := encodeTombstone(&t)
			return firstErr(g.set(tombstoneKey(t), v), g.set(tombByEmailKey(t), v))
		})
}

// DeleteTombstone removes the tombstone with t's key (User, MailboxID,
// EmailID, UID), if there is one.
func (b *Batch) DeleteTombstone(t Tombstone) {
	b.add("delete tombstone", fmt.Sprintf("user %q mailbox %q %s", t.User, t.MailboxID, t.EmailID.Short()),
		checkUserMailbox(t.MailboxID, t.EmailID, false), func(g *group) error {
			return firstErr(g.del(tombstoneKey(t)), g.del(tombByEmailKey(t)))
		})
}

// PutLost records a message recovery expunged. A zero Time is set to the
// commit's time.
func (b *Batch) PutLost(l Lost) {
	check := checkUserMailbox(l.MailboxID, l.EmailID, false)
	if check == nil && l.UID == 0 {
		check = invalid("zero UID")
	}
	b.add("put lost", fmt.Sprintf("user %q mailbox %q uid %d", l.User, l.MailboxID, l.UID), check, func(g *group) error {
		if l.Time.IsZero() {
			l.Time = g.now
		}
		return g.set(lostKey(l), encodeLost(&l))
	})
}

// DeleteLost removes the lost record with l's key (User, MailboxID,
// EmailID, UID), if there is one.
func (b *Batch) DeleteLost(l Lost) {
	b.add("delete lost", fmt.Sprintf("user %q mailbox %q uid %d", l.User, l.MailboxID, l.UID),
		checkUserMailbox(l.MailboxID, l.EmailID, false), func(g *group) error {
			return g.del(lostKey(l))
		})
}

// PutEmailID adds an entry to the EmailID cache.
func (b *Batch) PutEmailID(c CachedEmailID) {
	b.add("put EmailID", cacheDesc(c.Store, c.MailboxID, c.UIDValidity, c.UID), checkCache(c), func(g *group) error {
		return g.set(emailIDKey(c.Store, c.MailboxID, c.UIDValidity, c.UID), encodeEmailID(c.EmailID))
	})
}

// Commit makes the batch's changes durable, all or none, and returns the
// sequence number of its last event (zero when it has none). Commits of
// concurrent batches share one disk sync. When ctx ends before the batch
// reaches the disk, Commit returns ctx's error and nothing is written.
func (b *Batch) Commit(ctx context.Context) (Seq, error) {
	if b.err != nil {
		return 0, b.err
	}
	if b.started {
		return 0, &Error{Op: "commit", Dir: b.j.dir, Err: errors.New("batch already committed")}
	}
	b.started = true
	if len(b.ops) == 0 {
		return 0, nil
	}
	r, err := b.j.submit(ctx, b)
	if err != nil {
		return 0, err
	}
	return r.last, nil
}

// A commitReq is a batch waiting for the committer.
type commitReq struct {
	b     *Batch
	done  chan struct{} // closed when the committer is done with it
	taken bool          // the committer has it (guarded by j.mu)
	err   error
	last  Seq // the batch's last event
	trunc Seq // the truncation point after the commit
}

// submit queues b for the committer and waits for the outcome.
func (j *Journal) submit(ctx context.Context, b *Batch) (*commitReq, error) {
	if err := j.ctxErr(ctx, "commit"); err != nil {
		return nil, err
	}
	r := &commitReq{b: b, done: make(chan struct{})}
	j.mu.Lock()
	if j.closed.Load() {
		j.mu.Unlock()
		return nil, &Error{Op: "commit", Dir: j.dir, Err: ErrClosed}
	}
	j.mu.queue = append(j.mu.queue, r)
	j.mu.Unlock()
	select {
	case j.wake <- struct{}{}:
	default:
	}
	select {
	case <-r.done:
	case <-ctx.Done():
		j.mu.Lock()
		if !r.taken {
			for i, q := range j.mu.queue {
				if q == r {
					j.mu.queue = append(j.mu.queue[:i], j.mu.queue[i+1:]...)
					break
				}
			}
			j.mu.Unlock()
			return nil, j.ctxErr(ctx, "commit")
		}
		j.mu.Unlock()
		// The committer has it: its outcome is near and must be reported.
		<-r.done
	}
	if r.err != nil {
		return nil, r.err
	}
	return r, nil
}

// committer runs until Close, committing queued batches in groups: all the
// batches queued while the previous group was syncing share one sync.
func (j *Journal) committer() {
	defer close(j.done)
	for {
		select {
		case <-j.wake:
		case <-j.stop:
		}
		for {
			reqs := j.take()
			if len(reqs) == 0 {
				break
			}
			if w := j.opts.GroupCommitWindow; w > 0 {
				time.Sleep(w)
				reqs = append(reqs, j.take()...)
			}
			j.commitGroup(reqs)
		}
		select {
		case <-j.stop:
			return
		default:
		}
	}
}

// take removes the queued batches and marks them taken.
func (j *Journal) take() []*commitReq {
	j.mu.Lock()
	defer j.mu.Unlock()
	reqs := j.mu.queue
	j.mu.queue = nil
	for _, r := range reqs {
		r.taken = true
	}
	return reqs
}

// group is the write of one group commit. Changes that read what is there
// (entries, the dirty index, cursors) read the database as of the last
// commit, overlaid with what the group wrote so far: the committer is the
// only writer of those tables.
type group struct {
	j     *Journal
	b     *pebble.Batch
	last  Seq // the last event written so far
	trunc Seq
	now   time.Time
	// overlay holds the group's writes to the tables it reads, by key
	// (nil: deleted); cleared, the ranges it deleted.
	overlay map[string][]byte
	cleared []keyRange
	// lostWrites counts the group's writes to the lost table: hasPrefix
	// looks through the overlay only when there are any.
	lostWrites int
	// maxUID caches, per entries prefix, the highest UID in the
	// database: an entry above it can only be in the overlay.
	maxUID map[string]uid.UID
	// bad is set when a change is refused for what it asks (not for an
	// I/O error): the group is then rebuilt without that batch.
	bad error
}

func (g *group) invalid(err error) error {
	g.bad = err
	return err
}

// commitGroup writes the batches of reqs in one synced write. A batch that
// asks something refused (a cursor beyond the end, a UID paired twice)
// fails alone: the group is rebuilt without it.
func (j *Journal) commitGroup(reqs []*commitReq) {
	live := reqs
	for {
		j.mu.Lock()
		g := &group{j: j, b: j.db.NewBatch(), last: j.mu.last, trunc: j.mu.trunc, now: j.opts.Now(),
			overlay: map[string][]byte{}, maxUID: map[string]uid.UID{}}
		j.mu.Unlock()
		var (
			failed  *commitReq
			fatal   error
			nEvents int
		)
		for _, r := range live {
			for i, op := range r.b.ops {
				if err := op(g); err != nil {
					var de *decodeError
					if g.bad != nil || errors.As(err, &de) {
						failed = r
						r.err = j.err("commit", fmt.Sprintf("change %d", i+1), err)
					} else {
						fatal = j.err("commit", "", err)
					}
					break
				}
			}
			if failed != nil || fatal != nil {
				break
			}
			r.last = g.last
			if r.b.events == 0 {
				r.last = 0
			}
			nEvents += r.b.events
		}
		if failed != nil {
			_ = g.b.Close()
			close(failed.done)
			live = without(live, failed)
			if len(live) == 0 {
				return
			}
			continue
		}
		if fatal == nil {
			fatal = j.err("commit", "", safeCommit(g.b, j.wo))
		}
		_ = g.b.Close()
		if fatal != nil {
			for _, r := range live {
				r.err = fatal
				close(r.done)
			}
			return
		}
		j.mu.Lock()
		j.mu.last = g.last
		j.mu.trunc = g.trunc
		if nEvents > 0 && !j.closed.Load() {
			close(j.mu.notify)
			j.mu.notify = make(chan struct{})
		}
		j.mu.Unlock()
		for _, r := range live {
			r.trunc = g.trunc
			close(r.done)
		}
		return
	}
}

// safeCommit commits b, turning a panic of the storage engine (it panics
// when it cannot write its log) into an error.
func safeCommit(b *pebble.Batch, wo *pebble.WriteOptions) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("storage engine failed: %v", r)
		}
	}()
	return b.Commit(wo)
}

func without(reqs []*commitReq, r *commitReq) []*commitReq {
	out := make([]*commitReq, 0, len(reqs)-1)
	for _, q := range reqs {
		if q != r {
			out = append(out, q)
		}
	}
	return out
}

// overlaid reports whether the group tracks its writes to k's table.
func overlaid(k []byte) bool {
	switch k[0] {
	case tCursor, tDirtyByMbox, tEntry, tEntryByDst, tLost:
		return true
	}
	return false
}

func (g *group) set(k, v []byte) error {
	if overlaid(k) {
		g.overlay[string(k)] = v
		if k[0] == tLost {
			g.lostWrites++
		}
	}
	return g.b.Set(k, v, nil)
}

func (g *group) del(k []byte) error {
	if overlaid(k) {
		g.overlay[string(k)] = nil
		if k[0] == tLost {
			g.lostWrites++
		}
	}
	return g.b.Delete(k, nil)
}

func (g *group) deleteRanges(rs []keyRange) error {
	for _, r := range rs {
		if err := g.b.DeleteRange(r.start, r.end, nil); err != nil {
			return err
		}
		g.cleared = append(g.cleared, r)
		for k := range g.overlay {
			if k >= string(r.start) && k < string(r.end) {
				delete(g.overlay, k)
			}
		}
	}
	return nil
}

// get reads a copy of key's value as the group sees it.
func (g *group) get(k []byte) ([]byte, bool, error) {
	if v, ok := g.overlay[string(k)]; ok {
		return v, v != nil, nil
	}
	for _, r := range g.cleared {
		if bytes.Compare(k, r.start) >= 0 && bytes.Compare(k, r.end) < 0 {
			return nil, false, nil
		}
	}
	return getFrom(g.j.db, k)
}

// getEntry reads an entry as the group sees it, skipping the database
// when the UID is above every UID there (appends to a mailbox).
func (g *group) getEntry(table byte, pair string, mbox mailbox.ID, u uid.UID) ([]byte, []byte, bool, error) {
	k := entryKey(table, pair, mbox, u)
	if v, ok := g.overlay[string(k)]; ok {
		return k, v, v != nil, nil
	}
	p := entryPrefix(table, pair, mbox)
	hi, ok := g.maxUID[string(p)]
	if !ok {
		var err error
		if hi, err = lastUID(g.j.db, p); err != nil {
			return k, nil, false, err
		}
		g.maxUID[string(p)] = hi
	}
	if u > hi {
		return k, nil, false, nil
	}
	v, found, err := g.get(k)
	return k, v, found, err
}

// lastUID returns the highest UID of the entries under prefix p.
func lastUID(db *pebble.DB, p []byte) (uid.UID, error) {
	it, err := db.NewIter(&pebble.IterOptions{LowerBound: p, UpperBound: prefixEnd(p)})
	if err != nil {
		return 0, err
	}
	var u uid.UID
	if it.Last() {
		k := it.Key()
		if len(k) < len(p)+uint32Sz {
			err = badRecord(k[0], k, errKey)
		} else {
			u = uid.UID(binary.BigEndian.Uint32(k[len(k)-uint32Sz:]))
		}
	}
	return u, firstErr(err, it.Error(), it.Close())
}

func (g *group) appendEvent(ev *Event) error {
	g.last++
	e := *ev
	e.Seq = g.last
	if e.Time.IsZero() {
		e.Time = g.now
	}
	if err := g.set(eventKey(e.Seq), encodeEvent(&e)); err != nil {
		return err
	}
	if err := g.markDirty(&e, e.MailboxID, e.Mailbox); err != nil {
		return err
	}
	if err := g.tombstonesOf(&e); err != nil {
		return err
	}
	if e.Kind == KindRename && e.MailboxID == "" && e.OldName != e.Mailbox {
		return g.markDirty(&e, "", e.OldName)
	}
	return nil
}

// tombstonesOf leaves a tombstone for each message a user's expunge names
// by EmailID: an expunge event with no Origin and a MailboxID. A message
// with a lost record in the mailbox gets none: recovery expunged it (a
// server that logs every expunge logs recovery's too), and a restore must
// still bring it back.
func (g *group) tombstonesOf(e *Event) error {
	if e.Kind != KindExpunge || e.Origin != "" || e.MailboxID == "" || len(e.EmailIDs) == 0 {
		return nil
	}
	var uids []uid.UID
	if uint64(len(e.EmailIDs)) == e.UIDs.Len() {
		uids = slices.Collect(e.UIDs.All())
	}
	for i, id := range e.EmailIDs {
		if id.IsZero() {
			continue
		}
		t := Tombstone{User: e.User, MailboxID: e.MailboxID, Mailbox: e.Mailbox, EmailID: id, Time: e.Time}
		var lost bool
		var err error
		if uids != nil {
			// The very message recovery recorded: same EmailID, same UID.
			t.UID = uids[i]
			_, lost, err = g.get(lostKey(Lost{User: e.User, MailboxID: e.MailboxID, EmailID: id, UID: t.UID}))
		} else {
			lost, err = g.hasPrefix(newKey(tLost).str(e.User).str(string(e.MailboxID)).id(id))
		}
		if err != nil {
			return err
		}
		if lost {
			continue
		}
		v := encodeTombstone(&t)
		if err := firstErr(g.set(tombstoneKey(t), v), g.set(tombByEmailKey(t), v)); err != nil {
			return err
		}
	}
	return nil
}

// hasPrefix reports whether a key of the lost table that starts with p
// exists as the group sees it (its own writes and deletions included).
func (g *group) hasPrefix(p []byte) (bool, error) {
	if p[0] != tLost {
		return false, fmt.Errorf("journal: hasPrefix on table %#x, which it does not track", p[0])
	}
	if g.lostWrites > 0 {
		for k, v := range g.overlay {
			if v != nil && strings.HasPrefix(k, string(p)) {
				return true, nil
			}
		}
	}
	it, err := g.j.db.NewIter(&pebble.IterOptions{LowerBound: p, UpperBound: prefixEnd(p)})
	if err != nil {
		return false, err
	}
	found := false
	for ok := it.First(); ok; ok = it.Next() {
		k := it.Key()
		if v, in := g.overlay[string(k)]; in && v == nil {
			continue // deleted by the group
		}
		if g.clearedKey(k) {
			continue
		}
		found = true
		break
	}
	return found, firstErr(it.Error(), it.Close())
}

// clearedKey reports whether a range the group deleted holds k.
func (g *group) clearedKey(k []byte) bool {
	for _, r := range g.cleared {
		if bytes.Compare(k, r.start) >= 0 && bytes.Compare(k, r.end) < 0 {
			return true
		}
	}
	return false
}

// markDirty records that ev changed the mailbox (id, name): the mailbox's
// entry moves to ev's sequence number.
func (g *group) markDirty(ev *Event, id mailbox.ID, name string) error {
	km := dirtyByMboxKey(ev.User, id, name)
	old, found, err := g.get(km)
	if err != nil {
		return err
	}
	if found {
		m, err := decodeDirty(km, old)
		if err != nil {
			return err
		}
		if err := g.del(dirtyBySeqKey(m.Seq, ev.User, id, name)); err != nil {
			return err
		}
	}
	m := UserMailbox{User: ev.User, MailboxID: id, Mailbox: name, Seq: ev.Seq, Deleted: ev.Kind == KindDelete}
	if id != "" {
		m.Mailbox = ev.Mailbox
	}
	v := encodeDirty(&m)
	return firstErr(g.set(km, v), g.set(dirtyBySeqKey(ev.Seq, ev.User, id, name), v))
}

// truncate removes the events at or below the lowest cursor.
func (g *group) truncate() error {
	cursors := map[string]Seq{}
	it, err := g.j.db.NewIter(&pebble.IterOptions{LowerBound: []byte{tCursor}, UpperBound: []byte{tCursor + 1}})
	if err != nil {
		return err
	}
	for it.First(); it.Valid(); it.Next() {
		v, err := it.ValueAndErr()
		if err == nil {
			var name string
			var s Seq
			name, s, err = decodeCursor(it.Key(), v)
			cursors[name] = s
		}
		if err != nil {
			_ = it.Close()
			return err
		}
	}
	if err := firstErr(it.Error(), it.Close()); err != nil {
		return err
	}
	for k, v := range g.overlay {
		if k[0] != tCursor {
			continue
		}
		if v == nil {
			r := readKey([]byte(k), tCursor)
			delete(cursors, r.str())
			continue
		}
		name, s, err := decodeCursor([]byte(k), v)
		if err != nil {
			return err
		}
		cursors[name] = s
	}
	if len(cursors) == 0 {
		return nil
	}
	lowest := slices.Min(slices.Collect(maps.Values(cursors)))
	if lowest <= g.trunc {
		return nil
	}
	if err := g.b.DeleteRange(eventKey(g.trunc+1), eventKey(lowest+1), nil); err != nil {
		return err
	}
	g.trunc = lowest
	return g.set(keyTruncated, encodeSeq(recTruncated, lowest))
}

func (g *group) putEntry(pair string, mbox mailbox.ID, e *Entry) error {
	kDst, v, found, err := g.getEntry(tEntryByDst, pair, mbox, e.DstUID)
	if err != nil {
		return err
	}
	if found {
		other, err := decodeEntry(kDst, v)
		if err != nil {
			return err
		}
		if other.SrcUID != e.SrcUID {
			return g.invalid(invalid("%s: target UID %d is paired with source UID %d already", stateDesc(pair, mbox), e.DstUID, other.SrcUID))
		}
	}
	kSrc, v, found, err := g.getEntry(tEntry, pair, mbox, e.SrcUID)
	if err != nil {
		return err
	}
	if found {
		old, err := decodeEntry(kSrc, v)
		if err != nil {
			return err
		}
		if old.DstUID != e.DstUID {
			if err := g.del(entryKey(tEntryByDst, pair, mbox, old.DstUID)); err != nil {
				return err
			}
		}
	}
	v = encodeEntry(e)
	return firstErr(g.set(kSrc, v), g.set(kDst, v))
}

func (g *group) deleteEntry(pair string, mbox mailbox.ID, src uid.UID) error {
	kSrc, v, found, err := g.getEntry(tEntry, pair, mbox, src)
	if err != nil || !found {
		return err
	}
	old, err := decodeEntry(kSrc, v)
	if err != nil {
		return err
	}
	return firstErr(g.del(kSrc), g.del(entryKey(tEntryByDst, pair, mbox, old.DstUID)))
}

// keyRange is a half-open range of keys [start, end).
type keyRange struct{ start, end []byte }

func prefixRange(p []byte) keyRange { return keyRange{p, prefixEnd(p)} }

// mailboxStateRanges are the keys of one mailbox's state: header, entries
// both ways, intents.
func mailboxStateRanges(pair string, mbox mailbox.ID) []keyRange {
	h := headerKey(pair, mbox)
	return []keyRange{
		{h, successor(h)},
		prefixRange(entryPrefix(tEntry, pair, mbox)),
		prefixRange(entryPrefix(tEntryByDst, pair, mbox)),
		prefixRange(newKey(tIntent).str(pair).str(string(mbox))),
	}
}

// pairStateRanges are the keys of a pair's state.
func pairStateRanges(pair string) []keyRange {
	var rs []keyRange
	for _, t := range []byte{tHeader, tEntry, tEntryByDst, tIntent} {
		rs = append(rs, prefixRange(newKey(t).str(pair)))
	}
	return rs
}
