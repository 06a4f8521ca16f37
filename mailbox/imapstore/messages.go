package imapstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"os"
	"slices"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/mailrepl/mailrepl/mailbox"
	"github.com/mailrepl/mailrepl/uid"
)

// selectBox selects a mailbox on c (SELECT, with CONDSTORE where the
// server offers it) and returns its UIDVALIDITY. A mailbox selected
// already is brought up to date with NOOP when fresh is set, so that
// what other sessions appended is seen.
func (s *Store) selectBox(c *conn, server string, fresh bool) (uint32, error) {
	if c.selected == server {
		if fresh {
			if err := c.c.Noop().Wait(); err != nil {
				return 0, fmt.Errorf("NOOP: %w", err)
			}
		}
		return c.validity, nil
	}
	c.selected = ""
	opts := &imap.SelectOptions{CondStore: c.caps.Has(imap.CapCondStore)}
	data, err := c.c.Select(server, opts).Wait()
	if err != nil {
		return 0, fmt.Errorf("SELECT: %w", err)
	}
	c.selected, c.validity, c.condstore = server, data.UIDValidity, opts.CondStore
	return data.UIDValidity, nil
}

// checkValidity fails a UID-addressed change when the mailbox's
// UIDVALIDITY is no longer the one the store last reported: the UIDs the
// caller holds would name other messages.
func (s *Store) checkValidity(server string, v uint32) error {
	s.mu.Lock()
	known, ok := s.mu.known[server]
	s.mu.Unlock()
	if ok && known != v {
		return fmt.Errorf("%w: was %d, the server now says %d", mailbox.ErrUIDValidityChanged, known, v)
	}
	return nil
}

// imapUIDs converts a UID set. uid.Max is sent as the number 4294967295,
// never as "*": in IMAP "5:*" also names the highest message when every
// UID is below 5.
func imapUIDs(set uid.Set) imap.UIDSet {
	var out imap.UIDSet
	for r := range set.Ranges() {
		out = append(out, imap.UIDRange{Start: imap.UID(r.Start), Stop: imap.UID(r.Stop)})
	}
	return out
}

// fromIMAP converts a message's flags: \Recent is dropped, and so is what
// the API cannot hold.
func fromIMAP(fs []imap.Flag) mailbox.Flags {
	list := make([]mailbox.Flag, 0, len(fs))
	for _, f := range fs {
		mf, err := mailbox.ParseFlag(string(f))
		if err != nil {
			continue
		}
		list = append(list, mf)
	}
	flags, _ := mailbox.NewFlags(list...)
	return flags
}

// Forwarded is the keyword a private flag [mailbox.Passed] (Maildir's P)
// is stored as: IMAP has no private flags.
const Forwarded mailbox.Flag = "$Forwarded"

// toIMAP converts flags for the server: Passed becomes $Forwarded, other
// private flags are dropped.
func toIMAP(fs mailbox.Flags) []imap.Flag {
	out := make([]imap.Flag, 0, fs.Len())
	seen := false
	for f := range fs.All() {
		switch {
		case f == mailbox.Passed || (f.IsKeyword() && mailbox.MustFlags(f).Has(Forwarded)):
			if !seen {
				out = append(out, imap.Flag(Forwarded))
				seen = true
			}
		case f.IsPrivate():
		default:
			out = append(out, imap.Flag(f))
		}
	}
	return out
}

// Messages implements mailbox.Reader: one UID FETCH of UID, FLAGS,
// INTERNALDATE, RFC822.SIZE (and MODSEQ), never a body; EmailIDs come
// from the Cache.
func (s *Store) Messages(ctx context.Context, name string, set uid.Set) iter.Seq2[mailbox.Message, error] {
	return func(yield func(mailbox.Message, error) bool) {
		_, srv, err := s.canon(ctx, "list", name)
		if err != nil {
			yield(mailbox.Message{}, err)
			return
		}
		if set.IsEmpty() {
			if s.closed() {
				yield(mailbox.Message{}, s.fail("list", name, 0, mailbox.ErrClosed))
			}
			return
		}
		var ms []mailbox.Message
		var v uint32
		err = s.with(ctx, "list", name, true, func(c *conn) error {
			ms = ms[:0]
			var err error
			if v, err = s.selectBox(c, srv, true); err != nil {
				return err
			}
			ms, err = s.fetchMeta(c, imapUIDs(set), 0)
			return err
		})
		if err != nil {
			yield(mailbox.Message{}, err)
			return
		}
		s.fillEmailIDs(ms, v)
		for _, m := range ms {
			if !set.Contains(m.UID) {
				continue
			}
			if err := ctx.Err(); err != nil {
				yield(mailbox.Message{}, s.fail("list", name, 0, err))
				return
			}
			if s.closed() {
				yield(mailbox.Message{}, s.fail("list", name, 0, mailbox.ErrClosed))
				return
			}
			if !yield(m, nil) {
				return
			}
		}
	}
}

