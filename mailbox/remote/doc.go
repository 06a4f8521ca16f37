// Package remote is a [mailbox.Store] on another machine, over mailrepl's
// own protocol (gRPC, defined in internal/wire/wire.proto), and the
// [Server] that exposes local stores to it.
//
// IMAP carries mail between machines, but not all of it: an IMAP server
// chooses its own UIDs, and private flags, EmailIDs and batching are lost
// on the way. The store [Dial] returns has every optional interface that
// the store behind the server has (mailbox.ChangeTracker, UIDSetter,
// Batcher, IndexScanner, Settler), as the handshake tells, so a mirror to
// a remote Maildir keeps UIDVALIDITY and UIDs exactly as a local mirror
// does, and a Dovecot on the replica machine serves the primary's UIDs.
//
//	st, err := remote.Dial(ctx, "replica.example.org:7143", "alice", &remote.Options{
//		Token: token, TLS: &tls.Config{RootCAs: pool},
//	})
//
// # Protocol
//
// A client opens a session with Hello: it names the user and the range
// of protocol versions it speaks ([MinVersion] to [MaxVersion]); the
// server answers with the highest version both speak and the store's
// capabilities, or refuses, and the error names both ranges
// ([ErrVersion]). Every later call names the session. Listings stream in
// batches of messages; bodies stream in 128 KiB chunks both ways, never
// whole in memory, with gRPC's flow control as the backpressure. A batch
// is one stream: if it breaks (a client or connection lost) the server
// closes the batch, which undoes what was not committed, as a local batch
// closed before Commit.
//
// Unary calls get a deadline (Options.CallTimeout) when ctx has none; a
// stream that gets no answer for Options.IdleTimeout fails; keepalive
// pings find a dead connection. Errors are *mailbox.Error values that
// name the operation, the store, the mailbox and the UID, and wrap the
// sentinel errors the server's store returned, so errors.Is works across
// the wire; transport failures wrap mailbox.ErrTransient.
//
// # Security
//
// Every call carries a bearer token, compared in constant time. TLS 1.3
// is required (Options.TLS; the server's certificate is verified, mutual
// TLS when the server asks for a client certificate); plaintext is
// allowed only to and on a loopback address ([ErrInsecure]). The server
// checks each user name itself ([ValidUser]: "../x", "a/b", NUL are
// refused with [ErrUnsafeUser]) before its [Opener] confines the store to
// a template. Neither bodies nor the token are logged.
//
// # Load
//
// A server caps the connections it serves (ServerOptions.MaxConns) and
// the calls in flight (MaxStreams); beyond them it answers gRPC
// RESOURCE_EXHAUSTED with a retry delay. The client waits that long and
// tries again (Options.Retries), and tells its [Observer], which the
// programs connect to a rate limiter, so that a batch slows down rather
// than piling up.
package remote
