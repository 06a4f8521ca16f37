package remote

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"iter"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/stats"

	"github.com/mailrepl/mailrepl/mailbox"
	"github.com/mailrepl/mailrepl/mailbox/remote/internal/wire"
	"github.com/mailrepl/mailrepl/uid"
)

// Opener opens user's store on the server. The server has checked the
// name ([ValidUser]) before it calls it; the opener confines the store
// to its template all the same.
type Opener func(ctx context.Context, user string, readOnly bool) (mailbox.Store, error)

// ServerOptions configures a [Server].
type ServerOptions struct {
	// Open opens a user's store. Required.
	Open Opener
	// Token is the bearer token every call must carry. Required.
	Token string
	// MaxConns caps the connections served at once; calls on a
	// connection beyond it are refused as overloaded. 0: no cap.
	MaxConns int
	// MaxStreams caps the calls in flight, over all connections; a call
	// beyond it is refused as overloaded. Default 256.
	MaxStreams int
	// RetryAfter is the delay an overloaded answer asks for. Default 1s.
	RetryAfter time.Duration
	// SessionIdle ends a session that made no call for this long (a
	// client that vanished). Default 30 minutes.
	SessionIdle time.Duration
	// Logger receives what the server does, never a body or the token;
	// nil discards it.
	Logger *slog.Logger

	minVersion, maxVersion uint32 // zero: MinVersion, MaxVersion
}

// Server exposes stores over mailrepl's protocol. Every call is
// authenticated by the token and confined to the user's store that its
// session opened.
type Server struct {
	wire.UnimplementedStoreServer
	opts  ServerOptions
	token [sha256.Size]byte
	log   *slog.Logger
	grpc  *grpc.Server

	conns   atomic.Int64
	streams chan struct{}

	mu struct {
		sync.Mutex
		sessions map[string]*session
		stores   map[storeKey]*shared
		closed   bool
	}
	stop chan struct{}
	done chan struct{}
}

type storeKey struct {
	user     string
	readOnly bool
}

// shared is a store opened for one or more sessions.
type shared struct {
	key   storeKey
	store mailbox.Store
	refs  int
}

type session struct {
	id       string
	user     string
	store    *shared
	version  uint32
	inFlight int
	last     time.Time
}

// ValidUser checks that a user name cannot leave a template's directory:
// not empty, at most 255 bytes of UTF-8, no '/', '\', "..", control
// characters (NUL among them), not ".". The error wraps ErrUnsafeUser.
func ValidUser(name string) error {
	var why string
	switch {
	case name == "":
		why = "empty name"
	case len(name) > 255:
		why = "longer than 255 bytes"
	case !utf8.ValidString(name):
		why = "not valid UTF-8"
	case name == ".":
		why = `"." names the directory itself`
	case strings.Contains(name, ".."):
		why = `holds ".."`
	case strings.ContainsAny(name, `/\`):
		why = `holds a '/' or '\'`
	case strings.IndexFunc(name, unicode.IsControl) >= 0:
		why = "holds a control character"
	default:
		return nil
	}
	return fmt.Errorf("%w %q: %s", ErrUnsafeUser, name, why)
}

// NewServer returns a server; Serve makes it answer.
func NewServer(opts ServerOptions) (*Server, error) {
	if opts.Open == nil {
		return nil, errors.New("remote: server: no Open")
	}
	if opts.Token == "" {
		return nil, errors.New("remote: server: no token")
	}
	if opts.MaxStreams <= 0 {
		opts.MaxStreams = 256
	}
	if opts.RetryAfter <= 0 {
		opts.RetryAfter = time.Second
	}
	if opts.SessionIdle <= 0 {
		opts.SessionIdle = 30 * time.Minute
	}
	if opts.minVersion == 0 {
		opts.minVersion, opts.maxVersion = MinVersion, MaxVersion
	}
	s := &Server{opts: opts, token: sha256.Sum256([]byte(opts.Token)), log: opts.Logger,
		streams: make(chan struct{}, opts.MaxStreams), stop: make(chan struct{}), done: make(chan struct{})}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.mu.sessions = map[string]*session{}
	s.mu.stores = map[storeKey]*shared{}
	go s.reap()
	return s, nil
}

// Serve answers on l until Close; creds nil means plaintext, which only a
// loopback listener may serve (else the error wraps ErrInsecure).
func (s *Server) Serve(l net.Listener, creds credentials.TransportCredentials) error {
	if creds == nil {
		if !isLoopbackAddr(l.Addr()) {
			return fmt.Errorf("remote: serve %s: %w: plaintext is served on a loopback address only; give a certificate", l.Addr(), ErrInsecure)
		}
	}
	opts := []grpc.ServerOption{
		grpc.ChainUnaryInterceptor(s.unaryGuard),
		grpc.ChainStreamInterceptor(s.streamGuard),
		grpc.StatsHandler(connCounter{s}),
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: time.Minute, Timeout: 30 * time.Second}),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 5 * time.Second, PermitWithoutStream: true}),
		grpc.MaxRecvMsgSize(16 << 20),
	}
	if creds != nil {
		opts = append(opts, grpc.Creds(creds))
	}
	s.mu.Lock()
	if s.mu.closed {
		s.mu.Unlock()
		return fmt.Errorf("remote: serve %s: %w", l.Addr(), mailbox.ErrClosed)
	}
	g := grpc.NewServer(opts...)
	wire.RegisterStoreServer(g, s)
	s.grpc = g
	s.mu.Unlock()
	return g.Serve(l)
}

