// Package imapstore is a [mailbox.Store] over an IMAP4rev1 or IMAP4rev2
// account, so that mail is replicated, migrated and restored to and from
// any IMAP server. It is built on go-imap v2's client (a beta, kept behind
// this package's own code) and go-sasl.
//
//	s, err := imapstore.Dial(ctx, imapstore.Options{
//		Addr: "imap.example.org:993",
//		Auth: imapstore.Auth{User: "alice", Password: pw},
//	})
//
// # What the server gives
//
// Capabilities are used where the server offers them: UIDPLUS (APPENDUID
// gives an appended message's UID; UID EXPUNGE removes exactly the
// messages asked for: a bare EXPUNGE, which would also remove what a user
// marked \Deleted, is sent only when nothing else is so marked),
// CONDSTORE (modseqs, HIGHESTMODSEQ and CHANGEDSINCE: the store is a
// [mailbox.ChangeTracker], see below), LIST-EXTENDED and LIST-STATUS
// (every mailbox's status in one command), UNSELECT, SASL-IR, AUTH=PLAIN.
// Without UIDPLUS an appended message is found above the old UIDNEXT by
// its internal date.
//
// It is no [mailbox.UIDSetter]: IMAP gives a client no say over UIDs, so a
// mirror into it maps UIDs in the sync state.
//
// # Names and flags
//
// Names are mapped between the API's '/' and the server's hierarchy
// separator, and sent in modified UTF-7 (RFC 3501 §5.1.3); a name whose
// level holds the server's separator is refused with ErrInvalidName. A
// mailbox's ID is its UIDVALIDITY ("uidvalidity-N"): it stays through a
// rename and changes when a mailbox is deleted and made again (go-imap
// cannot parse RFC 8474's MAILBOXID).
//
// A mailbox's special use (RFC 6154: \Sent, \Trash, ...) is taken from
// LIST, asked with RETURN (SPECIAL-USE) of a server that offers
// SPECIAL-USE and LIST-EXTENDED (Dovecot leaves the attributes out
// otherwise). A server without SPECIAL-USE that gives no attribute does
// not say: the name tells it ([mailbox.GuessSpecialUse]). The engine
// pairs folders of one use whose names differ across stores by it.
//
// Keywords are kept as the server spells them. IMAP has no private flags:
// [mailbox.Passed], Maildir's P, is stored as the keyword $Forwarded (its
// meaning), and other private flags are dropped. A listing shows
// $Forwarded as it is.
//
// Bodies come back as the server keeps them: line endings CRLF, which
// leaves the EmailID unchanged (it is computed on CRLF-normalised bytes).
//
// # Identity
//
// Listings carry no body, so no EmailID, except from the Cache: an
// EmailID computed while a body streamed through Open or Append is kept
// there by store (CacheID: the login and the server), mailbox ID,
// UIDVALIDITY and UID, so that a body is read for its EmailID once.
//
// # Connections
//
// A [Pool] caps the connections to one server, shared by every store (one
// per user) of that server; a store waiting for a slot has other stores'
// idle connections closed. Every command runs under a guard that closes
// the connection when the context ends or when the server makes no
// progress for Options.Timeout (go-imap has no contexts, and waits for an
// answer forever). A connection that failed (a BYE, a reset, a timeout)
// is dropped; reads, flag changes and expunges are tried once more on a
// new connection, which selects the mailbox again, and a UIDVALIDITY that
// changed fails UID-addressed changes with ErrUIDValidityChanged. An
// APPEND is not repeated: the server may have stored the message before
// the connection dropped, and the engine finds such a copy by EmailID.
//
// Open reads the whole body (in memory, or in a temporary file past 16
// MiB) and waits for the FETCH to complete before it returns: go-imap
// reads a literal cut short as a clean end and reports it only when the
// command completes, and a message must not be taken for whole before
// then. Append holds back the literal's last byte until the reader has
// ended cleanly with the declared size (and the expected EmailID): a
// short, long or failing literal is abandoned with its connection, so the
// server stores nothing.
//
// # Changes without QRESYNC
//
// go-imap v2 cannot parse VANISHED, so QRESYNC is not used. Changes gives
// new and changed messages from UID FETCH (CHANGEDSINCE), and expunges
// from what the store knows itself: within one session, the snapshots
// (message count and UIDNEXT) it took at each HIGHESTMODSEQ it reported,
// and the expunges it made. When those account for every message the
// snapshot held, the answer is exact; otherwise, and for a modseq from
// another session, Changes answers ErrChangesUnavailable and the caller
// lists the mailbox (UID and FLAGS of every message: cheap).
//
// # Errors and throttling
//
// Errors are [*mailbox.Error] values naming the store ("imap://user@host:port"),
// the mailbox and the UID, wrapping the server's own words and the
// sentinel its response code means ([NONEXISTENT] ErrNotFound,
// [ALREADYEXISTS] ErrExists, …). A lost connection, a timeout, NO
// [LIMIT], [UNAVAILABLE], [INUSE], THROTTLED, a BYE for too many
// connections and Office 365's "Suggested Backoff Time" are
// [mailbox.ErrTransient], and the last ones are told to the Observer (a
// rate limiter) with the pause asked for.
package imapstore
