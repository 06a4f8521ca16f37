package remote

import (
	"cmp"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"iter"
	"net"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/encoding/gzip"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/mailrepl/mailrepl/mailbox"
	"github.com/mailrepl/mailrepl/mailbox/remote/internal/wire"
	"github.com/mailrepl/mailrepl/uid"
)

// The protocol versions this package speaks. A change to the protocol
// that an older peer would misread raises MaxVersion; the oldest version
// still spoken is MinVersion.
const (
	MinVersion = 1
	MaxVersion = 1
)

// chunkSize is the size of the body chunks on the wire.
const chunkSize = 128 << 10

// listBatch is the number of messages in one answer of a listing.
const listBatch = 256

// Metadata keys.
const (
	mdAuth    = "authorization"
	mdSession = "mailrepl-session"
)

// Observer is told when the server answers "overloaded, retry after D",
// so that a rate limiter slows down for it. The programs connect a
// ratelimit handle (its Observe, with the side the store is on).
type Observer interface {
	Observe(latency time.Duration, overloaded bool, retryAfter time.Duration)
}

// Options configures [Dial]. A nil *Options is not valid: Token is
// required.
type Options struct {
	// Token is the bearer token the server expects. Required.
	Token string
	// TLS is the client's TLS configuration: its RootCAs verify the
	// server (nil: the system's roots), its Certificates are the client's
	// for mutual TLS. TLS 1.3 is required whatever MinVersion says. Nil
	// means plaintext, which only a loopback address allows.
	TLS *tls.Config
	// ReadOnly asks the server to open the store read-only.
	ReadOnly bool
	// Name names the store in errors; default "mailrepl://ADDR/USER".
	Name string
	// Observer, if not nil, is told of overloaded answers.
	Observer Observer
	// CallTimeout bounds a call that is not a stream, when ctx has no
	// deadline of its own. Default 5 minutes.
	CallTimeout time.Duration
	// IdleTimeout fails a stream (a listing, a body, a batch) that gets
	// no answer for this long. Default 2 minutes.
	IdleTimeout time.Duration
	// Keepalive is the interval of the connection's keepalive pings; a
	// ping unanswered for as long again breaks the connection. Default
	// 30 seconds.
	Keepalive time.Duration
	// Retries is how often a call the server refused as overloaded is
	// tried again, after the delay it asked for. Default 8.
	Retries int
	// Compress gzips what the client sends and asks the server to gzip
	// its answers: it pays on a slow link, and costs CPU on a fast one
	// (BenchmarkRoundTrip measures both).
	Compress bool

	// The versions spoken; zero: MinVersion and MaxVersion (tests
	// change them).
	minVersion, maxVersion uint32
}

// client is the store's implementation. The optional interfaces are on
// types of the same layout ([tracker], [setter], ...), which the store
// returned by Dial embeds when the server's store has them.
type client struct {
	name    string
	user    string
	conn    *grpc.ClientConn
	rpc     wire.StoreClient
	opts    Options
	session string
	version uint32

	root   context.Context // cancelled by Close: ends streams in flight
	cancel context.CancelFunc
	closed atomic.Bool
	once   sync.Once
}

