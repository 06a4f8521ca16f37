package replica

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"slices"
	"sync"
	"time"

	"github.com/mailrepl/mailrepl/mailbox"
	"github.com/mailrepl/mailrepl/uid"
)

// ErrStopped is returned by a sync that [Options.Stop] stopped.
var ErrStopped = errors.New("replica: stopped")

// stopped reports whether Options.Stop is closed.
func (s *Syncer) stopped() bool {
	if s.opt.Stop == nil {
		return false
	}
	select {
	case <-s.opt.Stop:
		return true
	default:
		return false
	}
}

// Syncer makes a target store agree with a source store, by the rules of
// its [Mode]. Create one with [New]; it may sync many times.
type Syncer struct {
	src     mailbox.Reader
	dst     mailbox.Store
	opt     Options
	folders folderMap // Options.FolderNames, as New checked them
}

// New returns a Syncer from src to dst. The source need only be a
// [mailbox.Reader]; two-way mode, and a mirror that rescues split-brain
// mail, also write to it when it is a [mailbox.Writer].
func New(src mailbox.Reader, dst mailbox.Store, opts *Options) (*Syncer, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	if src == nil || dst == nil {
		return nil, errors.New("replica: nil store")
	}
	s := &Syncer{src: src, dst: dst, opt: opts.withDefaults()}
	var err error
	if s.folders, err = explicitFolderMap(s.opt.FolderNames); err != nil {
		return nil, err
	}
	if s.opt.Mode == TwoWay {
		if _, ok := src.(mailbox.Writer); !ok {
			return nil, errors.New("replica: two-way sync needs a writable source")
		}
	}
	return s, nil
}

// identity reports whether the pair keeps the same UIDs on both sides.
func (s *Syncer) identity() bool {
	_, dstSets := s.dst.(mailbox.UIDSetter)
	_, srcSets := s.src.(mailbox.UIDSetter)
	switch s.opt.Mode {
	case Mirror:
		return dstSets
	case TwoWay:
		return dstSets && srcSets
	}
	return false
}

func (s *Syncer) reader(side Side) mailbox.Reader {
	if side == Source {
		return s.src
	}
	return s.dst
}

func (s *Syncer) writer(side Side) (mailbox.Writer, error) {
	if side == Target {
		return s.dst, nil
	}
	if w, ok := s.src.(mailbox.Writer); ok {
		return w, nil
	}
	return nil, fmt.Errorf("replica: the source is read-only: %w", mailbox.ErrReadOnly)
}

// writer is Syncer.writer, counting in the report the writes that a
// read-only source refused.
func (m *mboxSync) writer(side Side) (mailbox.Writer, error) {
	w, err := m.s.writer(side)
	if err != nil && side == Source {
		m.rep.heldBack(1)
	}
	if err == nil {
		m.wrote[side] = true
	}
	return w, err
}

func (s *Syncer) storeID(side Side) string {
	if side == Source {
		return s.opt.SourceID
	}
	return s.opt.TargetID
}

// Sync runs one sync and reports what it did. Failures of single messages
// and mailboxes are in the report and joined in the error; the other
// mailboxes go on. A cancelled ctx stops it between messages, with the
// state committed for what was done.
func (s *Syncer) Sync(ctx context.Context) (*Report, error) {
	rep := &Report{Mode: s.opt.Mode.String(), DryRun: s.opt.DryRun, Start: s.opt.Now()}
	defer func(pair string) { s.opt.Pair = pair }(s.opt.Pair)
	sp, err := s.newStamper(ctx)
	if err == nil && sp != nil {
		rep.Unchanged, err = sp.unchanged(ctx, s.opt.Pair)
	}
	if err != nil || rep.Unchanged {
		rep.finish(s.opt.Now())
		return rep, err
	}
	pairs, err := s.syncMailboxes(ctx, rep)
	if err != nil {
		rep.finish(s.opt.Now())
		return rep, err
	}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
		sem  = make(chan struct{}, s.opt.Concurrency)
	)
	for _, p := range pairs {
		if s.opt.Mailboxes != nil && !s.opt.Mailboxes(p.Src.Name) {
			continue
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		case <-s.opt.Stop:
		}
		if ctx.Err() != nil || s.stopped() {
			break
		}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			mr, err := s.syncMailboxRetry(ctx, p, rep)
			rep.addMailbox(mr)
			if err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		errs = append(errs, err)
	} else if s.stopped() {
		errs = append(errs, ErrStopped)
	}
	if len(errs) == 0 && sp != nil {
		errs = append(errs, sp.finish(ctx, &s.opt, rep))
	}
	rep.finish(s.opt.Now())
	return rep, errors.Join(errs...)
}

