package mailgen_test

import (
	"bytes"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mailrepl/mailrepl/internal/mailgen"
	"github.com/mailrepl/mailrepl/mailbox"
)

// between fails the test unless lo <= got <= hi.
func between[T int | float64](t *testing.T, what string, got, lo, hi T) {
	t.Helper()
	if got < lo || got > hi {
		t.Errorf("%s = %v, want between %v and %v", what, got, lo, hi)
	}
}

// TestCorpus generates an account of a few thousand messages, parses every
// one with go-message, and checks that the corpus is what the package
// documentation says: sizes, shares of each feature, duplicates, threads,
// flags, folders and dates.
func TestCorpus(t *testing.T) {
	t.Parallel()
	seed := testSeed(t)
	const n = 3000
	g := mailgen.New(seed)
	o := g.Options()
	kinds := map[string]mailgen.Kind{}
	for _, f := range o.Folders {
		kinds[f.Name] = f.Kind
	}

	var (
		sizes, textSizes                                      []int
		attach, over1M, alt, eightBit, encSubject, noID, dups int
		long, bareCR, replies                                 int
		perFolder                                             = map[string]int{}
		byID                                                  = map[string]int{} // Message-ID → index
		infos                                                 = make([]info, n)
		minDate, maxDate                                      time.Time
	)
	failures := 0
	for m := range g.Account(mailgen.AccountSpec{Messages: n}) {
		i := m.Index
		in, err := inspect(m.Body)
		if err != nil {
			t.Errorf("message %d (%s): %v", i, m.Folder, err)
			if failures++; failures > 5 {
				t.FailNow()
			}
			continue
		}
		infos[i] = in
		sizes = append(sizes, len(m.Body))
		if len(m.Body) > o.MaxSize {
			t.Errorf("message %d: %d bytes, above MaxSize %d", i, len(m.Body), o.MaxSize)
		}
		if in.attachments > 0 {
			attach++
		} else {
			textSizes = append(textSizes, len(m.Body))
		}
		if len(m.Body) > 1<<20 {
			over1M++
		}
		if in.htmls > 0 {
			alt++
		}
		if in.eightBit {
			eightBit++
		}
		if strings.Contains(in.rawSubject, "=?") {
			encSubject++
		}
		if in.longLine {
			long++
		}
		if in.bareCR {
			bareCR++
		}
		perFolder[m.Folder]++
		kind, ok := kinds[m.Folder]
		if !ok {
			t.Fatalf("message %d in folder %q, not one of the options' folders", i, m.Folder)
		}

		// Duplicates: the same bytes as an earlier message that is not
		// a duplicate itself.
		if m.IsDuplicate() {
			dups++
			orig := g.Message(m.Original)
			if m.Original >= i || orig.IsDuplicate() || !bytes.Equal(orig.Body, m.Body) {
				t.Errorf("message %d duplicates %d: earlier %v, duplicate itself %v, same bytes %v",
					i, m.Original, m.Original < i, orig.IsDuplicate(), bytes.Equal(orig.Body, m.Body))
			}
			if !m.InternalDate.Equal(orig.InternalDate) {
				t.Errorf("message %d duplicates %d but arrived %v, not %v", i, m.Original, m.InternalDate, orig.InternalDate)
			}
			continue // the rest is about the original
		}
		if (in.listID != "") != (kind == mailgen.List) {
			t.Errorf("message %d in %s (%v) has List-Id %q", i, m.Folder, kind, in.listID)
		}

		// Message-IDs: unique; threads: replies point back to earlier
		// messages of the account, their subject is the thread's.
		if in.messageID == "" {
			noID++
		} else if j, ok := byID[in.messageID]; ok {
			t.Errorf("messages %d and %d share Message-ID %s", j, i, in.messageID)
		} else {
			byID[in.messageID] = i
		}
		if len(in.inReplyTo) > 0 {
			replies++
			p, ok := byID[in.inReplyTo[0]]
			switch {
			case len(in.inReplyTo) != 1 || !ok:
				t.Errorf("message %d: In-Reply-To %v is not one earlier message", i, in.inReplyTo)
			case len(in.references) == 0 || in.references[len(in.references)-1] != in.inReplyTo[0]:
				t.Errorf("message %d: References %v do not end with In-Reply-To %v", i, in.references, in.inReplyTo)
			case in.date.Before(infos[p].date):
				t.Errorf("message %d of %v replies to %d of %v", i, in.date, p, infos[p].date)
			default:
				root, ok := byID[in.references[0]]
				want := "Re: " + strings.TrimPrefix(infos[root].subject, "Fwd: ")
				if !ok || in.subject != want {
					t.Errorf("message %d: subject %q, want %q (References %v)", i, in.subject, want, in.references)
				}
			}
			for _, ref := range in.references {
				if _, ok := byID[ref]; !ok {
					t.Errorf("message %d: reference %s is not an earlier message", i, ref)
				}
			}
		}

		// Flags: the shares are TestFlags's.
		if f := m.Flags; f.Has(mailbox.Draft) != (kind == mailgen.Drafts) || f.Has(mailbox.Deleted) && kind != mailgen.Trash {
			t.Errorf("message %d in %s has flags %v", i, m.Folder, f)
		}

		// Dates.
		d := m.InternalDate
		if d.Location() != time.UTC || d.Nanosecond() != 0 {
			t.Errorf("message %d: internal date %v is not UTC to the second", i, d)
		}
		lag := d.Sub(in.date)
		if kind == mailgen.Sent || kind == mailgen.Drafts {
			if lag != 0 {
				t.Errorf("message %d in %s: internal date %v, Date %v", i, m.Folder, d, in.date)
			}
		} else if lag < time.Second || lag > 2*time.Minute {
			t.Errorf("message %d: internal date %v is %v after its Date", i, d, lag)
		}
		if minDate.IsZero() || d.Before(minDate) {
			minDate = d
		}
		if d.After(maxDate) {
			maxDate = d
		}
	}
	if t.Failed() {
		return
	}

	slices.Sort(sizes)
	slices.Sort(textSizes)
	pct := func(k int) float64 { return 100 * float64(k) / n }
	t.Logf("%d messages: median %d B (without attachment %d), largest %d; attachments %d, over 1 MiB %d, HTML %d, 8-bit %d, "+
		"encoded subjects %d, no Message-ID %d, duplicates %d, long lines %d, bare CRs %d, replies %d",
		n, sizes[len(sizes)/2], textSizes[len(textSizes)/2], sizes[len(sizes)-1], attach, over1M, alt, eightBit,
		encSubject, noID, dups, long, bareCR, replies)
	between(t, "median size", sizes[len(sizes)/2], 3500, 6000)
	between(t, "median size without attachment", textSizes[len(textSizes)/2], 3300, 5000)
	between(t, "% with attachment", pct(attach), 2.2, 4.5)
	between(t, "messages over 1 MiB", over1M, 2, 25)
	between(t, "% with HTML", pct(alt), 11, 20)
	between(t, "% 8-bit", pct(eightBit), 4, 8.5)
	between(t, "encoded-word subjects", encSubject, 1, n)
	// The rare features are spread evenly: n·rate of each, give or take
	// three (and a few more where duplicates copy them).
	between(t, "no Message-ID", noID, n/100-4, n/100+4)
	between(t, "duplicates", dups, n/500-4, n/500+3)
	between(t, "long lines", long, n/500-3, n/500+8)
	between(t, "bare CRs", bareCR, n/500-3, n/500+8)
	between(t, "% replies", pct(replies), 15, 32)
	for _, f := range o.Folders {
		share := 100 * f.Weight / 100 // the default weights add up to 100
		between(t, "% in "+f.Name, pct(perFolder[f.Name]), share*0.7-0.5, share*1.3+0.5)
	}
	between(t, "days from Epoch to the oldest mail", minDate.Sub(o.Epoch).Hours()/24, 0, 10)
	between(t, "days from the newest mail to Epoch+Span", o.Epoch.Add(o.Span).Sub(maxDate).Hours()/24, -30, 10)
}

