package mailboxtest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mailrepl/mailrepl/mailbox"
	"github.com/mailrepl/mailrepl/uid"
)

// runModel applies random operations to the store and to a model of what
// the contract says the store must then hold, and compares the two after
// every step: mailboxes, their identities and counters, every listing,
// modseqs, changes since any earlier step, and at the end every body.
func runModel(t *testing.T, h *Harness) {
	seed := h.Seed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	e := newEnv(t, h)
	m := &model{
		e:          e,
		t:          t,
		r:          rand.New(rand.NewPCG(seed, 0x6d61696c)),
		boxes:      map[string]*mbox{},
		validities: map[string][]uid.Validity{},
		ids:        map[mailbox.ID]bool{},
		touched:    map[*mbox]modExpect{},
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("the model test failed with seed %d (set Harness.Seed to replay it); its last operations:\n%s", seed, m.lastOps(40))
		}
	})
	m.init()
	for m.step = 1; m.step <= h.Steps; m.step++ {
		m.do()
		m.check()
	}
	m.checkBodies()
	t.Logf("seed %d: %d steps, %d mailboxes at the end", seed, h.Steps, len(m.boxes))
}

// model is what the store must hold, kept by the test.
type model struct {
	e          *env
	t          *testing.T
	r          *rand.Rand
	step       int
	tracking   bool // the store keeps modseqs
	boxes      map[string]*mbox
	validities map[string][]uid.Validity // every UIDVALIDITY a name has had
	ids        map[mailbox.ID]bool       // every mailbox ID seen
	touched    map[*mbox]modExpect       // how this step changes HighestModSeq
	reopened   int                       // the step of the last Reopen
	bodies     [][]byte                  // bodies appended so far, to append again
	log        []string
}

// modExpect says what a step does to a mailbox's HighestModSeq.
type modExpect int

const (
	modSame modExpect = iota // nothing changed: it stays
	modRise                  // a message changed: it rises
	modAny                   // it may rise (an undone batch, a Reopen)
)

// mbox is a mailbox of the model.
type mbox struct {
	name       string
	id         mailbox.ID
	validity   uid.Validity
	next       uid.UID // UIDNEXT as last seen
	wantNext   uid.UID // UIDNEXT this step must leave exactly; 0: any above used
	used       uid.UID // the highest UID used in this UIDVALIDITY epoch
	highest    mailbox.ModSeq
	subscribed bool
	msgs       []*mmsg          // ascending UID
	gone       map[uid.UID]int  // expunged UIDs of this epoch → step
	maybeGone  map[uid.UID]bool // UIDs of undone batches
	snaps      []snap           // HighestModSeq after past steps
}

// snap is a mailbox's HighestModSeq after a step: Changes since h must
// give exactly what changed after that step.
type snap struct {
	step int
	h    mailbox.ModSeq
}

// mmsg is a message of the model.
type mmsg struct {
	uid     uid.UID
	body    []byte
	flags   mailbox.Flags
	date    time.Time
	changed int            // the step of its last change
	lo, hi  mailbox.ModSeq // its modseq lies in (lo, hi]; hi 0: not known yet
	modseq  mailbox.ModSeq // as listed since its last change; 0: not yet
}

func (m *model) logf(format string, args ...any) {
	m.log = append(m.log, fmt.Sprintf("%4d  ", m.step)+fmt.Sprintf(format, args...))
}

func (m *model) lastOps(n int) string {
	return strings.Join(m.log[max(0, len(m.log)-n):], "\n")
}

func (m *model) fatalf(format string, args ...any) {
	m.t.Helper()
	m.t.Fatalf("step %d: %s", m.step, fmt.Sprintf(format, args...))
}

func (m *model) init() {
	info := m.e.status(mailbox.Inbox)
	m.tracking = info.HighestModSeq > 0
	b := m.newBox(info)
	m.boxes[mailbox.Inbox] = b
}

func (m *model) newBox(info mailbox.Info) *mbox {
	b := &mbox{
		name:     info.Name,
		id:       info.ID,
		validity: info.UIDValidity,
		next:     info.UIDNext,
		used:     info.UIDNext - 1,
		highest:  info.HighestModSeq,
		gone:     map[uid.UID]int{},
	}
	b.newEpoch(m.step, info.HighestModSeq)
	m.ids[info.ID] = true
	m.validities[info.Name] = append(m.validities[info.Name], info.UIDValidity)
	return b
}