// fetchMeta fetches the metadata of the messages of set, sorted by UID;
// changedSince > 0 asks only for those changed since (CONDSTORE).
func (s *Store) fetchMeta(c *conn, set imap.UIDSet, changedSince uint64) ([]mailbox.Message, error) {
	opts := &imap.FetchOptions{UID: true, Flags: true, InternalDate: true, RFC822Size: true, ModSeq: c.condstore, ChangedSince: changedSince}
	cmd := c.c.Fetch(set, opts)
	var ms []mailbox.Message
	for {
		fm := cmd.Next()
		if fm == nil {
			break
		}
		buf, err := fm.Collect()
		if err != nil {
			cmd.Close()
			return nil, fmt.Errorf("UID FETCH: %w", err)
		}
		if buf.UID == 0 {
			continue
		}
		ms = append(ms, mailbox.Message{
			UID:          uid.UID(buf.UID),
			Flags:        fromIMAP(buf.Flags),
			InternalDate: buf.InternalDate,
			Size:         buf.RFC822Size,
			ModSeq:       mailbox.ModSeq(buf.ModSeq),
		})
	}
	if err := cmd.Close(); err != nil {
		return nil, fmt.Errorf("UID FETCH: %w", err)
	}
	slices.SortFunc(ms, func(a, b mailbox.Message) int { return int(a.UID) - int(b.UID) })
	ms = slices.CompactFunc(ms, func(a, b mailbox.Message) bool { return a.UID == b.UID })
	return ms, nil
}

func (s *Store) fillEmailIDs(ms []mailbox.Message, v uint32) {
	if s.opt.Cache == nil {
		return
	}
	id := mailboxID(v)
	for i := range ms {
		if e, ok, err := s.opt.Cache.EmailID(s.opt.CacheID, id, uid.Validity(v), ms[i].UID); err == nil && ok {
			ms[i].EmailID = e
		}
	}
}

func (s *Store) putEmailID(v uint32, u uid.UID, id mailbox.EmailID) {
	if s.opt.Cache == nil || id.IsZero() || u == 0 {
		return
	}
	_ = s.opt.Cache.PutEmailID(s.opt.CacheID, mailboxID(v), uid.Validity(v), u, id)
}

// spoolMemory is the largest body Open keeps in memory; larger ones go
// to a temporary file.
const spoolMemory = 16 << 20

// Open implements mailbox.Reader. The body is read to its end, and the
// FETCH command completed, before Open returns: a literal cut short (which
// imapclient reads as a clean end) or a BYE in the middle fails Open
// rather than yielding a truncated message, and no connection is held
// while the caller reads.
func (s *Store) Open(ctx context.Context, name string, u uid.UID) (io.ReadCloser, error) {
	_, srv, err := s.canon(ctx, "open", name)
	if err != nil {
		return nil, err
	}
	if u == 0 {
		return nil, s.fail("open", name, 0, mailbox.ErrNotFound)
	}
	var body *spool
	err = s.with(ctx, "open", name, true, func(c *conn) error {
		if body != nil {
			body.Close()
			body = nil
		}
		v, err := s.selectBox(c, srv, false)
		if err != nil {
			return err
		}
		for attempt := 0; ; attempt++ {
			body, err = s.fetchBody(c, u)
			if err != nil || body != nil || attempt > 0 {
				break
			}
			// Perhaps appended by another session since the selection.
			if err := c.c.Noop().Wait(); err != nil {
				return fmt.Errorf("NOOP: %w", err)
			}
		}
		if err != nil {
			return err
		}
		if body == nil {
			return mailbox.ErrNotFound
		}
		if body.size == 0 {
			body.Close()
			body = nil
			return fmt.Errorf("%w: the server returned an empty body", mailbox.ErrCorrupt)
		}
		s.putEmailID(v, u, body.id)
		return nil
	})
	if err != nil {
		var me *mailbox.Error
		if errors.As(err, &me) {
			me.UID = u
		}
		return nil, err
	}
	return body, nil
}

