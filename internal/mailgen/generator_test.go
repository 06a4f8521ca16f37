package mailgen_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mailrepl/mailrepl/internal/mailgen"
	"github.com/mailrepl/mailrepl/mailbox"
)

// same reports how two messages differ, or "" when they are equal.
func same(a, b mailgen.Message) string {
	switch {
	case a.Index != b.Index || a.Original != b.Original:
		return fmt.Sprintf("index %d/%d, original %d/%d", a.Index, b.Index, a.Original, b.Original)
	case a.Folder != b.Folder:
		return fmt.Sprintf("folder %q, %q", a.Folder, b.Folder)
	case !bytes.Equal(a.Body, b.Body):
		return fmt.Sprintf("bodies of %d and %d bytes differ", len(a.Body), len(b.Body))
	case !a.Flags.Equal(b.Flags):
		return fmt.Sprintf("flags %v, %v", a.Flags, b.Flags)
	case !a.InternalDate.Equal(b.InternalDate):
		return fmt.Sprintf("internal dates %v, %v", a.InternalDate, b.InternalDate)
	}
	return ""
}

// TestDeterministic checks that two generators with the same seed make the
// same messages, and that another seed makes other ones.
func TestDeterministic(t *testing.T) {
	t.Parallel()
	seed := testSeed(t)
	a, b, c := mailgen.New(seed), mailgen.New(seed), mailgen.New(seed+1)
	differ := 0
	for i := range 300 {
		ma, mb, mc := a.Message(i), b.Message(i), c.Message(i)
		if d := same(ma, mb); d != "" {
			t.Fatalf("seed %d message %d: two generators differ: %s", seed, i, d)
		}
		if !bytes.Equal(ma.Body, mc.Body) {
			differ++
		}
	}
	if differ != 300 {
		t.Errorf("seeds %d and %d made %d equal messages out of 300", seed, seed+1, 300-differ)
	}
}

