package replica

import (
	"errors"
	"fmt"
	"iter"
	"slices"

	"github.com/mailrepl/mailrepl/mailbox"
	"github.com/mailrepl/mailrepl/uid"
)

// Identity is what tells two copies of a message apart from other mail:
// its EmailID, and for stores that rewrite bytes its header fingerprint.
type Identity struct {
	EmailID     mailbox.EmailID
	Fingerprint mailbox.Fingerprint // zero unless asked for
}

// Resolver finds the identity of a message that a listing gave without an
// EmailID. The engine's resolver reads the body (once, then caches); tests
// give a pure one. fingerprint asks for the fingerprint too.
type Resolver func(side Side, m mailbox.Message, fingerprint bool) (Identity, error)

// Input is everything one mailbox's plan depends on. [Diff] is a pure
// function of it: no I/O but what the listings, the state and the Resolver
// do.
type Input struct {
	Mode       Mode
	TargetOnly TargetOnly
	// Identity: both sides keep the same UIDs (the target, and in two-way
	// mode the source too, is a [mailbox.UIDSetter] and the state pairs
	// equal UIDs). Otherwise the state's entries map source UIDs to target
	// UIDs.
	Identity bool
	Src, Dst Info2
	// State is the agreed entries in source UID order; StateByDst the
	// same in target UID order (used only when Identity is false).
	State, StateByDst iter.Seq2[Entry, error]
	// HasState: a sync of this pair of mailboxes finished before.
	HasState bool
	// Source and Target listings.
	Source, Target Listing
	// Intents are the appends the last run recorded and may not have
	// finished: a message on one side that an intent says the engine wrote
	// is known to be a copy, not foreign mail.
	Intents []Intent
	// Tombstoned reports whether a user expunged a message with that
	// EmailID from this mailbox: target-only mail with a tombstone is not
	// copied back to the source. May be nil.
	Tombstoned func(mailbox.EmailID) bool
	// Lost reports whether recovery recorded the message with that EmailID
	// as lost from side's mailbox: its absence there is a failure, not a
	// user's expunge, so it is never propagated. May be nil.
	Lost func(side Side, id mailbox.EmailID) bool
	// Gone reports, in two-way mode after a side's UIDVALIDITY changed
	// (Header.Renewed), whether side's user expunged the message with
	// that EmailID since the last agreed state: a message only one side
	// holds is then an expunge to propagate, not new mail. May be nil.
	Gone    func(side Side, id mailbox.EmailID) bool
	Resolve Resolver
}

// Info2 is what the plan needs of one side's mailbox.
type Info2 struct {
	UIDNext uid.UID
}

// ErrRealign is returned by [Diff] in identity mode when the target can no
// longer hold the source's UIDs as they are (it lost a message, holds mail
// of its own, or a UID holds different messages): the mailbox must be
// realigned first. The ops emitted before it are valid.
var ErrRealign = errors.New("replica: mailbox must be realigned")

// ErrUIDReused is returned by [Diff] when a side holds, at a UID the state
// pairs, another message than the state says: that side reused a UID (an
// index restored from an old copy, or damaged), so its history cannot be
// trusted. The Syncer then re-pairs the mailbox by EmailID and infers no
// expunge from what that side lacks.
var ErrUIDReused = errors.New("replica: a UID holds another message than the state says")

type reusedError struct {
	side Side
	u    uid.UID
}

func (e *reusedError) Error() string {
	return fmt.Sprintf("replica: %s uid %d holds another message than the state says: UIDs were reused", e.side, e.u)
}
func (e *reusedError) Unwrap() error { return ErrUIDReused }

type realignError struct{ reason string }

func (e *realignError) Error() string { return "replica: mailbox must be realigned: " + e.reason }
func (e *realignError) Unwrap() error { return ErrRealign }