// syncMailboxes plans and applies the mailbox-level ops and returns the
// pairs of mailboxes to sync.
func (s *Syncer) syncMailboxes(ctx context.Context, rep *Report) ([]mailboxPair, error) {
	src, dst, err := s.listBoth(ctx)
	if err != nil {
		return nil, err
	}
	headers, err := s.opt.State.Headers(ctx, s.opt.Pair)
	if err != nil {
		return nil, fmt.Errorf("replica: read state of pair %q: %w", s.opt.Pair, err)
	}
	if len(headers) == 0 {
		// No state under this name: the same stores may have synced under
		// another (moved, remounted, a template rewritten).
		old, hs, err := s.adopt(ctx, src, dst)
		if err != nil {
			return nil, err
		}
		switch {
		case old == "":
			rep.State = "no sync state for this pair: first sync"
			s.opt.Logger.Info(rep.State, "pair", s.opt.Pair)
		case s.opt.DryRun:
			rep.State = fmt.Sprintf("would take over the state of pair %q: the same stores, known by their mailbox IDs", old)
			s.opt.Pair = old // a dry run writes nothing: it reads that state; Sync restores the name
			headers = hs
		default:
			if err := s.opt.State.(PairFinder).RenamePair(ctx, old, s.opt.Pair); err != nil {
				return nil, fmt.Errorf("replica: take over the state of pair %q: %w", old, err)
			}
			rep.State = fmt.Sprintf("took over the state of pair %q: the same stores, known by their mailbox IDs", old)
			s.opt.Logger.Info("sync state found by the stores' mailbox IDs", "pair", s.opt.Pair, "was", old)
			headers = hs
		}
	}
	fm := s.folderMap(src, dst, headers)
	vsrc, vdst, hidden := fm.view(src, dst)
	for _, it := range hidden {
		s.opt.Logger.Warn("mailbox not synced: "+it.Reason, "mailbox", it.Mailbox, "side", it.Side)
		rep.addConflict(it)
	}
	vheaders := fm.headers(headers, src, dst)
	_, srcWritable := s.src.(mailbox.Writer)
	plan := func() []MailboxOp {
		return PlanMailboxes(MailboxInput{
			Mode: s.opt.Mode, TargetOnly: s.opt.TargetOnly, Trust: s.opt.TrustMissingMailboxes,
			SourceWritable: srcWritable, Src: vsrc, Dst: vdst, Headers: vheaders,
			Deleted: func(side Side, id mailbox.ID) bool {
				ok, err := s.opt.State.MailboxDeleted(ctx, s.opt.User, id)
				return err == nil && ok
			},
		})
	}
	var virtual []mailboxPair // dry run: mailboxes that would be created on the target
	// Renames first, one at a time, each followed by a fresh listing (a
	// rename moves children and frees a name); then the rest.
	for round := 0; ; round++ {
		ops := plan()
		renaming := len(ops) > 0 && ops[0].Kind == MailboxRename && !s.opt.DryRun && round < 100
		if renaming {
			ops = ops[:1]
		}
		for _, vop := range ops {
			op := fm.targetOp(vop) // in the target's own names
			rep.addMailboxOp(op)
			if s.opt.OnMailboxOp != nil {
				s.opt.OnMailboxOp(op)
			}
			if op.Kind == MailboxKeep {
				if op.heldBack {
					rep.heldBack(1)
				}
				if op.conflict {
					rep.addConflict(Item{Mailbox: op.Name, Side: op.Side.String(), Reason: op.Reason})
				}
				continue
			}
			if s.opt.DryRun {
				if op.Kind == MailboxCreate && op.Side == Target {
					for _, si := range vsrc {
						if si.Name == vop.Name {
							virtual = append(virtual, mailboxPair{Src: si, Dst: mailbox.Info{Name: op.Name, UIDValidity: si.UIDValidity, UIDNext: 1}})
						}
					}
				}
				continue
			}
			if err := s.applyMailboxOp(ctx, op); err != nil {
				rep.addItem(&rep.Failed, Item{Mailbox: op.Name, Side: op.Side.String(), Reason: fmt.Sprintf("%s: %v", op.Kind, err)})
				renaming = false
			}
		}
		if len(ops) > 0 && !s.opt.DryRun {
			if src, dst, err = s.listBoth(ctx); err != nil {
				return nil, err
			}
			vsrc, vdst, _ = fm.view(src, dst)
		}
		if !renaming {
			break
		}
	}
	pairs, stale := pairMailboxes(vsrc, vdst, vheaders)
	if len(fm) > 0 {
		own := byID(dst)
		for i := range pairs {
			pairs[i].Dst = own[pairs[i].Dst.ID] // the target's own name
		}
	}
	if len(stale) > 0 && !s.opt.DryRun {
		b := s.opt.State.Begin(s.opt.Pair)
		for _, h := range stale {
			b.DeleteMailbox(h.SrcID)
		}
		if err := b.Commit(ctx); err != nil {
			return nil, fmt.Errorf("replica: drop stale state: %w", err)
		}
	}
	for i := range virtual {
		virtual[i].Dst.ID = "" // no such mailbox yet: listed as empty
	}
	return append(pairs, virtual...), nil
}

