package mbox

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"os"
	"time"

	"github.com/mailrepl/mailrepl/mailbox"
	"github.com/mailrepl/mailrepl/uid"
)

// Messages lists the messages in set from the file's index (made on the
// first call, and again when the file changed): EmailIDs, sizes, flags
// and dates were learned in the one pass that made it, so a listing reads
// no message.
func (s *Store) Messages(ctx context.Context, name string, set uid.Set) iter.Seq2[mailbox.Message, error] {
	return func(yield func(mailbox.Message, error) bool) {
		const op = "list"
		f, err := s.folder(op, name)
		if err != nil {
			yield(mailbox.Message{}, err)
			return
		}
		if err := ctx.Err(); err != nil {
			yield(mailbox.Message{}, s.base.Err(op, name, 0, "", err))
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

func (e *entry) message(u uid.UID) mailbox.Message {
	return mailbox.Message{
		UID:          u,
		EmailID:      e.id,
		Flags:        e.flags,
		InternalDate: time.Unix(e.date, 0).UTC(),
		Size:         e.size,
	}
}

// Open returns the bytes of one message: those between its From line and
// the blank line before the next, unescaped. It reads by the index the
// last listing used; when the file changed since, it fails with an error
// wrapping mailbox.ErrUIDValidityChanged (list again). The reader fails
// with an error wrapping mailbox.ErrCorrupt if the bytes it reads do not
// have the size and EmailID the index holds.
func (s *Store) Open(ctx context.Context, name string, u uid.UID) (io.ReadCloser, error) {
	const op = "open"
	f, err := s.folder(op, name)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, s.base.Err(op, name, u, "", err)
	}
	x, err := s.currentIndex(ctx, op, name, f)
	if err != nil {
		return nil, err
	}
	i, ok := x.num.Entry(u)
	if !ok {
		return nil, s.base.Err(op, name, u, "", mailbox.ErrNotFound)
	}
	e := x.entries[i]
	file, err := os.Open(f.path)
	if err != nil {
		return nil, s.base.Err(op, name, u, f.path, err)
	}
	fi, err := file.Stat()
	if err == nil && keyOf(fi) != x.key {
		err = fmt.Errorf("%w: the file changed since it was indexed", mailbox.ErrUIDValidityChanged)
	}
	if err != nil {
		file.Close()
		return nil, s.base.Err(op, name, u, f.path, err)
	}
	r := io.NewSectionReader(file, e.off, e.raw)
	return &body{
		r:    mailbox.NewVerifyingReader(newUnquoteReader(r, s.opts.Quoting, e.raw), e.id, e.size),
		file: file,
		err: func(err error) error {
			return s.base.Err("read", name, u, f.path, err)
		},
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
