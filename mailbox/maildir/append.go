package maildir

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/mailrepl/mailrepl/mailbox"
	"github.com/mailrepl/mailrepl/uid"
)

// A delivery, as Dovecot makes it (src/lib-storage/index/maildir/
// maildir-save.c), and durable at each step:
//
//  1. write the message into tmp/, set its mtime to the internal date,
//     make it durable;
//  2. take the dovecot-uidlist lock and reread the uidlist;
//  3. rename the file into cur/ ("<base>:2,<flags>"), or into new/ when
//     it has no flags, its base getting ",S=<size>,W=<size with CRLF>";
//  4. fsync the directory, so the file is durable before its UID exists;
//  5. publish the UID: rewrite the uidlist (temporary file, fsync, rename,
//     fsync of the folder), then release the lock.
//
// A batch does 2 once, at its first append, and holds the lock until it
// ends (touching it so that it does not look stale). Each append writes
// its file into tmp/ and goes no further: Commit makes every file of the
// batch durable at once (one syncfs(2) of the file system where there is
// one, else an fsync of each), then does 3 for each and 4 and 5 once. A
// file in tmp/ is no message: until Commit, nothing of the batch is seen
// by a listing, nor left as a message by a crash (a crash leaves files in
// tmp/, which Dovecot removes after 36 hours). A crash after 3 and before
// 5 leaves files with no UID, which the next listing publishes with new
// UIDs: nothing is lost.

// Append adds a message and returns its UID.
func (s *Store) Append(ctx context.Context, name string, lit mailbox.Literal, meta mailbox.AppendMeta) (_ uid.UID, err error) {
	defer s.nameErr(name, &err)
	b, err := s.newBatch(ctx, "append", name)
	if err != nil {
		return 0, err
	}
	defer b.Close()
	u, err := b.Append(ctx, lit, meta)
	if err != nil {
		return 0, err
	}
	if err := b.Commit(ctx); err != nil {
		return 0, err
	}
	return u, nil
}

// AppendUID appends a message with UID u, which must be at least UIDNEXT.
func (s *Store) AppendUID(ctx context.Context, name string, u uid.UID, lit mailbox.Literal, meta mailbox.AppendMeta) (err error) {
	defer s.nameErr(name, &err)
	b, err := s.newBatch(ctx, "append", name)
	if err != nil {
		return err
	}
	defer b.Close()
	if err := b.AppendUID(ctx, u, lit, meta); err != nil {
		return err
	}
	return b.Commit(ctx)
}

// Batch starts a batch of appends to one mailbox. It holds the mailbox's
// dovecot-uidlist lock from its first append until Commit or Close, so
// that Dovecot and other stores wait meanwhile: keep batches short.
func (s *Store) Batch(ctx context.Context, name string) (mailbox.Batch, error) {
	b, err := s.newBatch(ctx, "batch", name)
	if err != nil {
		return nil, s.named(name, err)
	}
	return b, nil
}

func (s *Store) newBatch(ctx context.Context, op, name string) (*batch, error) {
	f, err := s.writableFolder(op, name)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, f.err(op, 0, "", err)
	}
	return &batch{f: f, name: name}, nil
}

// batch implements mailbox.Batch. It holds the uidlist's dotlock from its
// first append to its end; the folder's state lock only for each step, so
// that the batch's goroutine may still list, read and change flags in the
// mailbox meanwhile. Files it has put into cur/ or new/ are "in flight":
// listings skip them until Commit publishes them.
type batch struct {
	f    *folder
	name string // as the caller spelled it, for errors

	held      bool
	dl        *dotlock
	ul        *uidlist // the list being built
	lastTouch time.Time
	tmpDir    *os.File     // tmp/, open from the first append: its syncfs makes the staged files durable
	staged    []stagedFile // written into tmp/, put in place by Commit
	moved     []movedFile  // put in place by Commit, not yet published
	done      bool
}

// stagedFile is an appended message waiting in tmp/ for the batch's
// Commit.
type stagedFile struct {
	tmp  string // its path in tmp/
	dest string // its path in cur/ or new/
	base string
}

type movedFile struct{ path, base string }