func isLoopbackAddr(a net.Addr) bool {
	host, _, err := net.SplitHostPort(a.String())
	return err == nil && IsLoopback(host)
}

// Close stops the server: it stops taking calls, gives those in flight
// a few seconds to end (then ends them), and closes every store.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.mu.closed {
		s.mu.Unlock()
		return nil
	}
	s.mu.closed = true
	g := s.grpc
	s.mu.Unlock()
	close(s.stop)
	<-s.done
	if g != nil {
		stopped := make(chan struct{})
		go func() { g.GracefulStop(); close(stopped) }()
		select {
		case <-stopped:
		case <-time.After(5 * time.Second):
			g.Stop()
			<-stopped
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var errs []error
	for k, sh := range s.mu.stores {
		errs = append(errs, sh.store.Close())
		delete(s.mu.stores, k)
	}
	clear(s.mu.sessions)
	return errors.Join(errs...)
}

// reap ends sessions idle past SessionIdle.
func (s *Server) reap() {
	defer close(s.done)
	t := time.NewTicker(min(s.opts.SessionIdle/4, time.Minute))
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case now := <-t.C:
			s.mu.Lock()
			for id, se := range s.mu.sessions {
				if se.inFlight == 0 && now.Sub(se.last) > s.opts.SessionIdle {
					s.log.Info("session idle, ended", "user", se.user)
					s.endLocked(id, se)
				}
			}
			s.mu.Unlock()
		}
	}
}

// endLocked ends a session and closes its store if no other uses it.
func (s *Server) endLocked(id string, se *session) error {
	delete(s.mu.sessions, id)
	se.store.refs--
	if se.store.refs > 0 {
		return nil
	}
	delete(s.mu.stores, se.store.key)
	return se.store.store.Close()
}

// connCounter admits connections up to MaxConns: a connection is
// admitted at its first call when fewer than MaxConns are, and stays
// admitted until it ends; calls on one not admitted are refused as
// overloaded, and admit it once a slot is free.
type connCounter struct{ s *Server }

type connKey struct{}

// connState is what the server knows of one connection.
type connState struct {
	mu       sync.Mutex
	admitted bool
}

func (c connCounter) TagRPC(ctx context.Context, _ *stats.RPCTagInfo) context.Context { return ctx }
func (c connCounter) HandleRPC(context.Context, stats.RPCStats)                       {}
func (c connCounter) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context {
	return context.WithValue(ctx, connKey{}, &connState{})
}
func (c connCounter) HandleConn(ctx context.Context, st stats.ConnStats) {
	cs, _ := ctx.Value(connKey{}).(*connState)
	if _, ok := st.(*stats.ConnEnd); !ok || cs == nil {
		return
	}
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if cs.admitted {
		cs.admitted = false
		c.s.conns.Add(-1)
	}
}

// admit admits the call's connection, or tells that MaxConns are.
func (s *Server) admit(ctx context.Context) bool {
	cs, _ := ctx.Value(connKey{}).(*connState)
	if s.opts.MaxConns <= 0 || cs == nil {
		return true
	}
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if cs.admitted {
		return true
	}
	if s.conns.Add(1) > int64(s.opts.MaxConns) {
		s.conns.Add(-1)
		return false
	}
	cs.admitted = true
	return true
}