// fetchBody fetches one body; nil when the server has no such UID.
func (s *Store) fetchBody(c *conn, u uid.UID) (*spool, error) {
	section := &imap.FetchItemBodySection{Peek: true}
	cmd := c.c.Fetch(imap.UIDSetNum(imap.UID(u)), &imap.FetchOptions{UID: true, BodySection: []*imap.FetchItemBodySection{section}})
	var body *spool
	for {
		fm := cmd.Next()
		if fm == nil {
			break
		}
		var got imap.UID
		var sp *spool
		for {
			item := fm.Next()
			if item == nil {
				break
			}
			switch it := item.(type) {
			case imapclient.FetchItemDataUID:
				got = it.UID
			case imapclient.FetchItemDataBodySection:
				if it.Literal == nil {
					continue
				}
				sp = newSpool()
				err := sp.fill(it.Literal, c)
				if err == nil && sp.size != it.Literal.Size() {
					// imapclient reads a literal cut short as a clean end.
					err = fmt.Errorf("%w: the literal announced %d bytes", io.ErrUnexpectedEOF, it.Literal.Size())
				}
				if err != nil {
					// The literal broke off (the connection failed in
					// its middle). imapclient would read on for what is
					// left of it, racing with its own reader: close the
					// connection and leave the command alone.
					sp.Close()
					if body != nil {
						body.Close()
					}
					c.close()
					return nil, fmt.Errorf("UID FETCH BODY.PEEK[]: the body broke off after %d bytes: %w", sp.size, err)
				}
			}
		}
		if got == imap.UID(u) && sp != nil && body == nil {
			body = sp
		} else if sp != nil {
			sp.Close()
		}
	}
	if err := cmd.Close(); err != nil {
		if body != nil {
			body.Close()
		}
		return nil, fmt.Errorf("UID FETCH BODY.PEEK[]: %w", err)
	}
	if body != nil {
		body.rewind()
	}
	return body, nil
}

// spool holds a body read from the server, in memory or, past
// spoolMemory, in a temporary file, with its EmailID.
type spool struct {
	mem  bytes.Buffer
	file *os.File
	r    io.Reader
	size int64
	id   mailbox.EmailID
}

func newSpool() *spool { return &spool{} }

func (sp *spool) fill(r io.Reader, c *conn) error {
	h := mailbox.NewHasher()
	buf := make([]byte, 64<<10)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			h.Write(buf[:n])
			if sp.file == nil && sp.mem.Len()+n > spoolMemory {
				f, ferr := os.CreateTemp("", "imapstore-*")
				if ferr != nil {
					return ferr
				}
				os.Remove(f.Name())
				if _, ferr := f.Write(sp.mem.Bytes()); ferr != nil {
					f.Close()
					return ferr
				}
				sp.mem = bytes.Buffer{}
				sp.file = f
			}
			if sp.file != nil {
				if _, werr := sp.file.Write(buf[:n]); werr != nil {
					return werr
				}
			} else {
				sp.mem.Write(buf[:n])
			}
			sp.size += int64(n)
			c.touch()
		}
		if err == io.EOF {
			sp.id = h.Sum()
			return nil
		}
		if err != nil {
			return err
		}
	}
}

func (sp *spool) rewind() {
	if sp.file != nil {
		sp.file.Seek(0, io.SeekStart)
		sp.r = sp.file
		return
	}
	sp.r = bytes.NewReader(sp.mem.Bytes())
}

func (sp *spool) Read(p []byte) (int, error) {
	if sp.r == nil {
		return 0, io.EOF
	}
	return sp.r.Read(p)
}

func (sp *spool) Close() error {
	if sp.file != nil {
		sp.file.Close()
		sp.file = nil
	}
	sp.r = nil
	return nil
}

