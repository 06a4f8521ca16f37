package loose

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/mailrepl/mailrepl/mailbox"
	"github.com/mailrepl/mailrepl/mailbox/internal/readonly"
	"github.com/mailrepl/mailrepl/uid"
)

// sniffSize is how much of each file is read to tell mail from other
// files. A file no longer than this is read whole, and its EmailID is
// listed.
const sniffSize = 8 << 10

// examiners is how many files are examined at once (open, stat, read
// the first bytes): a damaged or cold disk answers many requests faster
// than one after the other.
const examiners = 8

// index is what examining a mailbox's files learned.
type index struct {
	entries []entry // in the order of their names
	skipped []Skip
	num     *readonly.Numbered
}

// entry is one message file.
type entry struct {
	c     *candidate
	size  int64
	mtime int64 // nanoseconds
	date  int64 // internal date, Unix seconds
	flags mailbox.Flags
	id    mailbox.EmailID // zero unless the file was read whole
}

func (x *index) info(name string) mailbox.Info {
	return mailbox.Info{
		Name:        name,
		ID:          x.num.ID,
		UIDValidity: x.num.Validity,
		UIDNext:     x.num.Next,
	}
}

// index returns the folder's index, examining its files the first time.
// A Store sees the files as they were then: open it again to see files
// added or removed later.
func (s *Store) index(ctx context.Context, op, name string, f *folder) (*index, error) {
	if x := f.idx.Load(); x != nil {
		return x, nil
	}
	if err := ctx.Err(); err != nil {
		return nil, s.base.Err(op, name, 0, "", err)
	}
	select {
	case f.lock <- struct{}{}:
	case <-ctx.Done():
		return nil, s.base.Err(op, name, 0, "", ctx.Err())
	}
	defer func() { <-f.lock }()
	if x := f.idx.Load(); x != nil {
		return x, nil
	}
	x, err := s.build(ctx, f)
	if err != nil {
		return nil, s.base.Err(op, name, 0, "", err)
	}
	f.idx.Store(x)
	return x, nil
}

// examined is what examining one file gave: an entry, or why it was
// left out.
type examined struct {
	e    entry
	skip string
}

