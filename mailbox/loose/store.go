package loose

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/mailrepl/mailrepl/mailbox"
	"github.com/mailrepl/mailrepl/mailbox/internal/readonly"
)

// Options configures a Store. A nil *Options is valid and means all
// defaults; a zero field means that field's default.
type Options struct {
	// Name names the store in errors. Default: the directory's path.
	Name string
	// Mailbox is the name of the mailbox of the directory's own files
	// (and, with Flat, of every file). Default INBOX.
	Mailbox string
	// Flat puts the files of every level of the tree into one mailbox,
	// Mailbox, instead of one mailbox per directory.
	Flat bool
	// UIDs keeps the UIDs of the files (mailbox.UIDKeeper, e.g. the
	// journal's), so that a file added or removed changes no other
	// file's UID, nor the mailbox's UIDVALIDITY or ID, wherever the tree
	// is mounted. A file is known by its path below the directory and its
	// size. Nil: the files are numbered 1 to n in the order of their
	// names, and any change gives a new UIDVALIDITY and mailbox ID.
	UIDs mailbox.UIDKeeper
}

// Validate reports every problem with the options at once.
func (o *Options) Validate() error {
	if o == nil || o.Mailbox == "" {
		return nil
	}
	if err := mailbox.ValidateName(o.Mailbox); err != nil {
		return fmt.Errorf("loose: Options.Mailbox: %w", err)
	}
	return nil
}

func (o *Options) withDefaults(dir string) Options {
	var c Options
	if o != nil {
		c = *o
	}
	if c.Name == "" {
		c.Name = dir
	}
	if c.Mailbox == "" {
		c.Mailbox = mailbox.Inbox
	}
	c.Mailbox, _ = mailbox.CanonicalName(c.Mailbox)
	return c
}

// Skip is a file or directory the store left out, and why.
type Skip struct {
	Path   string
	Reason string
}

func (s Skip) String() string { return s.Path + ": " + s.Reason }

// Store is a read-only [mailbox.Reader] over a directory of loose message
// files. Its methods are safe for concurrent use.
type Store struct {
	root     string // as opened, absolute
	realRoot string // symlinks resolved
	opts     Options
	folders  map[string]*folder // by canonical name; fixed at Open
	names    []string           // sorted
	skipped  []Skip             // found by the walk at Open
	base     readonly.Base      // names the store in errors; knows it is closed
}

var (
	_ mailbox.Reader = (*Store)(nil)
	_ io.Closer      = (*Store)(nil)
)

// folder is one mailbox: the files of one directory (with its cur/ and
// new/ when it is a Maildir), or of the whole tree.
type folder struct {
	name  string
	rel   string                // its directory below the root ("" for the root's, and with Flat)
	files []candidate           // sorted: UID order, before files are skipped
	lock  chan struct{}         // held while the files are examined
	idx   atomic.Pointer[index] // nil until the first call that needs it
}

// candidate is a file found by the walk, not examined yet.
type candidate struct {
	rel     string // path below the root, for errors and UIDVALIDITY
	path    string // the file to open: a symlink's target when it is one
	at      string // where the walk found it: the symlink, when it is one
	name    string // the file's own name: UIDs follow it
	maildir string // the Maildir folder whose dovecot-keywords applies, or ""
	mdName  maildirName
}