// Diff computes the plan of one mailbox and gives each op to emit, in an
// order Apply can follow. It stops at the first error emit returns.
func Diff(in Input, emit func(Op) error) error {
	p := &planner{in: in, emit: emit, srcNext: in.Src.UIDNext, dstNext: in.Dst.UIDNext}
	if in.Identity {
		if err := joinByUID(in.Source, in.Target, in.State, p.identityRow); err != nil {
			return err
		}
		return p.finishMoves()
	}
	tv, err := scanTarget(in.Target, in.StateByDst, in.Mode != Migrate)
	if err != nil {
		return err
	}
	p.unpaired = tv.unpaired
	if err := joinBySource(in.Source, in.State, tv, p.mapRow); err != nil {
		return err
	}
	return p.finishUnpaired()
}

type planner struct {
	in               Input
	emit             func(Op) error
	srcNext, dstNext uid.UID // UIDNEXTs as the planned appends move them
	moves            []Op    // two-way identity: messages to renumber, planned last
	placedIDs        map[mailbox.EmailID]placedAt

	// map mode: target messages no entry pairs, and their index.
	unpaired []mailbox.Message
	byID     map[mailbox.EmailID][]int
	byFP     map[mailbox.Fingerprint][]int
	claimed  map[int]bool
	fps      [2]map[uid.UID]mailbox.Fingerprint // fingerprints read with EmailIDs
}

// lost reports whether the message with EmailID id is recorded as lost
// from side.
func (p *planner) lost(side Side, id mailbox.EmailID) bool {
	return p.in.Lost != nil && !id.IsZero() && p.in.Lost(side, id)
}

// gone reports whether side's user expunged the message with EmailID id
// (see Input.Gone).
func (p *planner) gone(side Side, id mailbox.EmailID) bool {
	return p.in.Gone != nil && !id.IsZero() && p.in.Gone(side, id)
}

// keptOnTarget is the op of a message the source lost and the target
// still has: a mirror keeps it there, for a restore.
func keptOnTarget(u uid.UID, d *mailbox.Message) Op {
	return Op{Kind: OpSkip, Side: Target, UID: u, Msg: *d, KeptLost: true, Reason: "lost on the source (recorded by recovery): kept on the target, to restore from"}
}

func (p *planner) id(side Side, m *mailbox.Message) (mailbox.EmailID, error) {
	if !m.EmailID.IsZero() {
		return m.EmailID, nil
	}
	if p.in.Resolve == nil {
		return mailbox.EmailID{}, fmt.Errorf("replica: %s uid %d: EmailID unknown and no resolver", side, m.UID)
	}
	// A migration compares fingerprints of what EmailIDs do not pair: a
	// body read for its EmailID gives its fingerprint too, in the same read.
	fp := p.in.Mode == Migrate
	idn, err := p.in.Resolve(side, *m, fp)
	if err != nil {
		return mailbox.EmailID{}, err
	}
	m.EmailID = idn.EmailID
	if fp {
		p.keepFingerprint(side, m.UID, idn.Fingerprint)
	}
	return m.EmailID, nil
}

// keepFingerprint remembers a fingerprint read with an EmailID, for
// fingerprint (bounded: beyond maxPlaced it is read again when needed).
func (p *planner) keepFingerprint(side Side, u uid.UID, fp mailbox.Fingerprint) {
	if p.fps[side] == nil {
		p.fps[side] = map[uid.UID]mailbox.Fingerprint{}
	}
	if len(p.fps[side]) < maxPlaced {
		p.fps[side][u] = fp
	}
}

// fingerprint returns the fingerprint of m on side, read once.
func (p *planner) fingerprint(side Side, m mailbox.Message) (mailbox.Fingerprint, error) {
	if fp, ok := p.fps[side][m.UID]; ok {
		return fp, nil
	}
	idn, err := p.in.Resolve(side, m, true)
	if err != nil {
		return mailbox.Fingerprint{}, err
	}
	p.keepFingerprint(side, m.UID, idn.Fingerprint)
	return idn.Fingerprint, nil
}

