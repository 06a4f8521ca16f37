package imapstore

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"github.com/mailrepl/mailrepl/mailbox"
	"github.com/mailrepl/mailrepl/uid"
)

// Security is how a store protects its connection.
type Security int

const (
	// TLS is implicit TLS from the first byte (imaps://, port 993).
	TLS Security = iota
	// StartTLS upgrades a plain connection with STARTTLS before logging
	// in (imap://, port 143); a server that does not offer it is refused.
	StartTLS
	// Plain sends everything, the password included, in clear text. It
	// is allowed only to a loopback address (a test server, a local
	// Dovecot reached through an SSH tunnel).
	Plain
)

func (s Security) String() string {
	switch s {
	case TLS:
		return "tls"
	case StartTLS:
		return "starttls"
	case Plain:
		return "plain"
	}
	return fmt.Sprintf("Security(%d)", int(s))
}

// Auth is how a store logs in.
type Auth struct {
	// User is the account whose mail the store reaches.
	User string
	// Password is User's password or, with Admin, Admin's.
	Password string
	// Admin, when set, logs in as this administrator (a Dovecot master
	// user, a Cyrus admin) with SASL PLAIN, authorizing as User.
	Admin string
	// Token, when set, is an OAuth 2.0 bearer token for User, sent with
	// OAUTHBEARER (RFC 7628) or XOAUTH2, whichever the server offers;
	// Password is then unused.
	Token string
}

// Observer is told how the server answers, so that a rate limiter slows
// down a server that asks for it (ratelimit's Observe, with the side
// fixed by the program). overloaded: the server said it is busy or
// throttling (NO [LIMIT], [UNAVAILABLE], [INUSE], THROTTLED, a BYE for
// too many connections); retryAfter: the pause it asked for, if any
// (Office 365's "Suggested Backoff Time").
type Observer interface {
	Observe(latency time.Duration, overloaded bool, retryAfter time.Duration)
}

// Cache remembers EmailIDs by store, mailbox ID, UIDVALIDITY and UID, so
// that a listing gives the EmailIDs of messages whose bodies were read
// once (replica.EmailIDCache, the journal's, has these methods).
type Cache interface {
	EmailID(store string, mbox mailbox.ID, v uid.Validity, u uid.UID) (mailbox.EmailID, bool, error)
	PutEmailID(store string, mbox mailbox.ID, v uid.Validity, u uid.UID, id mailbox.EmailID) error
}

// Options configures a [Store]. Addr and Auth.User are required.
type Options struct {
	// Addr is the server's host:port.
	Addr string
	// Security: TLS (the zero value), StartTLS or Plain.
	Security Security
	// TLSConfig verifies the server; nil means the system's roots and
	// the host of Addr as server name.
	TLSConfig *tls.Config
	Auth      Auth

	// Name names the store in errors. Default "imap://USER@ADDR" (or
	// imaps://).
	Name string
	// Pool caps the connections to the server, shared with the other
	// stores of that server. Nil: a pool of DefaultConns of its own.
	Pool *Pool
	// Timeout bounds every command (and every 1 MiB of a literal
	// sent or read): a server that stops answering is given up on after
	// it, the connection closed and the operation failed with an error
	// wrapping ErrTransient. Default 2 minutes.
	Timeout time.Duration
	// Observer, if not nil, is told of the server's requests to slow
	// down.
	Observer Observer
	// Cache and CacheID, if Cache is not nil: EmailIDs of the messages
	// whose bodies the store read or appended are kept there under
	// CacheID (default Name), and listings give them.
	Cache   Cache
	CacheID string
	// BadChars are characters the server refuses in mailbox names (a
	// Dovecot on Maildir++ refuses '.'): names holding one fail at once
	// with ErrInvalidName, whatever the operation.
	BadChars string
	// Debug, if not nil, receives the protocol exchanged, credentials
	// included: for tests only.
	Debug io.Writer
	// Dial, if not nil, replaces net.Dialer.DialContext (tests).
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
}

// withDefaults checks o and returns a copy with its defaults filled in.
func (o Options) withDefaults() (Options, error) {
	var errs []error
	host, _, err := net.SplitHostPort(o.Addr)
	if err != nil {
		errs = append(errs, fmt.Errorf("imapstore: address %q: %v", o.Addr, err))
	}
	if o.Auth.User == "" {
		errs = append(errs, errors.New("imapstore: no user"))
	}
	if o.Auth.Password == "" && o.Auth.Token == "" {
		errs = append(errs, errors.New("imapstore: no password or token"))
	}
	if o.Security == Plain && err == nil && !IsLoopback(host) {
		errs = append(errs, fmt.Errorf("imapstore: %s: a plaintext login is allowed only to a loopback address: use imaps:// or imap:// with STARTTLS", o.Addr))
	}
	if o.Security < TLS || o.Security > Plain {
		errs = append(errs, fmt.Errorf("imapstore: unknown security %d", int(o.Security)))
	}
	if len(errs) > 0 {
		return o, errors.Join(errs...)
	}
	if o.Name == "" {
		scheme := "imap"
		if o.Security == TLS {
			scheme = "imaps"
		}
		o.Name = scheme + "://" + o.Auth.User + "@" + o.Addr
	}
	if o.CacheID == "" {
		o.CacheID = o.Name
	}
	if o.Pool == nil {
		o.Pool = NewPool(DefaultConns)
	}
	if o.Timeout <= 0 {
		o.Timeout = 2 * time.Minute
	}
	if o.TLSConfig == nil {
		o.TLSConfig = &tls.Config{}
	} else {
		o.TLSConfig = o.TLSConfig.Clone()
	}
	if o.TLSConfig.ServerName == "" {
		o.TLSConfig.ServerName = host
	}
	if o.TLSConfig.MinVersion == 0 {
		o.TLSConfig.MinVersion = tls.VersionTLS12
	}
	return o, nil
}

// IsLoopback reports whether host (a name or an address) is a loopback
// address: "localhost", 127.0.0.0/8 or ::1.
func IsLoopback(host string) bool {
	host = strings.Trim(host, "[]")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
