package replica

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/mailrepl/mailrepl/mailbox"
	"github.com/mailrepl/mailrepl/uid"
)

// keepInPlace is the target-only policy of a mirror whose source is
// read-only: such mail stays on the target and is reported.
const keepInPlace TargetOnly = -1

// applier carries out a mailbox's ops as Diff emits them. Appends are
// batched (one durable commit per batch), flag changes grouped, expunges
// deferred to the end; the state records a change only after the store
// made it durable, and an intent is recorded before every append.
type applier struct {
	ctx   context.Context
	m     *mboxSync
	state StateBatch // changes whose store side is durable, not yet committed

	appends     [2][]Op // by the side they go to
	appendBytes [2]int64
	flags       map[flagKey]*flagGroup
	flagOps     []Op // the flag ops whose changes are grouped in flags
	nflags      int
	expunges    [2][]Op
	tombs       []Tombstone // to record once the expunges are made
}

// flagKey groups flag changes by side, direction and flag: a sync's
// changes then take a few StoreFlags calls (one per flag set or cleared on
// a side) rather than one per resulting combination of flags, and a flag a
// user changed meanwhile on the same message is left as the user set it.
type flagKey struct {
	side Side
	op   mailbox.FlagOp // FlagsAdd or FlagsRemove
	flag string         // the flag's key (lower case)
}

type flagGroup struct {
	flag mailbox.Flag
	uids []uid.UID
}

func newApplier(ctx context.Context, m *mboxSync) *applier {
	return &applier{ctx: ctx, m: m, state: m.s.opt.State.Begin(m.s.opt.Pair), flags: map[flagKey]*flagGroup{}}
}

const maxPendingFlags = 1024

func (a *applier) do(op Op) error {
	m := a.m
	o := &m.s.opt
	if m.s.stopped() {
		return ErrStopped // what was done so far is flushed and committed
	}
	if o.OnOp != nil {
		o.OnOp(m.src.Name, op)
	}
	if op.Conflict {
		m.mr.Conflicts++
		m.rep.addItem(&m.rep.Conflicts, a.item(op))
	}
	if o.DryRun {
		a.count(op)
		return nil
	}
	switch op.Kind {
	case OpAppend:
		a.appends[op.Side] = append(a.appends[op.Side], op)
		a.appendBytes[op.Side] += op.Msg.Size
		max, maxBytes := a.batchLimits()
		if len(a.appends[op.Side]) >= max || a.appendBytes[op.Side] >= maxBytes {
			return a.flushAppends(a.ctx, op.Side)
		}
	case OpFlags:
		for _, d := range []struct {
			op    mailbox.FlagOp
			flags mailbox.Flags
		}{{mailbox.FlagsAdd, op.Flags.Minus(op.Msg.Flags)}, {mailbox.FlagsRemove, op.Msg.Flags.Minus(op.Flags)}} {
			for f := range d.flags.All() {
				k := flagKey{op.Side, d.op, strings.ToLower(string(f))}
				g := a.flags[k]
				if g == nil {
					g = &flagGroup{flag: f}
					a.flags[k] = g
				}
				g.uids = append(g.uids, op.UID)
			}
		}
		a.flagOps = append(a.flagOps, op)
		if a.nflags++; a.nflags >= maxPendingFlags {
			return a.flushFlags(a.ctx)
		}
	case OpExpunge:
		a.expunges[op.Side] = append(a.expunges[op.Side], op)
	case OpPair:
		a.state.PutEntry(m.src.ID, op.Entry)
		m.mr.Paired++
	case OpUnpair:
		a.state.DeleteEntry(m.src.ID, op.Entry.Src)
		a.tombstone(op, op.Entry.EmailID, op.Entry.Src)
	case OpMove:
		return a.move(a.ctx, op)
	case OpSkip:
		m.mr.Skipped++
		m.rep.addItem(&m.rep.Skipped, a.item(op))
		if op.KeptLost {
			m.keptLost = true
		}
		if m.heldBack && op.Conflict && op.Side == Target {
			m.rep.heldBack(1)
		}
	}
	return a.maybeCommit(a.ctx)
}

// maybeCommit commits the pending state once it is large, so a long sync
// keeps its progress; smaller amounts wait for the mailbox's last commit,
// which carries its header too (every store change they record is durable
// already: committing later is safe, and saves a synced write).
func (a *applier) maybeCommit(ctx context.Context) error {
	if a.state.Len() >= 4*a.m.s.opt.BatchMessages {
		return a.commit(ctx)
	}
	return nil
}

// count records a planned op in the report of a dry run.
func (a *applier) count(op Op) {
	mr := a.m.mr
	switch op.Kind {
	case OpAppend:
		if op.Side == Target {
			mr.Appended++
		} else {
			mr.AppendedToSource++
		}
		mr.Bytes += op.Msg.Size
	case OpFlags:
		mr.FlagChanges++
	case OpExpunge:
		if op.Side == Target {
			mr.Expunged++
		} else {
			mr.ExpungedSource++
		}
	case OpPair:
		mr.Paired++
	case OpMove:
		mr.Moved++
	case OpSkip:
		mr.Skipped++
	}
}

