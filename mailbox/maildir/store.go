package maildir

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/mailrepl/mailrepl/mailbox"
	"github.com/mailrepl/mailrepl/uid"
)

// ErrClosed is wrapped by the errors of calls on a closed Store.
var ErrClosed = mailbox.ErrClosed

// Options configures a Store. A nil *Options is valid and means all
// defaults; a zero field means that field's default.
type Options struct {
	// Name names the store in errors. Default: the root path.
	Name string
	// Logger receives warnings about what the store leaves alone: file
	// names that do not parse, folders it cannot name, a lock someone
	// overrode. If nil, nothing is logged.
	Logger *slog.Logger
	// Now is the clock for new file names and for the internal date of
	// appends that give none. Default time.Now. Lock staleness always
	// uses the system clock, as file times do.
	Now func() time.Time
	// Rand is the source of new mailbox GUIDs. Default crypto/rand.
	Rand io.Reader
	// ReadOnly opens the store for reading only: writes fail with
	// mailbox.ErrReadOnly, nothing on disk is created or changed (UIDs of
	// files not yet in a dovecot-uidlist are given in memory only, for
	// the life of the Store).
	ReadOnly bool
	// LeaveUnnumbered, in a read-only store, leaves out of listings the
	// files that a folder's dovecot-uidlist does not number yet (a
	// delivery whose writer has still to give it a UID), rather than
	// numbering them in memory, where a UID could differ from the one
	// the writer then gives: what a replicator that keeps UIDs needs. A
	// folder without a uidlist (or with one of Dovecot's version 1) is
	// numbered in memory all the same.
	LeaveUnnumbered bool
	// Hostname goes into the names of delivered files. Default
	// os.Hostname().
	Hostname string
	// DirMode and FileMode are the permissions of directories and files
	// the store creates. Default 0700 and 0600.
	DirMode, FileMode fs.FileMode
	// UIDs keeps the UIDs of folders that have no dovecot-uidlist (nor
	// Courier's courierimapuiddb) in a store opened read-only, so that
	// they stay the same from one run to the next without anything being
	// written into the tree; a store opened for writing seeds the
	// dovecot-uidlist it creates from it. The journal provides one
	// (journal.Journal.UIDKeeper). Nil: a read-only folder without a list
	// is numbered in memory, from its path and file names, and every
	// added or removed file renumbers it.
	UIDs mailbox.UIDKeeper
	// LockTimeout is how long to wait for a dovecot-uidlist lock before
	// failing with an error wrapping mailbox.ErrTransient. Default 122 s,
	// Dovecot's: a lock unchanged for 2 minutes is taken as stale.
	LockTimeout time.Duration
}

// Validate reports every problem with the options at once.
func (o *Options) Validate() error {
	if o == nil {
		return nil
	}
	var errs []error
	if o.DirMode&^fs.ModePerm != 0 {
		errs = append(errs, fmt.Errorf("maildir: DirMode %v has bits other than permissions", o.DirMode))
	}
	if o.FileMode&^fs.ModePerm != 0 {
		errs = append(errs, fmt.Errorf("maildir: FileMode %v has bits other than permissions", o.FileMode))
	}
	if o.LockTimeout < 0 {
		errs = append(errs, fmt.Errorf("maildir: negative LockTimeout %v", o.LockTimeout))
	}
	if strings.ContainsAny(o.Hostname, "\x00\n") {
		errs = append(errs, fmt.Errorf("maildir: Hostname %q holds NUL or newline", o.Hostname))
	}
	return errors.Join(errs...)
}