// newEpoch starts the record of changes: since 0 means everything, since
// h everything after step.
func (b *mbox) newEpoch(step int, h mailbox.ModSeq) {
	b.snaps = []snap{{step: -1, h: 0}, {step: step, h: h}}
	clear(b.gone)
	b.maybeGone = map[uid.UID]bool{}
}

// modelNames are the names the model works with: nested, non-ASCII,
// INBOX in two spellings and as a parent.
var modelNames = []string{"INBOX", "inbox", "A", "A/B", "A/B/C", "B", "B/A", "Ärger", "INBOX/X", "C D", "C D/E"}

// modelKeywords are the keywords the model sets, in a random case.
var modelKeywords = []mailbox.Flag{"$Label1", "Work", "$Forwarded", "Later"}

func (m *model) canon(name string) string {
	c, err := mailbox.CanonicalName(name)
	if err != nil {
		m.fatalf("model name %q: %v", name, err)
	}
	return c
}

func (m *model) names() []string { return slices.Sorted(maps.Keys(m.boxes)) }

// anyName returns a name from modelNames, existing or not.
func (m *model) anyName() string { return modelNames[m.r.IntN(len(modelNames))] }

// someName returns an existing mailbox's name most of the time.
func (m *model) someName() string {
	if m.r.IntN(8) == 0 {
		return m.anyName()
	}
	ns := m.names()
	n := ns[m.r.IntN(len(ns))]
	if n == mailbox.Inbox && m.r.IntN(3) == 0 {
		return "inbox"
	}
	return n
}

func (m *model) randFlags() mailbox.Flags {
	var fs []mailbox.Flag
	for _, f := range []mailbox.Flag{mailbox.Seen, mailbox.Answered, mailbox.Flagged, mailbox.Deleted, mailbox.Draft} {
		if m.r.IntN(4) == 0 {
			fs = append(fs, f)
		}
	}
	for _, k := range modelKeywords {
		if m.r.IntN(5) == 0 {
			fs = append(fs, m.randCase(k))
		}
	}
	for _, p := range m.e.h.PrivateFlags {
		if m.r.IntN(4) == 0 {
			fs = append(fs, p)
		}
	}
	return flags(fs...)
}

func (m *model) randCase(f mailbox.Flag) mailbox.Flag {
	b := []byte(f)
	for i, c := range b {
		switch m.r.IntN(3) {
		case 0:
			b[i] = byte(strings.ToUpper(string(c))[0])
		case 1:
			b[i] = byte(strings.ToLower(string(c))[0])
		}
	}
	return mailbox.Flag(b)
}

// randBody returns a small message: line endings CRLF, LF or mixed,
// sometimes a bare CR, 8-bit bytes or no final newline; sometimes the
// bytes of an earlier message.
func (m *model) randBody() []byte {
	if len(m.bodies) > 0 && m.r.IntN(6) == 0 {
		return m.bodies[m.r.IntN(len(m.bodies))]
	}
	ending := []string{"\r\n", "\n", ""}[m.r.IntN(3)]
	nl := func() string {
		if ending != "" {
			return ending
		}
		return []string{"\r\n", "\n"}[m.r.IntN(2)]
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "Subject: model %d-%d%sMessage-ID: <%d.%d@model>%s%s", m.step, m.r.IntN(1000), nl(), m.step, m.r.Uint32(), nl(), nl())
	for range m.r.IntN(20) {
		for range m.r.IntN(70) {
			switch c := m.r.IntN(100); {
			case c < 2:
				b.WriteByte('\r')
			case c < 4:
				b.WriteByte(byte(0x80 + m.r.IntN(128)))
			default:
				b.WriteByte(byte(' ' + m.r.IntN(95)))
			}
		}
		b.WriteString(nl())
	}
	if m.r.IntN(4) == 0 {
		b.WriteString("no final newline")
	}
	body := b.Bytes()
	m.bodies = append(m.bodies, body)
	return body
}

// randDate returns an internal date between baseDate and about a year and
// a half later: in the past, as IMAP servers (Dovecot) take a date in the
// future for the time of the append.
func (m *model) randDate() time.Time {
	d := baseDate.Add(time.Duration(m.r.IntN(50_000_000)) * time.Second)
	if m.r.IntN(3) == 0 {
		d = d.Add(time.Duration(m.r.IntN(1e9)))
	}
	return d
}