// identityRow plans one UID of a pair that keeps the same UIDs.
func (p *planner) identityRow(u uid.UID, r row) error {
	if r.E != nil {
		if r.S != nil && idsDiffer(r.S.EmailID, r.E.EmailID) {
			return &reusedError{Source, u}
		}
		if r.D != nil && idsDiffer(r.D.EmailID, r.E.EmailID) {
			return &reusedError{Target, u}
		}
	}
	if p.in.Mode == TwoWay {
		return p.twoWayIdentity(u, r)
	}
	return p.mirrorIdentity(u, r)
}

func (p *planner) mirrorIdentity(u uid.UID, r row) error {
	switch {
	case r.S != nil && r.D != nil:
		id, same, err := p.sameMessage(r)
		if err != nil {
			return err
		}
		if !same {
			return &realignError{fmt.Sprintf("uid %d holds different messages on source and target", u)}
		}
		e := Entry{Src: u, Dst: u, EmailID: id, Flags: r.S.Flags}
		if !r.D.Flags.Equal(r.S.Flags) {
			reason := "differ: source wins"
			if r.E != nil {
				srcChanged, dstChanged := !r.S.Flags.Equal(r.E.Flags), !r.D.Flags.Equal(r.E.Flags)
				switch {
				case srcChanged && dstChanged:
					reason = "changed on both sides: source wins"
				case srcChanged:
					reason = "changed on source"
				default:
					reason = "changed on target: source wins"
				}
			}
			return p.emit(Op{Kind: OpFlags, Side: Target, UID: u, Msg: *r.D, Flags: r.S.Flags, Entry: e, Reason: reason})
		}
		if r.E == nil || !r.E.Flags.Equal(e.Flags) || r.E.EmailID != id {
			return p.emit(Op{Kind: OpPair, Entry: e})
		}
		return nil
	case r.S != nil:
		if r.E != nil {
			return &realignError{fmt.Sprintf("target lost uid %d", u)}
		}
		if u < p.dstNext {
			return &realignError{fmt.Sprintf("new source uid %d is below the target's UIDNEXT %d", u, p.dstNext)}
		}
		p.dstNext = u + 1
		return p.emit(p.appendOp(Target, u, Source, r.S, "new"))
	case r.D != nil:
		if r.E != nil {
			if p.lost(Source, r.E.EmailID) {
				return p.emit(keptOnTarget(u, r.D))
			}
			return p.emit(Op{Kind: OpExpunge, Side: Target, UID: u, Msg: *r.D, Entry: *r.E, Tombstone: true, Reason: "expunged on source"})
		}
		if ours, err := p.intended(Target, r.D); err != nil {
			return err
		} else if ours {
			return p.emit(Op{Kind: OpExpunge, Side: Target, UID: u, Msg: *r.D, Tombstone: true, Reason: "copied from the source, which expunged it since"})
		}
		if p.in.TargetOnly == DeleteTargetOnly {
			return p.emit(Op{Kind: OpExpunge, Side: Target, UID: u, Msg: *r.D, Conflict: true, Reason: "only on target: deleted by policy"})
		}
		return &realignError{fmt.Sprintf("uid %d is only on the target", u)}
	case r.E != nil:
		return p.emit(Op{Kind: OpUnpair, Entry: *r.E, Tombstone: true, Reason: "expunged on both sides"})
	}
	return nil
}

// sameMessage reports whether both sides hold one message at a row's UID,
// and its EmailID. The state's EmailID is trusted unless a listing
// contradicts it.
func (p *planner) sameMessage(r row) (mailbox.EmailID, bool, error) {
	if r.E != nil && !idsDiffer(r.S.EmailID, r.E.EmailID) && !idsDiffer(r.D.EmailID, r.E.EmailID) {
		return r.E.EmailID, true, nil
	}
	sid, err := p.id(Source, r.S)
	if err != nil {
		return mailbox.EmailID{}, false, err
	}
	did, err := p.id(Target, r.D)
	if err != nil {
		return mailbox.EmailID{}, false, err
	}
	return sid, sid == did, nil
}

