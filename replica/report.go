package replica

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/mailrepl/mailrepl/uid"
)

// Item is one message or mailbox the report names: something skipped,
// failed, or resolved as a conflict, and why.
type Item struct {
	Mailbox string  `json:"mailbox"`
	Side    string  `json:"side,omitempty"`
	UID     uid.UID `json:"uid,omitempty"`
	EmailID string  `json:"email_id,omitempty"`
	Reason  string  `json:"reason"`
}

func (it Item) String() string {
	var b strings.Builder
	b.WriteString(it.Mailbox)
	if it.Side != "" {
		fmt.Fprintf(&b, " %s", it.Side)
	}
	if it.UID != 0 {
		fmt.Fprintf(&b, " uid %d", it.UID)
	}
	if it.EmailID != "" {
		fmt.Fprintf(&b, " %s", it.EmailID)
	}
	fmt.Fprintf(&b, ": %s", it.Reason)
	return b.String()
}

// Counts are the changes a sync made (or, in a dry run, would make).
type Counts struct {
	Appended         int   `json:"appended"`           // messages copied to the target
	AppendedToSource int   `json:"appended_to_source"` // copied to the source (two-way, split brain)
	Bytes            int64 `json:"bytes"`              // bytes copied, both ways
	FlagChanges      int   `json:"flag_changes"`       // messages whose flags changed, either side
	Expunged         int   `json:"expunged"`           // messages expunged from the target
	ExpungedSource   int   `json:"expunged_source"`    // expunged from the source (two-way)
	Moved            int   `json:"moved"`              // messages renumbered after a UID conflict
	Paired           int   `json:"paired"`             // found on both sides, paired without a copy
	Conflicts        int   `json:"conflicts"`
	Skipped          int   `json:"skipped"`
	Failed           int   `json:"failed"`
}

func (c *Counts) add(o Counts) {
	c.Appended += o.Appended
	c.AppendedToSource += o.AppendedToSource
	c.Bytes += o.Bytes
	c.FlagChanges += o.FlagChanges
	c.Expunged += o.Expunged
	c.ExpungedSource += o.ExpungedSource
	c.Moved += o.Moved
	c.Paired += o.Paired
	c.Conflicts += o.Conflicts
	c.Skipped += o.Skipped
	c.Failed += o.Failed
}

// Changed reports whether anything was written to either store.
func (c Counts) Changed() bool {
	return c.Appended+c.AppendedToSource+c.FlagChanges+c.Expunged+c.ExpungedSource+c.Moved > 0
}

// MailboxReport is what a sync did to one pair of mailboxes.
type MailboxReport struct {
	Source    string `json:"source"`
	Target    string `json:"target"`
	Counts    `json:"counts"`
	Realigned string `json:"realigned,omitempty"` // why the target was renumbered to match the source
	Error     string `json:"error,omitempty"`     // why the mailbox stopped, if it did
}

// Report is what a sync did. Its methods are safe for concurrent use
// while the sync runs.
type Report struct {
	Mode       string          `json:"mode"`
	DryRun     bool            `json:"dry_run,omitempty"`
	Start      time.Time       `json:"start"`
	Duration   time.Duration   `json:"duration_ns"`
	Total      Counts          `json:"total"`
	Mailboxes  []MailboxReport `json:"mailboxes"`
	MailboxOps []string        `json:"mailbox_ops,omitempty"`
	Conflicts  []Item          `json:"conflicts,omitempty"`
	Skipped    []Item          `json:"skipped,omitempty"`
	Failed     []Item          `json:"failed,omitempty"`
	// HeldBack is not zero when the sync needed to write to a source
	// that is read-only (a Reader without the Writer methods): it counts
	// the mailboxes and messages found only on the target and kept there,
	// and the writes to the source that were refused (a mailbox stops at
	// the first). It is zero when the source is writable. A caller that
	// opens sources read-only, to leave them untouched, runs the sync
	// again with a writable source when it is not zero.
	HeldBack int `json:"held_back,omitempty"`
	// State says what the sync found of its state when it was not the
	// pair's own: "no sync state for this pair: first sync", or that it
	// took over the state of another pair whose stores are these (the
	// stores were moved, or the pair renamed).
	State string `json:"state,omitempty"`
	// Unchanged: both stores' stamps were as when they last agreed, so
	// nothing was listed and nothing done ([mailbox.Stamper]).
	Unchanged bool `json:"unchanged,omitempty"`

	mu sync.Mutex
}

