package maildir

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/mailrepl/mailrepl/mailbox"
	"github.com/mailrepl/mailrepl/uid"
)

// folder is the state the store keeps of one mailbox directory: the last
// dovecot-uidlist and dovecot-keywords read (reread when their files
// change) and the last scan of cur/ and new/. Changes to it, and writes to
// the folder, happen under its lock, a mutex that honours contexts.
type folder struct {
	s    *Store
	name string // canonical mailbox name
	dir  string // directory name under the root, "" for INBOX
	path string // absolute directory

	lock chan struct{} // 1-buffered: held while reading or changing the state

	// Guarded by lock.
	ul        *uidlist // never changed once stored here: replaced
	ulID      fileID
	synthetic bool // ul exists in memory only (read-only store)
	numbered  bool // ul is the UIDKeeper's numbering (read-only, no uidlist)
	courier   bool // ul was read from courierimapuiddb (no dovecot-uidlist)
	courierID fileID
	kw        keywords
	kwID      fileID
	sc        *scanResult

	// syncedUL and syncedSC are the list and scan last found to agree
	// (every file has a UID): while both stay, no need to look again.
	syncedUL *uidlist
	syncedSC *scanResult

	// inflight are the base names of files an open batch has put into
	// cur/ or new/ but not yet published: not new messages to give UIDs.
	inflight map[string]bool

	pmu     sync.Mutex
	pending map[string]cacheEntry // learned, not yet in the uidlist
	warned  map[string]bool
}

// fileID tells whether a file changed since it was read.
type fileID struct {
	dev, ino        uint64
	size            int64
	mtimeS, mtimeNS int64
}

func idOf(st *syscall.Stat_t) fileID {
	return fileID{dev: uint64(st.Dev), ino: st.Ino, size: st.Size, mtimeS: st.Mtim.Sec, mtimeNS: st.Mtim.Nsec}
}

func newFolder(s *Store, name, dir string) *folder {
	return &folder{s: s, name: name, dir: dir, path: filepath.Join(s.root, dir), lock: make(chan struct{}, 1)}
}

func (f *folder) uidlistPath() string  { return filepath.Join(f.path, uidlistName) }
func (f *folder) keywordsPath() string { return filepath.Join(f.path, "dovecot-keywords") }

func (f *folder) acquire(ctx context.Context) error {
	select {
	case f.lock <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (f *folder) tryAcquire() bool {
	select {
	case f.lock <- struct{}{}:
		return true
	default:
		return false
	}
}

func (f *folder) release() { <-f.lock }

func (f *folder) err(op string, u uid.UID, path string, err error) error {
	return f.s.err(op, f.name, u, path, err)
}

// warnOnce logs a warning about a file at most once per folder state.
func (f *folder) warnOnce(key, msg string, args ...any) {
	f.pmu.Lock()
	if f.warned == nil {
		f.warned = make(map[string]bool)
	}
	seen := f.warned[key]
	if !seen && len(f.warned) < 10000 {
		f.warned[key] = true
	}
	f.pmu.Unlock()
	if !seen {
		f.s.warn(msg, args...)
	}
}

// loadUidlistLocked rereads dovecot-uidlist if it changed. A file whose
// last line is cut short may be one Dovecot is appending to: it is read
// again once before it counts as damaged.
func (f *folder) loadUidlistLocked() error {
	p := f.uidlistPath()
	for attempt := 0; ; attempt++ {
		st, err := stat(p)
		if errors.Is(err, fs.ErrNotExist) {
			if ok, err := f.loadCourierLocked(); err != nil || ok {
				return err
			}
			if !f.synthetic {
				f.ul, f.ulID = nil, fileID{}
			}
			return nil
		} else if err != nil {
			return err
		}
		id := idOf(st)
		if f.ul != nil && !f.synthetic && id == f.ulID {
			return nil
		}
		data, err := os.ReadFile(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue // replaced meanwhile
		} else if err != nil {
			return err
		}
		l, dups, err := parseUidlist(data)
		if err != nil {
			if attempt == 0 && len(data) > 0 && data[len(data)-1] != '\n' {
				time.Sleep(20 * time.Millisecond)
				continue
			}
			return err
		}
		if dups > 0 {
			f.warnOnce("dups:"+p, "maildir: dovecot-uidlist names a file twice; the later line counts, as in Dovecot", "path", p, "lines", dups)
		}
		f.ul, f.ulID, f.synthetic = l, id, false
		f.numbered, f.courier = false, false
		return nil
	}
}

// loadKeywordsLocked rereads dovecot-keywords if it changed.
func (f *folder) loadKeywordsLocked() error {
	p := f.keywordsPath()
	st, err := stat(p)
	if errors.Is(err, fs.ErrNotExist) {
		f.kw, f.kwID = keywords{}, fileID{}
		return nil
	} else if err != nil {
		return err
	}
	if id := idOf(st); id == f.kwID {
		return nil
	}
	data, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		f.kw, f.kwID = keywords{}, fileID{}
		return nil
	} else if err != nil {
		return err
	}
	f.kw, f.kwID = parseKeywords(data), idOf(st)
	return nil
}

// fileRef is where a message file is.
type fileRef struct {
	name  string // the whole file name
	inNew bool   // in new/ rather than cur/
}

// scanResult is one reading of cur/ and new/.
type scanResult struct {
	files          map[string]fileRef // by base name
	start          time.Time          // when the scan began (system clock)
	curID, newID   fileID             // the directories' times when read
	stableForReuse bool
	// patched: the scan with this process's flag changes applied since,
	// never reused but by flag changes (see patchScanLocked).
	patched bool
}

func dirID(path string) (fileID, error) {
	st, err := stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return fileID{}, nil
	}
	if err != nil {
		return fileID{}, err
	}
	return fileID{dev: uint64(st.Dev), ino: st.Ino, mtimeS: st.Mtim.Sec, mtimeNS: st.Mtim.Nsec}, nil
}