// appendOp copies m from side from to side to, at UID u (0: the store
// chooses).
func (p *planner) appendOp(to Side, u uid.UID, from Side, m *mailbox.Message, reason string) Op {
	e := Entry{EmailID: m.EmailID, Flags: m.Flags}
	if to == Target {
		e.Src, e.Dst = m.UID, u
	} else {
		e.Src, e.Dst = u, m.UID
	}
	return Op{Kind: OpAppend, Side: to, UID: u, From: from, FromUID: m.UID, Msg: *m, Entry: e, Reason: reason}
}

// intended reports whether an intent of the last run says the engine
// itself wrote message m to side: same EmailID, and same UID when the
// intent named one. An intent without an EmailID proves nothing.
func (p *planner) isIntended(side Side, m *mailbox.Message) bool {
	ok, err := p.intended(side, m)
	return err == nil && ok
}

func (p *planner) intended(side Side, m *mailbox.Message) (bool, error) {
	for _, in := range p.in.Intents {
		if in.Move || in.ToSource != (side == Source) || in.EmailID.IsZero() || (in.UID != 0 && in.UID != m.UID) {
			continue
		}
		id, err := p.id(side, m)
		if err != nil {
			return false, err
		}
		if id == in.EmailID {
			return true, nil
		}
	}
	return false, nil
}

func (p *planner) twoWayIdentity(u uid.UID, r row) error {
	switch {
	case r.S != nil && r.D != nil:
		id, same, err := p.sameMessage(r)
		if err != nil {
			return err
		}
		if !same {
			if err := p.addMove(Source, r.S, fmt.Sprintf("uid %d holds another message on the target", u)); err != nil {
				return err
			}
			return p.addMove(Target, r.D, fmt.Sprintf("uid %d holds another message on the source", u))
		}
		var base *mailbox.Flags
		if r.E != nil {
			base = &r.E.Flags
		}
		return p.mergeOps(r, id, base)
	case r.S != nil:
		if r.E != nil {
			if !p.lost(Target, r.E.EmailID) {
				return p.emit(Op{Kind: OpExpunge, Side: Source, UID: u, Msg: *r.S, Entry: *r.E, Tombstone: true, Reason: "expunged on target"})
			}
			// Lost on the target: it goes back there, under a new UID.
			if err := p.emit(Op{Kind: OpUnpair, Entry: *r.E, Reason: "lost on the target (recorded by recovery)"}); err != nil {
				return err
			}
		}
		return p.newOneSide(Source, u, r.S)
	case r.D != nil:
		if r.E != nil {
			if !p.lost(Source, r.E.EmailID) {
				return p.emit(Op{Kind: OpExpunge, Side: Target, UID: u, Msg: *r.D, Entry: *r.E, Tombstone: true, Reason: "expunged on source"})
			}
			if err := p.emit(Op{Kind: OpUnpair, Entry: *r.E, Reason: "lost on the source (recorded by recovery)"}); err != nil {
				return err
			}
		}
		return p.newOneSide(Target, u, r.D)
	case r.E != nil:
		return p.emit(Op{Kind: OpUnpair, Entry: *r.E, Tombstone: true, Reason: "expunged on both sides"})
	}
	return nil
}

// next is the UIDNEXT of side as the planned appends move it.
func (p *planner) next(side Side) *uid.UID {
	if side == Source {
		return &p.srcNext
	}
	return &p.dstNext
}

// newOneSide plans a message that one side (origin) holds at UID u, that
// no entry pairs, in the two-way identity regime: copied to the other side
// at the same UID when that side has not used it, else moved to a new UID
// on both sides. The same message new on both sides at different UIDs (a
// dual delivery) ends up once on each side.
func (p *planner) newOneSide(origin Side, u uid.UID, m *mailbox.Message) error {
	other := origin.Other()
	if ours, err := p.intended(origin, m); err != nil {
		return err
	} else if ours {
		return p.emit(Op{Kind: OpExpunge, Side: origin, UID: u, Msg: *m, Tombstone: true,
			Reason: fmt.Sprintf("copied from the %s, which expunged it since", other)})
	}
	if u < *p.next(other) {
		return p.addMove(origin, m, fmt.Sprintf("uid %d was used on the %s", u, other))
	}
	// A move pending from the other side of the same message: the other
	// side's copy goes to u, where this side has it already.
	if !m.EmailID.IsZero() {
		for i, mv := range p.moves {
			if mv.Side == other && mv.Msg.EmailID == m.EmailID && mv.AlsoUID == 0 && u >= *p.next(other) {
				p.moves = slices.Delete(p.moves, i, i+1)
				mv.UID = u
				mv.Reason = fmt.Sprintf("already on the %s at uid %d", origin, u)
				mv.Entry = Entry{Src: u, Dst: u, EmailID: m.EmailID, Flags: mv.Msg.Flags}
				*p.next(other) = u + 1
				*p.next(origin) = max(*p.next(origin), u+1)
				return p.emit(mv)
			}
		}
		p.placed(origin, u, m.EmailID)
	}
	*p.next(other) = u + 1
	return p.emit(p.appendOp(other, u, origin, m, "new"))
}

