package mailbox

import (
	"context"

	"github.com/mailrepl/mailrepl/uid"
)

// UIDKeeper remembers the UIDs, UIDVALIDITY and ID of mailboxes whose
// store keeps no UID list of its own and must not be written to: a Maildir
// without dovecot-uidlist opened read-only (what Postfix, procmail,
// getmail or Courier's delivery wrote, or a file-level backup of it), an
// mbox file, a directory of loose message files. Without a keeper such a
// store derives its numbering from its files, so that adding or removing
// one renumbers the mailbox; with one, a message keeps its UID for as
// long as it stays, a new message gets the next UID, and a removed one is
// an expunge.
//
// A keeper identifies a mailbox by what its messages are called (a
// Maildir's unique file names), never by the path the store is reached
// by: a tree moved, remounted or copied elsewhere keeps its numbering. The
// journal implements it (journal.Journal.UIDKeeper); a store declares the
// need and the program connects the two, as with the rate limiter.
type UIDKeeper interface {
	// Number gives the messages of one mailbox their UIDs. Messages
	// whose keys the mailbox's numbering holds keep their UIDs; new keys
	// get UIDs from UIDNEXT on, in the order given; keys the numbering
	// holds and req does not name are forgotten (the messages are gone:
	// expunged). The first call for a mailbox the keeper does not know
	// starts a numbering with a fresh ID and UIDVALIDITY. What it
	// assigns is durable when it returns.
	Number(ctx context.Context, req NumberRequest) (Numbering, error)

	// Forget drops a numbering: its store has taken it over (a Maildir
	// opened for writing wrote it into its own UID list), so a later
	// loss of that list starts a new numbering under a new UIDVALIDITY
	// rather than reusing UIDs the store gave since.
	Forget(ctx context.Context, id ID) error
}

// NumberRequest asks a [UIDKeeper] for the numbering of one mailbox.
type NumberRequest struct {
	// Scheme is the kind of store ("maildir", "mbox", "loose"): keys of
	// different schemes never meet.
	Scheme string
	// Name is the mailbox's name as the store lists it. It finds the
	// numbering of a mailbox without messages, and chooses between
	// numberings that hold the same keys.
	Name string
	// Keys name the mailbox's messages, one each, unique, in the order in
	// which new ones are to be numbered. A key must stay the same for as
	// long as the message does (a Maildir file's name before ":2,", which
	// survives flag changes and moves between new/ and cur/).
	Keys []string
	// Taken are the IDs of numberings the store's other mailboxes hold;
	// Others are the names of its other mailboxes. A numbering last seen
	// under the name of another mailbox that still exists stays that
	// mailbox's (a folder some of whose files were moved into a new one
	// keeps its numbering), while the numbering of a mailbox whose name
	// is gone follows its messages (a rename).
	Taken  []ID
	Others []string
}

// Numbering is what a [UIDKeeper] keeps of one mailbox.
type Numbering struct {
	ID          ID
	UIDValidity uid.Validity
	UIDNext     uid.UID
	// UIDs[i] is the UID of the request's Keys[i].
	UIDs []uid.UID
}