func (s *Syncer) listBoth(ctx context.Context) (src, dst []mailbox.Info, err error) {
	if src, err = s.src.Mailboxes(ctx); err != nil {
		return nil, nil, fmt.Errorf("replica: list source mailboxes: %w", err)
	}
	if dst, err = s.dst.Mailboxes(ctx); err != nil {
		return nil, nil, fmt.Errorf("replica: list target mailboxes: %w", err)
	}
	return src, dst, nil
}

// folderMap returns the pairs of folders whose names differ between the
// stores: Options.FolderNames, then, unless NoSpecialUseMap, the pairs of
// special-use folders the listings give.
func (s *Syncer) folderMap(src, dst []mailbox.Info, headers []Header) folderMap {
	m := slices.Clip(s.folders) // the guess appends to a copy
	if !s.opt.NoSpecialUseMap {
		m = guessFolderMap(m, src, dst, headers)
	}
	for _, p := range m {
		if p.use != mailbox.UseNone {
			s.opt.Logger.Info("folders paired by special use", "use", string(p.use), "source", p.src, "target", p.dst)
		}
	}
	return m
}

func (s *Syncer) applyMailboxOp(ctx context.Context, op MailboxOp) error {
	w, err := s.writer(op.Side)
	if err != nil {
		return err
	}
	switch op.Kind {
	case MailboxCreate:
		_, err = w.Create(ctx, op.Name)
		if errors.Is(err, mailbox.ErrExists) {
			err = nil
		}
	case MailboxRename:
		err = w.Rename(ctx, op.Name, op.NewName)
	case MailboxDelete:
		err = w.Delete(ctx, op.Name)
	}
	return err
}

func (s *Syncer) syncMailboxRetry(ctx context.Context, p mailboxPair, rep *Report) (MailboxReport, error) {
	delay := s.opt.RetryDelay
	for attempt := 0; ; attempt++ {
		mr := MailboxReport{Source: p.Src.Name, Target: p.Dst.Name}
		m := &mboxSync{s: s, pair: p, rep: rep, mr: &mr, changed: -1}
		err := m.run(ctx)
		if err == nil || !errors.Is(err, mailbox.ErrTransient) || attempt >= s.opt.Retries || ctx.Err() != nil || s.stopped() {
			if err != nil {
				mr.Error = err.Error()
				err = fmt.Errorf("replica: mailbox %q: %w", p.Src.Name, err)
			}
			return mr, err
		}
		s.opt.Logger.Warn("transient failure, retrying", "mailbox", p.Src.Name, "err", err, "delay", delay)
		select {
		case <-time.After(delay):
		case <-ctx.Done():
		}
		delay *= 2
		if p.Hdr != nil {
			// The state may have moved on: read it afresh.
			p.Hdr = m.freshHeader(ctx)
		}
	}
}

// mboxSync is one sync of one pair of mailboxes.
type mboxSync struct {
	s        *Syncer
	pair     mailboxPair
	rep      *Report
	mr       *MailboxReport
	src, dst mailbox.Info // current status
	identity bool
	intents  []Intent
	// distrust: a side (suspect) went back in time, or its UIDVALIDITY
	// changed: until the sync completes, nothing that side lacks is taken
	// as expunged.
	distrust bool
	suspect  Side
	// keptLost: the target keeps a message the source lost, so the entries
	// do not describe the source: the header is not marked complete.
	keptLost bool
	// heldBack: mail only on the target stays there, for the source is
	// read-only (Report.HeldBack).
	heldBack bool
	// changed is the side whose UIDVALIDITY changed since the last sync,
	// or -1.
	changed Side
	// renewed: a side's UIDVALIDITY changed in a pair that keeps
	// different UIDs (Header.Renewed): the plan takes the tombstones of
	// each side's mailbox as the evidence of the old entries.
	renewed bool
	// pending is the state a successful plan left to commit with the
	// header.
	pending StateBatch
	// rewrote: this run wrote the mailbox's header before its last
	// commit (the header read at the start is no longer the state's).
	rewrote bool
	// planned is each side's status the current plan was made from (by
	// Side); wrote says which sides the run wrote to since, and gave the
	// highest UID it gave a message on each. What a side holds beyond
	// them arrived while the sync ran (see arrived): this run did not
	// see it, and the next one must.
	planned [2]mailbox.Info
	wrote   [2]bool
	gave    [2]uid.UID
	// raised is the UIDNEXT alignUIDNext raised each side to, or 0.
	raised [2]uid.UID
}

// plan notes the statuses a plan starts from; what the run wrote before
// is in them.
func (m *mboxSync) plan() {
	m.planned = [2]mailbox.Info{Source: m.src, Target: m.dst}
	m.wrote, m.gave, m.raised = [2]bool{}, [2]uid.UID{}, [2]uid.UID{}
}

// gives records that the run gave a message UID u on side.
func (m *mboxSync) gives(side Side, u uid.UID) {
	m.gave[side] = max(m.gave[side], u)
}

