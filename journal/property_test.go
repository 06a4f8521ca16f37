package journal

import (
	"cmp"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/mailrepl/mailrepl/mailbox"
	"github.com/mailrepl/mailrepl/uid"
	"github.com/stretchr/testify/require"
)

// logModel is the change log as a plain Go value: what the journal must
// answer.
type logModel struct {
	events  []Event // every event ever appended; Seq is index+1
	trunc   Seq
	cursors map[string]Seq
	dirty   map[string]UserMailbox // by user + mailbox key
}

func (m *logModel) last() Seq { return Seq(len(m.events)) }

func dirtyKey(user string, id mailbox.ID, name string) string {
	if id != "" {
		return user + "\x00i" + string(id)
	}
	return user + "\x00n" + name
}

func (m *logModel) append(evs []Event) {
	for _, e := range evs {
		e.Seq = m.last() + 1
		m.events = append(m.events, e)
		mark := func(id mailbox.ID, name string) {
			u := UserMailbox{User: e.User, MailboxID: id, Mailbox: name, Seq: e.Seq, Deleted: e.Kind == KindDelete}
			if id != "" {
				u.Mailbox = e.Mailbox
			}
			m.dirty[dirtyKey(e.User, id, name)] = u
		}
		mark(e.MailboxID, e.Mailbox)
		if e.Kind == KindRename && e.MailboxID == "" && e.OldName != e.Mailbox {
			mark("", e.OldName)
		}
	}
}

func (m *logModel) truncate() {
	if len(m.cursors) == 0 {
		return
	}
	low := slices.Min(slices.Collect(maps.Values(m.cursors)))
	m.trunc = max(m.trunc, low)
}

func randomEvent(rng *rand.Rand) Event {
	users := []string{"alice", "bob", ""}
	names := []string{"INBOX", "Work", "Junk", "a/b"}
	kinds := []EventKind{KindAppend, KindFlags, KindExpunge, KindCreate, KindRename, KindDelete, KindSubscribe, KindUIDValidity}
	e := Event{Kind: kinds[rng.IntN(len(kinds))], User: users[rng.IntN(len(users))], Mailbox: names[rng.IntN(len(names))]}
	if rng.IntN(3) > 0 {
		e.MailboxID = mailbox.ID("id-" + e.Mailbox)
	}
	if e.Kind == KindRename {
		e.OldName = names[rng.IntN(len(names))]
	}
	if rng.IntN(2) == 0 {
		e.UIDs = uid.SetOf(uid.UID(1+rng.IntN(50)), uid.UID(1+rng.IntN(50)))
	}
	return e
}

// TestLogProperties runs random appends, cursor moves, truncations and
// reopenings against the model, checking Events, Cursor and Dirty after
// each step.
func TestLogProperties(t *testing.T) {
	seed := testSeed(t)
	rng := newRand(seed)
	steps := 1000
	if *longFlag {
		steps = 5000
	}
	fs := vfs.NewMem()
	opts := &Options{NoSync: true, Now: fixedClock()}
	j, err := open("db", fs, opts, currentFormat)
	require.NoError(t, err)
	defer func() { require.NoError(t, j.Close()) }()
	m := &logModel{cursors: map[string]Seq{}, dirty: map[string]UserMailbox{}}
	cursorNames := []string{"x", "y", "z"}

	for step := range steps {
		what := ""
		switch op := rng.IntN(20); {
		case op < 8:
			evs := make([]Event, 1+rng.IntN(4))
			for i := range evs {
				evs[i] = randomEvent(rng)
			}
			what = fmt.Sprintf("append %d", len(evs))
			last, err := j.Append(bg, evs...)
			require.NoError(t, err, what)
			m.append(evs)
			require.Equal(t, m.last(), last, what)
		case op < 11:
			// Events and a cursor move in one batch.
			evs := []Event{randomEvent(rng)}
			name := cursorNames[rng.IntN(len(cursorNames))]
			s := Seq(rng.Int64N(int64(m.last()) + 2))
			what = fmt.Sprintf("batch: 1 event, cursor %s→%d", name, s)
			b := j.NewBatch()
			b.Append(evs...)
			b.SetCursor(name, s)
			_, err := b.Commit(bg)
			if s > m.last()+1 {
				require.ErrorIs(t, err, ErrInvalid, what)
			} else {
				require.NoError(t, err, what)
				m.append(evs)
				m.cursors[name] = s
			}
		case op < 14:
			name := cursorNames[rng.IntN(len(cursorNames))]
			s := Seq(rng.Int64N(int64(m.last()) + 1))
			what = fmt.Sprintf("cursor %s→%d", name, s)
			require.NoError(t, j.SetCursor(bg, name, s), what)
			m.cursors[name] = s
		case op < 15:
			name := cursorNames[rng.IntN(len(cursorNames))]
			what = "delete cursor " + name
			require.NoError(t, j.DeleteCursor(bg, name), what)
			delete(m.cursors, name)
		case op < 18:
			what = "truncate"
			got, err := j.Truncate(bg)
			require.NoError(t, err, what)
			m.truncate()
			require.Equal(t, m.trunc, got, what)
		default:
			what = "reopen"
			require.NoError(t, j.Close())
			j, err = open("db", fs, opts, currentFormat)
			require.NoError(t, err)
		}
		what = fmt.Sprintf("step %d (%s)", step, what)
		checkLog(t, j, m, rng, what)
	}
}

