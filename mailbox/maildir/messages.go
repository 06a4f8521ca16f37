package maildir

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"iter"
	"os"
	"runtime"
	"sync"
	"syscall"
	"time"

	"github.com/mailrepl/mailrepl/mailbox"
	"github.com/mailrepl/mailrepl/uid"
)

// recsIn yields the positions of the records of l whose UIDs are in set,
// in UID order.
func recsIn(l *uidlist, set uid.Set) iter.Seq[int] {
	return func(yield func(int) bool) {
		i := 0
		for rg := range set.Ranges() {
			j, _ := l.find(rg.Start)
			i = max(i, j)
			for ; i < len(l.recs) && l.recs[i].uid <= rg.Stop; i++ {
				if !yield(i) {
					return
				}
			}
			if i >= len(l.recs) {
				return
			}
		}
	}
}

// Messages lists the messages in set without reading their bodies: UIDs
// from dovecot-uidlist joined with the files of cur/ and new/, flags from
// the file names, sizes from their S= fields, EmailIDs from the uidlist's
// cache (zero when not cached yet), internal dates from the files' mtimes.
// A uidlist line without a file is an expunged message and is not listed.
func (s *Store) Messages(ctx context.Context, name string, set uid.Set) iter.Seq2[mailbox.Message, error] {
	return func(yield0 func(mailbox.Message, error) bool) {
		const op = "list"
		yield := func(m mailbox.Message, err error) bool { return yield0(m, s.named(name, err)) }
		f, err := s.folder(op, name)
		if err != nil {
			yield(mailbox.Message{}, err)
			return
		}
		if err := ctx.Err(); err != nil {
			yield(mailbox.Message{}, f.err(op, 0, "", err))
			return
		}
		if err := f.acquire(ctx); err != nil {
			yield(mailbox.Message{}, f.err(op, 0, "", err))
			return
		}
		sn, err := f.syncLocked(ctx, op)
		f.release()
		if err != nil {
			yield(mailbox.Message{}, err)
			return
		}
		dec := &flagDecoder{kw: &sn.kw, bad: func(kw string) {
			f.warnOnce("kw:"+kw, "maildir: dovecot-keywords holds a keyword that is no IMAP atom; not shown", "path", f.keywordsPath(), "keyword", kw)
		}}
		// Files whose internal date is not cached, or with no S=, are
		// stat(2)ed a chunk at a time, in parallel; messages are yielded
		// in UID order. Dates learned so are cached for next time.
		var learned map[string]cacheEntry
		defer func() {
			if len(learned) > 0 {
				f.addPending(learned, len(sn.ul.recs))
			}
		}()
		chunk := make([]statItem, 0, statChunk)
		flush := func() bool {
			statAll(f, chunk)
			for k := range chunk {
				it := &chunk[k]
				if err := ctx.Err(); err != nil {
					yield(mailbox.Message{}, f.err(op, 0, "", err))
					return false
				}
				if s.closed.Load() {
					yield(mailbox.Message{}, f.err(op, 0, "", ErrClosed))
					return false
				}
				if errors.Is(it.err, syscall.ENOENT) {
					// Renamed (its flags changed) or expunged since the scan.
					ref, ok, err := f.lookupFresh(ctx, it.r.base)
					if err != nil {
						yield(mailbox.Message{}, f.err(op, it.r.uid, f.path, err))
						return false
					} else if !ok {
						continue
					}
					it.ref = ref
					if it.err = syscall.Stat(f.filePath(ref), &it.st); errors.Is(it.err, syscall.ENOENT) {
						continue
					}
				}
				if it.err != nil {
					path := f.filePath(it.ref)
					yield(mailbox.Message{}, f.err(op, it.r.uid, path, &fs.PathError{Op: "stat", Path: path, Err: it.err}))
					return false
				}
				m := makeMessage(it, dec, sn)
				if it.stat && !it.cached.hasDate {
					if learned == nil {
						learned = make(map[string]cacheEntry)
					}
					learned[it.r.base] = cacheEntry{date: m.InternalDate.Unix(), hasDate: true}
				}
				if !yield(m, nil) {
					return false
				}
			}
			chunk = chunk[:0]
			return true
		}
		for i := range recsIn(sn.ul, set) {
			r := &sn.ul.recs[i]
			ref, ok := sn.sc.files[r.base]
			if !ok {
				continue // expunged
			}
			it := statItem{r: r, ref: ref, cached: r.cache}
			if p, ok := sn.pending[r.base]; ok {
				it.cached = it.cached.merge(p)
			}
			fn, _ := parseFileName(ref.name)
			_, hasSize := fn.size()
			it.stat = !it.cached.hasDate || !hasSize
			chunk = append(chunk, it)
			if len(chunk) == statChunk && !flush() {
				return
			}
		}
		if err := ctx.Err(); err != nil && len(chunk) == 0 {
			yield(mailbox.Message{}, f.err(op, 0, "", err))
			return
		}
		flush()
	}
}

