package mbox

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/mailrepl/mailrepl/mailbox"
	"github.com/mailrepl/mailrepl/mailbox/internal/readonly"
	"github.com/mailrepl/mailrepl/uid"
)

// Options configures a Store. A nil *Options is valid and means all
// defaults; a zero field means that field's default.
type Options struct {
	// Name names the store in errors. Default: the path given to Open.
	Name string
	// Mailbox is the name of the mailbox of a single mbox file. Default
	// INBOX. Not used for a directory.
	Mailbox string
	// Quoting says how the file's writer escaped "From " lines in
	// messages. Default MboxRD.
	Quoting Quoting
	// Location is the zone of From-line dates that name none. Default
	// UTC (so that the dates do not depend on the machine that reads).
	Location *time.Location
	// UIDs keeps the UIDs of the messages (mailbox.UIDKeeper, e.g. the
	// journal's), so that mail appended to the file, or removed from it,
	// changes no other message's UID, UIDVALIDITY or mailbox ID, whether
	// the file stays where it is or not. A message is known by its
	// EmailID and the number of messages with that EmailID before it.
	// Nil: the messages are numbered 1 to n in file order, and any change
	// of the file gives a new UIDVALIDITY and mailbox ID.
	UIDs mailbox.UIDKeeper
}

// Validate reports every problem with the options at once.
func (o *Options) Validate() error {
	if o == nil {
		return nil
	}
	var errs []error
	if o.Quoting < MboxRD || o.Quoting > Raw {
		errs = append(errs, fmt.Errorf("mbox: unknown Quoting %d", int(o.Quoting)))
	}
	if o.Mailbox != "" {
		if err := mailbox.ValidateName(o.Mailbox); err != nil {
			errs = append(errs, fmt.Errorf("mbox: Options.Mailbox: %w", err))
		}
	}
	return errors.Join(errs...)
}

func (o *Options) withDefaults(path string) Options {
	var c Options
	if o != nil {
		c = *o
	}
	if c.Name == "" {
		c.Name = path
	}
	if c.Mailbox == "" {
		c.Mailbox = mailbox.Inbox
	}
	c.Mailbox, _ = mailbox.CanonicalName(c.Mailbox)
	if c.Location == nil {
		c.Location = time.UTC
	}
	return c
}

// Skip is a file of a directory that the store left out, and why.
type Skip struct {
	Path   string
	Reason string
}

func (s Skip) String() string { return s.Path + ": " + s.Reason }

// Store is a read-only [mailbox.Reader] over one mbox file or a directory
// of them. Its methods are safe for concurrent use.
type Store struct {
	path    string // as opened, absolute
	opts    Options
	folders map[string]*folder // by canonical name; fixed at Open
	names   []string           // sorted
	skipped []Skip             // fixed at Open
	base    readonly.Base      // names the store in errors; knows it is closed
}

var (
	_ mailbox.Reader = (*Store)(nil)
	_ io.Closer      = (*Store)(nil)
)

// folder is one mailbox: one mbox file.
type folder struct {
	name string
	path string
	lock chan struct{}         // held while the file is indexed
	idx  atomic.Pointer[index] // the last index made, nil before the first
}

// index is what one pass over an mbox file learned.
type index struct {
	key     fileKey
	entries []entry // the listed messages, in file order
	num     *readonly.Numbered
}

// fileKey tells whether a file changed since it was indexed.
type fileKey struct {
	dev, ino uint64
	size     int64
	mtime    int64 // nanoseconds
}

func keyOf(fi fs.FileInfo) fileKey {
	k := fileKey{size: fi.Size(), mtime: fi.ModTime().UnixNano()}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		k.dev, k.ino = uint64(st.Dev), st.Ino
	}
	return k
}

// Open opens the mbox file at path, or the directory of mbox files at
// path. It reads no message yet: each file is indexed, in one pass, by
// the first call that needs it. A single file that does not start with a
// "From " line is an error wrapping [mailbox.ErrCorrupt] (a
// [*FormatError]); a missing path wraps [mailbox.ErrNotFound].
func Open(path string, opts *Options) (*Store, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, &mailbox.Error{Op: "open", Store: path, Path: path, Err: err}
	}
	s := &Store{path: abs, opts: opts.withDefaults(abs), folders: map[string]*folder{}}
	s.base.Name = s.opts.Name
	fi, err := os.Stat(abs)
	if err != nil {
		return nil, s.base.Err("open", "", 0, abs, err)
	}
	if fi.IsDir() {
		if err := s.walk(); err != nil {
			return nil, err
		}
	} else {
		if !fi.Mode().IsRegular() {
			return nil, s.base.Err("open", "", 0, abs, errors.New("not a regular file or directory"))
		}
		if err := sniff(abs); err != nil {
			return nil, s.base.Err("open", "", 0, abs, err)
		}
		s.add(s.opts.Mailbox, abs)
	}
	slices.Sort(s.names)
	return s, nil
}

