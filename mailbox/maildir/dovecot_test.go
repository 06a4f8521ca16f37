package maildir

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mailrepl/mailrepl/internal/dovecottest"
	"github.com/mailrepl/mailrepl/mailbox"
	"github.com/mailrepl/mailrepl/uid"
)

// Interop with a real Dovecot, through IMAP on 127.0.0.1 (the issue's
// tests a, b and c). As root, the tests write with modes Dovecot's
// unprivileged user can read, and hand it the tree (Chown) before it
// writes.

var interopOpts = &Options{FileMode: 0o644, DirMode: 0o755}

// imapFlags is how Dovecot shows our flags: system flags and keywords,
// no private flags.
func imapFlags(fl mailbox.Flags) []string {
	var out []string
	for f := range fl.All() {
		if !f.IsPrivate() {
			out = append(out, strings.ToLower(string(f)))
		}
	}
	slices.Sort(out)
	return out
}

func lower(flags []string) []string {
	out := make([]string, len(flags))
	for i, f := range flags {
		out[i] = strings.ToLower(f)
	}
	slices.Sort(out)
	return out
}

// crlf writes every line ending as CRLF, as an IMAP server sends it.
func crlf(b []byte) []byte {
	var out bytes.Buffer
	for i, c := range b {
		if c == '\n' && (i == 0 || b[i-1] != '\r') {
			out.WriteByte('\r')
		}
		out.WriteByte(c)
	}
	return out.Bytes()
}