// statChunk is how many files a listing stats before yielding them.
const statChunk = 256

type statItem struct {
	r      *record
	ref    fileRef
	cached cacheEntry // from the uidlist and what is pending
	stat   bool       // the file must be stat(2)ed
	st     syscall.Stat_t
	err    error
}

// statAll stats the files of the items that need it, in parallel when
// there are many.
func statAll(f *folder, items []statItem) {
	n := 0
	for k := range items {
		if items[k].stat {
			n++
		}
	}
	statOne := func(it *statItem) {
		if it.stat {
			it.err = syscall.Stat(f.filePath(it.ref), &it.st)
		}
	}
	workers := min(runtime.GOMAXPROCS(0), 4, n/32)
	if workers <= 1 {
		for k := range items {
			statOne(&items[k])
		}
		return
	}
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for k := w; k < len(items); k += workers {
				statOne(&items[k])
			}
		})
	}
	wg.Wait()
}

func makeMessage(it *statItem, dec *flagDecoder, sn *snapshot) mailbox.Message {
	fn, _ := parseFileName(it.ref.name)
	chars, _ := fn.flagChars()
	m := mailbox.Message{UID: it.r.uid, Flags: dec.decode(chars)}
	if it.cached.hasDate {
		m.InternalDate = time.Unix(it.cached.date, 0)
	} else {
		m.InternalDate = time.Unix(it.st.Mtim.Sec, 0) // to the second, as IMAP and Dovecot
	}
	if size, ok := fn.size(); ok {
		m.Size = size
	} else {
		m.Size = it.st.Size
	}
	if it.cached.hasID {
		m.EmailID = it.cached.id
	}
	return m
}

// lookupFresh finds a file again after it was renamed away.
func (f *folder) lookupFresh(ctx context.Context, base string) (fileRef, bool, error) {
	if err := f.acquire(ctx); err != nil {
		return fileRef{}, false, err
	}
	defer f.release()
	return f.lookupLocked(base, true)
}