// randSet returns a UID set for b: everything, nothing, one message, a
// range, or scattered UIDs some of which do not exist.
func (m *model) randSet(b *mbox) uid.Set {
	top := max(b.next, 1) + 2
	switch m.r.IntN(6) {
	case 0:
		return uid.All
	case 1:
		return nil
	case 2:
		if len(b.msgs) > 0 {
			return uid.SetOf(b.msgs[m.r.IntN(len(b.msgs))].uid)
		}
		return uid.SetOf(uid.UID(1 + m.r.IntN(int(top))))
	case 3:
		lo := uid.UID(1 + m.r.IntN(int(top)))
		return uid.NewSet(uid.Range{Start: lo, Stop: lo + uid.UID(m.r.IntN(5))})
	case 4:
		lo := uid.UID(1 + m.r.IntN(int(top)))
		return uid.NewSet(uid.Range{Start: lo, Stop: uid.Max})
	}
	var us []uid.UID
	for _, x := range b.msgs {
		if m.r.IntN(3) == 0 {
			us = append(us, x.uid)
		}
	}
	return uid.SetOf(append(us, top+uid.UID(m.r.IntN(3)))...)
}

// outcome checks err against the errors the model allows (none: success)
// and reports whether the operation succeeded.
func (m *model) outcome(what string, err error, name string, allowed ...error) bool {
	m.t.Helper()
	if len(allowed) == 0 {
		if err != nil {
			m.fatalf("%s: %v", what, err)
		}
		return true
	}
	for _, a := range allowed {
		if errors.Is(err, a) {
			if !checkErr(m.t, what, err, a, name) {
				m.fatalf("%s: bad error", what)
			}
			return false
		}
	}
	m.fatalf("%s = %v, want an error wrapping one of %v", what, err, allowed)
	return false
}

func (m *model) hasChildren(c string) bool {
	for n := range m.boxes {
		if mailbox.IsDescendant(n, c) {
			return true
		}
	}
	return false
}

type op struct {
	weight int
	run    func()
}

// do applies one random operation.
func (m *model) do() {
	h := m.e.h
	ops := []op{
		{6, m.opCreate}, {3, m.opDelete}, {4, m.opRename}, {2, m.opSubscribe},
		{20, m.opAppend}, {12, m.opStoreFlags}, {8, m.opExpunge}, {4, m.opOpen}, {4, m.opList},
	}
	if h.tracker {
		ops = append(ops, op{8, m.opChanges})
	}
	if h.setter {
		ops = append(ops, op{4, m.opAppendUID}, op{2, m.opSetUIDNext}, op{2, m.opResetUIDs})
	}
	if h.batcher {
		ops = append(ops, op{3, m.opBatch})
	}
	if h.Reopen != nil {
		ops = append(ops, op{1, m.opReopen})
	}
	total := 0
	for _, o := range ops {
		total += o.weight
	}
	n := m.r.IntN(total)
	for _, o := range ops {
		if n -= o.weight; n < 0 {
			o.run()
			return
		}
	}
}

func (m *model) opCreate() {
	name := m.anyName()
	c := m.canon(name)
	info, err := m.e.s.Create(m.e.ctx, name)
	m.logf("Create(%q) = %v", name, err)
	if m.boxes[c] != nil {
		m.outcome(fmt.Sprintf("Create(%q)", name), err, name, mailbox.ErrExists)
		return
	}
	m.outcome(fmt.Sprintf("Create(%q)", name), err, name)
	switch {
	case info.Name != c:
		m.fatalf("Create(%q) named it %q, want %q", name, info.Name, c)
	case m.ids[info.ID]:
		m.fatalf("Create(%q) gave ID %q, used before", name, info.ID)
	case slices.Contains(m.validities[c], info.UIDValidity):
		m.fatalf("Create(%q) gave UIDVALIDITY %d, which %q had before (%v)", name, info.UIDValidity, c, m.validities[c])
	}
	m.boxes[c] = m.newBox(info)
}

