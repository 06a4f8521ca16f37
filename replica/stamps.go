package replica

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"

	"github.com/mailrepl/mailrepl/mailbox"
)

// Stamps are what a pair's stores said of themselves ([mailbox.Stamper])
// when a sync found them agreeing and changed neither: while both stores'
// stamps stay so, the next sync has nothing to do and lists nothing.
type Stamps struct {
	Src, Dst string
	// Options describes the options the sync ran with that change what a
	// sync does (the mode, what happens to mail only on the target): a
	// sync under other options does its work.
	Options string
}

// StampState is an optional interface of a [State] that keeps each pair's
// [Stamps]. Without it, every sync lists both stores.
type StampState interface {
	// Stamps returns the pair's stamps; found is false when there are
	// none.
	Stamps(ctx context.Context, pair string) (s Stamps, found bool, err error)
	// PutStamps records the pair's stamps durably; DropStamps forgets
	// them.
	PutStamps(ctx context.Context, pair string, s Stamps) error
	DropStamps(ctx context.Context, pair string) error
}

var (
	_ StampState = (*JournalState)(nil)
	_ StampState = (*MemState)(nil)
)

// stampsNS is the journal's record namespace of the pairs' stamps. Its
// records are a JSON object; a record of another version is ignored (the
// sync then lists both stores and writes its own).
const stampsNS = "replica/stamps"

type stampsRecord struct {
	Version int    `json:"v"`
	Src     string `json:"src"`
	Dst     string `json:"dst"`
	Options string `json:"options"`
}

const stampsVersion = 1

// Stamps implements StampState.
func (s *JournalState) Stamps(ctx context.Context, pair string) (Stamps, bool, error) {
	v, found, err := s.j.Record(stampsNS, pair)
	if err != nil || !found {
		return Stamps{}, false, err
	}
	var r stampsRecord
	if err := json.Unmarshal(v, &r); err != nil || r.Version != stampsVersion {
		return Stamps{}, false, nil
	}
	return Stamps{Src: r.Src, Dst: r.Dst, Options: r.Options}, true, nil
}

// PutStamps implements StampState.
func (s *JournalState) PutStamps(ctx context.Context, pair string, st Stamps) error {
	v, err := json.Marshal(stampsRecord{Version: stampsVersion, Src: st.Src, Dst: st.Dst, Options: st.Options})
	if err != nil {
		return err
	}
	return s.j.PutRecord(ctx, stampsNS, pair, v)
}

// DropStamps implements StampState.
func (s *JournalState) DropStamps(ctx context.Context, pair string) error {
	b := s.j.NewBatch()
	b.DeleteRecord(stampsNS, pair)
	_, err := b.Commit(ctx)
	return err
}

// Stamps implements StampState.
func (s *MemState) Stamps(ctx context.Context, pair string) (Stamps, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.mu.stamps[pair]
	return st, ok, nil
}

// PutStamps implements StampState.
func (s *MemState) PutStamps(ctx context.Context, pair string, st Stamps) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mu.stamps == nil {
		s.mu.stamps = map[string]Stamps{}
	}
	s.mu.stamps[pair] = st
	return nil
}

// DropStamps implements StampState.
func (s *MemState) DropStamps(ctx context.Context, pair string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.mu.stamps, pair)
	return nil
}

// stamper is a sync's use of the stores' stamps.
type stamper struct {
	st       StampState
	src, dst mailbox.Stamper
	own      bool   // a mirror's target, stamped with StampOwn
	start    Stamps // taken before anything was listed
	recorded bool   // a record was there at the start
}

// stampOptions describes the options that change what a sync of
// unchanged stores does.
func (o *Options) stampOptions() string {
	s := fmt.Sprintf("mode=%s target-only=%d trust-missing=%t user=%q", o.Mode, o.TargetOnly, o.TrustMissingMailboxes, o.User)
	// The folder map pairs mailboxes: another map, another sync. The
	// defaults add nothing, so stamps recorded before the map existed
	// still hold.
	if o.NoSpecialUseMap {
		s += " no-special-use-map"
	}
	for _, k := range slices.Sorted(maps.Keys(o.FolderNames)) {
		s += fmt.Sprintf(" folder %q=%q", k, o.FolderNames[k])
	}
	return s
}

