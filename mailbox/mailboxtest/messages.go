package mailboxtest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"testing"
	"testing/iotest"
	"time"

	"github.com/mailrepl/mailrepl/mailbox"
	"github.com/mailrepl/mailrepl/uid"
)

func runMessages(t *testing.T, h *Harness) {
	t.Run("AppendAndList", func(t *testing.T) {
		e := newEnv(t, h)
		e.create("Work")
		var want []msg
		for i := range 5 {
			want = append(want, e.add("Work", i, newMessage(i), mailbox.Seen))
		}
		e.expect("Work", want...)
		e.expect(mailbox.Inbox)
		// INBOX's UIDs are its own.
		m := e.add(mailbox.Inbox, 9, newMessage(9))
		e.expect(mailbox.Inbox, m)
		e.expect("Work", want...)
	})

	t.Run("ListSubsets", func(t *testing.T) {
		e := newEnv(t, h)
		ms := e.addN(mailbox.Inbox, 6)
		e.no("Expunge", e.s.Expunge(e.ctx, mailbox.Inbox, uid.SetOf(ms[2].uid)))
		u := func(i int) uid.UID { return ms[i].uid }
		top := e.status(mailbox.Inbox).UIDNext
		for _, tc := range []struct {
			set  uid.Set
			want []uid.UID
		}{
			{uid.All, []uid.UID{u(0), u(1), u(3), u(4), u(5)}},
			{nil, nil},
			{uid.SetOf(u(1), u(4)), []uid.UID{u(1), u(4)}},
			{uid.NewSet(uid.Range{Start: u(1), Stop: u(3)}), []uid.UID{u(1), u(3)}},
			{uid.SetOf(u(2)), nil},
			{uid.NewSet(uid.Range{Start: u(4), Stop: uid.Max}), []uid.UID{u(4), u(5)}},
			{uid.NewSet(uid.Range{Start: top, Stop: uid.Max}), nil},
			{uid.SetOf(u(0), top+5, top+100), []uid.UID{u(0)}},
			{uid.SetOf(uid.Max), nil},
		} {
			got := uidsOf(e.list(mailbox.Inbox, tc.set))
			if !slices.Equal(got, tc.want) {
				t.Errorf("Messages(INBOX, %v) = UIDs %v, want %v", tc.set, got, tc.want)
			}
		}
	})

	t.Run("ListStopsEarly", func(t *testing.T) {
		e := newEnv(t, h)
		e.addN(mailbox.Inbox, 3)
		n := 0
		for _, err := range e.s.Messages(e.ctx, mailbox.Inbox, uid.All) {
			e.no("Messages", err)
			n++
			break
		}
		if n != 1 {
			t.Fatalf("loop ran %d times", n)
		}
		if got := len(e.all(mailbox.Inbox)); got != 3 {
			t.Fatalf("after an early stop, INBOX lists %d messages, want 3", got)
		}
	})

	t.Run("InternalDate", func(t *testing.T) {
		e := newEnv(t, h)
		zone := time.FixedZone("UTC+5:30", 5*3600+1800)
		dates := []time.Time{
			time.Date(2001, 9, 9, 1, 46, 40, 999_999_999, time.UTC),
			time.Date(2024, 2, 29, 23, 59, 59, 500_000_000, zone),
			time.Date(1999, 12, 31, 23, 59, 59, 0, time.FixedZone("", -8*3600)),
		}
		var want []msg
		for i, d := range dates {
			body := newMessage(i)
			u, err := e.s.Append(e.ctx, mailbox.Inbox, mailbox.BytesLiteral(body), mailbox.AppendMeta{InternalDate: d})
			e.no("Append", err)
			want = append(want, msg{uid: u, body: e.h.stored(body), date: d})
		}
		e.expect(mailbox.Inbox, want...)
		u, err := e.s.Append(e.ctx, mailbox.Inbox, mailbox.BytesLiteral(newMessage(9)), mailbox.AppendMeta{})
		e.no("Append without a date", err)
		got := e.list(mailbox.Inbox, uid.SetOf(u))
		if len(got) != 1 || got[0].InternalDate.IsZero() || got[0].InternalDate.Nanosecond() != 0 {
			t.Fatalf("a message appended without a date is listed as %v, want a date to the second", got)
		}
	})

	t.Run("UIDsNeverReused", func(t *testing.T) {
		e := newEnv(t, h)
		used := map[uid.UID]bool{}
		last := uid.UID(0)
		next := e.status(mailbox.Inbox).UIDNext
		add := func(n int) msg {
			m := e.add(mailbox.Inbox, n, newMessage(n))
			if used[m.uid] || m.uid <= last {
				t.Fatalf("append %d took UID %d; UIDs used before: up to %d", n, m.uid, last)
			}
			used[m.uid], last = true, m.uid
			return m
		}
		checkNext := func(what string) {
			t.Helper()
			n := e.status(mailbox.Inbox).UIDNext
			if n < next || n <= last {
				t.Fatalf("after %s UIDNEXT is %d; it was %d and UID %d was used", what, n, next, last)
			}
			next = n
		}
		a, b, c := add(1), add(2), add(3)
		checkNext("appends")
		e.no("Expunge highest", e.s.Expunge(e.ctx, mailbox.Inbox, uid.SetOf(c.uid)))
		checkNext("expunging the highest UID")
		d := add(4)
		checkNext("append")
		e.no("Expunge all", e.s.Expunge(e.ctx, mailbox.Inbox, uid.All))
		checkNext("expunging everything")
		e.expect(mailbox.Inbox)
		f := add(5)
		checkNext("append")
		e.expect(mailbox.Inbox, f)
		_, _, _ = a, b, d
	})

	t.Run("Expunge", func(t *testing.T) {
		e := newEnv(t, h)
		ms := e.addN(mailbox.Inbox, 5)
		e.no("Expunge", e.s.Expunge(e.ctx, mailbox.Inbox, uid.SetOf(ms[1].uid, ms[3].uid)))
		e.expect(mailbox.Inbox, ms[0], ms[2], ms[4])
		_, err := e.s.Open(e.ctx, mailbox.Inbox, ms[1].uid)
		e.wantUIDErr("Open of an expunged UID", err, mailbox.ErrNotFound, mailbox.Inbox, ms[1].uid)
		// Missing UIDs and empty sets are skipped, not errors.
		e.no("Expunge again", e.s.Expunge(e.ctx, mailbox.Inbox, uid.SetOf(ms[1].uid, ms[3].uid)))
		e.no("Expunge of nothing", e.s.Expunge(e.ctx, mailbox.Inbox, nil))
		e.no("Expunge above UIDNEXT", e.s.Expunge(e.ctx, mailbox.Inbox, uid.SetOf(ms[4].uid+1000)))
		e.expect(mailbox.Inbox, ms[0], ms[2], ms[4])
		// \Deleted does not expunge.
		e.no("StoreFlags", e.s.StoreFlags(e.ctx, mailbox.Inbox, uid.SetOf(ms[0].uid), mailbox.FlagsAdd, flags(mailbox.Deleted)))
		ms[0].flags = flags(mailbox.Deleted)
		e.expect(mailbox.Inbox, ms[0], ms[2], ms[4])
		e.no("Expunge all", e.s.Expunge(e.ctx, mailbox.Inbox, uid.All))
		e.expect(mailbox.Inbox)
	})

	t.Run("OpenErrors", func(t *testing.T) {
		e := newEnv(t, h)
		m := e.add(mailbox.Inbox, 1, newMessage(1))
		for _, u := range []uid.UID{m.uid + 1, m.uid + 1000, uid.Max} {
			_, err := e.s.Open(e.ctx, "inbox", u)
			e.wantUIDErr(fmt.Sprintf("Open(inbox, %d)", u), err, mailbox.ErrNotFound, "inbox", u)
		}
		_, err := e.s.Open(e.ctx, mailbox.Inbox, 0)
		e.wantErr("Open(INBOX, 0)", err, mailbox.ErrNotFound, mailbox.Inbox)
	})

	t.Run("BadLiterals", func(t *testing.T) {
		e := newEnv(t, h)
		body := newMessage(1)
		cause := errors.New("mailboxtest: the disk caught fire")
		for _, tc := range []struct {
			name string
			lit  func() mailbox.Literal
			want error
		}{
			{"Empty", func() mailbox.Literal { return mailbox.BytesLiteral(nil) }, mailbox.ErrInvalidMessage},
			{"EmptyReader", func() mailbox.Literal { return mailbox.NewLiteral(bytes.NewReader(nil), 10) }, mailbox.ErrInvalidMessage},
			{"Short", func() mailbox.Literal { return mailbox.NewLiteral(bytes.NewReader(body), int64(len(body))+1) }, mailbox.ErrInvalidMessage},
			{"Long", func() mailbox.Literal { return mailbox.NewLiteral(bytes.NewReader(body), int64(len(body))-1) }, mailbox.ErrInvalidMessage},
			{"NegativeSize", func() mailbox.Literal { return mailbox.NewLiteral(bytes.NewReader(body), -1) }, mailbox.ErrInvalidMessage},
			{"ReaderFails", func() mailbox.Literal {
				return mailbox.NewLiteral(io.MultiReader(bytes.NewReader(body[:10]), iotest.ErrReader(cause)), int64(len(body)))
			}, cause},
			{"ReaderFailsAtEnd", func() mailbox.Literal {
				return mailbox.NewLiteral(io.MultiReader(bytes.NewReader(body), iotest.ErrReader(cause)), int64(len(body)))
			}, cause},
		} {
			_, err := e.s.Append(e.ctx, mailbox.Inbox, tc.lit(), mailbox.AppendMeta{})
			checkErr(t, "Append of literal "+tc.name, err, tc.want, mailbox.Inbox)
			if us, ok := e.setter(); ok {
				err := us.AppendUID(e.ctx, mailbox.Inbox, e.status(mailbox.Inbox).UIDNext+5, tc.lit(), mailbox.AppendMeta{})
				checkErr(t, "AppendUID of literal "+tc.name, err, tc.want, mailbox.Inbox)
			}
		}
		e.expect(mailbox.Inbox)
		m := e.add(mailbox.Inbox, 1, body)
		e.expect(mailbox.Inbox, m)
	})

	t.Run("WrongEmailID", func(t *testing.T) {
		e := newEnv(t, h)
		body := newMessage(1)
		wrong := mailbox.EmailIDOf(newMessage(2))
		u, err := e.s.Append(e.ctx, mailbox.Inbox, mailbox.BytesLiteral(body), mailbox.AppendMeta{EmailID: wrong})
		if err != nil {
			// A store that checks refuses the append and stores nothing.
			e.wantErr("Append with a wrong EmailID", err, mailbox.ErrCorrupt, mailbox.Inbox)
			e.expect(mailbox.Inbox)
		} else {
			// A store that does not check must not take the caller's word.
			e.expect(mailbox.Inbox, msg{uid: u, body: e.h.stored(body)})
		}
		right := mailbox.EmailIDOf(body)
		u, err = e.s.Append(e.ctx, mailbox.Inbox, mailbox.BytesLiteral(body), mailbox.AppendMeta{EmailID: right})
		e.no("Append with the right EmailID", err)
		got := e.list(mailbox.Inbox, uid.SetOf(u))
		if len(got) != 1 || (!got[0].EmailID.IsZero() && got[0].EmailID != right) {
			t.Fatalf("listed as %v, want EmailID %s", got, right.Short())
		}
	})
}

