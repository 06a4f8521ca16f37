package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"time"

	"google.golang.org/grpc/credentials"

	"github.com/mailrepl/mailrepl/internal/batch"
	"github.com/mailrepl/mailrepl/mailbox"
	"github.com/mailrepl/mailrepl/mailbox/remote"
)

type serveConfig struct {
	listen     string
	store      batch.Template
	token      string
	cert, key  string
	clientCA   string
	maxConns   int
	maxStreams int
	retryAfter time.Duration
	logLevel   slog.Level
}

func parseServe(args []string, stderr io.Writer) (*serveConfig, int) {
	fs := flag.NewFlagSet("mailrepld serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, "usage: mailrepld serve -listen ADDR -store TMPL -token-file FILE [-tls-cert FILE -tls-key FILE] [-client-ca FILE] [-max-conns N]\n\n")
		fs.PrintDefaults()
	}
	var c serveConfig
	var store, tokenFile string
	var verbose bool
	fs.StringVar(&c.listen, "listen", "", "address to listen on, HOST:PORT (plaintext only on a loopback address)")
	fs.StringVar(&store, "store", "", "template of the users' stores, e.g. maildir:/srv/mail/{user}")
	fs.StringVar(&tokenFile, "token-file", "", "file whose first line is the bearer token clients must send")
	fs.StringVar(&c.cert, "tls-cert", "", "the server's certificate (PEM); with -tls-key, TLS 1.3")
	fs.StringVar(&c.key, "tls-key", "", "the private key of -tls-cert (PEM)")
	fs.StringVar(&c.clientCA, "client-ca", "", "CA certificates (PEM) that clients' certificates must chain to (mutual TLS)")
	fs.IntVar(&c.maxConns, "max-conns", 0, "connections served at once; calls on more are refused as overloaded (0: no cap)")
	fs.IntVar(&c.maxStreams, "max-streams", 256, "calls in flight at once; more are refused as overloaded")
	fs.DurationVar(&c.retryAfter, "retry-after", time.Second, "the delay an overloaded answer asks clients to wait")
	fs.BoolVar(&verbose, "v", false, "log every session, not only warnings")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, 0
		}
		return nil, 2
	}
	bad := func(format string, a ...any) (*serveConfig, int) {
		fmt.Fprintf(stderr, "mailrepld serve: "+format+"\n", a...)
		return nil, 2
	}
	if fs.NArg() > 0 {
		return bad("unexpected argument %q", fs.Arg(0))
	}
	if c.listen == "" || store == "" || tokenFile == "" {
		return bad("-listen, -store and -token-file are required")
	}
	var err error
	if c.store, err = batch.ParseTemplate(store); err != nil {
		return bad("-store: %v", err)
	}
	if !c.store.Writable() {
		return bad("-store %s: only maildir stores can be served", store)
	}
	if (c.cert == "") != (c.key == "") {
		return bad("-tls-cert and -tls-key go together")
	}
	if c.clientCA != "" && c.cert == "" {
		return bad("-client-ca needs -tls-cert and -tls-key")
	}
	if c.maxConns < 0 || c.maxStreams <= 0 {
		return bad("-max-conns must be 0 or more, -max-streams more than 0")
	}
	if c.token, err = readToken(tokenFile); err != nil {
		return bad("-token-file: %v", err)
	}
	c.logLevel = slog.LevelWarn
	if verbose {
		c.logLevel = slog.LevelInfo
	}
	return &c, 0
}

// readToken reads the first line of a token file.
func readToken(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	line, err := bufio.NewReader(f).ReadString('\n')
	if err != nil && err != io.EOF {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	tok := strings.TrimSpace(line)
	if tok == "" {
		return "", fmt.Errorf("%s: the first line holds no token", path)
	}
	return tok, nil
}

// serverTLS is the server's TLS 1.3 configuration.
func (c *serveConfig) serverTLS() (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(c.cert, c.key)
	if err != nil {
		return nil, fmt.Errorf("-tls-cert/-tls-key: %w", err)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS13}
	if c.clientCA != "" {
		pem, err := os.ReadFile(c.clientCA)
		if err != nil {
			return nil, fmt.Errorf("-client-ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("-client-ca %s: no PEM certificate", c.clientCA)
		}
		cfg.ClientCAs = pool
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return cfg, nil
}

func serve(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	c, code := parseServe(args, stderr)
	if c == nil {
		return code
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: c.logLevel}))
	fail := func(err error) int {
		fmt.Fprintf(stderr, "mailrepld serve: %v\n", err)
		return 1
	}
	var creds credentials.TransportCredentials
	if c.cert != "" {
		cfg, err := c.serverTLS()
		if err != nil {
			return fail(err)
		}
		creds = credentials.NewTLS(cfg)
	} else if host, _, err := net.SplitHostPort(c.listen); err != nil || !remote.IsLoopback(host) {
		return fail(fmt.Errorf("-listen %s: %w: without -tls-cert and -tls-key the server listens on a loopback address only", c.listen, remote.ErrInsecure))
	}
	tmpl := c.store
	srv, err := remote.NewServer(remote.ServerOptions{
		Open: func(_ context.Context, user string, readOnly bool) (mailbox.Store, error) {
			return tmpl.Open(user, batch.OpenOptions{ReadOnly: readOnly, Logger: log})
		},
		Token:      c.token,
		MaxConns:   c.maxConns,
		MaxStreams: c.maxStreams,
		RetryAfter: c.retryAfter,
		Logger:     log,
	})
	if err != nil {
		return fail(err)
	}
	l, err := net.Listen("tcp", c.listen)
	if err != nil {
		return fail(err)
	}
	tlsNote := "plaintext (loopback)"
	if creds != nil {
		tlsNote = "TLS 1.3"
		if c.clientCA != "" {
			tlsNote += ", client certificates required"
		}
	}
	// With -listen 127.0.0.1:0 this line tells the port chosen.
	fmt.Fprintf(stderr, "mailrepld: serving %s on %s, %s\n", tmpl, l.Addr(), tlsNote)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(l, creds) }()
	select {
	case err = <-errc:
		srv.Close()
		return fail(err)
	case <-ctx.Done():
	}
	if err := srv.Close(); err != nil {
		fmt.Fprintf(stderr, "mailrepld serve: closing stores: %v\n", err)
		return 1
	}
	<-errc
	return 0
}
