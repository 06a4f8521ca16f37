package mailboxtest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/mailrepl/mailrepl/mailbox"
	"github.com/mailrepl/mailrepl/uid"
)

func runConcurrency(t *testing.T, h *Harness) {
	t.Run("ManyAppenders", func(t *testing.T) {
		const goroutines, each = 8, 50
		e := newEnv(t, h)
		e.create("Busy")
		var (
			wg    sync.WaitGroup
			uids  [goroutines][each]uid.UID
			errs  = make(chan error, goroutines+1)
			stop  = make(chan struct{})
			lists sync.WaitGroup
		)
		// A reader lists the mailbox all the while: every listing must be
		// in ascending order.
		lists.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				var last uid.UID
				for m, err := range e.s.Messages(e.ctx, "Busy", uid.All) {
					if err != nil {
						errs <- fmt.Errorf("Messages during appends: %w", err)
						return
					}
					if m.UID <= last {
						errs <- fmt.Errorf("Messages during appends yields UID %d after %d", m.UID, last)
						return
					}
					last = m.UID
				}
			}
		})
		for g := range goroutines {
			wg.Go(func() {
				for i := range each {
					body := newMessage(1000*g + i)
					u, err := e.s.Append(e.ctx, "Busy", mailbox.BytesLiteral(body), mailbox.AppendMeta{InternalDate: baseDate})
					if err != nil {
						errs <- fmt.Errorf("goroutine %d, append %d: %w", g, i, err)
						return
					}
					uids[g][i] = u
				}
			})
		}
		wg.Wait()
		close(stop)
		lists.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		var want []msg
		owner := map[uid.UID]string{}
		for g := range goroutines {
			for i, u := range uids[g] {
				who := fmt.Sprintf("goroutine %d append %d", g, i)
				if o, dup := owner[u]; dup {
					t.Fatalf("UID %d given twice: to %s and %s", u, o, who)
				}
				if i > 0 && u <= uids[g][i-1] {
					t.Fatalf("%s took UID %d after its UID %d", who, u, uids[g][i-1])
				}
				owner[u] = who
				want = append(want, msg{uid: u, body: newMessage(1000*g + i), date: baseDate})
			}
		}
		slices.SortFunc(want, func(a, b msg) int { return int(a.uid) - int(b.uid) })
		e.expect("Busy", want...)
	})

	t.Run("ManyMailboxes", func(t *testing.T) {
		// Goroutines each work on their own mailbox while others list the
		// store; the race detector watches.
		const goroutines = 6
		e := newEnv(t, h)
		var wg sync.WaitGroup
		errs := make(chan error, goroutines*4)
		for g := range goroutines {
			wg.Go(func() {
				name := fmt.Sprintf("G%d", g)
				if err := e.work(name, g); err != nil {
					errs <- fmt.Errorf("%s: %w", name, err)
				}
				if _, err := e.s.Mailboxes(e.ctx); err != nil {
					errs <- err
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		var want []string
		for g := range goroutines {
			want = append(want, fmt.Sprintf("G%d-done", g))
		}
		e.wantNames(append(want, mailbox.Inbox)...)
		for g := range goroutines {
			got := e.all(fmt.Sprintf("G%d-done", g))
			if len(got) != 5 || !got[0].Flags.Has(mailbox.Seen) || got[1].Flags.Has(mailbox.Seen) {
				t.Fatalf("G%d-done holds %v, want 5 messages, the first one seen", g, got)
			}
		}
	})
}

// work creates a mailbox, changes it in every way and renames it to
// name+"-done", returning the first error.
func (e *env) work(name string, g int) error {
	ctx, s := e.ctx, e.s
	if _, err := s.Create(ctx, name); err != nil {
		return err
	}
	var uids []uid.UID
	for i := range 10 {
		u, err := s.Append(ctx, name, mailbox.BytesLiteral(newMessage(100*g+i)), mailbox.AppendMeta{})
		if err != nil {
			return err
		}
		uids = append(uids, u)
	}
	if err := s.StoreFlags(ctx, name, uid.SetOf(uids[0], uids[7]), mailbox.FlagsAdd, flags(mailbox.Seen)); err != nil {
		return err
	}
	if err := s.Expunge(ctx, name, uid.SetOf(uids[1:6]...)); err != nil {
		return err
	}
	for _, err := range s.Messages(ctx, name, uid.All) {
		if err != nil {
			return err
		}
	}
	if err := s.Subscribe(ctx, name, true); err != nil {
		return err
	}
	return s.Rename(ctx, name, name+"-done")
}

// longMailbox makes a mailbox of n messages, through a batch if the store
// has batches.
func (e *env) longMailbox(name string, n int) {
	e.t.Helper()
	e.create(name)
	if b, ok := e.s.(mailbox.Batcher); ok {
		bt, err := b.Batch(e.ctx, name)
		e.no("Batch", err)
		for i := range n {
			_, err := bt.Append(e.ctx, mailbox.BytesLiteral(newMessage(i)), mailbox.AppendMeta{})
			e.no("Batch.Append", err)
		}
		e.no("Commit", bt.Commit(e.ctx))
		return
	}
	for i := range n {
		_, err := e.s.Append(e.ctx, name, mailbox.BytesLiteral(newMessage(i)), mailbox.AppendMeta{})
		e.no("Append", err)
	}
}

// interrupted runs a listing, calls stop after the tenth item, and
// checks that the next item is an error wrapping want and the last.
func interrupted[V any](e *env, what string, seq func(func(V, error) bool), stop func(), want error, name string) {
	e.t.Helper()
	n, after := 0, 0
	var got error
	seq(func(_ V, err error) bool {
		switch {
		case got != nil:
			after++
			return false
		case err != nil:
			got = err
			return true
		}
		if n++; n == 10 {
			stop()
		}
		return true
	})
	if n != 10 || after != 0 {
		e.t.Fatalf("%s: %d items before the error, %d after; want 10 and none", what, n, after)
	}
	e.wantErr(what, got, want, name)
}

func runContext(t *testing.T, h *Harness) {
	t.Run("CancelStopsListing", func(t *testing.T) {
		e := newEnv(t, h)
		e.longMailbox("Long", 300)
		ctx, cancel := context.WithCancel(e.ctx)
		defer cancel()
		interrupted(e, "Messages cancelled after 10", e.s.Messages(ctx, "Long", uid.All), cancel, context.Canceled, "Long")
		if c, ok := e.tracker(); ok {
			ctx, cancel := context.WithCancel(e.ctx)
			defer cancel()
			v := e.status("Long").UIDValidity
			interrupted(e, "Changes cancelled after 10", c.Changes(ctx, "Long", v, 0), cancel, context.Canceled, "Long")
			// Expunged UIDs are listed one by one too.
			e.no("Expunge", e.s.Expunge(e.ctx, "Long", uid.All))
			ctx, cancel = context.WithCancel(e.ctx)
			defer cancel()
			interrupted(e, "Changes of expunges cancelled after 10", c.Changes(ctx, "Long", v, 0), cancel, context.Canceled, "Long")
		}
	})

	t.Run("CancelledBefore", func(t *testing.T) {
		e := newEnv(t, h)
		e.addN(mailbox.Inbox, 3)
		ctx, cancel := context.WithCancel(e.ctx)
		cancel()
		n, err := firstErr(t, "Messages", e.s.Messages(ctx, mailbox.Inbox, uid.All))
		if n != 0 {
			t.Fatalf("Messages with a cancelled context yields %d messages", n)
		}
		e.wantErr("Messages with a cancelled context", err, context.Canceled, mailbox.Inbox)
		if c, ok := e.tracker(); ok {
			n, err := firstErr(t, "Changes", c.Changes(ctx, mailbox.Inbox, e.status(mailbox.Inbox).UIDValidity, 0))
			if n != 0 {
				t.Fatalf("Changes with a cancelled context yields %d changes", n)
			}
			e.wantErr("Changes with a cancelled context", err, context.Canceled, mailbox.Inbox)
		}
	})
}

func runClosed(t *testing.T, h *Harness) {
	t.Run("EveryMethod", func(t *testing.T) {
		e := newEnv(t, h)
		e.create("A")
		m := e.add("A", 1, newMessage(1))
		var bt mailbox.Batch
		if b, ok := e.s.(mailbox.Batcher); ok {
			var err error
			bt, err = b.Batch(e.ctx, "A")
			e.no("Batch", err)
			defer bt.Close()
		}
		e.no("Close", e.s.Close())
		ctx, s := e.ctx, e.s
		lit := mailbox.BytesLiteral(newMessage(2))
		closed := func(what string, err error) {
			t.Helper()
			checkErr(t, what+" after Close", err, mailbox.ErrClosed, "")
		}
		_, err := s.Mailboxes(ctx)
		closed("Mailboxes", err)
		_, err = s.Status(ctx, "A")
		closed("Status", err)
		_, err = firstErr(t, "Messages", s.Messages(ctx, "A", uid.All))
		closed("Messages", err)
		_, err = s.Open(ctx, "A", m.uid)
		closed("Open", err)
		_, err = s.Create(ctx, "B")
		closed("Create", err)
		closed("Rename", s.Rename(ctx, "A", "B"))
		closed("Delete", s.Delete(ctx, "A"))
		closed("Subscribe", s.Subscribe(ctx, "A", true))
		_, err = s.Append(ctx, "A", lit, mailbox.AppendMeta{})
		closed("Append", err)
		closed("StoreFlags", s.StoreFlags(ctx, "A", uid.All, mailbox.FlagsAdd, flags(mailbox.Seen)))
		closed("Expunge", s.Expunge(ctx, "A", uid.All))
		closed("Close", s.Close())
		if c, ok := e.tracker(); ok {
			_, err := firstErr(t, "Changes", c.Changes(ctx, "A", 1, 0))
			closed("Changes", err)
		}
		if us, ok := e.setter(); ok {
			closed("AppendUID", us.AppendUID(ctx, "A", 100, lit, mailbox.AppendMeta{}))
			closed("SetUIDNext", us.SetUIDNext(ctx, "A", 100))
			closed("ResetUIDs", us.ResetUIDs(ctx, "A", 7, new(uid.Map)))
		}
		if b, ok := e.s.(mailbox.Batcher); ok {
			_, err := b.Batch(ctx, "A")
			closed("Batch", err)
			_, err = bt.Append(ctx, lit, mailbox.AppendMeta{})
			closed("Batch.Append", err)
			closed("Batch.Commit", bt.Commit(ctx))
		}
	})

	t.Run("CloseStopsListing", func(t *testing.T) {
		e := newEnv(t, h)
		e.longMailbox("Long", 300)
		stop := func() {
			if err := e.s.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		}
		interrupted(e, "Messages when the store closes", e.s.Messages(e.ctx, "Long", uid.All), stop, mailbox.ErrClosed, "")
	})

	if !h.tracker {
		return
	}
	t.Run("CloseStopsChanges", func(t *testing.T) {
		e := newEnv(t, h)
		c, _ := e.tracker()
		e.longMailbox("Long", 300)
		v := e.status("Long").UIDValidity
		stop := func() { e.no("Close", e.s.Close()) }
		interrupted(e, "Changes when the store closes", c.Changes(e.ctx, "Long", v, 0), stop, mailbox.ErrClosed, "")
	})
}

func runPersist(t *testing.T, h *Harness) {
	t.Run("Everything", func(t *testing.T) {
		e := newEnv(t, h)
		e.create("A")
		e.create("A/B")
		e.create("Ünïcode")
		want := map[string][]msg{}
		for i, n := range []string{mailbox.Inbox, "A", "A/B", "Ünïcode"} {
			fs := append([]mailbox.Flag{mailbox.Seen, "$Tag"}, h.PrivateFlags...)
			ms := []msg{e.add(n, i, newMessage(i), fs...), e.add(n, i+10, bodyCase("BareCR")), e.add(n, i+20, newMessage(i+20))}
			e.no("Expunge", e.s.Expunge(e.ctx, n, uid.SetOf(ms[1].uid)))
			want[n] = []msg{ms[0], ms[2]}
		}
		e.no("Subscribe", e.s.Subscribe(e.ctx, "A/B", true))
		if us, ok := e.setter(); ok {
			e.no("SetUIDNext", us.SetUIDNext(e.ctx, "A", 1000))
		}
		before := e.mailboxes()
		e.reopen()
		after := e.mailboxes()
		if len(after) != len(before) {
			t.Fatalf("after Reopen, Mailboxes = %q, want %q", names(after), names(before))
		}
		for i, a := range after {
			b := before[i]
			if a.HighestModSeq < b.HighestModSeq {
				t.Fatalf("after Reopen, %q has HighestModSeq %d, was %d", a.Name, a.HighestModSeq, b.HighestModSeq)
			}
			a.HighestModSeq = b.HighestModSeq
			if a != b {
				t.Fatalf("after Reopen, Mailboxes gives %+v, was %+v", a, b)
			}
		}
		for n, ms := range want {
			e.expect(n, ms...)
		}
	})

	t.Run("UIDsNotReused", func(t *testing.T) {
		e := newEnv(t, h)
		ms := e.addN(mailbox.Inbox, 3)
		e.no("Expunge highest", e.s.Expunge(e.ctx, mailbox.Inbox, uid.SetOf(ms[2].uid)))
		next := e.status(mailbox.Inbox).UIDNext
		e.reopen()
		if n := e.status(mailbox.Inbox).UIDNext; n < next {
			t.Fatalf("after Reopen, UIDNEXT is %d, was %d", n, next)
		}
		m := e.add(mailbox.Inbox, 4, newMessage(4))
		if m.uid <= ms[2].uid {
			t.Fatalf("after Reopen, Append took UID %d; %d was used and expunged", m.uid, ms[2].uid)
		}
		e.expect(mailbox.Inbox, ms[0], ms[1], m)
		e.reopen()
		e.no("Expunge all", e.s.Expunge(e.ctx, mailbox.Inbox, uid.All))
		e.reopen()
		if n := e.add(mailbox.Inbox, 5, newMessage(5)); n.uid <= m.uid {
			t.Fatalf("after expunging all and Reopen, Append took UID %d; %d was used", n.uid, m.uid)
		}
	})

	t.Run("RecreateAfterReopen", func(t *testing.T) {
		e := newEnv(t, h)
		old := e.create("X")
		e.add("X", 1, newMessage(1))
		e.no("Delete", e.s.Delete(e.ctx, "X"))
		e.reopen()
		info := e.create("X")
		if info.UIDValidity == old.UIDValidity || info.ID == old.ID {
			t.Fatalf("X deleted, the store reopened, X made again: %+v; the old X was %+v", info, old)
		}
	})

	if !h.tracker {
		return
	}
	t.Run("ChangesAfterReopen", func(t *testing.T) {
		e := newEnv(t, h)
		var sinces []mailbox.ModSeq
		ms := e.addN(mailbox.Inbox, 4)
		sinces = append(sinces, e.status(mailbox.Inbox).HighestModSeq)
		e.no("StoreFlags", e.s.StoreFlags(e.ctx, mailbox.Inbox, uid.SetOf(ms[1].uid), mailbox.FlagsAdd, flags(mailbox.Seen)))
		sinces = append(sinces, e.status(mailbox.Inbox).HighestModSeq)
		e.no("Expunge", e.s.Expunge(e.ctx, mailbox.Inbox, uid.SetOf(ms[2].uid)))
		v := e.status(mailbox.Inbox).UIDValidity
		want := map[mailbox.ModSeq][]mailbox.Change{}
		for _, since := range append(sinces, 0) {
			want[since] = e.changes(mailbox.Inbox, v, since)
		}
		e.reopen()
		c, _ := e.tracker()
		for since, w := range want {
			var got []mailbox.Change
			var err error
			for ch, err1 := range c.Changes(e.ctx, mailbox.Inbox, v, since) {
				if err = err1; err != nil {
					break
				}
				got = append(got, ch)
			}
			switch {
			case errors.Is(err, mailbox.ErrChangesUnavailable):
				continue
			case err != nil:
				t.Fatalf("after Reopen, Changes(since %d): %v", since, err)
			case fmt.Sprint(got) != fmt.Sprint(w):
				t.Fatalf("after Reopen, Changes(since %d) = %v, was %v", since, got, w)
			}
		}
	})
}