func runFlags(t *testing.T, h *Harness) {
	t.Run("SetAddRemove", func(t *testing.T) {
		e := newEnv(t, h)
		ms := e.addN(mailbox.Inbox, 4)
		ms = append(ms, e.add(mailbox.Inbox, 10, newMessage(10), mailbox.Seen, "$Forwarded"))
		all := uid.All
		some := uid.SetOf(ms[0].uid, ms[2].uid, ms[4].uid, ms[4].uid+100) // one missing UID
		steps := []struct {
			set uid.Set
			op  mailbox.FlagOp
			fs  mailbox.Flags
		}{
			{some, mailbox.FlagsAdd, flags(mailbox.Flagged)},
			{all, mailbox.FlagsAdd, flags(mailbox.Seen, mailbox.Answered)},
			{some, mailbox.FlagsRemove, flags(mailbox.Seen, "$Forwarded")},
			{all, mailbox.FlagsRemove, flags(mailbox.Draft)},
			{uid.SetOf(ms[1].uid), mailbox.FlagsReplace, flags(mailbox.Draft, mailbox.Deleted, "Work")},
			{some, mailbox.FlagsReplace, mailbox.Flags{}},
			{all, mailbox.FlagsAdd, flags(mailbox.Answered, mailbox.Deleted, mailbox.Draft, mailbox.Flagged, mailbox.Seen)},
			{nil, mailbox.FlagsReplace, mailbox.Flags{}},
			{all, mailbox.FlagsRemove, flags(mailbox.Answered, mailbox.Deleted, mailbox.Draft, mailbox.Flagged, mailbox.Seen, "Work")},
		}
		for _, st := range steps {
			e.no(fmt.Sprintf("StoreFlags(%v %v %v)", st.set, st.op, st.fs), e.s.StoreFlags(e.ctx, mailbox.Inbox, st.set, st.op, st.fs))
			for i := range ms {
				if st.set.Contains(ms[i].uid) {
					ms[i].flags = st.op.Apply(ms[i].flags, st.fs)
				}
			}
			e.expect(mailbox.Inbox, ms...)
		}
	})

	t.Run("Keywords", func(t *testing.T) {
		e := newEnv(t, h)
		a := e.add(mailbox.Inbox, 1, newMessage(1), "$MyTag", "$Junk")
		b := e.add(mailbox.Inbox, 2, newMessage(2))
		e.expect(mailbox.Inbox, a, b)
		spelled := func(u uid.UID, kw mailbox.Flag) {
			t.Helper()
			got := e.list(mailbox.Inbox, uid.SetOf(u))
			if !slices.Contains(got[0].Flags.List(), kw) {
				t.Fatalf("UID %d has flags (%v), want the keyword spelled %q", u, got[0].Flags, kw)
			}
		}
		spelled(a.uid, "$MyTag")
		// The same keyword in another case changes nothing.
		e.no("StoreFlags +$mytag", e.s.StoreFlags(e.ctx, mailbox.Inbox, uid.SetOf(a.uid), mailbox.FlagsAdd, flags("$mytag")))
		e.expect(mailbox.Inbox, a, b)
		spelled(a.uid, "$MyTag")
		// Another message gets the mailbox's spelling or its own; either
		// way it is the same flag.
		e.no("StoreFlags +$MYTAG", e.s.StoreFlags(e.ctx, mailbox.Inbox, uid.SetOf(b.uid), mailbox.FlagsAdd, flags("$MYTAG", "NonJunk")))
		b.flags = flags("$MyTag", "NonJunk")
		e.expect(mailbox.Inbox, a, b)
		e.no("StoreFlags -$JUNK", e.s.StoreFlags(e.ctx, mailbox.Inbox, uid.All, mailbox.FlagsRemove, flags("$JUNK", "$mytag")))
		a.flags, b.flags = mailbox.Flags{}, flags("NonJunk")
		e.expect(mailbox.Inbox, a, b)
		// Keywords are per message, and separate from system flags.
		e.no("StoreFlags =Seen $Forwarded", e.s.StoreFlags(e.ctx, mailbox.Inbox, uid.SetOf(a.uid), mailbox.FlagsReplace, flags(mailbox.Seen, "$Forwarded")))
		a.flags = flags(mailbox.Seen, "$Forwarded")
		e.expect(mailbox.Inbox, a, b)
	})

	t.Run("PrivateFlags", func(t *testing.T) {
		e := newEnv(t, h)
		for i, pf := range h.PrivateFlags {
			m := e.add(mailbox.Inbox, i, newMessage(i), pf, mailbox.Seen)
			e.expect(mailbox.Inbox, m)
			e.no("StoreFlags -"+string(pf), e.s.StoreFlags(e.ctx, mailbox.Inbox, uid.SetOf(m.uid), mailbox.FlagsRemove, flags(pf)))
			m.flags = flags(mailbox.Seen)
			e.expect(mailbox.Inbox, m)
			e.no("StoreFlags +"+string(pf), e.s.StoreFlags(e.ctx, mailbox.Inbox, uid.SetOf(m.uid), mailbox.FlagsAdd, flags(pf, "Work")))
			m.flags = flags(pf, mailbox.Seen, "Work")
			e.expect(mailbox.Inbox, m)
			e.no("StoreFlags =", e.s.StoreFlags(e.ctx, mailbox.Inbox, uid.SetOf(m.uid), mailbox.FlagsReplace, flags("Work")))
			m.flags = flags("Work")
			e.expect(mailbox.Inbox, m)
			e.no("Expunge", e.s.Expunge(e.ctx, mailbox.Inbox, uid.All))
		}
		// A private flag the store does not keep is dropped or refused.
		other := mailbox.Flag("%MailboxtestOnly")
		if slices.Contains(h.PrivateFlags, other) {
			return
		}
		fs := flags(other, mailbox.Seen)
		u, err := e.s.Append(e.ctx, mailbox.Inbox, mailbox.BytesLiteral(newMessage(9)), mailbox.AppendMeta{Flags: fs})
		if err != nil {
			e.wantErr("Append with an unknown private flag", err, mailbox.ErrInvalidFlag, mailbox.Inbox)
			e.expect(mailbox.Inbox)
			return
		}
		got := e.list(mailbox.Inbox, uid.SetOf(u))[0].Flags
		if !got.Has(mailbox.Seen) || !got.Minus(fs).IsEmpty() {
			t.Fatalf("appended with (%v), listed with (%v)", fs, got)
		}
	})
}

