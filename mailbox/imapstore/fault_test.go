package imapstore_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"regexp"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/mailrepl/mailrepl/mailbox"
	"github.com/mailrepl/mailrepl/mailbox/imapstore"
	"github.com/mailrepl/mailrepl/mailbox/memstore"
	"github.com/mailrepl/mailrepl/replica"
	"github.com/mailrepl/mailrepl/uid"
)

// proxy stands between the store and a real Dovecot and breaks the
// conversation as a test scripts it: the faults of servers and networks
// (a BYE in the middle of a FETCH, a literal cut short, a refused or cut
// APPEND, throttling, silence, a BYE as greeting), at a chosen moment.
type proxy struct {
	t      *testing.T
	ln     net.Listener
	server string

	done chan struct{} // closed when the test ends

	mu    sync.Mutex
	fault *fault // the next fault, nil: none
	conns []net.Conn
	fired int
}

// fault is one scripted failure: when a line (of the server's, or of the
// client's with fromClient) matches match, act.
type fault struct {
	fromClient bool
	match      *regexp.Regexp
	act        func(p *proxy, line []byte, lit int64, client, server net.Conn, sr *bufio.Reader) // breaks the connection
	times      int                                                                               // how many times (0: once)
}

func newProxy(t *testing.T, server string) *proxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{t: t, ln: ln, server: server, done: make(chan struct{})}
	t.Cleanup(func() {
		close(p.done)
		ln.Close()
		p.mu.Lock()
		for _, c := range p.conns {
			c.Close()
		}
		p.mu.Unlock()
	})
	go p.accept()
	return p
}

func (p *proxy) addr() string { return p.ln.Addr().String() }

func (p *proxy) arm(f *fault) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.fault, p.fired = f, 0
}

func (p *proxy) firedCount() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.fired
}

// take returns the armed fault if line matches it, counting it.
func (p *proxy) take(fromClient bool, line []byte) *fault {
	p.mu.Lock()
	defer p.mu.Unlock()
	f := p.fault
	if f == nil || f.fromClient != fromClient || !f.match.Match(line) {
		return nil
	}
	p.fired++
	if p.fired > f.times {
		p.fault = nil
	}
	return f
}

func (p *proxy) accept() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		s, err := net.Dial("tcp", p.server)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, c, s)
		p.mu.Unlock()
		go p.pipe(c, s, false) // server → client
		go p.pipe(c, s, true)  // client → server
	}
}

var literalRE = regexp.MustCompile(`\{(\d+)\+?\}\r\n$`)

// pipe forwards lines and their literals one way, offering each line to
// the armed fault, and takes LITERAL+ out of the server's capabilities so
// that a client's APPEND waits for the server's go-ahead.
func (p *proxy) pipe(client, server net.Conn, fromClient bool) {
	src, dst := net.Conn(server), net.Conn(client)
	if fromClient {
		src, dst = client, server
	}
	defer src.Close()
	defer dst.Close()
	r := bufio.NewReader(src)
	for {
		line, err := r.ReadBytes('\n')
		if err != nil {
			return
		}
		if !fromClient {
			line = bytes.ReplaceAll(line, []byte(" LITERAL+"), nil)
		}
		var lit int64
		if m := literalRE.FindSubmatch(line); m != nil {
			lit, _ = strconv.ParseInt(string(m[1]), 10, 64)
		}
		if f := p.take(fromClient, line); f != nil {
			f.act(p, line, lit, client, server, r)
			return
		}
		if _, err := dst.Write(line); err != nil {
			return
		}
		if lit > 0 {
			if _, err := io.CopyN(dst, r, lit); err != nil {
				return
			}
		}
	}
}

// Actions.

// byeInstead sends the client a BYE instead of the line, and closes.
func byeInstead(text string) func(*proxy, []byte, int64, net.Conn, net.Conn, *bufio.Reader) {
	return func(p *proxy, line []byte, lit int64, client, server net.Conn, sr *bufio.Reader) {
		fmt.Fprintf(client, "* BYE %s\r\n", text)
		client.Close()
		server.Close()
	}
}

// truncate forwards the line and half of its literal, then closes.
func truncate(p *proxy, line []byte, lit int64, client, server net.Conn, sr *bufio.Reader) {
	client.Write(line)
	io.CopyN(client, sr, lit/2)
	client.Close()
	server.Close()
}

// refuse answers the client's command with a tagged NO (the server never
// sees it), and keeps the connection: what a server does with an APPEND
// over quota before its literal.
func refuse(text string) func(*proxy, []byte, int64, net.Conn, net.Conn, *bufio.Reader) {
	return func(p *proxy, line []byte, lit int64, client, server net.Conn, sr *bufio.Reader) {
		tag, _, _ := bytes.Cut(line, []byte(" "))
		fmt.Fprintf(client, "%s NO %s\r\n", tag, text)
		// The rest of this connection is gone with the command: the store
		// must not use it again.
		client.Close()
		server.Close()
	}
}