// build examines a folder's files, several at once, and numbers those
// that are mail in the order of their names.
func (s *Store) build(ctx context.Context, f *folder) (*index, error) {
	kws := map[string]*keywords{}
	for i := range f.files {
		if d := f.files[i].maildir; d != "" {
			if _, done := kws[d]; !done {
				kws[d] = nil
				if b, err := os.ReadFile(filepath.Join(d, "dovecot-keywords")); err == nil {
					kws[d] = parseKeywords(b)
				}
			}
		}
	}
	res := make([]examined, len(f.files))
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(examiners, len(f.files)) {
		wg.Go(func() {
			buf := make([]byte, sniffSize+1)
			for {
				i := int(next.Add(1) - 1)
				if i >= len(res) || ctx.Err() != nil {
					return
				}
				c := &f.files[i]
				res[i] = examine(c, buf, kws[c.maildir])
			}
		})
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	x := &index{}
	for i, r := range res {
		if r.skip != "" {
			x.skipped = append(x.skipped, Skip{Path: f.files[i].at, Reason: r.skip})
			continue
		}
		x.entries = append(x.entries, r.e)
	}
	if len(x.entries) >= int(uid.Max) {
		return nil, fmt.Errorf("%w: %d messages, more than UIDs can number", mailbox.ErrNotSupported, len(x.entries))
	}
	x.entries = slices.Clip(x.entries)
	keys := func() []string {
		ks := make([]string, len(x.entries))
		for i, e := range x.entries {
			// A file is its place in the tree and its size: a file
			// rewritten with other contents is another message. A
			// Maildir name counts without its flags, which a rename
			// changes.
			// Below the mailbox's own directory, so that a folder renamed
			// keeps its messages' keys.
			rel := e.c.rel
			if f.rel != "" {
				rel = strings.TrimPrefix(rel, f.rel+"/")
			}
			if e.c.mdName.hasInfo {
				if i := strings.LastIndexByte(rel, ':'); i > strings.LastIndexByte(rel, '/') {
					rel = rel[:i]
				}
			}
			ks[i] = fmt.Sprintf("%s#%d", rel, e.size)
		}
		return ks
	}
	var err error
	x.num, err = s.base.Number(ctx, s.opts.UIDs, "loose", f.name, len(x.entries), keys, s.names,
		func() (uid.Validity, mailbox.ID) { return identity(f.name, x.entries) })
	if err != nil {
		return nil, err
	}
	return x, nil
}

// examine opens a file, checks it is a regular file that is not empty,
// and reads its first bytes to tell whether it is mail. buf holds
// sniffSize+1 bytes.
func examine(c *candidate, buf []byte, kw *keywords) examined {
	file, err := openFile(c)
	if err != nil {
		return examined{skip: fmt.Sprintf("cannot be opened: %v", err)}
	}
	defer file.Close()
	fi, err := file.Stat()
	if err != nil {
		return examined{skip: fmt.Sprintf("cannot be read: %v", err)}
	}
	if !fi.Mode().IsRegular() {
		return examined{skip: "not a regular file"}
	}
	if fi.Size() == 0 {
		return examined{skip: "empty file"}
	}
	n, err := io.ReadFull(file, buf)
	if err != nil && err != io.ErrUnexpectedEOF {
		return examined{skip: fmt.Sprintf("cannot be read: %v", err)}
	}
	head := buf[:min(n, sniffSize)]
	if why := sniff(head); why != "" {
		return examined{skip: why}
	}
	e := entry{
		c:     c,
		size:  fi.Size(),
		mtime: fi.ModTime().UnixNano(),
		date:  internalDate(c.mdName, fi.ModTime()).Unix(),
		flags: decodeFlags(c.mdName.flags, kw),
	}
	if n <= sniffSize && int64(n) == fi.Size() {
		e.id = mailbox.EmailIDOf(head)
	}
	return examined{e: e}
}

// openFile opens a candidate (a symlink's target is a path with symlinks
// resolved) without following a symlink put in its place since the walk,
// and without blocking on a fifo.
func openFile(c *candidate) (*os.File, error) {
	return os.OpenFile(c.path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
}

// sniff tells whether the first bytes of a file look like mail: they
// must hold a header line ("Name: value", the name of letters, digits,
// '-' and '_', at the start of a line), with no NUL byte before it (a
// binary file). It returns "" for mail, else why not.
func sniff(head []byte) string {
	for rest, off := head, 0; len(rest) > 0; {
		line := rest
		if i := bytes.IndexByte(rest, '\n'); i >= 0 {
			line = rest[:i+1]
		}
		if isHeaderLine(line) {
			return ""
		}
		if i := bytes.IndexByte(line, 0); i >= 0 {
			return fmt.Sprintf("not mail: binary data (a NUL byte at offset %d) before any header line", off+i)
		}
		rest, off = rest[len(line):], off+len(line)
	}
	return fmt.Sprintf("not mail: no header line in its first %d bytes", len(head))
}

func isHeaderLine(line []byte) bool {
	for i, c := range line {
		switch {
		case c == ':':
			return i > 0
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z':
		case i > 0 && ('0' <= c && c <= '9' || c == '-' || c == '_'):
		default:
			return false
		}
	}
	return false
}

// identity derives a mailbox's UIDVALIDITY and ID from its files, so that
// every Store over the same files agrees: UIDVALIDITY from their paths,
// sizes and mtimes in UID order (never 0), the ID from that and the
// mailbox's name. A file added, removed, renamed or changed gives new
// ones, and so does copying the tree without its mtimes.
func identity(name string, entries []entry) (uid.Validity, mailbox.ID) {
	h := sha256.New()
	h.Write([]byte("mailrepl loose v1\n"))
	var n [16]byte
	for _, e := range entries {
		h.Write([]byte(e.c.rel))
		binary.BigEndian.PutUint64(n[:8], uint64(e.size))
		binary.BigEndian.PutUint64(n[8:], uint64(e.mtime))
		h.Write([]byte{0})
		h.Write(n[:])
	}
	return readonly.Identity("loose", name, h.Sum(nil))
}

// errChanged is wrapped by the error of Open when a file is no longer
// what its mailbox's index says.
var errChanged = errors.New("the file changed since it was examined")

func (e *entry) message(u uid.UID) mailbox.Message {
	return mailbox.Message{
		UID:          u,
		EmailID:      e.id,
		Flags:        e.flags,
		InternalDate: time.Unix(e.date, 0).UTC(),
		Size:         e.size,
	}
}
