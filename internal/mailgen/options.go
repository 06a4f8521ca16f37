package mailgen

import (
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/mailrepl/mailrepl/mailbox"
)

// Kind is what a folder holds; it shapes the headers and flags of the
// messages generated into it.
type Kind int

const (
	// Received mail: Received chains, mostly \Seen, some unread,
	// answered, flagged or forwarded.
	Received Kind = iota
	// List is a mailing list folder: List-Id and List-Unsubscribe headers,
	// a "[name]" subject tag (name is the folder's last level), more
	// unread mail; replies stay within the folder.
	List
	// Sent mail: from the account's owner, no Received headers, \Seen.
	Sent
	// Drafts: from the owner, no Received headers, \Draft.
	Drafts
	// Trash: received mail, mostly \Seen, a few \Deleted.
	Trash
)

func (k Kind) String() string {
	switch k {
	case Received:
		return "received"
	case List:
		return "list"
	case Sent:
		return "sent"
	case Drafts:
		return "drafts"
	case Trash:
		return "trash"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// Folder is one mailbox of a generated account.
type Folder struct {
	Name   string  // mailbox name as the mailbox API spells it: UTF-8, '/' between levels
	Kind   Kind    // what it holds
	Weight float64 // its share of the messages, relative to the other folders' weights
}

// DefaultFolders returns the folders of a generated account unless
// [Options] says otherwise: INBOX, a two-level archive, two mailing lists
// whose parent "Lists" is not itself a folder, Sent, Drafts, Trash, Work
// and "Été" (a name that is not ASCII). The weights follow a real account:
// INBOX holds 30 % of the mail, Drafts 1 %. The slice is new on every call.
func DefaultFolders() []Folder {
	return []Folder{
		{Name: mailbox.Inbox, Kind: Received, Weight: 30},
		{Name: "Archive", Kind: Received, Weight: 16},
		{Name: "Archive/2023", Kind: Received, Weight: 8},
		{Name: "Lists/golang-nuts", Kind: List, Weight: 12},
		{Name: "Lists/debian-devel", Kind: List, Weight: 8},
		{Name: "Sent", Kind: Sent, Weight: 10},
		{Name: "Drafts", Kind: Drafts, Weight: 1},
		{Name: "Trash", Kind: Trash, Weight: 3},
		{Name: "Work", Kind: Received, Weight: 8},
		{Name: "Été", Kind: Received, Weight: 4},
	}
}

// The defaults of [Options].
const (
	DefaultMaxSize    = 4 << 20 // bytes
	DefaultTextMedian = 4096    // bytes
	DefaultTextSigma  = 0.9
	DefaultOwner      = "mail.user@example.org"

	DefaultAttachmentRate  = 0.03
	DefaultLargeRate       = 0.001
	DefaultAlternativeRate = 0.15
	DefaultEightBitRate    = 0.06
	DefaultNoMessageIDRate = 0.01
	DefaultDuplicateRate   = 0.002
	DefaultLongLineRate    = 0.002
	DefaultBareCRRate      = 0.002
	DefaultReplyRate       = 0.3
)

// DefaultEpoch is the date of the oldest generated mail unless [Options]
// says otherwise; DefaultSpan is how far the dates spread after it.
var (
	DefaultEpoch = time.Date(2021, time.January, 1, 0, 0, 0, 0, time.UTC)
	DefaultSpan  = 3 * 365 * 24 * time.Hour
)

// MinMaxSize is the smallest MaxSize accepted: room for the headers, a
// long line and an attachment.
const MinMaxSize = 64 << 10

// Options configures a [Generator]. A nil *Options is valid and means all
// defaults; a zero field means that field's default. A rate is the share of
// messages, from 0 to 1, that have the feature; a negative rate means none.
type Options struct {
	// CRLF writes line endings as CRLF, as IMAP transfers messages;
	// the default is LF, as Maildir stores them.
	CRLF bool
	// MaxSize is the largest message generated, in bytes. Default
	// DefaultMaxSize (4 MiB); at least MinMaxSize.
	MaxSize int
	// TextMedian is the median size in bytes of a message without an
	// attachment, and TextSigma the standard deviation of the logarithm
	// of its size (log-normal). Defaults DefaultTextMedian and
	// DefaultTextSigma.
	TextMedian int
	TextSigma  float64
	// Folders are the account's folders (default [DefaultFolders]).
	Folders []Folder
	// Owner is the account owner's address: To of received mail, From of
	// sent mail. Default DefaultOwner.
	Owner string
	// Epoch is the date of the oldest mail; Span how far dates spread
	// after it. Defaults DefaultEpoch and DefaultSpan. Mail added by
	// [Generator.Mutate] is dated after Epoch+Span.
	Epoch time.Time
	Span  time.Duration

	// AttachmentRate: messages with a base64 attachment of random bytes
	// (log-normal, median 96 KiB). Default 3 %.
	AttachmentRate float64
	// LargeRate: messages with an attachment that makes them between
	// 1 MiB and MaxSize. Default 0.1 %, so an account of a few thousand
	// messages holds a few.
	LargeRate float64
	// AlternativeRate: messages without attachment that are
	// multipart/alternative, text and HTML. Default 15 %.
	AlternativeRate float64
	// EightBitRate: messages whose text is 8-bit UTF-8 (and whose
	// subject, often, an RFC 2047 encoded word). Default 6 %.
	EightBitRate float64
	// NoMessageIDRate: messages without a Message-ID header. Default 1 %.
	NoMessageIDRate float64
	// DuplicateRate: messages whose bytes are exactly those of an earlier
	// message of the stream. Default 0.2 %.
	DuplicateRate float64
	// LongLineRate: messages with a body line longer than the 998 bytes
	// RFC 5322 allows. Default 0.2 %.
	LongLineRate float64
	// BareCRRate: messages with CRs not followed by LF in their body.
	// Default 0.2 %.
	BareCRRate float64
	// ReplyRate: messages that try to reply to an earlier one (In-Reply-To,
	// References, "Re:" subject). Default 30 %.
	ReplyRate float64
}

// rates lists the rate fields with their names and defaults.
func (o *Options) rates() []struct {
	name string
	p    *float64
	def  float64
} {
	return []struct {
		name string
		p    *float64
		def  float64
	}{
		{"AttachmentRate", &o.AttachmentRate, DefaultAttachmentRate},
		{"LargeRate", &o.LargeRate, DefaultLargeRate},
		{"AlternativeRate", &o.AlternativeRate, DefaultAlternativeRate},
		{"EightBitRate", &o.EightBitRate, DefaultEightBitRate},
		{"NoMessageIDRate", &o.NoMessageIDRate, DefaultNoMessageIDRate},
		{"DuplicateRate", &o.DuplicateRate, DefaultDuplicateRate},
		{"LongLineRate", &o.LongLineRate, DefaultLongLineRate},
		{"BareCRRate", &o.BareCRRate, DefaultBareCRRate},
		{"ReplyRate", &o.ReplyRate, DefaultReplyRate},
	}
}

// Validate reports every problem of o at once; nil means o is usable. A
// nil *Options is valid.
func (o *Options) Validate() error {
	if o == nil {
		return nil
	}
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("mailgen: options: "+format, args...))
	}
	if o.MaxSize != 0 && o.MaxSize < MinMaxSize {
		bad("MaxSize %d is below %d", o.MaxSize, MinMaxSize)
	}
	if o.TextMedian < 0 {
		bad("TextMedian %d is negative", o.TextMedian)
	}
	if o.TextSigma < 0 || math.IsNaN(o.TextSigma) || math.IsInf(o.TextSigma, 0) || o.TextSigma > 4 {
		bad("TextSigma %v is not between 0 and 4", o.TextSigma)
	}
	if o.Span < 0 {
		bad("Span %v is negative", o.Span)
	}
	for _, r := range o.rates() {
		if *r.p > 1 || math.IsNaN(*r.p) {
			bad("%s %v is above 1", r.name, *r.p)
		}
	}
	if o.Owner != "" && !isAddress(o.Owner) {
		bad("Owner %q is not a plain address like user@example.org", o.Owner)
	}
	seen := map[string]bool{}
	for _, f := range o.Folders {
		name, err := mailbox.CanonicalName(f.Name)
		if err != nil {
			bad("folder: %w", err)
			continue
		}
		if seen[name] {
			bad("folder %q appears twice", f.Name)
		}
		seen[name] = true
		if !(f.Weight > 0) || math.IsInf(f.Weight, 0) {
			bad("folder %q: weight %v is not positive", f.Name, f.Weight)
		}
		if f.Kind < Received || f.Kind > Trash {
			bad("folder %q: unknown %v", f.Name, f.Kind)
		}
	}
	return errors.Join(errs...)
}