// Open opens the directory dir and finds its mailboxes, each directory
// level one (or, with Flat, one for all): it reads the directories, and
// no file yet. Each mailbox's files are examined, once, by the first
// call that needs them. A missing dir is an error wrapping
// mailbox.ErrNotFound.
func Open(dir string, opts *Options) (*Store, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, &mailbox.Error{Op: "open", Store: dir, Path: dir, Err: err}
	}
	s := &Store{root: abs, opts: opts.withDefaults(abs), folders: map[string]*folder{}}
	s.base.Name = s.opts.Name
	fi, err := os.Stat(abs)
	if err != nil {
		return nil, s.base.Err("open", "", 0, abs, err)
	}
	if !fi.IsDir() {
		return nil, s.base.Err("open", "", 0, abs, errors.New("not a directory"))
	}
	if s.realRoot, err = filepath.EvalSymlinks(abs); err != nil {
		return nil, s.base.Err("open", "", 0, abs, err)
	}
	root := s.addFolder(s.opts.Mailbox)
	if err := s.walk(abs, "", root); err != nil {
		return nil, err
	}
	for _, f := range s.folders {
		slices.SortFunc(f.files, func(a, b candidate) int {
			return cmp.Or(strings.Compare(a.name, b.name), strings.Compare(a.rel, b.rel))
		})
	}
	slices.Sort(s.names)
	return s, nil
}

func (s *Store) addFolder(name string) *folder {
	f := &folder{name: name, lock: make(chan struct{}, 1)}
	s.folders[name] = f
	s.names = append(s.names, name)
	return f
}

func (s *Store) skip(path, reason string) {
	s.skipped = append(s.skipped, Skip{Path: path, Reason: reason})
}

// walk adds the files of dir (rel below the root) to f, and its
// subdirectories as mailboxes (or to f when Flat). A directory with a
// cur/ or new/ is a Maildir: the files of both are its own, and its tmp/
// (deliveries not finished) is left out.
func (s *Store) walk(dir, rel string, f *folder) error {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return s.base.Err("open", "", 0, dir, err)
	}
	isMaildir := false
	for _, e := range ents {
		if e.IsDir() && (e.Name() == "cur" || e.Name() == "new") {
			isMaildir = true
		}
	}
	for _, e := range ents {
		name := e.Name()
		p := filepath.Join(dir, name)
		r := joinRel(rel, name)
		if strings.HasPrefix(name, ".") {
			if e.IsDir() {
				s.skip(p, "hidden directory (a Maildir++ folder? read the tree with package maildir)")
			} else {
				s.skip(p, "hidden file")
			}
			continue
		}
		target, mode := p, e.Type()
		if mode&fs.ModeSymlink != 0 {
			real, err := filepath.EvalSymlinks(p)
			if err != nil {
				s.skip(p, fmt.Sprintf("broken symlink: %v", err))
				continue
			}
			if !within(s.realRoot, real) {
				s.skip(p, "symlink leading outside the directory, to "+real+": not followed")
				continue
			}
			fi, err := os.Stat(real)
			if err != nil {
				s.skip(p, err.Error())
				continue
			}
			if fi.IsDir() {
				s.skip(p, "symlink to a directory: not followed")
				continue
			}
			target, mode = real, fi.Mode().Type()
		}
		switch {
		case mode.IsDir() && isMaildir && (name == "cur" || name == "new"):
			if err := s.walkMaildirSub(p, r, f, dir); err != nil {
				return err
			}
		case mode.IsDir() && isMaildir && name == "tmp":
			s.skip(p, "a Maildir's tmp/: deliveries not finished")
		case mode.IsDir():
			child := f
			if !s.opts.Flat {
				mb, err := mailbox.CanonicalName(r)
				if err != nil {
					s.skip(p, fmt.Sprintf("no mailbox name, with what is below it: %v", err))
					continue
				}
				if _, taken := s.folders[mb]; taken {
					s.skip(p, fmt.Sprintf("mailbox %s is another directory already; left out with what is below it", mb))
					continue
				}
				child = s.addFolder(mb)
				child.rel = r
			}
			if err := s.walk(p, r, child); err != nil {
				return err
			}
		case !mode.IsRegular():
			s.skip(p, "not a regular file")
		case isControlFile(name):
			s.skip(p, "a Maildir's control file, not mail")
		default:
			s.addFile(f, candidate{rel: r, path: target, at: p, name: name}, "")
		}
	}
	return nil
}