func (m *model) opDelete() {
	name := m.anyName()
	c := m.canon(name)
	err := m.e.s.Delete(m.e.ctx, name)
	m.logf("Delete(%q) = %v", name, err)
	var allowed []error
	if c == mailbox.Inbox {
		allowed = append(allowed, mailbox.ErrNotAllowed)
	}
	if m.boxes[c] == nil {
		allowed = append(allowed, mailbox.ErrNotFound)
	}
	if m.hasChildren(c) {
		allowed = append(allowed, mailbox.ErrHasChildren)
	}
	if m.outcome(fmt.Sprintf("Delete(%q)", name), err, name, allowed...) {
		delete(m.boxes, c)
	}
}

func (m *model) opRename() {
	from, to := m.someName(), m.anyName()
	oc, nc := m.canon(from), m.canon(to)
	err := m.e.s.Rename(m.e.ctx, from, to)
	m.logf("Rename(%q, %q) = %v", from, to, err)
	var allowed []error
	if oc == mailbox.Inbox || mailbox.IsDescendant(nc, oc) {
		allowed = append(allowed, mailbox.ErrNotAllowed)
	}
	if m.boxes[oc] == nil {
		allowed = append(allowed, mailbox.ErrNotFound)
	}
	moves := map[string]string{oc: nc}
	for n := range m.boxes {
		if mailbox.IsDescendant(n, oc) {
			moves[n] = nc + n[len(oc):]
		}
	}
	for _, n := range moves {
		if m.boxes[n] != nil {
			allowed = append(allowed, mailbox.ErrExists)
			break
		}
	}
	if !m.outcome(fmt.Sprintf("Rename(%q, %q)", from, to), err, "", allowed...) {
		return
	}
	var moved []*mbox
	for _, f := range slices.Sorted(maps.Keys(moves)) {
		moved = append(moved, m.boxes[f])
		delete(m.boxes, f)
	}
	for _, b := range moved {
		b.name = moves[b.name]
		m.boxes[b.name] = b
		m.validities[b.name] = append(m.validities[b.name], b.validity)
	}
}

func (m *model) opSubscribe() {
	name := m.someName()
	sub := m.r.IntN(2) == 0
	err := m.e.s.Subscribe(m.e.ctx, name, sub)
	m.logf("Subscribe(%q, %v) = %v", name, sub, err)
	b := m.boxes[m.canon(name)]
	if b == nil {
		m.outcome("Subscribe", err, name, mailbox.ErrNotFound)
		return
	}
	m.outcome("Subscribe", err, name)
	b.subscribed = sub
}

// added records a message appended to b with UID u.
func (m *model) added(b *mbox, u uid.UID, body []byte, fs mailbox.Flags, date time.Time) {
	if u <= b.used {
		m.fatalf("append to %q took UID %d; UIDs up to %d were used", b.name, u, b.used)
	}
	b.used = u
	b.msgs = append(b.msgs, &mmsg{uid: u, body: m.e.h.stored(body), flags: fs, date: date, changed: m.step, lo: b.highest})
	m.touched[b] = max(m.touched[b], modRise)
}

func (m *model) opAppend() {
	name := m.someName()
	body, fs, date := m.randBody(), m.randFlags(), m.randDate()
	if m.r.IntN(5) == 0 {
		date = time.Time{}
	}
	u, err := m.e.s.Append(m.e.ctx, name, mailbox.BytesLiteral(body), mailbox.AppendMeta{Flags: fs, InternalDate: date})
	m.logf("Append(%q, %d bytes, (%v)) = %d, %v", name, len(body), fs, u, err)
	b := m.boxes[m.canon(name)]
	if b == nil {
		m.outcome("Append", err, name, mailbox.ErrNotFound)
		return
	}
	m.outcome("Append", err, name)
	if u < b.next {
		m.fatalf("Append(%q) took UID %d, below UIDNEXT %d", name, u, b.next)
	}
	m.added(b, u, body, fs, date)
}

func (m *model) opStoreFlags() {
	name := m.someName()
	b := m.boxes[m.canon(name)]
	set := uid.All
	if b != nil {
		set = m.randSet(b)
	}
	fop := mailbox.FlagOp(m.r.IntN(3))
	fs := m.randFlags()
	err := m.e.s.StoreFlags(m.e.ctx, name, set, fop, fs)
	m.logf("StoreFlags(%q, %v, %v (%v)) = %v", name, set, fop, fs, err)
	if b == nil {
		m.outcome("StoreFlags", err, name, mailbox.ErrNotFound)
		return
	}
	m.outcome("StoreFlags", err, name)
	for _, x := range b.msgs {
		if !set.Contains(x.uid) {
			continue
		}
		if f := fop.Apply(x.flags, fs); !f.Equal(x.flags) {
			x.flags = f
			x.changed, x.lo, x.hi, x.modseq = m.step, b.highest, 0, 0
			m.touched[b] = modRise
		}
	}
}