// guard authenticates a call and admits it within the caps; release
// gives its slot back.
func (s *Server) guard(ctx context.Context, method string) (release func(), err error) {
	if !s.authentic(ctx) {
		addr := "?"
		if p, ok := peer.FromContext(ctx); ok {
			addr = p.Addr.String()
		}
		s.log.Warn("call refused: bad or missing token", "peer", addr, "method", method)
		return nil, statusDetail(codes.Unauthenticated, "remote: bad or missing token", &wire.ErrorDetail{Kinds: []string{"unauthenticated"}, Cause: "bad or missing token"})
	}
	if !s.admit(ctx) {
		return nil, s.overloaded(fmt.Sprintf("%d connections served", s.opts.MaxConns))
	}
	select {
	case s.streams <- struct{}{}:
		return func() { <-s.streams }, nil
	default:
		return nil, s.overloaded(fmt.Sprintf("%d calls in flight", s.opts.MaxStreams))
	}
}

func (s *Server) overloaded(why string) error {
	s.log.Warn("call refused: overloaded", "why", why)
	return statusDetail(codes.ResourceExhausted, "remote: server overloaded: "+why,
		&wire.ErrorDetail{Kinds: []string{"overloaded", "transient"}, Cause: "server overloaded: " + why, RetryAfterMs: s.opts.RetryAfter.Milliseconds()})
}

// authentic compares the call's token with the server's in constant time.
func (s *Server) authentic(ctx context.Context) bool {
	md, _ := metadata.FromIncomingContext(ctx)
	vals := md.Get(mdAuth)
	if len(vals) != 1 {
		return false
	}
	tok, ok := strings.CutPrefix(vals[0], "Bearer ")
	got := sha256.Sum256([]byte(tok))
	return subtle.ConstantTimeCompare(got[:], s.token[:]) == 1 && ok
}

func (s *Server) unaryGuard(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	release, err := s.guard(ctx, info.FullMethod)
	if err != nil {
		return nil, err
	}
	defer release()
	return h(ctx, req)
}

func (s *Server) streamGuard(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
	release, err := s.guard(ss.Context(), info.FullMethod)
	if err != nil {
		return err
	}
	defer release()
	return h(srv, ss)
}

// session finds the call's session; done ends the call's use of it.
func (s *Server) session(ctx context.Context) (se *session, done func(), err error) {
	md, _ := metadata.FromIncomingContext(ctx)
	vals := md.Get(mdSession)
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(vals) == 1 {
		se = s.mu.sessions[vals[0]]
	}
	if se == nil {
		return nil, nil, statusDetail(codes.FailedPrecondition, "remote: no such session (ended, or the server restarted)",
			&wire.ErrorDetail{Kinds: []string{"closed", "transient"}, Cause: "no such session: the server ended it or restarted"})
	}
	se.inFlight++
	se.last = time.Now()
	return se, func() {
		s.mu.Lock()
		se.inFlight--
		se.last = time.Now()
		s.mu.Unlock()
	}, nil
}

// Hello implements the handshake.
func (s *Server) Hello(ctx context.Context, req *wire.HelloRequest) (*wire.HelloReply, error) {
	lo, hi := max(req.GetMinVersion(), s.opts.minVersion), min(req.GetMaxVersion(), s.opts.maxVersion)
	if lo > hi {
		msg := fmt.Sprintf("the client speaks versions %d to %d, the server %d to %d", req.GetMinVersion(), req.GetMaxVersion(), s.opts.minVersion, s.opts.maxVersion)
		s.log.Warn("handshake refused", "why", msg)
		return nil, statusDetail(codes.FailedPrecondition, "remote: "+msg,
			&wire.ErrorDetail{Op: "hello", Kinds: []string{"version"}, Cause: ErrVersion.Error() + ": " + msg, MinVersion: s.opts.minVersion, MaxVersion: s.opts.maxVersion})
	}
	user := req.GetUser()
	if err := ValidUser(user); err != nil {
		s.log.Warn("handshake refused: unsafe user name", "user", fmt.Sprintf("%q", user))
		return nil, statusOf(&mailbox.Error{Op: "hello", Store: "mailrepld", Err: err})
	}
	id, err := newSessionID()
	if err != nil {
		return nil, statusOf(err)
	}
	key := storeKey{user, req.GetReadOnly()}
	s.mu.Lock()
	if s.mu.closed {
		s.mu.Unlock()
		return nil, statusOf(&mailbox.Error{Op: "hello", Store: "mailrepld", Err: fmt.Errorf("%w: %w", mailbox.ErrTransient, mailbox.ErrClosed)})
	}
	sh := s.mu.stores[key]
	if sh == nil {
		// Opening under the lock keeps two sessions from opening one
		// store twice; opening is quick (no scan of the mail).
		st, err := s.opts.Open(ctx, user, key.readOnly)
		if err != nil {
			s.mu.Unlock()
			s.log.Warn("open failed", "user", user, "err", err)
			return nil, statusOf(err)
		}
		sh = &shared{key: key, store: st}
		s.mu.stores[key] = sh
	}
	sh.refs++
	s.mu.sessions[id] = &session{id: id, user: user, store: sh, version: hi, last: time.Now()}
	s.mu.Unlock()
	s.log.Info("session", "user", user, "version", hi, "read_only", key.readOnly)
	return &wire.HelloReply{Version: hi, Session: id, Capabilities: capsOf(sh.store)}, nil
}