// IsLoopback reports whether host (a name or an address, without port)
// is a loopback address: "localhost", 127.0.0.0/8 or ::1.
func IsLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Dial connects to the mailrepl server at addr ("host:port") and opens
// user's store there. The store it returns has the optional interfaces
// (mailbox.ChangeTracker, UIDSetter, Batcher, IndexScanner, Settler)
// that the store behind the server has, as the handshake told. It fails
// with an error wrapping ErrVersion when client and server share no
// protocol version (the error names both ranges), ErrUnauthenticated
// for a token or certificate the server refused, ErrInsecure for
// plaintext to an address that is not loopback.
func Dial(ctx context.Context, addr, user string, opts *Options) (mailbox.Store, error) {
	if opts == nil || opts.Token == "" {
		return nil, fmt.Errorf("remote: dial %s: no token", addr)
	}
	o := *opts
	if o.Name == "" {
		o.Name = "mailrepl://" + addr + "/" + user
	}
	if o.CallTimeout <= 0 {
		o.CallTimeout = 5 * time.Minute
	}
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = 2 * time.Minute
	}
	if o.Keepalive <= 0 {
		o.Keepalive = 30 * time.Second
	}
	if o.Retries <= 0 {
		o.Retries = 8
	}
	if o.minVersion == 0 {
		o.minVersion, o.maxVersion = MinVersion, MaxVersion
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("remote: dial %q: %w", addr, err)
	}
	var creds credentials.TransportCredentials
	if o.TLS == nil {
		if !IsLoopback(host) {
			return nil, fmt.Errorf("remote: dial %s: %w: a plaintext connection is allowed to a loopback address only; give a TLS configuration", addr, ErrInsecure)
		}
		creds = insecure.NewCredentials()
	} else {
		cfg := o.TLS.Clone()
		cfg.MinVersion = tls.VersionTLS13
		creds = credentials.NewTLS(cfg)
	}
	callOpts := []grpc.CallOption{grpc.MaxCallRecvMsgSize(16 << 20)}
	if o.Compress {
		callOpts = append(callOpts, grpc.UseCompressor(gzip.Name))
	}
	conn, err := grpc.NewClient(addr,
		grpc.WithTransportCredentials(creds),
		grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: o.Keepalive, Timeout: o.Keepalive, PermitWithoutStream: true}),
		grpc.WithDefaultCallOptions(callOpts...),
	)
	if err != nil {
		return nil, fmt.Errorf("remote: dial %s: %w", addr, err)
	}
	c := &client{name: o.Name, user: user, conn: conn, rpc: wire.NewStoreClient(conn), opts: o}
	c.root, c.cancel = context.WithCancel(context.Background())
	var reply *wire.HelloReply
	err = c.call(ctx, "hello", "", 0, func(ctx context.Context) error {
		var err error
		reply, err = c.rpc.Hello(ctx, &wire.HelloRequest{MinVersion: o.minVersion, MaxVersion: o.maxVersion, User: user, ReadOnly: o.ReadOnly})
		return err
	})
	if err != nil {
		conn.Close()
		c.cancel()
		return nil, c.helloError(err)
	}
	if v := reply.GetVersion(); v < o.minVersion || v > o.maxVersion {
		conn.Close()
		c.cancel()
		return nil, fmt.Errorf("remote: dial %s: %w: the server chose version %d, the client speaks %d to %d", c.name, ErrVersion, v, o.minVersion, o.maxVersion)
	}
	c.session, c.version = reply.GetSession(), reply.GetVersion()
	var caps capSet
	for _, cp := range reply.GetCapabilities() {
		switch cp {
		case wire.Capability_CAPABILITY_CHANGE_TRACKER:
			caps |= capTracker
		case wire.Capability_CAPABILITY_UID_SETTER:
			caps |= capSetter
		case wire.Capability_CAPABILITY_BATCHER:
			caps |= capBatcher
		case wire.Capability_CAPABILITY_INDEX_SCANNER:
			caps |= capScanner
		case wire.Capability_CAPABILITY_SETTLER:
			caps |= capSettler
		}
	}
	return wrap(c, caps), nil
}

// helloError adds the version ranges to a refused handshake.
func (c *client) helloError(err error) error {
	if errors.Is(err, ErrVersion) {
		return fmt.Errorf("remote: dial %s: %w (the client speaks versions %d to %d)", c.name, err, c.opts.minVersion, c.opts.maxVersion)
	}
	return fmt.Errorf("remote: dial %s: %w", c.name, err)
}

// checkName refuses a name the wire cannot carry (protobuf strings are
// UTF-8), as every store refuses it: ErrInvalidName.
func (c *client) checkName(op, name string, u uid.UID) error {
	if utf8.ValidString(name) {
		return nil
	}
	return &mailbox.Error{Op: op, Store: c.name, Mailbox: name, UID: u, Err: fmt.Errorf("%w: not valid UTF-8", mailbox.ErrInvalidName)}
}

func (c *client) isClosed() bool { return c.closed.Load() }

// String names the store.
func (c *client) String() string { return c.name }

// Version is the protocol version client and server agreed on.
func (c *client) Version() int { return int(c.version) }