// cutClient forwards the client's APPEND and part of its literal, then
// drops both connections.
func cutClient(p *proxy, line []byte, lit int64, client, server net.Conn, cr *bufio.Reader) {
	server.Write(line)
	// The server's go-ahead reaches the client, which sends the literal:
	// pass on a third of it and cut.
	io.CopyN(server, cr, lit/3)
	client.Close()
	server.Close()
}

// silence passes nothing on any more: the server never hears the
// command, the connection stays open, no answer comes.
func silence(p *proxy, line []byte, lit int64, client, server net.Conn, sr *bufio.Reader) {
	<-p.done
}

// recorder is an Observer that keeps what it is told.
type recorder struct {
	mu  sync.Mutex
	got []observed
}

type observed struct {
	overloaded bool
	retryAfter time.Duration
}

func (r *recorder) Observe(latency time.Duration, overloaded bool, retryAfter time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, observed{overloaded, retryAfter})
}

func (r *recorder) all() []observed {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.got)
}

// faultEnv is a source in memory, an IMAP account behind a proxy, and
// the sync state of the pair.
type faultEnv struct {
	t     *testing.T
	src   *memstore.Store
	p     *proxy
	state *replica.MemState
	obs   *recorder
	user  string
	srvPw string
	mode  replica.Mode
}

var faultUsers int

func newFaultEnv(t *testing.T, srvAddr, password string, msgs int) *faultEnv {
	faultUsers++
	e := &faultEnv{t: t, src: memstore.New(nil), p: newProxy(t, srvAddr), state: replica.NewMemState(), obs: &recorder{},
		user: fmt.Sprintf("fault%d", faultUsers), srvPw: password, mode: replica.Mirror}
	ctx := context.Background()
	if _, err := e.src.Create(ctx, "Work"); err != nil {
		t.Fatal(err)
	}
	for i := range msgs {
		body := fmt.Appendf(nil, "From: a@example.org\r\nSubject: fault %d\r\nMessage-ID: <%d@fault>\r\n\r\n%s\r\n", i, i, bytes.Repeat([]byte("line of text\r\n"), 40+i))
		box := mailbox.Inbox
		if i%3 == 0 {
			box = "Work"
		}
		if _, err := e.src.Append(ctx, box, mailbox.BytesLiteral(body), mailbox.AppendMeta{Flags: mailbox.MustFlags(mailbox.Seen)}); err != nil {
			t.Fatal(err)
		}
	}
	return e
}

func (e *faultEnv) store(timeout time.Duration) *imapstore.Store {
	s, err := imapstore.New(imapstore.Options{Addr: e.p.addr(), Security: imapstore.Plain, Auth: imapstore.Auth{User: e.user, Password: e.srvPw},
		Timeout: timeout, Observer: e.obs, BadChars: "."})
	if err != nil {
		e.t.Fatal(err)
	}
	return s
}

// sync runs one sync of the source into the account (or, reversed, of
// the account into a memstore target) and returns its error.
func (e *faultEnv) sync(timeout time.Duration) error {
	dst := e.store(timeout)
	defer dst.Close()
	s, err := replica.New(e.src, dst, &replica.Options{Mode: e.mode, State: e.state})
	if err != nil {
		e.t.Fatal(err)
	}
	_, err = s.Sync(context.Background())
	return err
}

// converged checks that the account holds exactly the source's
// messages: each EmailID as many times as in the source, per mailbox.
func (e *faultEnv) converged() {
	e.t.Helper()
	dst := e.store(time.Minute)
	defer dst.Close()
	want, got := emailIDs(e.t, e.src), emailIDs(e.t, dst)
	if fmt.Sprint(want) != fmt.Sprint(got) {
		e.t.Fatalf("after the re-run the account holds\n%v\nthe source\n%v", got, want)
	}
}

func emailIDs(t *testing.T, r mailbox.Reader) map[string][]string {
	t.Helper()
	ctx := context.Background()
	infos, err := r.Mailboxes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	for _, in := range infos {
		var ids []string
		for m, err := range r.Messages(ctx, in.Name, uid.All) {
			if err != nil {
				t.Fatal(err)
			}
			rc, err := r.Open(ctx, in.Name, m.UID)
			if err != nil {
				t.Fatal(err)
			}
			id, _, err := mailbox.ComputeEmailID(rc)
			rc.Close()
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, id.Short())
		}
		slices.Sort(ids)
		out[in.Name] = ids
	}
	return out
}