func (o *Options) withDefaults(root string) Options {
	var c Options
	if o != nil {
		c = *o
	}
	if c.Name == "" {
		c.Name = root
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Rand == nil {
		c.Rand = rand.Reader
	}
	if c.Hostname == "" {
		c.Hostname, _ = os.Hostname()
	}
	if c.DirMode == 0 {
		c.DirMode = 0o700
	}
	if c.FileMode == 0 {
		c.FileMode = 0o600
	}
	if c.LockTimeout == 0 {
		c.LockTimeout = uidlistLockSettings.timeout
	}
	return c
}

// Store is a Maildir++ tree: the root holds INBOX (cur/, new/, tmp/) and
// every other mailbox is a ".A.B" directory beside them. Its methods are
// safe for concurrent use, and a Dovecot (or another Store) may use the
// same tree at the same time.
type Store struct {
	root     string // as opened, absolute
	realRoot string // with symlinks resolved
	opts     Options
	host     string // safeHost(opts.Hostname)
	pid      int
	lockSet  lockSettings

	structure chan struct{} // serializes Create, Rename and Delete

	// fault, set by tests only, makes the named step fail ("write
	// message", "write uidlist") when it returns an error.
	fault func(step string) error

	closed atomic.Bool // mirrors mu.closed, for checks in loops

	mu struct {
		sync.Mutex
		closed   bool
		folders  map[string]*folder    // by directory name, "" for INBOX
		numbered map[mailbox.ID]string // the keeper's numberings folders hold, to their directories
		checked  map[string]dirTriple  // folder paths checkFolderDir passed, with what lstat(2) found then
	}
}

var (
	_ mailbox.Store     = (*Store)(nil)
	_ mailbox.UIDSetter = (*Store)(nil)
	_ mailbox.Batcher   = (*Store)(nil)
)

// deliveries numbers the files this process delivers (the Q<n> of their
// names), so that two stores of one process never pick the same name.
var deliveries atomic.Uint64

// Open opens the Maildir++ tree at root, creating root and INBOX's cur/
// and new/ when missing (unless ReadOnly: then a missing root is an error
// wrapping mailbox.ErrNotFound). tmp/ is created when first needed.
func Open(root string, opts *Options) (*Store, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, &mailbox.Error{Op: "open", Store: root, Path: root, Err: err}
	}
	s := &Store{root: abs, pid: os.Getpid(), structure: make(chan struct{}, 1)}
	s.opts = opts.withDefaults(abs)
	s.host = safeHost(s.opts.Hostname)
	s.lockSet = lockSettings{timeout: s.opts.LockTimeout, staleTimeout: uidlistLockSettings.staleTimeout}
	s.mu.folders = make(map[string]*folder)
	fail := func(path string, err error) (*Store, error) {
		if errors.Is(err, fs.ErrNotExist) {
			err = fmt.Errorf("%w: %w", mailbox.ErrNotFound, err)
		}
		return nil, &mailbox.Error{Op: "open", Store: s.opts.Name, Path: path, Err: err}
	}
	fi, err := os.Stat(abs)
	switch {
	case errors.Is(err, fs.ErrNotExist) && !s.opts.ReadOnly:
		if err := os.MkdirAll(abs, s.opts.DirMode); err != nil {
			return fail(abs, err)
		}
	case err != nil:
		return fail(abs, err)
	case !fi.IsDir():
		return fail(abs, errors.New("not a directory"))
	}
	if s.realRoot, err = filepath.EvalSymlinks(abs); err != nil {
		return fail(abs, err)
	}
	if !s.opts.ReadOnly {
		for _, sub := range []string{"cur", "new"} {
			p := filepath.Join(abs, sub)
			if err := os.Mkdir(p, s.opts.DirMode); err != nil && !errors.Is(err, fs.ErrExist) {
				return fail(p, err)
			}
		}
	}
	return s, nil
}

// Close writes what it can of the pending cache (EmailIDs and dates
// learned, without waiting for a lock) and releases the store.
// Later calls return errors wrapping ErrClosed.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.mu.closed {
		s.mu.Unlock()
		return s.err("close", "", 0, "", ErrClosed)
	}
	s.mu.closed = true
	s.closed.Store(true)
	folders := s.mu.folders
	s.mu.folders = nil
	s.mu.Unlock()
	for _, f := range folders {
		f.flushPending()
	}
	return nil
}

