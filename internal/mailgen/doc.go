// Package mailgen generates deterministic mail accounts: realistic
// messages, their folders, flags and internal dates, for the demo, the
// engine's benchmarks and comparisons with other replication tools.
//
// # The stream
//
// A [Generator] is a stream of messages numbered from 0, fixed by a seed
// and [Options]. [Generator.Message] returns message i alone: each message
// draws from random streams derived from (seed, i) (PCG from math/rand/v2;
// no global randomness, no clock), so message 999,999 costs the same as
// message 0, and messages can be generated in any order and in parallel.
// [Generator.AppendTo] writes a message into a caller's buffer, for speed.
//
// # What the mail looks like
//
// The defaults follow a real mailbox, and the corpus the benchmark anchors
// (doveadm backup, mbsync, rsync) were timed on:
//
//   - Folders ([DefaultFolders]): INBOX, Archive, Archive/2023,
//     Lists/golang-nuts and Lists/debian-devel (whose parent "Lists" is not
//     a folder), Sent, Drafts, Trash, Work and Été, by weight (INBOX 30 %,
//     Drafts 1 %).
//   - Headers: Return-Path, Delivered-To and one to three Received lines
//     on received mail, DKIM signatures on half of it, Date in the
//     sender's zone, From/To/Cc (display names quoted or RFC 2047 encoded
//     when not ASCII), Subject, Message-ID (1 % have none), List-Id and
//     List-Unsubscribe in list folders, User-Agent, Drafts' own header.
//   - Threads: 30 % of messages try to reply to an earlier one nearby (in
//     the same list for list mail): In-Reply-To, References up to four
//     levels, "Re:" subjects, quoted text, a date after the parent's.
//   - Sizes: a message without attachment is log-normal, median 4 KiB
//     (TextMedian, TextSigma). 15 % are multipart/alternative (text and
//     HTML). 3 % carry a base64 attachment of random bytes (median
//     96 KiB), and 0.1 % one that makes them 1 MiB to MaxSize (default
//     4 MiB): a few-thousand-message account holds a few messages over
//     1 MiB. No message exceeds MaxSize.
//   - Text: 6 % of messages are 8-bit UTF-8, with encoded-word subjects
//     and RFC 2231 file names; 0.2 % have a body line longer than the 998
//     bytes RFC 5322 allows, and 0.2 % bare CRs (CR without LF) in their
//     body: a replica must copy those bytes exactly.
//   - Duplicates: 0.2 % of messages are byte-for-byte copies of an earlier
//     message ([Message.Original]), as after a copy between folders.
//   - The rare features (large messages, duplicates, long lines, bare CRs,
//     missing Message-IDs) are spread evenly over the stream rather than
//     drawn at random: any n consecutive messages hold n times the rate of
//     each, give or take three; an account of 3,000 messages holds two to
//     five large ones (over 3,000 seeds tried).
//   - Flags: most mail \Seen; unread mail mostly in INBOX and the lists;
//     \Answered, \Flagged, the private flag [mailbox.Passed] with
//     $Forwarded on forwarded mail, $Label1-3, Junk, NonJunk, $MDNSent;
//     \Draft in Drafts, a few \Deleted in Trash.
//   - Dates: root messages spread evenly over [Epoch, Epoch+Span) (2021
//     to 2024 by default) whatever the account's size; a reply comes
//     minutes to days after its parent. The internal date is the Date
//     plus a delivery delay, in UTC, to the second.
//   - Line endings: LF as Maildir stores mail, or CRLF (Options.CRLF) as
//     IMAP sends it; both forms of a message have the same EmailID.
//
// Every message parses with github.com/emersion/go-message, and the tests
// check it over thousands of messages.
//
// # The knobs
//
// [Options] sets the sizes (MaxSize, TextMedian, TextSigma), the share of
// each feature (AttachmentRate, LargeRate, AlternativeRate, EightBitRate,
// NoMessageIDRate, DuplicateRate, LongLineRate, BareCRRate, ReplyRate; a
// negative rate turns the feature off), the folders and their weights, the
// owner's address and the dates. A benchmark that wants a million small
// messages sets AttachmentRate and LargeRate to -1.
//
// # Accounts and stores
//
// [Generator.Account] yields the first n messages, each naming its folder.
// [Generator.Populate] writes them into a [mailbox.Store]: it creates the
// folders, appends with flags and internal dates (through a
// [mailbox.Batcher] when the store is one), streams (a few messages in
// memory at a time) and returns [Stats]. [Generator.Mutate] then changes
// a store as days of use would: new mail ([Generator.NewMail], dated after
// the account's), flag changes and expunges, chosen from a seed and the
// store's content, so that incremental runs are reproducible.
//
// Use one Generator per user, each with its own seed.
package mailgen