// walkMaildirSub adds the files of a Maildir's cur/ or new/ to f.
func (s *Store) walkMaildirSub(dir, rel string, f *folder, maildir string) error {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return s.base.Err("open", "", 0, dir, err)
	}
	for _, e := range ents {
		name := e.Name()
		p := filepath.Join(dir, name)
		switch {
		case strings.HasPrefix(name, "."):
			s.skip(p, "hidden file")
		case e.Type()&fs.ModeSymlink != 0:
			s.skip(p, "symlink inside a Maildir's "+filepath.Base(dir)+"/: not followed")
		case e.IsDir():
			s.skip(p, "directory inside a Maildir's "+filepath.Base(dir)+"/")
		case !e.Type().IsRegular():
			s.skip(p, "not a regular file")
		default:
			s.addFile(f, candidate{rel: joinRel(rel, name), path: p, at: p, name: name}, maildir)
		}
	}
	return nil
}

func (s *Store) addFile(f *folder, c candidate, maildir string) {
	c.mdName = parseMaildirName(c.name)
	if c.mdName.hasInfo {
		if maildir == "" {
			maildir = filepath.Dir(c.path)
		}
		c.maildir = maildir
	}
	f.files = append(f.files, c)
}

func joinRel(rel, name string) string {
	if rel == "" {
		return name
	}
	return rel + "/" + name
}

// isControlFile reports the files Dovecot and Courier keep beside a
// Maildir's messages.
func isControlFile(name string) bool {
	switch name {
	case "maildirfolder", "subscriptions", "courierimapsubscribed", "courierimapuiddb", "courierimapkeywords":
		return true
	}
	return strings.HasPrefix(name, "dovecot-") || strings.HasPrefix(name, "dovecot.")
}

func within(root, p string) bool {
	return p == root || strings.HasPrefix(p, root+string(filepath.Separator))
}

// Skipped returns what the store left out, with the reason: hidden files
// and directories, symlinks leading outside the directory or to
// directories, a Maildir's tmp/ and control files, directories with no
// mailbox name, and, once each mailbox's files have been examined (this
// call examines those not examined yet), empty files, unreadable files
// and files that are clearly not mail.
func (s *Store) Skipped(ctx context.Context) ([]Skip, error) {
	const op = "skipped"
	if err := s.base.CheckOpen(op, ""); err != nil {
		return nil, err
	}
	out := slices.Clone(s.skipped)
	for _, name := range s.names {
		x, err := s.index(ctx, op, name, s.folders[name])
		if err != nil {
			return nil, err
		}
		out = append(out, x.skipped...)
	}
	return out, nil
}

// Close releases the store. Later calls fail with an error wrapping
// mailbox.ErrClosed; readers Open returned stay readable.
func (s *Store) Close() error { return s.base.Close() }

// folder returns the mailbox the caller names; errors name it as given.
func (s *Store) folder(op, name string) (*folder, error) {
	return readonly.Lookup(&s.base, s.folders, op, name)
}

// Mailboxes returns every mailbox, sorted by name; it examines the files
// of those not examined yet.
func (s *Store) Mailboxes(ctx context.Context) ([]mailbox.Info, error) {
	const op = "list mailboxes"
	if err := s.base.CheckOpen(op, ""); err != nil {
		return nil, err
	}
	infos := make([]mailbox.Info, 0, len(s.names))
	for _, name := range s.names {
		x, err := s.index(ctx, op, name, s.folders[name])
		if err != nil {
			return nil, err
		}
		infos = append(infos, x.info(name))
	}
	return infos, nil
}

// Status returns one mailbox's Info.
func (s *Store) Status(ctx context.Context, name string) (mailbox.Info, error) {
	const op = "status"
	f, err := s.folder(op, name)
	if err != nil {
		return mailbox.Info{}, err
	}
	x, err := s.index(ctx, op, name, f)
	if err != nil {
		return mailbox.Info{}, err
	}
	return x.info(f.name), nil
}
