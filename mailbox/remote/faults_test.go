package remote

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mailrepl/mailrepl/mailbox"
	"github.com/mailrepl/mailrepl/mailbox/memstore"
	"github.com/mailrepl/mailrepl/uid"
)

func memOpener() Opener {
	var mu sync.Mutex
	stores := map[string]*memstore.Store{}
	return func(_ context.Context, user string, _ bool) (mailbox.Store, error) {
		mu.Lock()
		defer mu.Unlock()
		if s, ok := stores[user]; ok {
			return s.Clone()
		}
		s := memstore.New(nil)
		stores[user] = s
		return s, nil
	}
}

// TestVersions: client and server agree on the highest version both
// speak, or the client's Dial fails naming both ranges.
func TestVersions(t *testing.T) {
	tests := []struct {
		name           string
		client, server [2]uint32
		want           uint32 // 0: refused
	}{
		{"same", [2]uint32{1, 1}, [2]uint32{1, 1}, 1},
		{"newer server", [2]uint32{1, 1}, [2]uint32{1, 2}, 1},
		{"newer client", [2]uint32{1, 3}, [2]uint32{1, 2}, 2},
		{"too old client", [2]uint32{1, 1}, [2]uint32{2, 3}, 0},
		{"too old server", [2]uint32{3, 4}, [2]uint32{1, 2}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ts := startServer(t, ServerOptions{Open: memOpener(), minVersion: tc.server[0], maxVersion: tc.server[1]})
			s, err := Dial(context.Background(), ts.addr, "alice", &Options{Token: testToken, minVersion: tc.client[0], maxVersion: tc.client[1]})
			if tc.want == 0 {
				if !errors.Is(err, ErrVersion) {
					t.Fatalf("Dial = %v, want an error wrapping ErrVersion", err)
				}
				for _, r := range []string{"client speaks versions", "server"} {
					if !strings.Contains(err.Error(), r) {
						t.Errorf("error %q does not name %q", err, r)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if got := s.(interface{ Version() int }).Version(); got != int(tc.want) {
				t.Errorf("version %d, want %d", got, tc.want)
			}
		})
	}
}

// observer records what a client tells it.
type observer struct {
	mu  sync.Mutex
	obs []time.Duration // retryAfter of each overloaded answer
}

func (o *observer) Observe(_ time.Duration, overloaded bool, retryAfter time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if overloaded {
		o.obs = append(o.obs, retryAfter)
	}
}

func (o *observer) seen() []time.Duration {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]time.Duration(nil), o.obs...)
}

// TestMaxConns: a connection beyond MaxConns is answered "overloaded,
// retry after D", which the client tells its observer, and retries; when
// it gives up, its error is transient and says when to retry.
func TestMaxConns(t *testing.T) {
	ts := startServer(t, ServerOptions{Open: memOpener(), MaxConns: 1, RetryAfter: 20 * time.Millisecond})
	first := dial(t, ts.addr, "alice", nil)
	ob := &observer{}
	_, err := Dial(context.Background(), ts.addr, "bob", &Options{Token: testToken, Observer: ob, Retries: 2})
	if !errors.Is(err, ErrOverloaded) || !errors.Is(err, mailbox.ErrTransient) {
		t.Fatalf("Dial beyond MaxConns = %v, want ErrOverloaded and ErrTransient", err)
	}
	if d, ok := RetryAfter(err); !ok || d != 20*time.Millisecond {
		t.Errorf("RetryAfter = %v, %v; want 20ms", d, ok)
	}
	if got := ob.seen(); len(got) != 3 || got[0] != 20*time.Millisecond {
		t.Errorf("observed %v, want three overloaded answers asking for 20ms", got)
	}
	// Once the first connection is gone, a client that retries long
	// enough gets in.
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	s, err := Dial(context.Background(), ts.addr, "bob", &Options{Token: testToken, Retries: 1000})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
}

// slowStore is a store whose Status of "Slow" waits until release is
// closed, after telling entered.
type slowStore struct {
	mailbox.Store
	entered chan struct{}
	release chan struct{}
}