func (m *model) opExpunge() {
	name := m.someName()
	b := m.boxes[m.canon(name)]
	set := uid.All
	if b != nil {
		set = m.randSet(b)
		if m.r.IntN(4) == 0 && len(b.msgs) > 0 {
			set = uid.SetOf(b.msgs[len(b.msgs)-1].uid) // the highest
		}
	}
	err := m.e.s.Expunge(m.e.ctx, name, set)
	m.logf("Expunge(%q, %v) = %v", name, set, err)
	if b == nil {
		m.outcome("Expunge", err, name, mailbox.ErrNotFound)
		return
	}
	m.outcome("Expunge", err, name)
	b.msgs = slices.DeleteFunc(b.msgs, func(x *mmsg) bool {
		if set.Contains(x.uid) {
			b.gone[x.uid] = m.step
			m.touched[b] = modRise
			return true
		}
		return false
	})
}

func (m *model) opOpen() {
	name := m.someName()
	b := m.boxes[m.canon(name)]
	var want *mmsg
	u := uid.UID(1 + m.r.IntN(10))
	if b != nil && len(b.msgs) > 0 && m.r.IntN(4) != 0 {
		want = b.msgs[m.r.IntN(len(b.msgs))]
		u = want.uid
	} else if b != nil {
		u = b.next + uid.UID(m.r.IntN(3))
		for g := range b.gone {
			u = min(u, g) // an expunged UID, if there is one
		}
	}
	rc, err := m.e.s.Open(m.e.ctx, name, u)
	m.logf("Open(%q, %d) = %v", name, u, err)
	if b == nil {
		m.outcome("Open", err, name, mailbox.ErrNotFound)
		return
	}
	if want == nil {
		m.outcome(fmt.Sprintf("Open(%q, %d)", name, u), err, name, mailbox.ErrNotFound)
		return
	}
	m.outcome("Open", err, name)
	got, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || !bytes.Equal(got, want.body) {
		m.fatalf("Open(%q, %d) reads %s, %v; want %s", name, u, abbrev(got), err, abbrev(want.body))
	}
}

func (m *model) opList() {
	name := m.someName()
	b := m.boxes[m.canon(name)]
	if b == nil {
		_, err := firstErr(m.t, "Messages", m.e.s.Messages(m.e.ctx, name, uid.All))
		m.logf("Messages(%q) = %v", name, err)
		m.outcome("Messages", err, name, mailbox.ErrNotFound)
		return
	}
	set := m.randSet(b)
	m.logf("Messages(%q, %v)", name, set)
	got := m.e.list(name, set)
	var want []*mmsg
	for _, x := range b.msgs {
		if set.Contains(x.uid) {
			want = append(want, x)
		}
	}
	m.compare(b, got, want)
}