// Close ends the session: the server closes the store once no other
// session uses it. Streams in flight end with ErrClosed.
func (c *client) Close() error {
	if c.closed.Swap(true) {
		return &mailbox.Error{Op: "close", Store: c.name, Err: mailbox.ErrClosed}
	}
	c.cancel()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := c.rpc.Bye(c.outgoing(ctx), &wire.Empty{})
	cerr := c.conn.Close()
	if err != nil {
		return c.errorFrom(context.Background(), "close", "", 0, err)
	}
	if cerr != nil {
		return &mailbox.Error{Op: "close", Store: c.name, Err: cerr}
	}
	return nil
}

// outgoing adds the token and the session to ctx.
func (c *client) outgoing(ctx context.Context) context.Context {
	md := metadata.Pairs(mdAuth, "Bearer "+c.opts.Token)
	if c.session != "" {
		md.Set(mdSession, c.session)
	}
	return metadata.NewOutgoingContext(ctx, md)
}

// callCtx is ctx that also ends when the store closes, with the token
// and session, and, when unary, with the default deadline.
func (c *client) callCtx(ctx context.Context, unary bool) (context.Context, context.CancelFunc) {
	var cancel context.CancelFunc
	if _, ok := ctx.Deadline(); unary && !ok {
		ctx, cancel = context.WithTimeout(ctx, c.opts.CallTimeout)
	} else {
		ctx, cancel = context.WithCancel(ctx)
	}
	stop := context.AfterFunc(c.root, cancel)
	return c.outgoing(ctx), func() { stop(); cancel() }
}

// overloaded tells whether err is the server's refusal of a call it did
// not start, and the delay it asked for.
func overloaded(err error) (bool, time.Duration) {
	st, ok := status.FromError(err)
	if !ok || st.Code() != codes.ResourceExhausted {
		return false, 0
	}
	for _, x := range st.Details() {
		if d, ok := x.(*wire.ErrorDetail); ok {
			return true, time.Duration(d.GetRetryAfterMs()) * time.Millisecond
		}
	}
	return true, 0
}

// backoff reports an overloaded answer to the observer and waits for the
// delay the server asked for (at least 50ms, doubling with each attempt
// when it asked for none). It returns false when the call should not be
// tried again.
func (c *client) backoff(ctx context.Context, attempt int, latency, after time.Duration) bool {
	if c.opts.Observer != nil {
		c.opts.Observer.Observe(latency, true, after)
	}
	if attempt >= c.opts.Retries {
		return false
	}
	if after <= 0 {
		after = 50 * time.Millisecond << min(attempt, 8)
	}
	t := time.NewTimer(after)
	defer t.Stop()
	select {
	case <-t.C:
		return !c.isClosed()
	case <-ctx.Done():
		return false
	case <-c.root.Done():
		return false
	}
}

// call runs a unary call f, again while the server refuses it as
// overloaded, and names op, the mailbox and the UID in its error.
func (c *client) call(ctx context.Context, op, name string, u uid.UID, f func(ctx context.Context) error) error {
	if c.isClosed() {
		return &mailbox.Error{Op: op, Store: c.name, Mailbox: name, UID: u, Err: mailbox.ErrClosed}
	}
	if err := c.checkName(op, name, u); err != nil {
		return err
	}
	for attempt := 0; ; attempt++ {
		cctx, cancel := c.callCtx(ctx, true)
		start := time.Now()
		err := f(cctx)
		cancel()
		if err == nil {
			return nil
		}
		if over, after := overloaded(err); over && c.backoff(ctx, attempt, time.Since(start), after) {
			continue
		}
		return c.errorFrom(ctx, op, name, u, err)
	}
}

// watchdog cancels a stream that waits for an answer longer than the
// idle timeout.
type watchdog struct {
	t     *time.Timer
	d     time.Duration
	fired atomic.Bool
}

func newWatchdog(d time.Duration, cancel context.CancelFunc) *watchdog {
	w := &watchdog{d: d}
	w.t = time.AfterFunc(time.Hour, func() { w.fired.Store(true); cancel() })
	w.t.Stop()
	return w
}

func (w *watchdog) arm()    { w.t.Reset(w.d) }
func (w *watchdog) disarm() { w.t.Stop() }