var _ mailbox.StagedBatch = (*batch)(nil)

// Staged implements mailbox.StagedBatch: an append leaves its file in
// tmp/, which no listing reads, until Commit.
func (b *batch) Staged() bool { return true }

var _ mailbox.Batch = (*batch)(nil)

func (b *batch) err(op string, u uid.UID, path string, err error) error {
	return b.f.s.named(b.name, b.f.err(op, u, path, err))
}

func (b *batch) Append(ctx context.Context, lit mailbox.Literal, meta mailbox.AppendMeta) (uid.UID, error) {
	u, err := b.append(ctx, 0, lit, meta)
	return u, b.f.s.named(b.name, err)
}

func (b *batch) AppendUID(ctx context.Context, u uid.UID, lit mailbox.Literal, meta mailbox.AppendMeta) error {
	if u == 0 {
		return b.err("append", u, "", fmt.Errorf("%w: UID 0", mailbox.ErrUIDOrder))
	}
	_, err := b.append(ctx, u, lit, meta)
	return b.f.s.named(b.name, err)
}

// append delivers one message, with UID want or, if zero, the next.
func (b *batch) append(ctx context.Context, want uid.UID, lit mailbox.Literal, meta mailbox.AppendMeta) (uid.UID, error) {
	const op = "append"
	f := b.f
	if b.done {
		return 0, f.err(op, want, "", fmt.Errorf("%w: batch ended", mailbox.ErrClosed))
	}
	if err := f.s.checkWritable(op, f.name); err != nil {
		return 0, err
	}
	if err := checkFlags(meta.Flags); err != nil {
		return 0, f.err(op, want, "", err)
	}
	if want >= uid.Max {
		return 0, f.err(op, want, "", fmt.Errorf("%w: UID %d leaves no UIDNEXT", mailbox.ErrUIDOrder, want))
	}
	if b.tmpDir == nil {
		if err := b.openTmp(); err != nil {
			return 0, err
		}
	}
	tmp, err := f.writeTmp(ctx, lit, meta)
	if err != nil {
		return 0, err
	}
	keep := false
	defer func() {
		if !keep {
			os.Remove(tmp.path)
		}
	}()
	if !b.held {
		if err := b.hold(ctx); err != nil {
			return 0, err
		}
	}
	if err := f.acquire(ctx); err != nil {
		return 0, f.err(op, want, "", err)
	}
	defer f.release()
	u := b.ul.next
	if want != 0 {
		if want < b.ul.next {
			return 0, f.err(op, want, "", fmt.Errorf("%w: UID %d is below UIDNEXT %d", mailbox.ErrUIDOrder, want, b.ul.next))
		}
		u = want
	}
	if u >= uid.Max {
		return 0, f.err(op, 0, "", fmt.Errorf("%w: no UID left: UIDNEXT is %d", mailbox.ErrUIDOrder, u))
	}
	var chars string
	if hasKeyword(meta.Flags) {
		if err := f.loadKeywordsLocked(); err != nil {
			return 0, f.err(op, want, f.keywordsPath(), err)
		}
		kw := f.kw
		var added bool
		if chars, added, err = encodeFlags(meta.Flags, &kw); err != nil {
			return 0, f.err(op, want, "", err)
		}
		if added {
			if err := f.writeKeywordsLocked(ctx, &kw); err != nil {
				return 0, f.err(op, want, f.keywordsPath(), err)
			}
		}
	} else if chars, _, err = encodeFlags(meta.Flags, nil); err != nil {
		return 0, f.err(op, want, "", err)
	}
	base := fmt.Sprintf("%s,S=%d,W=%d", tmp.base, tmp.size, tmp.vsize)
	ref := fileRef{name: base, inNew: chars == ""}
	if chars != "" {
		ref.name = fileName{base: base}.withFlags(chars).String()
	}
	keep = true
	b.staged = append(b.staged, stagedFile{tmp: tmp.path, dest: f.filePath(ref), base: base})
	rec := record{uid: u, base: base}
	rec.setCache(cacheEntry{id: tmp.id, hasID: true, date: tmp.date, hasDate: true})
	b.ul.recs = append(b.ul.recs, rec)
	b.ul.next = u + 1
	if time.Since(b.lastTouch) >= touchEvery {
		if err := b.dl.touch(); err != nil {
			f.s.warn("maildir: cannot touch the dovecot-uidlist lock", "path", b.dl.lockPath, "err", err)
		}
		b.lastTouch = time.Now()
	}
	return u, nil
}

