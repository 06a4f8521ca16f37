package batch

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"github.com/mailrepl/mailrepl/mailbox"
	"github.com/mailrepl/mailrepl/mailbox/imapstore"
	"github.com/mailrepl/mailrepl/uid"
)

// imapTemplate is the server part of an imap:// or imaps:// template.
type imapTemplate struct {
	login    string // holds {user}
	addr     string // host:port
	security imapstore.Security
}

// parseIMAPTemplate parses "imap://LOGIN@HOST[:PORT]" or imaps://: LOGIN
// holds {user} (it may hold '@' too: the host follows the last one), the
// port defaults to 143 (imap) or 993 (imaps). imaps:// is implicit TLS;
// imap:// requires STARTTLS, except to a loopback address, where it is
// plaintext.
func parseIMAPTemplate(s string) (Template, error) {
	scheme, rest, _ := strings.Cut(s, "://")
	at := strings.LastIndexByte(rest, '@')
	if at <= 0 {
		return Template{}, fmt.Errorf("%w %q: want %s://{user}@HOST:PORT", ErrTemplate, s, scheme)
	}
	login, hostport := rest[:at], rest[at+1:]
	if strings.ContainsAny(hostport, "/?#") {
		return Template{}, fmt.Errorf("%w %q: nothing may follow HOST:PORT", ErrTemplate, s)
	}
	if !strings.Contains(login, UserVar) {
		return Template{}, fmt.Errorf("%w %q: the login does not hold %s, so every user would log in as one", ErrTemplate, s, UserVar)
	}
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		host, port = strings.Trim(hostport, "[]"), "143"
		if scheme == "imaps" {
			port = "993"
		}
	}
	if host == "" {
		return Template{}, fmt.Errorf("%w %q: no host", ErrTemplate, s)
	}
	it := &imapTemplate{login: login, addr: net.JoinHostPort(host, port)}
	switch {
	case scheme == "imaps":
		it.security = imapstore.TLS
	case imapstore.IsLoopback(host):
		it.security = imapstore.Plain
	default:
		it.security = imapstore.StartTLS
	}
	return Template{raw: s, scheme: scheme, imap: it}, nil
}

// IsIMAP reports whether the template names IMAP accounts.
func (t Template) IsIMAP() bool { return t.imap != nil }

// Login returns user's login on an IMAP template's server.
func (t Template) Login(user string) (string, error) {
	if err := ValidUser(user); err != nil {
		return "", err
	}
	if t.imap == nil {
		return "", fmt.Errorf("%w %q: not an IMAP template", ErrTemplate, t.raw)
	}
	return strings.ReplaceAll(t.imap.login, UserVar, user), nil
}

// IMAPOptions is what opening an IMAP store needs besides the template.
type IMAPOptions struct {
	// Auth gives each login its credentials (an auth file). Required.
	Auth *AuthFile
	// TLS verifies servers; nil: the system's roots.
	TLS *tls.Config
	// Pools gives each server its connection pool (-server-conns).
	Pools *imapstore.Pools
	// Cache keeps EmailIDs of the messages read (the journal's).
	Cache imapstore.Cache
	// Observer is told of the server's requests to slow down.
	Observer imapstore.Observer
	// Timeout bounds each command; 0: the store's default.
	Timeout time.Duration
}

func (t Template) openIMAP(user string, opts OpenOptions) (mailbox.Store, error) {
	login, err := t.Login(user)
	if err != nil {
		return nil, err
	}
	io := opts.IMAP
	if io == nil || io.Auth == nil {
		return nil, fmt.Errorf("%w %q: IMAP stores need an auth file", ErrTemplate, t.raw)
	}
	auth, err := io.Auth.Lookup(login)
	if err != nil {
		return nil, err
	}
	o := imapstore.Options{
		Addr:      t.imap.addr,
		Security:  t.imap.security,
		TLSConfig: io.TLS,
		Auth:      auth,
		Name:      t.scheme + "://" + login + "@" + t.imap.addr,
		Cache:     io.Cache,
		Observer:  io.Observer,
		Timeout:   io.Timeout,
	}
	o.CacheID, _ = t.CacheID(user)
	if io.Pools != nil {
		o.Pool = io.Pools.Get(t.imap.addr)
	}
	s, err := imapstore.New(o)
	if err != nil {
		return nil, err
	}
	if opts.ReadOnly {
		return readOnlyStore{s}, nil
	}
	return s, nil
}

// readOnlyStore fails every write, for a store opened read-only.
type readOnlyStore struct{ *imapstore.Store }

func (r readOnlyStore) ro(op, name string) error {
	return &mailbox.Error{Op: op, Store: r.Name(), Mailbox: name, Err: mailbox.ErrReadOnly}
}

// LoadCA reads a PEM file of certificate authorities (-ca-file) into a
// TLS configuration that trusts them alone.
func LoadCA(path string) (*tls.Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("batch: CA file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("batch: CA file %s: no PEM certificate in it", path)
	}
	return &tls.Config{RootCAs: pool}, nil
}

// AuthFile holds IMAP credentials, read from a file that only its owner
// may read. Its lines, '#' starting a comment line:
//
//	LOGIN PASSWORD          the password of one login (the rest of the line)
//	LOGIN bearer:TOKEN      an OAuth 2.0 bearer token (OAUTHBEARER or XOAUTH2)
//	* ADMIN PASSWORD        every other login: log in as ADMIN with SASL
//	                        PLAIN, authorizing as the user (Dovecot master
//	                        users, Cyrus admins)
type AuthFile struct {
	path   string
	logins map[string]imapstore.Auth
	admin  *imapstore.Auth
}