// placed remembers that a message new on one side is being copied to the
// other at the same UID, so a later move of the same message is not made
// into a second copy. Bounded: beyond maxPlaced only moves are compared.
func (p *planner) placed(origin Side, u uid.UID, id mailbox.EmailID) {
	if p.placedIDs == nil {
		p.placedIDs = map[mailbox.EmailID]placedAt{}
	}
	if len(p.placedIDs) < maxPlaced {
		if _, dup := p.placedIDs[id]; !dup {
			p.placedIDs[id] = placedAt{origin, u}
		}
	}
}

const maxPlaced = 200_000

type placedAt struct {
	origin Side
	uid    uid.UID
}

// mergeOps plans the flags of a message both sides hold: merged three-way
// against base, or, without base, the union. The entry is recorded with
// the last op only, so a crash between the two sides' changes leaves the
// old agreement and the next run merges again to the same result.
func (p *planner) mergeOps(r row, id mailbox.EmailID, base *mailbox.Flags) error {
	merged, conflict := MergeFlags(base, r.S.Flags, r.D.Flags)
	e := Entry{Src: r.S.UID, Dst: r.D.UID, EmailID: id, Flags: merged}
	var ops []Op
	reason := "merged"
	if conflict {
		reason = "differ with no agreed state: union"
	}
	if !r.S.Flags.Equal(merged) {
		ops = append(ops, Op{Kind: OpFlags, Side: Source, UID: r.S.UID, Msg: *r.S, Flags: merged, Conflict: conflict, Reason: reason})
	}
	if !r.D.Flags.Equal(merged) {
		ops = append(ops, Op{Kind: OpFlags, Side: Target, UID: r.D.UID, Msg: *r.D, Flags: merged, Conflict: conflict, Reason: reason})
	}
	if len(ops) == 0 {
		if r.E == nil || !r.E.Flags.Equal(merged) || r.E.EmailID != id || r.E.Dst != e.Dst {
			return p.emit(Op{Kind: OpPair, Entry: e})
		}
		return nil
	}
	ops[len(ops)-1].Entry = e
	for _, op := range ops {
		if err := p.emit(op); err != nil {
			return err
		}
	}
	return nil
}

// MergeFlags merges the flags of two copies of a message three-way against
// the flags both last agreed on (base). Flag by flag, a change on one side
// wins over no change on the other; a flag changed on both sides has the
// same value on both (a flag is either set or not), so with a base there
// is no conflict. Without a base (nil: the copies were never paired) the
// rule is that a flag set on either side stays set: the union, reported as
// a conflict when the sides differ.
func MergeFlags(base *mailbox.Flags, s, d mailbox.Flags) (merged mailbox.Flags, conflict bool) {
	if base == nil {
		return s.Union(d), !s.Equal(d)
	}
	var keep []mailbox.Flag
	for f := range s.Union(d).Union(*base).All() {
		b, x, y := base.Has(f), s.Has(f), d.Has(f)
		v := x
		if x == b {
			v = y
		}
		if v {
			keep = append(keep, f)
		}
	}
	return mailbox.MustFlags(keep...), false
}