// plannedNext is the highest UIDNEXT the run knows of as its own: both
// sides' when the plan was made, and one above each UID the run gave.
// A UID above it was taken by mail that arrived while the sync ran.
func (m *mboxSync) plannedNext() uid.UID {
	next := max(m.planned[Source].UIDNext, m.planned[Target].UIDNext)
	for _, u := range m.gave {
		if u != 0 {
			next = max(next, u+1)
		}
	}
	return next
}

// arrived reports whether side changed while the sync ran in a way the
// run does not account for: mail took a UID above what the plan and the
// run's own writes explain, its UIDVALIDITY changed, or it changed at all
// when the run did not write to it. Its state header then keeps the
// status the plan was made from, so that the next sync lists what changed
// since (a header with the current one would say that the entries reflect
// mail they have never seen).
func (m *mboxSync) arrived(side Side, cur mailbox.Info) bool {
	p := m.planned[side]
	expect := max(p.UIDNext, m.raised[side])
	if m.gave[side] != 0 {
		expect = max(expect, m.gave[side]+1)
	}
	return cur.UIDValidity != p.UIDValidity || cur.UIDNext > expect ||
		(!m.wrote[side] && (cur.UIDNext != p.UIDNext || cur.HighestModSeq != p.HighestModSeq))
}

func (m *mboxSync) info(side Side) mailbox.Info {
	if side == Source {
		return m.src
	}
	return m.dst
}

func (m *mboxSync) freshHeader(ctx context.Context) *Header {
	hs, err := m.s.opt.State.Headers(ctx, m.s.opt.Pair)
	if err != nil {
		return nil
	}
	for _, h := range hs {
		if h.SrcID == m.pair.Src.ID {
			return &h
		}
	}
	return nil
}

func (m *mboxSync) status(ctx context.Context) error {
	var err error
	if m.src, err = m.s.src.Status(ctx, m.pair.Src.Name); err != nil {
		return fmt.Errorf("source status: %w", err)
	}
	if m.pair.Dst.ID == "" && m.s.opt.DryRun {
		m.dst = m.pair.Dst
		return nil
	}
	if m.dst, err = m.s.dst.Status(ctx, m.pair.Dst.Name); err != nil {
		return fmt.Errorf("target status: %w", err)
	}
	return nil
}

func (m *mboxSync) run(ctx context.Context) error {
	o := &m.s.opt
	if !o.DryRun {
		// A delivery killed before it published its UIDs (a sync killed
		// midway) leaves messages a listing may not show yet: settle the
		// sides this sync writes to, so that they are seen.
		for side, name := range map[Side]string{Source: m.pair.Src.Name, Target: m.pair.Dst.Name} {
			st, ok := m.s.reader(side).(mailbox.Settler)
			if _, writable := m.s.reader(side).(mailbox.Writer); !ok || !writable || name == "" {
				continue
			}
			if err := st.Settle(ctx, name); err != nil && !errors.Is(err, mailbox.ErrNotFound) {
				return fmt.Errorf("settle %s: %w", side, err)
			}
		}
	}
	if err := m.status(ctx); err != nil {
		return err
	}
	m.identity = m.s.identity()
	hdr := m.pair.Hdr
	if hdr != nil && (hdr.SrcID != m.src.ID || hdr.DstID != m.dst.ID) {
		hdr = nil
	}
	var err error
	if m.intents, err = o.State.Intents(ctx, o.Pair, m.src.ID); err != nil {
		return fmt.Errorf("read intents: %w", err)
	}
	if hdr != nil && m.unchanged(hdr) {
		return m.subscriptions(ctx, hdr)
	}
	if hdr != nil && !m.identity && (hdr.SrcValidity != m.src.UIDValidity || hdr.DstValidity != m.dst.UIDValidity) {
		m.s.opt.Logger.Info("UIDVALIDITY changed: re-pairing by EmailID", "mailbox", m.src.Name)
		if !o.DryRun && !hdr.Distrust {
			if err := m.renew(ctx); err != nil {
				return err
			}
		}
		m.renewed = true
		hdr = nil
	} else if hdr != nil && hdr.Renewed && !hdr.Complete {
		m.renewed = true // a renewal a crash cut short
	}
	if hdr == nil && !o.DryRun {
		// Forget entries that no longer apply, and record the pairing so a
		// crash leaves it known.
		m.rewrote = true
		b := o.State.Begin(o.Pair)
		b.DeleteMailbox(m.src.ID)
		b.PutHeader(m.header(false))
		if err := b.Commit(ctx); err != nil {
			return fmt.Errorf("commit state: %w", err)
		}
		m.intents = nil
	}
	if m.identity && !o.DryRun {
		if err := m.recoverMoves(ctx); err != nil {
			return err
		}
	}
	// Trust. A side that went back in time (UIDNEXT below what the state
	// recorded under the same UIDVALIDITY: restored from an old copy, or
	// its index damaged) may have lost what it lacks rather than expunged
	// it: the old entries are dropped, that is recorded before anything
	// else changes, and nothing either side lacks is taken as expunged
	// until a sync completes.
	m.suspect = Target
	if hdr != nil && hdr.Distrust {
		m.distrust = true
		if hdr.RealignSource {
			m.suspect = Source
		}
	}
	if hdr != nil && !m.distrust {
		if side := m.regressed(hdr); side >= 0 {
			o.Logger.Warn("UIDNEXT went back: not trusting the state", "mailbox", m.src.Name, "side", side)
			m.conflict(Item{Mailbox: m.src.Name, Side: side.String(),
				Reason: fmt.Sprintf("UIDNEXT went back from %d to %d under the same UIDVALIDITY: restored or damaged; nothing it lacks is taken as expunged", m.headerNext(hdr, side), m.info(side).UIDNext)})
			if err := m.forget(ctx, side); err != nil {
				return err
			}
			hdr = m.freshHeader(ctx)
		}
	}
	if m.distrust && !m.identity {
		hdr = nil // no entries: everything is re-paired by EmailID
	}
	if m.identity {
		if x, reason := m.realignNeeded(hdr); reason != "" {
			if err := m.realign(ctx, reason, x); err != nil || o.DryRun {
				return err
			}
			hdr = m.freshHeader(ctx)
		}
	}
	for attempt := 0; ; attempt++ {
		err := m.planAndApply(ctx, hdr)
		if err == nil {
			break
		}
		if errors.Is(err, ErrUIDReused) && !m.distrust && attempt < 2 {
			// As for a UIDNEXT that went back: re-pair by EmailID,
			// trusting nothing the reusing side lacks.
			o.Logger.Warn("UID reuse: not trusting the state", "mailbox", m.src.Name, "err", err)
			m.conflict(Item{Mailbox: m.src.Name, Reason: err.Error() + "; nothing it lacks is taken as expunged"})
			if o.DryRun {
				return nil
			}
			if err := m.status(ctx); err != nil {
				return err
			}
			side := Target
			var reused *reusedError
			if errors.As(err, &reused) {
				side = reused.side
			}
			if err := m.forget(ctx, side); err != nil {
				return err
			}
			hdr = nil
			if m.identity {
				if err := m.realign(ctx, "UIDs reused", m.renumbered(side)); err != nil {
					return err
				}
				hdr = m.freshHeader(ctx)
			}
			continue
		}
		if !errors.Is(err, ErrRealign) || attempt >= 2 {
			return err
		}
		if o.DryRun {
			m.mr.Realigned = "would realign: " + err.Error()
			return nil
		}
		if err := m.status(ctx); err != nil {
			return err
		}
		if err := m.realign(ctx, err.Error(), m.renumbered(m.suspect)); err != nil {
			return err
		}
		hdr = m.freshHeader(ctx)
	}
	if o.DryRun {
		return nil
	}
	if err := m.alignUIDNext(ctx); err != nil {
		return errors.Join(err, m.commitPending(ctx))
	}
	if err := m.subscriptions(ctx, hdr); err != nil {
		return errors.Join(err, m.commitPending(ctx))
	}
	return m.commitHeader(ctx)
}