// newStamper returns the stamps of both stores, when the state and both
// stores keep them and the sync may use them (not a dry run, nor one of
// some mailboxes only, nor a full scan); nil otherwise.
func (s *Syncer) newStamper(ctx context.Context) (*stamper, error) {
	o := &s.opt
	st, ok := o.State.(StampState)
	if !ok || o.DryRun || o.Mailboxes != nil || o.FullScan {
		return nil, nil
	}
	src, ok1 := s.src.(mailbox.Stamper)
	dst, ok2 := s.dst.(mailbox.Stamper)
	if !ok1 || !ok2 {
		return nil, nil
	}
	sp := &stamper{st: st, src: src, dst: dst}
	if _, ok := dst.(mailbox.OwnStamper); ok && o.Mode == Mirror {
		sp.own = true
	}
	var err error
	if sp.start, err = sp.take(ctx, o); err != nil {
		return nil, err
	}
	return sp, nil
}

func (sp *stamper) take(ctx context.Context, o *Options) (Stamps, error) {
	var (
		st  = Stamps{Options: o.stampOptions()}
		err error
	)
	if st.Src, err = sp.src.Stamp(ctx); err != nil {
		return Stamps{}, fmt.Errorf("replica: source stamp: %w", err)
	}
	if sp.own {
		st.Dst, err = sp.dst.(mailbox.OwnStamper).StampOwn(ctx)
	} else {
		st.Dst, err = sp.dst.Stamp(ctx)
	}
	if err != nil {
		return Stamps{}, fmt.Errorf("replica: target stamp: %w", err)
	}
	return st, nil
}

// unchanged reports whether the stores are as they were when they last
// agreed. When they are not, a record of that time is dropped, before the
// sync changes anything: a record outlives only syncs that found nothing
// to do.
func (sp *stamper) unchanged(ctx context.Context, pair string) (bool, error) {
	rec, found, err := sp.st.Stamps(ctx, pair)
	if err != nil {
		return false, fmt.Errorf("replica: read stamps of pair %q: %w", pair, err)
	}
	if found && sp.start.Src != "" && sp.start.Dst != "" && rec == sp.start {
		return true, nil
	}
	if found {
		if err := sp.st.DropStamps(ctx, pair); err != nil {
			return false, fmt.Errorf("replica: drop stamps of pair %q: %w", pair, err)
		}
	}
	return false, nil
}

// finish records the stamps taken at the start when the sync left both
// stores agreeing and neither changed while it ran (by this sync or
// another writer): the stamps taken now are the same. A mirror whose
// target can stamp itself after its own writes ([mailbox.OwnStamper]: the
// mirror is the target's one writer) records the stamps as it leaves the
// stores, whatever it did, when it did all of it and the source's stamp
// did not change meanwhile: the next sync of unchanged stores then lists
// nothing either.
func (sp *stamper) finish(ctx context.Context, o *Options, rep *Report) error {
	if sp.start.Src == "" {
		return nil
	}
	if sp.own {
		if !rep.converged() {
			return nil
		}
		now, err := sp.take(ctx, o)
		if err != nil || now.Src != sp.start.Src || now.Dst == "" {
			return err
		}
		return sp.put(ctx, o, now)
	}
	if sp.start.Dst == "" || !rep.clean() {
		return nil
	}
	now, err := sp.take(ctx, o)
	if err != nil || now != sp.start {
		return err
	}
	return sp.put(ctx, o, sp.start)
}

func (sp *stamper) put(ctx context.Context, o *Options, st Stamps) error {
	if err := sp.st.PutStamps(ctx, o.Pair, st); err != nil {
		return fmt.Errorf("replica: record stamps of pair %q: %w", o.Pair, err)
	}
	return nil
}