// ErrAuthFile marks an auth file that cannot be used.
var ErrAuthFile = errors.New("batch: auth file")

// LoadAuthFile reads an auth file. A file that group or others may read
// is refused, as is a line it cannot parse (its number is named, never
// its content).
func LoadAuthFile(path string) (*AuthFile, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrAuthFile, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrAuthFile, err)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("%w %s: group or others may read it (mode %04o): chmod 600 it", ErrAuthFile, path, perm)
	}
	a := &AuthFile{path: path, logins: map[string]imapstore.Auth{}}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		login, secret, ok := cutSpace(line)
		if !ok {
			return nil, fmt.Errorf("%w %s line %d: want LOGIN PASSWORD, LOGIN bearer:TOKEN or * ADMIN PASSWORD", ErrAuthFile, path, n)
		}
		if login == "*" {
			admin, pw, ok := cutSpace(secret)
			if !ok || a.admin != nil {
				return nil, fmt.Errorf("%w %s line %d: want one line * ADMIN PASSWORD", ErrAuthFile, path, n)
			}
			a.admin = &imapstore.Auth{Admin: admin, Password: pw}
			continue
		}
		if _, dup := a.logins[login]; dup {
			return nil, fmt.Errorf("%w %s line %d: login %s given twice", ErrAuthFile, path, n, login)
		}
		auth := imapstore.Auth{User: login, Password: secret}
		if tok, ok := strings.CutPrefix(secret, "bearer:"); ok {
			auth = imapstore.Auth{User: login, Token: tok}
		}
		a.logins[login] = auth
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%w %s: %w", ErrAuthFile, path, err)
	}
	return a, nil
}

func cutSpace(s string) (string, string, bool) {
	i := strings.IndexAny(s, " \t")
	if i <= 0 {
		return "", "", false
	}
	rest := strings.TrimSpace(s[i:])
	return s[:i], rest, rest != ""
}

// Lookup returns the credentials of login: its own line, else the admin
// line's.
func (a *AuthFile) Lookup(login string) (imapstore.Auth, error) {
	if auth, ok := a.logins[login]; ok {
		return auth, nil
	}
	if a.admin != nil {
		auth := *a.admin
		auth.User = login
		return auth, nil
	}
	return imapstore.Auth{}, fmt.Errorf("%w %s: no line for login %s", ErrAuthFile, a.path, login)
}

func (r readOnlyStore) Create(ctx context.Context, name string) (mailbox.Info, error) {
	return mailbox.Info{}, r.ro("create", name)
}
func (r readOnlyStore) Rename(ctx context.Context, oldName, newName string) error {
	return r.ro("rename", oldName)
}
func (r readOnlyStore) Delete(ctx context.Context, name string) error { return r.ro("delete", name) }
func (r readOnlyStore) Subscribe(ctx context.Context, name string, on bool) error {
	return r.ro("subscribe", name)
}
func (r readOnlyStore) Append(ctx context.Context, name string, lit mailbox.Literal, meta mailbox.AppendMeta) (uid.UID, error) {
	return 0, r.ro("append", name)
}
func (r readOnlyStore) StoreFlags(ctx context.Context, name string, set uid.Set, op mailbox.FlagOp, flags mailbox.Flags) error {
	return r.ro("store", name)
}
func (r readOnlyStore) Expunge(ctx context.Context, name string, set uid.Set) error {
	return r.ro("expunge", name)
}

// IMAPSetup is what both tools' IMAP templates share: the TLS
// configuration of -ca-file ("" for the system's roots) and the servers'
// connection pools, conns connections each.
func IMAPSetup(caFile string, conns int) (*tls.Config, *imapstore.Pools, error) {
	var tlsCfg *tls.Config
	if caFile != "" {
		var err error
		if tlsCfg, err = LoadCA(caFile); err != nil {
			return nil, nil, err
		}
	}
	return tlsCfg, &imapstore.Pools{Max: conns}, nil
}

// LoadIMAP reads what t's stores need when t is an IMAP template: the auth
// file given by flag authFlag (required then, refused otherwise), the
// TLS configuration and the servers' pools. It returns nil for other
// templates.
func LoadIMAP(t Template, authFlag, authPath string, tlsCfg *tls.Config, pools *imapstore.Pools) (*IMAPOptions, error) {
	switch {
	case !t.IsIMAP() && authPath != "" && t.scheme != "mailrepl":
		return nil, fmt.Errorf("-%s is for IMAP and mailrepl:// templates, and %s is none", authFlag, t)
	case !t.IsIMAP():
		return nil, nil
	case authPath == "":
		return nil, fmt.Errorf("-%s FILE is needed for %s: the logins' credentials (never on the command line)", authFlag, t)
	}
	auth, err := LoadAuthFile(authPath)
	if err != nil {
		return nil, fmt.Errorf("-%s: %w", authFlag, err)
	}
	return &IMAPOptions{Auth: auth, TLS: tlsCfg, Pools: pools}, nil
}

// With returns a copy of o with a cache and an observer, or nil for nil.
func (o *IMAPOptions) With(cache imapstore.Cache, ob imapstore.Observer) *IMAPOptions {
	if o == nil {
		return nil
	}
	c := *o
	c.Cache, c.Observer = cache, ob
	return &c
}

// Observer tells a rate limit handle (ratelimit.Handle's Observe) what an
// IMAP store of one side hears from its server.
type Observer struct {
	H interface {
		Observe(target bool, latency time.Duration, overloaded bool, retryAfter time.Duration)
	}
	Target bool
}

// Observe implements imapstore.Observer.
func (o Observer) Observe(latency time.Duration, overloaded bool, retryAfter time.Duration) {
	o.H.Observe(o.Target, latency, overloaded, retryAfter)
}