// commitPending commits what the plan left pending, without the header.
func (m *mboxSync) commitPending(ctx context.Context) error {
	b := m.pending
	m.pending = nil
	if b == nil || b.Len() == 0 {
		return nil
	}
	if err := b.Commit(ctx); err != nil {
		return fmt.Errorf("commit state: %w", err)
	}
	return nil
}

// unchanged reports whether both sides can tell, by their modseqs, that
// nothing changed since the state was agreed.
func (m *mboxSync) unchanged(h *Header) bool {
	_, st := m.s.src.(mailbox.ChangeTracker)
	_, dt := m.s.dst.(mailbox.ChangeTracker)
	return st && dt && h.Complete && !h.Realigning && len(m.intents) == 0 && h.Identity == m.identity &&
		h.SrcModSeq != 0 && h.DstModSeq != 0 &&
		h.SrcModSeq == m.src.HighestModSeq && h.DstModSeq == m.dst.HighestModSeq &&
		h.SrcValidity == m.src.UIDValidity && h.DstValidity == m.dst.UIDValidity &&
		h.SrcUIDNext == m.src.UIDNext && h.DstUIDNext == m.dst.UIDNext
}

// forget drops a mailbox's entries, which can no longer be trusted
// because side went back in time, and records that before anything else
// changes, so a crash cannot lose it.
func (m *mboxSync) forget(ctx context.Context, side Side) error {
	m.distrust, m.suspect = true, side
	o := &m.s.opt
	if o.DryRun {
		return nil
	}
	h := m.header(false)
	h.RealignSource = side == Source
	m.rewrote = true
	b := o.State.Begin(o.Pair)
	b.DeleteMailbox(m.src.ID)
	b.PutHeader(h)
	if err := b.Commit(ctx); err != nil {
		return fmt.Errorf("commit state: %w", err)
	}
	m.intents = nil
	return nil
}

func (m *mboxSync) conflict(it Item) {
	m.rep.addItem(&m.rep.Conflicts, it)
	m.mr.Conflicts++
}