// addMove plans a message that cannot keep its UID: it is copied to a new
// UID above both sides' UIDNEXTs, on both sides, and expunged at its old
// UID. Moves are planned after every other op, so new UIDs do not block
// messages that can keep theirs.
func (p *planner) addMove(origin Side, m *mailbox.Message, reason string) error {
	if _, err := p.id(origin, m); err != nil {
		return err
	}
	p.moves = append(p.moves, Op{Kind: OpMove, Side: origin, FromUID: m.UID, Msg: *m, Conflict: true, Reason: reason})
	return nil
}

func (p *planner) finishMoves() error {
	// Moves of one message from both sides become one move that also
	// drops the other side's copy.
	var moves []Op
	for i, mv := range p.moves {
		if mv.Kind == 0 {
			continue
		}
		for j := i + 1; j < len(p.moves); j++ {
			o := &p.moves[j]
			if o.Kind != 0 && o.Side != mv.Side && o.Msg.EmailID == mv.Msg.EmailID && mv.AlsoUID == 0 {
				mv.AlsoUID = o.FromUID
				mv.Reason += fmt.Sprintf("; the same message is at uid %d on the %s", o.FromUID, o.Side)
				o.Kind = 0
				break
			}
		}
		moves = append(moves, mv)
	}
	next := max(p.srcNext, p.dstNext)
	for _, op := range moves {
		if at, ok := p.placedIDs[op.Msg.EmailID]; ok && at.origin != op.Side && op.AlsoUID == 0 {
			// The other side's copy was placed on this side at at.uid:
			// this copy is the duplicate.
			if err := p.emit(Op{Kind: OpExpunge, Side: op.Side, UID: op.FromUID, Msg: op.Msg, Conflict: true,
				Reason: fmt.Sprintf("the same message is at uid %d on both sides", at.uid)}); err != nil {
				return err
			}
			delete(p.placedIDs, op.Msg.EmailID)
			continue
		}
		op.UID = next
		op.Entry = Entry{Src: next, Dst: next, EmailID: op.Msg.EmailID, Flags: op.Msg.Flags}
		next++
		if err := p.emit(op); err != nil {
			return err
		}
	}
	p.srcNext, p.dstNext = next, next
	return nil
}

// mapRow plans one source UID of a pair whose UIDs differ.
func (p *planner) mapRow(u uid.UID, r row) error {
	if p.in.Mode != Migrate && r.E != nil {
		if r.D != nil && idsDiffer(r.D.EmailID, r.E.EmailID) {
			return &reusedError{Target, r.D.UID}
		}
		if r.S != nil && idsDiffer(r.S.EmailID, r.E.EmailID) {
			return &reusedError{Source, r.S.UID}
		}
	}
	switch p.in.Mode {
	case Mirror:
		return p.mirrorMap(r)
	case TwoWay:
		return p.twoWayMap(r)
	}
	return p.migrateMap(r)
}

func (p *planner) mirrorMap(r row) error {
	switch {
	case r.S != nil && r.E != nil && r.D != nil:
		e := Entry{Src: r.S.UID, Dst: r.D.UID, EmailID: r.E.EmailID, Flags: r.S.Flags}
		if !r.D.Flags.Equal(r.S.Flags) {
			return p.emit(Op{Kind: OpFlags, Side: Target, UID: r.D.UID, Msg: *r.D, Flags: r.S.Flags, Entry: e, Reason: "source wins"})
		}
		if !r.E.Flags.Equal(r.S.Flags) {
			return p.emit(Op{Kind: OpPair, Entry: e})
		}
		return nil
	case r.S != nil && r.E != nil:
		return p.emit(p.appendOp(Target, 0, Source, r.S, "missing on target: copied again"))
	case r.S != nil:
		return p.newOnSource(r.S, false)
	case r.E != nil && r.D != nil:
		if p.lost(Source, r.E.EmailID) {
			return p.emit(keptOnTarget(r.D.UID, r.D))
		}
		return p.emit(Op{Kind: OpExpunge, Side: Target, UID: r.D.UID, Msg: *r.D, Entry: *r.E, Tombstone: true, Reason: "expunged on source"})
	case r.E != nil:
		return p.emit(Op{Kind: OpUnpair, Entry: *r.E, Tombstone: true, Reason: "expunged on both sides"})
	}
	return nil
}

