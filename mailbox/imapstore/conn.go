package imapstore

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-sasl"
)

// conn is one logged-in connection. It is used by one operation at a time.
type conn struct {
	c     *imapclient.Client
	caps  imap.CapSet
	delim rune // the hierarchy separator; 0 when the server has none

	// The mailbox selected, by its server name, and its UIDVALIDITY.
	selected  string
	validity  uint32
	condstore bool // SELECT (CONDSTORE) was given

	killed atomic.Pointer[error] // why the guard closed it
	last   atomic.Int64          // unix nanoseconds of the last progress
}

// errTimeout is the cause of an operation the server did not answer in
// time.
var errTimeout = errors.New("the server did not answer in time")

// dead reports whether the connection can no longer be used.
func (c *conn) dead() bool {
	if c.killed.Load() != nil {
		return true
	}
	select {
	case <-c.c.Closed():
		return true
	default:
		return false
	}
}

func (c *conn) close() {
	_ = c.c.Close()
}

// logout ends the session politely, bounded by d.
func (c *conn) logout(d time.Duration) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = c.c.Logout().Wait()
	}()
	select {
	case <-done:
	case <-time.After(d):
	}
	c.close()
}

// guard closes the connection when ctx ends, or when d passes without
// progress (a command answered, a piece of a literal moved: see touch),
// before the returned stop is called; stop reports why it was closed (nil
// if it was not). Closing is the only way to interrupt imapclient.
func (c *conn) guard(ctx context.Context, d time.Duration) (stop func() error) {
	quit := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	c.touch()
	go func() {
		defer wg.Done()
		tick := time.NewTicker(max(d/4, 10*time.Millisecond))
		defer tick.Stop()
		var why error
	wait:
		for {
			select {
			case <-quit:
				return
			case <-ctx.Done():
				why = ctx.Err()
				break wait
			case <-tick.C:
				if time.Since(time.Unix(0, c.last.Load())) > d {
					why = errTimeout
					break wait
				}
			}
		}
		c.killed.CompareAndSwap(nil, &why)
		c.close()
	}()
	return func() error {
		close(quit)
		wg.Wait()
		if p := c.killed.Load(); p != nil {
			return *p
		}
		return nil
	}
}

// touch records progress, for the guard.
func (c *conn) touch() { c.last.Store(time.Now().UnixNano()) }

// dial opens and logs in a connection.
func (s *Store) dial(ctx context.Context) (*conn, error) {
	o := &s.opt
	dialCtx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	dial := o.Dial
	if dial == nil {
		dial = (&net.Dialer{}).DialContext
	}
	start := time.Now()
	raw, err := dial(dialCtx, "tcp", o.Addr)
	if err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	copts := &imapclient.Options{TLSConfig: o.TLSConfig, DebugWriter: s.debug}
	if o.Security == TLS {
		cfg := o.TLSConfig.Clone()
		if cfg.NextProtos == nil {
			cfg.NextProtos = []string{"imap"}
		}
		tc := tls.Client(raw, cfg)
		if err := tc.HandshakeContext(dialCtx); err != nil {
			raw.Close()
			return nil, fmt.Errorf("TLS: %w", err)
		}
		raw = tc
	}
	c := &conn{}
	// A raw guard: the client does not exist yet when STARTTLS runs.
	stopRaw := context.AfterFunc(dialCtx, func() { raw.Close() })
	if o.Security == StartTLS {
		c.c, err = imapclient.NewStartTLS(raw, copts)
		if err != nil {
			stopRaw()
			raw.Close()
			if dialCtx.Err() != nil {
				err = errors.Join(err, dialCtx.Err())
			}
			return nil, fmt.Errorf("STARTTLS (required by imap://): %w", err)
		}
	} else {
		c.c = imapclient.New(raw, copts)
	}
	stopRaw()
	stop := c.guard(ctx, o.Timeout)
	err = c.login(o)
	if why := stop(); why != nil {
		err = errors.Join(why, err)
	}
	if err != nil {
		c.close()
		return nil, err
	}
	s.observe(time.Since(start), err)
	return c, nil
}

// login waits for the greeting, logs in and learns the capabilities and
// the hierarchy separator.
func (c *conn) login(o *Options) error {
	if err := c.c.WaitGreeting(); err != nil {
		return fmt.Errorf("greeting: %w", err)
	}
	if c.c.State() == imap.ConnStateNotAuthenticated {
		if err := c.authenticate(o.Auth); err != nil {
			return err
		}
	}
	caps, err := c.c.Capability().Wait()
	if err != nil {
		return fmt.Errorf("CAPABILITY: %w", err)
	}
	c.caps = caps
	list, err := c.c.List("", "", nil).Collect()
	if err != nil {
		return fmt.Errorf("LIST for the hierarchy separator: %w", err)
	}
	if len(list) > 0 {
		c.delim = list[0].Delim
	}
	return nil
}

func (c *conn) authenticate(a Auth) error {
	caps := c.c.Caps()
	switch {
	case a.Token != "":
		switch {
		case caps.Has("AUTH=OAUTHBEARER"):
			err := c.c.Authenticate(sasl.NewOAuthBearerClient(&sasl.OAuthBearerOptions{Username: a.User, Token: a.Token}))
			return loginErr("AUTHENTICATE OAUTHBEARER", a.User, err)
		case caps.Has("AUTH=XOAUTH2"):
			return loginErr("AUTHENTICATE XOAUTH2", a.User, c.c.Authenticate(xoauth2{user: a.User, token: a.Token}))
		}
		return fmt.Errorf("login %s: %w: the server offers neither OAUTHBEARER nor XOAUTH2 for a bearer token", a.User, errAuth)
	case a.Admin != "":
		if !caps.Has("AUTH=PLAIN") {
			return fmt.Errorf("login %s as admin %s: %w: the server does not offer AUTH=PLAIN", a.User, a.Admin, errAuth)
		}
		return loginErr("AUTHENTICATE PLAIN as "+a.Admin, a.User, c.c.Authenticate(sasl.NewPlainClient(a.User, a.Admin, a.Password)))
	case caps.Has("AUTH=PLAIN"):
		return loginErr("AUTHENTICATE PLAIN", a.User, c.c.Authenticate(sasl.NewPlainClient("", a.User, a.Password)))
	case caps.Has(imap.CapLoginDisabled):
		return fmt.Errorf("login %s: %w: the server disabled LOGIN and offers no AUTH=PLAIN", a.User, errAuth)
	}
	return loginErr("LOGIN", a.User, c.c.Login(a.User, a.Password).Wait())
}

// errAuth marks a refused login: not worth retrying.
var errAuth = errors.New("login refused")

func loginErr(how, user string, err error) error {
	if err == nil {
		return nil
	}
	var ie *imap.Error
	if errors.As(err, &ie) {
		return fmt.Errorf("%s %s: %w: %w", how, user, errAuth, err)
	}
	return fmt.Errorf("%s %s: %w", how, user, err)
}

// xoauth2 is Google's and Microsoft's XOAUTH2 SASL mechanism, which
// go-sasl lacks: one message, "user=U^Aauth=Bearer T^A^A". On failure the
// server sends a JSON challenge, answered with an empty response.
type xoauth2 struct{ user, token string }

func (x xoauth2) Start() (string, []byte, error) {
	return "XOAUTH2", []byte("user=" + x.user + "\x01auth=Bearer " + x.token + "\x01\x01"), nil
}

func (x xoauth2) Next(challenge []byte) ([]byte, error) { return []byte{}, nil }
