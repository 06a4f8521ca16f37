// Package maildir is a [mailbox.Store] over a Maildir++ tree that a
// Dovecot 2.3 server can share at the same time: it reads what Dovecot
// writes and writes what Dovecot serves, with the same UIDs, UIDVALIDITY,
// flags and keywords, so a replica made here can be put behind Dovecot
// and IMAP clients that fail over to it keep their caches.
//
// It implements [mailbox.UIDSetter] (a replica keeps its source's UIDs and
// UIDVALIDITY) and [mailbox.Batcher] (many appends, one directory fsync
// and one dovecot-uidlist rewrite). It does not implement
// [mailbox.ChangeTracker]: a Maildir keeps no modseqs, and Dovecot, MUAs
// and delivery agents change a tree without telling anyone, so a change
// log kept here would miss their changes and answer "changes since"
// wrongly. Listing instead is cheap (no message body is read; see
// Messages), and HighestModSeq is always zero.
//
// # Layout
//
// The root directory is INBOX (cur/, new/, tmp/). Every other mailbox is
// a directory ".A.B" beside them for the name "A/B": levels separated by
// '.', each level in modified UTF-7 (RFC 3501 §5.1.3), as Dovecot stores
// names by default ("Été" is ".&AMk-t&AOk-"). Children of INBOX are
// ".INBOX.x". A folder holds the empty file "maildirfolder". A name whose
// level holds a '.', or that starts with '~', cannot be stored and is
// refused with [mailbox.ErrInvalidName]; so is a folder that is a symlink
// leading outside the root. Directories that are not Maildir++ folders
// (such as the "foo/" of some trees) are left alone; a ".x" directory this
// store cannot name is skipped with a warning. Subscriptions are Dovecot's
// "subscriptions" file (header "V\t2", levels separated by tabs). tmp/ is
// created when a message is first delivered, never when reading.
//
// # Message files
//
// A message is one file, "<base>" in new/ or "<base>:2,<flags>" in cur/.
// The base is the message's identity and is never changed. Delivered
// files get Dovecot's form of base,
//
//	<seconds>.M<microseconds>P<pid>Q<n>.<host>,S=<size>,W=<vsize>
//
// where S= is the file's exact size and W= its size with CRLF line endings
// (IMAP's RFC822.SIZE), so that a listing needs no read. Flag letters,
// always in ASCII order: D \Draft, F \Flagged, R \Answered, S \Seen,
// T \Deleted, P [mailbox.Passed] (no IMAP flag; Dovecot shows it to no
// one, and a copy keeps the letter), any other capital X the private flag
// "%Maildir-X" (kept so that nothing is lost), and a-z keywords through
// the folder's dovecot-keywords file (whose letters may differ between
// two trees; a letter it lacks is "unknown-<n>", as Dovecot names it).
// Other characters of the flags are kept when flags change. A folder has
// 26 keyword letters: a 27th keyword is refused with
// [mailbox.ErrInvalidFlag], as are private flags other than these.
//
// Files whose names do not parse (hidden files, an empty base, more than
// one ':', a CR or LF) are not listed, never renamed or deleted, and
// reported once to Options.Logger.
//
// # UIDs: dovecot-uidlist
//
// Each folder's dovecot-uidlist (version 3; version 1 is read too) gives
// UIDs:
//
//	3 V<uidvalidity> N<nextuid> G<mailbox guid>
//	<uid> [<key><value> ...] :<base>
//
// The G value is the mailbox's [mailbox.ID] (one is made when missing, as
// Dovecot does). A line whose file is gone is an expunged message: it is
// not listed, and its UID is never given again. Fields this store does not
// know are kept when it rewrites the file. Files not in the uidlist (new
// deliveries, trees without one) get UIDs as Dovecot gives them: sorted
// by the seconds in their names, then the microseconds after ".M", then
// by name, from UIDNEXT up; the store then publishes them, so Dovecot and
// it agree. (When the uidlist lock is busy, a listing does not wait: such
// files are left out until a later call can publish them, as in Dovecot.) A folder without a uidlist gets a new UIDVALIDITY from the
// root's dovecot-uidvalidity file, as with Dovecot (the current time the
// first time, one more each time after). A uidlist that is damaged or of
// an unknown version is an error wrapping [mailbox.ErrCorrupt] that names
// the file and line; the store then changes nothing in that folder.
//
// The uidlist also caches what a listing would otherwise read from the
// message files, in a field Dovecot keeps when it rewrites or compacts
// the file (checked against Dovecot 2.3.19 in the tests):
//
//	X1:<EmailID>[:<internal date>]
//
// version 1 of the field: the SHA-256 of the message with CRLF line
// endings ([mailbox.EmailID]) as 64 hex digits, or nothing when not known
// yet, then the internal date in Unix seconds (the file's mtime when
// first seen; like Dovecot's own cache, it is not looked at again). It is
// filled on every append; the EmailID when a body is read to its end
// through Open, the date when a listing first stats the file. What is
// learned is written with the next rewrite of the file (at once when it
// amounts to a quarter of the folder, or at Close). A field X of another
// version is kept and not read.
// Open checks a body against its cached EmailID and its S= size at the
// end, and fails with an error wrapping [mailbox.ErrCorrupt] and
// [mailbox.ErrEmailIDMismatch] when they differ.
//
// # Locking and durability
//
// The uidlist is changed under Dovecot's dotlock, "dovecot-uidlist.lock"
// (created with O_EXCL, holding "<pid>:<host>"; taken as stale after 2
// minutes without a change, or at once when it names a dead process of
// this host and is 2 seconds old; waited for up to Options.LockTimeout),
// so that Dovecot and this store can deliver into one folder at once.
// An append writes the file into tmp/, sets its mtime to the internal
// date (kept to the second), fsyncs it, takes the lock, renames it into
// cur/ (or new/ when it has no flags), fsyncs the directory, and only then
// publishes its UID: the uidlist is written to a temporary file, fsynced,
// renamed over the old one, and the folder fsynced. A batch does the
// same with one directory fsync and one uidlist rewrite for all its
// appends, holding the lock meanwhile (touched now and then, so it does
// not look stale); keep batches short, since Dovecot waits for them. The
// batch's goroutine may list, read and change flags meanwhile. A
// crash leaves at worst files without UIDs, which the next listing gives
// new UIDs: nothing is lost. A single append rewrites the whole uidlist,
// so its cost grows with the folder: use batches for bulk copies.
//
// Flag changes rename files, expunges delete them; both fsync the
// directory. Messages yields UIDs from the uidlist joined with a readdir
// of new/ and cur/ (read again when a directory changed during the read,
// and not at all while neither changed), flags from names, sizes from S=,
// EmailIDs and internal dates from the cache; it stats a file only when
// its name has no S= or its date is not cached yet. A file renamed by
// another program between a listing and Open is found again; one that is
// gone gives [mailbox.ErrNotFound].
//
// Errors are [*mailbox.Error] values naming the operation, the store, the
// mailbox (as the caller spelled it), the UID and the path concerned.
package maildir