// bodyCases are messages that must round-trip byte for byte.
func bodyCases() []struct {
	name string
	body []byte
} {
	big := make([]byte, 0, 3<<20)
	r := rand.New(rand.NewPCG(1, 2))
	big = append(big, "Subject: big\r\n\r\n"...)
	for len(big) < 3<<20-100 {
		n := r.IntN(120)
		for range n {
			big = append(big, byte(' '+r.IntN(95)))
		}
		big = append(big, '\r', '\n')
	}
	return []struct {
		name string
		body []byte
	}{
		{"CRLF", newMessage(1)},
		{"LF", bytes.ReplaceAll(newMessage(2), []byte("\r\n"), []byte("\n"))},
		{"MixedEndings", []byte("Subject: mixed\r\nX: lf\n\nline one\r\nline two\n")},
		{"BareCR", []byte("Subject: cr\r\n\r\nold Mac\rline\r\rend\r\n")},
		{"TrailingCR", []byte("Subject: cr at end\r\n\r\nbody\r")},
		{"NoFinalNewline", []byte("Subject: no newline\r\n\r\nlast line")},
		{"OneByte", []byte("x")},
		{"HeaderOnly", []byte("Subject: only a header\r\n")},
		{"EightBit", []byte("Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe?=\r\nContent-Transfer-Encoding: 8bit\r\n\r\nGrüße, ÄÖÜ \xe9t\xe9 \xff\xfe\x80\r\n")},
		{"LeadingBlankLines", []byte("\r\n\r\nFrom: nobody\r\n\r\nx\r\n")},
		{"ThreeMB", big},
	}
}