func (a *applier) item(op Op) Item {
	id := op.Msg.EmailID
	if id.IsZero() {
		id = op.Entry.EmailID
	}
	it := Item{Mailbox: a.m.src.Name, Side: op.Side.String(), UID: op.UID, Reason: op.Reason}
	if op.Kind == OpAppend || op.Kind == OpMove {
		it.Side, it.UID = op.From.String(), op.FromUID
		if op.Kind == OpMove {
			it.Side = op.Side.String()
		}
	}
	if op.Kind == OpPair || op.Kind == OpUnpair {
		it.Side, it.UID = "source", op.Entry.Src
	}
	if !id.IsZero() {
		it.EmailID = id.String()
	}
	return it
}

func (a *applier) tombstone(op Op, id mailbox.EmailID, u uid.UID) {
	if !op.Tombstone || id.IsZero() {
		return
	}
	m := a.m
	a.tombs = append(a.tombs, Tombstone{MailboxID: m.src.ID, Mailbox: m.src.Name, EmailID: id, UID: u, Time: m.s.opt.Now()})
}

// recordTombstones adds to the pending state the tombstones of the
// expunges about to be made (committed with them), but for messages whose
// EmailID the source mailbox holds at a UID that stays (another copy, or a
// copy restored under a new UID): a user did not delete those, and a
// tombstone would keep a restore from bringing them back.
func (a *applier) recordTombstones(ctx context.Context) error {
	if len(a.tombs) == 0 {
		return nil
	}
	m := a.m
	want := map[mailbox.EmailID]bool{}
	for _, t := range a.tombs {
		want[t.EmailID] = true
	}
	going := map[uid.UID]bool{} // source UIDs about to be expunged
	for _, op := range a.expunges[Source] {
		going[op.UID] = true
	}
	for msg, err := range m.s.src.Messages(ctx, m.src.Name, uid.All) {
		if err != nil {
			return fmt.Errorf("source list (tombstones): %w", err)
		}
		if !going[msg.UID] {
			delete(want, msg.EmailID)
		}
	}
	for _, t := range a.tombs {
		if want[t.EmailID] {
			a.state.PutTombstone(m.s.opt.User, t)
		}
	}
	a.tombs = nil
	return nil
}

func (a *applier) commit(ctx context.Context) error {
	if a.state.Len() == 0 {
		return nil
	}
	if err := a.state.Commit(ctx); err != nil {
		return fmt.Errorf("commit state: %w", err)
	}
	a.state = a.m.s.opt.State.Begin(a.m.s.opt.Pair)
	return nil
}

// flush carries out everything pending: appends, flag changes, then the
// expunges, and commits the state.
func (a *applier) flush(ctx context.Context) error {
	if a.m.s.opt.DryRun {
		return nil
	}
	for _, side := range []Side{Target, Source} {
		if err := a.flushAppends(ctx, side); err != nil {
			return err
		}
	}
	if err := a.flushFlags(ctx); err != nil {
		return err
	}
	// Tombstones of the expunges and of the entries unpaired since the
	// last commit: verified now, committed with the expunges.
	for _, e := range a.expunges {
		for _, op := range e {
			id := op.Entry.EmailID
			if id.IsZero() {
				id = op.Msg.EmailID
			}
			a.tombstone(op, id, op.UID)
		}
	}
	if err := a.recordTombstones(ctx); err != nil {
		return err
	}
	for _, side := range []Side{Target, Source} {
		if err := a.flushExpunges(ctx, side); err != nil {
			return err
		}
	}
	return nil // the caller commits what is pending, with the header
}

func intentOf(op Op) Intent {
	return Intent{ToSource: op.Side == Source, EmailID: op.Msg.EmailID, FromUID: op.FromUID, UID: op.UID}
}

func (a *applier) flushAppends(ctx context.Context, side Side) error {
	ops := a.appends[side]
	if len(ops) == 0 {
		return nil
	}
	a.appends[side], a.appendBytes[side] = nil, 0
	m := a.m
	w, err := m.writer(side)
	if err != nil {
		return err
	}
	for i := range ops {
		if ops[i].Msg.EmailID.IsZero() && !ops[i].Entry.EmailID.IsZero() {
			ops[i].Msg.EmailID = ops[i].Entry.EmailID
		}
	}
	dest := m.info(side)
	var batch mailbox.Batch
	if b, ok := w.(mailbox.Batcher); ok {
		if batch, err = b.Batch(ctx, dest.Name); err != nil {
			return fmt.Errorf("%s batch: %w", side, err)
		}
		defer batch.Close()
	}
	var done, learned []Op
	if sb, ok := batch.(mailbox.StagedBatch); ok && sb.Staged() {
		done, learned, err = a.appendStaged(ctx, w, batch, ops)
	} else {
		done, learned, err = a.appendIntended(ctx, w, batch, ops)
	}
	if err != nil {
		return err
	}
	if batch != nil {
		if err := batch.Commit(ctx); err != nil {
			return fmt.Errorf("%s commit appends: %w", side, err)
		}
	}
	a.cacheEmailIDs(learned)
	for _, op := range done {
		a.state.PutEntry(m.src.ID, op.Entry)
		a.state.DeleteIntent(m.src.ID, intentOf(op))
		if side == Target {
			m.mr.Appended++
		} else {
			m.mr.AppendedToSource++
		}
		m.mr.Bytes += op.Msg.Size
	}
	return a.maybeCommit(ctx)
}