// Append implements mailbox.Writer. The message's last byte is held back
// until the reader has proven it has no more and no error: a literal
// that is short, long or fails is abandoned with the connection, so the
// server stores nothing. APPENDUID (UIDPLUS) gives the UID; without it,
// the new message is found above the old UIDNEXT by its size and
// internal date. A failed APPEND is not retried here (the server may
// have stored it before the connection dropped): the engine finds such a
// copy by EmailID before it appends again.
func (s *Store) Append(ctx context.Context, name string, lit mailbox.Literal, meta mailbox.AppendMeta) (uid.UID, error) {
	_, srv, err := s.canon(ctx, "append", name)
	if err != nil {
		return 0, err
	}
	size := lit.Size()
	if size <= 0 {
		return 0, s.fail("append", name, 0, fmt.Errorf("%w: size %d", mailbox.ErrInvalidMessage, size))
	}
	var got uid.UID
	err = s.with(ctx, "append", name, false, func(c *conn) error {
		var before uid.UID
		if !c.caps.Has(imap.CapUIDPlus) && !c.caps.Has(imap.CapIMAP4rev2) {
			st, err := c.c.Status(srv, &imap.StatusOptions{UIDNext: true}).Wait()
			if err != nil {
				return fmt.Errorf("STATUS: %w", classify(err))
			}
			before = uid.UID(st.UIDNext)
		}
		id, v, u, err := s.append(c, srv, lit, size, meta)
		if err != nil {
			return err
		}
		if u == 0 {
			if u, err = s.findAppended(c, srv, before, size, meta); err != nil {
				return err
			}
		}
		s.putEmailID(v, u, id)
		got = u
		return nil
	})
	return got, err
}

// errAbandoned: a literal was abandoned with its connection.
var errAbandoned = errors.New("the message was not sent: its connection was closed")

func (s *Store) append(c *conn, srv string, lit mailbox.Literal, size int64, meta mailbox.AppendMeta) (mailbox.EmailID, uint32, uid.UID, error) {
	h := mailbox.NewHasher()
	r := io.TeeReader(lit, h)
	cmd := c.c.Append(srv, size, &imap.AppendOptions{Flags: toIMAP(meta.Flags), Time: meta.InternalDate})
	abandon := func(err error) (mailbox.EmailID, uint32, uid.UID, error) {
		c.close()
		cmd.Close()
		return mailbox.EmailID{}, 0, 0, errors.Join(err, errAbandoned)
	}
	buf := make([]byte, 64<<10)
	var sent int64
	for sent < size-1 {
		n := int(min(int64(len(buf)), size-1-sent))
		m, err := io.ReadFull(r, buf[:n])
		if m > 0 {
			if _, werr := cmd.Write(buf[:m]); werr != nil {
				return abandon(fmt.Errorf("APPEND: %w", werr))
			}
			sent += int64(m)
			c.touch()
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return abandon(fmt.Errorf("%w: the literal gave %d bytes, declared %d", mailbox.ErrInvalidMessage, sent, size))
		}
		if err != nil {
			return abandon(fmt.Errorf("reading the message: %w", err))
		}
	}
	last := make([]byte, 2)
	n, err := io.ReadFull(r, last)
	switch {
	case n == 2:
		return abandon(fmt.Errorf("%w: the literal has more than the %d bytes declared", mailbox.ErrInvalidMessage, size))
	case n == 0:
		return abandon(fmt.Errorf("%w: the literal gave %d bytes, declared %d", mailbox.ErrInvalidMessage, sent, size))
	case err != io.ErrUnexpectedEOF && err != nil:
		return abandon(fmt.Errorf("reading the message: %w", err))
	}
	// One byte and the end: was it a clean end?
	if _, err := lit.Read(make([]byte, 1)); err != nil && err != io.EOF {
		return abandon(fmt.Errorf("reading the message: %w", err))
	}
	id := h.Sum()
	if !meta.EmailID.IsZero() && id != meta.EmailID {
		return abandon(fmt.Errorf("%w: %w: the message has %s, the caller expects %s", mailbox.ErrCorrupt, mailbox.ErrEmailIDMismatch, id.Short(), meta.EmailID.Short()))
	}
	if _, err := cmd.Write(last[:1]); err != nil {
		return abandon(fmt.Errorf("APPEND: %w", err))
	}
	if err := cmd.Close(); err != nil {
		c.close()
		return mailbox.EmailID{}, 0, 0, fmt.Errorf("APPEND: %w", err)
	}
	data, err := cmd.Wait()
	if err != nil {
		// imapclient leaves the connection closed after an APPEND refused
		// before its literal ([OVERQUOTA]); drop it either way.
		c.close()
		return mailbox.EmailID{}, 0, 0, fmt.Errorf("APPEND: %w", err)
	}
	return id, data.UIDValidity, uid.UID(data.UID), nil
}