// scanLocked returns the files of cur/ and new/. It reuses the last scan
// when neither directory changed since and both were last changed more
// than a second before that scan began (a later change would then show in
// their times). A scan during which a directory changed is done again,
// a few times, so that a file being renamed (its flags changing) is not
// missed; new/ is read before cur/, so that a file moving from new/ to cur/
// is seen in one or the other.
func (f *folder) scanLocked(force bool) (*scanResult, error) {
	curDir, newDir := filepath.Join(f.path, "cur"), filepath.Join(f.path, "new")
	var sc *scanResult
	for attempt := 0; ; attempt++ {
		curID, err := dirID(curDir)
		if err != nil {
			return nil, err
		}
		newID, err := dirID(newDir)
		if err != nil {
			return nil, err
		}
		if !force && attempt == 0 && f.sc != nil && f.sc.stableForReuse && f.sc.curID == curID && f.sc.newID == newID {
			return f.sc, nil
		}
		sc = &scanResult{start: time.Now(), curID: curID, newID: newID}
		newNames, err := readNames(newDir)
		if err != nil {
			return nil, err
		}
		curNames, err := readNames(curDir)
		if err != nil {
			return nil, err
		}
		sc.files = make(map[string]fileRef, len(curNames)+len(newNames))
		f.addNames(sc, newDir, newNames, true)
		f.addNames(sc, curDir, curNames, false)
		curAfter, err := dirID(curDir)
		if err != nil {
			return nil, err
		}
		newAfter, err := dirID(newDir)
		if err != nil {
			return nil, err
		}
		if (curAfter == curID && newAfter == newID) || attempt >= 4 {
			latest := latestTime(time.Unix(curID.mtimeS, curID.mtimeNS), time.Unix(newID.mtimeS, newID.mtimeNS))
			sc.stableForReuse = curAfter == curID && newAfter == newID && sc.start.Sub(latest) > time.Second
			break
		}
	}
	f.sc = sc
	return sc, nil
}

func latestTime(ts ...time.Time) time.Time {
	var m time.Time
	for _, t := range ts {
		if t.After(m) {
			m = t
		}
	}
	return m
}