func capsOf(st mailbox.Store) []wire.Capability {
	var caps []wire.Capability
	if _, ok := st.(mailbox.ChangeTracker); ok {
		caps = append(caps, wire.Capability_CAPABILITY_CHANGE_TRACKER)
	}
	if _, ok := st.(mailbox.UIDSetter); ok {
		caps = append(caps, wire.Capability_CAPABILITY_UID_SETTER)
	}
	if _, ok := st.(mailbox.Batcher); ok {
		caps = append(caps, wire.Capability_CAPABILITY_BATCHER)
	}
	if _, ok := st.(mailbox.IndexScanner); ok {
		caps = append(caps, wire.Capability_CAPABILITY_INDEX_SCANNER)
	}
	if _, ok := st.(mailbox.Settler); ok {
		caps = append(caps, wire.Capability_CAPABILITY_SETTLER)
	}
	return caps
}

// Bye ends the session.
func (s *Server) Bye(ctx context.Context, _ *wire.Empty) (*wire.Empty, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	vals := md.Get(mdSession)
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(vals) == 1 {
		if se := s.mu.sessions[vals[0]]; se != nil {
			if err := s.endLocked(vals[0], se); err != nil {
				return nil, statusOf(err)
			}
		}
	}
	return &wire.Empty{}, nil
}

// with runs f on the call's store.
func (s *Server) with(ctx context.Context, f func(st mailbox.Store, se *session) error) error {
	se, done, err := s.session(ctx)
	if err != nil {
		return err
	}
	defer done()
	if err := f(se.store.store, se); err != nil {
		return statusOf(err)
	}
	return nil
}

// badRequest is the error of a value the client sent that does not parse.
func badRequest(op, name string, err error) error {
	return &mailbox.Error{Op: op, Store: "mailrepld", Mailbox: name, Err: err}
}

func (s *Server) Mailboxes(ctx context.Context, _ *wire.Empty) (out *wire.InfoList, err error) {
	err = s.with(ctx, func(st mailbox.Store, _ *session) error {
		infos, err := st.Mailboxes(ctx)
		out = &wire.InfoList{}
		for _, i := range infos {
			out.Infos = append(out.Infos, toInfo(i))
		}
		return err
	})
	return out, err
}

func (s *Server) Status(ctx context.Context, req *wire.NameRequest) (out *wire.Info, err error) {
	err = s.with(ctx, func(st mailbox.Store, _ *session) error {
		i, err := st.Status(ctx, req.GetMailbox())
		out = toInfo(i)
		return err
	})
	return out, err
}

// sendList streams a listing in batches.
func sendList[T any](seq iter.Seq2[T, error], conv func(T) *wire.Message, send func(*wire.MessageList) error) error {
	l := &wire.MessageList{}
	for m, err := range seq {
		if err != nil {
			return err
		}
		l.Messages = append(l.Messages, conv(m))
		if len(l.Messages) == listBatch {
			if err := send(l); err != nil {
				return err
			}
			l = &wire.MessageList{}
		}
	}
	if len(l.Messages) > 0 {
		return send(l)
	}
	return nil
}

func plain(m mailbox.Message) *wire.Message { return toMessage(m, false) }