// err builds the error of an operation.
func (s *Store) err(op, mbox string, u uid.UID, path string, err error) error {
	var me *mailbox.Error
	if errors.As(err, &me) && me.Store == s.opts.Name {
		return err
	}
	switch {
	case errors.Is(err, errUidlist), errors.Is(err, errUnknownVersion):
		if !errors.Is(err, mailbox.ErrCorrupt) {
			err = fmt.Errorf("%w: %w", mailbox.ErrCorrupt, err)
		}
	case errors.Is(err, fs.ErrNotExist) && !errors.Is(err, mailbox.ErrNotFound):
		err = fmt.Errorf("%w: %w", mailbox.ErrNotFound, err)
	}
	return &mailbox.Error{Op: op, Store: s.opts.Name, Mailbox: mbox, UID: u, Path: path, Err: err}
}

// named makes an error of this store name the mailbox as the caller
// spelled it ("inbox", not "INBOX").
func (s *Store) named(name string, err error) error {
	var me *mailbox.Error
	if err != nil && errors.As(err, &me) && me.Store == s.opts.Name && me.Mailbox != "" {
		me.Mailbox = name
	}
	return err
}

func (s *Store) nameErr(name string, err *error) { *err = s.named(name, *err) }

func (s *Store) warn(msg string, args ...any) {
	if s.opts.Logger != nil {
		s.opts.Logger.Warn(msg, append([]any{"store", s.opts.Name}, args...)...)
	}
}

func (s *Store) checkOpen(op, mbox string) error {
	s.mu.Lock()
	closed := s.mu.closed
	s.mu.Unlock()
	if closed {
		return s.err(op, mbox, 0, "", ErrClosed)
	}
	return nil
}

func (s *Store) checkWritable(op, mbox string) error {
	if err := s.checkOpen(op, mbox); err != nil {
		return err
	}
	if s.opts.ReadOnly {
		return s.err(op, mbox, 0, "", mailbox.ErrReadOnly)
	}
	return nil
}

// resolve checks a mailbox name and returns it canonical with its
// directory name.
func (s *Store) resolve(op, name string) (string, string, error) {
	if err := s.checkOpen(op, name); err != nil {
		return "", "", err
	}
	canon, err := mailbox.CanonicalName(name)
	if err != nil {
		return "", "", s.err(op, name, 0, "", err)
	}
	dir, err := dirName(canon)
	if err != nil {
		return "", "", s.err(op, canon, 0, "", err)
	}
	return canon, dir, nil
}

// folder returns the state of an existing mailbox.
// writableFolder is folder for an operation that changes the mailbox:
// it fails with an error wrapping mailbox.ErrReadOnly on a read-only store.
func (s *Store) writableFolder(op, name string) (*folder, error) {
	f, err := s.folder(op, name)
	if err != nil {
		return nil, err
	}
	if err := s.checkWritable(op, f.name); err != nil {
		return nil, err
	}
	return f, nil
}

func (s *Store) folder(op, name string) (*folder, error) {
	canon, dir, err := s.resolve(op, name)
	if err != nil {
		return nil, err
	}
	return s.folderOf(op, canon, dir)
}