// Open returns the bytes of one message. The reader computes the
// message's EmailID as it goes; at the end it checks the bytes against
// the size in the file name and the EmailID in the cache, and fails with
// an error wrapping mailbox.ErrCorrupt on a mismatch. A message read to
// its end whose EmailID was not cached has it cached (written with the
// next uidlist rewrite).
func (s *Store) Open(ctx context.Context, name string, u uid.UID) (_ io.ReadCloser, err error) {
	defer s.nameErr(name, &err)
	const op = "open"
	f, err := s.folder(op, name)
	if err != nil {
		return nil, err
	}
	if err := f.acquire(ctx); err != nil {
		return nil, f.err(op, u, "", err)
	}
	defer f.release()
	if err := f.loadUidlistLocked(); err != nil {
		return nil, f.err(op, u, f.uidlistPath(), err)
	}
	if f.ul == nil {
		if _, err := f.syncLocked(ctx, op); err != nil {
			return nil, err
		}
	}
	i, ok := f.ul.find(u)
	if !ok {
		// Perhaps a file with no UID yet: publish and look again.
		if _, err := f.syncLocked(ctx, op); err != nil {
			return nil, err
		}
		if i, ok = f.ul.find(u); !ok {
			return nil, f.err(op, u, "", mailbox.ErrNotFound)
		}
	}
	r := f.ul.recs[i]
	ref, ok, err := f.lookupLocked(r.base, false)
	for attempt := 0; ; attempt++ {
		if err != nil {
			return nil, f.err(op, u, f.path, err)
		}
		if !ok {
			return nil, f.err(op, u, "", fmt.Errorf("%w: the message's file is gone (expunged)", mailbox.ErrNotFound))
		}
		fh, err := os.Open(f.filePath(ref))
		if err == nil {
			rd := &msgReader{f: f, fh: fh, u: u, base: r.base, path: f.filePath(ref), h: mailbox.NewHasher(), size: -1, folderSize: len(f.ul.recs)}
			fn, _ := parseFileName(ref.name)
			if size, ok := fn.size(); ok {
				rd.size = size
			}
			rd.want, _ = r.emailID()
			return rd, nil
		}
		if !errors.Is(err, fs.ErrNotExist) || attempt >= 3 {
			return nil, f.err(op, u, f.filePath(ref), err)
		}
		ref, ok, err = f.lookupLocked(r.base, true)
	}
}

// msgReader streams a message file, hashing it.
type msgReader struct {
	f          *folder
	fh         *os.File
	u          uid.UID
	base       string
	path       string
	h          *mailbox.Hasher
	size       int64 // from S=, or -1
	folderSize int
	want       mailbox.EmailID // cached, or zero
	eof        bool
	failed     bool
}

func (r *msgReader) Read(p []byte) (int, error) {
	if r.fh == nil {
		return 0, r.f.err("read", r.u, r.path, os.ErrClosed)
	}
	n, err := r.fh.Read(p)
	r.h.Write(p[:n])
	if err == io.EOF && !r.eof {
		r.eof = true
		if r.size >= 0 && r.h.Size() != r.size {
			r.failed = true
			return n, r.f.err("read", r.u, r.path, fmt.Errorf("%w: %w: file has %d bytes, its name says %d", mailbox.ErrCorrupt, mailbox.ErrEmailIDMismatch, r.h.Size(), r.size))
		}
		if got := r.h.Sum(); !r.want.IsZero() && got != r.want {
			r.failed = true
			return n, r.f.err("read", r.u, r.path, fmt.Errorf("%w: %w: body has %s, cached %s", mailbox.ErrCorrupt, mailbox.ErrEmailIDMismatch, got.Short(), r.want.Short()))
		}
	} else if err != nil && err != io.EOF {
		r.failed = true
		err = r.f.err("read", r.u, r.path, err)
	}
	return n, err
}

// WriteTo lets io.Copy use a large buffer.
func (r *msgReader) WriteTo(w io.Writer) (int64, error) {
	bp := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(bp)
	buf := *bp
	var total int64
	for {
		n, err := r.Read(buf)
		if n > 0 {
			m, werr := w.Write(buf[:n])
			total += int64(m)
			if werr != nil {
				return total, werr
			}
		}
		if err == io.EOF {
			return total, nil
		}
		if err != nil {
			return total, err
		}
	}
}

func (r *msgReader) Close() error {
	if r.fh == nil {
		return nil
	}
	err := r.fh.Close()
	r.fh = nil
	if r.eof && !r.failed && r.want.IsZero() {
		r.f.addPending(map[string]cacheEntry{r.base: {id: r.h.Sum(), hasID: true}}, r.folderSize)
	}
	return err
}