// Under a limiter that paces ([Pacer]), each append is a batch of its
// own: a batch's messages appear on the target when it commits, and the
// limiter paces the copies, so a message committed at once keeps what
// reaches the target at the configured rate rather than in bursts (a paced
// copy is not bound by the fsyncs this costs). A limiter that paces
// nothing leaves the batches whole: a batch per message costs a Maildir a
// uidlist rewrite per message, which made a full mirror of 20,020
// messages take 88 s instead of 13.
const (
	pieceMessages = 1
	pieceBytes    = 64 << 10
)

// batchLimits returns the bounds of a batch of appends.
func (a *applier) batchLimits() (int, int64) {
	o := &a.m.s.opt
	if p, ok := o.Limiter.(Pacer); o.Limiter == nil || ok && !p.Paces() {
		return o.BatchMessages, o.BatchBytes
	}
	return min(o.BatchMessages, pieceMessages), min(o.BatchBytes, pieceBytes)
}

// appendIntended records the intents of ops, then appends them (a batch
// whose appends a crash may leave visible before its Commit). An intent
// names the message by its EmailID: a message listed without one (a
// Maildir that Dovecot delivered into and that nothing cached) is read
// once for it first; the copy then checks its bytes against it, and the
// cache keeps it for the next runs.
func (a *applier) appendIntended(ctx context.Context, w mailbox.Writer, batch mailbox.Batch, ops []Op) (done, learned []Op, err error) {
	m := a.m
	known := ops[:0:0]
	for _, op := range ops {
		if op.Msg.EmailID.IsZero() {
			msg := op.Msg
			msg.UID = op.FromUID
			// The read is part of the copy, which waits on the limiter
			// for the same bytes: wait once.
			idn, err := m.identify(ctx, op.From, msg, false, false)
			if err != nil {
				if a.messageFailure(op, err) {
					continue
				}
				return nil, nil, err
			}
			op.Msg.EmailID = idn.EmailID // resolve cached it
		}
		known = append(known, op)
	}
	// Intents first, durable, so a crash after the store's write is
	// recognised on the next run.
	if err := a.putIntents(ctx, known); err != nil {
		return nil, nil, err
	}
	return a.copyAll(ctx, w, batch, known)
}

// appendStaged appends ops to a staged batch, which nothing sees before
// its Commit: each message is read once, its EmailID computed while it is
// copied, and the intents, which name it, are made durable before the
// batch is committed.
func (a *applier) appendStaged(ctx context.Context, w mailbox.Writer, batch mailbox.Batch, ops []Op) (done, learned []Op, err error) {
	if done, learned, err = a.copyAll(ctx, w, batch, ops); err != nil {
		return nil, nil, err
	}
	if err := a.putIntents(ctx, done); err != nil {
		return nil, nil, err
	}
	return done, learned, nil
}

func (a *applier) putIntents(ctx context.Context, ops []Op) error {
	o := &a.m.s.opt
	ib := o.State.Begin(o.Pair)
	for _, op := range ops {
		ib.PutIntent(a.m.src.ID, intentOf(op))
	}
	if err := ib.Commit(ctx); err != nil {
		return fmt.Errorf("commit intents: %w", err)
	}
	return nil
}

// copyAll copies ops, skipping those whose failure concerns only them, and
// returns the ops done with what the copy found (the UID each got, its
// EmailID and size), and those of them whose EmailID the copy learned.
func (a *applier) copyAll(ctx context.Context, w mailbox.Writer, batch mailbox.Batch, ops []Op) (done, learned []Op, err error) {
	done = ops[:0:0]
	for _, op := range ops {
		got, id, n, err := a.copyOne(ctx, w, batch, op)
		if err != nil {
			if a.messageFailure(op, err) {
				continue
			}
			return nil, nil, err
		}
		a.m.gives(op.Side, got)
		if op.Side == Target {
			op.Entry.Dst = got
		} else {
			op.Entry.Src = got
		}
		unknown := op.Msg.EmailID.IsZero()
		op.Msg.EmailID, op.Entry.EmailID = id, id
		op.Msg.Size = n
		done = append(done, op)
		if unknown {
			learned = append(learned, op)
		}
	}
	return done, learned, nil
}

// cacheEmailIDs keeps in the cache the EmailIDs that the copies of ops
// learned (of their sources), in one write where the cache takes many.
func (a *applier) cacheEmailIDs(ops []Op) {
	m := a.m
	o := &m.s.opt
	if o.Cache == nil || len(ops) == 0 {
		return
	}
	entries := make([]CachedEmailID, len(ops))
	for i, op := range ops {
		from := m.info(op.From)
		entries[i] = CachedEmailID{Store: m.s.storeID(op.From), Mailbox: from.ID, UIDValidity: from.UIDValidity, UID: op.FromUID, EmailID: op.Msg.EmailID}
	}
	if err := putEmailIDs(o.Cache, entries); err != nil {
		o.Logger.Warn("cache EmailID", "err", err)
	}
}

