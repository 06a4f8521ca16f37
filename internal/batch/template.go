package batch

import (
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"

	"github.com/mailrepl/mailrepl/mailbox"
	"github.com/mailrepl/mailrepl/mailbox/loose"
	"github.com/mailrepl/mailrepl/mailbox/maildir"
	"github.com/mailrepl/mailrepl/mailbox/mbox"
	"github.com/mailrepl/mailrepl/mailbox/remote"
)

// ErrTemplate marks a store template that cannot be used.
var ErrTemplate = errors.New("batch: invalid store template")

// UserVar is the placeholder of a template that a user's name replaces.
const UserVar = "{user}"

// Template names the store of each user: "SCHEME:PATH", where PATH holds
// {user}, e.g. "maildir:/srv/mail/{user}" or
// "maildir:/home/{user}/Maildir". The schemes:
//
//	maildir  a Maildir++ tree ([maildir.Open]), read and written
//	mbox     an mbox file, or a directory of them ([mbox.Open]), read only
//	loose    a directory tree of message files, such as what fsck puts
//	         in lost+found ([loose.Open]), read only
//
// and "mailrepl://HOST:PORT/{user}", a store on a machine that runs
// `mailrepld serve`, read and written, with its credentials from an auth
// file ([Template.WithAuth]), and the IMAP accounts
// "imap://LOGIN@HOST:PORT" and "imaps://…", where LOGIN holds {user}
// ([imapstore]; see parseIMAPTemplate and [AuthFile]).
type Template struct {
	raw    string // as given
	scheme string
	path   string      // cleaned, still holding {user}
	base   string      // the directory above the first element holding {user}; mailrepl: HOST:PORT
	auth   *RemoteAuth // mailrepl: the credentials (WithAuth)
	imap   *imapTemplate
}