// hasKeyword reports whether fl holds a keyword, whose letter only
// dovecot-keywords gives.
func hasKeyword(fl mailbox.Flags) bool {
	for f := range fl.All() {
		if f.IsKeyword() {
			return true
		}
	}
	return false
}

// openTmp makes sure tmp/ exists and opens it, once per batch: the
// batch's syncfs goes through it, and reports any write-back error of the
// file system since it was opened.
func (b *batch) openTmp() error {
	const op = "append"
	f := b.f
	tmpDir := filepath.Join(f.path, "tmp")
	if err := os.Mkdir(tmpDir, f.s.opts.DirMode); err != nil && !errors.Is(err, fs.ErrExist) {
		return f.err(op, 0, tmpDir, err)
	}
	d, err := os.Open(tmpDir)
	if err != nil {
		return f.err(op, 0, tmpDir, err)
	}
	b.tmpDir = d
	return nil
}

// hold takes the uidlist's dotlock and starts the new list from the
// current one (new files of others published first).
func (b *batch) hold(ctx context.Context) error {
	const op = "append"
	f := b.f
	dl, err := f.lockUidlist(ctx, op)
	if err != nil {
		return err
	}
	if err := f.acquire(ctx); err != nil {
		f.unlockUidlist(dl)
		return f.err(op, 0, "", err)
	}
	l, err := f.heldListLocked(ctx, op)
	f.release()
	if err != nil {
		f.unlockUidlist(dl)
		return err
	}
	b.held, b.dl, b.ul, b.lastTouch = true, dl, l.clone(), time.Now()
	return nil
}

// heldListLocked returns the list a batch starts from, with the uidlist's
// dotlock held: the uidlist as the file has it. Files no one numbered yet
// are not published first, for that means reading cur/ and new/ again for
// every batch, after the folder's own flag changes and expunges made the
// last reading stale (a third of an incremental mirror's time): the batch
// takes its UIDs from the list's UIDNEXT, so such files get UIDs above the
// batch's at the next sync, as they would had they arrived after it. A
// folder without a whole list yet (no file, or no GUID) is synced first.
func (f *folder) heldListLocked(ctx context.Context, op string) (*uidlist, error) {
	if err := f.loadUidlistLocked(); err != nil {
		return nil, f.err(op, 0, f.uidlistPath(), err)
	}
	if f.ul != nil && !f.synthetic && f.ul.guid != "" {
		return f.ul, nil
	}
	return f.syncHeldLocked(ctx, op)
}

// Commit makes the batch's files durable, then publishes their UIDs. On
// failure the batch's files are removed.
func (b *batch) Commit(ctx context.Context) error {
	const op = "append"
	f := b.f
	if b.done {
		return b.err(op, 0, "", fmt.Errorf("%w: batch ended", mailbox.ErrClosed))
	}
	if err := f.s.checkOpen(op, f.name); err != nil {
		b.undo()
		return f.s.named(b.name, err)
	}
	if !b.held {
		b.end()
		return nil
	}
	err := ctx.Err()
	if err != nil {
		err = f.err(op, 0, "", err)
	}
	if err == nil {
		err = b.place(ctx)
	}
	if err == nil {
		if e := f.acquire(ctx); e != nil {
			err = f.err(op, 0, "", e)
		} else {
			err = f.writeUidlistLocked(ctx, op, b.ul)
			if err == nil {
				for _, m := range b.moved {
					delete(f.inflight, m.base)
				}
				f.sc = nil
			}
			f.release()
		}
	}
	if err != nil {
		b.undo()
		return f.s.named(b.name, err)
	}
	b.moved = nil
	b.end()
	return nil
}

