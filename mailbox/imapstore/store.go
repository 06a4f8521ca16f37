package imapstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/mailrepl/mailrepl/mailbox"
	"github.com/mailrepl/mailrepl/uid"
)

// Store is one IMAP account as a [mailbox.Store]. It is safe for
// concurrent use: each operation takes a connection of its own from the
// account's idle ones, or opens one within its server's [Pool].
type Store struct {
	opt   Options
	debug io.Writer
	wake  chan struct{} // a connection became idle

	// moving is held to RENAME or DELETE a folder, and shared by a LIST
	// that asks STATUS. Dovecot's STATUS locks each listed Maildir
	// folder's dovecot-uidlist; another session's RENAME moving the
	// folder meanwhile makes it log "dotlock … deleted under us" and
	// at times stall both sessions until the command times out (seen
	// with six sessions of one account at work). Within one Store the
	// two no longer overlap.
	moving sync.RWMutex

	mu struct {
		sync.Mutex
		closed bool
		idle   []*conn
		delim  rune
		// known is the UIDVALIDITY last told of each mailbox (by server
		// name): a selection that finds another fails UID-addressed
		// writes with ErrUIDValidityChanged.
		known map[string]uint32
		// snaps and expunged are what Changes answers from (see
		// changes.go).
		snaps    map[mailbox.ID][]snapshot
		expunged map[mailbox.ID][]expunge
	}
}

var (
	_ mailbox.Store         = (*Store)(nil)
	_ mailbox.ChangeTracker = (*Store)(nil)
)

// New returns a store over the account opt names. It does no I/O: the
// first operation connects. Use [Dial] to check the login at once.
func New(opt Options) (*Store, error) {
	o, err := opt.withDefaults()
	if err != nil {
		return nil, err
	}
	s := &Store{opt: o, debug: o.Debug, wake: make(chan struct{}, 1)}
	s.mu.known = map[string]uint32{}
	s.mu.snaps = map[mailbox.ID][]snapshot{}
	s.mu.expunged = map[mailbox.ID][]expunge{}
	o.Pool.register(s)
	return s, nil
}

// Dial returns a store over the account and logs in once, so that a wrong
// password or an unreachable server is reported here.
func Dial(ctx context.Context, opt Options) (*Store, error) {
	s, err := New(opt)
	if err != nil {
		return nil, err
	}
	if err := s.with(ctx, "login", "", false, func(*conn) error { return nil }); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// Name is how errors name the store.
func (s *Store) Name() string { return s.opt.Name }

// Close logs out the store's connections. Later calls fail with
// ErrClosed.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.mu.closed {
		s.mu.Unlock()
		return &mailbox.Error{Op: "close", Store: s.opt.Name, Err: mailbox.ErrClosed}
	}
	s.mu.closed = true
	idle := s.mu.idle
	s.mu.idle = nil
	s.mu.Unlock()
	s.opt.Pool.unregister(s)
	var wg sync.WaitGroup
	for _, c := range idle {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.logout(5 * time.Second)
			s.opt.Pool.release()
		}()
	}
	wg.Wait()
	return nil
}

func (s *Store) closed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mu.closed
}

// get returns an idle connection or opens one.
func (s *Store) get(ctx context.Context) (*conn, error) {
	for {
		s.mu.Lock()
		if s.mu.closed {
			s.mu.Unlock()
			return nil, mailbox.ErrClosed
		}
		var c *conn
		if n := len(s.mu.idle); n > 0 {
			c = s.mu.idle[n-1]
			s.mu.idle = s.mu.idle[:n-1]
			if n > 1 {
				s.signal()
			}
		}
		s.mu.Unlock()
		if c != nil {
			if !c.dead() {
				return c, nil
			}
			c.close()
			s.opt.Pool.release()
			continue
		}
		got, err := s.opt.Pool.acquire(ctx, s)
		if err != nil {
			return nil, err
		}
		if !got {
			continue // one of ours is idle
		}
		c, err = s.dial(ctx)
		if err != nil {
			s.opt.Pool.release()
			return nil, err
		}
		s.mu.Lock()
		if s.mu.delim == 0 {
			s.mu.delim = c.delim
		}
		s.mu.Unlock()
		return c, nil
	}
}

