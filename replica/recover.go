package replica

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/mailrepl/mailrepl/mailbox"
	"github.com/mailrepl/mailrepl/uid"
)

// RecoverOptions configures [Recover]. Records is required.
type RecoverOptions struct {
	User string
	// Records receives the lost records and holds the tombstones that tell
	// a user's expunge from a loss.
	Records Records
	// Cache and StoreID: EmailIDs known for the store's messages, for
	// stores that do not list them (optional).
	Cache   EmailIDCache
	StoreID string
	// Mailboxes, if not nil, selects the mailboxes to scan by name.
	Mailboxes func(name string) bool
	// QuarantineDir, if set, receives a copy of every damaged body that
	// could still be read (truncated, or not matching its EmailID) before
	// it is expunged: the bytes are kept for a person to look at.
	QuarantineDir string
	DryRun        bool
	Limiter       Limiter
	Logger        *slog.Logger
	Now           func() time.Time
	// Progress, if not nil, is called after each message checked.
	Progress func(msgs int, bytes int64)
	// Stop, when closed, stops the recovery gracefully: the mailbox being
	// scanned is left as it was (its scan is redone by the next run), and
	// Recover returns an error wrapping ErrStopped.
	Stop <-chan struct{}
}

// RecoverMailbox is what recovery found in one mailbox.
type RecoverMailbox struct {
	Mailbox string `json:"mailbox"`
	Checked int    `json:"checked"` // messages whose body was read and checked
	Lost    int    `json:"lost"`    // expunged and recorded as lost
	Unsure  int    `json:"unsure"`  // of those, with no proof of a failure
	// Expunged counts index entries without a body that a user expunged
	// (a tombstone says so): left alone.
	Expunged int    `json:"expunged"`
	Error    string `json:"error,omitempty"`
}

// RecoverReport is what [Recover] did.
type RecoverReport struct {
	DryRun    bool             `json:"dry_run,omitempty"`
	Mailboxes []RecoverMailbox `json:"mailboxes"`
	Checked   int              `json:"checked"`
	Lost      int              `json:"lost"`
	Bytes     int64            `json:"bytes"` // bytes read
	Items     []Item           `json:"lost_items,omitempty"`
	Duration  time.Duration    `json:"duration_ns"`
}

