package mailboxtest

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/mailrepl/mailrepl/mailbox"
	"github.com/mailrepl/mailrepl/uid"
)

func runMailboxes(t *testing.T, h *Harness) {
	t.Run("NewStoreHoldsInbox", func(t *testing.T) {
		e := newEnv(t, h)
		infos := e.mailboxes()
		if len(infos) != 1 || infos[0].Name != mailbox.Inbox {
			t.Fatalf("a new store lists %q, want [INBOX]", names(infos))
		}
		in := infos[0]
		if in.ID == "" || in.UIDValidity == 0 || in.UIDNext == 0 {
			t.Fatalf("INBOX info %+v: want an ID, a UIDVALIDITY and a UIDNEXT", in)
		}
		if st := e.status(mailbox.Inbox); st != in {
			t.Fatalf("Status(INBOX) = %+v, Mailboxes says %+v", st, in)
		}
		if ms := e.all(mailbox.Inbox); len(ms) != 0 {
			t.Fatalf("a new INBOX holds %d messages", len(ms))
		}
	})

	t.Run("InboxInAnyCase", func(t *testing.T) {
		e := newEnv(t, h)
		in := e.status(mailbox.Inbox)
		for _, n := range []string{"inbox", "Inbox", "iNbOx"} {
			if st := e.status(n); st != in {
				t.Fatalf("Status(%q) = %+v, want INBOX's %+v", n, st, in)
			}
			_, err := e.s.Create(e.ctx, n)
			e.wantErr(fmt.Sprintf("Create(%q)", n), err, mailbox.ErrExists, n)
		}
		info := e.create("inbox/Sub")
		if info.Name != "INBOX/Sub" {
			t.Fatalf("Create(inbox/Sub) named it %q, want INBOX/Sub", info.Name)
		}
		if st := e.status("Inbox/Sub"); st.ID != info.ID || st.Name != "INBOX/Sub" {
			t.Fatalf("Status(Inbox/Sub) = %+v, want the mailbox made as %+v", st, info)
		}
		m := e.add("inbox", 1, newMessage(1))
		e.expect("INBOX", m)
		e.wantNames("INBOX", "INBOX/Sub")
	})

	t.Run("Create", func(t *testing.T) {
		e := newEnv(t, h)
		in := e.status(mailbox.Inbox)
		infos := map[string]mailbox.Info{}
		for _, n := range []string{"Work", "Archive", "Work/Projects", "Ärger", "a space"} {
			info := e.create(n)
			if info.Name != n || info.ID == "" || info.UIDValidity == 0 || info.UIDNext == 0 {
				t.Fatalf("Create(%q) = %+v: want the name, an ID, a UIDVALIDITY and a UIDNEXT", n, info)
			}
			if st := e.status(n); st != info {
				t.Fatalf("Status(%q) = %+v, Create returned %+v", n, st, info)
			}
			if info.ID == in.ID {
				t.Fatalf("Create(%q) gave INBOX's ID %q", n, info.ID)
			}
			for m, o := range infos {
				if o.ID == info.ID {
					t.Fatalf("Create(%q) gave the ID of %q: %q", n, m, info.ID)
				}
			}
			if ms := e.all(n); len(ms) != 0 {
				t.Fatalf("new mailbox %q holds %d messages", n, len(ms))
			}
			infos[n] = info
		}
		e.wantNames("INBOX", "Work", "Archive", "Work/Projects", "Ärger", "a space")
		_, err := e.s.Create(e.ctx, "Work")
		e.wantErr("Create(Work) again", err, mailbox.ErrExists, "Work")
		for _, info := range e.mailboxes() {
			if info.Name != mailbox.Inbox && info != infos[info.Name] {
				t.Fatalf("Mailboxes gives %+v, Create gave %+v", info, infos[info.Name])
			}
		}
	})

	t.Run("CreateMakesNoParents", func(t *testing.T) {
		e := newEnv(t, h)
		e.create("A/B/C")
		e.wantNames("INBOX", "A/B/C")
		for _, n := range []string{"A", "A/B"} {
			_, err := e.s.Status(e.ctx, n)
			e.wantErr(fmt.Sprintf("Status(%q)", n), err, mailbox.ErrNotFound, n)
		}
		e.create("A")
		e.create("A/B")
		e.wantNames("INBOX", "A", "A/B", "A/B/C")
	})

	t.Run("Rename", func(t *testing.T) {
		e := newEnv(t, h)
		before := map[string]mailbox.Info{}
		msgs := map[string][]msg{}
		for i, n := range []string{"A", "A/B", "A/B/C", "AB", "A-sibling"} {
			e.create(n)
			msgs[n] = []msg{e.add(n, i, newMessage(i), mailbox.Seen), e.add(n, i+10, newMessage(i+10))}
			e.no("Expunge", e.s.Expunge(e.ctx, n, uid.SetOf(msgs[n][1].uid)))
			msgs[n] = msgs[n][:1]
			before[n] = e.status(n)
		}
		e.no("Subscribe(A/B)", e.s.Subscribe(e.ctx, "A/B", true))
		before["A/B"] = e.status("A/B")
		e.no("Rename(A, X)", e.s.Rename(e.ctx, "A", "X"))
		e.wantNames("INBOX", "X", "X/B", "X/B/C", "AB", "A-sibling")
		for old, now := range map[string]string{"A": "X", "A/B": "X/B", "A/B/C": "X/B/C", "AB": "AB", "A-sibling": "A-sibling"} {
			st := e.status(now)
			want := before[old]
			want.Name = now
			if st.ID != want.ID || st.UIDValidity != want.UIDValidity || st.UIDNext != want.UIDNext ||
				st.Subscribed != want.Subscribed || st.Name != now {
				t.Fatalf("after Rename(A, X), %q is %+v, want %+v", now, st, want)
			}
			e.expect(now, msgs[old]...)
			if old != now {
				_, err := e.s.Status(e.ctx, old)
				e.wantErr(fmt.Sprintf("Status(%q) after rename", old), err, mailbox.ErrNotFound, old)
			}
		}
		// The new name may need no parent, and a mailbox can move up.
		e.no("Rename(X/B/C, Top)", e.s.Rename(e.ctx, "X/B/C", "Top"))
		e.no("Rename(X, Deep/Down/X)", e.s.Rename(e.ctx, "X", "Deep/Down/X"))
		e.wantNames("INBOX", "Top", "Deep/Down/X", "Deep/Down/X/B", "AB", "A-sibling")
		if st := e.status("Top"); st.ID != before["A/B/C"].ID {
			t.Fatalf("Top has ID %q, want A/B/C's %q", st.ID, before["A/B/C"].ID)
		}
		e.expect("Deep/Down/X/B", msgs["A/B"]...)
		// A message appended after the rename takes a UID above the old ones.
		m := e.add("Top", 99, newMessage(99))
		if m.uid < before["A/B/C"].UIDNext {
			t.Fatalf("append after rename took UID %d, below UIDNEXT %d", m.uid, before["A/B/C"].UIDNext)
		}
	})

	t.Run("RenameIntoAndOutOfInbox", func(t *testing.T) {
		e := newEnv(t, h)
		id := e.create("A").ID
		e.no("Rename(A, inbox/A)", e.s.Rename(e.ctx, "A", "inbox/A"))
		e.wantNames("INBOX", "INBOX/A")
		if st := e.status("INBOX/A"); st.ID != id {
			t.Fatalf("INBOX/A has ID %q, want %q", st.ID, id)
		}
		e.no("Rename(Inbox/A, B)", e.s.Rename(e.ctx, "Inbox/A", "B"))
		e.wantNames("INBOX", "B")
	})

	t.Run("RenameErrors", func(t *testing.T) {
		e := newEnv(t, h)
		for _, n := range []string{"A", "A/c", "B/c", "D"} {
			e.create(n)
		}
		m := e.add("A", 1, newMessage(1))
		infos := e.mailboxes()
		for _, tc := range []struct {
			old, new string
			want     error
		}{
			{"Missing", "X", mailbox.ErrNotFound},
			{"B", "X", mailbox.ErrNotFound}, // B/c exists, B does not
			{"INBOX", "X", mailbox.ErrNotAllowed},
			{"inbox", "X", mailbox.ErrNotAllowed},
			{"A", "A/c/d", mailbox.ErrNotAllowed},
			{"A", "A/x", mailbox.ErrNotAllowed},
			{"A", "D", mailbox.ErrExists},
			{"A", "INBOX", mailbox.ErrExists},
			{"A", "A", mailbox.ErrExists},
			{"A", "B", mailbox.ErrExists}, // A/c would become B/c, which exists
			{"D", "inbox", mailbox.ErrExists},
		} {
			err := e.s.Rename(e.ctx, tc.old, tc.new)
			what := fmt.Sprintf("Rename(%q, %q)", tc.old, tc.new)
			if !checkErr(t, what, err, tc.want, "") {
				continue
			}
			if got := e.mailboxes(); !slices.Equal(got, infos) {
				t.Fatalf("after failed %s, Mailboxes = %+v, want %+v", what, got, infos)
			}
		}
		e.expect("A", m)
	})

	t.Run("Delete", func(t *testing.T) {
		e := newEnv(t, h)
		for _, n := range []string{"A", "A/B", "AB"} {
			e.create(n)
		}
		e.add("A/B", 1, newMessage(1))
		e.add("A", 2, newMessage(2))
		err := e.s.Delete(e.ctx, "A")
		e.wantErr("Delete(A) with child A/B", err, mailbox.ErrHasChildren, "A")
		e.wantNames("INBOX", "A", "A/B", "AB")
		e.no("Delete(A/B)", e.s.Delete(e.ctx, "A/B"))
		e.wantNames("INBOX", "A", "AB")
		_, err = e.s.Status(e.ctx, "A/B")
		e.wantErr("Status(A/B) after Delete", err, mailbox.ErrNotFound, "A/B")
		_, err = e.s.Open(e.ctx, "A/B", 1)
		e.wantErr("Open(A/B, 1) after Delete", err, mailbox.ErrNotFound, "A/B")
		e.no("Delete(A)", e.s.Delete(e.ctx, "A"))
		e.wantNames("INBOX", "AB")
		for _, n := range []string{"INBOX", "inbox"} {
			err = e.s.Delete(e.ctx, n)
			e.wantErr(fmt.Sprintf("Delete(%q)", n), err, mailbox.ErrNotAllowed, n)
		}
		err = e.s.Delete(e.ctx, "Missing")
		e.wantErr("Delete(Missing)", err, mailbox.ErrNotFound, "Missing")
		e.wantNames("INBOX", "AB")
	})

	t.Run("RecreateGetsNewIdentity", func(t *testing.T) {
		e := newEnv(t, h)
		seen := map[uid.Validity]bool{}
		ids := map[mailbox.ID]bool{}
		for i := range 3 {
			info := e.create("X")
			if seen[info.UIDValidity] || ids[info.ID] {
				t.Fatalf("X made for the %d. time has UIDVALIDITY %d and ID %q, used before", i+1, info.UIDValidity, info.ID)
			}
			seen[info.UIDValidity], ids[info.ID] = true, true
			if ms := e.all("X"); len(ms) != 0 {
				t.Fatalf("X made again holds UIDs %v", uidsOf(ms))
			}
			e.add("X", i, newMessage(i))
			e.no("Delete(X)", e.s.Delete(e.ctx, "X"))
		}
	})

	t.Run("Subscribe", func(t *testing.T) {
		e := newEnv(t, h)
		e.create("A")
		for _, sub := range []bool{true, true, false, true} {
			e.no("Subscribe", e.s.Subscribe(e.ctx, "A", sub))
			if st := e.status("A"); st.Subscribed != sub {
				t.Fatalf("after Subscribe(A, %v), Status says %v", sub, st.Subscribed)
			}
			infos := e.mailboxes()
			if i := slices.IndexFunc(infos, func(i mailbox.Info) bool { return i.Name == "A" }); infos[i].Subscribed != sub {
				t.Fatalf("after Subscribe(A, %v), Mailboxes says %v", sub, infos[i].Subscribed)
			}
		}
		e.no("Subscribe(inbox)", e.s.Subscribe(e.ctx, "inbox", true))
		if !e.status(mailbox.Inbox).Subscribed {
			t.Fatal("Subscribe(inbox, true) did not subscribe INBOX")
		}
		err := e.s.Subscribe(e.ctx, "Missing", true)
		e.wantErr("Subscribe(Missing)", err, mailbox.ErrNotFound, "Missing")
		e.wantNames("INBOX", "A")
		// A mailbox made again under a subscribed name starts afresh.
		e.no("Delete(A)", e.s.Delete(e.ctx, "A"))
		if e.create("A").Subscribed {
			t.Fatal("a mailbox made again under a subscribed name is subscribed")
		}
	})

	t.Run("MissingMailbox", func(t *testing.T) {
		e := newEnv(t, h)
		const n = "Missing"
		_, err := e.s.Status(e.ctx, n)
		e.wantErr("Status", err, mailbox.ErrNotFound, n)
		_, err = e.s.Append(e.ctx, n, mailbox.BytesLiteral(newMessage(1)), mailbox.AppendMeta{})
		e.wantErr("Append", err, mailbox.ErrNotFound, n)
		_, err = e.s.Open(e.ctx, n, 1)
		e.wantErr("Open", err, mailbox.ErrNotFound, n)
		e.wantErr("StoreFlags", e.s.StoreFlags(e.ctx, n, uid.All, mailbox.FlagsAdd, flags(mailbox.Seen)), mailbox.ErrNotFound, n)
		e.wantErr("Expunge", e.s.Expunge(e.ctx, n, uid.All), mailbox.ErrNotFound, n)
		k, err := firstErr(t, "Messages", e.s.Messages(e.ctx, n, uid.All))
		if k != 0 {
			t.Fatalf("Messages of a missing mailbox yields %d messages", k)
		}
		e.wantErr("Messages", err, mailbox.ErrNotFound, n)
		if c, ok := e.tracker(); ok {
			_, err := firstErr(t, "Changes", c.Changes(e.ctx, n, 1, 0))
			e.wantErr("Changes", err, mailbox.ErrNotFound, n)
		}
		if us, ok := e.setter(); ok {
			e.wantErr("AppendUID", us.AppendUID(e.ctx, n, 5, mailbox.BytesLiteral(newMessage(1)), mailbox.AppendMeta{}), mailbox.ErrNotFound, n)
			e.wantErr("SetUIDNext", us.SetUIDNext(e.ctx, n, 5), mailbox.ErrNotFound, n)
			e.wantErr("ResetUIDs", us.ResetUIDs(e.ctx, n, 5, new(uid.Map)), mailbox.ErrNotFound, n)
		}
		if b, ok := e.s.(mailbox.Batcher); ok {
			_, err := b.Batch(e.ctx, n)
			e.wantErr("Batch", err, mailbox.ErrNotFound, n)
		}
		e.wantNames("INBOX")
	})
}

