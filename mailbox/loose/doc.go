// Package loose reads a directory of loose message files as a read-only
// [mailbox.Reader], so that a restore can deliver them into a live store:
// the files fsck leaves in lost+found after a crash (named "#<inode>"),
// files copied out of a Maildir's cur/ and new/, a folder of .eml files.
// It never writes.
//
// # Mailboxes
//
// Each directory level is a mailbox: the directory [Open] is given holds
// Options.Mailbox (INBOX by default), and a directory below it the
// mailbox named by its path ("a/b"); with Options.Flat, every file of the
// tree is in that one mailbox. A directory with a cur/ or new/ is a
// Maildir: the files of both are its own, its tmp/ (deliveries not
// finished) is left out. Left out too, and reported by [Store.Skipped]
// with the reason: hidden files and directories (a Maildir++ folder
// ".Sent" is one: read such a tree with package maildir), Dovecot's and
// Courier's control files, symlinks leading outside the directory or to
// a directory (not followed; a symlink to a file inside is), directories
// whose path is no mailbox name or names a mailbox another took (INBOX
// in any case is the root's), with everything below them.
//
// # Messages
//
// UIDs are 1 to n in the order of the files' names (byte order; for two
// files of one name in cur/ and new/, or in two directories of a flat
// tree, by path). The first call that needs a mailbox examines its files,
// several at once, under that call's context: each is opened without
// following symlinks and its first 8 KiB read. Left out, with the
// reason: empty files, files that cannot be read, and files that are
// clearly not mail: no header line ("Name: value", the name of ASCII
// letters, digits, '-' and '_') at the start of any line of those bytes,
// or a NUL byte before the first one. This is a guess meant to keep out
// images, binaries and text files; a text file with a line such as
// "Note: …" passes for mail. No error about one file fails the store.
//
// A listing reads no message: sizes and dates come from stat; flags from
// Maildir names ("…:2,<flags>", or "!2,"), as in package maildir (D F P
// R S T, other capitals "%Maildir-<letter>", a-z through the
// dovecot-keywords file of the Maildir the file came from, or
// "unknown-<n>" without one); EmailIDs are listed for files of at most
// 8 KiB, which examining read whole, and zero for the others (the engine
// computes them when it needs them). The internal date is the file's
// mtime, where Maildir programs keep it, except for a Maildir name whose
// leading seconds are more than ten minutes older than the mtime: the
// file was copied without its mtime, and the name's time is taken.
//
// UIDVALIDITY is derived from the files (their paths, sizes and mtimes,
// in UID order) and is never 0; the mailbox ID from that and the
// mailbox's name: two Stores over the same files agree. A Store sees the
// files as they were when it examined them: open a new one to see files
// added or removed since. Open fails with [mailbox.ErrNotFound] for a
// file removed since, and with [mailbox.ErrCorrupt] for one whose size
// changed, or (at the end of the read) whose bytes no longer have the
// EmailID listed.
//
// Errors are [*mailbox.Error] values naming the operation, the store,
// the mailbox as the caller spelled it, the UID and the file.
package loose