// signal wakes a goroutine of s waiting for a connection.
func (s *Store) signal() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// put returns a connection to the idle ones, or drops it: when it is
// dead, when the store is closed, or when another store of the server
// waits for a slot.
func (s *Store) put(c *conn) {
	s.mu.Lock()
	if s.mu.closed || c.dead() || s.opt.Pool.othersWaiting(s) {
		s.mu.Unlock()
		if c.dead() {
			c.close()
		} else {
			c.logout(5 * time.Second)
		}
		s.opt.Pool.release()
		return
	}
	s.mu.idle = append(s.mu.idle, c)
	s.signal()
	s.mu.Unlock()
}

// closeIdle closes one idle connection, for the pool to give its slot to
// another store; it reports whether it did.
func (s *Store) closeIdle() bool {
	s.mu.Lock()
	if len(s.mu.idle) == 0 {
		s.mu.Unlock()
		return false
	}
	c := s.mu.idle[0]
	s.mu.idle = s.mu.idle[1:]
	s.mu.Unlock()
	go func() {
		c.logout(5 * time.Second)
		s.opt.Pool.release()
	}()
	return true
}

// with runs f on a connection, under a guard that closes it when ctx ends
// or the server stops answering. A connection that failed is dropped;
// when retry is set, f runs once more on a new connection after a
// failure of the connection (a BYE, a reset, a timeout): a reconnect, a
// re-select and the UIDVALIDITY check follow from f selecting again.
func (s *Store) with(ctx context.Context, op, name string, retry bool, f func(c *conn) error) error {
	for attempt := 0; ; attempt++ {
		if err := ctx.Err(); err != nil {
			return s.fail(op, name, 0, err)
		}
		c, err := s.get(ctx)
		if err != nil {
			s.observe(0, err)
			if retry && attempt == 0 && ctx.Err() == nil && !errors.Is(err, mailbox.ErrClosed) && !errors.Is(err, errAuth) && isConnErr(classify(err)) {
				continue
			}
			return s.fail(op, name, 0, err)
		}
		start := time.Now()
		stop := c.guard(ctx, s.opt.Timeout)
		err = f(c)
		why := stop()
		if why != nil {
			if ctx.Err() != nil {
				err = ctx.Err()
			} else {
				err = fmt.Errorf("%w (%v)", why, err)
			}
		}
		s.observe(time.Since(start), err)
		lost := c.dead() || isConnErr(err)
		s.put(c)
		if err == nil {
			return nil
		}
		if lost && retry && attempt == 0 && ctx.Err() == nil {
			continue
		}
		return s.fail(op, name, 0, err)
	}
}

// serverName maps an API name to the server's: levels joined by its
// separator, in modified UTF-7 (imapclient encodes that). A name whose
// level holds the separator cannot be represented.
func (s *Store) serverName(name string) (string, error) {
	s.mu.Lock()
	delim := s.mu.delim
	s.mu.Unlock()
	if delim == 0 || delim == mailbox.Delimiter {
		return name, nil
	}
	if strings.ContainsRune(name, delim) {
		return "", fmt.Errorf("%w %q: the server's hierarchy separator %q is in a level", mailbox.ErrInvalidName, name, delim)
	}
	return strings.ReplaceAll(name, string(mailbox.Delimiter), string(delim)), nil
}

// apiName maps a server's name to the API's; ok is false for a name the
// API cannot spell (a level holding '/').
func apiName(server string, delim rune) (string, bool) {
	name := server
	if delim != 0 && delim != mailbox.Delimiter {
		if strings.ContainsRune(server, mailbox.Delimiter) {
			return "", false
		}
		name = strings.ReplaceAll(server, string(delim), string(mailbox.Delimiter))
	}
	name, err := mailbox.CanonicalName(name)
	return name, err == nil
}