// unsafeNames are names every store must refuse.
var unsafeNames = []string{
	"", ".", "..", "../x", "a/../b", "a/./b", "a/..", "/abs", "/", "a//b", "a/", "a/.",
	"a\x00b", "\x00", "a\x01b", "tab\there", "new\nline", "cr\rx", "del\x7f", "c1\u0085",
	"\xff", "a\xc3(", "\xed\xa0\x80", // invalid UTF-8, a lone surrogate
	strings.Repeat("x", mailbox.MaxNameLen+1),
}

func runNames(t *testing.T, h *Harness) {
	t.Run("UnsafeRejected", func(t *testing.T) {
		e := newEnv(t, h)
		e.create("Good")
		before := e.mailboxes()
		bad := append(slices.Clone(unsafeNames), h.BadNames...)
		for _, n := range bad {
			checkNameRefused(e, n)
			if t.Failed() {
				t.Fatalf("name %q not refused as it should be", n)
			}
		}
		if got := e.mailboxes(); !slices.Equal(got, before) {
			t.Fatalf("after refusing bad names, Mailboxes = %+v, want %+v", got, before)
		}
	})

	t.Run("Accepted", func(t *testing.T) {
		e := newEnv(t, h)
		good := []string{"Work", "Entwürfe", "日本語", "with space", "a-b_c+d", "Archive/2024",
			"Archive/2024/März", "x", "INBOX/Child", "Sent Items", "...x", "x..", "a b/c d"}
		for _, n := range good {
			if slices.Contains(h.BadNames, n) {
				continue
			}
			info := e.create(n)
			if info.Name != n {
				t.Fatalf("Create(%q) named it %q", n, info.Name)
			}
			m := e.add(n, 1, newMessage(1), mailbox.Seen)
			e.expect(n, m)
		}
		var want []string
		for _, n := range good {
			if !slices.Contains(h.BadNames, n) {
				want = append(want, n)
			}
		}
		e.wantNames(append(want, mailbox.Inbox)...)
	})
}

