// Package journal keeps what replication must remember across crashes,
// restarts and upgrades, in one directory:
//
//   - the change log: [Event]s appended by an embedding mail server or by
//     the replication engine, numbered by a [Seq] that never repeats, with
//     named cursors for consumers, [Journal.Wait] to block until new events
//     arrive, [Journal.Dirty] to ask which mailboxes changed since a
//     cursor, and [Journal.Truncate] below the lowest cursor;
//   - the sync state of each pair of stores and mailbox: a [Header] with
//     both sides' UIDVALIDITY, UIDNEXT and HIGHESTMODSEQ, and the [Entry]s
//     the two sides agreed on, streamed in source-UID order
//     ([Journal.State]) or target-UID order ([Journal.StateByDst]);
//   - [Tombstone]s (a user expunged this EmailID: the engine leaves one
//     for every expunge it propagates, and an expunge event a server logs
//     leaves one by itself, see [Event.Origin]) and [Lost] records
//     (recovery expunged this message), which restore consults;
//   - [Intent]s: copies about to be made, so that a run that crashed
//     between the target's write and the state commit resolves it on the
//     next run without a duplicate;
//   - an EmailID cache for stores that must read a whole body to compute
//     one ([Journal.EmailID], [Journal.EmailIDs]);
//   - [Record]s: small key/value records that a program built on the
//     journal keeps in a namespace of its own, committed with the same
//     durability as the rest (a batch tool's progress: [Batch.PutRecord],
//     [Journal.Record], [Journal.Records], [Batch.DeleteRecords]).
//
// # Writing
//
// Every change goes through a [Batch]: its events, cursor moves, state
// entries, intents and records become durable together, all or none, when
// [Batch.Commit] returns. [Journal.Append], [Journal.SetCursor],
// [Journal.Truncate] and [Journal.Reset] are one-change batches. One
// goroutine commits: the batches queued while a commit is syncing share the
// next commit and its single disk sync (group commit), so concurrent
// writers get throughput without giving up durability. A batch that asks
// something refused (a cursor beyond the last event, a target UID paired
// twice) fails alone, even when it shared a group with others. A commit
// whose ctx ends before the batch was handed to the disk writes nothing.
// The EmailID cache is the exception: [Journal.PutEmailIDs] writes without
// a sync, as a lost cache entry is only computed again.
//
// A typical consumer of the change log:
//
//	cur, _, _ := j.Cursor("replica-b")
//	for {
//		if err := j.Wait(ctx, cur); err != nil { … }
//		last := j.LastSeq() // before reading the stores
//		for m, err := range j.Dirty(ctx, cur) { … sync m.User's m.Mailbox … }
//		b := j.NewBatch()
//		… b.PutEntry, b.PutHeader, b.DeleteIntent for what was synced …
//		b.SetCursor("replica-b", last) // the progress, in the same commit
//		if _, err := b.Commit(ctx); err != nil { … }
//		cur = last
//	}
//
// # Reading
//
// Reads of many records are iterators ([iter.Seq2]) that yield the records
// as of the moment the iteration starts (a snapshot). They hold a few
// hundred records at a time and no open storage iterator between chunks,
// so memory stays flat however large a mailbox, and a slow consumer holds
// nothing up. An error ends an iteration and is yielded once with a zero
// value; breaking out early is allowed. Point reads (Header, Entry,
// Cursor, Tombstone, EmailID, Record) take no context.
//
// # Errors
//
// Errors are [*Error] values naming the operation, the directory and the
// record or argument concerned, wrapping the sentinels of this package:
// [ErrClosed] after Close; [ErrInUse] when another process has the
// directory open (its LOCK file is held); [ErrFormatTooNew] and
// [ErrFormatTooOld], naming the version found and the versions this build
// reads; [ErrCorrupt] for a damaged file (named) or a record that does not
// decode (its key spelled out), never a panic; [ErrTruncated] for events
// removed by Truncate; [ErrInvalid] for bad arguments; [ErrNotJournal] for
// a directory that holds someone else's files. ErrCorrupt also matches
// mailbox.ErrCorrupt and ErrClosed mailbox.ErrClosed. A damaged record
// fails only the reads and batches that meet it; [Journal.Reset] removes a
// pair's state without reading it.
//
// # Storage engine
//
// The journal is built on github.com/cockroachdb/pebble/v2 (v2.1.7), an
// LSM key-value store with synced, group-committed writes, snapshots and
// per-block checksums. Version 2 rather than 1: it is the maintained major
// line, and its on-disk format (pinned here to FormatValueSeparation, so a
// library upgrade never changes the files by itself) adds WAL sync chunks,
// which tell a write cut short by a crash from damage in all but the log's
// last block, and sstable footer checksums. No pebble type appears in this
// package's API. Close flushes the memtable, so that after a clean
// shutdown nothing lives only in the log file. Damage that pebble finds in
// a file is logged to Options.Logger and returned as ErrCorrupt; pebble's
// default of exiting the process is turned off.
//
// # Layout, format version 2
//
// Keys start with a one-byte table number; numbers are big-endian so that
// keys sort numerically; strings are escaped (0x00 → 0x00 0xFF) and end
// with 0x00 0x01, which keeps their order and makes no encoded string a
// prefix of another. Values start with a record-type byte; numbers in
// values are varints, strings are length-prefixed, flags are their
// canonical text (mailbox.Flags.String), times are a presence byte and
// Unix seconds and nanoseconds (UTC).
//
//	key                                                    value
//	───────────────────────────────────────────────────────────────────────────
//	00 'F'                                                 01 version          format version
//	00 'T'                                                 12 seq              truncated through seq
//	01 seq:8                                               10 event            change log
//	02 name                                                11 seq              cursor
//	03 user mbox                                           13 dirty            last change of a mailbox
//	04 seq:8 user mbox                                     13 dirty            the same, by seq (Dirty)
//	10 pair srcID                                          20 header           sync state header
//	11 pair srcID srcUID:4                                 21 entry            entries by source UID
//	12 pair srcID dstUID:4                                 21 entry            the same, by target UID
//	13 pair srcID EmailID:32 dir:1 fromUID:4               22 intent           intents (dir 'T' or 'S')
//	14 srcID pair                                          23                  pair index (v2)
//	20 user mboxID EmailID:32 uid:4                        30 tombstone        tombstones by mailbox
//	21 user EmailID:32 mboxID uid:4                        30 tombstone        the same, by EmailID
//	22 user mboxID EmailID:32 uid:4                        31 lost             lost records
//	30 store mboxID uidvalidity:4 uid:4                    40 EmailID:32       EmailID cache
//	40 namespace key                                       50 record           programs' records
//	50 numberingID                                         60 numbering        numberings (v2)
//	51 numberingID key                                     61 uid              their messages' UIDs
//	52 scheme key numberingID                              62                  the numberings of a key
//	53 scope scheme name                                   63 numberingID      a mailbox's numbering by name
//	00 'V'                                                 64 uidvalidity      the last UIDVALIDITY a numbering took
//
//	mbox  = 'i' mailboxID | 'n' mailboxName    (by name only when events give no ID)
//	event = kind:1 user mailboxID mailbox oldName uidvalidity uidset
//	        n EmailID:32×n flags flagOp:1 modseq time origin
//	uidset = n, then per range: start−previous stop, stop−start
//	dirty = seq mailboxID mailbox deleted:1
//	header = side(src) side(dst) updated,  side = mailboxID mailbox uidvalidity uidnext highestmodseq
//	entry = srcUID dstUID EmailID:32 flags          (both copies identical; the key's UID must match)
//	intent = dstUID time                            (the rest is in the key)
//	tombstone = mailbox time
//	lost = mailbox flags internalDate size reason time
//	record = n byte×n                               (the program's value, uninterpreted)
//	numbering = scheme scope name uidvalidity uidnext updated
//
// The dirty index holds, per mailbox, the last event that changed it, in
// two orders: by mailbox (read when an event is appended, to move the
// mailbox's entry) and by sequence number (scanned by Dirty from a cursor
// on, one record per changed mailbox). It is written in the same commit as
// the events and is not truncated with them.
//
// # Versions
//
// [FormatVersion] is stored under the reserved key 00 'F'. Open refuses a
// newer version (ErrFormatTooNew) and upgrades an older one step by step,
// each step committed with its new version number, so an upgrade cut short
// resumes where it stopped. Version 2 added the pair index and the
// numberings; upgrading a version 1 journal builds the index from its
// headers (TestUpgradeFrom1BuildsPairIndex), and the machinery itself is
// exercised with synthetic versions in the tests. A record whose encoding
// changes gets a new record-type byte, and the old decoder stays:
// testdata/format/vN holds golden encodings of every record of version N,
// and every one of them must decode forever (TestGoldenFormat; regenerate
// the current version's with -update only when the format deliberately
// changes).
//
// # Numberings
//
// A store that keeps no UID list and must not be written to (a read-only
// Maildir without dovecot-uidlist, an mbox, loose files) numbers its
// messages through [Journal.UIDKeeper], which implements
// mailbox.UIDKeeper: a message keeps its UID while it stays, and a
// mailbox is found again by its messages' keys (a Maildir file's unique
// name), not by where the store is mounted. See [Journal.Number].
package journal