// canon checks a name the caller gave and returns its canonical and
// server forms. It needs the separator, so it connects if no connection
// has been made yet.
func (s *Store) canon(ctx context.Context, op, name string) (string, string, error) {
	c, err := mailbox.CanonicalName(name)
	if err != nil {
		return "", "", s.fail(op, name, 0, err)
	}
	if i := strings.IndexAny(c, s.opt.BadChars); s.opt.BadChars != "" && i >= 0 {
		return "", "", s.fail(op, name, 0, fmt.Errorf("%w %q: the server refuses %q in names", mailbox.ErrInvalidName, name, c[i]))
	}
	s.mu.Lock()
	known := s.mu.delim != 0
	s.mu.Unlock()
	if !known {
		if err := s.with(ctx, op, name, true, func(*conn) error { return nil }); err != nil {
			return "", "", err
		}
	}
	srv, err := s.serverName(c)
	if err != nil {
		return "", "", s.fail(op, name, 0, err)
	}
	return c, srv, nil
}

// mailboxID is a mailbox's ID: its UIDVALIDITY, which stays through a
// rename and changes when a mailbox is deleted and made again. (go-imap
// cannot parse RFC 8474's MAILBOXID yet.)
func mailboxID(v uint32) mailbox.ID { return mailbox.ID(fmt.Sprintf("uidvalidity-%d", v)) }

var statusItems = &imap.StatusOptions{NumMessages: true, UIDNext: true, UIDValidity: true, HighestModSeq: true}

func (c *conn) statusItems() *imap.StatusOptions {
	o := *statusItems
	o.HighestModSeq = c.caps.Has(imap.CapCondStore)
	return &o
}

// info makes an Info of a STATUS answer and remembers what Changes needs.
func (s *Store) info(name string, server string, st *imap.StatusData, subscribed bool) mailbox.Info {
	in := mailbox.Info{
		Name:          name,
		ID:            mailboxID(st.UIDValidity),
		UIDValidity:   uid.Validity(st.UIDValidity),
		UIDNext:       uid.UID(st.UIDNext),
		HighestModSeq: mailbox.ModSeq(st.HighestModSeq),
		Subscribed:    subscribed,
	}
	if in.UIDNext == 0 {
		in.UIDNext = 1
	}
	s.mu.Lock()
	s.mu.known[server] = st.UIDValidity
	if st.NumMessages != nil && in.HighestModSeq > 0 {
		s.snapLocked(in.ID, snapshot{modseq: in.HighestModSeq, count: *st.NumMessages, uidNext: in.UIDNext})
	}
	s.mu.Unlock()
	return in
}

func hasAttr(attrs []imap.MailboxAttr, a imap.MailboxAttr) bool {
	for _, x := range attrs {
		if strings.EqualFold(string(x), string(a)) {
			return true
		}
	}
	return false
}

func selectable(l *imap.ListData) bool {
	return !hasAttr(l.Attrs, imap.MailboxAttrNonExistent) && !hasAttr(l.Attrs, imap.MailboxAttrNoSelect)
}