// clean reports whether the sync found the stores agreeing and left them
// as they were: nothing changed, failed, skipped, held back or in
// conflict.
func (r *Report) clean() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.Total.Changed() || r.Total.Failed+r.Total.Skipped+r.Total.Conflicts > 0 ||
		len(r.Conflicts)+len(r.Skipped)+len(r.Failed)+len(r.MailboxOps) > 0 || r.HeldBack > 0 {
		return false
	}
	for _, m := range r.Mailboxes {
		if m.Error != "" || m.Realigned != "" {
			return false
		}
	}
	return true
}

// converged reports whether the sync did all it set out to do and left
// the stores agreeing: whatever it changed, nothing failed, was skipped,
// held back or in conflict, and no mailbox was realigned.
func (r *Report) converged() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.Total.Failed+r.Total.Skipped+r.Total.Conflicts > 0 ||
		len(r.Conflicts)+len(r.Skipped)+len(r.Failed) > 0 || r.HeldBack > 0 {
		return false
	}
	for _, m := range r.Mailboxes {
		if m.Error != "" || m.Realigned != "" {
			return false
		}
	}
	return true
}

func (r *Report) heldBack(n int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.HeldBack += n
}

func (r *Report) addMailbox(m MailboxReport) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.Mailboxes = append(r.Mailboxes, m)
	r.Total.add(m.Counts)
}

func (r *Report) addItem(list *[]Item, it Item) {
	r.mu.Lock()
	defer r.mu.Unlock()
	*list = append(*list, it)
}

// addConflict lists a conflict found outside a mailbox's sync (a mailbox
// op) and counts it.
func (r *Report) addConflict(it Item) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.Conflicts = append(r.Conflicts, it)
	r.Total.Conflicts++
}

func (r *Report) addMailboxOp(op MailboxOp) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.MailboxOps = append(r.MailboxOps, op.String())
}

func (r *Report) finish(now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.Duration = now.Sub(r.Start)
	slices.SortFunc(r.Mailboxes, func(a, b MailboxReport) int { return strings.Compare(a.Source, b.Source) })
}

// OK reports whether nothing failed.
func (r *Report) OK() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.Failed) > 0 {
		return false
	}
	for _, m := range r.Mailboxes {
		if m.Error != "" {
			return false
		}
	}
	return true
}

// WriteTable writes the report as a table for people.
func (r *Report) WriteTable(w io.Writer) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "mailbox\tcopied\tto source\tflags\texpunged\tpaired\tconflicts\tfailed\tbytes\t")
	for _, m := range r.Mailboxes {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t\n", m.Source, m.Appended, m.AppendedToSource,
			m.FlagChanges, m.Expunged+m.ExpungedSource, m.Paired, m.Conflicts, m.Failed, m.Bytes)
	}
	t := r.Total
	fmt.Fprintf(tw, "total\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t\n", t.Appended, t.AppendedToSource,
		t.FlagChanges, t.Expunged+t.ExpungedSource, t.Paired, t.Conflicts, t.Failed, t.Bytes)
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, op := range r.MailboxOps {
		fmt.Fprintf(w, "%s\n", op)
	}
	for _, m := range r.Mailboxes {
		if m.Realigned != "" {
			fmt.Fprintf(w, "realigned %s: %s\n", m.Source, m.Realigned)
		}
		if m.Error != "" {
			fmt.Fprintf(w, "failed %s: %s\n", m.Source, m.Error)
		}
	}
	for _, it := range r.Conflicts {
		fmt.Fprintf(w, "conflict %s\n", it)
	}
	for _, it := range r.Skipped {
		fmt.Fprintf(w, "skipped %s\n", it)
	}
	for _, it := range r.Failed {
		fmt.Fprintf(w, "failed %s\n", it)
	}
	return nil
}