func (s *Server) Messages(req *wire.MessagesRequest, ss wire.Store_MessagesServer) error {
	ctx := ss.Context()
	return s.with(ctx, func(st mailbox.Store, _ *session) error {
		set, err := fromSet(req.GetSet())
		if err != nil {
			return badRequest("list", req.GetMailbox(), err)
		}
		return sendList(st.Messages(ctx, req.GetMailbox(), set), plain, ss.Send)
	})
}

func (s *Server) Open(req *wire.OpenRequest, ss wire.Store_OpenServer) error {
	ctx := ss.Context()
	return s.with(ctx, func(st mailbox.Store, _ *session) error {
		rc, err := st.Open(ctx, req.GetMailbox(), uid.UID(req.GetUid()))
		if err != nil {
			return err
		}
		defer rc.Close()
		if err := ss.Send(&wire.Chunk{}); err != nil {
			return err
		}
		buf := make([]byte, chunkSize)
		for {
			n, err := io.ReadFull(rc, buf)
			if n > 0 {
				if serr := ss.Send(&wire.Chunk{Data: buf[:n]}); serr != nil {
					return serr
				}
			}
			if err == io.EOF || err == io.ErrUnexpectedEOF {
				return nil
			}
			if err != nil {
				return &mailbox.Error{Op: "open", Store: "mailrepld", Mailbox: req.GetMailbox(), UID: uid.UID(req.GetUid()), Err: err}
			}
		}
	})
}

func (s *Server) Create(ctx context.Context, req *wire.NameRequest) (out *wire.Info, err error) {
	err = s.with(ctx, func(st mailbox.Store, _ *session) error {
		i, err := st.Create(ctx, req.GetMailbox())
		out = toInfo(i)
		return err
	})
	return out, err
}

func (s *Server) Rename(ctx context.Context, req *wire.RenameRequest) (*wire.Empty, error) {
	return &wire.Empty{}, s.with(ctx, func(st mailbox.Store, _ *session) error {
		return st.Rename(ctx, req.GetOldName(), req.GetNewName())
	})
}

func (s *Server) Delete(ctx context.Context, req *wire.NameRequest) (*wire.Empty, error) {
	return &wire.Empty{}, s.with(ctx, func(st mailbox.Store, _ *session) error {
		return st.Delete(ctx, req.GetMailbox())
	})
}

func (s *Server) Subscribe(ctx context.Context, req *wire.SubscribeRequest) (*wire.Empty, error) {
	return &wire.Empty{}, s.with(ctx, func(st mailbox.Store, _ *session) error {
		return st.Subscribe(ctx, req.GetMailbox(), req.GetSubscribed())
	})
}

// bodyReader is the literal of an append as it comes off a stream: the
// chunks up to the end (EOF) or an abort (an error: nothing is stored).
type bodyReader struct {
	next func() (*wire.AppendPart, error)
	size int64
	buf  []byte
	err  error
	// aborted: the client ended the body with an abort; the stream is
	// at the next operation.
	aborted bool
}

func (b *bodyReader) Size() int64 { return b.size }

func (b *bodyReader) Read(p []byte) (int, error) {
	for len(b.buf) == 0 {
		if b.err != nil {
			return 0, b.err
		}
		part, err := b.next()
		switch {
		case err == io.EOF:
			b.err = io.ErrUnexpectedEOF
		case err != nil:
			b.err = err
		case part.GetEnd() != nil:
			b.err = io.EOF
		case part.GetAbort() != "":
			b.aborted = true
			b.err = errors.New("remote: the client aborted the append: " + part.GetAbort())
		case part.GetHeader() != nil:
			b.err = errors.New("remote: protocol: an append header within a body")
		default:
			b.buf = part.GetChunk()
		}
	}
	n := copy(p, b.buf)
	b.buf = b.buf[n:]
	return n, nil
}

// drain reads what remains of the body, so that the stream is at the next
// operation; it returns whether the body ended cleanly.
func (b *bodyReader) drain() bool {
	for b.err == nil {
		b.buf = nil
		b.Read(make([]byte, 1))
	}
	return b.err == io.EOF
}

// appendOne runs one append whose header is h and whose body next reads.
func appendOne(ctx context.Context, h *wire.AppendHeader, next func() (*wire.AppendPart, error), name string,
	plain func(mailbox.Literal, mailbox.AppendMeta) (uid.UID, error),
	withUID func(uid.UID, mailbox.Literal, mailbox.AppendMeta) error) (uid.UID, *bodyReader, error) {
	lit := &bodyReader{next: next, size: h.GetSize()}
	meta, err := fromMeta(h)
	if err != nil {
		return 0, lit, badRequest("append", name, err)
	}
	if h.GetSetUid() {
		if withUID == nil {
			return 0, lit, badRequest("append", name, mailbox.ErrNotSupported)
		}
		u := uid.UID(h.GetUid())
		return u, lit, withUID(u, lit, meta)
	}
	u, err := plain(lit, meta)
	return u, lit, err
}

