package replica

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
)

// Mode is what a sync makes of the target.
type Mode int

const (
	// Mirror makes the target identical to the source: messages, flags,
	// and, when the target is a [mailbox.UIDSetter], UIDVALIDITY and UIDs.
	Mirror Mode = iota
	// TwoWay merges both sides: new mail both ways, expunges propagated,
	// flags merged three-way against the last agreed state.
	TwoWay
	// Migrate copies to the target what it lacks, by EmailID or, for
	// stores that rewrite bytes, by header fingerprint; it deletes nothing.
	Migrate
)

var modeNames = []string{"mirror", "sync", "migrate"}

func (m Mode) String() string {
	if int(m) >= 0 && int(m) < len(modeNames) {
		return modeNames[m]
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// ParseMode parses "mirror", "sync" or "migrate".
func ParseMode(s string) (Mode, error) {
	for i, n := range modeNames {
		if strings.EqualFold(s, n) {
			return Mode(i), nil
		}
	}
	return 0, fmt.Errorf("replica: unknown mode %q (want mirror, sync or migrate)", s)
}

// TargetOnly says what a mirror does with messages and mailboxes found only
// on the target that no earlier sync put there: mail written to the
// replica while it was wrongly used as the master (split brain).
type TargetOnly int

const (
	// KeepTargetOnly copies them back to the source, with new UIDs, and
	// reports them; then the target mirrors the source again. Nothing is
	// lost. The default.
	KeepTargetOnly TargetOnly = iota
	// DeleteTargetOnly deletes them from the target and reports them.
	DeleteTargetOnly
)

// Limiter paces what the engine moves. [ratelimit] handles satisfy it.
type Limiter interface {
	// Wait blocks until msgs messages and bytes bytes may move.
	Wait(ctx context.Context, msgs int, bytes int64) error
}

// Pacer is an optional interface of a Limiter: Paces reports whether its
// Wait can hold a copy back for a rate. A limiter that does not (no limit
// applies, only a server's pause could stop a Wait) gets batches of
// appends of the full size; one that does, or that does not say, gets a
// batch per message, so that what reaches the target arrives at the rate.
type Pacer interface {
	Paces() bool
}

// Observer is an optional interface of a Limiter: the engine reports how
// each side answered, so an adaptive limiter can slow down for a server
// that struggles.
type Observer interface {
	Observe(target bool, latency time.Duration, overloaded bool, retryAfter time.Duration)
}

// Options configures a [Syncer]. A nil *Options is valid and means all
// defaults; a zero field means that field's default.
type Options struct {
	Mode       Mode
	TargetOnly TargetOnly
	// TrustMissingMailboxes propagates the deletion of a mailbox that has
	// vanished from one side even when no journal records that a user
	// deleted it. By default such a mailbox is recreated from the other
	// side: a folder lost to a failure comes back.
	TrustMissingMailboxes bool
	// FolderNames pairs source mailboxes with target mailboxes of other
	// names: source name → target name, each holding for the mailboxes
	// below too ("Sent" → "Sent Items" syncs "Sent/2024" with "Sent
	// Items/2024"). It wins over the pairing by special use. INBOX
	// cannot be mapped, and no two pairs' names may be equal or one
	// below the other. A mailbox whose name a pair takes (a target
	// "Sent" when "Sent" maps to "Sent Items") is not synced, and is
	// reported as a conflict.
	FolderNames map[string]string
	// NoSpecialUseMap turns off the pairing of folders by special use
	// (\Sent, \Trash, ...): by default a source folder syncs into the
	// target's folder of the same use when their names differ ("Sent"
	// into "Sent Items"), when exactly one folder of each side has that
	// use (see "Folders of one special use" in the package documentation).
	// Off, each source folder syncs into the target folder of its name
	// (a pair synced before is renamed on the target to the source's
	// name, the rule for names that differ).
	NoSpecialUseMap bool

	// Pair names the pair of stores in the state (default "default").
	Pair string
	// User is the account, for tombstones and reports.
	User string
	// State keeps the agreed state; default a fresh [MemState] (no crash
	// safety, every sync starts from scratch).
	State State
	// Cache keeps EmailIDs of messages whose stores cannot list them; may
	// be nil.
	Cache EmailIDCache
	// SourceID and TargetID name the stores in Cache (default Pair+"/source"
	// and Pair+"/target").
	SourceID, TargetID string

	// Limiter, if not nil, is waited on before every message copied.
	Limiter Limiter
	// Concurrency is the number of mailboxes synced at once (default 2).
	Concurrency int
	// BatchMessages and BatchBytes bound a batch of appends made durable
	// and committed to the state together (defaults 1024 and 64 MiB):
	// each batch costs a few waits for the disk (the intents, the files,
	// their names, the store's index), so a larger one costs less per
	// message, and holds the store's lock longer (a Maildir's uidlist
	// lock, about a second per batch).
	BatchMessages int
	BatchBytes    int64
	// Mailboxes, if not nil, selects the mailboxes to sync by source name.
	Mailboxes func(name string) bool
	// DryRun plans without changing either store or the state.
	DryRun bool
	// FullScan lists both stores even when their stamps say that neither
	// changed since they last agreed ([mailbox.Stamper], [StampState]):
	// for a periodic verification that trusts nothing but the stores.
	FullScan bool
	// Stop, when closed, makes the sync stop gracefully: the message in
	// flight is finished, what was copied is made durable and committed,
	// no new mailbox is started, and Sync returns an error wrapping
	// ErrStopped. (Cancelling the context instead abandons operations in
	// flight; the next run still converges.)
	Stop <-chan struct{}
	// OnOp, if not nil, sees every op before it is applied (or, in a dry
	// run, instead). Mailboxes sync concurrently: it must be safe for
	// concurrent use, like OnMailboxOp and Progress.
	OnOp func(mailbox string, op Op)
	// OnMailboxOp, if not nil, sees every mailbox op.
	OnMailboxOp func(op MailboxOp)
	// Progress, if not nil, is called after each message copied.
	Progress func(msgs int, bytes int64)
	// Logger, if not nil, receives what the engine does.
	Logger *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Retries is how often a transient failure is retried (default 3);
	// RetryDelay the first pause, doubled each time (default 1s).
	Retries    int
	RetryDelay time.Duration
}

// Validate reports every problem of o at once.
func (o *Options) Validate() error {
	if o == nil {
		return nil
	}
	var errs []error
	if o.Mode < Mirror || o.Mode > Migrate {
		errs = append(errs, fmt.Errorf("replica: unknown mode %d", int(o.Mode)))
	}
	if o.TargetOnly < KeepTargetOnly || o.TargetOnly > DeleteTargetOnly {
		errs = append(errs, fmt.Errorf("replica: unknown target-only policy %d", int(o.TargetOnly)))
	}
	if o.Concurrency < 0 {
		errs = append(errs, fmt.Errorf("replica: negative concurrency %d", o.Concurrency))
	}
	if o.BatchMessages < 0 || o.BatchBytes < 0 {
		errs = append(errs, errors.New("replica: negative batch size"))
	}
	if _, err := explicitFolderMap(o.FolderNames); err != nil {
		errs = append(errs, err)
	}
	if o.Retries < 0 || o.RetryDelay < 0 {
		errs = append(errs, errors.New("replica: negative retries or retry delay"))
	}
	return errors.Join(errs...)
}

// withDefaults returns a copy of o with defaults filled in.
func (o *Options) withDefaults() Options {
	var c Options
	if o != nil {
		c = *o
	}
	if c.Pair == "" {
		c.Pair = "default"
	}
	if c.State == nil {
		c.State = NewMemState()
	}
	if c.SourceID == "" {
		c.SourceID = c.Pair + "/source"
	}
	if c.TargetID == "" {
		c.TargetID = c.Pair + "/target"
	}
	if c.Concurrency == 0 {
		c.Concurrency = 2
	}
	if c.BatchMessages == 0 {
		c.BatchMessages = 1024
	}
	if c.BatchBytes == 0 {
		c.BatchBytes = 64 << 20
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Retries == 0 {
		c.Retries = 3
	}
	if c.RetryDelay == 0 {
		c.RetryDelay = time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}
