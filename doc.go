// Package mailrepl replicates mail by meaning rather than by bytes on disk.
//
// mailrepl compares two mail stores message by message: which messages each
// mailbox holds, under which UIDs, with which flags. It then makes one side
// agree with the other, streaming only the difference, and it recovers from
// storage loss by expunging the messages whose bodies are gone and
// delivering restored copies under new UIDs. Because it never copies
// filesystem blocks or index files, damage on one side (a truncated file,
// a corrupt index) is not carried to the other. It reads a source without
// changing it, copies every message byte for byte and keeps every flag,
// including those IMAP cannot name, such as Maildir's P ("passed").
//
// This package holds no code. It is the tour of the library; the work is
// done in the packages below. README.md shows the two commands (the demo
// and the tests), the batch tools' flags and measured figures.
//
// # Who it is for
//
// A mail server embeds it: the server offers its storage as a store,
// records its users' changes in a journal, and a goroutine keeps a replica
// up to date. The batch tool examples/sync_all_users replicates thousands
// of accounts from one server to another under rate limits, resumes after
// a crash and never lets one account's failure stop the rest. The restore
// tool examples/restore, run after a disk loss, expunges what is gone and
// brings back what a backup holds without resurrecting mail users deleted.
//
// # Packages
//
// Each package imports only packages listed above it:
//
//   - [github.com/mailrepl/mailrepl/uid]: UIDs, UIDVALIDITY values, sets of
//     UIDs written in IMAP sequence-set syntax ("1:4,7,9:*") and maps that
//     pair the UIDs of two mailboxes. It imports nothing of ours.
//   - [github.com/mailrepl/mailrepl/mailbox]: what is replicated between.
//     A [github.com/mailrepl/mailrepl/mailbox.Reader] is all a source or a
//     backup must offer; a [github.com/mailrepl/mailrepl/mailbox.Store]
//     (Reader, Writer, Close) is a target. Listings stream message metadata
//     sorted by UID; bodies stream on demand. Optional capabilities, found
//     by type assertion, let a store answer "what changed since modseq N"
//     (ChangeTracker), keep a source's UIDs (UIDSetter), make many appends
//     durable at once (Batcher) or list index entries whose body is gone
//     (IndexScanner). The package also defines flags (system flags,
//     keywords, and private flags such as mailbox.Passed), mailbox names,
//     the sentinel errors, the EmailID and the Fingerprint.
//   - Backends live below mailbox. mailbox/memstore keeps mailboxes in
//     memory and implements every capability: the reference the other
//     packages test against. mailbox/maildir works on Maildir++ trees
//     that a running Dovecot 2.3 shares, with Dovecot's UIDs, UIDVALIDITY,
//     flags and keywords. mailbox/mbox and mailbox/loose read mbox files
//     and directories of loose message files (lost+found, .eml folders),
//     read only, for restores and migrations. mailbox/remote is a store
//     on another machine, over mailrepl's own protocol (gRPC): its client
//     has every capability of the store the server exposes, so a mirror
//     to a remote Maildir keeps UIDs as a local one does, and its Server
//     is what examples/mailrepld serves. Each passes the conformance
//     suite in mailbox/mailboxtest (Run for stores, RunReader for
//     read-only ones).
//   - journal keeps, in a pebble database, a change log with named cursors
//     (for an embedding server and its replicators), what each sync agreed
//     on (the state of a pair of mailboxes), the intent of each copy before
//     it is made, tombstones (mail users expunged), lost records (mail
//     recovery expunged), an EmailID cache and the batch tools' progress.
//     Its format is versioned; it commits concurrent writers together.
//   - replica is the engine: the Syncer (mirror, sync, migrate), Recover
//     and Restore, and the reports. JournalState keeps its state in a
//     journal.
//   - ratelimit holds the limits on messages and bytes per second (in
//     total, per server, per user), a cap on what is in flight per server,
//     and rates that back off when a server struggles. replica only
//     declares the small Limiter it needs; the programs in examples
//     connect the two.
//
// # Identity
//
// A message is known across stores by its EmailID: the SHA-256 of its raw
// bytes with every line ending written as CRLF. A Maildir file (LF endings)
// and the same message fetched over IMAP (CRLF) have the same EmailID. It
// is computed while the message streams past, so no message is ever held
// in memory whole, and a copy is checked against it as it is written: a
// body that no longer matches its EmailID fails the copy with
// [github.com/mailrepl/mailrepl/mailbox.ErrCorrupt], is reported, and is
// not replicated. A migration from a store that rewrites messages matches
// them by a weaker Fingerprint of the Message-ID, Date, From and Subject
// fields and the size.
//
// # How data flows
//
// A sync first makes the two sides' sets of mailboxes agree: a mailbox is
// known by its ID, so a rename is a rename. Then, for each pair of
// mailboxes, it reads both listings, sorted by UID, and merge-joins them
// with the state the journal kept from the last sync, so memory does not
// grow with the mailbox. The result is a stream of operations: append,
// change flags, expunge, pair. Planning is a pure function, without I/O,
// checked by golden scripts and randomized model tests. Applying is
// rate-limited and batched: before the appends of a batch the journal
// records their intents, the store makes the batch durable, and only then
// is the state committed, so a run killed at any point is finished by the
// next one with nothing lost and nothing duplicated. A store that keeps
// modseqs is asked only for what changed since the last sync; a Maildir is
// listed without reading a body.
//
// When the target can set UIDs, a mirror keeps the source's UIDVALIDITY
// and UIDs, so IMAP clients that fail over to the replica keep their
// caches. When a side can no longer match, the engine realigns it by
// EmailID, renumbering in place without copying bodies again.
//
// A sync's state follows the stores, not the paths or host names they are
// reached by: mailboxes are known by the IDs the stores carry (Dovecot's
// mailbox GUIDs), and a pair whose name finds no state (trees moved to new
// storage, a template rewritten) finds it by those IDs. A store that keeps
// no UID list (a Maildir that Postfix or procmail wrote, an mbox, loose
// files) is numbered through a mailbox.UIDKeeper that the journal
// implements, by its messages' names, so that it keeps its UIDs from run
// to run and wherever it is mounted, without anything written into it.
//
// # Modes
//
//   - mirror ([github.com/mailrepl/mailrepl/replica.Mirror]): the target
//     becomes the source. Mail found only on the target that no sync put
//     there (split brain: the replica was used as the primary) is by
//     default copied back to the source with new UIDs and reported; the
//     policy DeleteTargetOnly deletes it from the target instead, and
//     reports it. Nothing is destroyed silently.
//   - sync (replica.TwoWay): a two-way merge. New mail goes both ways, an
//     expunge wins over a flag change on the other side, flags merge flag
//     by flag against the last agreed state, and a UID holding different
//     messages on the two sides gives both new UIDs above both UIDNEXTs.
//   - migrate (replica.Migrate): a one-way copy of what the target lacks,
//     identified by EmailID (or Fingerprint); nothing is deleted.
//
// # Recovery and its safety rules
//
// After a storage loss, replica.Recover scans a store for messages whose
// body is missing, unreadable, truncated or no longer matches its EmailID,
// records each as lost, then expunges exactly those, so that clients never
// see blank messages. replica.Restore then delivers, from a backup or a
// repaired volume (any Reader: a Maildir snapshot, an mbox, loose files,
// the replica), each message whose EmailID the live mailbox lacks and
// whose deletion by its user is not on record, with a new UID above
// UIDNEXT and its old flags and internal date. Running it twice restores
// nothing the second time.
//
// A storage loss must never spread to the other side, nor look like a
// user's choice. The engine keeps these rules:
//
//   - A side whose UIDNEXT went back under the same UIDVALIDITY (restored
//     from an old copy, or its index damaged), or whose UIDVALIDITY
//     changed while it lost most of the mail both sides had, is
//     distrusted: until a sync of the mailbox completes, nothing that
//     side lacks is taken as expunged, and the mailboxes are re-paired by
//     EmailID. A UIDVALIDITY that changed with the mail still there (a
//     UID list lost and rebuilt) costs the UIDs only: the EmailIDs of the
//     last agreed state still tell a message a side expunged from one it
//     never had. A mailbox missing from one side is deleted on the other
//     only when its deletion by a user is on record (unless the caller
//     sets Options.TrustMissingMailboxes); otherwise a two-way sync
//     recreates it, and a mirror keeps it on the target and reports it.
//   - A message recovery recorded as lost is not expunged from the
//     replica: a mirror keeps the replica's copy, to restore from.
//   - Tombstones are written only for expunges taken as a user's: those
//     a sync propagates from a trusted side, and those an embedding server
//     logs in the journal (an expunge event without an Origin, or
//     journal.Batch.PutTombstone).
//     Recovery's expunges leave lost records, not tombstones, and no
//     tombstone is written for a message whose EmailID the mailbox still
//     holds under another UID.
//   - Restore never brings back a message whose deletion by its user is on
//     record. The evidence, strongest first: a lost record (restore,
//     unless a newer tombstone says otherwise); a tombstone (skip); the
//     live mailbox's own UID index, for stores that track expunges under
//     an unchanged UIDVALIDITY (a UID below UIDNEXT that is absent was
//     expunged after the backup: skip). Only without any evidence is a
//     message unsure, and then a policy decides: RestoreWhenUnsure, the
//     default, because an extra message is better than a lost one, or
//     SkipWhenUnsure. On a Dovecot Maildir an uidlist line without its
//     file is no proof of loss (Dovecot leaves the line after an expunge
//     until it compacts the file): recovery records it as lost but unsure.
//
// # Errors
//
// Errors name the operation, the store, the mailbox and the UID or file
// they concern, and wrap sentinel errors that callers test with errors.Is,
// such as [github.com/mailrepl/mailrepl/mailbox.ErrNotFound] and
// [github.com/mailrepl/mailrepl/mailbox.ErrUIDValidityChanged]. Bad input,
// an unsafe mailbox name such as "../x", a malformed message, damaged
// state, is refused with such an error; it never crashes the process and
// never deletes data. In a sync, an error on one message goes into the
// report and the rest goes on; an error that makes a mailbox unsafe stops
// that mailbox only.
package mailrepl