// TestIndependent checks that message i does not depend on which messages
// were generated before or alongside it: messages generated in a shuffled
// order by several goroutines, and far into the stream, equal those of a
// sequential run; AppendTo into a reused buffer gives the same messages.
func TestIndependent(t *testing.T) {
	t.Parallel()
	seed := testSeed(t)
	g := mailgen.New(seed)
	indices := []int{999_999, 1 << 40, 123_456_789}
	for i := range 400 {
		indices = append(indices, i)
	}
	want := map[int]mailgen.Message{}
	for _, i := range indices {
		want[i] = mailgen.New(seed).Message(i)
	}

	r := rand.New(rand.NewPCG(seed, 1))
	r.Shuffle(len(indices), func(i, j int) { indices[i], indices[j] = indices[j], indices[i] })
	const workers = 4
	var wg sync.WaitGroup
	errs := make([]error, workers)
	for w := range workers {
		wg.Go(func() {
			var buf []byte
			for k := w; k < len(indices); k += workers {
				i := indices[k]
				var m mailgen.Message
				buf, m = g.AppendTo(buf[:0], i)
				if d := same(m, want[i]); d != "" {
					errs[w] = fmt.Errorf("message %d, generated in a shuffled order by goroutine %d: %s", i, w, d)
					return
				}
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
}

// TestAppendTo checks that AppendTo keeps what dst holds and appends the
// message that Message returns.
func TestAppendTo(t *testing.T) {
	g := mailgen.New(testSeed(t))
	prefix := []byte("prefix that must stay")
	buf := slices.Clone(prefix)
	for i := range 20 {
		var m mailgen.Message
		buf, m = g.AppendTo(buf, i)
		if !bytes.HasPrefix(buf, prefix) || !bytes.HasSuffix(buf, m.Body) {
			t.Fatalf("message %d: AppendTo did not append to dst", i)
		}
		if d := same(m, g.Message(i)); d != "" {
			t.Fatalf("message %d: AppendTo and Message differ: %s", i, d)
		}
		buf = buf[:len(prefix)]
	}
}

// TestStreamStable pins the stream of seed 1 to a digest of its first
// messages. The benchmarks compare runs over time on "the corpus of seed
// 1": a change here changes what they measure. If the change is meant,
// update the digest and say so in the commit.
func TestStreamStable(t *testing.T) {
	const want = "32693f04517035ad429f257a982ebdd4549415271531b5c57a0dec475e53be02"
	h := sha256.New()
	g := mailgen.New(1)
	for i := range 200 {
		m := g.Message(i)
		fmt.Fprintf(h, "%d %s %s %s %d\n", i, m.Folder, m.Flags, m.InternalDate.Format(time.RFC3339), m.Original)
		h.Write(m.Body)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != want {
		t.Errorf("digest of the first 200 messages of seed 1 = %s, want %s", got, want)
	}
}

// TestMaxSize checks that no message exceeds MaxSize, with many large
// attachments, in both line-ending forms, and that large messages come
// close to it.
func TestMaxSize(t *testing.T) {
	t.Parallel()
	seed := testSeed(t)
	for _, crlf := range []bool{false, true} {
		const maxSize = 100 << 10
		g, err := mailgen.NewWithOptions(seed, &mailgen.Options{MaxSize: maxSize, AttachmentRate: 0.3, LargeRate: 0.3, LongLineRate: 0.3, CRLF: crlf})
		if err != nil {
			t.Fatal(err)
		}
		largest := 0
		for i := range 300 {
			m := g.Message(i)
			if len(m.Body) > maxSize {
				t.Fatalf("CRLF %v: message %d has %d bytes, MaxSize is %d", crlf, i, len(m.Body), maxSize)
			}
			largest = max(largest, len(m.Body))
		}
		if largest < maxSize*97/100 { // LF: less a byte a line
			t.Errorf("CRLF %v: the largest message has %d bytes, want close to MaxSize %d", crlf, largest, maxSize)
		}
	}
}

// TestRatesOff checks that a negative rate turns its feature off.
func TestRatesOff(t *testing.T) {
	t.Parallel()
	g, err := mailgen.NewWithOptions(testSeed(t), &mailgen.Options{
		AttachmentRate: -1, LargeRate: -1, AlternativeRate: -1, EightBitRate: -1, NoMessageIDRate: -1,
		DuplicateRate: -1, LongLineRate: -1, BareCRRate: -1, ReplyRate: -1,
	})
	if err != nil {
		t.Fatal(err)
	}
	for m := range g.Account(mailgen.AccountSpec{Messages: 1000}) {
		in, err := inspect(m.Body)
		switch {
		case err != nil:
			t.Fatalf("message %d: %v", m.Index, err)
		case m.IsDuplicate() || in.attachments > 0 || in.htmls > 0 || in.eightBit || in.messageID == "" ||
			in.longLine || in.bareCR || len(in.inReplyTo) > 0 || len(m.Body) > 1<<20:
			t.Fatalf("message %d has a feature turned off: %+v", m.Index, in)
		}
	}
}

// TestOptionsValidate checks that Validate reports each bad option, all
// at once, and that NewWithOptions refuses them.
func TestOptionsValidate(t *testing.T) {
	tests := []struct {
		name string
		opts *mailgen.Options
		want []string // in the error; none: valid
	}{
		{name: "nil", opts: nil},
		{name: "zero", opts: &mailgen.Options{}},
		{name: "all set", opts: &mailgen.Options{CRLF: true, MaxSize: mailgen.MinMaxSize, TextMedian: 100, TextSigma: 0.5,
			Folders: []mailgen.Folder{{Name: "inbox", Kind: mailgen.Received, Weight: 1}, {Name: "a/b", Kind: mailgen.List, Weight: 0.5}},
			Owner:   "ann@example.org", Epoch: time.Unix(0, 0), Span: time.Hour, AttachmentRate: 1, ReplyRate: -1}},
		{name: "small MaxSize", opts: &mailgen.Options{MaxSize: 1000}, want: []string{"MaxSize 1000"}},
		{name: "negative sizes", opts: &mailgen.Options{TextMedian: -1, TextSigma: -1, Span: -time.Second},
			want: []string{"TextMedian -1", "TextSigma -1", "Span -1s"}},
		{name: "rates", opts: &mailgen.Options{AttachmentRate: 1.5, BareCRRate: 2}, want: []string{"AttachmentRate 1.5", "BareCRRate 2"}},
		{name: "owner", opts: &mailgen.Options{Owner: "Ann <ann@example.org>"}, want: []string{"Owner"}},
		{name: "folders", opts: &mailgen.Options{Folders: []mailgen.Folder{
			{Name: "../x", Weight: 1}, {Name: "A", Weight: 0}, {Name: "B", Weight: 1, Kind: 42}, {Name: "INBOX", Weight: 1}, {Name: "inbox", Weight: 1},
		}}, want: []string{`"../x"`, `"A": weight 0`, `"B": unknown Kind(42)`, `"inbox" appears twice`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.opts.Validate()
			_, nerr := mailgen.NewWithOptions(1, tc.opts)
			if len(tc.want) == 0 {
				if err != nil || nerr != nil {
					t.Fatalf("Validate() = %v, NewWithOptions: %v; want no error", err, nerr)
				}
				return
			}
			if err == nil || nerr == nil {
				t.Fatalf("Validate() = %v, NewWithOptions: %v; want errors about %q", err, nerr, tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Validate() = %v; want it to mention %q", err, w)
				}
			}
		})
	}
}

// TestFolders checks an account with folders of its own: messages go to
// them only, by weight; list folders get list headers named after their
// last level; Folders lists parents first.
func TestFolders(t *testing.T) {
	t.Parallel()
	folders := []mailgen.Folder{
		{Name: "Work/Ünïcode list", Kind: mailgen.List, Weight: 1},
		{Name: "Work", Kind: mailgen.Received, Weight: 3},
		{Name: "inbox", Kind: mailgen.Received, Weight: 4},
		{Name: "Outbox", Kind: mailgen.Sent, Weight: 2},
	}
	g, err := mailgen.NewWithOptions(testSeed(t), &mailgen.Options{Folders: folders, Owner: "ann.lee@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := g.Folders(), []string{"Work", "Work/Ünïcode list", "INBOX", "Outbox"}; !slices.Equal(got, want) {
		t.Errorf("Folders() = %q, want %q", got, want)
	}
	count := map[string]int{}
	const n = 2000
	for m := range g.Account(mailgen.AccountSpec{Messages: n}) {
		count[m.Folder]++
		if m.IsDuplicate() || m.Index%4 != 0 {
			continue
		}
		in, err := inspect(m.Body)
		if err != nil {
			t.Fatalf("message %d: %v", m.Index, err)
		}
		switch m.Folder {
		case "Work/Ünïcode list":
			if want := "unicode-list <unicode-list.lists.example.org>"; in.listID != want {
				t.Errorf("message %d in a list folder: List-Id %q, want %q", m.Index, in.listID, want)
			}
		case "Outbox":
			if in.from.Address != "ann.lee@example.com" || in.from.Name != "Ann Lee" {
				t.Errorf("message %d in Outbox is from %v", m.Index, in.from)
			}
		}
	}
	for _, f := range folders {
		name, _ := mailbox.CanonicalName(f.Name)
		between(t, "messages in "+name, float64(count[name]), f.Weight/10*n*0.8, f.Weight/10*n*1.2)
	}
	if len(count) != len(folders) {
		t.Errorf("messages went to %v", count)
	}
}

// TestNewMail checks the mail Mutate adds: its own stream, dated after the
// account's mail, received mail unread, the same for the same seed.
func TestNewMail(t *testing.T) {
	t.Parallel()
	seed := testSeed(t)
	g := mailgen.New(seed)
	o := g.Options()
	ids := map[string]bool{}
	for m := range g.Account(mailgen.AccountSpec{Messages: 200}) {
		in, err := inspect(m.Body)
		if err != nil {
			t.Fatal(err)
		}
		ids[in.messageID] = true
	}
	for k := range 150 {
		m := g.NewMail(7, k)
		if d := same(m, mailgen.New(seed).NewMail(7, k)); d != "" {
			t.Fatalf("new message %d differs between two generators: %s", k, d)
		}
		if bytes.Equal(m.Body, g.NewMail(8, k).Body) {
			t.Errorf("new message %d is the same for seeds 7 and 8", k)
		}
		in, err := inspect(m.Body)
		if err != nil {
			t.Fatalf("new message %d: %v", k, err)
		}
		if in.messageID != "" && ids[in.messageID] {
			t.Errorf("new message %d has the Message-ID %s of a message of the account", k, in.messageID)
		}
		if !m.InternalDate.After(o.Epoch.Add(o.Span)) {
			t.Errorf("new message %d arrived %v, before the end of the account's span", k, m.InternalDate)
		}
		if m.Folder != "Sent" && m.Folder != "Drafts" && (m.Flags.Has(mailbox.Seen) || m.Flags.Has(mailbox.Answered)) {
			t.Errorf("new message %d in %s has flags %v", k, m.Folder, m.Flags)
		}
	}
}