// err is what a stream ended by the watchdog fails with.
func (w *watchdog) err(err error) error {
	if w.fired.Load() {
		return fmt.Errorf("%w: no answer from the server in %v", mailbox.ErrTransient, w.d)
	}
	return err
}

// stream is what the client needs of a server stream.
type stream[T any] interface{ Recv() (T, error) }

// list yields the messages of a listing stream that start opens.
func (c *client) list(ctx context.Context, op, name string, start func(ctx context.Context) (stream[*wire.MessageList], error)) iter.Seq2[mailbox.Change, error] {
	return func(yield func(mailbox.Change, error) bool) {
		fail := func(err error) { yield(mailbox.Change{}, c.errorFrom(ctx, op, name, 0, err)) }
		if c.isClosed() {
			fail(mailbox.ErrClosed)
			return
		}
		if err := c.checkName(op, name, 0); err != nil {
			yield(mailbox.Change{}, err)
			return
		}
		yielded := false
		for attempt := 0; ; attempt++ {
			sctx, cancel := c.callCtx(ctx, false)
			w := newWatchdog(c.opts.IdleTimeout, cancel)
			begun := time.Now()
			s, err := start(sctx)
			for err == nil {
				var l *wire.MessageList
				w.arm()
				l, err = s.Recv()
				w.disarm()
				if err != nil {
					break
				}
				for _, m := range l.GetMessages() {
					if ctx.Err() != nil || c.isClosed() {
						cancel()
						fail(cmp.Or(ctx.Err(), mailbox.ErrClosed))
						return
					}
					ch, cerr := fromMessage(m)
					if cerr != nil {
						cancel()
						fail(fmt.Errorf("a bad message from the server: %w", cerr))
						return
					}
					yielded = true
					if !yield(ch, nil) {
						cancel()
						return
					}
				}
			}
			cancel()
			if err == io.EOF {
				return
			}
			if over, after := overloaded(err); over && !yielded && c.backoff(ctx, attempt, time.Since(begun), after) {
				continue
			}
			fail(w.err(err))
			return
		}
	}
}

func messagesOf(seq iter.Seq2[mailbox.Change, error]) iter.Seq2[mailbox.Message, error] {
	return func(yield func(mailbox.Message, error) bool) {
		for ch, err := range seq {
			if !yield(ch.Message, err) {
				return
			}
		}
	}
}

// Mailboxes implements mailbox.Reader.
func (c *client) Mailboxes(ctx context.Context) ([]mailbox.Info, error) {
	var l *wire.InfoList
	err := c.call(ctx, "mailboxes", "", 0, func(ctx context.Context) (err error) {
		l, err = c.rpc.Mailboxes(ctx, &wire.Empty{})
		return err
	})
	if err != nil {
		return nil, err
	}
	out := make([]mailbox.Info, len(l.GetInfos()))
	for i, x := range l.GetInfos() {
		out[i] = fromInfo(x)
	}
	return out, nil
}

// Status implements mailbox.Reader.
func (c *client) Status(ctx context.Context, name string) (mailbox.Info, error) {
	var i *wire.Info
	err := c.call(ctx, "status", name, 0, func(ctx context.Context) (err error) {
		i, err = c.rpc.Status(ctx, &wire.NameRequest{Mailbox: name})
		return err
	})
	if err != nil {
		return mailbox.Info{}, err
	}
	return fromInfo(i), nil
}

// Messages implements mailbox.Reader.
func (c *client) Messages(ctx context.Context, name string, set uid.Set) iter.Seq2[mailbox.Message, error] {
	if set.IsEmpty() && !c.isClosed() {
		return func(func(mailbox.Message, error) bool) {}
	}
	return messagesOf(c.list(ctx, "list", name, func(ctx context.Context) (stream[*wire.MessageList], error) {
		return c.rpc.Messages(ctx, &wire.MessagesRequest{Mailbox: name, Set: set.String()})
	}))
}