func readNames(dir string) ([]string, error) {
	d, err := os.Open(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	names, err := d.Readdirnames(-1)
	d.Close()
	return names, err
}

func (f *folder) addNames(sc *scanResult, dir string, names []string, inNew bool) {
	for _, n := range names {
		fn, err := parseFileName(n)
		if err != nil {
			if n != "" && n[0] != '.' {
				f.warnOnce(dir+"/"+n, "maildir: leaving alone a file whose name does not parse", "path", filepath.Join(dir, n), "err", err)
			}
			continue
		}
		if prev, dup := sc.files[fn.base]; dup && !prev.inNew {
			f.warnOnce(dir+"/"+n, "maildir: two files share a base name; using the first", "path", filepath.Join(dir, n), "first", prev.name)
			continue
		}
		sc.files[fn.base] = fileRef{name: n, inNew: inNew}
	}
}

// filePath returns the path of a file of the folder.
func (f *folder) filePath(ref fileRef) string {
	if ref.inNew {
		return filepath.Join(f.path, "new", ref.name)
	}
	return filepath.Join(f.path, "cur", ref.name)
}

// uidlistIndex maps base names to positions in a uidlist; built once per
// list, on first use.
type uidlistIndex struct {
	once   sync.Once
	byBase map[string]int
}

func (l *uidlist) index() map[string]int {
	l.ix.once.Do(func() {
		l.ix.byBase = make(map[string]int, len(l.recs))
		for i, r := range l.recs {
			l.ix.byBase[r.base] = i
		}
	})
	return l.ix.byBase
}

// clone returns a copy of l that can be changed without changing l.
func (l *uidlist) clone() *uidlist {
	c := *l
	c.ix = new(uidlistIndex)
	c.recs = slices.Clone(l.recs)
	c.hdrExt = slices.Clone(l.hdrExt)
	for i := range c.recs {
		c.recs[i].ext = slices.Clip(c.recs[i].ext)
	}
	return &c
}

// snapshot is a consistent view of a folder for reading without its lock.
type snapshot struct {
	ul      *uidlist
	sc      *scanResult
	kw      keywords
	pending map[string]cacheEntry
}

// missing returns the base names of files that have no UID yet, in
// the order Dovecot gives them UIDs.
func missing(ul *uidlist, sc *scanResult, inflight map[string]bool) []string {
	var idx map[string]int
	if ul != nil {
		idx = ul.index()
	}
	var out []string
	for base := range sc.files {
		if _, ok := idx[base]; !ok && !inflight[base] {
			out = append(out, base)
		}
	}
	slices.SortFunc(out, compareBase)
	return out
}

// syncLocked brings the folder's state up to date and returns a snapshot.
// Files with no UID yet are given UIDs as Dovecot gives them (by the time
// in their names, then by name) and, unless the store is read-only, the
// uidlist is rewritten to publish them, under its lock. A uidlist without
// a mailbox GUID gets one, and a folder without a uidlist gets one with a
// fresh UIDVALIDITY, as Dovecot does.
func (f *folder) syncLocked(ctx context.Context, op string) (*snapshot, error) {
	if err := f.loadUidlistLocked(); err != nil {
		return nil, f.err(op, 0, f.uidlistPath(), err)
	}
	if err := f.loadKeywordsLocked(); err != nil {
		return nil, f.err(op, 0, f.keywordsPath(), err)
	}
	sc, err := f.scanLocked(false)
	if err != nil {
		return nil, f.err(op, 0, f.path, err)
	}
	if f.ul != nil && f.ul == f.syncedUL && sc == f.syncedSC {
		return f.snapshotLocked(), nil // nothing changed since nothing was missing
	}
	if f.s.opts.ReadOnly && f.s.opts.UIDs != nil && (f.ul == nil || f.numbered) {
		// No list of its own: the keeper numbers every file, gone ones
		// dropped, new ones added.
		if err := f.numberLocked(ctx, op, sc); err != nil {
			return nil, err
		}
		f.syncedUL, f.syncedSC = f.ul, sc
		return f.snapshotLocked(), nil
	}
	miss := missing(f.ul, sc, f.inflight)
	if f.ul != nil && f.ul.guid != "" && len(miss) == 0 {
		f.syncedUL, f.syncedSC = f.ul, sc
		return f.snapshotLocked(), nil
	}
	if f.s.opts.ReadOnly && f.s.opts.LeaveUnnumbered && f.ul != nil && f.ul.guid != "" {
		// Files the folder's writer has yet to number are left out until
		// it does, as a writable store leaves them while another holds
		// the uidlist's lock.
		return f.snapshotLocked(), nil
	}
	if f.s.opts.ReadOnly {
		f.assignInMemoryLocked(miss)
		return f.snapshotLocked(), nil
	}
	// Publishing needs the uidlist lock. When the folder has a uidlist
	// already, do not wait for it: files with no UID yet are left for a
	// later call (Dovecot does the same), and a listing or a flag change
	// never waits for a batch or a Dovecot that holds the lock.
	mustWait := f.ul == nil || f.ul.guid == ""
	dl, err := f.lockUidlistLocked(ctx, op, mustWait)
	if err != nil {
		if mustWait || !errors.Is(err, mailbox.ErrTransient) {
			return nil, err
		}
		if err := f.loadUidlistLocked(); err != nil {
			return nil, f.err(op, 0, f.uidlistPath(), err)
		}
		return f.snapshotLocked(), nil
	}
	defer f.unlockUidlist(dl)
	if _, err := f.syncHeldLocked(ctx, op); err != nil {
		return nil, err
	}
	return f.snapshotLocked(), nil
}

// lockUidlistLocked takes the uidlist's dotlock for a caller that holds
// the folder's lock, which it lets go meanwhile and holds again on return
// (even on error): holders of the dotlock (batches) take the folder lock
// after it, never before. Without wait it takes the lock only if free now.
func (f *folder) lockUidlistLocked(ctx context.Context, op string, wait bool) (*dotlock, error) {
	f.release()
	defer func() { f.lock <- struct{}{} }()
	if wait {
		return f.lockUidlist(ctx, op)
	}
	set := f.s.lockSet
	set.timeout = 0
	dl, err := acquireDotlock(ctx, f.uidlistPath(), set, f.s.opts.FileMode, false)
	if err != nil {
		return nil, f.err(op, 0, f.uidlistPath()+".lock", err)
	}
	return dl, nil
}

// holdUidlist takes the uidlist's dotlock, then the folder's lock, and
// returns the current list (new files published first) with the function
// that lets both go, for a change of the uidlist made under them.
func (f *folder) holdUidlist(ctx context.Context, op string) (unlock func(), l *uidlist, err error) {
	dl, err := f.lockUidlist(ctx, op)
	if err != nil {
		return nil, nil, err
	}
	if err := f.acquire(ctx); err != nil {
		f.unlockUidlist(dl)
		return nil, nil, f.err(op, 0, "", err)
	}
	unlock = func() {
		f.release()
		f.unlockUidlist(dl)
	}
	if l, err = f.syncHeldLocked(ctx, op); err != nil {
		unlock()
		return nil, nil, err
	}
	return unlock, l, nil
}

// syncHeldLocked is syncLocked's work with the uidlist's dotlock held: it
// rereads and rescans, publishes new files and returns the current list.
func (f *folder) syncHeldLocked(ctx context.Context, op string) (*uidlist, error) {
	if err := f.loadUidlistLocked(); err != nil {
		return nil, f.err(op, 0, f.uidlistPath(), err)
	}
	sc, err := f.scanLocked(false)
	if err != nil {
		return nil, f.err(op, 0, f.path, err)
	}
	miss := missing(f.ul, sc, f.inflight)
	if f.ul != nil && f.ul.guid != "" && len(miss) == 0 {
		return f.ul, nil
	}
	var l *uidlist
	var seeded mailbox.ID // the keeper's numbering the list takes over
	if f.ul == nil {
		if l, seeded, err = f.seedFromKeeperLocked(ctx, op, sc); err != nil {
			return nil, err
		}
		if l != nil {
			miss = nil // the seed numbers every file
		} else {
			v, err := nextUIDValidity(f.s.root, f.s.opts.Now(), f.s.opts.FileMode)
			if err != nil {
				return nil, f.err(op, 0, filepath.Join(f.s.root, uidvalidityName), err)
			}
			l = newUidlist(v, 1)
		}
	} else {
		l = f.ul.clone()
	}
	if l.guid == "" {
		if l.guid, err = f.s.newGUID(); err != nil {
			return nil, f.err(op, 0, "", err)
		}
	}
	for _, base := range miss {
		if l.next >= uid.Max {
			return nil, f.err(op, 0, f.uidlistPath(), errors.New("no UIDs left below 2^32-1"))
		}
		l.recs = append(l.recs, record{uid: l.next, base: base})
		l.next++
	}
	if err := f.writeUidlistLocked(ctx, op, l); err != nil {
		return nil, err
	}
	if seeded != "" {
		// The folder's own list has the numbering now; should that list
		// be lost, a new numbering (a new UIDVALIDITY) must take its place,
		// never this one with the UIDs the list gave since.
		if err := f.s.opts.UIDs.Forget(ctx, seeded); err != nil {
			f.s.warn("maildir: the UID keeper did not forget a numbering this folder took over", "dir", f.path, "err", err)
		}
	}
	return l, nil
}

// assignInMemoryLocked gives UIDs to new files without writing anything,
// for a read-only store.
func (f *folder) assignInMemoryLocked(miss []string) {
	var l *uidlist
	if f.ul == nil {
		// No uidlist and no keeper: the UIDVALIDITY comes from the
		// folder's path and file names, so two opens of an unchanged tree
		// (a backup read twice) agree, and a tree whose files changed gets
		// another.
		l = f.derivedList(miss)
		f.synthetic = true
	} else {
		l = f.ul.clone()
		if l.guid == "" {
			// A list without a GUID (Dovecot's version 1): an ID from what
			// it holds and the mailbox's name, not from the path.
			l.guid = derivedGUID("uidlist", l.validity, f.name)
		}
	}
	if len(miss) > 0 {
		f.warnOnce("ro-uids:"+f.path, "maildir: read-only store gives UIDs to files not in dovecot-uidlist in memory only", "dir", f.path, "files", len(miss))
	}
	for _, base := range miss {
		if l.next >= uid.Max {
			break
		}
		l.recs = append(l.recs, record{uid: l.next, base: base})
		l.next++
	}
	f.ul = l
	if !f.synthetic {
		f.synthetic = true // the file is no longer what we hold
		f.ulID = fileID{}
	}
}

func (f *folder) snapshotLocked() *snapshot {
	sn := &snapshot{ul: f.ul, sc: f.sc, kw: f.kw}
	f.pmu.Lock()
	if len(f.pending) > 0 {
		sn.pending = make(map[string]cacheEntry, len(f.pending))
		for k, v := range f.pending {
			sn.pending[k] = v
		}
	}
	f.pmu.Unlock()
	return sn
}

// lockUidlist takes the folder's dovecot-uidlist dotlock.
func (f *folder) lockUidlist(ctx context.Context, op string) (*dotlock, error) {
	dl, err := acquireDotlock(ctx, f.uidlistPath(), f.s.lockSet, f.s.opts.FileMode, false)
	if err != nil {
		return nil, f.err(op, 0, f.uidlistPath()+".lock", err)
	}
	return dl, nil
}

func (f *folder) unlockUidlist(dl *dotlock) {
	if !dl.unlock() {
		f.s.warn("maildir: our dovecot-uidlist lock was overridden by someone else", "path", dl.lockPath)
	}
}

// writeUidlistLocked publishes l (with the pending EmailIDs added) as the
// folder's dovecot-uidlist: temporary file, fsync, rename, fsync of the
// directory. Its mtime is made later than the old file's, since Dovecot
// trusts its index while the uidlist's size and mtime stay the same.
// The caller holds the dotlock.
func (f *folder) writeUidlistLocked(ctx context.Context, op string, l *uidlist) error {
	if err := ctx.Err(); err != nil {
		return f.err(op, 0, "", err)
	}
	f.pmu.Lock()
	var flushed []string
	if len(f.pending) > 0 {
		idx := l.index()
		touched := false
		for base, c := range f.pending {
			if i, ok := idx[base]; ok {
				if !touched {
					l = l.clone() // l's index is now stale: work on a copy
					touched = true
				}
				l.recs[i].setCache(c)
			}
			flushed = append(flushed, base)
		}
	}
	f.pmu.Unlock()
	p := f.uidlistPath()
	var oldM fileID
	if st, err := stat(p); err == nil {
		oldM = idOf(st)
	}
	if f.s.fault != nil {
		if err := f.s.fault("write uidlist"); err != nil {
			return f.err(op, 0, p, err)
		}
	}
	if err := writeUidlistFile(p, l.format(), f.s.opts.FileMode, oldM); err != nil {
		return f.err(op, 0, p, err)
	}
	st, err := stat(p)
	if err != nil {
		return f.err(op, 0, p, err)
	}
	f.ul, f.ulID, f.synthetic = l, idOf(st), false
	f.pmu.Lock()
	for _, b := range flushed {
		delete(f.pending, b)
	}
	f.pmu.Unlock()
	return nil
}

// writeUidlistFile is writeFileAtomic with the mtime rule.
func writeUidlistFile(path string, data []byte, mode fs.FileMode, old fileID) error {
	tmp := path + ".tmp"
	fh, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	_, err = fh.Write(data)
	if err == nil && old.ino != 0 {
		var st *syscall.Stat_t
		if st, err = fstat(fh); err == nil {
			oldT := time.Unix(old.mtimeS, old.mtimeNS)
			if !mtimeOf(st).After(oldT) {
				t := oldT.Add(time.Microsecond)
				err = os.Chtimes(tmp, t, t)
			}
		}
	}
	if err == nil {
		err = fh.Sync()
	}
	if cerr := fh.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	return syncDir(filepath.Dir(path))
}

// status returns the mailbox's Info (Subscribed not set).
func (f *folder) status(ctx context.Context) (mailbox.Info, error) {
	if err := f.acquire(ctx); err != nil {
		return mailbox.Info{}, f.err("status", 0, "", err)
	}
	defer f.release()
	sn, err := f.syncLocked(ctx, "status")
	if err != nil {
		return mailbox.Info{}, err
	}
	return mailbox.Info{
		Name:        f.name,
		ID:          mailbox.ID(sn.ul.guid),
		UIDValidity: sn.ul.validity,
		UIDNext:     sn.ul.next,
		// Maildir keeps no special-use attribute (Dovecot configures
		// it by name): the name tells it.
		SpecialUse: mailbox.GuessSpecialUse(f.name),
	}, nil
}

// create writes the dovecot-uidlist of a new folder.
func (f *folder) create(ctx context.Context) error {
	dl, err := f.lockUidlist(ctx, "create")
	if err != nil {
		return err
	}
	defer f.unlockUidlist(dl)
	if err := f.acquire(ctx); err != nil {
		return f.err("create", 0, "", err)
	}
	defer f.release()
	if err := f.loadUidlistLocked(); err != nil {
		return f.err("create", 0, f.uidlistPath(), err)
	}
	if f.ul != nil {
		return nil // a leftover of an earlier attempt
	}
	_, err = f.syncHeldLocked(ctx, "create")
	return err
}

// addPending remembers what a read or a listing learned of messages
// (EmailIDs, internal dates), to be written with the next uidlist
// rewrite. When much is pending (a quarter of the folder, and at least
// pendingFlushAt entries), it writes the uidlist now if it can without
// waiting.
func (f *folder) addPending(learned map[string]cacheEntry, folderSize int) {
	f.pmu.Lock()
	if f.pending == nil {
		f.pending = make(map[string]cacheEntry, len(learned))
	}
	for base, c := range learned {
		f.pending[base] = f.pending[base].merge(c)
	}
	n := len(f.pending)
	f.pmu.Unlock()
	if n >= pendingFlushAt && !f.s.opts.ReadOnly && n >= folderSize/4 {
		f.flushPending()
	}
}

// pendingFlushAt is the least number of pending cache entries that start
// a uidlist rewrite.
const pendingFlushAt = 256

// flushPending writes the pending cache entries, if the folder and its
// uidlist lock are free right now (it is only a cache: it never waits).
func (f *folder) flushPending() {
	f.pmu.Lock()
	n := len(f.pending)
	f.pmu.Unlock()
	if n == 0 || f.s.opts.ReadOnly {
		return
	}
	if !f.tryAcquire() {
		return
	}
	defer f.release()
	ctx := context.Background()
	set := f.s.lockSet
	set.timeout = 0
	dl, err := acquireDotlock(ctx, f.uidlistPath(), set, f.s.opts.FileMode, false)
	if err != nil {
		return
	}
	defer f.unlockUidlist(dl)
	if err := f.loadUidlistLocked(); err != nil || f.ul == nil || f.synthetic {
		return
	}
	if err := f.writeUidlistLocked(ctx, "write cache", f.ul); err != nil {
		f.s.warn("maildir: could not write the cache of EmailIDs and dates", "err", err)
	}
}

// lookupLocked finds the file of base, rescanning when the last scan does
// not have it (or fresh is set: the file it named is gone).
func (f *folder) lookupLocked(base string, fresh bool) (fileRef, bool, error) {
	if f.sc != nil && !fresh {
		if ref, ok := f.sc.files[base]; ok {
			return ref, true, nil
		}
	}
	sc, err := f.scanLocked(true)
	if err != nil {
		return fileRef{}, false, err
	}
	ref, ok := sc.files[base]
	return ref, ok, nil
}