func (p *planner) twoWayMap(r row) error {
	switch {
	case r.S != nil && r.E != nil && r.D != nil:
		return p.mergeOps(r, r.E.EmailID, &r.E.Flags)
	case r.S != nil && r.E != nil:
		if p.lost(Target, r.E.EmailID) {
			return p.emit(p.appendOp(Target, 0, Source, r.S, "lost on the target (recorded by recovery): copied again"))
		}
		return p.emit(Op{Kind: OpExpunge, Side: Source, UID: r.S.UID, Msg: *r.S, Entry: *r.E, Tombstone: true, Reason: "expunged on target"})
	case r.S != nil:
		return p.newOnSource(r.S, true)
	case r.E != nil && r.D != nil:
		if p.lost(Source, r.E.EmailID) {
			if err := p.emit(Op{Kind: OpUnpair, Entry: *r.E, Reason: "lost on the source (recorded by recovery)"}); err != nil {
				return err
			}
			return p.emit(p.appendOp(Source, 0, Target, r.D, "lost on the source (recorded by recovery): copied again"))
		}
		return p.emit(Op{Kind: OpExpunge, Side: Target, UID: r.D.UID, Msg: *r.D, Entry: *r.E, Tombstone: true, Reason: "expunged on source"})
	case r.E != nil:
		return p.emit(Op{Kind: OpUnpair, Entry: *r.E, Tombstone: true, Reason: "expunged on both sides"})
	}
	return nil
}

func (p *planner) migrateMap(r row) error {
	switch {
	case r.S != nil && r.E != nil && r.D == nil:
		if p.lost(Target, r.E.EmailID) {
			return p.emit(p.appendOp(Target, 0, Source, r.S, "lost on the target (recorded by recovery): copied again"))
		}
		return p.emit(Op{Kind: OpSkip, Side: Source, UID: r.S.UID, Msg: *r.S, Reason: "deleted on target: not copied again"})
	case r.S != nil && r.E == nil:
		return p.newOnSource(r.S, false)
	case r.S == nil && r.E != nil:
		return p.emit(Op{Kind: OpUnpair, Entry: *r.E, Tombstone: true, Reason: "expunged on source"})
	}
	return nil
}

// newOnSource plans a source message no entry pairs: paired with the
// same message on the target if there is one, else copied.
func (p *planner) newOnSource(s *mailbox.Message, merge bool) error {
	k, how, err := p.match(s)
	if err != nil {
		return err
	}
	if k < 0 {
		if p.in.Mode == TwoWay {
			if ours, err := p.intended(Source, s); err != nil {
				return err
			} else if ours {
				return p.emit(Op{Kind: OpExpunge, Side: Source, UID: s.UID, Msg: *s, Tombstone: true, Reason: "copied from the target, which expunged it since"})
			}
			if p.gone(Target, s.EmailID) {
				return p.emit(Op{Kind: OpExpunge, Side: Source, UID: s.UID, Msg: *s, Tombstone: true, Reason: "expunged on target (both sides had it before a UIDVALIDITY changed)"})
			}
		}
		return p.emit(p.appendOp(Target, 0, Source, s, "new"))
	}
	d := &p.unpaired[k]
	if merge {
		return p.mergeOps(row{S: s, D: d}, d.EmailID, nil)
	}
	e := Entry{Src: s.UID, Dst: d.UID, EmailID: s.EmailID, Flags: s.Flags}
	if p.in.Mode == Mirror && !d.Flags.Equal(s.Flags) {
		return p.emit(Op{Kind: OpFlags, Side: Target, UID: d.UID, Msg: *d, Flags: s.Flags, Entry: e, Reason: "already on target (" + how + "): source wins"})
	}
	if p.in.Mode == Migrate {
		e.Flags = d.Flags
	}
	return p.emit(Op{Kind: OpPair, Entry: e, Reason: "already on target (" + how + ")"})
}