// messageFailure reports a failure that concerns one message only (its
// body vanished, or does not match its EmailID) and reports whether the
// mailbox can go on.
func (a *applier) messageFailure(op Op, err error) bool {
	m := a.m
	it := a.item(op)
	switch {
	case errors.Is(err, mailbox.ErrNotFound):
		it.Reason = "vanished before it could be copied"
		m.mr.Skipped++
		m.rep.addItem(&m.rep.Skipped, it)
		return true
	case errors.Is(err, mailbox.ErrCorrupt), errors.Is(err, mailbox.ErrInvalidMessage):
		it.Reason = fmt.Sprintf("not replicated: %v", err)
		m.mr.Failed++
		m.rep.addItem(&m.rep.Failed, it)
		return true
	}
	return false
}

// copyOne copies one message as op says, verifying its EmailID and size
// while it streams, and returns the UID it got. An EmailID it learned (op
// gave none) is for the caller to cache.
func (a *applier) copyOne(ctx context.Context, w mailbox.Writer, batch mailbox.Batch, op Op) (uid.UID, mailbox.EmailID, int64, error) {
	m := a.m
	o := &m.s.opt
	if err := m.wait(ctx, 1, op.Msg.Size); err != nil {
		return 0, mailbox.EmailID{}, 0, err
	}
	from := m.info(op.From)
	if op.Msg.Size == 0 {
		// Synthesized from the state (a delta listing): fetch its metadata.
		found := false
		for got, err := range m.s.reader(op.From).Messages(ctx, from.Name, uid.SetOf(op.FromUID)) {
			if err != nil {
				return 0, mailbox.EmailID{}, 0, err
			}
			op.Msg.Size, op.Msg.InternalDate, found = got.Size, got.InternalDate, true
		}
		if !found {
			return 0, mailbox.EmailID{}, 0, &mailbox.Error{Op: "read", Mailbox: from.Name, UID: op.FromUID, Err: mailbox.ErrNotFound}
		}
	}
	start := time.Now()
	rc, err := m.s.reader(op.From).Open(ctx, from.Name, op.FromUID)
	a.observe(op.From, start, err)
	if err != nil {
		return 0, mailbox.EmailID{}, 0, err
	}
	defer rc.Close()
	vr := mailbox.NewVerifyingReader(rc, op.Msg.EmailID, op.Msg.Size)
	lit := mailbox.NewLiteral(vr, op.Msg.Size)
	meta := mailbox.AppendMeta{Flags: op.Msg.Flags, InternalDate: op.Msg.InternalDate, EmailID: op.Msg.EmailID}
	dest := m.info(op.Side)
	start = time.Now()
	got := op.UID
	switch {
	case op.UID != 0 && batch != nil:
		err = batch.AppendUID(ctx, op.UID, lit, meta)
	case op.UID != 0:
		us, ok := w.(mailbox.UIDSetter)
		if !ok {
			return 0, mailbox.EmailID{}, 0, fmt.Errorf("%s cannot set UIDs: %w", op.Side, mailbox.ErrNotSupported)
		}
		err = us.AppendUID(ctx, dest.Name, op.UID, lit, meta)
	case batch != nil:
		got, err = batch.Append(ctx, lit, meta)
	default:
		got, err = w.Append(ctx, dest.Name, lit, meta)
	}
	a.observe(op.Side, start, err)
	if err != nil {
		return 0, mailbox.EmailID{}, 0, err
	}
	id := vr.Sum()
	if o.Progress != nil {
		o.Progress(1, vr.Size())
	}
	return got, id, vr.Size(), nil
}

func (a *applier) observe(side Side, start time.Time, err error) {
	ob, ok := a.m.s.opt.Limiter.(Observer)
	if !ok {
		return
	}
	ob.Observe(side == Target, time.Since(start), errors.Is(err, mailbox.ErrTransient), 0)
}

func (a *applier) flushFlags(ctx context.Context) error {
	if len(a.flagOps) == 0 {
		return nil
	}
	m := a.m
	keys := slices.SortedFunc(maps.Keys(a.flags), func(a, b flagKey) int {
		return cmp.Or(cmp.Compare(a.side, b.side), cmp.Compare(a.op, b.op), cmp.Compare(a.flag, b.flag))
	})
	for _, k := range keys {
		g := a.flags[k]
		w, err := m.writer(k.side)
		if err != nil {
			return err
		}
		flag, err := mailbox.NewFlags(g.flag)
		if err != nil {
			return fmt.Errorf("%s store flags: %w", k.side, err)
		}
		if err := w.StoreFlags(ctx, m.info(k.side).Name, uid.SetOf(g.uids...), k.op, flag); err != nil {
			return fmt.Errorf("%s store flags: %w", k.side, err)
		}
	}
	for _, op := range a.flagOps {
		m.mr.FlagChanges++
		if op.Entry.Src != 0 {
			a.state.PutEntry(m.src.ID, op.Entry)
		}
	}
	clear(a.flags)
	a.flagOps = nil
	a.nflags = 0
	return a.maybeCommit(ctx)
}