func (m *model) opChanges() {
	ct, _ := m.e.tracker()
	name := m.someName()
	b := m.boxes[m.canon(name)]
	if b == nil {
		_, err := firstErr(m.t, "Changes", ct.Changes(m.e.ctx, name, 1, 0))
		m.logf("Changes(%q) = %v", name, err)
		m.outcome("Changes", err, name, mailbox.ErrNotFound)
		return
	}
	if m.r.IntN(10) == 0 {
		v := b.validity + 1 + uid.Validity(m.r.IntN(3))
		_, err := firstErr(m.t, "Changes", ct.Changes(m.e.ctx, name, v, 0))
		m.logf("Changes(%q, validity %d) = %v", name, v, err)
		m.outcome("Changes with a wrong UIDVALIDITY", err, name, mailbox.ErrUIDValidityChanged)
		return
	}
	sn := b.snaps[m.r.IntN(len(b.snaps))]
	if m.r.IntN(4) == 0 {
		sn = b.snaps[len(b.snaps)-1]
	}
	var got []mailbox.Change
	var err error
	for c, err1 := range ct.Changes(m.e.ctx, name, b.validity, sn.h) {
		if err = err1; err != nil {
			break
		}
		if c.Expunged && b.maybeGone[c.UID] {
			continue
		}
		got = append(got, c)
	}
	m.logf("Changes(%q, since %d (step %d)) = %d changes, %v", name, sn.h, sn.step, len(got), err)
	if err != nil && sn.step < m.reopened && errors.Is(err, mailbox.ErrChangesUnavailable) {
		return
	}
	m.outcome("Changes", err, name)
	var want []change
	for _, x := range b.msgs {
		if x.changed > sn.step {
			want = append(want, change{uid: x.uid})
		}
	}
	for u, step := range b.gone {
		if step > sn.step {
			want = append(want, change{u, true})
		}
	}
	slices.SortFunc(want, func(a, b change) int { return cmpUID(a.uid, b.uid) })
	var gs []change
	for _, c := range got {
		gs = append(gs, change{c.UID, c.Expunged})
	}
	if fmt.Sprint(gs) != fmt.Sprint(want) {
		m.fatalf("Changes(%q, since %d, the HighestModSeq after step %d) = %v, want %v", name, sn.h, sn.step, gs, want)
	}
	for _, c := range got {
		if c.Expunged {
			continue
		}
		i := slices.IndexFunc(b.msgs, func(x *mmsg) bool { return x.uid == c.UID })
		if x := b.msgs[i]; !c.Flags.Equal(x.flags) || c.ModSeq <= sn.h {
			m.fatalf("Changes(%q, since %d) gives UID %d with flags (%v), modseq %d; want (%v)", name, sn.h, c.UID, c.Flags, c.ModSeq, x.flags)
		}
	}
}

func (m *model) opAppendUID() {
	us, _ := m.e.setter()
	name := m.someName()
	b := m.boxes[m.canon(name)]
	u := uid.UID(1 + m.r.IntN(20))
	if b != nil {
		u = b.next + uid.UID(m.r.IntN(4))
		if m.r.IntN(4) == 0 {
			u = uid.UID(m.r.IntN(int(b.next))) // below UIDNEXT, maybe 0
		}
	}
	body, fs, date := m.randBody(), m.randFlags(), m.randDate()
	err := us.AppendUID(m.e.ctx, name, u, mailbox.BytesLiteral(body), mailbox.AppendMeta{Flags: fs, InternalDate: date})
	m.logf("AppendUID(%q, %d) = %v", name, u, err)
	switch {
	case b == nil:
		m.outcome("AppendUID", err, name, mailbox.ErrNotFound)
	case u < b.next:
		m.outcome(fmt.Sprintf("AppendUID(%q, %d) below UIDNEXT %d", name, u, b.next), err, name, mailbox.ErrUIDOrder)
	default:
		m.outcome("AppendUID", err, name)
		m.added(b, u, body, fs, date)
		b.wantNext = u + 1
	}
}

func (m *model) opSetUIDNext() {
	us, _ := m.e.setter()
	name := m.someName()
	b := m.boxes[m.canon(name)]
	n := uid.UID(1 + m.r.IntN(20))
	if b != nil {
		n = b.next + uid.UID(m.r.IntN(5))
		if m.r.IntN(3) == 0 {
			n = uid.UID(m.r.IntN(int(b.next)))
		}
	}
	err := us.SetUIDNext(m.e.ctx, name, n)
	m.logf("SetUIDNext(%q, %d) = %v", name, n, err)
	switch {
	case b == nil:
		m.outcome("SetUIDNext", err, name, mailbox.ErrNotFound)
	case n < b.next:
		m.outcome(fmt.Sprintf("SetUIDNext(%q, %d) below %d", name, n, b.next), err, name, mailbox.ErrUIDOrder)
	default:
		m.outcome("SetUIDNext", err, name)
		b.wantNext = n
	}
}

