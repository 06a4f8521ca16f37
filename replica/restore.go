package replica

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/mailrepl/mailrepl/mailbox"
	"github.com/mailrepl/mailrepl/uid"
)

// RestorePolicy says what a restore does with a backup message nothing
// proves a user deleted or the live store lost.
type RestorePolicy int

const (
	// RestoreWhenUnsure delivers it: an extra mail is better than a lost
	// one. The default.
	RestoreWhenUnsure RestorePolicy = iota
	// SkipWhenUnsure leaves it out, and reports it.
	SkipWhenUnsure
)

var policyNames = []string{"restore-when-unsure", "skip-when-unsure"}

func (p RestorePolicy) String() string {
	if int(p) >= 0 && int(p) < len(policyNames) {
		return policyNames[p]
	}
	return fmt.Sprintf("RestorePolicy(%d)", int(p))
}

// ParseRestorePolicy parses "restore-when-unsure" or "skip-when-unsure".
func ParseRestorePolicy(s string) (RestorePolicy, error) {
	for i, n := range policyNames {
		if strings.EqualFold(s, n) {
			return RestorePolicy(i), nil
		}
	}
	return 0, fmt.Errorf("replica: unknown restore policy %q (want restore-when-unsure or skip-when-unsure)", s)
}

// RestoreOptions configures [Restore]. Records is required.
type RestoreOptions struct {
	User string
	// Records holds the evidence: tombstones (a user expunged it) and lost
	// records (recovery expunged it); restored lost records are dropped.
	Records Records
	Policy  RestorePolicy
	// Since and Until, when not zero, bound the internal dates of the
	// messages restored: only mail received before the backup, or within
	// the gap between the backup and the failure.
	Since, Until time.Time
	// Mailboxes, if not nil, selects the backup's mailboxes by name (the
	// live mailbox has the same name): exclude a Junk folder that was never
	// backed up, or Trash.
	Mailboxes func(name string) bool
	DryRun    bool
	Limiter   Limiter
	// BatchMessages bounds a batch of appends made durable together
	// (default 256).
	BatchMessages int
	Logger        *slog.Logger
	Now           func() time.Time
	// Progress, if not nil, is called after each message restored.
	Progress func(msgs int, bytes int64)
	// Stop, when closed, stops the restore gracefully between two
	// messages: what was delivered is committed and its lost records
	// dropped, and Restore returns an error wrapping ErrStopped. A second
	// run delivers the rest.
	Stop <-chan struct{}
}

// RestoreMailbox counts what a restore did in one mailbox.
type RestoreMailbox struct {
	Mailbox        string `json:"mailbox"`
	Restored       int    `json:"restored"`
	Present        int    `json:"present"`         // the live mailbox has it
	SkippedDeleted int    `json:"skipped_deleted"` // a user deleted it
	SkippedPolicy  int    `json:"skipped_policy"`  // by policy: unsure, out of the time window, excluded
	Failed         int    `json:"failed"`
	Bytes          int64  `json:"bytes"`
	Created        bool   `json:"created,omitempty"` // the live mailbox was missing and was created
	Error          string `json:"error,omitempty"`
}

// RestoreReport is what [Restore] did, per mailbox, with the reason of
// every message it did not restore and was not present.
type RestoreReport struct {
	DryRun    bool             `json:"dry_run,omitempty"`
	Policy    string           `json:"policy"`
	Mailboxes []RestoreMailbox `json:"mailboxes"`
	Total     RestoreMailbox   `json:"total"`
	Restored  []Item           `json:"restored_items,omitempty"`
	Skipped   []Item           `json:"skipped_items,omitempty"`
	Failed    []Item           `json:"failed_items,omitempty"`
	Duration  time.Duration    `json:"duration_ns"`
}