// match finds an unclaimed target message that is the same message as s:
// by EmailID, and in migrate mode by header fingerprint. It returns its
// index in p.unpaired, or -1.
func (p *planner) match(s *mailbox.Message) (int, string, error) {
	if len(p.unpaired) == len(p.claimed) {
		return -1, "", nil
	}
	if p.byID == nil {
		p.byID = map[mailbox.EmailID][]int{}
		p.claimed = map[int]bool{}
		for k := range p.unpaired {
			id, err := p.id(Target, &p.unpaired[k])
			if err != nil {
				return -1, "", err
			}
			p.byID[id] = append(p.byID[id], k)
		}
	}
	id, err := p.id(Source, s)
	if err != nil {
		return -1, "", err
	}
	if k := p.claim(p.byID[id]); k >= 0 {
		return k, "same EmailID", nil
	}
	if p.in.Mode != Migrate || p.in.Resolve == nil {
		return -1, "", nil
	}
	if p.byFP == nil {
		p.byFP = map[mailbox.Fingerprint][]int{}
		for k, d := range p.unpaired {
			if p.claimed[k] {
				continue
			}
			fp, err := p.fingerprint(Target, d)
			if err != nil {
				return -1, "", err
			}
			p.byFP[fp] = append(p.byFP[fp], k)
		}
	}
	fp, err := p.fingerprint(Source, *s)
	if err != nil {
		return -1, "", err
	}
	if k := p.claim(p.byFP[fp]); k >= 0 {
		return k, "same header fingerprint", nil
	}
	return -1, "", nil
}

func (p *planner) claim(ks []int) int {
	for _, k := range ks {
		if !p.claimed[k] {
			p.claimed[k] = true
			return k
		}
	}
	return -1
}

// finishUnpaired plans the target messages no entry pairs and no source
// message matched.
func (p *planner) finishUnpaired() error {
	if p.in.Mode == Migrate {
		return nil
	}
	for k := range p.unpaired {
		if p.claimed[k] {
			continue
		}
		d := &p.unpaired[k]
		deleted := false
		if p.in.Tombstoned != nil && p.in.Mode == Mirror {
			id, err := p.id(Target, d)
			if err != nil {
				return err
			}
			deleted = p.in.Tombstoned(id)
		}
		ours, err := p.intended(Target, d)
		if err != nil {
			return err
		}
		if p.in.Mode == TwoWay && p.in.Gone != nil {
			if _, err := p.id(Target, d); err != nil {
				return err
			}
		}
		switch {
		case ours || deleted:
			if _, err := p.id(Target, d); err != nil {
				return err
			}
			if err := p.emit(Op{Kind: OpExpunge, Side: Target, UID: d.UID, Msg: *d, Tombstone: true, Reason: "expunged on the source since it was copied"}); err != nil {
				return err
			}
		case p.in.Mode == TwoWay && p.gone(Source, d.EmailID):
			if err := p.emit(Op{Kind: OpExpunge, Side: Target, UID: d.UID, Msg: *d, Tombstone: true, Reason: "expunged on source (both sides had it before a UIDVALIDITY changed)"}); err != nil {
				return err
			}
		case p.in.Mode == TwoWay:
			if err := p.emit(p.appendOp(Source, 0, Target, d, "new")); err != nil {
				return err
			}
		case p.in.TargetOnly == keepInPlace:
			if err := p.emit(Op{Kind: OpSkip, Side: Target, UID: d.UID, Msg: *d, Conflict: true, Reason: "only on target, and the source is read-only: kept"}); err != nil {
				return err
			}
		case p.in.TargetOnly == DeleteTargetOnly:
			if err := p.emit(Op{Kind: OpExpunge, Side: Target, UID: d.UID, Msg: *d, Conflict: true, Reason: "only on target: deleted by policy"}); err != nil {
				return err
			}
		default:
			if err := p.emit(p.appendOp(Source, 0, Target, d, "only on target: copied to source")); err != nil {
				return err
			}
		}
	}
	return nil
}