// TestCRLF checks that a generator with CRLF line endings makes the same
// messages: the same text with CRLF for LF, hence the same EmailID, the
// same flags and dates; and that they parse.
func TestCRLF(t *testing.T) {
	t.Parallel()
	seed := testSeed(t)
	lf := mailgen.New(seed)
	crlf, err := mailgen.NewWithOptions(seed, &mailgen.Options{CRLF: true})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 600 {
		a, b := lf.Message(i), crlf.Message(i)
		if want := bytes.ReplaceAll(a.Body, []byte("\n"), []byte("\r\n")); !bytes.Equal(b.Body, want) {
			t.Fatalf("message %d with CRLF is not the LF one with CRLF line endings", i)
		}
		if bytes.Contains(bytes.ReplaceAll(b.Body, []byte("\r\n"), nil), []byte("\n")) {
			t.Fatalf("message %d with CRLF has a bare LF", i)
		}
		if mailbox.EmailIDOf(a.Body) != mailbox.EmailIDOf(b.Body) {
			t.Fatalf("message %d: EmailIDs differ between LF and CRLF", i)
		}
		if a.Folder != b.Folder || !a.Flags.Equal(b.Flags) || !a.InternalDate.Equal(b.InternalDate) || a.Original != b.Original {
			t.Fatalf("message %d: LF %s %v %v, CRLF %s %v %v", i, a.Folder, a.Flags, a.InternalDate, b.Folder, b.Flags, b.InternalDate)
		}
		if i%4 == 0 {
			if _, err := inspect(b.Body); err != nil {
				t.Fatalf("message %d with CRLF: %v", i, err)
			}
		}
	}
}