func (s *slowStore) Status(ctx context.Context, name string) (mailbox.Info, error) {
	if name == "Slow" {
		close(s.entered)
		<-s.release
	}
	return s.Store.Status(ctx, name)
}

// TestMaxStreams: a call beyond MaxStreams in flight is refused as
// overloaded; the client tells its observer, waits as asked and tries
// again, and succeeds once the slot is free.
func TestMaxStreams(t *testing.T) {
	slow := &slowStore{entered: make(chan struct{}), release: make(chan struct{})}
	open := func(_ context.Context, _ string, _ bool) (mailbox.Store, error) {
		slow.Store = memstore.New(nil)
		return slow, nil
	}
	ts := startServer(t, ServerOptions{Open: open, MaxStreams: 1, RetryAfter: 10 * time.Millisecond})
	ob := &observer{}
	s := dial(t, ts.addr, "alice", &Options{Observer: ob, Retries: 100000})
	defer s.Close()
	ctx := context.Background()
	held := make(chan error, 1)
	go func() {
		_, err := s.Status(ctx, "Slow")
		held <- err
	}()
	<-slow.entered
	done := make(chan error, 1)
	go func() {
		_, err := s.Status(ctx, mailbox.Inbox)
		done <- err
	}()
	// The second call is refused while the first holds the slot: wait
	// until the observer saw it, then free the slot.
	deadline := time.Now().Add(time.Minute)
	for len(ob.seen()) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no overloaded answer within a minute")
		}
		time.Sleep(time.Millisecond)
	}
	close(slow.release)
	if err := <-held; !errors.Is(err, mailbox.ErrNotFound) {
		t.Fatalf("Status(Slow) = %v, want ErrNotFound", err)
	}
	if err := <-done; err != nil {
		t.Fatalf("Status after the slot was freed: %v", err)
	}
	if got := ob.seen(); got[0] != 10*time.Millisecond {
		t.Errorf("observed %v, want retry after 10ms", got)
	}
}

// TestIdleTimeout: a server that stops answering in the middle of a body
// fails the read with a transient error after IdleTimeout, not never.
func TestIdleTimeout(t *testing.T) {
	ts := startServer(t, ServerOptions{Open: memOpener()})
	p := startProxy(t, ts.addr)
	s := dial(t, p.addr, "alice", &Options{IdleTimeout: 500 * time.Millisecond, Keepalive: time.Hour})
	defer s.Close()
	ctx := context.Background()
	body := bytes.Repeat([]byte("0123456789abcdef"), 1<<20/16*8) // 8 MiB
	u, err := s.Append(ctx, mailbox.Inbox, mailbox.BytesLiteral(body), mailbox.AppendMeta{})
	if err != nil {
		t.Fatal(err)
	}
	rc, err := s.Open(ctx, mailbox.Inbox, u)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	buf := make([]byte, 1<<20)
	if _, err := io.ReadFull(rc, buf); err != nil {
		t.Fatal(err)
	}
	p.freeze() // the server goes silent
	_, err = io.Copy(io.Discard, rc)
	if !errors.Is(err, mailbox.ErrTransient) || !strings.Contains(err.Error(), "no answer") {
		t.Fatalf("read from a silent server = %v, want a transient 'no answer' error", err)
	}
}