// renumbered is the side a realign renumbers: in a mirror always the
// target; in two-way mode the side that is suspect.
func (m *mboxSync) renumbered(suspect Side) Side {
	if m.s.opt.Mode == TwoWay {
		return suspect
	}
	return Target
}

// realignNeeded says whether an identity pair must be realigned before it
// is planned, which side is renumbered, and why.
func (m *mboxSync) realignNeeded(h *Header) (Side, string) {
	if h != nil && h.Realigning {
		side := Target
		if h.RealignSource {
			side = Source
		}
		return m.renumbered(side), "finishing an interrupted realign"
	}
	if m.distrust && (h == nil || !h.Complete) {
		return m.renumbered(m.suspect), "a side went back in time"
	}
	if reason := m.validityMismatch(h); reason != "" {
		side := Target
		if h != nil && !m.distrust {
			// A side whose UIDVALIDITY changed lost its UIDs, not its
			// messages: the EmailIDs of the agreed entries still tell a
			// message it expunged from one it never had (realign), and it
			// is the side renumbered.
			switch {
			case h.SrcValidity != m.src.UIDValidity:
				m.suspect, m.changed = Source, Source
				if h.DstValidity == m.dst.UIDValidity {
					side = Source // the source's UIDVALIDITY changed: it follows the target
				}
			case h.DstValidity != m.dst.UIDValidity:
				m.suspect, m.changed = Target, Target
			}
		}
		return m.renumbered(side), reason
	}
	if h != nil && !h.Identity {
		// The entries pair different UIDs (an earlier sync could not set
		// UIDs): renumber the target to the source's.
		return Target, "the state pairs different UIDs"
	}
	return Target, ""
}

// regressed returns the side whose UIDNEXT is below what the state
// recorded under the same UIDVALIDITY (a side cannot un-use UIDs), or -1.
func (m *mboxSync) regressed(h *Header) Side {
	switch {
	case h.SrcValidity == m.src.UIDValidity && m.src.UIDNext < h.SrcUIDNext:
		return Source
	case h.DstValidity == m.dst.UIDValidity && m.dst.UIDNext < h.DstUIDNext && m.dst.ID != "":
		return Target
	}
	return -1
}

func (m *mboxSync) headerNext(h *Header, side Side) uid.UID {
	if side == Source {
		return h.SrcUIDNext
	}
	return h.DstUIDNext
}

func (m *mboxSync) validityMismatch(h *Header) string {
	switch {
	case m.src.UIDValidity != m.dst.UIDValidity:
		return fmt.Sprintf("UIDVALIDITY %d on source, %d on target", m.src.UIDValidity, m.dst.UIDValidity)
	case h != nil && (h.SrcValidity != m.src.UIDValidity || h.DstValidity != m.dst.UIDValidity):
		return "UIDVALIDITY changed since the last sync"
	}
	return ""
}

// header is the state header for the current status of both sides.
func (m *mboxSync) header(complete bool) Header {
	return Header{
		SrcID: m.src.ID, DstID: m.dst.ID, SrcName: m.src.Name, DstName: m.dst.Name,
		SrcValidity: m.src.UIDValidity, DstValidity: m.dst.UIDValidity,
		SrcUIDNext: m.src.UIDNext, DstUIDNext: m.dst.UIDNext,
		SrcModSeq: m.src.HighestModSeq, DstModSeq: m.dst.HighestModSeq,
		Subscribed: m.src.Subscribed, Identity: m.identity, Complete: complete,
		Distrust: m.distrust && !complete, RealignSource: m.distrust && m.suspect == Source,
		Renewed: m.renewed && !complete,
	}
}

func (m *mboxSync) commitHeader(ctx context.Context) error {
	if err := m.status(ctx); err != nil {
		return err
	}
	b := m.pending
	h := m.header(!m.keptLost)
	if m.arrived(Source, m.src) {
		p := m.planned[Source]
		h.SrcValidity, h.SrcUIDNext, h.SrcModSeq = p.UIDValidity, p.UIDNext, p.HighestModSeq
	}
	if m.arrived(Target, m.dst) {
		p := m.planned[Target]
		h.DstValidity, h.DstUIDNext, h.DstModSeq = p.UIDValidity, p.UIDNext, p.HighestModSeq
	}
	if (b == nil || b.Len() == 0) && len(m.intents) == 0 && !m.rewrote && m.pair.Hdr != nil && *m.pair.Hdr == h {
		// Nothing to record: the state says all this already (a sync
		// that found nothing to do writes nothing, and waits for no
		// disk).
		m.pending = nil
		return nil
	}
	if b == nil {
		b = m.s.opt.State.Begin(m.s.opt.Pair)
	}
	m.pending = nil
	b.PutHeader(h)
	for _, in := range m.intents {
		b.DeleteIntent(m.src.ID, in)
	}
	if err := b.Commit(ctx); err != nil {
		return fmt.Errorf("commit state: %w", err)
	}
	return nil
}