func (a *applier) flushExpunges(ctx context.Context, side Side) error {
	ops := a.expunges[side]
	if len(ops) == 0 {
		return nil
	}
	a.expunges[side] = nil
	m := a.m
	w, err := m.writer(side)
	if err != nil {
		return err
	}
	uids := make([]uid.UID, len(ops))
	for i, op := range ops {
		uids[i] = op.UID
	}
	if err := w.Expunge(ctx, m.info(side).Name, uid.SetOf(uids...)); err != nil {
		return fmt.Errorf("%s expunge: %w", side, err)
	}
	for _, op := range ops {
		if op.Entry.Src != 0 {
			a.state.DeleteEntry(m.src.ID, op.Entry.Src)
		}
		if side == Target {
			m.mr.Expunged++
		} else {
			m.mr.ExpungedSource++
		}
	}
	return a.maybeCommit(ctx)
}

// move renumbers one message on both sides (two-way mode, UID conflict):
// an intent, the two copies, the expunge of the old UID, then the state.
// recoverMoves finishes a move a crash interrupted.
func (a *applier) move(ctx context.Context, op Op) error {
	m := a.m
	o := &m.s.opt
	// Pending appends may target UIDs below this one: do them first.
	for _, side := range []Side{Target, Source} {
		if err := a.flushAppends(ctx, side); err != nil {
			return err
		}
	}
	in := Intent{Move: true, ToSource: op.Side == Source, EmailID: op.Msg.EmailID, FromUID: op.FromUID, UID: op.UID, AlsoUID: op.AlsoUID}
	b := o.State.Begin(o.Pair)
	b.PutIntent(m.src.ID, in)
	if err := b.Commit(ctx); err != nil {
		return fmt.Errorf("commit intent: %w", err)
	}
	if err := m.finishMove(ctx, in, op.Msg); err != nil {
		if a.messageFailure(op, err) {
			return nil
		}
		return err
	}
	m.mr.Moved++
	m.mr.Bytes += 2 * op.Msg.Size
	return nil
}

// finishMove completes a move: each side gets the message at the new UID
// unless it has it, the old UID is expunged, the entry recorded and the
// intent dropped, in that order.
func (m *mboxSync) finishMove(ctx context.Context, in Intent, msg mailbox.Message) error {
	o := &m.s.opt
	origin := Target
	if in.ToSource {
		origin = Source
	}
	has := func(side Side, u uid.UID) (*mailbox.Message, error) {
		for got, err := range m.s.reader(side).Messages(ctx, m.info(side).Name, uid.SetOf(u)) {
			if err != nil {
				return nil, err
			}
			idn, err := m.resolve(ctx, side, got, false)
			if err != nil {
				return nil, err
			}
			if idn.EmailID == in.EmailID {
				got.EmailID = idn.EmailID
				return &got, nil
			}
			return nil, nil
		}
		return nil, nil
	}
	for _, side := range []Side{origin.Other(), origin} {
		there, err := has(side, in.UID)
		if err != nil {
			return err
		}
		if there != nil {
			if msg.Flags.IsEmpty() {
				msg.Flags = there.Flags
			}
			continue
		}
		// Copy from the old UID, or from the other side's new copy.
		from, fromUID := origin, in.FromUID
		src, err := has(origin, in.FromUID)
		if err != nil {
			return err
		}
		if src == nil {
			from, fromUID = side.Other(), in.UID
			if src, err = has(from, fromUID); err != nil {
				return err
			}
		}
		if src == nil {
			// Gone everywhere: a user expunged it meanwhile.
			b := o.State.Begin(o.Pair)
			b.DeleteIntent(m.src.ID, in)
			return b.Commit(ctx)
		}
		w, err := m.writer(side)
		if err != nil {
			return err
		}
		us, ok := w.(mailbox.UIDSetter)
		if !ok {
			return fmt.Errorf("%s cannot set UIDs: %w", side, mailbox.ErrNotSupported)
		}
		if err := m.wait(ctx, 1, src.Size); err != nil {
			return err
		}
		rc, err := m.s.reader(from).Open(ctx, m.info(from).Name, fromUID)
		if err != nil {
			return err
		}
		meta := mailbox.AppendMeta{Flags: src.Flags, InternalDate: src.InternalDate, EmailID: in.EmailID}
		err = us.AppendUID(ctx, m.info(side).Name, in.UID, mailbox.NewLiteral(mailbox.NewVerifyingReader(rc, in.EmailID, src.Size), src.Size), meta)
		rc.Close()
		if err != nil {
			return err
		}
		m.gives(side, in.UID)
		if msg.Flags.IsEmpty() {
			msg.Flags = src.Flags
		}
	}
	w, err := m.writer(origin)
	if err != nil {
		return err
	}
	if err := w.Expunge(ctx, m.info(origin).Name, uid.SetOf(in.FromUID)); err != nil {
		return err
	}
	if in.AlsoUID != 0 {
		// The other side's own copy of the message, now at in.UID too.
		ow, err := m.writer(origin.Other())
		if err != nil {
			return err
		}
		if err := ow.Expunge(ctx, m.info(origin.Other()).Name, uid.SetOf(in.AlsoUID)); err != nil {
			return err
		}
	}
	// Both copies may carry flags of their own (a message delivered to
	// both sides): they agree on the union, as unpaired copies do.
	var copies [2]*mailbox.Message
	for _, side := range []Side{Source, Target} {
		c, err := has(side, in.UID)
		if err != nil {
			return err
		}
		copies[side] = c
	}
	flags := msg.Flags
	if copies[Source] != nil && copies[Target] != nil {
		flags, _ = MergeFlags(nil, copies[Source].Flags, copies[Target].Flags)
		for _, side := range []Side{Source, Target} {
			if copies[side].Flags.Equal(flags) {
				continue
			}
			w, err := m.writer(side)
			if err != nil {
				return err
			}
			if err := w.StoreFlags(ctx, m.info(side).Name, uid.SetOf(in.UID), mailbox.FlagsReplace, flags); err != nil {
				return err
			}
		}
	}
	b := o.State.Begin(o.Pair)
	b.PutEntry(m.src.ID, Entry{Src: in.UID, Dst: in.UID, EmailID: in.EmailID, Flags: flags})
	b.DeleteIntent(m.src.ID, in)
	return b.Commit(ctx)
}