// TestFaults breaks the conversation with the server in each way the
// issue lists, in the middle of a mirror into the IMAP account (or out of
// it), and checks that the sync fails with a clear error or gets through
// (the store retries a read on a new connection; the engine retries what
// failed with ErrTransient: a throttled command, one the server never
// answered), that the Observer heard the server's request to slow down,
// and that a re-run converges: every message there once.
func TestFaults(t *testing.T) {
	srv := dovecot(t)
	for _, tc := range []struct {
		name    string
		fault   *fault
		out     bool          // the account is the source: mirror it out
		timeout time.Duration // the store's Timeout
		want    error         // what the failing run's error wraps, nil: it may succeed
		fails   bool          // the failing run fails
		signal  *observed     // what the Observer must have been told
	}{
		{name: "ByeMidFetch", out: true, fault: &fault{match: regexp.MustCompile(`FETCH \(.*BODY\[\] \{`), act: byeInstead("shutting down")}},
		{name: "TruncatedLiteral", out: true, fault: &fault{match: regexp.MustCompile(`FETCH \(.*BODY\[\] \{`), act: truncate}},
		{name: "OverQuota", fails: true, fault: &fault{fromClient: true, match: regexp.MustCompile(` APPEND `), act: refuse("[OVERQUOTA] Quota exceeded (mailbox for user is full)")}},
		{name: "DroppedMidAppend", fault: &fault{fromClient: true, match: regexp.MustCompile(` APPEND .*\{\d+\}\r\n$`), act: cutClient}},
		{name: "ThrottledWithBackoff", signal: &observed{true, 1500 * time.Millisecond},
			fault: &fault{fromClient: true, match: regexp.MustCompile(` APPEND `), act: refuse("[LIMIT] Request is throttled. Suggested Backoff Time: 1500 milliseconds")}},
		{name: "ThrottledWithoutBackoff", signal: &observed{true, 0},
			fault: &fault{fromClient: true, match: regexp.MustCompile(` SELECT `), act: refuse("[UNAVAILABLE] Server busy, try again later"), times: 1}},
		{name: "NeverAnswers", timeout: 2 * time.Second,
			fault: &fault{fromClient: true, match: regexp.MustCompile(` APPEND `), act: silence}},
		{name: "GreetingBye", want: mailbox.ErrTransient, signal: &observed{true, 0},
			fault: &fault{match: regexp.MustCompile(`^\* OK`), act: byeInstead("Too many connections from your IP"), times: 3}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newFaultEnv(t, srv.Addr, srv.Password, 12)
			timeout := tc.timeout
			if timeout == 0 {
				timeout = time.Minute
			}
			if tc.out {
				// Fill the account first, then mirror it into memory.
				if err := e.sync(time.Minute); err != nil {
					t.Fatal(err)
				}
				e.outward(t, tc.fault, timeout)
				return
			}
			e.p.arm(tc.fault)
			err := e.sync(timeout)
			if e.p.firedCount() == 0 {
				t.Fatalf("the fault never fired (sync: %v)", err)
			}
			if (tc.want != nil || tc.fails) && err == nil {
				t.Fatal("the sync succeeded in spite of the fault")
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("sync = %v, want an error wrapping %v", err, tc.want)
			}
			if err != nil {
				t.Logf("the broken run: %v", err)
			}
			if tc.signal != nil && !slices.Contains(e.obs.all(), *tc.signal) {
				t.Fatalf("the observer was told %v, want %v among it", e.obs.all(), *tc.signal)
			}
			e.p.arm(nil)
			if err := e.sync(time.Minute); err != nil {
				t.Fatalf("the re-run: %v", err)
			}
			e.converged()
		})
	}
}

// outward mirrors the account into a memstore while the fault is armed,
// then again without it, and checks the copy.
func (e *faultEnv) outward(t *testing.T, f *fault, timeout time.Duration) {
	dst := memstore.New(nil)
	state := replica.NewMemState()
	run := func() error {
		src := e.store(timeout)
		defer src.Close()
		s, err := replica.New(src, dst, &replica.Options{Mode: replica.Mirror, State: state})
		if err != nil {
			t.Fatal(err)
		}
		_, err = s.Sync(context.Background())
		return err
	}
	e.p.arm(f)
	err := run()
	if e.p.firedCount() == 0 {
		t.Fatalf("the fault never fired (sync: %v)", err)
	}
	t.Logf("the broken run: %v", err)
	e.p.arm(nil)
	if err := run(); err != nil {
		t.Fatalf("the re-run: %v", err)
	}
	src := e.store(time.Minute)
	defer src.Close()
	if want, got := emailIDs(t, src), emailIDs(t, dst); fmt.Sprint(want) != fmt.Sprint(got) {
		t.Fatalf("the mirror holds\n%v\nthe account\n%v", got, want)
	}
}