func (m *model) opResetUIDs() {
	us, _ := m.e.setter()
	name := m.someName()
	b := m.boxes[m.canon(name)]
	if b == nil {
		err := us.ResetUIDs(m.e.ctx, name, 5, nil)
		m.logf("ResetUIDs(%q) = %v", name, err)
		m.outcome("ResetUIDs", err, name, mailbox.ErrNotFound)
		return
	}
	v := b.validity + 1 + uid.Validity(m.r.IntN(1000))
	if m.r.IntN(8) == 0 {
		v = b.validity
	}
	// Pair some messages, and maybe a missing source, with new UIDs.
	var um uid.Map
	dsts := m.r.Perm(3*len(b.msgs) + 10)
	for _, x := range b.msgs {
		if m.r.IntN(5) < 3 {
			if err := um.Add(x.uid, uid.UID(dsts[0]+1)); err != nil {
				m.fatalf("Map.Add: %v", err)
			}
			dsts = dsts[1:]
		}
	}
	if m.r.IntN(3) == 0 {
		if err := um.Add(b.used+7, uid.UID(dsts[0]+1)); err != nil {
			m.fatalf("Map.Add: %v", err)
		}
	}
	err := us.ResetUIDs(m.e.ctx, name, v, &um)
	m.logf("ResetUIDs(%q, %d, %d pairs) = %v", name, v, um.Len(), err)
	m.outcome("ResetUIDs", err, name)
	var kept []*mmsg
	for _, x := range b.msgs {
		if d, ok := um.Dst(x.uid); ok {
			x.uid = d
			x.changed, x.lo, x.hi, x.modseq = m.step, b.highest, 0, 0
			kept = append(kept, x)
		}
	}
	slices.SortFunc(kept, func(a, b *mmsg) int { return cmpUID(a.uid, b.uid) })
	b.msgs = kept
	sameValidity := v == b.validity
	b.validity = v
	m.validities[b.name] = append(m.validities[b.name], v)
	next := um.DstSet().Max() + 1
	if sameValidity {
		next = max(next, b.next) // within one UIDVALIDITY, UIDNEXT never goes down
	}
	b.wantNext = next
	b.used = b.wantNext - 1
	b.newEpoch(m.step, 0)
	b.snaps = b.snaps[:1] // the snap after this step comes with check
	m.touched[b] = modAny
	if m.tracking {
		m.touched[b] = modRise
	}
}

func (m *model) opBatch() {
	name := m.someName()
	b := m.boxes[m.canon(name)]
	bt, err := m.e.s.(mailbox.Batcher).Batch(m.e.ctx, name)
	if b == nil {
		m.logf("Batch(%q) = %v", name, err)
		m.outcome("Batch", err, name, mailbox.ErrNotFound)
		return
	}
	m.outcome("Batch", err, name)
	defer bt.Close()
	type added struct {
		u     uid.UID
		body  []byte
		fs    mailbox.Flags
		date  time.Time
		fixed bool
	}
	var adds []added
	next := b.next
	for range 1 + m.r.IntN(3) {
		a := added{body: m.randBody(), fs: m.randFlags(), date: m.randDate()}
		meta := mailbox.AppendMeta{Flags: a.fs, InternalDate: a.date}
		if m.e.h.setter && m.r.IntN(3) == 0 {
			a.u, a.fixed = next+uid.UID(m.r.IntN(3)), true
			m.outcome("Batch.AppendUID", bt.AppendUID(m.e.ctx, a.u, mailbox.BytesLiteral(a.body), meta), name)
		} else {
			a.u, err = bt.Append(m.e.ctx, mailbox.BytesLiteral(a.body), meta)
			m.outcome("Batch.Append", err, name)
			if a.u < next {
				m.fatalf("Batch.Append to %q took UID %d, below %d", name, a.u, next)
			}
		}
		next = a.u + 1
		adds = append(adds, a)
	}
	commit := m.r.IntN(3) != 0
	if commit {
		m.outcome("Batch.Commit", bt.Commit(m.e.ctx), name)
	} else {
		m.outcome("Batch.Close", bt.Close(), name)
	}
	m.logf("Batch(%q): %d appends, commit %v", name, len(adds), commit)
	for _, a := range adds {
		if commit {
			m.added(b, a.u, a.body, a.fs, a.date)
			if a.fixed {
				b.wantNext = a.u + 1
			} else {
				b.wantNext = 0
			}
			continue
		}
		if a.u <= b.used {
			m.fatalf("batch append to %q took UID %d; UIDs up to %d were used", b.name, a.u, b.used)
		}
		b.used = a.u
		b.maybeGone[a.u] = true
		m.touched[b] = max(m.touched[b], modAny)
	}
}

func (m *model) opReopen() {
	m.e.reopen()
	m.logf("Reopen")
	m.reopened = m.step
	for _, b := range m.boxes {
		for _, x := range b.msgs {
			x.lo, x.hi, x.modseq = 0, 0, 0
		}
		m.touched[b] = max(m.touched[b], modAny)
	}
}