// Mailboxes implements mailbox.Reader.
func (s *Store) Mailboxes(ctx context.Context) ([]mailbox.Info, error) {
	var infos []mailbox.Info
	err := s.with(ctx, "mailboxes", "", true, func(c *conn) error {
		var err error
		infos, err = s.list(c, "*")
		return err
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(infos, func(a, b mailbox.Info) int { return strings.Compare(a.Name, b.Name) })
	return slices.CompactFunc(infos, func(a, b mailbox.Info) bool { return a.Name == b.Name }), nil
}

// list lists the mailboxes matching pattern with their status and
// subscription: one LIST-STATUS command (RFC 5819) where the server
// offers it, else LIST, then STATUS for each.
func (s *Store) list(c *conn, pattern string) ([]mailbox.Info, error) {
	extended := c.caps.Has(imap.CapListExtended) || c.caps.Has(imap.CapIMAP4rev2)
	opts := &imap.ListOptions{}
	if extended {
		opts.ReturnSubscribed = true
	}
	// RFC 6154: a SPECIAL-USE server may leave the attributes out of a
	// LIST that does not ask for them; the RETURN option is LIST-EXTENDED
	// syntax, asked only of a server that offers both (the client closes
	// the connection on what it cannot parse, not on what it did not ask).
	specialUse := c.caps.Has(imap.CapSpecialUse)
	if extended && specialUse {
		opts.ReturnSpecialUse = true
	}
	withStatus := c.caps.Has(imap.CapListStatus) || c.caps.Has(imap.CapIMAP4rev2)
	if withStatus {
		opts.ReturnStatus = c.statusItems()
	}
	s.moving.RLock()
	ls, err := c.c.List("", pattern, opts).Collect()
	s.moving.RUnlock()
	if err != nil {
		return nil, fmt.Errorf("LIST: %w", err)
	}
	var subscribed map[string]bool
	if !extended {
		subscribed = map[string]bool{}
		subs, err := c.c.List("", pattern, &imap.ListOptions{SelectSubscribed: true}).Collect()
		if err == nil {
			for _, l := range subs {
				subscribed[l.Mailbox] = true
			}
		}
	}
	var infos []mailbox.Info
	for _, l := range ls {
		if !selectable(l) {
			continue
		}
		name, ok := apiName(l.Mailbox, l.Delim)
		if !ok {
			continue
		}
		sub := hasAttr(l.Attrs, imap.MailboxAttrSubscribed)
		if subscribed != nil {
			sub = subscribed[l.Mailbox]
		}
		st := l.Status
		if st == nil || st.UIDValidity == 0 {
			s.moving.RLock()
			st, err = s.recheck(c, l.Mailbox)
			s.moving.RUnlock()
			if errors.Is(classify(err), mailbox.ErrNotFound) {
				continue // deleted since the LIST
			}
			if err != nil {
				return nil, fmt.Errorf("STATUS %s: %w", l.Mailbox, err)
			}
		}
		in := s.info(name, l.Mailbox, st, sub)
		in.SpecialUse = listedUse(l.Attrs, name, specialUse)
		infos = append(infos, in)
	}
	return infos, nil
}

// listedUse returns a mailbox's special use from its LIST attributes. A
// server without SPECIAL-USE that gives none (most older servers; Gmail's
// attributes are taken where it gives them) is a store that does not
// say: the name tells it ([mailbox.GuessSpecialUse]).
func listedUse(attrs []imap.MailboxAttr, name string, advertised bool) mailbox.SpecialUse {
	for _, a := range attrs {
		if u, ok := mailbox.ParseSpecialUse(string(a)); ok {
			return u
		}
	}
	if advertised {
		return mailbox.UseNone
	}
	return mailbox.GuessSpecialUse(name)
}

// recheck asks STATUS of a mailbox that LIST gave without a UIDVALIDITY:
// one another session is creating or renaming. Dovecot may answer
// [SERVERBUG] while the folder is half moved; a transient refusal is asked
// again twice, a moment apart, and a mailbox gone by then is ErrNotFound.
func (s *Store) recheck(c *conn, server string) (*imap.StatusData, error) {
	for attempt := 1; ; attempt++ {
		st, err := c.c.Status(server, c.statusItems()).Wait()
		if err == nil || attempt == 3 || !errors.Is(classify(err), mailbox.ErrTransient) || isConnErr(err) {
			return st, err
		}
		time.Sleep(time.Duration(attempt) * 20 * time.Millisecond)
	}
}

// status returns one mailbox's Info, or ErrNotFound.
func (s *Store) status(c *conn, name, server string) (mailbox.Info, error) {
	if !strings.ContainsAny(server, "*%") {
		infos, err := s.list(c, server)
		if err != nil {
			return mailbox.Info{}, err
		}
		for _, in := range infos {
			if in.Name == name {
				return in, nil
			}
		}
		return mailbox.Info{}, mailbox.ErrNotFound
	}
	st, err := c.c.Status(server, c.statusItems()).Wait()
	if err != nil {
		return mailbox.Info{}, fmt.Errorf("STATUS: %w", err)
	}
	sub := false
	if subs, err := c.c.List("", "*", &imap.ListOptions{SelectSubscribed: true}).Collect(); err == nil {
		for _, l := range subs {
			sub = sub || l.Mailbox == server
		}
	}
	return s.info(name, server, st, sub), nil
}

// Status implements mailbox.Reader.
func (s *Store) Status(ctx context.Context, name string) (mailbox.Info, error) {
	cn, srv, err := s.canon(ctx, "status", name)
	if err != nil {
		return mailbox.Info{}, err
	}
	var in mailbox.Info
	err = s.with(ctx, "status", name, true, func(c *conn) error {
		var err error
		in, err = s.status(c, cn, srv)
		return err
	})
	return in, err
}

// Create implements mailbox.Writer.
func (s *Store) Create(ctx context.Context, name string) (mailbox.Info, error) {
	cn, srv, err := s.canon(ctx, "create", name)
	if err != nil {
		return mailbox.Info{}, err
	}
	if mailbox.IsInbox(cn) {
		return mailbox.Info{}, s.fail("create", name, 0, mailbox.ErrExists)
	}
	var in mailbox.Info
	err = s.with(ctx, "create", name, false, func(c *conn) error {
		if _, err := s.status(c, cn, srv); err == nil {
			return mailbox.ErrExists
		}
		if err := c.c.Create(srv, nil).Wait(); err != nil {
			// Dovecot answers [ALREADYEXISTS] to a CREATE it carried
			// out when another session's LIST saw the new folder half
			// made (it listed UIDVALIDITY 0): six sessions creating
			// six folders hit it often. The mailbox was absent just
			// before, so if it exists now it is ours to report, made by
			// us or by someone else in between: either way what the
			// caller asked for holds.
			var ie *imap.Error
			if errors.As(err, &ie) && ie.Code == imap.ResponseCodeAlreadyExists {
				if made, serr := s.status(c, cn, srv); serr == nil {
					in = made
					return nil
				}
			}
			return fmt.Errorf("CREATE: %w", err)
		}
		var err error
		in, err = s.status(c, cn, srv)
		return err
	})
	return in, err
}

// forget drops what connections and the store know of the mailboxes at
// and below server (renamed or deleted).
func (s *Store) forget(server string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delim := s.mu.delim
	below := func(n string) bool {
		return n == server || (delim != 0 && strings.HasPrefix(n, server+string(delim)))
	}
	for n := range s.mu.known {
		if below(n) {
			delete(s.mu.known, n)
		}
	}
	for _, c := range s.mu.idle {
		if below(c.selected) {
			c.selected = ""
		}
	}
}

// Rename implements mailbox.Writer.
func (s *Store) Rename(ctx context.Context, oldName, newName string) error {
	co, so, err := s.canon(ctx, "rename", oldName)
	if err != nil {
		return err
	}
	cn, sn, err := s.canon(ctx, "rename", newName)
	if err != nil {
		return s.fail("rename", newName, 0, err)
	}
	switch {
	case mailbox.IsInbox(co):
		return s.fail("rename", oldName, 0, fmt.Errorf("%w: INBOX cannot be renamed", mailbox.ErrNotAllowed))
	case mailbox.IsDescendant(cn, co):
		return s.fail("rename", oldName, 0, fmt.Errorf("%w: %q lies below %q", mailbox.ErrNotAllowed, newName, oldName))
	}
	return s.with(ctx, "rename", oldName, false, func(c *conn) error {
		if _, err := s.status(c, co, so); err != nil {
			return err
		}
		if co == cn || mailbox.IsInbox(cn) {
			return mailbox.ErrExists
		}
		all, err := s.list(c, "*")
		if err != nil {
			return err
		}
		exists := map[string]bool{}
		for _, in := range all {
			exists[in.Name] = true
		}
		for _, in := range all {
			if in.Name == co || mailbox.IsDescendant(in.Name, co) {
				if moved := cn + strings.TrimPrefix(in.Name, co); exists[moved] {
					return fmt.Errorf("%w: %q would become %q, which exists", mailbox.ErrExists, in.Name, moved)
				}
			}
		}
		if exists[cn] {
			return mailbox.ErrExists
		}
		// Subscriptions move with the names (RFC 9051 leaves it to the
		// server; not every server does).
		subs, _ := s.subscribedBelow(c, so)
		if c.selected == so || strings.HasPrefix(c.selected, so+string(c.delim)) {
			if err := s.unselect(c); err != nil {
				return err
			}
		}
		s.moving.Lock()
		err = c.c.Rename(so, sn, nil).Wait()
		s.moving.Unlock()
		if err != nil {
			return fmt.Errorf("RENAME: %w", err)
		}
		s.forget(so)
		for _, old := range subs {
			moved := sn + strings.TrimPrefix(old, so)
			_ = c.c.Unsubscribe(old).Wait()
			if err := c.c.Subscribe(moved).Wait(); err != nil {
				return fmt.Errorf("SUBSCRIBE %s after RENAME: %w", moved, err)
			}
		}
		return nil
	})
}

// subscribedBelow lists the subscribed mailboxes at and below server.
func (s *Store) subscribedBelow(c *conn, server string) ([]string, error) {
	subs, err := c.c.List("", "*", &imap.ListOptions{SelectSubscribed: true}).Collect()
	if err != nil {
		return nil, err
	}
	var out []string
	for _, l := range subs {
		if l.Mailbox == server || (c.delim != 0 && strings.HasPrefix(l.Mailbox, server+string(c.delim))) {
			out = append(out, l.Mailbox)
		}
	}
	return out, nil
}

// unselect leaves the selected mailbox without expunging.
func (s *Store) unselect(c *conn) error {
	if c.selected == "" {
		return nil
	}
	var err error
	if c.caps.Has(imap.CapUnselect) || c.caps.Has(imap.CapIMAP4rev2) {
		err = c.c.Unselect().Wait()
	} else {
		// EXAMINE of a mailbox that does not exist leaves the selected
		// state without CLOSE's expunge.
		_, err = c.c.Select("\x00mailrepl-none", &imap.SelectOptions{ReadOnly: true}).Wait()
		err = nil
	}
	c.selected = ""
	return err
}

// Delete implements mailbox.Writer.
func (s *Store) Delete(ctx context.Context, name string) error {
	cn, srv, err := s.canon(ctx, "delete", name)
	if err != nil {
		return err
	}
	if mailbox.IsInbox(cn) {
		return s.fail("delete", name, 0, fmt.Errorf("%w: INBOX cannot be deleted", mailbox.ErrNotAllowed))
	}
	// Other connections that have it selected would be told BYE.
	s.mu.Lock()
	var drop []*conn
	kept := s.mu.idle[:0]
	for _, c := range s.mu.idle {
		if c.selected == srv {
			drop = append(drop, c)
		} else {
			kept = append(kept, c)
		}
	}
	s.mu.idle = kept
	s.mu.Unlock()
	for _, c := range drop {
		c.logout(5 * time.Second)
		s.opt.Pool.release()
	}
	return s.with(ctx, "delete", name, false, func(c *conn) error {
		if _, err := s.status(c, cn, srv); err != nil {
			return err
		}
		children, err := s.list(c, srv+string(c.delim)+"*")
		if err != nil {
			return err
		}
		if c.delim != 0 && len(children) > 0 {
			return mailbox.ErrHasChildren
		}
		if c.selected == srv {
			if err := s.unselect(c); err != nil {
				return err
			}
		}
		s.moving.Lock()
		err = c.c.Delete(srv).Wait()
		s.moving.Unlock()
		if err != nil {
			return fmt.Errorf("DELETE: %w", err)
		}
		s.forget(srv)
		_ = c.c.Unsubscribe(srv).Wait()
		return nil
	})
}

// Subscribe implements mailbox.Writer.
func (s *Store) Subscribe(ctx context.Context, name string, subscribed bool) error {
	cn, srv, err := s.canon(ctx, "subscribe", name)
	if err != nil {
		return err
	}
	return s.with(ctx, "subscribe", name, true, func(c *conn) error {
		in, err := s.status(c, cn, srv)
		if err != nil {
			return err
		}
		switch {
		case in.Subscribed == subscribed:
			return nil
		case subscribed:
			return c.c.Subscribe(srv).Wait()
		default:
			return c.c.Unsubscribe(srv).Wait()
		}
	})
}