// findAppended finds a message just appended by a server without
// UIDPLUS: the one above the old UIDNEXT with its size (and internal
// date, when one was given).
func (s *Store) findAppended(c *conn, srv string, before uid.UID, size int64, meta mailbox.AppendMeta) (uid.UID, error) {
	if _, err := s.selectBox(c, srv, true); err != nil {
		return 0, err
	}
	ms, err := s.fetchMeta(c, imap.UIDSet{{Start: imap.UID(max(before, 1)), Stop: imap.UID(uid.Max)}}, 0)
	if err != nil {
		return 0, err
	}
	var found uid.UID
	for _, m := range ms {
		if m.UID >= before && (meta.InternalDate.IsZero() || m.InternalDate.Unix() == meta.InternalDate.Unix()) {
			found = m.UID // the highest that fits
		}
	}
	if found == 0 {
		return 0, fmt.Errorf("%w: the server took the message but has no UIDPLUS, and no new message above UID %d looks like it", mailbox.ErrNotFound, before)
	}
	return found, nil
}

// StoreFlags implements mailbox.Writer.
func (s *Store) StoreFlags(ctx context.Context, name string, set uid.Set, op mailbox.FlagOp, flags mailbox.Flags) error {
	_, srv, err := s.canon(ctx, "store", name)
	if err != nil {
		return err
	}
	fs := toIMAP(flags)
	return s.with(ctx, "store", name, true, func(c *conn) error {
		v, err := s.selectBox(c, srv, true)
		if err != nil {
			return err
		}
		if err := s.checkValidity(srv, v); err != nil {
			return err
		}
		if set.IsEmpty() || (len(fs) == 0 && op != mailbox.FlagsReplace) {
			return nil
		}
		iop := map[mailbox.FlagOp]imap.StoreFlagsOp{mailbox.FlagsAdd: imap.StoreFlagsAdd, mailbox.FlagsRemove: imap.StoreFlagsDel, mailbox.FlagsReplace: imap.StoreFlagsSet}[op]
		if err := c.c.Store(imapUIDs(set), &imap.StoreFlags{Op: iop, Silent: true, Flags: fs}, nil).Close(); err != nil {
			return fmt.Errorf("UID STORE: %w", err)
		}
		return nil
	})
}

// Expunge implements mailbox.Writer: the messages are marked \Deleted and
// removed with UID EXPUNGE (UIDPLUS), which leaves alone any other
// message a user marked \Deleted. Without UIDPLUS a bare EXPUNGE is sent
// only when no other message is marked \Deleted; otherwise it fails with
// ErrNotSupported.
func (s *Store) Expunge(ctx context.Context, name string, set uid.Set) error {
	_, srv, err := s.canon(ctx, "expunge", name)
	if err != nil {
		return err
	}
	return s.with(ctx, "expunge", name, true, func(c *conn) error {
		v, err := s.selectBox(c, srv, true)
		if err != nil {
			return err
		}
		if err := s.checkValidity(srv, v); err != nil {
			return err
		}
		if set.IsEmpty() {
			return nil
		}
		present, err := s.fetchMeta(c, imapUIDs(set), 0)
		if err != nil {
			return err
		}
		var gone []uid.UID
		for _, m := range present {
			if set.Contains(m.UID) {
				gone = append(gone, m.UID)
			}
		}
		if len(gone) == 0 {
			return nil
		}
		exact := uid.SetOf(gone...)
		if err := c.c.Store(imapUIDs(exact), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Close(); err != nil {
			return fmt.Errorf("UID STORE +FLAGS \\Deleted: %w", err)
		}
		if c.caps.Has(imap.CapUIDPlus) || c.caps.Has(imap.CapIMAP4rev2) {
			if err := c.c.UIDExpunge(imapUIDs(exact)).Close(); err != nil {
				return fmt.Errorf("UID EXPUNGE: %w", err)
			}
		} else {
			res, err := c.c.UIDSearch(&imap.SearchCriteria{Flag: []imap.Flag{imap.FlagDeleted}}, nil).Wait()
			if err != nil {
				return fmt.Errorf("UID SEARCH DELETED: %w", err)
			}
			for _, u := range res.AllUIDs() {
				if !exact.Contains(uid.UID(u)) {
					return fmt.Errorf("%w: the server has no UIDPLUS and other messages are marked \\Deleted (UID %d): a bare EXPUNGE would remove them", mailbox.ErrNotSupported, u)
				}
			}
			if err := c.c.Expunge().Close(); err != nil {
				return fmt.Errorf("EXPUNGE: %w", err)
			}
		}
		st, err := c.c.Status(srv, c.statusItems()).Wait()
		if err == nil {
			s.recordExpunges(mailboxID(v), exact, mailbox.ModSeq(st.HighestModSeq))
		}
		return nil
	})
}