// Close ends the batch; appends not committed are removed, and their UIDs
// are not used again (UIDNEXT is raised past them).
func (b *batch) Close() error {
	if !b.done {
		b.undo()
	}
	return nil
}

func (b *batch) undo() {
	f := b.f
	for _, st := range b.staged {
		os.Remove(st.tmp)
	}
	if b.held {
		f.lock <- struct{}{} // no ctx here: the holders are short
		for _, m := range b.moved {
			os.Remove(m.path)
			delete(f.inflight, m.base)
		}
		if len(b.moved) > 0 || len(b.staged) > 0 {
			f.sc = nil
			if f.ul != nil && !f.synthetic && b.ul.next > f.ul.next {
				l := f.ul.clone()
				l.next = b.ul.next
				if err := f.writeUidlistLocked(context.Background(), "undo batch", l); err != nil {
					f.s.warn("maildir: could not raise UIDNEXT past an undone batch", "err", err)
				}
			}
		}
		f.release()
	}
	b.staged, b.moved = nil, nil
	b.end()
}

// place makes the staged files durable, all at once, then renames each
// into cur/ or new/ (marked in flight: listings skip them until their
// UIDs are published) and makes the renames durable.
func (b *batch) place(ctx context.Context) error {
	const op = "append"
	f := b.f
	if len(b.staged) == 0 {
		return nil
	}
	if err := syncFiles(b.tmpDir, b.staged); err != nil {
		return f.err(op, 0, b.tmpDir.Name(), err)
	}
	if err := f.acquire(ctx); err != nil {
		return f.err(op, 0, "", err)
	}
	if f.inflight == nil {
		f.inflight = make(map[string]bool)
	}
	var cur, new bool
	for len(b.staged) > 0 {
		st := b.staged[0]
		if err := f.renameIntoPlace(st); err != nil {
			f.release()
			return f.err(op, 0, st.dest, err)
		}
		b.staged = b.staged[1:]
		f.inflight[st.base] = true
		b.moved = append(b.moved, movedFile{st.dest, st.base})
		if filepath.Base(filepath.Dir(st.dest)) == "new" {
			new = true
		} else {
			cur = true
		}
	}
	f.release()
	for _, d := range []struct {
		on  bool
		dir string
	}{{cur, "cur"}, {new, "new"}} {
		if d.on {
			p := filepath.Join(f.path, d.dir)
			if err := syncDir(p); err != nil {
				return f.err(op, 0, p, err)
			}
		}
	}
	return nil
}

// renameIntoPlace renames a staged file into cur/ or new/. A missing
// directory is made first: a folder whose creation was cut short (before
// this package made cur/ last), or whose new/ another program removed,
// still takes deliveries, as in Dovecot.
func (f *folder) renameIntoPlace(st stagedFile) error {
	err := os.Rename(st.tmp, st.dest)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	dir := filepath.Dir(st.dest)
	if _, serr := os.Lstat(dir); !errors.Is(serr, fs.ErrNotExist) {
		return err // the staged file is what is missing
	}
	if merr := os.Mkdir(dir, f.s.opts.DirMode); merr != nil && !errors.Is(merr, fs.ErrExist) {
		return merr
	}
	if serr := syncDir(f.path); serr != nil {
		return serr
	}
	f.s.warn("maildir: made a missing directory of a folder", "dir", dir)
	return os.Rename(st.tmp, st.dest)
}

func (b *batch) end() {
	if b.tmpDir != nil {
		b.tmpDir.Close()
		b.tmpDir = nil
	}
	if b.held {
		b.f.unlockUidlist(b.dl)
		b.held = false
	}
	b.done = true
}

// copyBufs are the buffers messages are copied through, one per copy
// under way.
var copyBufs = sync.Pool{New: func() any { b := make([]byte, 64<<10); return &b }}

// tmpFile is a message written into tmp/.
type tmpFile struct {
	path, base  string
	size, vsize int64
	id          mailbox.EmailID
	date        int64 // internal date, Unix seconds
}