// TestFlags checks the shares of each flag over many messages (with small
// bodies: flags do not depend on them) against what the folders' weights
// and kinds give; the bounds are about five standard deviations wide.
func TestFlags(t *testing.T) {
	t.Parallel()
	seed := testSeed(t)
	g, err := mailgen.NewWithOptions(seed, &mailgen.Options{TextMedian: 200, AttachmentRate: -1, LargeRate: -1, AlternativeRate: -1})
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]mailgen.Kind{}
	for _, f := range g.Options().Folders {
		kinds[f.Name] = f.Kind
	}
	const n = 40_000
	count := map[mailbox.Flag]int{}
	label := 0
	for i := range n {
		_, m := g.AppendTo(nil, i)
		for f := range m.Flags.All() {
			count[f]++
			if strings.HasPrefix(string(f), "$Label") {
				label++
			}
		}
		kind := kinds[m.Folder]
		if m.Flags.Has(mailbox.Draft) != (kind == mailgen.Drafts) || m.Flags.Has(mailbox.Deleted) && kind != mailgen.Trash {
			t.Errorf("message %d in %s has flags %v", i, m.Folder, m.Flags)
		}
		if m.Flags.Has("$Forwarded") && !m.Flags.Has(mailbox.Passed) {
			t.Errorf("message %d has $Forwarded without %s: %v", i, mailbox.Passed, m.Flags)
		}
	}
	t.Logf("flags of %d messages: %v, $LabelN %d", n, count, label)
	pct := func(k int) float64 { return 100 * float64(k) / n }
	between(t, `% \Seen`, pct(count[mailbox.Seen]), 83, 89)
	between(t, `% \Answered`, pct(count[mailbox.Answered]), 5.5, 7.7)
	between(t, `% \Flagged`, pct(count[mailbox.Flagged]), 3.8, 5.2)
	between(t, `% \Draft`, pct(count[mailbox.Draft]), 0.8, 1.2)
	between(t, `\Deleted`, count[mailbox.Deleted], 15, 60)
	between(t, `% %Passed`, pct(count[mailbox.Passed]), 0.8, 1.4)
	between(t, `% $Forwarded`, pct(count["$Forwarded"]), 0.45, 0.9)
	between(t, `% Junk`, pct(count["Junk"]), 0.75, 1.3)
	between(t, `% NonJunk`, pct(count["NonJunk"]), 6.2, 7.6)
	between(t, `% $LabelN`, pct(label), 2.1, 3.1)
	between(t, `% $MDNSent`, pct(count["$MDNSent"]), 0.6, 1.15)
}
