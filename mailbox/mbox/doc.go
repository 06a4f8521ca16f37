// Package mbox reads mbox files as a read-only [mailbox.Reader], so that
// a restore can deliver the messages of an mbox backup (an exported
// folder, a Thunderbird profile, a /var/mail spool) into a live store.
// It never writes.
//
// # Files and mailboxes
//
// [Open] takes one mbox file, which is one mailbox (named by
// Options.Mailbox, INBOX by default), or a directory of them: then every
// regular file that is empty or starts with a "From " line is a mailbox,
// named by its path below the directory with '/' between levels, without
// a ".mbox" or ".mbx" extension (other dots stay: "lists.golang" is a
// name); a directory "X.sbd" (where Thunderbird keeps X's children) is
// the level "X"; a file named "inbox" in any case is INBOX. Other files
// are left out and reported by [Store.Skipped] with the reason: hidden
// files, files that do not start with a From line, Thunderbird's .msf
// summaries, names that are no mailbox names or that a file before took,
// symlinks leading outside the directory or to a directory (not
// followed; a symlink to a file inside is).
//
// # The format
//
// A message starts with a "From " line at the start of the file or after
// a blank line (RFC 4155); that blank line, the separator, belongs to
// neither message. Open returns the bytes between the From line and the
// separator, unescaped: the message as an MDA delivered it. Lines end in
// LF or CRLF (a blank line is either); a file may lack its final newline
// or its final blank line. A "From " line that does not follow a blank
// line is message text. A non-empty file that does not start with
// "From " is refused with a [*FormatError] naming the byte offset.
//
// Writers escape the message lines that would look like From lines, in
// one of two ways ([Quoting]). mboxrd (the default) adds a '>' to every
// line matching ^>*From  and is undone exactly. mboxo adds a '>' only to
// lines starting "From ", and is ambiguous: a message line that read
// ">From " when it was written reads "From " afterwards, and nothing in
// the file tells the two apart. mboxrd's reading is the better guess for
// a file of unknown kind (it differs from mboxo's only on lines ">>From ").
// Raw turns unescaping off. Content-Length (mboxcl) is not read: such
// files split at their From lines like the others.
//
// # What a listing gives
//
// UIDs are 1 to n in file order. Flags come from the header fields mail
// programs keep in the file: Status (R: \Seen; O, "old", gives none),
// X-Status (A: \Answered, F: \Flagged, D: \Deleted, T: \Draft),
// X-Keywords (Dovecot's keywords), X-Mozilla-Status (Thunderbird: read,
// replied, marked, expunged as \Deleted, forwarded as $Forwarded) and
// X-Mozilla-Keys; those fields stay in the bytes, so the EmailID is that
// of the bytes as stored, status fields and all. The internal date is
// the From line's (asctime, with a zone if the line has one, else in
// Options.Location, UTC by default), or the file's mtime when the line
// has none. The first message of a file is left out when its header has
// an X-IMAP field: UW-IMAP, Pine and Dovecot keep their folder's data in
// it ("DON'T DELETE THIS MESSAGE -- FOLDER INTERNAL DATA"). X-UID and
// X-IMAPbase are not read.
//
// # Indexing
//
// A file is indexed in one streaming pass by the first call that needs
// it (Status, Mailboxes, Messages, Open), under that call's context: the
// pass finds each message's offset and length, and computes its
// unescaped size, EmailID and flags as it reads every byte. The index
// holds about a hundred bytes per message and no message text, so files
// of many gigabytes are read in memory that grows with the number of
// messages only; listings read nothing more. Open reads the message by
// offset, unescaping as it goes, and checks its size and EmailID against
// the index at the end ([mailbox.ErrCorrupt] if they differ).
//
// UIDVALIDITY is derived from the messages (their EmailIDs and sizes, in
// order) and is never 0; the mailbox ID from that and the mailbox's name:
// any two Stores over the same bytes agree, wherever the file lies, and
// a file whose messages change gets a new UIDVALIDITY. When the file
// changes (size, mtime or inode) after it was indexed, the next Status,
// Mailboxes or Messages indexes it again, and Open, which reads by the
// index the caller's listing used, fails with an error wrapping
// [mailbox.ErrUIDValidityChanged] until then.
//
// Errors are [*mailbox.Error] values naming the operation, the store,
// the mailbox as the caller spelled it, the UID and the file.
package mbox