// recoverMoves finishes the moves a crashed run left half done.
func (m *mboxSync) recoverMoves(ctx context.Context) error {
	var rest []Intent
	recovered := false
	defer func() {
		if recovered {
			m.status(ctx) // the moves raised UIDNEXTs
		}
	}()
	for _, in := range m.intents {
		if !in.Move {
			rest = append(rest, in)
			continue
		}
		recovered = true
		if err := m.finishMove(ctx, in, mailbox.Message{}); err != nil {
			return fmt.Errorf("finish interrupted move of uid %d: %w", in.FromUID, err)
		}
	}
	m.intents = rest
	return nil
}

// realign rebuilds one side (x) as a copy of the other (y) under y's
// UIDVALIDITY and UIDs, keeping x's bodies: x's messages are matched with
// y's by EmailID and renumbered in one ResetUIDs; y's messages that x
// lacks are copied into x first, so none has to fit below x's new UIDNEXT
// afterwards. In a mirror x is the target, and target-only mail no sync put
// there is first copied to the source (or dropped, by policy). In two-way
// mode x is the side whose UIDVALIDITY changed; its unmatched messages get
// new UIDs above both sides' UIDNEXTs and go to the other side next.
func (m *mboxSync) realign(ctx context.Context, reason string, x Side) error {
	o := &m.s.opt
	y := x.Other()
	// Evidence from the old entries counts only for a side whose history
	// is trusted.
	trusted := func(side Side) bool { return !m.distrust || m.suspect != side }
	if o.DryRun {
		m.mr.Realigned = "would realign: " + reason
		return nil
	}
	setter, ok := m.s.reader(x).(mailbox.UIDSetter)
	if !ok {
		return fmt.Errorf("%s cannot set UIDs: %w", x, mailbox.ErrNotSupported)
	}
	o.Logger.Info("realigning", "mailbox", m.src.Name, "side", x, "reason", reason)
	// The agreed entries, by EmailID: re-paired, they keep the flags both
	// sides last agreed on, and tell a message one side expunged from one
	// that is new.
	agreed := map[mailbox.EmailID][]Entry{}
	for e, err := range o.State.Entries(ctx, o.Pair, m.src.ID) {
		if err != nil {
			return err
		}
		agreed[e.EmailID] = append(agreed[e.EmailID], e)
	}
	takeAgreed := func(id mailbox.EmailID) *Entry {
		es := agreed[id]
		if len(es) == 0 {
			return nil
		}
		agreed[id] = es[1:]
		return &es[0]
	}
	var entries []Entry // the state after the realign
	xName, yInfo, usedNext := m.info(x).Name, m.info(y), m.info(x).UIDNext
	// x's messages by EmailID.
	xByID := map[mailbox.EmailID][]mailbox.Message{}
	var xCount int
	for msg, err := range m.s.reader(x).Messages(ctx, xName, uid.All) {
		if err != nil {
			return fmt.Errorf("list %s: %w", x, err)
		}
		idn, err := m.resolve(ctx, x, msg, false)
		if err != nil {
			return err
		}
		msg.EmailID = idn.EmailID
		xByID[msg.EmailID] = append(xByID[msg.EmailID], msg)
		xCount++
	}
	// A side whose UIDVALIDITY changed and that lacks most of what the
	// state saw on both sides (see lossy) lost its mail with its UIDs (a
	// storage loss, not its user's expunges): what it lacks proves
	// nothing.
	agreedN, xHeld := 0, 0
	for id, es := range agreed {
		agreedN += len(es)
		xHeld += min(len(es), len(xByID[id]))
	}
	m.distrustIfLossy(x, xHeld, agreedN)
	var mp uid.Map
	// A pristine x (no message, UIDNEXT 1) takes y's messages afterwards
	// by plain in-place appends (streamed and batched); any other x gets
	// what it lacks now, as a renumbering within one UIDVALIDITY never
	// lowers UIDNEXT.
	if xCount > 0 || usedNext > 1 {
		// Walk y: pair what x holds, copy in what it lacks.
		w, err := m.writer(x)
		if err != nil {
			return err
		}
		a := newApplier(ctx, m)
		var missing []Op
		yHeld := 0
		// The copies are recorded as intents before they are made, and
		// as entries of the state the realign commits: a message the
		// other side's user expunges before the plan that follows (or
		// before the run after a crash) is then expunged from x too,
		// rather than taken for mail only x holds.
		flushMissing := func() error {
			if err := a.putIntents(ctx, missing); err != nil {
				return err
			}
			for _, op := range missing {
				got, id, _, err := a.copyOne(ctx, w, nil, op)
				if err != nil {
					if a.messageFailure(op, err) {
						continue
					}
					return err
				}
				if op.Msg.EmailID.IsZero() {
					op.Msg.EmailID = id
					a.cacheEmailIDs([]Op{op})
				}
				if err := mp.Add(got, op.FromUID); err != nil {
					return err
				}
				entries = append(entries, Entry{Src: op.FromUID, Dst: op.FromUID, EmailID: op.Msg.EmailID, Flags: op.Msg.Flags})
				if x == Target {
					m.mr.Appended++
				} else {
					m.mr.AppendedToSource++
				}
				m.mr.Bytes += op.Msg.Size
			}
			missing = missing[:0]
			return nil
		}
		for msg, err := range m.s.reader(y).Messages(ctx, yInfo.Name, uid.All) {
			if err != nil {
				return fmt.Errorf("list %s: %w", y, err)
			}
			idn, err := m.resolve(ctx, y, msg, false)
			if err != nil {
				return err
			}
			msg.EmailID = idn.EmailID
			base := takeAgreed(msg.EmailID)
			if base != nil {
				yHeld++
			}
			if xs := xByID[msg.EmailID]; len(xs) > 0 {
				xByID[msg.EmailID] = xs[1:]
				if err := mp.Add(xs[0].UID, msg.UID); err != nil {
					return err
				}
				if base != nil {
					entries = append(entries, Entry{Src: msg.UID, Dst: msg.UID, EmailID: msg.EmailID, Flags: base.Flags})
				}
				continue
			}
			// x lacks it. In two-way mode, when the state saw it on both
			// sides and x's history is trusted (its UIDVALIDITY changed,
			// its messages did not go back in time), x's user expunged it:
			// the entry stays, and the plan expunges it from y. Otherwise
			// (a mirror's target, or a side that went back in time) it is
			// copied into x.
			if o.Mode == TwoWay && base != nil && trusted(x) && !m.lost(ctx, x, msg.EmailID) {
				entries = append(entries, Entry{Src: msg.UID, Dst: msg.UID, EmailID: msg.EmailID, Flags: base.Flags})
				continue
			}
			missing = append(missing, Op{Kind: OpAppend, Side: x, From: y, FromUID: msg.UID, Msg: msg, Reason: "missing: copied while realigning"})
			if len(missing) >= o.BatchMessages {
				if err := flushMissing(); err != nil {
					return err
				}
			}
		}
		if err := flushMissing(); err != nil {
			return err
		}
		m.distrustIfLossy(y, yHeld, agreedN)
	}
	// What only x holds.
	var (
		next     = max(m.src.UIDNext, m.dst.UIDNext)
		dropped  int
		tombs    []Tombstone
		copyBack []mailbox.Message
		intents  = &planner{in: Input{Intents: m.intents}}
	)
	var xOnly []mailbox.Message
	for _, xs := range xByID {
		xOnly = append(xOnly, xs...)
	}
	slices.SortFunc(xOnly, func(a, b mailbox.Message) int { return cmp.Compare(a.UID, b.UID) })
	for _, msg := range xOnly {
		{
			switch {
			case o.Mode == TwoWay:
				if err := mp.Add(msg.UID, next); err != nil {
					return err
				}
				if base := takeAgreed(msg.EmailID); base != nil && trusted(y) {
					// Both had it at the last sync: y's user expunged it
					// (y's history is trusted: only x was renumbered).
					entries = append(entries, Entry{Src: next, Dst: next, EmailID: msg.EmailID, Flags: base.Flags})
				}
				next++
			case (trusted(Source) && takeAgreed(msg.EmailID) != nil && !m.lost(ctx, Source, msg.EmailID)) ||
				intents.isIntended(Target, &msg) || m.tombstoned(ctx, msg.EmailID):
				// The state saw it on both sides (by EmailID: its UIDs may
				// have changed with a UIDVALIDITY), or the engine copied it
				// there: the source expunged it since.
				dropped++
				tombs = append(tombs, Tombstone{MailboxID: m.src.ID, Mailbox: m.src.Name, EmailID: msg.EmailID, UID: msg.UID, Time: o.Now()})
			case o.TargetOnly == DeleteTargetOnly:
				dropped++
				m.mr.Conflicts++
				m.rep.addItem(&m.rep.Conflicts, Item{Mailbox: m.src.Name, Side: "target", UID: msg.UID, EmailID: msg.EmailID.String(), Reason: "only on target: deleted by policy"})
			default:
				copyBack = append(copyBack, msg)
			}
		}
	}
	if len(copyBack) > 0 {
		w, err := m.writer(Source)
		if err != nil {
			return fmt.Errorf("the target holds %d messages the source lacks, and the source is read-only: nothing deleted (use the delete policy to drop them): %w", len(copyBack), err)
		}
		us, canSet := w.(mailbox.UIDSetter)
		for _, msg := range copyBack {
			newUID, err := m.copyBack(ctx, w, us, canSet, msg, next)
			if err != nil {
				if errors.Is(err, mailbox.ErrNotFound) {
					continue
				}
				return fmt.Errorf("copy target uid %d to the source: %w", msg.UID, err)
			}
			next = max(next, newUID+1)
			if err := mp.Add(msg.UID, newUID); err != nil {
				return err
			}
			m.mr.AppendedToSource++
			m.mr.Bytes += msg.Size
			m.mr.Conflicts++
			m.rep.addItem(&m.rep.Conflicts, Item{Mailbox: m.src.Name, Side: "target", UID: msg.UID, EmailID: msg.EmailID.String(),
				Reason: fmt.Sprintf("only on target (split brain): copied to source as uid %d", newUID)})
		}
	}
	// The state first, marked, then the renumbering, then the mark off: a
	// crash in between makes the next run realign again, which finds
	// everything by EmailID and does nothing twice.
	h := m.header(false)
	h.SrcValidity, h.DstValidity = yInfo.UIDValidity, yInfo.UIDValidity
	h.Realigning, h.RealignSource = true, x == Source
	m.rewrote = true
	b := o.State.Begin(o.Pair)
	b.DeleteMailbox(m.src.ID)
	b.PutHeader(h)
	for _, e := range entries {
		b.PutEntry(m.src.ID, e)
	}
	for _, t := range tombs {
		b.PutTombstone(o.User, t)
	}
	if err := b.Commit(ctx); err != nil {
		return fmt.Errorf("commit state: %w", err)
	}
	m.intents = nil
	if err := setter.ResetUIDs(ctx, xName, yInfo.UIDValidity, &mp); err != nil {
		return fmt.Errorf("%s reset UIDs: %w", x, err)
	}
	if x == Target {
		m.mr.Expunged += dropped
	}
	if err := m.status(ctx); err != nil {
		return err
	}
	b = o.State.Begin(o.Pair)
	b.PutHeader(m.header(false))
	if err := b.Commit(ctx); err != nil {
		return fmt.Errorf("commit state: %w", err)
	}
	if m.mr.Realigned == "" && (xCount > 0 || usedNext > 1) {
		m.mr.Realigned = reason
	}
	return nil
}