// TestCutMidBody: a connection cut in the middle of an append's body
// stores nothing; a connection cut in the middle of a batch undoes the
// batch; the next attempt stores the message once.
func TestCutMidBody(t *testing.T) {
	ts := startServer(t, ServerOptions{Open: memOpener()})
	p := startProxy(t, ts.addr)
	s := dial(t, p.addr, "alice", nil)
	defer s.Close()
	ctx := context.Background()
	body := bytes.Repeat([]byte("line of a long message\r\n"), 400_000) // ~9.6 MB
	lit := &cuttingReader{r: bytes.NewReader(body), after: 1 << 20, cut: p.cut}
	_, err := s.Append(ctx, mailbox.Inbox, mailbox.NewLiteral(lit, int64(len(body))), mailbox.AppendMeta{})
	if !errors.Is(err, mailbox.ErrTransient) {
		t.Fatalf("append over a cut connection = %v, want a transient error", err)
	}
	b, err := s.(mailbox.Batcher).Batch(ctx, mailbox.Inbox)
	if err == nil {
		if _, err := b.Append(ctx, mailbox.BytesLiteral([]byte("Subject: a\r\n\r\nbatched\r\n")), mailbox.AppendMeta{}); err != nil {
			t.Fatal(err)
		}
		lit := &cuttingReader{r: bytes.NewReader(body), after: 1 << 20, cut: p.cut}
		_, err = b.Append(ctx, mailbox.NewLiteral(lit, int64(len(body))), mailbox.AppendMeta{})
		if err == nil {
			t.Fatal("a batch append over a cut connection succeeded")
		}
		if err := b.Commit(ctx); err == nil {
			t.Fatal("commit of a broken batch succeeded")
		}
		b.Close()
	}
	// The server saw the cuts: nothing was stored.
	direct := dial(t, ts.addr, "alice", nil)
	defer direct.Close()
	// The server undoes a cut batch when it sees the stream end, which
	// may come a moment after the client's error: wait for it.
	n := 0
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		n = 0
		for _, err := range direct.Messages(ctx, mailbox.Inbox, uid.All) {
			if err != nil {
				t.Fatal(err)
			}
			n++
		}
		if n == 0 || time.Now().After(deadline) {
			break
		}
	}
	if n != 0 {
		t.Fatalf("%d messages stored after cut appends, want none", n)
	}
	if _, err := direct.Append(ctx, mailbox.Inbox, mailbox.BytesLiteral(body), mailbox.AppendMeta{}); err != nil {
		t.Fatal(err)
	}
}

// cuttingReader reads r, and calls cut once after bytes were read.
type cuttingReader struct {
	r     io.Reader
	after int
	n     int
	cut   func()
	once  sync.Once
}

func (c *cuttingReader) Read(p []byte) (int, error) {
	if c.n >= c.after {
		c.once.Do(c.cut)
	}
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

// proxy forwards TCP connections to a server; freeze stops forwarding
// (a server that went silent), cut closes every connection.
type proxy struct {
	addr  string
	mu    sync.Mutex
	conns []net.Conn
	quiet chan struct{}
	once  sync.Once
}

func startProxy(t *testing.T, target string) *proxy {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{addr: l.Addr().String(), quiet: make(chan struct{})}
	t.Cleanup(func() { l.Close(); p.cut() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, s)
			p.mu.Unlock()
			go p.pipe(c, s)
			go p.pipe(s, c)
		}
	}()
	return p
}

func (p *proxy) pipe(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		select {
		case <-p.quiet:
			<-make(chan struct{}) // hold: nothing more goes through
		default:
		}
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			dst.Close()
			return
		}
	}
}

func (p *proxy) freeze() { p.once.Do(func() { close(p.quiet) }) }

func (p *proxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

// TestCompress: with Compress, bodies and listings cross gzipped and come
// back byte for byte.
func TestCompress(t *testing.T) {
	ts := startServer(t, ServerOptions{Open: memOpener()})
	s := dial(t, ts.addr, "alice", &Options{Compress: true})
	defer s.Close()
	ctx := context.Background()
	body := bytes.Repeat([]byte("compressible line\r\n"), 50_000)
	u, err := s.Append(ctx, mailbox.Inbox, mailbox.BytesLiteral(body), mailbox.AppendMeta{Flags: mailbox.MustFlags(mailbox.Seen)})
	if err != nil {
		t.Fatal(err)
	}
	rc, err := s.Open(ctx, mailbox.Inbox, u)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || !bytes.Equal(got, body) {
		t.Fatalf("body back: %d bytes, %v; want %d bytes", len(got), err, len(body))
	}
	for m, err := range s.Messages(ctx, mailbox.Inbox, uid.All) {
		if err != nil || m.UID != u || !m.Flags.Has(mailbox.Seen) || m.Size != int64(len(body)) {
			t.Fatalf("listing: %v %v", m, err)
		}
	}
}