// Recover scans every mailbox of store for messages whose body is
// missing, unreadable, truncated or no longer matches the EmailID known
// for it, records each as lost in Records (durably, first), then expunges
// exactly those, so clients never see blank messages and replication
// goes on. A message whose body is fine is never touched.
//
// On stores whose index keeps entries after their body is gone
// ([mailbox.IndexScanner]: a Dovecot Maildir keeps a uidlist line after an
// expunge until it compacts the file), such an entry with a tombstone is a
// user's expunge and is left alone; one without is recorded as lost but
// unsure, and a restore follows its policy for it.
//
// A dry run reads and reports, and changes nothing. An error that stops a
// mailbox is in its report; the other mailboxes go on.
func Recover(ctx context.Context, store mailbox.Store, opts *RecoverOptions) (*RecoverReport, error) {
	if opts == nil || opts.Records == nil {
		return nil, errors.New("replica: recover needs Records to keep what is lost")
	}
	o := *opts
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	start := o.Now()
	rep := &RecoverReport{DryRun: o.DryRun}
	infos, err := store.Mailboxes(ctx)
	if err != nil {
		return rep, fmt.Errorf("replica: recover: list mailboxes: %w", err)
	}
	var errs []error
	for _, info := range infos {
		if o.Mailboxes != nil && !o.Mailboxes(info.Name) {
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
		mr, items, err := recoverMailbox(ctx, store, info, &o, rep)
		if err != nil {
			mr.Error = err.Error()
			errs = append(errs, fmt.Errorf("replica: recover mailbox %q: %w", info.Name, err))
		}
		rep.Mailboxes = append(rep.Mailboxes, mr)
		rep.Checked += mr.Checked
		rep.Lost += mr.Lost
		rep.Items = append(rep.Items, items...)
	}
	rep.Duration = o.Now().Sub(start)
	return rep, errors.Join(errs...)
}

func recoverMailbox(ctx context.Context, store mailbox.Store, info mailbox.Info, o *RecoverOptions, rep *RecoverReport) (RecoverMailbox, []Item, error) {
	mr := RecoverMailbox{Mailbox: info.Name}
	var (
		lost     []Lost
		listed   []uid.UID // lost messages the listing shows: expunged
		bodiless []uid.UID // lost index entries without a body: dropped
		items    []Item
	)
	add := func(l Lost) {
		l.MailboxID, l.Mailbox, l.Time = info.ID, info.Name, o.Now()
		lost = append(lost, l)
		it := Item{Mailbox: info.Name, UID: l.UID, Reason: l.Reason}
		if !l.EmailID.IsZero() {
			it.EmailID = l.EmailID.String()
		}
		items = append(items, it)
	}
	for msg, err := range store.Messages(ctx, info.Name, uid.All) {
		if err != nil {
			return mr, nil, fmt.Errorf("list: %w", err)
		}
		if stopped(o.Stop) {
			return mr, nil, ErrStopped
		}
		known := msg.EmailID
		if known.IsZero() && o.Cache != nil {
			if id, ok, err := o.Cache.EmailID(o.StoreID, info.ID, info.UIDValidity, msg.UID); err == nil && ok {
				known = id
			}
		}
		reason, saved, err := checkBody(ctx, store, info, msg, known, o, rep)
		if err != nil {
			return mr, nil, err
		}
		mr.Checked++
		if o.Progress != nil {
			o.Progress(1, msg.Size)
		}
		if reason == "" {
			continue
		}
		if saved != "" {
			reason += "; damaged bytes kept in " + saved
		}
		add(Lost{UID: msg.UID, EmailID: known, Flags: msg.Flags, InternalDate: msg.InternalDate, Size: msg.Size, Reason: reason})
		listed = append(listed, msg.UID)
	}
	if sc, ok := store.(mailbox.IndexScanner); ok {
		for msg, err := range sc.Bodiless(ctx, info.Name) {
			if err != nil {
				return mr, nil, fmt.Errorf("list entries without a body: %w", err)
			}
			if msg.EmailID.IsZero() && o.Cache != nil {
				// The store never read the body (a Maildir read only by
				// the engine): the EmailID cached when it was copied.
				if id, ok, err := o.Cache.EmailID(o.StoreID, info.ID, info.UIDValidity, msg.UID); err == nil && ok {
					msg.EmailID = id
				}
			}
			if !msg.EmailID.IsZero() {
				if _, found, err := o.Records.Tombstone(ctx, o.User, info.ID, msg.EmailID); err != nil {
					return mr, nil, fmt.Errorf("read tombstones: %w", err)
				} else if found {
					mr.Expunged++ // a user's expunge, whose line the store kept
					continue
				}
			}
			add(Lost{UID: msg.UID, EmailID: msg.EmailID, InternalDate: msg.InternalDate, Unsure: true,
				Reason: "body missing; the index keeps the entry, and no tombstone says a user expunged it"})
			bodiless = append(bodiless, msg.UID)
			mr.Unsure++
		}
	}
	mr.Lost = len(lost)
	if len(lost) == 0 || o.DryRun {
		return mr, items, nil
	}
	// The record first: a crash after it and before the expunge finds the
	// same messages again next time, and records them again.
	if err := o.Records.RecordLost(ctx, o.User, lost); err != nil {
		return mr, nil, fmt.Errorf("record lost messages: %w", err)
	}
	if len(listed) > 0 {
		if err := store.Expunge(ctx, info.Name, uid.SetOf(listed...)); err != nil {
			return mr, nil, fmt.Errorf("expunge lost messages: %w", err)
		}
	}
	if len(bodiless) > 0 {
		if err := store.(mailbox.IndexScanner).DropBodiless(ctx, info.Name, uid.SetOf(bodiless...)); err != nil {
			return mr, nil, fmt.Errorf("drop lost index entries: %w", err)
		}
	}
	o.Logger.Info("recovered", "mailbox", info.Name, "lost", len(lost), "checked", mr.Checked)
	return mr, items, nil
}

// checkBody reads one message to its end and returns why it is lost, or
// "" when its body is fine. A damaged body that could be read is copied to
// the quarantine directory, whose path is returned.
func checkBody(ctx context.Context, store mailbox.Store, info mailbox.Info, msg mailbox.Message, known mailbox.EmailID, o *RecoverOptions, rep *RecoverReport) (reason, saved string, err error) {
	if o.Limiter != nil {
		if err := o.Limiter.Wait(ctx, 0, msg.Size); err != nil {
			return "", "", err
		}
	}
	rc, err := store.Open(ctx, info.Name, msg.UID)
	switch {
	case errors.Is(err, mailbox.ErrNotFound):
		// Gone since the listing: expunged meanwhile, or lost?
		for m, lerr := range store.Messages(ctx, info.Name, uid.SetOf(msg.UID)) {
			if lerr != nil {
				return "", "", lerr
			}
			if m.UID == msg.UID {
				return "body missing", "", nil
			}
		}
		return "", "", nil // expunged while we looked: not ours to record
	case ctx.Err() != nil:
		return "", "", ctx.Err()
	case err != nil:
		return fmt.Sprintf("body unreadable: %v", err), "", nil
	}
	defer rc.Close()
	var keep *quarantine
	var w io.Writer = io.Discard
	if o.QuarantineDir != "" && !o.DryRun {
		keep = &quarantine{}
		w = keep
	}
	vr := mailbox.NewVerifyingReader(rc, known, msg.Size)
	n, rerr := copyCtx(ctx, w, vr)
	rep.Bytes += n
	switch {
	case rerr == nil:
		return "", "", nil
	case ctx.Err() != nil:
		return "", "", ctx.Err()
	case errors.Is(rerr, mailbox.ErrEmailIDMismatch):
		reason = "body truncated or damaged: " + rerr.Error()
		if keep != nil {
			if saved, err = keep.save(o.QuarantineDir, o.User, info, msg.UID); err != nil {
				return "", "", fmt.Errorf("quarantine uid %d: %w", msg.UID, err)
			}
		}
		return reason, saved, nil
	default:
		return fmt.Sprintf("body unreadable: %v", rerr), "", nil
	}
}

// quarantine holds the bytes of a body being checked, to keep them if it
// turns out damaged.
type quarantine struct{ b []byte }

func (q *quarantine) Write(p []byte) (int, error) {
	q.b = append(q.b, p...)
	return len(p), nil
}

func (q *quarantine) save(dir, user string, info mailbox.Info, u uid.UID) (string, error) {
	name := fmt.Sprintf("%s.%d.%d.eml", safeFileName(string(info.ID)), info.UIDValidity, u)
	path := filepath.Join(dir, safeFileName(user), name)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return "", err
	}
	return path, os.WriteFile(path, q.b, 0o600)
}

// safeFileName keeps letters, digits and a few marks, so that a user or
// mailbox ID can never name a path outside the directory.
func safeFileName(s string) string {
	b := []byte(s)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '@' || c == '+') {
			b[i] = '_'
		}
	}
	if len(b) == 0 {
		return "_"
	}
	return string(b)
}
