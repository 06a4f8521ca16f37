package batch

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"github.com/mailrepl/mailrepl/mailbox"
	"github.com/mailrepl/mailrepl/mailbox/remote"
	"github.com/mailrepl/mailrepl/ratelimit"
)

// The mailrepl scheme: "mailrepl://HOST:PORT/{user}", a user's store on a
// machine that runs `mailrepld serve` ([remote.Dial]). Its credentials
// come from an auth file ([Template.WithAuth]).
const remotePrefix = "mailrepl://"

// parseRemote parses a mailrepl:// template. The path is {user} alone:
// the server's own template says where the store lies.
func parseRemote(s string) (Template, error) {
	rest := strings.TrimPrefix(s, remotePrefix)
	addr, path, ok := strings.Cut(rest, "/")
	if !ok || path != UserVar {
		return Template{}, fmt.Errorf("%w %q: want mailrepl://HOST:PORT/%s", ErrTemplate, s, UserVar)
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil || host == "" || port == "" {
		return Template{}, fmt.Errorf("%w %q: want mailrepl://HOST:PORT/%s", ErrTemplate, s, UserVar)
	}
	return Template{raw: s, scheme: "mailrepl", path: addr + "/" + UserVar, base: addr}, nil
}

// RemoteAuth is what a client of a mailrepl:// store presents.
type RemoteAuth struct {
	Token string
	// CAFile verifies the server's certificate; "" means the system's
	// roots.
	CAFile string
	// CertFile and KeyFile are the client's certificate, for servers
	// that require one (mutual TLS).
	CertFile, KeyFile string
	// Plaintext speaks without TLS, which only a loopback address
	// allows.
	Plaintext bool
}

// ReadRemoteAuth reads the auth file of a mailrepl:// template. Its first
// line is the bearer token; each later line that is not blank or a
// '#' comment is one of
//
//	ca-file PATH     CA certificates (PEM) that verify the server
//	cert-file PATH   the client's certificate (PEM), for mutual TLS
//	key-file PATH    the client's private key (PEM)
//	plaintext        no TLS: allowed to a loopback address only
func ReadRemoteAuth(path string) (*RemoteAuth, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	a := &RemoteAuth{}
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if n == 1 {
			if a.Token = line; a.Token == "" {
				return nil, fmt.Errorf("%s: the first line holds no token", path)
			}
			continue
		}
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		key, val, _ := strings.Cut(line, " ")
		val = strings.TrimSpace(val)
		switch {
		case key == "ca-file" && val != "":
			a.CAFile = val
		case key == "cert-file" && val != "":
			a.CertFile = val
		case key == "key-file" && val != "":
			a.KeyFile = val
		case key == "plaintext" && val == "":
			a.Plaintext = true
		default:
			return nil, fmt.Errorf("%s:%d: want ca-file PATH, cert-file PATH, key-file PATH or plaintext", path, n)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if a.Token == "" {
		return nil, fmt.Errorf("%s: empty: the first line must hold the token", path)
	}
	if (a.CertFile == "") != (a.KeyFile == "") {
		return nil, fmt.Errorf("%s: cert-file and key-file go together", path)
	}
	return a, nil
}

// WithAuth returns t with the credentials of the auth file at path
// ([ReadRemoteAuth]). Only mailrepl:// templates take one.
func (t Template) WithAuth(path string) (Template, error) {
	if t.scheme != "mailrepl" {
		return t, fmt.Errorf("%w %q: an auth file is for mailrepl://, imap:// and imaps:// stores", ErrTemplate, t.raw)
	}
	a, err := ReadRemoteAuth(path)
	if err != nil {
		return t, err
	}
	t.auth = a
	return t, nil
}

// tlsConfig is the client's TLS configuration of a.
func (a *RemoteAuth) tlsConfig() (*tls.Config, error) {
	if a.Plaintext {
		return nil, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS13}
	if a.CAFile != "" {
		pem, err := os.ReadFile(a.CAFile)
		if err != nil {
			return nil, err
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s: no PEM certificate", a.CAFile)
		}
		cfg.RootCAs = pool
	}
	if a.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(a.CertFile, a.KeyFile)
		if err != nil {
			return nil, err
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

// dialTimeout bounds the handshake with a server.
const dialTimeout = time.Minute

// openRemote dials user's store on the template's server.
func (t Template) openRemote(user string, opts OpenOptions) (mailbox.Store, error) {
	if _, err := t.Expand(user); err != nil {
		return nil, err
	}
	if t.auth == nil {
		return nil, fmt.Errorf("%w %q: no auth file: give the token in one (-source-auth, -target-auth, -into-auth, -from-auth)", ErrTemplate, t.raw)
	}
	cfg, err := t.auth.tlsConfig()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", t.raw, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), dialTimeout)
	defer cancel()
	return remote.Dial(ctx, t.base, user, &remote.Options{
		Token: t.auth.Token, TLS: cfg, ReadOnly: opts.ReadOnly, Observer: opts.Observer,
	})
}

// WithAuthFlag is WithAuth for the program flag named flag ("source-auth"):
// a mailrepl:// template needs it, and path "" leaves other templates as
// they are.
func (t Template) WithAuthFlag(flag, path string) (Template, error) {
	switch {
	case path == "" && t.scheme == "mailrepl":
		return t, fmt.Errorf("%s needs -%s FILE (its first line: the token)", t.raw, flag)
	case path == "", t.imap != nil:
		// An IMAP template's auth file is read by LoadIMAP.
		return t, nil
	}
	u, err := t.WithAuth(path)
	if err != nil {
		return t, fmt.Errorf("-%s: %w", flag, err)
	}
	return u, nil
}

// SideObserver is the remote.Observer of a rate limiter's handle for one
// side of a sync (target false: the source's server).
func SideObserver(h *ratelimit.Handle, target bool) remote.Observer {
	if h == nil {
		return nil
	}
	return sideObserver{h, target}
}

type sideObserver struct {
	h      *ratelimit.Handle
	target bool
}

func (o sideObserver) Observe(latency time.Duration, overloaded bool, retryAfter time.Duration) {
	o.h.Observe(o.target, latency, overloaded, retryAfter)
}

// Remote reports whether t names stores on a mailrepl server.
func (t Template) Remote() bool { return t.scheme == "mailrepl" }