// check compares the store with the model after a step.
func (m *model) check() {
	infos := m.e.mailboxes()
	if got, want := names(infos), m.names(); !slices.Equal(got, want) {
		m.fatalf("Mailboxes = %q, want %q", got, want)
	}
	for _, info := range infos {
		b := m.boxes[info.Name]
		switch {
		case info.ID != b.id || info.UIDValidity != b.validity || info.Subscribed != b.subscribed:
			m.fatalf("%q is %+v, want ID %q, UIDVALIDITY %d, subscribed %v", b.name, info, b.id, b.validity, b.subscribed)
		case b.wantNext != 0 && info.UIDNext != b.wantNext:
			m.fatalf("%q has UIDNEXT %d, want %d", b.name, info.UIDNext, b.wantNext)
		case b.wantNext == 0 && (info.UIDNext < b.next || info.UIDNext <= b.used):
			m.fatalf("%q has UIDNEXT %d; it was %d and UID %d is used", b.name, info.UIDNext, b.next, b.used)
		}
		if m.tracking {
			switch h, was := info.HighestModSeq, b.highest; m.touched[b] {
			case modSame:
				if h != was {
					m.fatalf("%q: nothing changed but HighestModSeq went %d → %d", b.name, was, h)
				}
			case modRise:
				if h <= was {
					m.fatalf("%q changed but HighestModSeq went %d → %d", b.name, was, h)
				}
			case modAny:
				if h < was {
					m.fatalf("%q: HighestModSeq went down, %d → %d", b.name, was, h)
				}
			}
			if h := info.HighestModSeq; h != b.snaps[len(b.snaps)-1].h {
				b.snaps = append(b.snaps, snap{step: m.step, h: h})
			}
		} else if info.HighestModSeq != 0 {
			m.fatalf("%q: HighestModSeq %d, from a store that had none", b.name, info.HighestModSeq)
		}
		b.next, b.wantNext, b.highest = info.UIDNext, 0, info.HighestModSeq
		for _, x := range b.msgs {
			if x.hi == 0 {
				x.hi = b.highest
			}
		}
		m.compare(b, m.e.all(b.name), b.msgs)
	}
	clear(m.touched)
}

// compare checks a listing against the model's messages.
func (m *model) compare(b *mbox, got []mailbox.Message, want []*mmsg) {
	if len(got) != len(want) {
		wu := make([]uid.UID, len(want))
		for i, x := range want {
			wu[i] = x.uid
		}
		m.fatalf("%q lists UIDs %v, want %v", b.name, uidsOf(got), wu)
	}
	for i, g := range got {
		x := want[i]
		if d := messageDiff(g, msg{uid: x.uid, body: x.body, flags: x.flags, date: x.date}); d != "" {
			m.fatalf("%q UID %d: %s", b.name, g.UID, d)
		}
		if x.date.IsZero() && (g.InternalDate.IsZero() || g.InternalDate.Nanosecond() != 0) {
			m.fatalf("%q UID %d, appended without a date, has date %v", b.name, g.UID, g.InternalDate)
		}
		if !m.tracking {
			if g.ModSeq != 0 {
				m.fatalf("%q UID %d: modseq %d, from a store without modseqs", b.name, g.UID, g.ModSeq)
			}
			continue
		}
		switch {
		case x.modseq != 0 && g.ModSeq != x.modseq:
			m.fatalf("%q UID %d: modseq %d, was %d and the message has not changed", b.name, g.UID, g.ModSeq, x.modseq)
		case x.modseq == 0 && x.hi != 0 && (g.ModSeq <= x.lo || g.ModSeq > x.hi):
			m.fatalf("%q UID %d: modseq %d, want one in (%d, %d]", b.name, g.UID, g.ModSeq, x.lo, x.hi)
		case x.hi != 0:
			x.modseq = g.ModSeq
		}
	}
}

// checkBodies reads every message back.
func (m *model) checkBodies() {
	for _, n := range m.names() {
		for _, x := range m.boxes[n].msgs {
			if got := m.e.read(n, x.uid); !bytes.Equal(got, x.body) {
				m.fatalf("%q UID %d reads %s, want %s", n, x.uid, abbrev(got), abbrev(x.body))
			}
		}
	}
}

func cmpUID(a, b uid.UID) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
