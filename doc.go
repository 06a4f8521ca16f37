// Package mailrepl replicates mail by meaning rather than by bytes on disk.
//
// mailrepl compares two mail stores message by message: which messages each
// mailbox holds, under which UIDs, with which flags. It then makes one side
// agree with the other, streaming only the difference, and it recovers from
// storage loss by expunging the messages whose bodies are gone and
// delivering restored copies under new UIDs. Because it never copies
// filesystem blocks or index files, damage on one side (a truncated file,
// a corrupt index) is not carried to the other.
//
// This package holds no code. It is the tour of the library; the work is
// done in the packages below.
//
// # Who it is for
//
// A mail server embeds it: the server offers its storage as a store,
// records each change in a journal, and a goroutine keeps a replica up to
// date. A batch tool (examples/sync_all_users) moves thousands of accounts
// from one server to another under rate limits, resumes after a crash and
// never lets one account's failure stop the rest. A restore script, run
// after a disk loss, brings back what a backup holds without resurrecting
// mail the user deleted since.
//
// # Packages
//
// Each package imports only packages listed above it:
//
//   - [github.com/mailrepl/mailrepl/uid]: UIDs, UIDVALIDITY values, sets of
//     UIDs written in IMAP sequence-set syntax ("1:4,7,9:*") and maps that
//     pair the UIDs of two mailboxes. It imports nothing of ours.
//   - [github.com/mailrepl/mailrepl/mailbox]: what is replicated between.
//     Its central interface is
//     [github.com/mailrepl/mailrepl/mailbox.Store], one user's mailboxes:
//     its Reader half is all a source or a backup must offer, its Writer
//     half what a target must also do. Listings stream message
//     metadata sorted by UID; bodies stream on demand. Optional
//     capabilities, found by type assertion, let a store answer "what
//     changed since modseq N" (ChangeTracker), keep a source's UIDs
//     (UIDSetter) or make many appends durable at once (Batcher). The
//     package also defines flags (system flags, keywords, and private flags
//     such as Maildir's "passed" that IMAP cannot name), mailbox names, the
//     sentinel errors and the EmailID.
//   - Backends live below mailbox: mailbox/memstore keeps mailboxes in
//     memory (the reference every other package tests against),
//     mailbox/maildir works on Maildir++ trees as Dovecot writes them.
//     Each passes the one conformance suite in mailbox/mailboxtest.
//   - journal records, in a pebble database, what each sync agreed on (the
//     state of a pair of mailboxes), the intent of each copy before it is
//     made, and the messages users expunged (tombstones).
//   - replica is the engine: diff, plan, apply; the modes; recovery and
//     restore.
//   - ratelimit holds the limits on messages and bytes per second, per
//     account and in total. replica only declares the small Limiter it
//     needs; the programs in examples connect the two.
//
// # Identity
//
// A message is known across stores by its EmailID: the SHA-256 of its raw
// bytes with every line ending written as CRLF. A Maildir file (LF endings)
// and the same message fetched over IMAP (CRLF) have the same EmailID. It
// is computed while the message streams past, so no message is ever held
// in memory whole, and a copy is checked against it as it is written: a
// body that no longer matches its EmailID fails the copy with
// [github.com/mailrepl/mailrepl/mailbox.ErrCorrupt] instead of spreading.
// Stores that rewrite messages are matched by a weaker Fingerprint of the
// Message-ID, Date, From and Subject fields and the size.
//
// # How data flows
//
// One sync of a pair of mailboxes reads both listings, sorted by UID, and
// merge-joins them with the state the journal kept from the last sync. The
// result is a plan: create, rename or delete mailboxes, append messages,
// change flags, expunge. Making the plan is a pure function, without I/O,
// so it is tested exhaustively. Applying it is rate-limited and batched;
// before each append the journal records the intent, so a run stopped at
// any point is finished by the next one without duplicates, and the state
// is committed only once the target has made the change durable. A store
// that keeps modseqs is asked only for what changed since the last sync.
//
// # Modes
//
//   - mirror: the target becomes identical to the source, UIDs and
//     UIDVALIDITY included where the target lets them be set, so that
//     IMAP clients failing over to a replica keep their caches.
//   - sync: a two-way merge. New mail goes both ways, flags are merged
//     against the last agreed state, expunges propagate, UID conflicts are
//     renumbered.
//   - migrate: a one-way copy of what is missing, identified by EmailID
//     (or Fingerprint); nothing is deleted.
//
// # Recovery
//
// After a storage loss, recovery scans a mailbox for messages whose body
// is missing, unreadable or no longer matches its EmailID, expunges them
// so that clients never see empty messages, and records each as lost.
// Restore then delivers, from a backup or a repaired volume, each message
// whose EmailID the live mailbox lacks and that the user did not expunge
// (no tombstone), with a new UID and its old flags and date. Running it
// twice restores nothing the second time. When the journal cannot tell
// (it started after the backup was taken), a policy decides; the default
// restores, because an extra message is better than a lost one.
//
// # Errors
//
// Errors name the operation, the store, the mailbox and the UID or file
// they concern, and wrap sentinel errors that callers test with errors.Is,
// such as [github.com/mailrepl/mailrepl/mailbox.ErrNotFound] and
// [github.com/mailrepl/mailrepl/mailbox.ErrUIDValidityChanged]. Bad input,
// an unsafe mailbox name such as "../x", a malformed message, damaged
// state, is refused with such an error; it never crashes the process and
// never deletes data.
package mailrepl
