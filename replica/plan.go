package replica

import (
	"fmt"
	"strings"

	"github.com/mailrepl/mailrepl/mailbox"
	"github.com/mailrepl/mailrepl/uid"
)

// Side names one of the two stores of a pair.
type Side int

const (
	Source Side = iota
	Target
)

func (s Side) String() string {
	if s == Source {
		return "source"
	}
	return "target"
}

// Other is the other side.
func (s Side) Other() Side { return 1 - s }

// OpKind is what an [Op] does.
type OpKind int

const (
	// OpAppend copies a message from From/FromUID to Side, at UID (or at
	// the UID the store chooses when UID is 0), and pairs it.
	OpAppend OpKind = iota + 1
	// OpFlags replaces the flags of UID on Side with Flags.
	OpFlags
	// OpExpunge expunges UID on Side.
	OpExpunge
	// OpPair records Entry as agreed, without touching either store.
	OpPair
	// OpUnpair forgets the entry of source UID Entry.Src.
	OpUnpair
	// OpSkip changes nothing and reports Reason: a message left alone.
	OpSkip
	// OpMove renumbers a message that cannot keep its UID (two-way mode):
	// it is copied from Side/FromUID to UID on both sides, then expunged
	// at FromUID.
	OpMove
)

var opNames = map[OpKind]string{
	OpAppend: "append", OpFlags: "flags", OpExpunge: "expunge",
	OpPair: "pair", OpUnpair: "unpair", OpSkip: "skip", OpMove: "move",
}

func (k OpKind) String() string {
	if n, ok := opNames[k]; ok {
		return n
	}
	return fmt.Sprintf("OpKind(%d)", int(k))
}

// Op is one step of a mailbox's plan.
type Op struct {
	Kind    OpKind
	Side    Side    // where the change is made
	UID     uid.UID // the UID on Side: changed, expunged, or asked for (append; 0: any)
	From    Side    // append: the side the message is copied from
	FromUID uid.UID // append: its UID there
	// Msg is the message concerned: for an append, the flags and date it
	// gets and its EmailID and size when known; for a flag change, the
	// message as it is now.
	Msg   mailbox.Message
	Flags mailbox.Flags // flags: the new flags
	// Entry is the state entry the op leaves behind (append, flags, pair)
	// or removes (expunge, unpair); Entry.Src and Entry.Dst are zero where
	// not yet known (an append whose UID the store chooses).
	Entry Entry
	// Tombstone marks an expunge that propagates a user's expunge on the
	// other side: it leaves a tombstone so a restore never resurrects it.
	Tombstone bool
	// Conflict marks an op that resolves a conflict (a UID holding two
	// messages, a flag changed both ways, a target diverged from its source).
	Conflict bool
	// AlsoUID, for a move, is a copy of the same message on the other
	// side, dropped once the move is done.
	AlsoUID uid.UID
	// KeptLost marks a skip of a message the source lost that the target
	// keeps: the state then no longer matches the source, and the next
	// sync compares both sides in full.
	KeptLost bool
	Reason   string
}

// String formats the op on one line, as dry runs and golden tests show it.
func (op Op) String() string {
	var b strings.Builder
	b.WriteString(op.Kind.String())
	switch op.Kind {
	case OpAppend:
		fmt.Fprintf(&b, " %s", op.Side)
		if op.UID != 0 {
			fmt.Fprintf(&b, " uid %d", op.UID)
		}
		fmt.Fprintf(&b, " <- %s uid %d", op.From, op.FromUID)
		writeID(&b, op.Msg.EmailID)
		fmt.Fprintf(&b, " (%s)", op.Msg.Flags)
	case OpFlags:
		fmt.Fprintf(&b, " %s uid %d (%s) -> (%s)", op.Side, op.UID, op.Msg.Flags, op.Flags)
	case OpExpunge:
		fmt.Fprintf(&b, " %s uid %d", op.Side, op.UID)
		writeID(&b, op.Msg.EmailID)
		if op.Tombstone {
			b.WriteString(" tombstone")
		}
	case OpPair:
		fmt.Fprintf(&b, " source uid %d = target uid %d", op.Entry.Src, op.Entry.Dst)
		writeID(&b, op.Entry.EmailID)
		fmt.Fprintf(&b, " (%s)", op.Entry.Flags)
	case OpUnpair:
		fmt.Fprintf(&b, " source uid %d target uid %d", op.Entry.Src, op.Entry.Dst)
	case OpMove:
		fmt.Fprintf(&b, " %s uid %d -> uid %d on both sides", op.Side, op.FromUID, op.UID)
		if op.AlsoUID != 0 {
			fmt.Fprintf(&b, " (and %s uid %d)", op.Side.Other(), op.AlsoUID)
		}
		writeID(&b, op.Msg.EmailID)
	case OpSkip:
		fmt.Fprintf(&b, " %s uid %d", op.Side, op.UID)
		writeID(&b, op.Msg.EmailID)
	}
	if op.Conflict {
		b.WriteString(" conflict")
	}
	if op.Reason != "" {
		b.WriteString(": ")
		b.WriteString(op.Reason)
	}
	return b.String()
}

func writeID(b *strings.Builder, id mailbox.EmailID) {
	if !id.IsZero() {
		b.WriteString(" ")
		b.WriteString(id.Short())
	}
}

// MailboxOpKind is what a [MailboxOp] does.
type MailboxOpKind int

const (
	MailboxCreate MailboxOpKind = iota + 1
	MailboxRename
	MailboxDelete
	MailboxSubscribe
	MailboxUnsubscribe
	// MailboxKeep changes nothing and reports Reason.
	MailboxKeep
)

var mailboxOpNames = map[MailboxOpKind]string{
	MailboxCreate: "create", MailboxRename: "rename", MailboxDelete: "delete",
	MailboxSubscribe: "subscribe", MailboxUnsubscribe: "unsubscribe", MailboxKeep: "keep",
}

func (k MailboxOpKind) String() string {
	if n, ok := mailboxOpNames[k]; ok {
		return n
	}
	return fmt.Sprintf("MailboxOpKind(%d)", int(k))
}

// MailboxOp is a change to the set of mailboxes of one side.
type MailboxOp struct {
	Kind    MailboxOpKind
	Side    Side
	Name    string
	NewName string // rename
	Reason  string

	// heldBack: a keep because the source is read-only.
	heldBack bool
	// conflict: a keep the report lists as a conflict.
	conflict bool
}

func (op MailboxOp) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "mailbox %s %s %q", op.Kind, op.Side, op.Name)
	if op.Kind == MailboxRename {
		fmt.Fprintf(&b, " -> %q", op.NewName)
	}
	if op.Reason != "" {
		b.WriteString(": ")
		b.WriteString(op.Reason)
	}
	return b.String()
}