// writeTmp writes a message into tmp/ (which the batch made sure of),
// checks it against its declared size and expected EmailID and sets its
// mtime to the internal date; the batch's Commit makes it durable. On any
// failure nothing is left behind.
func (f *folder) writeTmp(ctx context.Context, lit mailbox.Literal, meta mailbox.AppendMeta) (tf tmpFile, err error) {
	const op = "append"
	size := lit.Size()
	if size <= 0 {
		return tf, f.err(op, 0, "", fmt.Errorf("%w: empty message (declared size %d)", mailbox.ErrInvalidMessage, size))
	}
	tmpDir := filepath.Join(f.path, "tmp")
	now := f.s.opts.Now()
	var fh *os.File
	for {
		tf.base = newBase(now.Unix(), now.Nanosecond()/1000, f.s.pid, deliveries.Add(1), f.s.host, 0, 0)
		tf.base = tf.base[:len(tf.base)-len(",S=0,W=0")]
		tf.path = filepath.Join(tmpDir, tf.base)
		fh, err = os.OpenFile(tf.path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, f.s.opts.FileMode)
		if !errors.Is(err, fs.ErrExist) {
			break
		}
	}
	if err != nil {
		return tf, f.err(op, 0, tf.path, err)
	}
	defer func() {
		if err != nil {
			fh.Close()
			os.Remove(tf.path)
		}
	}()
	h := mailbox.NewHasher()
	var w io.Writer = io.MultiWriter(fh, h)
	if f.s.fault != nil {
		w = faultWriter{w, f.s.fault, "write message"}
	}
	bp := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(bp)
	buf := *bp
	for {
		if err := ctx.Err(); err != nil {
			return tf, f.err(op, 0, "", err)
		}
		n, rerr := lit.Read(buf)
		if n > 0 {
			if h.Size()+int64(n) > size {
				return tf, f.err(op, 0, "", fmt.Errorf("%w: the literal gives more than its declared %d bytes", mailbox.ErrInvalidMessage, size))
			}
			if _, werr := w.Write(buf[:n]); werr != nil {
				return tf, f.err(op, 0, tf.path, werr)
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return tf, f.err(op, 0, "", fmt.Errorf("reading the message: %w", rerr))
		}
	}
	if h.Size() != size {
		return tf, f.err(op, 0, "", fmt.Errorf("%w: the literal gave %d bytes, declared %d", mailbox.ErrInvalidMessage, h.Size(), size))
	}
	tf.size, tf.vsize, tf.id = h.Size(), h.NormalizedSize(), h.Sum()
	if !meta.EmailID.IsZero() && meta.EmailID != tf.id {
		return tf, f.err(op, 0, "", fmt.Errorf("%w: %w: message has %s, expected %s", mailbox.ErrCorrupt, mailbox.ErrEmailIDMismatch, tf.id.Short(), meta.EmailID.Short()))
	}
	date := meta.InternalDate
	if date.IsZero() {
		date = now
	}
	date = date.Truncate(time.Second) // IMAP's precision, and Dovecot's
	tf.date = date.Unix()
	if err := os.Chtimes(tf.path, date, date); err != nil {
		return tf, f.err(op, 0, tf.path, err)
	}
	startWriteback(fh)
	if err := fh.Close(); err != nil {
		return tf, f.err(op, 0, tf.path, err)
	}
	return tf, nil
}

// SetUIDNext raises the mailbox's UIDNEXT.
func (s *Store) SetUIDNext(ctx context.Context, name string, next uid.UID) (err error) {
	defer s.nameErr(name, &err)
	const op = "set UIDNEXT"
	f, err := s.writableFolder(op, name)
	if err != nil {
		return err
	}
	unlock, l, err := f.holdUidlist(ctx, op)
	if err != nil {
		return err
	}
	defer unlock()
	switch {
	case next == l.next:
		return nil
	case next < l.next:
		return f.err(op, 0, "", fmt.Errorf("%w: UIDNEXT %d is below the current %d", mailbox.ErrUIDOrder, next, l.next))
	case next > uid.Max:
		return f.err(op, 0, "", fmt.Errorf("%w: UIDNEXT %d", mailbox.ErrUIDOrder, next))
	}
	l = l.clone()
	l.next = next
	return f.writeUidlistLocked(ctx, op, l)
}

// ResetUIDs gives the mailbox UIDVALIDITY v (which may be the current
// one) and renumbers it: each message whose UID is a source UID of m gets
// m's target UID, the others are expunged. The new
// uidlist is published first, then the other files are removed: a crash
// between the two leaves them as new messages (with new UIDs under v),
// never loses one that m keeps.
func (s *Store) ResetUIDs(ctx context.Context, name string, v uid.Validity, m *uid.Map) (err error) {
	defer s.nameErr(name, &err)
	const op = "reset UIDs"
	f, err := s.writableFolder(op, name)
	if err != nil {
		return err
	}
	if v == 0 {
		return f.err(op, 0, "", fmt.Errorf("%w: UIDVALIDITY 0", mailbox.ErrNotAllowed))
	}
	if m == nil {
		m = new(uid.Map)
	}
	unlock, l, err := f.holdUidlist(ctx, op)
	if err != nil {
		return err
	}
	defer unlock()
	nl := newUidlist(v, 1)
	if v == l.validity {
		nl.next = l.next // within one UIDVALIDITY, UIDNEXT never goes down
	}
	for _, dst := range m.ByDst() {
		if dst >= uid.Max {
			return f.err(op, dst, "", fmt.Errorf("%w: UID %d leaves no UIDNEXT", mailbox.ErrUIDOrder, dst))
		}
		nl.next = max(nl.next, dst+1)
	}
	sc, err := f.scanLocked(true)
	if err != nil {
		return f.err(op, 0, f.path, err)
	}
	nl.guid, nl.hdrExt = l.guid, l.hdrExt
	var drop []string
	for _, r := range l.recs {
		ref, ok := sc.files[r.base]
		if !ok {
			continue
		}
		dst, keep := m.Dst(r.uid)
		if !keep {
			drop = append(drop, f.filePath(ref))
			continue
		}
		nl.recs = append(nl.recs, record{uid: dst, ext: r.ext, base: r.base, cache: r.cache})
	}
	sortRecords(nl.recs)
	if err := f.writeUidlistLocked(ctx, op, nl); err != nil {
		return err
	}
	if v == l.validity {
		f.dropDovecotIndexLocked()
	} else if err := raiseUIDValidity(f.s.root, v, f.s.opts.FileMode); err != nil {
		f.s.warn("maildir: cannot raise dovecot-uidvalidity", "path", filepath.Join(f.s.root, uidvalidityName), "err", err)
	}
	var cur, new bool
	for _, p := range drop {
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return f.err(op, 0, p, err)
		}
		if filepath.Base(filepath.Dir(p)) == "new" {
			new = true
		} else {
			cur = true
		}
	}
	return f.finishChangesLocked(op, cur, new)
}

