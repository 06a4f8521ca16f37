package mailbox

import "strings"

// SpecialUse is the special use of a mailbox (RFC 6154): the role a mail
// client gives it, whatever its name. The zero value is no special use.
// The values are the attributes IMAP's LIST gives, "\Sent" and so on.
type SpecialUse string

// The special uses of RFC 6154.
const (
	UseNone    SpecialUse = ""
	UseAll     SpecialUse = `\All`     // every message of the store (Gmail's "All Mail")
	UseArchive SpecialUse = `\Archive` // archived messages
	UseDrafts  SpecialUse = `\Drafts`  // messages being written
	UseFlagged SpecialUse = `\Flagged` // a virtual view of the \Flagged messages
	UseJunk    SpecialUse = `\Junk`    // spam
	UseSent    SpecialUse = `\Sent`    // copies of sent messages
	UseTrash   SpecialUse = `\Trash`   // deleted messages
)

// SpecialUses lists the special uses of RFC 6154.
var SpecialUses = []SpecialUse{UseAll, UseArchive, UseDrafts, UseFlagged, UseJunk, UseSent, UseTrash}

// ParseSpecialUse returns the special use an IMAP mailbox attribute
// names, matched without regard to case, and whether it names one.
func ParseSpecialUse(attr string) (SpecialUse, bool) {
	for _, u := range SpecialUses {
		if strings.EqualFold(attr, string(u)) {
			return u, true
		}
	}
	return UseNone, false
}

// wellKnown maps the lower-cased names mail clients and servers give
// special-use folders to their use. The names are whole mailbox names:
// "Archive/2024" is no archive folder, "[Gmail]/Sent Mail" is Gmail's.
var wellKnown = map[string]SpecialUse{
	"sent": UseSent, "sent items": UseSent, "sent messages": UseSent, "sent mail": UseSent,
	"[gmail]/sent mail": UseSent, "[google mail]/sent mail": UseSent,
	"drafts": UseDrafts, "draft": UseDrafts, "[gmail]/drafts": UseDrafts, "[google mail]/drafts": UseDrafts,
	"trash": UseTrash, "deleted items": UseTrash, "deleted messages": UseTrash, "deleted": UseTrash,
	"[gmail]/trash": UseTrash, "[google mail]/trash": UseTrash, "[gmail]/bin": UseTrash, "[google mail]/bin": UseTrash,
	"junk": UseJunk, "spam": UseJunk, "junk e-mail": UseJunk, "junk email": UseJunk, "bulk mail": UseJunk,
	"[gmail]/spam": UseJunk, "[google mail]/spam": UseJunk,
	"archive": UseArchive, "archives": UseArchive,
	"[gmail]/all mail": UseAll, "[google mail]/all mail": UseAll,
	"[gmail]/starred": UseFlagged, "[google mail]/starred": UseFlagged,
}

// GuessSpecialUse guesses the special use of a mailbox from its name, for
// a store that does not tell (Maildir keeps no such attribute): "Sent",
// "Sent Items", "Sent Messages" and "[Gmail]/Sent Mail" are \Sent,
// "Trash", "Deleted Items" and "Deleted Messages" are \Trash, "Junk",
// "Spam" and "Junk E-mail" are \Junk, and so on. The name is matched
// whole and without regard to case; a top-level name may also stand
// under INBOX ("INBOX/Sent", as Courier and Dovecot's INBOX namespace
// prefix lay them out). INBOX itself has no special use.
func GuessSpecialUse(name string) SpecialUse {
	n := strings.ToLower(name)
	if u, ok := wellKnown[n]; ok {
		return u
	}
	if rest, ok := strings.CutPrefix(n, "inbox"+string(Delimiter)); ok && !strings.ContainsRune(rest, Delimiter) {
		return wellKnown[rest]
	}
	return UseNone
}
