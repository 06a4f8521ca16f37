package maildir

import (
	"context"
	"iter"
	"time"

	"github.com/mailrepl/mailrepl/mailbox"
	"github.com/mailrepl/mailrepl/uid"
)

var _ mailbox.IndexScanner = (*Store)(nil)

// Bodiless yields the dovecot-uidlist lines of the folder whose file is
// gone, with the EmailID and internal date cached in the line when there
// are. A line without a file is either a message a user expunged (Dovecot
// leaves the line until it compacts the file) or one whose file a failure
// lost: the store cannot tell which.
func (s *Store) Bodiless(ctx context.Context, name string) iter.Seq2[mailbox.Message, error] {
	return func(yield func(mailbox.Message, error) bool) {
		const op = "list bodiless"
		f, err := s.folder(op, name)
		if err != nil {
			yield(mailbox.Message{}, s.named(name, err))
			return
		}
		if err := f.acquire(ctx); err != nil {
			yield(mailbox.Message{}, s.named(name, f.err(op, 0, "", err)))
			return
		}
		sn, err := f.syncLocked(ctx, op)
		if err != nil {
			f.release()
			yield(mailbox.Message{}, s.named(name, err))
			return
		}
		// One fresh read of the directories: a lookup per missing file
		// would read them once per entry.
		sc, err := f.scanLocked(true)
		if err != nil {
			f.release()
			yield(mailbox.Message{}, s.named(name, f.err(op, 0, f.path, err)))
			return
		}
		var out []mailbox.Message
		for i := range sn.ul.recs {
			r := &sn.ul.recs[i]
			if _, ok := sc.files[r.base]; ok {
				continue
			}
			m := mailbox.Message{UID: r.uid}
			if id, ok := r.emailID(); ok {
				m.EmailID = id
			}
			if r.cache.hasDate {
				m.InternalDate = time.Unix(r.cache.date, 0)
			}
			out = append(out, m)
		}
		f.release()
		for _, m := range out {
			if err := ctx.Err(); err != nil {
				yield(mailbox.Message{}, err)
				return
			}
			if !yield(m, nil) {
				return
			}
		}
	}
}

// DropBodiless removes from dovecot-uidlist the lines of set whose file is
// still gone, under the uidlist's lock; a line whose file is there is kept.
// UIDNEXT does not change, so no UID is used again.
func (s *Store) DropBodiless(ctx context.Context, name string, set uid.Set) (err error) {
	defer s.nameErr(name, &err)
	const op = "drop bodiless"
	f, err := s.writableFolder(op, name)
	if err != nil {
		return err
	}
	if set.IsEmpty() {
		return nil
	}
	unlock, l, err := f.holdUidlist(ctx, op)
	if err != nil {
		return err
	}
	defer unlock()
	sc, err := f.scanLocked(true)
	if err != nil {
		return f.err(op, 0, f.path, err)
	}
	nl := l.clone()
	nl.recs = nl.recs[:0]
	dropped := 0
	for _, r := range l.recs {
		if set.Contains(r.uid) {
			if _, ok := sc.files[r.base]; !ok {
				dropped++
				continue
			}
		}
		nl.recs = append(nl.recs, r)
	}
	if dropped == 0 {
		return nil
	}
	nl.ix = new(uidlistIndex)
	return f.writeUidlistLocked(ctx, op, nl)
}