// distrustIfLossy distrusts side when its UIDVALIDITY changed since the
// last sync and it lacks most of the agreed messages (held of agreed; see
// lossy): it lost mail with its UIDs, so nothing it lacks is taken as
// expunged.
func (m *mboxSync) distrustIfLossy(side Side, held, agreed int) {
	if m.changed != side || !lossy(held, agreed) || (m.distrust && m.suspect == side) {
		return
	}
	m.distrust, m.suspect = true, side
	m.conflict(Item{Mailbox: m.src.Name, Side: side.String(),
		Reason: fmt.Sprintf("its UIDVALIDITY changed and it holds %d of the %d messages both sides had: a storage loss, not expunges; nothing it lacks is taken as expunged", held, agreed)})
}

// lossy reports whether a side that holds held of the agreed messages
// lost most of them, and more than a user deletes by hand between two
// syncs (lossyAtLeast): a few messages gone are expunges, whatever their
// share of a small mailbox.
func lossy(held, agreed int) bool {
	gone := agreed - held
	return gone >= lossyAtLeast && 2*gone > agreed
}

// lossyAtLeast is the number of agreed messages a side whose UIDVALIDITY
// changed must lack, beyond half of them, for the change to be taken as a
// storage loss.
const lossyAtLeast = 8

// copyBack copies a target message to the source with a UID no client of
// either side has seen, and returns that UID.
func (m *mboxSync) copyBack(ctx context.Context, w mailbox.Writer, us mailbox.UIDSetter, canSet bool, msg mailbox.Message, next uid.UID) (uid.UID, error) {
	if err := m.wait(ctx, 1, msg.Size); err != nil {
		return 0, err
	}
	rc, err := m.s.dst.Open(ctx, m.dst.Name, msg.UID)
	if err != nil {
		return 0, err
	}
	defer rc.Close()
	lit := mailbox.NewLiteral(mailbox.NewVerifyingReader(rc, msg.EmailID, msg.Size), msg.Size)
	meta := mailbox.AppendMeta{Flags: msg.Flags, InternalDate: msg.InternalDate, EmailID: msg.EmailID}
	if canSet {
		return next, us.AppendUID(ctx, m.src.Name, next, lit, meta)
	}
	return w.Append(ctx, m.src.Name, lit, meta)
}

// tombstoned reports whether the source's user expunged a message with
// that EmailID from this mailbox: such a message found only on the target
// is not copied back.
func (m *mboxSync) tombstoned(ctx context.Context, id mailbox.EmailID) bool {
	ok, err := m.s.opt.State.Tombstoned(ctx, m.s.opt.User, m.src.ID, id)
	return err == nil && ok
}

// wait waits on the limiter, if any, before moving msgs messages of bytes
// bytes.
func (m *mboxSync) wait(ctx context.Context, msgs int, bytes int64) error {
	if m.s.opt.Limiter == nil {
		return nil
	}
	return m.s.opt.Limiter.Wait(ctx, msgs, bytes)
}