func checkLog(t *testing.T, j *Journal, m *logModel, rng *rand.Rand, what string) {
	t.Helper()
	require.Equal(t, m.last(), j.LastSeq(), what)
	require.Equal(t, m.trunc, j.Truncated(), what)
	for _, name := range []string{"x", "y", "z"} {
		s, found, err := j.Cursor(name)
		require.NoError(t, err)
		ms, mfound := m.cursors[name]
		require.Equal(t, mfound, found, "%s: cursor %s", what, name)
		require.Equal(t, ms, s, "%s: cursor %s", what, name)
	}
	// Events after a random point.
	after := Seq(rng.Int64N(int64(m.last()) + 2))
	var got []Event
	var gotErr error
	for e, err := range j.Events(bg, after) {
		if err != nil {
			gotErr = err
			break
		}
		got = append(got, e)
	}
	if after < m.trunc {
		require.ErrorIs(t, gotErr, ErrTruncated, "%s: events after %d", what, after)
	} else {
		require.NoError(t, gotErr, "%s: events after %d", what, after)
		var want []Event
		if after < m.last() {
			want = m.events[after:]
		}
		require.Len(t, got, len(want), "%s: events after %d", what, after)
		for i := range want {
			w, g := want[i], got[i]
			require.Equal(t, w.Seq, g.Seq, what)
			require.Equal(t, w.Kind, g.Kind, what)
			require.Equal(t, w.User, g.User, what)
			require.Equal(t, w.MailboxID, g.MailboxID, what)
			require.Equal(t, w.Mailbox, g.Mailbox, what)
			require.Equal(t, w.OldName, g.OldName, what)
			require.True(t, w.UIDs.Equal(g.UIDs), what)
		}
	}
	// Dirty since a random point (it stays complete below truncation).
	since := Seq(rng.Int64N(int64(m.last()) + 2))
	var dirty []UserMailbox
	for d, err := range j.Dirty(bg, since) {
		require.NoError(t, err, what)
		dirty = append(dirty, d)
	}
	require.True(t, slices.IsSortedFunc(dirty, func(a, b UserMailbox) int { return cmp.Compare(a.Seq, b.Seq) }), "%s: dirty in seq order", what)
	var want []UserMailbox
	for _, d := range m.dirty {
		if d.Seq > since {
			want = append(want, d)
		}
	}
	order := func(a, b UserMailbox) int {
		return cmp.Or(cmp.Compare(a.Seq, b.Seq), cmp.Compare(dirtyKey(a.User, a.MailboxID, a.Mailbox), dirtyKey(b.User, b.MailboxID, b.Mailbox)))
	}
	slices.SortFunc(want, order)
	slices.SortFunc(dirty, order)
	require.Equal(t, want, dirty, "%s: dirty since %d", what, since)
}

// stateModel is the sync state of one pair as plain Go maps.
type stateModel struct {
	entries map[mailbox.ID]map[uid.UID]Entry
	headers map[mailbox.ID]uid.UID // UIDNext as the header's mark
}