// isAddress accepts the simple addresses Owner may be: local@domain, in
// printable ASCII without spaces, angle brackets, quotes or commas.
func isAddress(s string) bool {
	at := -1
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || c == '<' || c == '>' || c == '"' || c == ',' || c == '(' || c == ')' {
			return false
		}
		if c == '@' {
			if at >= 0 {
				return false
			}
			at = i
		}
	}
	return at > 0 && at < len(s)-1
}

// withDefaults returns a copy of o with its zero fields set to defaults.
func (o *Options) withDefaults() Options {
	var c Options
	if o != nil {
		c = *o
	}
	if c.MaxSize == 0 {
		c.MaxSize = DefaultMaxSize
	}
	if c.TextMedian == 0 {
		c.TextMedian = DefaultTextMedian
	}
	if c.TextSigma == 0 {
		c.TextSigma = DefaultTextSigma
	}
	if len(c.Folders) == 0 {
		c.Folders = DefaultFolders()
	} else {
		c.Folders = append([]Folder(nil), c.Folders...)
	}
	for i := range c.Folders {
		c.Folders[i].Name, _ = mailbox.CanonicalName(c.Folders[i].Name)
	}
	if c.Owner == "" {
		c.Owner = DefaultOwner
	}
	if c.Epoch.IsZero() {
		c.Epoch = DefaultEpoch
	}
	if c.Span == 0 {
		c.Span = DefaultSpan
	}
	for _, r := range c.rates() {
		switch {
		case *r.p == 0:
			*r.p = r.def
		case *r.p < 0:
			*r.p = 0
		}
	}
	return c
}
