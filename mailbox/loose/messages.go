package loose

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"os"

	"github.com/mailrepl/mailrepl/mailbox"
	"github.com/mailrepl/mailrepl/uid"
)

// Messages lists the messages in set from the mailbox's index: sizes
// and dates from stat, flags from Maildir names, EmailIDs of the files
// read whole when they were examined (zero for the others). It reads no
// message.
func (s *Store) Messages(ctx context.Context, name string, set uid.Set) iter.Seq2[mailbox.Message, error] {
	return func(yield func(mailbox.Message, error) bool) {
		const op = "list"
		f, err := s.folder(op, name)
		if err != nil {
			yield(mailbox.Message{}, err)
			return
		}
		x, err := s.index(ctx, op, name, f)
		if err != nil {
			yield(mailbox.Message{}, err)
			return
		}
		x.num.List(ctx, &s.base, op, name, set, func(i int, u uid.UID) mailbox.Message { return x.entries[i].message(u) }, yield)
	}
}

// Open returns a message file's bytes. A file removed since its mailbox
// was examined gives an error wrapping mailbox.ErrNotFound; one whose size
// changed, or whose bytes no longer have the EmailID listed, an error
// wrapping mailbox.ErrCorrupt (at Open, or at the end of the read).
func (s *Store) Open(ctx context.Context, name string, u uid.UID) (io.ReadCloser, error) {
	const op = "open"
	f, err := s.folder(op, name)
	if err != nil {
		return nil, err
	}
	x, err := s.index(ctx, op, name, f)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, s.base.Err(op, name, u, "", err)
	}
	i, ok := x.num.Entry(u)
	if !ok {
		return nil, s.base.Err(op, name, u, "", mailbox.ErrNotFound)
	}
	e := &x.entries[i]
	file, err := openFile(e.c)
	if err != nil {
		return nil, s.base.Err(op, name, u, e.c.path, err)
	}
	fi, err := file.Stat()
	switch {
	case err != nil:
	case !fi.Mode().IsRegular():
		err = fmt.Errorf("%w: %w: no longer a regular file", mailbox.ErrCorrupt, errChanged)
	case fi.Size() != e.size:
		err = fmt.Errorf("%w: %w: %d bytes, %d when examined", mailbox.ErrCorrupt, errChanged, fi.Size(), e.size)
	}
	if err != nil {
		file.Close()
		return nil, s.base.Err(op, name, u, e.c.path, err)
	}
	return &body{
		r:    mailbox.NewVerifyingReader(file, e.id, e.size),
		file: file,
		err:  func(err error) error { return s.base.Err("read", name, u, e.c.path, err) },
	}, nil
}

// body is a message being read.
type body struct {
	r    io.Reader
	file *os.File
	err  func(error) error
}

func (b *body) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err != nil && !errors.Is(err, io.EOF) {
		err = b.err(err)
	}
	return n, err
}

func (b *body) Close() error { return b.file.Close() }