func (s *Store) add(name, path string) {
	s.folders[name] = &folder{name: name, path: path, lock: make(chan struct{}, 1)}
	s.names = append(s.names, name)
}

// sniff checks that a file is empty or starts with a From line.
func sniff(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	var b [len(fromMarker)]byte
	n, err := io.ReadFull(f, b[:])
	switch {
	case n == 0 && err == io.EOF:
		return nil
	case err != nil && err != io.ErrUnexpectedEOF:
		return err
	case string(b[:n]) != fromMarker:
		return &FormatError{Offset: 0, Found: bytes.Clone(b[:n])}
	}
	return nil
}

// Extensions dropped from a file's name to make its mailbox's name.
var mboxExts = []string{".mbox", ".mbx"}

// walk finds the mailboxes of a directory: every regular file that is
// empty or starts with a From line, named by its path below the root
// with '/' between levels, without a ".mbox" or ".mbx" extension; a
// directory "X.sbd" (Thunderbird's children of X) is the level "X".
func (s *Store) walk() error {
	realRoot, err := filepath.EvalSymlinks(s.path)
	if err != nil {
		return s.base.Err("open", "", 0, s.path, err)
	}
	var visit func(dir string, levels []string) error
	visit = func(dir string, levels []string) error {
		ents, err := os.ReadDir(dir)
		if err != nil {
			return s.base.Err("open", "", 0, dir, err)
		}
		for _, e := range ents {
			p := filepath.Join(dir, e.Name())
			skip := func(why string) { s.skipped = append(s.skipped, Skip{Path: p, Reason: why}) }
			name := e.Name()
			if strings.HasPrefix(name, ".") {
				skip("hidden file")
				continue
			}
			target, mode := p, e.Type()
			if mode&fs.ModeSymlink != 0 {
				real, err := filepath.EvalSymlinks(p)
				if err != nil {
					skip(fmt.Sprintf("broken symlink: %v", err))
					continue
				}
				if !within(realRoot, real) {
					skip("symlink leading outside the directory, to " + real + ": not followed")
					continue
				}
				fi, err := os.Stat(real)
				if err != nil {
					skip(err.Error())
					continue
				}
				if fi.IsDir() {
					skip("symlink to a directory: not followed")
					continue
				}
				target, mode = real, fi.Mode().Type()
			}
			switch {
			case mode.IsDir():
				level := name
				if l, ok := cutSuffixFold(level, ".sbd"); ok && l != "" {
					level = l
				}
				if err := visit(p, append(slices.Clip(levels), level)); err != nil {
					return err
				}
				continue
			case !mode.IsRegular():
				skip("not a regular file")
				continue
			}
			if strings.HasSuffix(strings.ToLower(name), ".msf") {
				skip("Thunderbird summary file, not mail")
				continue
			}
			for _, ext := range mboxExts {
				if n, ok := cutSuffixFold(name, ext); ok && n != "" {
					name = n
					break
				}
			}
			if err := sniff(target); err != nil {
				skip(err.Error())
				continue
			}
			mb, err := mailbox.CanonicalName(strings.Join(append(slices.Clip(levels), name), "/"))
			if err != nil {
				skip(fmt.Sprintf("no mailbox name: %v", err))
				continue
			}
			if other, taken := s.folders[mb]; taken {
				skip(fmt.Sprintf("mailbox %s is %s already", mb, other.path))
				continue
			}
			s.add(mb, target)
		}
		return nil
	}
	return visit(s.path, nil)
}

func within(root, p string) bool {
	return p == root || strings.HasPrefix(p, root+string(filepath.Separator))
}

func cutSuffixFold(s, suffix string) (string, bool) {
	if len(s) >= len(suffix) && strings.EqualFold(s[len(s)-len(suffix):], suffix) {
		return s[:len(s)-len(suffix)], true
	}
	return s, false
}

// Skipped returns the files of a directory that are not mailboxes, with
// the reason: hidden files, files that do not start with a From line,
// Thunderbird's .msf files, symlinks leading outside the directory or to
// directories, names that are no mailbox names. All is known when Open
// returns; ctx is for the likeness with other readers.
func (s *Store) Skipped(ctx context.Context) ([]Skip, error) {
	if err := s.base.CheckOpen("skipped", ""); err != nil {
		return nil, err
	}
	return slices.Clone(s.skipped), nil
}

// Close releases the store. Later calls fail with an error wrapping
// mailbox.ErrClosed; readers Open returned stay readable.
func (s *Store) Close() error { return s.base.Close() }

// folder returns the mailbox the caller names; errors name it as given.
func (s *Store) folder(op, name string) (*folder, error) {
	return readonly.Lookup(&s.base, s.folders, op, name)
}