// Restore delivers into the live store each message of a backup (any
// [mailbox.Reader]: a Maildir snapshot, an mbox file, loose files, a
// replica) that the live mailbox of the same name does not hold (by
// EmailID) and that no evidence says its user deleted, with a new UID
// above the live UIDNEXT and its original flags and internal date.
//
// The evidence, strongest first:
//   - a lost record (recovery expunged it): restored, unless the record is
//     unsure and the policy is [SkipWhenUnsure]; a tombstone newer than
//     the lost record wins;
//   - a tombstone (a user expunged it): skipped;
//   - the live mailbox's own UID index, when it records expunges (a
//     [mailbox.ChangeTracker]) under the backup's UIDVALIDITY: a backup
//     message whose UID is below the live UIDNEXT and absent was expunged
//     after the backup, by a user (UIDs are never reused): skipped;
//   - nothing: unsure, and the policy decides.
//
// A live mailbox that is missing is created, unless its deletion by the
// user is on record. Restoring is idempotent: a second run finds
// everything present. A dry run reports and changes nothing.
func Restore(ctx context.Context, from mailbox.Reader, into mailbox.Store, opts *RestoreOptions) (*RestoreReport, error) {
	if opts == nil || opts.Records == nil {
		return nil, errors.New("replica: restore needs Records for the evidence of deletions and losses")
	}
	o := *opts
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.BatchMessages == 0 {
		o.BatchMessages = 256
	}
	start := o.Now()
	rep := &RestoreReport{DryRun: o.DryRun, Policy: o.Policy.String()}
	infos, err := from.Mailboxes(ctx)
	if err != nil {
		return rep, fmt.Errorf("replica: restore: list the backup's mailboxes: %w", err)
	}
	var errs []error
	for _, b := range infos {
		if o.Mailboxes != nil && !o.Mailboxes(b.Name) {
			continue
		}
		if err := ctx.Err(); err != nil {
			errs = append(errs, err)
			break
		}
		if stopped(o.Stop) {
			errs = append(errs, ErrStopped)
			break
		}
		r := &restorer{ctx: ctx, from: from, into: into, o: &o, rep: rep, backup: b, mr: RestoreMailbox{Mailbox: b.Name}}
		if err := r.run(); err != nil {
			r.mr.Error = err.Error()
			errs = append(errs, fmt.Errorf("replica: restore mailbox %q: %w", b.Name, err))
		}
		rep.Mailboxes = append(rep.Mailboxes, r.mr)
		t := &rep.Total
		t.Restored += r.mr.Restored
		t.Present += r.mr.Present
		t.SkippedDeleted += r.mr.SkippedDeleted
		t.SkippedPolicy += r.mr.SkippedPolicy
		t.Failed += r.mr.Failed
		t.Bytes += r.mr.Bytes
	}
	rep.Duration = o.Now().Sub(start)
	return rep, errors.Join(errs...)
}

type restorer struct {
	ctx     context.Context
	from    mailbox.Reader
	into    mailbox.Store
	o       *RestoreOptions
	rep     *RestoreReport
	backup  mailbox.Info
	live    mailbox.Info
	mr      RestoreMailbox
	present map[mailbox.EmailID]int // live copies not yet matched with a backup copy
	liveUID map[uid.UID]bool        // its UIDs, when its index is authoritative
	byID    map[mailbox.EmailID]Lost
	byUID   map[uid.UID]Lost // lost records without an EmailID
	stale   []Lost           // lost records of messages present again
	pending []pendingRestore
}

type pendingRestore struct {
	msg  mailbox.Message
	lost *Lost
}

func (r *restorer) skip(list *[]Item, count *int, msg mailbox.Message, reason string) {
	*count++
	it := Item{Mailbox: r.backup.Name, Side: "backup", UID: msg.UID, Reason: reason}
	if !msg.EmailID.IsZero() {
		it.EmailID = msg.EmailID.String()
	}
	*list = append(*list, it)
}