// checkNameRefused calls every method that takes a mailbox name with n and
// reports each that does not refuse it with ErrInvalidName.
func checkNameRefused(e *env, n string) {
	t, ctx, s := e.t, e.ctx, e.s
	t.Helper()
	lit := func() mailbox.Literal { return mailbox.BytesLiteral(newMessage(1)) }
	w := func(what string) string { return fmt.Sprintf("%s(%q)", what, n) }
	_, err := s.Create(ctx, n)
	checkErr(t, w("Create"), err, mailbox.ErrInvalidName, n)
	_, err = s.Status(ctx, n)
	checkErr(t, w("Status"), err, mailbox.ErrInvalidName, n)
	checkErr(t, w("Rename from"), s.Rename(ctx, n, "Fine"), mailbox.ErrInvalidName, "")
	checkErr(t, w("Rename to"), s.Rename(ctx, "Good", n), mailbox.ErrInvalidName, "")
	checkErr(t, w("Delete"), s.Delete(ctx, n), mailbox.ErrInvalidName, n)
	checkErr(t, w("Subscribe"), s.Subscribe(ctx, n, true), mailbox.ErrInvalidName, n)
	_, err = s.Append(ctx, n, lit(), mailbox.AppendMeta{})
	checkErr(t, w("Append"), err, mailbox.ErrInvalidName, n)
	_, err = firstErr(t, w("Messages"), s.Messages(ctx, n, uid.All))
	checkErr(t, w("Messages"), err, mailbox.ErrInvalidName, n)
	_, err = s.Open(ctx, n, 1)
	checkErr(t, w("Open"), err, mailbox.ErrInvalidName, n)
	checkErr(t, w("StoreFlags"), s.StoreFlags(ctx, n, uid.All, mailbox.FlagsAdd, flags(mailbox.Seen)), mailbox.ErrInvalidName, n)
	checkErr(t, w("Expunge"), s.Expunge(ctx, n, uid.All), mailbox.ErrInvalidName, n)
	if c, ok := e.tracker(); ok {
		_, err := firstErr(t, w("Changes"), c.Changes(ctx, n, 1, 0))
		checkErr(t, w("Changes"), err, mailbox.ErrInvalidName, n)
	}
	if us, ok := e.setter(); ok {
		checkErr(t, w("AppendUID"), us.AppendUID(ctx, n, 7, lit(), mailbox.AppendMeta{}), mailbox.ErrInvalidName, n)
		checkErr(t, w("SetUIDNext"), us.SetUIDNext(ctx, n, 7), mailbox.ErrInvalidName, n)
		checkErr(t, w("ResetUIDs"), us.ResetUIDs(ctx, n, 7, new(uid.Map)), mailbox.ErrInvalidName, n)
	}
	if b, ok := s.(mailbox.Batcher); ok {
		_, err := b.Batch(ctx, n)
		checkErr(t, w("Batch"), err, mailbox.ErrInvalidName, n)
	}
}