// TestStateProperties runs random batches of entry puts and deletes,
// header puts, mailbox deletes and resets against the model, including
// batches that break the one-to-one pairing (which must fail whole).
func TestStateProperties(t *testing.T) {
	seed := testSeed(t)
	rng := newRand(seed)
	steps := 600
	if *longFlag {
		steps = 3000
	}
	fs := vfs.NewMem()
	opts := &Options{NoSync: true, Now: fixedClock()}
	j, err := open("db", fs, opts, currentFormat)
	require.NoError(t, err)
	defer func() { require.NoError(t, j.Close()) }()
	mboxes := []mailbox.ID{"a", "b", "c"}
	m := &stateModel{entries: map[mailbox.ID]map[uid.UID]Entry{}, headers: map[mailbox.ID]uid.UID{}}
	for _, mb := range mboxes {
		m.entries[mb] = map[uid.UID]Entry{}
	}

	for step := range steps {
		what := fmt.Sprintf("step %d", step)
		if rng.IntN(25) == 0 {
			what += " reset"
			require.NoError(t, j.Reset(bg, "p"))
			for _, mb := range mboxes {
				m.entries[mb] = map[uid.UID]Entry{}
			}
			clear(m.headers)
		} else {
			// Apply the batch's changes to a copy of the model; keep
			// the copy if the pairing stays one to one.
			next := &stateModel{entries: map[mailbox.ID]map[uid.UID]Entry{}, headers: maps.Clone(m.headers)}
			for mb, es := range m.entries {
				next.entries[mb] = maps.Clone(es)
			}
			b := j.NewBatch()
			ok := true
			for range 1 + rng.IntN(8) {
				mb := mboxes[rng.IntN(len(mboxes))]
				switch op := rng.IntN(12); {
				case op < 7:
					e := Entry{SrcUID: uid.UID(1 + rng.IntN(30)), DstUID: uid.UID(1 + rng.IntN(30)),
						EmailID: emailID(rng.IntN(1000)), Flags: mailbox.MustFlags(mailbox.Seen)}
					b.PutEntry("p", mb, e)
					for src, other := range next.entries[mb] {
						if other.DstUID == e.DstUID && src != e.SrcUID {
							ok = false
						}
					}
					next.entries[mb][e.SrcUID] = e
				case op < 10:
					src := uid.UID(1 + rng.IntN(30))
					b.DeleteEntry("p", mb, src)
					delete(next.entries[mb], src)
				case op < 11:
					n := uid.UID(1 + rng.IntN(100))
					b.PutHeader("p", Header{Src: Side{MailboxID: mb, UIDNext: n}})
					next.headers[mb] = n
				default:
					b.DeleteMailboxState("p", mb)
					next.entries[mb] = map[uid.UID]Entry{}
					delete(next.headers, mb)
				}
			}
			_, err := b.Commit(bg)
			if ok {
				require.NoError(t, err, what)
				m = next
			} else {
				require.ErrorIs(t, err, ErrInvalid, what)
			}
		}
		if rng.IntN(30) == 0 {
			require.NoError(t, j.Close())
			j, err = open("db", fs, opts, currentFormat)
			require.NoError(t, err)
		}
		for _, mb := range mboxes {
			want := slices.SortedFunc(maps.Values(m.entries[mb]), func(a, b Entry) int { return cmp.Compare(a.SrcUID, b.SrcUID) })
			got := collect(t, j.State(bg, "p", mb))
			require.Equal(t, len(want), len(got), "%s: %s", what, mb)
			for i := range want {
				require.Equal(t, want[i].SrcUID, got[i].SrcUID, what)
				require.Equal(t, want[i].DstUID, got[i].DstUID, what)
				require.Equal(t, want[i].EmailID, got[i].EmailID, what)
			}
			slices.SortFunc(want, func(a, b Entry) int { return cmp.Compare(a.DstUID, b.DstUID) })
			byDst := collect(t, j.StateByDst(bg, "p", mb))
			require.Equal(t, len(want), len(byDst), "%s: %s by target UID", what, mb)
			for i := range want {
				require.Equal(t, want[i].SrcUID, byDst[i].SrcUID, what)
				require.Equal(t, want[i].DstUID, byDst[i].DstUID, what)
			}
			d := uid.UID(1 + rng.IntN(30))
			e, found, err := j.EntryByDst("p", mb, d)
			require.NoError(t, err)
			_, wantFound := slices.BinarySearchFunc(want, d, func(e Entry, d uid.UID) int { return cmp.Compare(e.DstUID, d) })
			require.Equal(t, wantFound, found, "%s: %s target UID %d", what, mb, d)
			if found {
				require.Equal(t, m.entries[mb][e.SrcUID], e)
			}
			h, found, err := j.Header("p", mb)
			require.NoError(t, err)
			n, wantFound := m.headers[mb]
			require.Equal(t, wantFound, found, what)
			require.Equal(t, n, h.Src.UIDNext, what)
		}
	}
}