func (s *Store) folderOf(op, canon, dir string) (*folder, error) {
	path := filepath.Join(s.root, dir)
	if err := s.checkFolderDir(path); err != nil {
		return nil, s.err(op, canon, 0, path, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mu.closed {
		return nil, s.err(op, canon, 0, "", ErrClosed)
	}
	f := s.mu.folders[dir]
	if f == nil {
		f = newFolder(s, canon, dir)
		s.mu.folders[dir] = f
	}
	return f, nil
}

// checkFolderDir checks that a mailbox directory exists, is a directory
// with cur/, and lies inside the root once symlinks are followed. A path
// that passed is checked again by an lstat(2) of it, its cur/ and its new/:
// while they are the same directories as then, none a symlink, they lead
// where they did (a listing or a read of each message would otherwise
// resolve every component of its path three times).
func (s *Store) checkFolderDir(path string) error {
	now, plain := lstatTriple(path)
	if plain {
		s.mu.Lock()
		was, ok := s.mu.checked[path]
		s.mu.Unlock()
		if ok && was == now {
			return nil
		}
	}
	if err := s.checkFolderDirFully(path); err != nil {
		return err
	}
	if plain {
		s.mu.Lock()
		if s.mu.checked == nil {
			s.mu.checked = make(map[string]dirTriple)
		}
		s.mu.checked[path] = now
		s.mu.Unlock()
	}
	return nil
}

// dirTriple identifies a folder directory, its cur/ and its new/ (zero
// when missing).
type dirTriple [3]struct{ dev, ino uint64 }

// lstatTriple lstats a folder directory, its cur/ and its new/; plain is
// false when one of them is a symlink, or not a directory, or the first
// two cannot be lstatted.
func lstatTriple(path string) (t dirTriple, plain bool) {
	for i, p := range []string{path, filepath.Join(path, "cur"), filepath.Join(path, "new")} {
		var st syscall.Stat_t
		if err := syscall.Lstat(p, &st); err != nil {
			if i == 2 && errors.Is(err, syscall.ENOENT) {
				continue
			}
			return t, false
		}
		if st.Mode&syscall.S_IFMT != syscall.S_IFDIR {
			return t, false
		}
		t[i].dev, t[i].ino = uint64(st.Dev), st.Ino
	}
	return t, true
}

func (s *Store) checkFolderDirFully(path string) error {
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		return err
	}
	if real != s.realRoot && !strings.HasPrefix(real, s.realRoot+string(filepath.Separator)) {
		return fmt.Errorf("%w: %s leads outside the root, to %s", mailbox.ErrInvalidName, path, real)
	}
	for _, sub := range []string{"cur", "new"} {
		p := filepath.Join(real, sub)
		rs, err := filepath.EvalSymlinks(p)
		if errors.Is(err, fs.ErrNotExist) && sub == "new" {
			continue
		}
		if err != nil {
			return err
		}
		if !strings.HasPrefix(rs, s.realRoot+string(filepath.Separator)) {
			return fmt.Errorf("%w: %s leads outside the root, to %s", mailbox.ErrInvalidName, p, rs)
		}
	}
	return nil
}

// forget drops the cached state of the folders in dirs.
func (s *Store) forget(dirs ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, d := range dirs {
		delete(s.mu.folders, d)
	}
}

// folderDirs lists the root's Maildir++ folder directories ("" first for
// INBOX) with their mailbox names. Entries that are not folders this store
// can name are skipped, with a warning when they look like folders.
func (s *Store) folderDirs() ([]string, map[string]string, error) {
	d, err := os.Open(s.root)
	if err != nil {
		return nil, nil, err
	}
	ents, err := d.ReadDir(-1)
	d.Close()
	if err != nil {
		return nil, nil, err
	}
	dirs := []string{""}
	names := map[string]string{"": mailbox.Inbox}
	for _, e := range ents {
		n := e.Name()
		if len(n) < 2 || n[0] != '.' || n[1] == '.' {
			continue
		}
		if !e.IsDir() && e.Type()&fs.ModeSymlink == 0 {
			continue
		}
		name, err := mailboxName(n)
		if err != nil {
			s.warn("maildir: skipping a folder this store cannot name", "dir", filepath.Join(s.root, n), "err", err)
			continue
		}
		if _, err := os.Stat(filepath.Join(s.root, n, "cur")); err != nil {
			continue // a parent level only, or not a Maildir
		}
		dirs = append(dirs, n)
		names[n] = name
	}
	return dirs, names, nil
}

// Mailboxes returns every mailbox, sorted by name.
func (s *Store) Mailboxes(ctx context.Context) ([]mailbox.Info, error) {
	if err := s.checkOpen("list mailboxes", ""); err != nil {
		return nil, err
	}
	dirs, names, err := s.folderDirs()
	if err != nil {
		return nil, s.err("list mailboxes", "", 0, s.root, err)
	}
	subs, err := readSubscriptions(filepath.Join(s.root, subscriptionsName))
	if err != nil {
		return nil, s.err("list mailboxes", "", 0, filepath.Join(s.root, subscriptionsName), err)
	}
	infos := make([]mailbox.Info, 0, len(dirs))
	for _, dir := range dirs {
		if err := ctx.Err(); err != nil {
			return nil, s.err("list mailboxes", "", 0, "", err)
		}
		f, err := s.folderOf("list mailboxes", names[dir], dir)
		if err != nil {
			if errors.Is(err, mailbox.ErrInvalidName) {
				s.warn("maildir: skipping a folder", "err", err)
				continue
			}
			if errors.Is(err, mailbox.ErrNotFound) {
				continue // deleted meanwhile
			}
			return nil, err
		}
		info, err := f.status(ctx)
		if err != nil {
			return nil, err
		}
		info.Subscribed = subs[info.Name]
		infos = append(infos, info)
	}
	slices.SortFunc(infos, func(a, b mailbox.Info) int { return strings.Compare(a.Name, b.Name) })
	return infos, nil
}

// Status returns one mailbox's Info.
func (s *Store) Status(ctx context.Context, name string) (_ mailbox.Info, err error) {
	defer s.nameErr(name, &err)
	f, err := s.folder("status", name)
	if err != nil {
		return mailbox.Info{}, err
	}
	info, err := f.status(ctx)
	if err != nil {
		return mailbox.Info{}, err
	}
	subs, err := readSubscriptions(filepath.Join(s.root, subscriptionsName))
	if err != nil {
		return mailbox.Info{}, s.err("status", f.name, 0, filepath.Join(s.root, subscriptionsName), err)
	}
	info.Subscribed = subs[info.Name]
	return info, nil
}

func (s *Store) lockStructure(ctx context.Context) (func(), error) {
	select {
	case s.structure <- struct{}{}:
		return func() { <-s.structure }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// newGUID returns a fresh mailbox GUID, 32 hex digits.
func (s *Store) newGUID() (string, error) {
	var b [16]byte
	if _, err := io.ReadFull(s.opts.Rand, b[:]); err != nil {
		return "", err
	}
	return hex.EncodeToString(b[:]), nil
}

// Create makes a new mailbox: its directory with cur/, new/, tmp/, the
// Maildir++ "maildirfolder" marker, and a dovecot-uidlist with a fresh
// UIDVALIDITY (from dovecot-uidvalidity, as Dovecot does) and GUID.
func (s *Store) Create(ctx context.Context, name string) (_ mailbox.Info, err error) {
	defer s.nameErr(name, &err)
	const op = "create"
	canon, dir, err := s.resolve(op, name)
	if err != nil {
		return mailbox.Info{}, err
	}
	if err := s.checkWritable(op, canon); err != nil {
		return mailbox.Info{}, err
	}
	if canon == mailbox.Inbox {
		return mailbox.Info{}, s.err(op, canon, 0, s.root, mailbox.ErrExists)
	}
	unlock, err := s.lockStructure(ctx)
	if err != nil {
		return mailbox.Info{}, s.err(op, canon, 0, "", err)
	}
	defer unlock()
	path := filepath.Join(s.root, dir)
	if err := os.Mkdir(path, s.opts.DirMode); err != nil {
		if errors.Is(err, fs.ErrExist) {
			if _, serr := os.Stat(filepath.Join(path, "cur")); serr != nil {
				// A directory without cur/ (a parent level, or the rest of
				// a failed create) is not a mailbox: make it one.
				err = nil
			} else {
				err = mailbox.ErrExists
			}
		}
		if err != nil {
			return mailbox.Info{}, s.err(op, canon, 0, path, err)
		}
	}
	// cur/ last: it is what makes the directory a mailbox (see
	// folderDirs), so a Create cut short leaves a directory that the
	// next Create completes, never a mailbox without new/ or tmp/.
	for _, sub := range []string{"tmp", "new", "cur"} {
		p := filepath.Join(path, sub)
		if err := os.Mkdir(p, s.opts.DirMode); err != nil && !errors.Is(err, fs.ErrExist) {
			return mailbox.Info{}, s.err(op, canon, 0, p, err)
		}
	}
	marker := filepath.Join(path, "maildirfolder")
	if mf, err := os.OpenFile(marker, os.O_WRONLY|os.O_CREATE, s.opts.FileMode); err != nil {
		return mailbox.Info{}, s.err(op, canon, 0, marker, err)
	} else {
		mf.Close()
	}
	s.forget(dir)
	f, err := s.folderOf(op, canon, dir)
	if err != nil {
		return mailbox.Info{}, err
	}
	if err := f.create(ctx); err != nil {
		return mailbox.Info{}, err
	}
	if err := syncDir(s.root); err != nil {
		return mailbox.Info{}, s.err(op, canon, 0, s.root, err)
	}
	return f.status(ctx)
}

// children returns the directory names of the folders below dir.
func (s *Store) children(dir string) ([]string, error) {
	d, err := os.Open(s.root)
	if err != nil {
		return nil, err
	}
	names, err := d.Readdirnames(-1)
	d.Close()
	if err != nil {
		return nil, err
	}
	var out []string
	for _, n := range names {
		if strings.HasPrefix(n, dir+".") {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out, nil
}

// Rename renames a mailbox's directory and those of every mailbox below
// it. UIDVALIDITY, GUID (the mailbox ID) and UIDs live in the directories
// and so are kept; subscriptions follow the names.
func (s *Store) Rename(ctx context.Context, oldName, newName string) error {
	const op = "rename"
	oldCanon, oldDir, err := s.resolve(op, oldName)
	if err != nil {
		return err
	}
	newCanon, newDir, err := s.resolve(op, newName)
	if err != nil {
		return err
	}
	if err := s.checkWritable(op, oldCanon); err != nil {
		return err
	}
	if oldCanon == mailbox.Inbox {
		return s.err(op, oldCanon, 0, "", fmt.Errorf("%w: INBOX cannot be renamed", mailbox.ErrNotAllowed))
	}
	unlock, err := s.lockStructure(ctx)
	if err != nil {
		return s.err(op, oldCanon, 0, "", err)
	}
	defer unlock()
	oldPath := filepath.Join(s.root, oldDir)
	if err := s.checkFolderDir(oldPath); err != nil {
		return s.err(op, oldCanon, 0, oldPath, err)
	}
	switch {
	case mailbox.IsDescendant(newCanon, oldCanon):
		return s.err(op, oldCanon, 0, "", fmt.Errorf("%w: cannot rename %s below itself", mailbox.ErrNotAllowed, oldCanon))
	case newCanon == mailbox.Inbox:
		return s.err(op, newCanon, 0, s.root, mailbox.ErrExists)
	case newCanon == oldCanon:
		return s.err(op, oldCanon, 0, "", fmt.Errorf("%w: renaming %s to itself", mailbox.ErrExists, oldCanon))
	}
	newPath := filepath.Join(s.root, newDir)
	if _, err := os.Lstat(newPath); err == nil {
		return s.err(op, newCanon, 0, newPath, mailbox.ErrExists)
	}
	kids, err := s.children(oldDir)
	if err != nil {
		return s.err(op, oldCanon, 0, s.root, err)
	}
	moves := [][2]string{{oldDir, newDir}}
	for _, k := range kids {
		to := newDir + strings.TrimPrefix(k, oldDir)
		if len(to) > maxDirName {
			return s.err(op, newCanon, 0, "", fmt.Errorf("%w: child %s would need a name longer than %d bytes", mailbox.ErrInvalidName, k, maxDirName))
		}
		if _, err := os.Lstat(filepath.Join(s.root, to)); err == nil {
			return s.err(op, newCanon, 0, filepath.Join(s.root, to), mailbox.ErrExists)
		}
		moves = append(moves, [2]string{k, to})
	}
	subs, err := readSubscriptions(filepath.Join(s.root, subscriptionsName))
	if err != nil {
		return s.err(op, oldCanon, 0, filepath.Join(s.root, subscriptionsName), err)
	}
	var unsub, sub []string
	for _, m := range moves {
		if err := os.Rename(filepath.Join(s.root, m[0]), filepath.Join(s.root, m[1])); err != nil {
			return s.err(op, oldCanon, 0, filepath.Join(s.root, m[0]), err)
		}
		s.forget(m[0], m[1])
		from, err1 := mailboxName(m[0])
		to, err2 := mailboxName(m[1])
		if err1 == nil && err2 == nil && subs[from] {
			unsub, sub = append(unsub, from), append(sub, to)
		}
	}
	if err := syncDir(s.root); err != nil {
		return s.err(op, newCanon, 0, s.root, err)
	}
	subsPath := filepath.Join(s.root, subscriptionsName)
	if len(sub) > 0 {
		if err := setSubscriptions(ctx, subsPath, sub, true, s.opts.FileMode); err != nil {
			return s.err(op, newCanon, 0, subsPath, err)
		}
		if err := setSubscriptions(ctx, subsPath, unsub, false, s.opts.FileMode); err != nil {
			return s.err(op, newCanon, 0, subsPath, err)
		}
	}
	return nil
}

// Delete removes a mailbox with its messages: its directory is first
// renamed out of the way (so the mailbox is gone at once, for Dovecot
// too), then removed. INBOX and mailboxes with children are refused.
func (s *Store) Delete(ctx context.Context, name string) (err error) {
	defer s.nameErr(name, &err)
	const op = "delete"
	canon, dir, err := s.resolve(op, name)
	if err != nil {
		return err
	}
	if err := s.checkWritable(op, canon); err != nil {
		return err
	}
	if canon == mailbox.Inbox {
		return s.err(op, canon, 0, "", fmt.Errorf("%w: INBOX cannot be deleted", mailbox.ErrNotAllowed))
	}
	unlock, err := s.lockStructure(ctx)
	if err != nil {
		return s.err(op, canon, 0, "", err)
	}
	defer unlock()
	path := filepath.Join(s.root, dir)
	if err := s.checkFolderDir(path); err != nil {
		return s.err(op, canon, 0, path, err)
	}
	kids, err := s.children(dir)
	if err != nil {
		return s.err(op, canon, 0, s.root, err)
	}
	if len(kids) > 0 {
		return s.err(op, canon, 0, filepath.Join(s.root, kids[0]), mailbox.ErrHasChildren)
	}
	guid, err := s.newGUID()
	if err != nil {
		return s.err(op, canon, 0, "", err)
	}
	trash := filepath.Join(s.root, "..mailrepl-deleted."+guid)
	if err := os.Rename(path, trash); err != nil {
		return s.err(op, canon, 0, path, err)
	}
	s.forget(dir)
	if err := syncDir(s.root); err != nil {
		return s.err(op, canon, 0, s.root, err)
	}
	if err := os.RemoveAll(trash); err != nil {
		return s.err(op, canon, 0, trash, err)
	}
	subsPath := filepath.Join(s.root, subscriptionsName)
	if err := setSubscriptions(ctx, subsPath, []string{canon}, false, s.opts.FileMode); err != nil {
		return s.err(op, canon, 0, subsPath, err)
	}
	return nil
}

// Subscribe sets whether the mailbox is subscribed, in Dovecot's
// subscriptions file.
func (s *Store) Subscribe(ctx context.Context, name string, subscribed bool) (err error) {
	defer s.nameErr(name, &err)
	const op = "subscribe"
	f, err := s.writableFolder(op, name)
	if err != nil {
		return err
	}
	path := filepath.Join(s.root, subscriptionsName)
	if err := setSubscriptions(ctx, path, []string{f.name}, subscribed, s.opts.FileMode); err != nil {
		return s.err(op, f.name, 0, path, err)
	}
	return nil
}

// mtimeOf returns a file's mtime from a stat.
func mtimeOf(st *syscall.Stat_t) time.Time { return time.Unix(st.Mtim.Sec, st.Mtim.Nsec) }