func bodyCase(name string) []byte {
	for _, c := range bodyCases() {
		if c.name == name {
			return c.body
		}
	}
	panic("mailboxtest: no body case " + name)
}

func runBodies(t *testing.T, h *Harness) {
	t.Run("RoundTrip", func(t *testing.T) {
		e := newEnv(t, h)
		var want []msg
		for i, c := range bodyCases() {
			m := e.add(mailbox.Inbox, i, c.body)
			want = append(want, m)
			if b := e.read(mailbox.Inbox, m.uid); !bytes.Equal(b, e.h.stored(c.body)) {
				t.Fatalf("%s: Open gives %s, appended %s", c.name, abbrev(b), abbrev(c.body))
			}
		}
		e.expect(mailbox.Inbox, want...)
	})

	t.Run("AppendCopiesTheBytes", func(t *testing.T) {
		e := newEnv(t, h)
		buf := newMessage(1)
		orig := bytes.Clone(buf)
		m := e.add(mailbox.Inbox, 1, buf)
		for i := range buf {
			buf[i] = 'X'
		}
		m.body = orig
		e.expect(mailbox.Inbox, m)
	})

	t.Run("SlowReaders", func(t *testing.T) {
		e := newEnv(t, h)
		body := bodyCase("EightBit")
		var want []msg
		for i, r := range []io.Reader{
			iotest.OneByteReader(bytes.NewReader(body)),
			iotest.HalfReader(bytes.NewReader(body)),
			iotest.DataErrReader(bytes.NewReader(body)),
		} {
			u, err := e.s.Append(e.ctx, mailbox.Inbox, mailbox.NewLiteral(r, int64(len(body))), mailbox.AppendMeta{})
			e.no(fmt.Sprintf("Append from reader %d", i), err)
			want = append(want, msg{uid: u, body: e.h.stored(body)})
		}
		e.expect(mailbox.Inbox, want...)
	})

	t.Run("EmailIDIgnoresLineEndings", func(t *testing.T) {
		e := newEnv(t, h)
		crlf := newMessage(1)
		lf := bytes.ReplaceAll(crlf, []byte("\r\n"), []byte("\n"))
		a := e.add(mailbox.Inbox, 1, crlf)
		b := e.add(mailbox.Inbox, 2, lf)
		e.expect(mailbox.Inbox, a, b)
		got := e.all(mailbox.Inbox)
		if got[0].EmailID != got[1].EmailID {
			t.Fatalf("the CRLF copy has EmailID %s, the LF copy %s", got[0].EmailID.Short(), got[1].EmailID.Short())
		}
		ida, _, err := mailbox.ComputeEmailID(bytes.NewReader(e.read(mailbox.Inbox, a.uid)))
		e.no("ComputeEmailID", err)
		idb, _, err := mailbox.ComputeEmailID(bytes.NewReader(e.read(mailbox.Inbox, b.uid)))
		e.no("ComputeEmailID", err)
		if ida != idb || ida != mailbox.EmailIDOf(crlf) {
			t.Fatalf("bodies read back have EmailIDs %s and %s, want %s", ida.Short(), idb.Short(), mailbox.EmailIDOf(crlf).Short())
		}
	})
}