// Open implements mailbox.Reader: the body streams in chunks as the
// caller reads it.
func (c *client) Open(ctx context.Context, name string, u uid.UID) (io.ReadCloser, error) {
	if c.isClosed() {
		return nil, c.errorFrom(ctx, "open", name, u, mailbox.ErrClosed)
	}
	if err := c.checkName("open", name, u); err != nil {
		return nil, err
	}
	for attempt := 0; ; attempt++ {
		sctx, cancel := c.callCtx(ctx, false)
		w := newWatchdog(c.opts.IdleTimeout, cancel)
		begun := time.Now()
		s, err := c.rpc.Open(sctx, &wire.OpenRequest{Mailbox: name, Uid: uint32(u)})
		var first *wire.Chunk
		if err == nil {
			w.arm()
			first, err = s.Recv()
			w.disarm()
		}
		if err == nil {
			return &body{c: c, ctx: ctx, name: name, u: u, s: s, w: w, cancel: cancel, buf: first.GetData()}, nil
		}
		cancel()
		if over, after := overloaded(err); over && c.backoff(ctx, attempt, time.Since(begun), after) {
			continue
		}
		if err == io.EOF {
			err = errors.New("the server ended the body before it began")
		}
		return nil, c.errorFrom(ctx, "open", name, u, w.err(err))
	}
}

// body is a message's bytes as they come off an Open stream.
type body struct {
	c      *client
	ctx    context.Context
	name   string
	u      uid.UID
	s      wire.Store_OpenClient
	w      *watchdog
	cancel context.CancelFunc
	buf    []byte
	err    error
}

func (b *body) Read(p []byte) (int, error) {
	for len(b.buf) == 0 {
		if b.err != nil {
			return 0, b.err
		}
		b.w.arm()
		ch, err := b.s.Recv()
		b.w.disarm()
		switch {
		case err == io.EOF:
			b.err = io.EOF
		case err != nil:
			b.err = b.c.errorFrom(b.ctx, "open", b.name, b.u, b.w.err(err))
		default:
			b.buf = ch.GetData()
		}
	}
	n := copy(p, b.buf)
	b.buf = b.buf[n:]
	return n, nil
}

func (b *body) Close() error {
	b.cancel()
	if b.err == nil {
		b.err = &mailbox.Error{Op: "read", Store: b.c.name, Mailbox: b.name, UID: b.u, Err: mailbox.ErrClosed}
	}
	return nil
}

// appendStream is what sendLiteral needs of a stream that carries an
// append.
type appendSender func(*wire.AppendPart) error