// listing returns one side's listing: its changes since the state when the
// store tracks changes and the state is complete, else all of it.
func (m *mboxSync) listing(ctx context.Context, side Side, h *Header) Listing {
	info := m.info(side)
	if info.ID == "" {
		return Listing{Seq: emptySeq[mailbox.Change]()}
	}
	full := FullListing(func(yield func(mailbox.Message, error) bool) {
		for msg, err := range m.s.reader(side).Messages(ctx, info.Name, uid.All) {
			if !yield(msg, err) {
				return
			}
		}
	})
	ct, ok := m.s.reader(side).(mailbox.ChangeTracker)
	if !ok || h == nil || !h.Complete {
		return full
	}
	since, v := h.SrcModSeq, h.SrcValidity
	if side == Target {
		since, v = h.DstModSeq, h.DstValidity
	}
	if since == 0 || v != info.UIDValidity {
		return full
	}
	next, stop := iter.Pull2(ct.Changes(ctx, info.Name, v, since))
	first, err, ok := next()
	if ok && err != nil && (errors.Is(err, mailbox.ErrChangesUnavailable) || errors.Is(err, mailbox.ErrUIDValidityChanged)) {
		stop()
		return full
	}
	return Listing{Delta: true, Seq: func(yield func(mailbox.Change, error) bool) {
		defer stop()
		if !ok || !yield(first, err) || err != nil {
			return
		}
		for {
			c, err, ok := next()
			if !ok || !yield(c, err) || err != nil {
				return
			}
		}
	}}
}

func (m *mboxSync) planAndApply(ctx context.Context, h *Header) error {
	o := &m.s.opt
	m.plan()
	in := Input{
		Mode: o.Mode, TargetOnly: o.TargetOnly, Identity: m.identity,
		Src: Info2{UIDNext: m.src.UIDNext}, Dst: Info2{UIDNext: m.dst.UIDNext},
		State:      o.State.Entries(ctx, o.Pair, m.src.ID),
		StateByDst: o.State.EntriesByDst(ctx, o.Pair, m.src.ID),
		HasState:   h != nil,
		Source:     m.listing(ctx, Source, h),
		Target:     m.listing(ctx, Target, h),
		Intents:    m.intents,
		Tombstoned: func(id mailbox.EmailID) bool { return m.tombstoned(ctx, id) },
		Lost:       func(side Side, id mailbox.EmailID) bool { return m.lost(ctx, side, id) },
		Resolve: func(side Side, msg mailbox.Message, fp bool) (Identity, error) {
			return m.resolve(ctx, side, msg, fp)
		},
	}
	if h == nil {
		in.State, in.StateByDst = emptySeq[Entry](), emptySeq[Entry]()
	}
	if m.renewed {
		in.Gone = func(side Side, id mailbox.EmailID) bool { return m.gone(ctx, side, id) }
	}
	if _, ok := m.s.src.(mailbox.Writer); !ok && in.TargetOnly == KeepTargetOnly && o.Mode == Mirror && !m.identity {
		// Nothing can be copied back: keep target-only mail and say so.
		in.TargetOnly = keepInPlace
		m.heldBack = true
	}
	a := newApplier(ctx, m)
	err := Diff(in, a.do)
	if errors.Is(err, ErrUIDReused) {
		// What was planned rests on a history that is not to be trusted:
		// drop it (expunges wait for the end, so none was made), but keep
		// what copies recorded.
		return errors.Join(err, a.commit(ctx))
	}
	if ferr := a.flush(ctx); ferr != nil && (err == nil || errors.Is(err, ErrRealign)) {
		err = ferr
	}
	if err != nil {
		return errors.Join(err, a.commit(ctx))
	}
	m.pending = a.state // committed with the header
	return nil
}

// resolve finds a message's identity, reading its body when no listing or
// cache knows its EmailID; the limiter is waited on for the bytes read.
func (m *mboxSync) resolve(ctx context.Context, side Side, msg mailbox.Message, fp bool) (Identity, error) {
	return m.identify(ctx, side, msg, fp, true)
}