func (r *restorer) run() error {
	ctx, o := r.ctx, r.o
	live, err := r.into.Status(ctx, r.backup.Name)
	switch {
	case errors.Is(err, mailbox.ErrNotFound):
		deleted, derr := o.Records.MailboxDeleted(ctx, o.User, r.backup.ID)
		if derr != nil {
			return derr
		}
		if deleted {
			for msg, err := range r.from.Messages(ctx, r.backup.Name, uid.All) {
				if err != nil {
					return err
				}
				r.skip(&r.rep.Skipped, &r.mr.SkippedDeleted, msg, "its mailbox was deleted by its user")
			}
			return nil
		}
		r.mr.Created = true
		if o.DryRun {
			live = mailbox.Info{Name: r.backup.Name}
			break
		}
		if live, err = r.into.Create(ctx, r.backup.Name); err != nil {
			return fmt.Errorf("create the live mailbox: %w", err)
		}
	case err != nil:
		return fmt.Errorf("live status: %w", err)
	}
	r.live = live
	if st, ok := r.into.(mailbox.Settler); ok && !o.DryRun {
		// A delivery that died before its UIDs were published (a restore
		// killed midway) leaves files a listing may not show yet: they
		// must be seen as present, or they would be delivered twice.
		if err := st.Settle(ctx, live.Name); err != nil {
			return fmt.Errorf("settle the live mailbox: %w", err)
		}
	}
	if err := r.loadLive(); err != nil {
		return err
	}
	for msg, err := range r.from.Messages(ctx, r.backup.Name, uid.All) {
		if err != nil {
			return fmt.Errorf("list the backup: %w", err)
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if stopped(o.Stop) {
			if err := r.flush(); err != nil {
				return err
			}
			return ErrStopped
		}
		if err := r.consider(msg); err != nil {
			return err
		}
		if len(r.pending) >= o.BatchMessages {
			if err := r.flush(); err != nil {
				return err
			}
		}
	}
	if err := r.flush(); err != nil {
		return err
	}
	if len(r.stale) > 0 {
		if err := o.Records.ForgetLost(ctx, o.User, r.stale); err != nil {
			return fmt.Errorf("drop the lost records of messages present again: %w", err)
		}
	}
	return nil
}

// loadLive learns what the live mailbox holds, and what the journal says
// it lost.
func (r *restorer) loadLive() error {
	ctx := r.ctx
	r.present = map[mailbox.EmailID]int{}
	r.byID, r.byUID = map[mailbox.EmailID]Lost{}, map[uid.UID]Lost{}
	if r.live.ID == "" {
		return nil // created in a dry run
	}
	_, authoritative := r.into.(mailbox.ChangeTracker)
	authoritative = authoritative && r.live.UIDValidity == r.backup.UIDValidity
	if authoritative {
		r.liveUID = map[uid.UID]bool{}
	}
	for msg, err := range r.into.Messages(ctx, r.live.Name, uid.All) {
		if err != nil {
			return fmt.Errorf("list the live mailbox: %w", err)
		}
		id := msg.EmailID
		if id.IsZero() {
			if id, err = r.emailID(r.into, r.live.Name, msg); err != nil {
				return fmt.Errorf("live uid %d: %w", msg.UID, err)
			}
		}
		r.present[id]++
		if r.liveUID != nil {
			r.liveUID[msg.UID] = true
		}
	}
	for l, err := range r.o.Records.LostIn(ctx, r.o.User, r.live.ID) {
		if err != nil {
			return fmt.Errorf("read lost records: %w", err)
		}
		if l.EmailID.IsZero() {
			r.byUID[l.UID] = l
		} else {
			r.byID[l.EmailID] = l
		}
	}
	return nil
}

func (r *restorer) emailID(s mailbox.Reader, name string, msg mailbox.Message) (mailbox.EmailID, error) {
	if r.o.Limiter != nil {
		// Reading a body for its EmailID loads the server as a copy does.
		if err := r.o.Limiter.Wait(r.ctx, 0, msg.Size); err != nil {
			return mailbox.EmailID{}, err
		}
	}
	rc, err := s.Open(r.ctx, name, msg.UID)
	if err != nil {
		return mailbox.EmailID{}, err
	}
	defer rc.Close()
	h := mailbox.NewHasher()
	if _, err := copyCtx(r.ctx, h, rc); err != nil {
		return mailbox.EmailID{}, err
	}
	return h.Sum(), nil
}

// consider decides about one backup message, by the evidence.
func (r *restorer) consider(msg mailbox.Message) error {
	ctx, o := r.ctx, r.o
	if msg.EmailID.IsZero() {
		id, err := r.emailID(r.from, r.backup.Name, msg)
		if err != nil && ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil {
			r.skip(&r.rep.Failed, &r.mr.Failed, msg, fmt.Sprintf("unreadable in the backup: %v", err))
			return nil
		}
		msg.EmailID = id
	}
	if r.present[msg.EmailID] > 0 {
		r.present[msg.EmailID]--
		r.mr.Present++
		if l, ok := r.byID[msg.EmailID]; ok && !o.DryRun {
			// Back already (a restore killed before it dropped the
			// record, or a sync copied it back): the record must go, or
			// it would later hide a user's expunge of the message.
			r.stale = append(r.stale, l)
			delete(r.byID, msg.EmailID)
		}
		return nil
	}
	if (!o.Since.IsZero() && msg.InternalDate.Before(o.Since)) || (!o.Until.IsZero() && !msg.InternalDate.Before(o.Until)) {
		r.skip(&r.rep.Skipped, &r.mr.SkippedPolicy, msg, "outside the time window")
		return nil
	}
	lost, isLost := r.byID[msg.EmailID]
	if !isLost && r.backup.UIDValidity == r.live.UIDValidity {
		lost, isLost = r.byUID[msg.UID]
	}
	tomb, tombed, err := o.Records.Tombstone(ctx, o.User, r.live.ID, msg.EmailID)
	if err != nil {
		return fmt.Errorf("read tombstones: %w", err)
	}
	switch {
	case isLost && (!tombed || lost.Time.After(tomb.Time)):
		if lost.Unsure && o.Policy == SkipWhenUnsure {
			r.skip(&r.rep.Skipped, &r.mr.SkippedPolicy, msg, "lost, but nothing proves it was not a user's expunge: skipped by policy")
			return nil
		}
		l := lost
		r.pending = append(r.pending, pendingRestore{msg, &l})
	case tombed:
		r.skip(&r.rep.Skipped, &r.mr.SkippedDeleted, msg, "deleted by its user on "+tomb.Time.UTC().Format(time.RFC3339))
	case r.liveUID != nil && msg.UID < r.live.UIDNext && !r.liveUID[msg.UID]:
		r.skip(&r.rep.Skipped, &r.mr.SkippedDeleted, msg, "expunged from the live mailbox after the backup (its UID index says so)")
	case o.Policy == SkipWhenUnsure:
		r.skip(&r.rep.Skipped, &r.mr.SkippedPolicy, msg, "no evidence either way: skipped by policy")
	default:
		r.pending = append(r.pending, pendingRestore{msg: msg})
	}
	return nil
}

// flush delivers the pending messages in one durable batch, then drops
// the lost records of those restored.
func (r *restorer) flush() error {
	ctx, o := r.ctx, r.o
	if len(r.pending) == 0 {
		return nil
	}
	pend := r.pending
	r.pending = nil
	if o.DryRun {
		for _, p := range pend {
			r.restored(p.msg)
		}
		return nil
	}
	var batch mailbox.Batch
	if b, ok := r.into.(mailbox.Batcher); ok {
		var err error
		if batch, err = b.Batch(ctx, r.live.Name); err != nil {
			return fmt.Errorf("live batch: %w", err)
		}
		defer batch.Close()
	}
	var done []pendingRestore
	halted := false
	for _, p := range pend {
		if stopped(o.Stop) {
			halted = true // what is delivered is committed; the rest waits for the next run
			break
		}
		err := r.deliver(batch, p.msg)
		switch {
		case err == nil:
			done = append(done, p)
		case errors.Is(err, mailbox.ErrNotFound), errors.Is(err, mailbox.ErrCorrupt), errors.Is(err, mailbox.ErrInvalidMessage):
			r.skip(&r.rep.Failed, &r.mr.Failed, p.msg, fmt.Sprintf("not restored: %v", err))
		default:
			return fmt.Errorf("restore backup uid %d: %w", p.msg.UID, err)
		}
	}
	if batch != nil {
		if err := batch.Commit(ctx); err != nil {
			return fmt.Errorf("live commit: %w", err)
		}
	}
	var forget []Lost
	for _, p := range done {
		r.restored(p.msg)
		if p.lost != nil {
			forget = append(forget, *p.lost)
		}
	}
	if len(forget) > 0 {
		if err := o.Records.ForgetLost(ctx, o.User, forget); err != nil {
			return fmt.Errorf("drop restored lost records: %w", err)
		}
	}
	if halted {
		return ErrStopped
	}
	return nil
}

func (r *restorer) restored(msg mailbox.Message) {
	r.mr.Restored++
	r.mr.Bytes += msg.Size
	r.rep.Restored = append(r.rep.Restored, Item{Mailbox: r.backup.Name, Side: "backup", UID: msg.UID, EmailID: msg.EmailID.String(), Reason: "restored"})
	if r.o.Progress != nil {
		r.o.Progress(1, msg.Size)
	}
}

// deliver appends one backup message to the live mailbox, checked against
// its EmailID as it streams, with its flags and internal date.
func (r *restorer) deliver(batch mailbox.Batch, msg mailbox.Message) error {
	ctx, o := r.ctx, r.o
	if o.Limiter != nil {
		if err := o.Limiter.Wait(ctx, 1, msg.Size); err != nil {
			return err
		}
	}
	rc, err := r.from.Open(ctx, r.backup.Name, msg.UID)
	if err != nil {
		return err
	}
	defer rc.Close()
	lit := mailbox.NewLiteral(mailbox.NewVerifyingReader(rc, msg.EmailID, msg.Size), msg.Size)
	meta := mailbox.AppendMeta{Flags: msg.Flags, InternalDate: msg.InternalDate, EmailID: msg.EmailID}
	if batch != nil {
		_, err = batch.Append(ctx, lit, meta)
	} else {
		_, err = r.into.Append(ctx, r.live.Name, lit, meta)
	}
	return err
}

// stopped reports whether stop is closed.
func stopped(stop <-chan struct{}) bool {
	select {
	case <-stop:
		return true
	default:
		return false
	}
}