// sendLiteral sends an append: the header, the body in chunks, the end.
// A literal that fails to read is aborted (the server stores nothing),
// and its error returned; a literal longer than it says is cut one byte
// past its size (the server refuses it as the store would).
func sendLiteral(send appendSender, h *wire.AppendHeader, lit mailbox.Literal) (readErr, sendErr error) {
	if err := send(&wire.AppendPart{Part: &wire.AppendPart_Header{Header: h}}); err != nil {
		return nil, err
	}
	buf := make([]byte, chunkSize)
	var sent int64
	for sent <= lit.Size() {
		n, err := lit.Read(buf[:min(int64(len(buf)), lit.Size()+1-sent)])
		if n > 0 {
			sent += int64(n)
			if serr := send(&wire.AppendPart{Part: &wire.AppendPart_Chunk{Chunk: buf[:n]}}); serr != nil {
				return nil, serr
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			if serr := send(&wire.AppendPart{Part: &wire.AppendPart_Abort{Abort: "the client could not read the message"}}); serr != nil {
				return err, serr
			}
			return err, nil
		}
	}
	return nil, send(&wire.AppendPart{Part: &wire.AppendPart_End{End: &wire.Empty{}}})
}

func appendHeader(name string, lit mailbox.Literal, meta mailbox.AppendMeta, setUID bool, u uid.UID) *wire.AppendHeader {
	h := &wire.AppendHeader{Mailbox: name, Size: lit.Size(), SetUid: setUID, Uid: uint32(u)}
	toMeta(h, meta)
	return h
}

// appendLit runs an Append call. The literal is read once, so a refused
// call is tried again only when the server refused it before the first
// byte was sent... which, with a stream, the client cannot know: an
// overloaded answer is not retried here (the engine retries the
// transient error).
func (c *client) appendLit(ctx context.Context, op, name string, lit mailbox.Literal, meta mailbox.AppendMeta, setUID bool, u uid.UID) (uid.UID, error) {
	if c.isClosed() {
		return 0, c.errorFrom(ctx, op, name, u, mailbox.ErrClosed)
	}
	if err := c.checkName(op, name, u); err != nil {
		return 0, err
	}
	sctx, cancel := c.callCtx(ctx, false)
	defer cancel()
	w := newWatchdog(c.opts.IdleTimeout, cancel)
	begun := time.Now()
	s, err := c.rpc.Append(sctx)
	if err != nil {
		return 0, c.errorFrom(ctx, op, name, u, err)
	}
	readErr, sendErr := sendLiteral(func(p *wire.AppendPart) error {
		w.arm()
		defer w.disarm()
		return s.Send(p)
	}, appendHeader(name, lit, meta, setUID, u), lit)
	if readErr != nil {
		cancel()
		return 0, &mailbox.Error{Op: op, Store: c.name, Mailbox: name, UID: u, Err: readErr}
	}
	_ = sendErr // io.EOF: the server ended the call; CloseAndRecv says why
	w.arm()
	reply, err := s.CloseAndRecv()
	w.disarm()
	if err != nil {
		if over, after := overloaded(err); over && c.opts.Observer != nil {
			c.opts.Observer.Observe(time.Since(begun), true, after)
		}
		return 0, c.errorFrom(ctx, op, name, u, w.err(err))
	}
	return uid.UID(reply.GetUid()), nil
}

// Create implements mailbox.Writer.
func (c *client) Create(ctx context.Context, name string) (mailbox.Info, error) {
	var i *wire.Info
	err := c.call(ctx, "create", name, 0, func(ctx context.Context) (err error) {
		i, err = c.rpc.Create(ctx, &wire.NameRequest{Mailbox: name})
		return err
	})
	if err != nil {
		return mailbox.Info{}, err
	}
	return fromInfo(i), nil
}

// Rename implements mailbox.Writer.
func (c *client) Rename(ctx context.Context, oldName, newName string) error {
	if err := c.checkName("rename", newName, 0); err != nil && !c.isClosed() {
		return err
	}
	return c.call(ctx, "rename", oldName, 0, func(ctx context.Context) error {
		_, err := c.rpc.Rename(ctx, &wire.RenameRequest{OldName: oldName, NewName: newName})
		return err
	})
}

// Delete implements mailbox.Writer.
func (c *client) Delete(ctx context.Context, name string) error {
	return c.call(ctx, "delete", name, 0, func(ctx context.Context) error {
		_, err := c.rpc.Delete(ctx, &wire.NameRequest{Mailbox: name})
		return err
	})
}

// Subscribe implements mailbox.Writer.
func (c *client) Subscribe(ctx context.Context, name string, subscribed bool) error {
	return c.call(ctx, "subscribe", name, 0, func(ctx context.Context) error {
		_, err := c.rpc.Subscribe(ctx, &wire.SubscribeRequest{Mailbox: name, Subscribed: subscribed})
		return err
	})
}

// Append implements mailbox.Writer.
func (c *client) Append(ctx context.Context, name string, lit mailbox.Literal, meta mailbox.AppendMeta) (uid.UID, error) {
	return c.appendLit(ctx, "append", name, lit, meta, false, 0)
}

// StoreFlags implements mailbox.Writer.
func (c *client) StoreFlags(ctx context.Context, name string, set uid.Set, op mailbox.FlagOp, flags mailbox.Flags) error {
	return c.call(ctx, "store", name, 0, func(ctx context.Context) error {
		_, err := c.rpc.StoreFlags(ctx, &wire.StoreFlagsRequest{Mailbox: name, Set: set.String(), Op: int32(op), Flags: toFlags(flags)})
		return err
	})
}

// Expunge implements mailbox.Writer.
func (c *client) Expunge(ctx context.Context, name string, set uid.Set) error {
	return c.call(ctx, "expunge", name, 0, func(ctx context.Context) error {
		_, err := c.rpc.Expunge(ctx, &wire.SetRequest{Mailbox: name, Set: set.String()})
		return err
	})
}

// newSessionID returns a random session ID.
func newSessionID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return hex.EncodeToString(b[:]), nil
}