// ParseTemplate parses a store template.
func ParseTemplate(s string) (Template, error) {
	if strings.HasPrefix(s, remotePrefix) {
		return parseRemote(s)
	}
	if strings.HasPrefix(s, "imap://") || strings.HasPrefix(s, "imaps://") {
		return parseIMAPTemplate(s)
	}
	scheme, path, ok := strings.Cut(s, ":")
	switch {
	case !ok || scheme == "" || strings.ContainsAny(scheme, `/\`):
		return Template{}, fmt.Errorf("%w %q: want SCHEME:PATH, e.g. maildir:/srv/mail/{user}", ErrTemplate, s)
	case scheme != "maildir" && scheme != "mbox" && scheme != "loose":
		return Template{}, fmt.Errorf("%w %q: unknown scheme %q (want maildir, mbox, loose, imap://, imaps:// or mailrepl://)", ErrTemplate, s, scheme)
	case !strings.Contains(path, UserVar):
		return Template{}, fmt.Errorf("%w %q: the path does not hold %s, so every user would share one store", ErrTemplate, s, UserVar)
	}
	path = filepath.Clean(path)
	if !strings.Contains(path, UserVar) {
		return Template{}, fmt.Errorf("%w %q: %s is in a path element that \"..\" removes", ErrTemplate, s, UserVar)
	}
	// The base is the directory above the first element that holds
	// {user}: a user's store must stay below it.
	before, _, _ := strings.Cut(path, UserVar)
	base := filepath.Dir(before + "x")
	return Template{raw: s, scheme: scheme, path: path, base: base}, nil
}

// MustParseTemplate is ParseTemplate for templates known to be valid; it
// panics otherwise.
func MustParseTemplate(s string) Template {
	t, err := ParseTemplate(s)
	if err != nil {
		panic(err)
	}
	return t
}

func (t Template) String() string { return t.raw }

// Scheme returns the template's scheme ("maildir").
func (t Template) Scheme() string { return t.scheme }

// Writable reports whether the template's stores can be written to
// (maildir), and so be a target.
func (t Template) Writable() bool {
	return t.scheme == "maildir" || t.scheme == "mailrepl" || t.imap != nil
}

// Server names the server a template's stores live on, for rate limits
// and connection caps: the scheme and the directory above the users'
// ("maildir:/srv/mail").
func (t Template) Server() string {
	if t.scheme == "mailrepl" {
		return remotePrefix + t.base
	}
	if t.imap != nil {
		return t.scheme + "://" + t.imap.addr
	}
	return t.scheme + ":" + t.base
}

// Same reports whether t and u expand to the same stores.
func (t Template) Same(u Template) bool {
	pt, errT := t.Expand("x")
	pu, errU := u.Expand("x")
	return errT == nil && errU == nil && t.scheme == u.scheme && pt == pu
}

// Expand returns the location of user's store ("/srv/mail/alice"). It
// fails with an error wrapping ErrUnsafeUser when the name is unsafe
// ([ValidUser]), and with ErrTemplate if the location would not lie below
// the template's base directory (which a safe name cannot cause; checked
// all the same).
func (t Template) Expand(user string) (string, error) {
	if err := ValidUser(user); err != nil {
		return "", err
	}
	if t.imap != nil {
		login, _ := t.Login(user)
		return login + "@" + t.imap.addr, nil
	}
	return t.expand(user)
}

// expand substitutes without validating the name, and checks that the
// result stays below the base directory.
func (t Template) expand(user string) (string, error) {
	p := filepath.Clean(strings.ReplaceAll(t.path, UserVar, user))
	rel, err := filepath.Rel(t.base, p)
	if err != nil || rel == "." || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) || filepath.IsAbs(rel) {
		return "", fmt.Errorf("%w %q: user %q leads to %s, outside %s", ErrTemplate, t.raw, user, p, t.base)
	}
	return p, nil
}

// ID names user's store for people and for the state: the scheme and
// the expanded location ("maildir:/srv/mail/alice").
func (t Template) ID(user string) (string, error) {
	p, err := t.Expand(user)
	if err != nil {
		return "", err
	}
	if t.scheme == "mailrepl" {
		return remotePrefix + p, nil
	}
	if t.imap != nil {
		return t.scheme + "://" + p, nil
	}
	return t.scheme + ":" + p, nil
}

// CacheID names user's store in the EmailID cache and to recovery: the
// scheme and the user ("maildir:alice"), never the location, so that a
// store moved elsewhere, or a template rewritten, finds what was cached.
// Its messages are known there by their mailbox's ID, UIDVALIDITY and
// UID, which the store itself carries.
//
// An IMAP account is named by its login and server ("imap:alice@host:993",
// imap and imaps alike): two servers may hold mailboxes of the same
// UIDVALIDITY, and their messages must not share cached EmailIDs.
func (t Template) CacheID(user string) (string, error) {
	if err := ValidUser(user); err != nil {
		return "", err
	}
	if t.imap != nil {
		p, _ := t.Expand(user)
		return "imap:" + p, nil
	}
	return t.scheme + ":" + user, nil
}

// OpenOptions says how [Template.Open] opens a store.
type OpenOptions struct {
	// ReadOnly opens the store for reading only: nothing in it is
	// created or changed, and a store that does not exist is an error
	// wrapping mailbox.ErrNotFound (a writable one is created).
	ReadOnly bool
	// LeaveUnnumbered leaves out of a read-only maildir's listings the
	// files its dovecot-uidlist does not number yet
	// (maildir.Options.LeaveUnnumbered).
	LeaveUnnumbered bool
	// Logger receives the store's warnings; nil discards them.
	Logger *slog.Logger
	// UIDs keeps the UIDs of a store that has no UID list of its own (a
	// Maildir without dovecot-uidlist, an mbox, loose files), so that
	// they stay the same from run to run without anything being written
	// into the store (mailbox.UIDKeeper; the journal's, scoped by user).
	// Give it to the one store of the user that a sync follows, never to
	// a backup that copies it.
	UIDs mailbox.UIDKeeper
	// Observer, for a mailrepl:// store, is told when its server answers
	// "overloaded" (a rate limiter's handle, for the store's side).
	Observer remote.Observer
	// IMAP is needed to open IMAP stores: credentials, TLS, pools.
	IMAP *IMAPOptions
}

// Open opens user's store, of a writable scheme (see Writable).
func (t Template) Open(user string, opts OpenOptions) (mailbox.Store, error) {
	if t.scheme == "mailrepl" {
		return t.openRemote(user, opts)
	}
	if t.imap != nil {
		return t.openIMAP(user, opts)
	}
	p, err := t.Expand(user)
	if err != nil {
		return nil, err
	}
	switch t.scheme {
	case "maildir":
		return maildir.Open(p, &maildir.Options{Name: t.scheme + ":" + p, ReadOnly: opts.ReadOnly, LeaveUnnumbered: opts.LeaveUnnumbered, Logger: opts.Logger, UIDs: opts.UIDs})
	}
	return nil, fmt.Errorf("%w %q: %s stores are read-only", ErrTemplate, t.raw, t.scheme)
}

// ReadCloser is a store opened for reading.
type ReadCloser interface {
	mailbox.Reader
	Close() error
}

// OpenReader opens user's store for reading, of any scheme. A maildir is
// opened read-only: nothing in it is created or changed.
func (t Template) OpenReader(user string, opts OpenOptions) (ReadCloser, error) {
	if t.imap != nil {
		return t.openIMAP(user, opts)
	}
	if t.scheme == "maildir" || t.scheme == "mailrepl" {
		opts.ReadOnly = true
		return t.Open(user, opts)
	}
	p, err := t.Expand(user)
	if err != nil {
		return nil, err
	}
	name := t.scheme + ":" + p
	switch t.scheme {
	case "mbox":
		return mbox.Open(p, &mbox.Options{Name: name, UIDs: opts.UIDs})
	case "loose":
		return loose.Open(p, &loose.Options{Name: name, UIDs: opts.UIDs})
	}
	return nil, fmt.Errorf("%w %q: unknown scheme %q", ErrTemplate, t.raw, t.scheme)
}

// ReadOnly hides every method of r but those of [mailbox.Reader], so that
// code that finds optional interfaces by type assertion (the replica
// engine looks for [mailbox.Writer] to decide whether it may copy mail
// back to a source) sees a store it must not write to. A store opened
// read-only (OpenOptions.ReadOnly) still has the Writer methods, failing
// with mailbox.ErrReadOnly: wrap it. The read-only interfaces that
// spare listings, [mailbox.Stamper] and [mailbox.ChangeTracker], stay.
func ReadOnly(r mailbox.Reader) mailbox.Reader {
	st, stamps := r.(mailbox.Stamper)
	ct, tracks := r.(mailbox.ChangeTracker)
	switch {
	case stamps && tracks:
		return readOnlyBoth{readOnly{r}, st, ct}
	case stamps:
		return readOnlyStamper{readOnly{r}, st}
	case tracks:
		return readOnlyTracker{readOnly{r}, ct}
	}
	return readOnly{r}
}

type readOnly struct{ mailbox.Reader }

type readOnlyStamper struct {
	readOnly
	mailbox.Stamper
}

type readOnlyTracker struct {
	readOnly
	mailbox.ChangeTracker
}

type readOnlyBoth struct {
	readOnly
	mailbox.Stamper
	mailbox.ChangeTracker
}