// identify is resolve; wait says whether to wait on the limiter for the
// bytes read (not when the read is part of a copy that waits for them).
func (m *mboxSync) identify(ctx context.Context, side Side, msg mailbox.Message, fp, wait bool) (Identity, error) {
	o := &m.s.opt
	info := m.info(side)
	idn := Identity{EmailID: msg.EmailID}
	if idn.EmailID.IsZero() && o.Cache != nil {
		if id, ok, err := o.Cache.EmailID(m.s.storeID(side), info.ID, info.UIDValidity, msg.UID); err == nil && ok {
			idn.EmailID = id
		}
	}
	if !idn.EmailID.IsZero() && !fp {
		return idn, nil
	}
	if wait {
		if err := m.wait(ctx, 0, msg.Size); err != nil {
			return idn, err
		}
	}
	what := "EmailID"
	if fp {
		what = "fingerprint"
	}
	rc, err := m.s.reader(side).Open(ctx, info.Name, msg.UID)
	if err != nil {
		return idn, fmt.Errorf("read %s uid %d for its %s: %w", side, msg.UID, what, err)
	}
	// One read gives both: the EmailID, and the fingerprint when asked.
	id, fpr, err := mailbox.ReadIdentity(ctxReader{ctx, rc})
	rc.Close()
	switch {
	case err != nil && (!fp || !errors.Is(err, mailbox.ErrInvalidMessage) || id.IsZero()):
		return idn, fmt.Errorf("read %s uid %d for its %s: %w", side, msg.UID, what, err)
	case err != nil:
		fpr = mailbox.Fingerprint(id) // no usable header: the EmailID alone identifies it
	}
	if !idn.EmailID.IsZero() && idn.EmailID != id {
		return idn, fmt.Errorf("read %s uid %d: %w: EmailID %s, listed as %s", side, msg.UID, mailbox.ErrEmailIDMismatch, id.Short(), idn.EmailID.Short())
	}
	idn.EmailID = id
	if fp {
		idn.Fingerprint = fpr
	}
	if o.Cache != nil && msg.EmailID.IsZero() {
		if err := o.Cache.PutEmailID(m.s.storeID(side), info.ID, info.UIDValidity, msg.UID, idn.EmailID); err != nil {
			o.Logger.Warn("cache EmailID", "err", err)
		}
	}
	return idn, nil
}

// alignUIDNext makes sure no UID either side used is used again on the
// other: both sides' UIDNEXTs become the higher of the two, but never
// higher than the run's plannedNext. Mail that arrived on a side while the
// sync ran (after the listing) holds UIDs above it, which the other side
// must keep free: the next sync copies that mail with its own UIDs. In a
// mirror the source's is raised only after split brain (the target used
// UIDs the source never did), and only when the source can set it.
func (m *mboxSync) alignUIDNext(ctx context.Context) error {
	if !m.identity {
		return nil
	}
	if err := m.status(ctx); err != nil {
		return err
	}
	next := min(max(m.src.UIDNext, m.dst.UIDNext), m.plannedNext())
	if m.src.UIDNext < next {
		if us, ok := m.s.src.(mailbox.UIDSetter); ok {
			if _, writable := m.s.src.(mailbox.Writer); writable {
				if err := us.SetUIDNext(ctx, m.src.Name, next); err != nil {
					return fmt.Errorf("source set UIDNEXT: %w", err)
				}
				m.raised[Source], m.wrote[Source] = next, true
			}
		}
	}
	if m.dst.UIDNext < next {
		if err := m.s.dst.(mailbox.UIDSetter).SetUIDNext(ctx, m.dst.Name, next); err != nil {
			return fmt.Errorf("target set UIDNEXT: %w", err)
		}
		m.raised[Target], m.wrote[Target] = next, true
	}
	return nil
}

// subscriptions makes the subscription of the pair agree: mirror and
// migrate follow the source (migrate only subscribes); two-way merges
// against the last agreed value, and without one, subscribed wins.
func (m *mboxSync) subscriptions(ctx context.Context, h *Header) error {
	if m.s.opt.DryRun || m.dst.ID == "" {
		return nil
	}
	want := m.src.Subscribed
	switch m.s.opt.Mode {
	case Migrate:
		want = m.src.Subscribed || m.dst.Subscribed
	case TwoWay:
		if h == nil {
			want = m.src.Subscribed || m.dst.Subscribed
		} else if m.dst.Subscribed != h.Subscribed {
			want = m.dst.Subscribed
		}
		if m.src.Subscribed != want {
			if err := m.s.src.(mailbox.Writer).Subscribe(ctx, m.src.Name, want); err != nil {
				return fmt.Errorf("source subscribe: %w", err)
			}
			m.wrote[Source] = true
			m.src.Subscribed = want
		}
	}
	if m.dst.Subscribed != want {
		if err := m.s.dst.Subscribe(ctx, m.dst.Name, want); err != nil {
			return fmt.Errorf("target subscribe: %w", err)
		}
		m.wrote[Target] = true
		m.dst.Subscribed = want
	}
	return nil
}

// ctxReader is a reader that fails once ctx is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// copyCtx copies src to dst, checking ctx between chunks.
func copyCtx(ctx context.Context, dst interface{ Write([]byte) (int, error) }, src interface{ Read([]byte) (int, error) }) (int64, error) {
	buf := make([]byte, 64<<10)
	var n int64
	for {
		if err := ctx.Err(); err != nil {
			return n, err
		}
		k, err := src.Read(buf)
		if k > 0 {
			if _, werr := dst.Write(buf[:k]); werr != nil {
				return n, werr
			}
			n += int64(k)
		}
		if err != nil {
			if err == io.EOF {
				return n, nil
			}
			return n, err
		}
	}
}

// lost reports whether recovery recorded the message with EmailID id as
// lost from side's mailbox (when the state keeps such records).
func (m *mboxSync) lost(ctx context.Context, side Side, id mailbox.EmailID) bool {
	rec, ok := m.s.opt.State.(Records)
	if !ok {
		return false
	}
	_, found, err := rec.LostRecord(ctx, m.s.opt.User, m.info(side).ID, id)
	return err == nil && found
}