func (s *Server) Append(ss wire.Store_AppendServer) error {
	ctx := ss.Context()
	return s.with(ctx, func(st mailbox.Store, _ *session) error {
		first, err := ss.Recv()
		if err != nil {
			return err
		}
		h := first.GetHeader()
		if h == nil {
			return errors.New("remote: protocol: an append without a header")
		}
		name := h.GetMailbox()
		var withUID func(uid.UID, mailbox.Literal, mailbox.AppendMeta) error
		if us, ok := st.(mailbox.UIDSetter); ok {
			withUID = func(u uid.UID, lit mailbox.Literal, meta mailbox.AppendMeta) error {
				return us.AppendUID(ctx, name, u, lit, meta)
			}
		}
		u, _, err := appendOne(ctx, h, ss.Recv, name,
			func(lit mailbox.Literal, meta mailbox.AppendMeta) (uid.UID, error) {
				return st.Append(ctx, name, lit, meta)
			},
			withUID)
		if err != nil {
			return err
		}
		return ss.SendAndClose(&wire.AppendReply{Uid: uint32(u)})
	})
}

func (s *Server) StoreFlags(ctx context.Context, req *wire.StoreFlagsRequest) (*wire.Empty, error) {
	return &wire.Empty{}, s.with(ctx, func(st mailbox.Store, _ *session) error {
		set, err := fromSet(req.GetSet())
		if err != nil {
			return badRequest("store", req.GetMailbox(), err)
		}
		flags, err := fromFlags(req.GetFlags())
		if err != nil {
			return badRequest("store", req.GetMailbox(), err)
		}
		return st.StoreFlags(ctx, req.GetMailbox(), set, mailbox.FlagOp(req.GetOp()), flags)
	})
}

func (s *Server) Expunge(ctx context.Context, req *wire.SetRequest) (*wire.Empty, error) {
	return &wire.Empty{}, s.with(ctx, func(st mailbox.Store, _ *session) error {
		set, err := fromSet(req.GetSet())
		if err != nil {
			return badRequest("expunge", req.GetMailbox(), err)
		}
		return st.Expunge(ctx, req.GetMailbox(), set)
	})
}

func notSupported(op, name string) error {
	return &mailbox.Error{Op: op, Store: "mailrepld", Mailbox: name, Err: mailbox.ErrNotSupported}
}

func (s *Server) Changes(req *wire.ChangesRequest, ss wire.Store_ChangesServer) error {
	ctx := ss.Context()
	return s.with(ctx, func(st mailbox.Store, _ *session) error {
		ct, ok := st.(mailbox.ChangeTracker)
		if !ok {
			return notSupported("changes", req.GetMailbox())
		}
		seq := ct.Changes(ctx, req.GetMailbox(), uid.Validity(req.GetUidValidity()), mailbox.ModSeq(req.GetSince()))
		return sendList(seq, func(c mailbox.Change) *wire.Message { return toMessage(c.Message, c.Expunged) }, ss.Send)
	})
}

func (s *Server) SetUIDNext(ctx context.Context, req *wire.SetUIDNextRequest) (*wire.Empty, error) {
	return &wire.Empty{}, s.with(ctx, func(st mailbox.Store, _ *session) error {
		us, ok := st.(mailbox.UIDSetter)
		if !ok {
			return notSupported("set uidnext", req.GetMailbox())
		}
		return us.SetUIDNext(ctx, req.GetMailbox(), uid.UID(req.GetNext()))
	})
}

func (s *Server) ResetUIDs(ctx context.Context, req *wire.ResetUIDsRequest) (*wire.Empty, error) {
	return &wire.Empty{}, s.with(ctx, func(st mailbox.Store, _ *session) error {
		us, ok := st.(mailbox.UIDSetter)
		if !ok {
			return notSupported("reset uids", req.GetMailbox())
		}
		if len(req.GetSrc()) != len(req.GetDst()) {
			return badRequest("reset uids", req.GetMailbox(), errors.New("a UID map of unequal halves"))
		}
		m := new(uid.Map)
		for i, src := range req.GetSrc() {
			if err := m.Add(uid.UID(src), uid.UID(req.GetDst()[i])); err != nil {
				return badRequest("reset uids", req.GetMailbox(), err)
			}
		}
		return us.ResetUIDs(ctx, req.GetMailbox(), uid.Validity(req.GetUidValidity()), m)
	})
}