// index returns the folder's index, made again when the file changed
// since (a new UIDVALIDITY then tells callers when its messages did).
func (s *Store) index(ctx context.Context, op, name string, f *folder) (*index, error) {
	fi, err := os.Stat(f.path)
	if err != nil {
		return nil, s.base.Err(op, name, 0, f.path, err)
	}
	key := keyOf(fi)
	if x := f.idx.Load(); x != nil && x.key == key {
		return x, nil
	}
	select {
	case f.lock <- struct{}{}:
	case <-ctx.Done():
		return nil, s.base.Err(op, name, 0, "", ctx.Err())
	}
	defer func() { <-f.lock }()
	if x := f.idx.Load(); x != nil && x.key == key {
		return x, nil
	}
	x, err := s.build(ctx, f)
	if err != nil {
		return nil, s.base.Err(op, name, 0, f.path, err)
	}
	f.idx.Store(x)
	return x, nil
}

// currentIndex returns the folder's index as it is, made if there is
// none yet: Open reads by the UIDs the caller saw.
func (s *Store) currentIndex(ctx context.Context, op, name string, f *folder) (*index, error) {
	if x := f.idx.Load(); x != nil {
		return x, nil
	}
	return s.index(ctx, op, name, f)
}

// build indexes a folder's file in one pass.
func (s *Store) build(ctx context.Context, f *folder) (*index, error) {
	file, err := os.Open(f.path)
	if err != nil {
		return nil, err
	}
	defer file.Close()
	fi, err := file.Stat()
	if err != nil {
		return nil, err
	}
	x := &index{key: keyOf(fi)}
	opt := scanOptions{quoting: s.opts.Quoting, loc: s.opts.Location, fallback: fi.ModTime()}
	err = scan(ctx, file, opt, func(e entry) error {
		if !e.pseudo {
			x.entries = append(x.entries, e)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(x.entries) >= int(uid.Max) {
		return nil, fmt.Errorf("%w: %d messages, more than UIDs can number", mailbox.ErrNotSupported, len(x.entries))
	}
	x.entries = slices.Clip(x.entries)
	keys := func() []string {
		seen := map[mailbox.EmailID]int{}
		ks := make([]string, len(x.entries))
		for i, e := range x.entries {
			ks[i] = fmt.Sprintf("%s#%d", e.id.String(), seen[e.id])
			seen[e.id]++
		}
		return ks
	}
	x.num, err = s.base.Number(ctx, s.opts.UIDs, "mbox", f.name, len(x.entries), keys, s.names,
		func() (uid.Validity, mailbox.ID) { return identity(f.name, x.entries) })
	if err != nil {
		return nil, err
	}
	return x, nil
}

// identity derives a mailbox's UIDVALIDITY and ID from its messages, so
// that every Store over the same bytes agrees: UIDVALIDITY from the
// EmailIDs and sizes in file order (never 0), the ID from that and the
// mailbox's name.
func identity(name string, entries []entry) (uid.Validity, mailbox.ID) {
	h := sha256.New()
	h.Write([]byte("mailrepl mbox v1\n"))
	var n [8]byte
	for _, e := range entries {
		h.Write(e.id[:])
		binary.BigEndian.PutUint64(n[:], uint64(e.size))
		h.Write(n[:])
	}
	return readonly.Identity("mbox", name, h.Sum(nil))
}

func (x *index) info(name string) mailbox.Info {
	return mailbox.Info{
		Name:        name,
		ID:          x.num.ID,
		UIDValidity: x.num.Validity,
		UIDNext:     x.num.Next,
	}
}

// Mailboxes returns every mailbox, sorted by name. It indexes the files
// not indexed yet.
func (s *Store) Mailboxes(ctx context.Context) ([]mailbox.Info, error) {
	const op = "list mailboxes"
	if err := s.base.CheckOpen(op, ""); err != nil {
		return nil, err
	}
	infos := make([]mailbox.Info, 0, len(s.names))
	for _, name := range s.names {
		if err := ctx.Err(); err != nil {
			return nil, s.base.Err(op, "", 0, "", err)
		}
		x, err := s.index(ctx, op, name, s.folders[name])
		if err != nil {
			return nil, err
		}
		infos = append(infos, x.info(name))
	}
	return infos, nil
}

// Status returns one mailbox's Info, indexing its file if needed.
func (s *Store) Status(ctx context.Context, name string) (mailbox.Info, error) {
	const op = "status"
	f, err := s.folder(op, name)
	if err != nil {
		return mailbox.Info{}, err
	}
	if err := ctx.Err(); err != nil {
		return mailbox.Info{}, s.base.Err(op, name, 0, "", err)
	}
	x, err := s.index(ctx, op, name, f)
	if err != nil {
		return mailbox.Info{}, err
	}
	return x.info(f.name), nil
}