// faultWriter fails writes when the store's fault hook says so (tests).
type faultWriter struct {
	w     io.Writer
	fault func(op string) error
	op    string
}

func (fw faultWriter) Write(p []byte) (int, error) {
	if err := fw.fault(fw.op); err != nil {
		return 0, err
	}
	return fw.w.Write(p)
}

// dovecotIndexFiles are Dovecot's caches of a Maildir folder: UIDs, flags
// and cached headers it can rebuild from dovecot-uidlist and the files.
var dovecotIndexFiles = []string{"dovecot.index", "dovecot.index.log", "dovecot.index.log.2", "dovecot.index.cache"}

// dropDovecotIndexLocked removes Dovecot's index of the folder after a
// renumbering that kept the UIDVALIDITY: under the same UIDVALIDITY
// Dovecot would trust it, serve cached data of the old numbering and
// refuse the lower UIDNEXT. Without it, Dovecot rebuilds the index from
// the uidlist on its next access. (A Dovecot session that has the folder
// open meanwhile may still see the old numbering; see the package doc.)
func (f *folder) dropDovecotIndexLocked() {
	for _, n := range dovecotIndexFiles {
		p := filepath.Join(f.path, n)
		if err := removeIfExists(p); err != nil {
			f.s.warn("maildir: cannot remove Dovecot's index after a renumbering", "path", p, "err", err)
		}
	}
}