func (s *Server) Bodiless(req *wire.NameRequest, ss wire.Store_BodilessServer) error {
	ctx := ss.Context()
	return s.with(ctx, func(st mailbox.Store, _ *session) error {
		sc, ok := st.(mailbox.IndexScanner)
		if !ok {
			return notSupported("bodiless", req.GetMailbox())
		}
		return sendList(sc.Bodiless(ctx, req.GetMailbox()), plain, ss.Send)
	})
}

func (s *Server) DropBodiless(ctx context.Context, req *wire.SetRequest) (*wire.Empty, error) {
	return &wire.Empty{}, s.with(ctx, func(st mailbox.Store, _ *session) error {
		sc, ok := st.(mailbox.IndexScanner)
		if !ok {
			return notSupported("drop bodiless", req.GetMailbox())
		}
		set, err := fromSet(req.GetSet())
		if err != nil {
			return badRequest("drop bodiless", req.GetMailbox(), err)
		}
		return sc.DropBodiless(ctx, req.GetMailbox(), set)
	})
}

func (s *Server) Settle(ctx context.Context, req *wire.NameRequest) (*wire.Empty, error) {
	return &wire.Empty{}, s.with(ctx, func(st mailbox.Store, _ *session) error {
		se, ok := st.(mailbox.Settler)
		if !ok {
			return notSupported("settle", req.GetMailbox())
		}
		return se.Settle(ctx, req.GetMailbox())
	})
}

// Batch runs one batch over a stream. A stream that ends without a
// commit (a client that died, a cut connection) closes the batch, which
// undoes its appends.
func (s *Server) Batch(ss wire.Store_BatchServer) error {
	ctx := ss.Context()
	return s.with(ctx, func(st mailbox.Store, _ *session) error {
		first, err := ss.Recv()
		if err != nil {
			return err
		}
		begin := first.GetBegin()
		if begin == nil {
			return errors.New("remote: protocol: a batch that does not begin")
		}
		name := begin.GetMailbox()
		bt, ok := st.(mailbox.Batcher)
		if !ok {
			return ss.Send(&wire.BatchReply{Error: detailOf(notSupported("batch", name))})
		}
		b, err := bt.Batch(ctx, name)
		if err != nil {
			return ss.Send(&wire.BatchReply{Error: detailOf(err)})
		}
		defer b.Close()
		if err := ss.Send(&wire.BatchReply{}); err != nil {
			return err
		}
		reply := func(u uid.UID, err error) error {
			r := &wire.BatchReply{Uid: uint32(u)}
			if err != nil {
				r.Error = detailOf(err)
			}
			return ss.Send(r)
		}
		for {
			part, err := ss.Recv()
			if err != nil {
				return err // EOF included: the defer closes the batch
			}
			switch {
			case part.GetAppend() != nil:
				h := part.GetAppend().GetHeader()
				if h == nil {
					return errors.New("remote: protocol: an append without a header")
				}
				next := func() (*wire.AppendPart, error) {
					p, err := ss.Recv()
					if err != nil {
						return nil, err
					}
					if p.GetAppend() == nil {
						return nil, errors.New("remote: protocol: a batch part within a body")
					}
					return p.GetAppend(), nil
				}
				u, lit, err := appendOne(ctx, h, next, name,
					func(lit mailbox.Literal, meta mailbox.AppendMeta) (uid.UID, error) { return b.Append(ctx, lit, meta) },
					func(u uid.UID, lit mailbox.Literal, meta mailbox.AppendMeta) error {
						return b.AppendUID(ctx, u, lit, meta)
					})
				if !lit.drain() && !lit.aborted {
					return lit.err // the stream broke within the body
				}
				if err := reply(u, err); err != nil {
					return err
				}
			case part.GetCommit() != nil:
				if err := reply(0, b.Commit(ctx)); err != nil {
					return err
				}
			case part.GetClose() != nil:
				return reply(0, b.Close())
			default:
				return errors.New("remote: protocol: an unknown batch part")
			}
		}
	})
}