// compareWithDovecot checks that Dovecot serves mailbox name exactly as
// our store lists it.
func compareWithDovecot(t *testing.T, s *Store, c *dovecottest.Client, name string) {
	t.Helper()
	ctx := context.Background()
	info, err := s.Status(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	sel, err := c.Select(encodeUTF7Levels(name))
	if err != nil {
		t.Fatalf("SELECT %s: %v", name, err)
	}
	if sel.UIDValidity != uint32(info.UIDValidity) || sel.UIDNext != uint32(info.UIDNext) {
		t.Errorf("%s: Dovecot says UIDVALIDITY %d UIDNEXT %d, we say %d %d", name, sel.UIDValidity, sel.UIDNext, info.UIDValidity, info.UIDNext)
	}
	theirs, err := c.UIDFetch("1:*", dovecottest.FetchItemsBody)
	if err != nil {
		t.Fatal(err)
	}
	ours := list(t, s, name)
	if len(theirs) != len(ours) {
		t.Fatalf("%s: Dovecot has %d messages, we list %d", name, len(theirs), len(ours))
	}
	for i, m := range ours {
		d := theirs[i]
		body := readMsg(t, s, name, m.UID)
		switch {
		case d.UID != uint32(m.UID):
			t.Errorf("%s: message %d: Dovecot UID %d, ours %d", name, i, d.UID, m.UID)
		case !slices.Equal(lower(d.Flags), imapFlags(m.Flags)):
			t.Errorf("%s uid %d: Dovecot flags %q, ours %q", name, m.UID, d.Flags, m.Flags)
		case d.Size != int64(len(crlf(body))):
			t.Errorf("%s uid %d: RFC822.SIZE %d, our body has %d with CRLF", name, m.UID, d.Size, len(crlf(body)))
		case !d.InternalDate.Equal(m.InternalDate.Truncate(time.Second)):
			t.Errorf("%s uid %d: INTERNALDATE %v, ours %v", name, m.UID, d.InternalDate, m.InternalDate)
		case !bytes.Equal(d.Body, crlf(body)):
			t.Errorf("%s uid %d: Dovecot serves %q, we have %q", name, m.UID, d.Body, body)
		case !m.EmailID.IsZero() && mailbox.EmailIDOf(d.Body) != m.EmailID:
			t.Errorf("%s uid %d: EmailID of Dovecot's bytes %s, ours %s", name, m.UID, mailbox.EmailIDOf(d.Body).Short(), m.EmailID.Short())
		}
	}
	// Reading the bodies filled the EmailID cache.
	for _, m := range list(t, s, name) {
		if m.EmailID.IsZero() {
			t.Errorf("%s uid %d: no EmailID after reading the body", name, m.UID)
		}
	}
}

// TestDovecotServesWhatWeWrite is test (a): what our store appended,
// flagged, keyworded and expunged is what Dovecot serves.
func TestDovecotServesWhatWeWrite(t *testing.T) {
	ctx := context.Background()
	root := filepath.Join(t.TempDir(), "mail")
	s := openTest(t, root, interopOpts)
	srv := dovecottest.Start(t, dovecottest.Config{MailRoot: root})
	for _, n := range []string{"Work", "Work/Été", "a&b"} {
		if _, err := s.Create(ctx, n); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Subscribe(ctx, "Work/Été", true); err != nil {
		t.Fatal(err)
	}
	date := time.Date(2023, 5, 6, 7, 8, 9, 123456789, time.UTC)
	msgs := []struct {
		body  string
		flags []mailbox.Flag
	}{
		{"Subject: plain\n\nLF line endings\n", nil},
		{"Subject: crlf\r\n\r\nCRLF line endings\r\n", []mailbox.Flag{mailbox.Seen}},
		{"Subject: mixed\n\nmixed\r\nendings\nno final newline", []mailbox.Flag{mailbox.Flagged, mailbox.Answered, "$Forwarded", "Work"}},
		{"Subject: passed\n\nP and a private letter\n", []mailbox.Flag{mailbox.Passed, "%Maildir-X", mailbox.Draft}},
		{"Subject: gone\n\nto be expunged\n", []mailbox.Flag{mailbox.Deleted}},
		{"Subject: more\n\nkeywords\n", []mailbox.Flag{"kw1", "kw2", "kw3"}},
		{"Subject: bare CR\n\nold\rMac\rline\rends\n", []mailbox.Flag{mailbox.Seen}},
	}
	for _, box := range []string{"INBOX", "Work/Été", "a&b"} {
		for i, m := range msgs {
			if _, err := s.Append(ctx, box, mailbox.BytesLiteral([]byte(m.body)), mailbox.AppendMeta{
				Flags: mailbox.MustFlags(m.flags...), InternalDate: date.Add(time.Duration(i) * time.Hour),
			}); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.StoreFlags(ctx, box, uid.MustParseSet("1:2"), mailbox.FlagsAdd, mailbox.MustFlags(mailbox.Flagged, "Later")); err != nil {
			t.Fatal(err)
		}
		if err := s.StoreFlags(ctx, box, uid.MustParseSet("3"), mailbox.FlagsRemove, mailbox.MustFlags("$Forwarded")); err != nil {
			t.Fatal(err)
		}
		if err := s.Expunge(ctx, box, uid.MustParseSet("5")); err != nil {
			t.Fatal(err)
		}
	}
	// A batch, too.
	b, err := s.Batch(ctx, "Work")
	if err != nil {
		t.Fatal(err)
	}
	for i := range 4 {
		if _, err := b.Append(ctx, mailbox.BytesLiteral(fmt.Appendf(nil, "Subject: batch %d\n\nx\n", i)), mailbox.AppendMeta{InternalDate: date}); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	srv.Chown(t)
	c := srv.Login(t)
	for _, box := range []string{"INBOX", "Work", "Work/Été", "a&b"} {
		compareWithDovecot(t, s, c, box)
	}
	// Dovecot keeps the letters it does not know (P, X) when a client
	// changes flags.
	if _, err := c.Select("INBOX"); err != nil {
		t.Fatal(err)
	}
	if err := c.UIDStore("4", "+FLAGS", `\Answered`); err != nil {
		t.Fatal(err)
	}
	if got := list(t, s, "INBOX")[3]; got.UID != 4 || !got.Flags.Equal(mailbox.MustFlags(mailbox.Passed, "%Maildir-X", mailbox.Draft, mailbox.Answered)) {
		t.Errorf("after Dovecot's STORE: %v", got)
	}
	lsub, err := c.List(true)
	if err != nil {
		t.Fatal(err)
	}
	if len(lsub) != 1 || lsub[0].Name != "Work/&AMk-t&AOk-" {
		t.Errorf("LSUB = %v", lsub)
	}
	if t.Failed() {
		t.Log(srv.Log())
	}
}

// TestWeReadWhatDovecotWrites is test (b): what a client did through
// Dovecot our store reads with the same UIDs and flags.
func TestWeReadWhatDovecotWrites(t *testing.T) {
	ctx := context.Background()
	root := filepath.Join(t.TempDir(), "mail")
	srv := dovecottest.Start(t, dovecottest.Config{MailRoot: root})
	c := srv.Login(t)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(c.Create("Lists/Go"))
	must(c.Create("&AMk-t&AOk-"))
	must(c.Subscribe("&AMk-t&AOk-"))
	date := time.Date(2022, 2, 3, 4, 5, 6, 0, time.FixedZone("", 3600))
	for _, box := range []string{"INBOX", "Lists/Go", "&AMk-t&AOk-"} {
		for i := range 6 {
			flags := [][]string{nil, {`\Seen`}, {`\Answered`, "$Forwarded"}, {`\Draft`, "Todo"}, {`\Flagged`, `\Seen`, "Todo", "Other"}, {`\Deleted`}}[i]
			msg := fmt.Appendf(nil, "From: a@example.org\r\nSubject: %s %d\r\n\r\nbody %d\r\n", box, i, i)
			if _, _, err := c.Append(box, flags, date.Add(time.Duration(i)*time.Minute), msg); err != nil {
				t.Fatal(err)
			}
		}
		_, err := c.Select(box)
		must(err)
		must(c.UIDStore("2:3", "+FLAGS", `\Flagged`, "Later"))
		must(c.UIDStore("4", "-FLAGS", "Todo"))
		must(c.UIDStore("1,6", "+FLAGS", `\Deleted`))
		must(c.Expunge())
	}
	must(c.Rename("Lists", "Archive"))

	s := openTest(t, root, &Options{ReadOnly: true})
	infos, err := s.Mailboxes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, in := range infos {
		names = append(names, in.Name)
		if in.Subscribed != (in.Name == "Été") {
			t.Errorf("%s: subscribed %v", in.Name, in.Subscribed)
		}
	}
	if want := []string{"Archive/Go", "INBOX", "Été"}; !slices.Equal(names, want) {
		t.Errorf("Mailboxes = %q, want %q", names, want)
	}
	for _, box := range []string{"INBOX", "Archive/Go", "Été"} {
		st, err := c.Status(encodeUTF7Levels(box))
		if err != nil {
			t.Fatal(err)
		}
		info, err := s.Status(ctx, box)
		if err != nil || uint32(info.UIDValidity) != st.UIDValidity || uint32(info.UIDNext) != st.UIDNext {
			t.Errorf("%s: our status %+v (%v), Dovecot's %+v", box, info, err, st)
		}
		compareWithDovecot(t, s, c, box)
	}
}

// TestUIDsForNewFilesAsDovecot checks that files delivered straight into
// new/ and cur/ (as an MDA or another program does) get from our store the
// UIDs Dovecot gives them.
func TestUIDsForNewFilesAsDovecot(t *testing.T) {
	dir := t.TempDir()
	ours, theirs := filepath.Join(dir, "ours"), filepath.Join(dir, "theirs")
	names := []struct{ sub, name string }{
		{"new", "1700000005.M1P10.host"},
		{"new", "1700000001.M900P10.host,S=9"},
		{"cur", "1700000001.M80P10.host:2,S"},
		{"cur", "1700000001.M80P9.host:2,"},
		{"new", "1600000000.M5P1.other"},
		{"cur", "42:2,F"},
	}
	for _, root := range []string{ours, theirs} {
		for _, sub := range []string{"cur", "new", "tmp"} {
			os.MkdirAll(filepath.Join(root, sub), 0o755)
		}
		for i, n := range names {
			body := fmt.Sprintf("Subject: %d\n\nx%d\n", i, i)
			if strings.Contains(n.name, "S=9") {
				body = "Subject:\n"
			}
			os.WriteFile(filepath.Join(root, n.sub, n.name), []byte(body), 0o644)
		}
	}
	srv := dovecottest.Start(t, dovecottest.Config{MailRoot: theirs})
	c := srv.Login(t)
	if _, err := c.Select("INBOX"); err != nil {
		t.Fatal(err)
	}
	theirMsgs, err := c.UIDFetch("1:*", dovecottest.FetchItemsBody)
	if err != nil {
		t.Fatal(err)
	}
	s := openTest(t, ours, interopOpts)
	ourMsgs := list(t, s, "INBOX")
	if len(ourMsgs) != len(theirMsgs) {
		t.Fatalf("we list %d, Dovecot %d", len(ourMsgs), len(theirMsgs))
	}
	for i, m := range ourMsgs {
		body := readMsg(t, s, "INBOX", m.UID)
		if theirMsgs[i].UID != uint32(m.UID) || !bytes.Equal(theirMsgs[i].Body, crlf(body)) {
			t.Errorf("UID %d: we have %q, Dovecot has UID %d %q", m.UID, body, theirMsgs[i].UID, theirMsgs[i].Body)
		}
	}
}

// TestConcurrentAppendsWithDovecot is test (c): our appends and Dovecot's
// appends at the same time on one folder lose nothing and give no UID
// twice.
func TestConcurrentAppendsWithDovecot(t *testing.T) {
	ctx := context.Background()
	root := filepath.Join(t.TempDir(), "mail")
	s := openTest(t, root, interopOpts)
	if _, err := s.Create(ctx, "Shared"); err != nil {
		t.Fatal(err)
	}
	// Dovecot, as another user, needs the directories it writes in.
	if err := os.Mkdir(filepath.Join(root, "tmp"), 0o755); err != nil {
		t.Fatal(err)
	}
	srv := dovecottest.Start(t, dovecottest.Config{MailRoot: root})
	const n = 24
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		uidOf    = map[string]uint32{} // body → UID it was given
		failures []error
	)
	record := func(body string, u uint32, err error) {
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			failures = append(failures, err)
			return
		}
		uidOf[body] = u
	}
	for _, box := range []string{"INBOX", "Shared"} {
		wg.Add(2)
		go func() {
			defer wg.Done()
			for i := 0; i < n; i += 4 {
				// Batches of 2 and single appends, alternately.
				if i%8 == 0 {
					b, err := s.Batch(ctx, box)
					if err != nil {
						record("", 0, err)
						return
					}
					var bodies []string
					var uids []uid.UID
					for j := i; j < i+4; j++ {
						body := fmt.Sprintf("Subject: ours %s %d\n\nx\n", box, j)
						u, err := b.Append(ctx, mailbox.BytesLiteral([]byte(body)), mailbox.AppendMeta{})
						if err != nil {
							record(body, 0, err)
							b.Close()
							return
						}
						bodies, uids = append(bodies, body), append(uids, u)
					}
					err = b.Commit(ctx)
					for k := range bodies {
						record(bodies[k], uint32(uids[k]), err)
					}
					continue
				}
				for j := i; j < i+4; j++ {
					body := fmt.Sprintf("Subject: ours %s %d\n\nx\n", box, j)
					u, err := s.Append(ctx, box, mailbox.BytesLiteral([]byte(body)), mailbox.AppendMeta{Flags: mailbox.MustFlags(mailbox.Seen)})
					record(body, uint32(u), err)
				}
			}
		}()
		go func() {
			defer wg.Done()
			c, err := dovecottest.Dial(srv.Addr)
			if err != nil {
				record("", 0, err)
				return
			}
			defer c.Close()
			if err := c.Login(srv.User, srv.Password); err != nil {
				record("", 0, err)
				return
			}
			for j := range n {
				body := fmt.Sprintf("Subject: theirs %s %d\r\n\r\nx\r\n", box, j)
				_, u, err := c.Append(box, []string{"kw"}, time.Time{}, []byte(body))
				record(body, u, err)
			}
		}()
	}
	wg.Wait()
	for _, err := range failures {
		t.Error(err)
	}
	if len(uidOf) != 4*n {
		t.Fatalf("%d appends succeeded, want %d\n%s", len(uidOf), 4*n, srv.Log())
	}
	srv.Chown(t)
	c := srv.Login(t)
	for _, box := range []string{"INBOX", "Shared"} {
		ours := list(t, s, box)
		if len(ours) != 2*n {
			t.Errorf("%s: we list %d messages, want %d", box, len(ours), 2*n)
		}
		for _, m := range ours {
			body := string(readMsg(t, s, box, m.UID))
			key := body
			if strings.Contains(body, "theirs") {
				key = string(crlf([]byte(body)))
			}
			if u, ok := uidOf[key]; !ok || u != uint32(m.UID) {
				t.Errorf("%s: %q is at UID %d, its append said %d (%v)", box, body, m.UID, u, ok)
			}
		}
		compareWithDovecot(t, s, c, box)
	}
	if t.Failed() {
		t.Log(srv.Log())
	}
}

// TestEmailIDCacheSurvivesDovecot checks the choice of keeping EmailIDs
// in a dovecot-uidlist field: Dovecot keeps the field when it expunges,
// compacts and rewrites the file.
func TestEmailIDCacheSurvivesDovecot(t *testing.T) {
	ctx := context.Background()
	root := filepath.Join(t.TempDir(), "mail")
	s := openTest(t, root, interopOpts)
	for i := range 8 {
		appendMsg(t, s, "INBOX", fmt.Sprintf("Subject: %d\n\nx\n", i))
	}
	srv := dovecottest.Start(t, dovecottest.Config{MailRoot: root})
	srv.Chown(t)
	c := srv.Login(t)
	if _, err := c.Select("INBOX"); err != nil {
		t.Fatal(err)
	}
	if err := c.UIDStore("1:5", "+FLAGS", `\Deleted`); err != nil {
		t.Fatal(err)
	}
	if err := c.Expunge(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Append("INBOX", nil, time.Time{}, []byte("Subject: new\r\n\r\nx\r\n")); err != nil {
		t.Fatal(err)
	}
	if out, err := srv.Doveadm("force-resync", "-u", srv.User, "INBOX"); err != nil {
		t.Fatal(out, err)
	}
	data, err := os.ReadFile(filepath.Join(root, uidlistName))
	if err != nil {
		t.Fatal(err)
	}
	l, _, err := parseUidlist(data)
	if err != nil {
		t.Fatal(err)
	}
	if len(l.recs) != 4 {
		t.Fatalf("Dovecot did not compact the uidlist:\n%s", data)
	}
	for _, m := range list(t, s, "INBOX") {
		want := mailbox.EmailIDOf(readMsg(t, s, "INBOX", m.UID))
		if m.UID <= 8 {
			if m.EmailID != want {
				t.Errorf("uid %d: cached EmailID lost after Dovecot rewrote the uidlist:\n%s", m.UID, data)
			}
		}
	}
	_ = ctx
}

// TestDovecotAfterResetUIDs checks what Dovecot serves after a replica
// was renumbered, to a new UIDVALIDITY and to the same one, while Dovecot
// had indexed the folder under the old numbering.
func TestDovecotAfterResetUIDs(t *testing.T) {
	ctx := context.Background()
	root := filepath.Join(t.TempDir(), "mail")
	s := openTest(t, root, interopOpts)
	for i := range 6 {
		appendMsg(t, s, "INBOX", fmt.Sprintf("Subject: %d\n\nx\n", i), mailbox.Seen)
	}
	srv := dovecottest.Start(t, dovecottest.Config{MailRoot: root})
	c := srv.Login(t)
	if _, err := c.Select("INBOX"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.UIDFetch("1:*", dovecottest.FetchItems); err != nil {
		t.Fatal(err)
	}
	info, _ := s.Status(ctx, "INBOX")
	for _, v := range []uid.Validity{info.UIDValidity, info.UIDValidity + 7} {
		var m uid.Map
		for src, dst := range map[uid.UID]uid.UID{2: 1, 4: 2, 6: 3} {
			if _, ok := m.Dst(src); !ok {
				m.Add(src, dst)
			}
		}
		if err := s.ResetUIDs(ctx, "INBOX", v, &m); err != nil {
			t.Fatal(err)
		}
		srv.Chown(t)
		if v == info.UIDValidity {
			// A session that had the folder open finds its state
			// inconsistent and is disconnected; Dovecot keeps our uidlist.
			if err := c.Noop(); err == nil {
				if _, err := c.UIDFetch("1:*", dovecottest.FetchItems); err == nil {
					t.Error("the session of the old numbering goes on")
				}
			}
			// UIDNEXT stays 7: within one UIDVALIDITY it never goes down.
			if data, err := os.ReadFile(filepath.Join(root, uidlistName)); err != nil || !strings.HasPrefix(string(data), fmt.Sprintf("3 V%d N7 ", v)) {
				t.Errorf("uidlist after Dovecot saw the renumbering: %q, %v", data, err)
			}
		}
		c2 := srv.Login(t)
		compareWithDovecot(t, s, c2, "INBOX")
		c2.Logout()
		// Put messages back for the second round.
		for i := range 3 {
			appendMsg(t, s, "INBOX", fmt.Sprintf("Subject: again %d\n\nx\n", i), mailbox.Seen)
		}
		srv.Chown(t)
	}
	if t.Failed() {
		t.Log(srv.Log())
	}
}
