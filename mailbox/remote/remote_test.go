package remote

import (
	"context"
	"flag"
	"net"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/mailrepl/mailrepl/mailbox"
	"github.com/mailrepl/mailrepl/mailbox/mailboxtest"
	"github.com/mailrepl/mailrepl/mailbox/maildir"
	"github.com/mailrepl/mailrepl/mailbox/memstore"
)

var seed = flag.Uint64("seed", 0, "seed of the randomized model test (0: from the clock)")

const testToken = "s3cret-token"

// testServer is an in-process server on 127.0.0.1 over stores that open
// makes.
type testServer struct {
	addr string
	srv  *Server
}

func startServer(t testing.TB, opts ServerOptions) *testServer {
	t.Helper()
	if opts.Token == "" {
		opts.Token = testToken
	}
	srv, err := NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(l, nil) }()
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Errorf("server Close: %v", err)
		}
		<-done
	})
	return &testServer{addr: l.Addr().String(), srv: srv}
}

// maildirOpener opens users' Maildirs below root.
func maildirOpener(root string) Opener {
	return func(_ context.Context, user string, readOnly bool) (mailbox.Store, error) {
		return maildir.Open(filepath.Join(root, user), &maildir.Options{ReadOnly: readOnly})
	}
}

func dial(t testing.TB, addr, user string, opts *Options) mailbox.Store {
	t.Helper()
	if opts == nil {
		opts = &Options{}
	}
	if opts.Token == "" {
		opts.Token = testToken
	}
	s, err := Dial(context.Background(), addr, user, opts)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// conformance runs the suite over a server whose stores open makes.
func conformance(t *testing.T, open Opener, privateFlags []mailbox.Flag, badNames []string, persists bool) {
	ts := startServer(t, ServerOptions{Open: open})
	var n atomic.Int64
	var mu sync.Mutex
	users := map[mailbox.Store]string{}
	h := mailboxtest.Harness{
		New: func(t *testing.T) mailbox.Store {
			user := "u" + strconv.FormatInt(n.Add(1), 10)
			s := dial(t, ts.addr, user, nil)
			mu.Lock()
			users[s] = user
			mu.Unlock()
			return s
		},
		PrivateFlags: privateFlags,
		BadNames:     badNames,
		Seed:         *seed,
	}
	if persists {
		h.Reopen = func(t *testing.T, s mailbox.Store) mailbox.Store {
			mu.Lock()
			user := users[s]
			mu.Unlock()
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			s = dial(t, ts.addr, user, nil)
			mu.Lock()
			users[s] = user
			mu.Unlock()
			return s
		}
	}
	mailboxtest.Run(t, h)
}

// TestConformanceMaildir runs the conformance suite against remote stores
// over TCP on 127.0.0.1, each a Maildir behind the server: the client
// has what the Maildir has (UIDSetter, Batcher, IndexScanner, Settler)
// and keeps its private flags.
func TestConformanceMaildir(t *testing.T) {
	conformance(t, maildirOpener(t.TempDir()), []mailbox.Flag{mailbox.Passed, "%Maildir-X"},
		[]string{"...x", "x..", "a.b", "a/b.c", "~x"}, true)
}

// TestConformanceMemstore runs the suite over memstores, which are
// ChangeTrackers: Changes crosses the wire too.
func TestConformanceMemstore(t *testing.T) {
	var mu sync.Mutex
	stores := map[string]*memstore.Store{}
	open := func(_ context.Context, user string, _ bool) (mailbox.Store, error) {
		mu.Lock()
		defer mu.Unlock()
		if s, ok := stores[user]; ok {
			// A reopened memstore: its clone holds the same mail.
			return s.Clone()
		}
		s := memstore.New(nil)
		stores[user] = s
		return s, nil
	}
	conformance(t, open, nil, nil, false)
}
