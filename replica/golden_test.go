package replica

import (
	"cmp"
	"crypto/sha256"
	"errors"
	"flag"
	"fmt"
	"iter"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/mailrepl/mailrepl/mailbox"
	"github.com/mailrepl/mailrepl/uid"
)

// The golden plan scripts in testdata/plan/*.txt: one topic per file, many
// cases per file. testdata/plan/README.md describes the format. Run with
// -update to rewrite the expected output of every case from what the
// engine plans now; review the diff before committing it.
var flagUpdate = flag.Bool("update", false, "rewrite the expected output of the golden scripts in testdata/plan")

func TestGolden(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "plan", "*.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no golden scripts in testdata/plan")
	}
	for _, path := range files {
		t.Run(strings.TrimSuffix(filepath.Base(path), ".txt"), func(t *testing.T) {
			sc, err := readScript(path)
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range sc.cases {
				t.Run(c.name, func(t *testing.T) {
					got, err := runGoldenCase(c)
					if err != nil {
						t.Fatalf("%s:%d: case %q: %v", path, c.line, c.name, err)
					}
					if again, _ := runGoldenCase(c); !slices.Equal(again, got) {
						t.Errorf("%s:%d: case %q: the plan differs between two runs:\n%s", path, c.line, c.name, lineDiff(got, again))
					}
					if *flagUpdate && !slices.Equal(got, c.want) && c.marked() {
						t.Errorf("%s:%d: case %q is marked %s: -update keeps its expected output; edit it by hand, or drop the mark once the engine plans it:\n%s",
							path, c.line, c.name, bugMark, lineDiff(c.want, got))
						return
					}
					if *flagUpdate {
						c.want = got
						return
					}
					if !slices.Equal(got, c.want) {
						t.Errorf("%s:%d: case %q: output differs (-want +got):\n%s", path, c.line, c.name, lineDiff(c.want, got))
					}
				})
			}
			if *flagUpdate {
				if err := os.WriteFile(path, []byte(sc.String()), 0o644); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

// A goldenScript is one file of cases. Each case is its head (the lines
// after the previous case's output, comments included, up to "----"), and
// its expected output, which ends at a blank line or at the end of the
// file. Rewriting a script changes the outputs only.
type goldenScript struct {
	cases []*goldenCase
	tail  []string // lines after the last case
}

type goldenCase struct {
	name  string
	line  int        // of the "case" line
	head  []string   // verbatim, "----" included
	setup [][]string // the directives, tokenized, with their line numbers in lines
	lines []int
	want  []string
}

// bugMark, in a comment before a case, marks a case whose expected output
// is what its author believes right and the engine did not plan when it was
// written: -update leaves it alone.
const bugMark = "ENGINE BUG"

func (c *goldenCase) marked() bool {
	return slices.ContainsFunc(c.head, func(l string) bool {
		return strings.HasPrefix(strings.TrimSpace(l), "#") && strings.Contains(l, bugMark)
	})
}

func (s *goldenScript) String() string {
	var b strings.Builder
	for _, c := range s.cases {
		for _, l := range c.head {
			b.WriteString(l + "\n")
		}
		for _, l := range c.want {
			b.WriteString(l + "\n")
		}
	}
	for _, l := range s.tail {
		b.WriteString(l + "\n")
	}
	return b.String()
}

func readScript(path string) (*goldenScript, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	sc, err := parseScript(path, string(data))
	if err != nil {
		return nil, err
	}
	if got := sc.String(); got != string(data) {
		// -update would change more than the expected outputs.
		return nil, fmt.Errorf("%s: the script does not read back as written (a missing final newline?)", path)
	}
	return sc, nil
}

// parseScript parses the text of a script; path names it in errors.
func parseScript(path, data string) (*goldenScript, error) {
	lines := strings.Split(strings.TrimSuffix(data, "\n"), "\n")
	sc := &goldenScript{}
	var pending []string // head lines of the next case
	var c *goldenCase
	for i := 0; i < len(lines); i++ {
		l := lines[i]
		pending = append(pending, l)
		trimmed := strings.TrimSpace(l)
		switch {
		case trimmed == "" || strings.HasPrefix(trimmed, "#"):
		case strings.HasPrefix(l, "case "):
			if c != nil {
				return nil, fmt.Errorf("%s:%d: case %q has no \"----\"", path, c.line, c.name)
			}
			c = &goldenCase{name: strings.TrimSpace(strings.TrimPrefix(l, "case ")), line: i + 1}
		case l == "----":
			if c == nil {
				return nil, fmt.Errorf("%s:%d: \"----\" outside a case", path, i+1)
			}
			c.head, pending = pending, nil
			for i+1 < len(lines) && strings.TrimSpace(lines[i+1]) != "" {
				i++
				c.want = append(c.want, lines[i])
			}
			sc.cases = append(sc.cases, c)
			c = nil
		case c == nil:
			return nil, fmt.Errorf("%s:%d: %q outside a case (a case starts with \"case <description>\")", path, i+1, l)
		default:
			toks, err := tokenize(trimmed)
			if err != nil {
				return nil, fmt.Errorf("%s:%d: %v", path, i+1, err)
			}
			c.setup = append(c.setup, toks)
			c.lines = append(c.lines, i+1)
		}
	}
	if c != nil {
		return nil, fmt.Errorf("%s:%d: case %q has no \"----\"", path, c.line, c.name)
	}
	sc.tail = pending
	names := map[string]int{}
	for _, c := range sc.cases {
		if l, dup := names[c.name]; dup {
			return nil, fmt.Errorf("%s:%d: case %q already at line %d", path, c.line, c.name, l)
		}
		names[c.name] = c.line
	}
	return sc, nil
}

func TestGoldenScriptFormat(t *testing.T) {
	const script = `# header comment

case one
mode mirror identity
src next=1
dst next=1
----
nothing to do

# between cases
case two
mode sync map
src next=2 1:a(\Seen $Work)
dst next=1
----
append target <- source uid 1 a ($Work \Seen): new
  entry 1=? a ($Work \Seen)

# trailing comment
`
	sc, err := parseScript("x.txt", script)
	if err != nil {
		t.Fatal(err)
	}
	if got := sc.String(); got != script {
		t.Errorf("round trip:\n%s\nwant:\n%s", got, script)
	}
	if len(sc.cases) != 2 || sc.cases[0].name != "one" || sc.cases[1].line != 11 {
		t.Fatalf("cases %+v", sc.cases)
	}
	for _, c := range sc.cases {
		got, err := runGoldenCase(c)
		if err != nil {
			t.Fatalf("case %q: %v", c.name, err)
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("case %q:\n%s", c.name, lineDiff(c.want, got))
		}
	}
	// -update replaces the expected output only.
	sc.cases[0].want = []string{"changed"}
	if got, want := sc.String(), strings.Replace(script, "----\nnothing to do\n", "----\nchanged\n", 1); got != want {
		t.Errorf("rewritten:\n%s\nwant:\n%s", got, want)
	}

	bad := []struct{ name, script, want string }{
		{"directive outside a case", "mode mirror identity\n", `x.txt:1: "mode mirror identity" outside a case`},
		{"no ----", "case a\nmode mirror identity\n", `x.txt:1: case "a" has no "----"`},
		{"---- outside a case", "----\n", `x.txt:1: "----" outside a case`},
		{"two cases of one name", "case a\nmode sync map\n----\nx\n\ncase a\nmode sync map\n----\nx\n", `x.txt:6: case "a" already at line 1`},
		{"unbalanced", "case a\nsrc next=2 1:a(\\Seen\n----\n", `x.txt:2: unbalanced parenthesis or quote`},
	}
	for _, tt := range bad {
		if _, err := parseScript("x.txt", tt.script); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want one containing %q", tt.name, err, tt.want)
		}
	}
	badSetup := []struct{ name, setup, want string }{
		{"no mode", "src next=1\ndst next=1", `no "mode" directive`},
		{"unknown mode", "mode backup map", `unknown mode "backup"`},
		{"unknown directive", "mode mirror map\nfrobnicate", "line 3: frobnicate: unknown directive"},
		{"bad message", "mode mirror map\nsrc next=3 1:A", `message "1:A"`},
		{"no UIDNEXT", "mode mirror map\nsrc 1:a", "next=UIDNEXT is required"},
		{"UID not below UIDNEXT", "mode mirror map\nsrc next=2 2:a", "UID 2 is not below UIDNEXT 2"},
		{"unsorted listing", "mode mirror map\nsrc next=5 3:a 2:b", "ascending UID order"},
		{"unsorted state", "mode mirror map\nstate 3:a 2:b", "ascending source UID order"},
		{"bad flag", "mode mirror map\nsrc next=2 1:a(\\Bogus)", "not a system flag"},
		{"expunge in a full listing", "mode mirror map\nsrc next=3 2:expunged", "only a delta listing marks expunges"},
		{"delta without state", "mode mirror map\nsrc next=3 delta 2:a\ndst next=1", `a delta listing needs a "state" directive`},
		{"bad intent", "mode mirror map\nintent elsewhere:1:a", `intent "elsewhere:1:a"`},
		{"bad mailbox", "mailboxes mirror\nsrc INBOX", `mailbox "INBOX": want name@id`},
		{"bad header", "mailboxes mirror\nheader A@1 B@2", "want: header name@id = name@id"},
		{"bad deletion", "mailboxes mirror\ndeleted s1", `"s1": want source:ID or target:ID`},
	}
	for _, tt := range badSetup {
		sc, err := parseScript("x.txt", "case a\n"+tt.setup+"\n----\n")
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if _, err := runGoldenCase(sc.cases[0]); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want one containing %q", tt.name, err, tt.want)
		}
	}
}

// tokenize splits a directive at blanks, except inside parentheses and
// double quotes: `src next=3 1:a(\Seen $Work)` is three tokens.
func tokenize(s string) ([]string, error) {
	var toks []string
	var cur strings.Builder
	depth, quoted := 0, false
	for i := 0; i < len(s); i++ {
		ch := s[i]
		switch {
		case quoted && ch == '\\' && i+1 < len(s):
			cur.WriteByte(ch)
			i++
			cur.WriteByte(s[i])
			continue
		case ch == '"':
			quoted = !quoted
		case quoted:
		case ch == '(':
			depth++
		case ch == ')':
			depth--
		case (ch == ' ' || ch == '\t') && depth == 0:
			if cur.Len() > 0 {
				toks = append(toks, cur.String())
				cur.Reset()
			}
			continue
		}
		cur.WriteByte(ch)
	}
	if depth != 0 || quoted {
		return nil, fmt.Errorf("unbalanced parenthesis or quote in %q", s)
	}
	if cur.Len() > 0 {
		toks = append(toks, cur.String())
	}
	return toks, nil
}

// runGoldenCase runs one case and returns its output lines.
func runGoldenCase(c *goldenCase) ([]string, error) {
	if len(c.setup) == 0 {
		return nil, errors.New("no setup")
	}
	if c.setup[0][0] == "mailboxes" {
		return runMailboxCase(c)
	}
	return runPlanCase(c)
}

// goldenID is the EmailID of the message named name in the scripts.
func goldenID(name string) mailbox.EmailID {
	return mailbox.EmailID(sha256.Sum256([]byte("golden message " + name)))
}

func goldenFingerprint(name string) mailbox.Fingerprint {
	return mailbox.Fingerprint(sha256.Sum256([]byte("golden header " + name)))
}

var (
	msgToken   = regexp.MustCompile(`^(\d+):([a-z][a-z0-9]*)([?!])?(?:\((.*)\))?$`)
	entryToken = regexp.MustCompile(`^(\d+)(?:=(\d+))?:([a-z][a-z0-9]*)(?:\((.*)\))?$`)
	shortID    = regexp.MustCompile(`\b[0-9a-f]{12}\b`)
)

// planCase is the setup of a Diff case as the directives build it.
type planCase struct {
	in      Input
	mode    bool
	state   []Entry
	src     []mailbox.Change
	dst     []mailbox.Change
	uidName [2]map[uid.UID]string    // by side: what the listing names each UID
	names   map[string]string        // EmailID short form -> message name
	fp      map[string]string        // message name -> the name of its header
	tombs   map[mailbox.EmailID]bool // tombstoned messages
	// unreadable: by side, the UIDs whose body cannot be read
	unreadable [2]map[uid.UID]bool
	out        []string
}

func (p *planCase) name(id mailbox.EmailID) string {
	if id.IsZero() {
		return "?"
	}
	if n, ok := p.names[id.Short()]; ok {
		return n
	}
	return "id:" + id.Short()
}

func (p *planCase) learn(name string) mailbox.EmailID {
	id := goldenID(name)
	p.names[id.Short()] = name
	return id
}

func runPlanCase(c *goldenCase) ([]string, error) {
	p := &planCase{
		names:      map[string]string{},
		fp:         map[string]string{},
		tombs:      map[mailbox.EmailID]bool{},
		uidName:    [2]map[uid.UID]string{{}, {}},
		unreadable: [2]map[uid.UID]bool{{}, {}},
	}
	for i, toks := range c.setup {
		if err := p.directive(toks); err != nil {
			return nil, fmt.Errorf("line %d: %s: %v", c.lines[i], toks[0], err)
		}
	}
	if !p.mode {
		return nil, errors.New(`no "mode" directive`)
	}
	if (p.in.Source.Delta || p.in.Target.Delta) && !p.in.HasState {
		// The Syncer asks for changes only against a complete state.
		return nil, errors.New(`a delta listing needs a "state" directive`)
	}
	byDst := slices.Clone(p.state)
	slices.SortStableFunc(byDst, func(a, b Entry) int { return cmp.Compare(a.Dst, b.Dst) })
	p.in.State = goldenSeq(p.state)
	p.in.StateByDst = goldenSeq(byDst)
	p.in.Source.Seq = goldenSeq(p.src)
	p.in.Target.Seq = goldenSeq(p.dst)
	p.in.Resolve = p.resolve
	// As the Syncer does, always give a Tombstoned; it knows those named.
	p.in.Tombstoned = func(id mailbox.EmailID) bool { return p.tombs[id] }
	n := 0
	err := Diff(p.in, func(op Op) error {
		n++
		p.out = append(p.out, shortID.ReplaceAllStringFunc(op.String(), p.shortName))
		if op.Kind != OpPair && op.Kind != OpUnpair && !isZeroEntry(op.Entry) {
			p.out = append(p.out, "  entry "+p.entry(op.Entry))
		}
		return nil
	})
	if err != nil {
		p.out = append(p.out, "error: "+shortID.ReplaceAllStringFunc(err.Error(), p.shortName))
	} else if n == 0 {
		p.out = append(p.out, "nothing to do")
	}
	return p.out, nil
}

func isZeroEntry(e Entry) bool {
	return e.Src == 0 && e.Dst == 0 && e.EmailID.IsZero() && e.Flags.IsEmpty()
}

func (p *planCase) shortName(s string) string {
	if n, ok := p.names[s]; ok {
		return n
	}
	return s
}

func (p *planCase) entry(e Entry) string {
	u := func(u uid.UID) string {
		if u == 0 {
			return "?"
		}
		return u.String()
	}
	return fmt.Sprintf("%s=%s %s (%s)", u(e.Src), u(e.Dst), p.name(e.EmailID), e.Flags)
}

// resolve is the test's Resolver: it knows every message by its name. It
// logs what the engine's resolver would read a body for: a message listed
// without EmailID, or a fingerprint.
func (p *planCase) resolve(side Side, m mailbox.Message, fingerprint bool) (Identity, error) {
	name, ok := p.uidName[side][m.UID]
	if !m.EmailID.IsZero() {
		name, ok = p.names[m.EmailID.Short()]
	}
	if !ok {
		return Identity{}, fmt.Errorf("golden resolver: no message at %s uid %d", side, m.UID)
	}
	if m.EmailID.IsZero() || fingerprint {
		l := fmt.Sprintf("read %s uid %d", side, m.UID)
		if fingerprint {
			l += " for its fingerprint"
		}
		p.out = append(p.out, l)
		if p.unreadable[side][m.UID] {
			return Identity{}, fmt.Errorf("read %s uid %d: %w", side, m.UID, mailbox.ErrCorrupt)
		}
	}
	idn := Identity{EmailID: goldenID(name)}
	if fingerprint {
		h := name
		if f, ok := p.fp[name]; ok {
			h = f
		}
		idn.Fingerprint = goldenFingerprint(h)
	}
	return idn, nil
}

func goldenSeq[T any](xs []T) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		for _, x := range xs {
			if !yield(x, nil) {
				return
			}
		}
	}
}

func (p *planCase) directive(toks []string) error {
	args := toks[1:]
	switch toks[0] {
	case "mode":
		return p.modeDirective(args)
	case "src", "dst":
		side := Source
		if toks[0] == "dst" {
			side = Target
		}
		return p.listing(side, args)
	case "state":
		p.in.HasState = true
		for _, a := range args {
			m := entryToken.FindStringSubmatch(a)
			if m == nil {
				return fmt.Errorf("entry %q: want SRC[=DST]:name[(flags)]", a)
			}
			e := Entry{EmailID: p.learn(m[3])}
			var err error
			if e.Src, err = uid.Parse(m[1]); err != nil {
				return err
			}
			e.Dst = e.Src
			if m[2] != "" {
				if e.Dst, err = uid.Parse(m[2]); err != nil {
					return err
				}
			}
			if e.Flags, err = mailbox.ParseFlags(m[4]); err != nil {
				return err
			}
			if n := len(p.state); n > 0 && p.state[n-1].Src >= e.Src {
				return fmt.Errorf("entry %q: entries must be in ascending source UID order", a)
			}
			p.state = append(p.state, e)
		}
	case "intent":
		for _, a := range args {
			f := strings.Split(a, ":")
			if len(f) != 3 || (f[0] != "source" && f[0] != "target") {
				return fmt.Errorf("intent %q: want source|target:UID:name", a)
			}
			u, err := uid.Parse(f[1])
			if f[1] == "0" {
				u, err = 0, nil
			}
			if err != nil {
				return err
			}
			p.in.Intents = append(p.in.Intents, Intent{ToSource: f[0] == "source", UID: u, EmailID: p.learn(f[2])})
		}
	case "tombstoned":
		for _, a := range args {
			p.tombs[p.learn(a)] = true
		}
	case "fingerprint":
		for _, a := range args {
			f := strings.Split(a, "=")
			if len(f) != 2 || f[0] == "" || f[1] == "" {
				return fmt.Errorf("%q: want name=name (the first has the header of the second)", a)
			}
			p.learn(f[0])
			p.fp[f[0]] = f[1]
		}
	default:
		return errors.New("unknown directive")
	}
	return nil
}

func (p *planCase) modeDirective(args []string) error {
	if len(args) < 2 {
		return errors.New("want: mode mirror|sync|migrate identity|map [policy=keep|delete|readonly]")
	}
	mode, err := ParseMode(args[0])
	if err != nil {
		return err
	}
	p.in.Mode, p.mode = mode, true
	switch args[1] {
	case "identity":
		p.in.Identity = true
	case "map":
	default:
		return fmt.Errorf("%q: want identity or map", args[1])
	}
	for _, a := range args[2:] {
		switch a {
		case "policy=keep":
			p.in.TargetOnly = KeepTargetOnly
		case "policy=delete":
			p.in.TargetOnly = DeleteTargetOnly
		case "policy=readonly":
			p.in.TargetOnly = keepInPlace
		default:
			return fmt.Errorf("%q: want policy=keep, policy=delete or policy=readonly", a)
		}
	}
	return nil
}

func (p *planCase) listing(side Side, args []string) error {
	var list []mailbox.Change
	var next uid.UID
	delta := false
	for _, a := range args {
		if v, ok := strings.CutPrefix(a, "next="); ok {
			u, err := uid.Parse(v)
			if err != nil {
				return err
			}
			next = u
			continue
		}
		if a == "delta" {
			delta = true
			continue
		}
		var ch mailbox.Change
		if u, ok := strings.CutSuffix(a, ":expunged"); ok {
			v, err := uid.Parse(u)
			if err != nil {
				return err
			}
			ch.UID, ch.Expunged = v, true
		} else {
			m := msgToken.FindStringSubmatch(a)
			if m == nil {
				return fmt.Errorf("message %q: want UID:name[?|!][(flags)] or UID:expunged", a)
			}
			v, err := uid.Parse(m[1])
			if err != nil {
				return err
			}
			ch.UID = v
			id := p.learn(m[2])
			if m[3] == "" {
				ch.EmailID = id
			}
			if ch.Flags, err = mailbox.ParseFlags(m[4]); err != nil {
				return err
			}
			ch.Size = int64(100 + len(m[2]))
			p.uidName[side][v] = m[2]
			if m[3] == "!" {
				p.unreadable[side][v] = true
			}
		}
		if n := len(list); n > 0 && list[n-1].UID >= ch.UID {
			return fmt.Errorf("%q: a listing is in ascending UID order", a)
		}
		list = append(list, ch)
	}
	if next == 0 {
		return errors.New("next=UIDNEXT is required")
	}
	if n := len(list); n > 0 && list[n-1].UID >= next {
		return fmt.Errorf("UID %d is not below UIDNEXT %d", list[n-1].UID, next)
	}
	if !delta && slices.ContainsFunc(list, func(ch mailbox.Change) bool { return ch.Expunged }) {
		return errors.New("only a delta listing marks expunges")
	}
	if side == Source {
		p.src, p.in.Src.UIDNext, p.in.Source.Delta = list, next, delta
	} else {
		p.dst, p.in.Dst.UIDNext, p.in.Target.Delta = list, next, delta
	}
	return nil
}

// runMailboxCase runs a PlanMailboxes case.
func runMailboxCase(c *goldenCase) ([]string, error) {
	var in MailboxInput
	in.SourceWritable = true
	deleted := map[Side]map[mailbox.ID]bool{Source: {}, Target: {}}
	in.Deleted = func(side Side, id mailbox.ID) bool { return deleted[side][id] }
	for i, toks := range c.setup {
		args := toks[1:]
		var err error
		switch toks[0] {
		case "mailboxes":
			err = mailboxModeDirective(&in, args)
		case "src":
			in.Src, err = parseMailboxes(args)
		case "dst":
			in.Dst, err = parseMailboxes(args)
		case "header":
			// header SRCNAME@SRCID = DSTNAME@DSTID
			if len(args) != 3 || args[1] != "=" {
				err = errors.New("want: header name@id = name@id")
				break
			}
			var s, d mailbox.Info
			if s, err = parseMailbox(args[0]); err != nil {
				break
			}
			if d, err = parseMailbox(args[2]); err != nil {
				break
			}
			in.Headers = append(in.Headers, Header{SrcID: s.ID, SrcName: s.Name, DstID: d.ID, DstName: d.Name})
		case "deleted":
			for _, a := range args {
				side, id, ok := strings.Cut(a, ":")
				if !ok || (side != "source" && side != "target") {
					err = fmt.Errorf("%q: want source:ID or target:ID", a)
					break
				}
				s := Source
				if side == "target" {
					s = Target
				}
				deleted[s][mailbox.ID(id)] = true
			}
		default:
			err = errors.New("unknown directive")
		}
		if err != nil {
			return nil, fmt.Errorf("line %d: %s: %v", c.lines[i], toks[0], err)
		}
	}
	var out []string
	for _, op := range PlanMailboxes(in) {
		out = append(out, op.String())
	}
	if len(out) == 0 {
		out = append(out, "nothing to do")
	}
	return out, nil
}

func mailboxModeDirective(in *MailboxInput, args []string) error {
	if len(args) < 1 {
		return errors.New("want: mailboxes mirror|sync|migrate [policy=keep|delete] [trust] [readonly]")
	}
	mode, err := ParseMode(args[0])
	if err != nil {
		return err
	}
	in.Mode = mode
	for _, a := range args[1:] {
		switch a {
		case "policy=keep":
			in.TargetOnly = KeepTargetOnly
		case "policy=delete":
			in.TargetOnly = DeleteTargetOnly
		case "trust":
			in.Trust = true
		case "readonly":
			in.SourceWritable = false
		default:
			return fmt.Errorf("%q: want policy=keep, policy=delete, trust or readonly", a)
		}
	}
	return nil
}

func parseMailboxes(args []string) ([]mailbox.Info, error) {
	var infos []mailbox.Info
	for _, a := range args {
		info, err := parseMailbox(a)
		if err != nil {
			return nil, err
		}
		infos = append(infos, info)
	}
	return infos, nil
}

// parseMailbox parses name@id, with a trailing * when subscribed; a name
// with blanks is quoted: "My mail"@m1.
func parseMailbox(s string) (mailbox.Info, error) {
	info := mailbox.Info{UIDValidity: 1, UIDNext: 1}
	s, info.Subscribed = strings.CutSuffix(s, "*")
	i := strings.LastIndexByte(s, '@')
	if i <= 0 || i == len(s)-1 {
		return info, fmt.Errorf("mailbox %q: want name@id", s)
	}
	info.Name, info.ID = s[:i], mailbox.ID(s[i+1:])
	if strings.HasPrefix(info.Name, `"`) {
		n, err := strconv.Unquote(info.Name)
		if err != nil {
			return info, fmt.Errorf("mailbox %q: %v", s, err)
		}
		info.Name = n
	}
	return info, nil
}

// lineDiff shows how got differs from want, line by line: "-" lines only
// in want, "+" lines only in got (a longest common subsequence).
func lineDiff(want, got []string) string {
	n, m := len(want), len(got)
	lcs := make([][]int, n+1)
	for i := range lcs {
		lcs[i] = make([]int, m+1)
	}
	for i := n - 1; i >= 0; i-- {
		for j := m - 1; j >= 0; j-- {
			if want[i] == got[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	var b strings.Builder
	i, j := 0, 0
	for i < n || j < m {
		switch {
		case i < n && j < m && want[i] == got[j]:
			b.WriteString("  " + want[i] + "\n")
			i, j = i+1, j+1
		case j < m && (i == n || lcs[i][j+1] >= lcs[i+1][j]):
			b.WriteString("+ " + got[j] + "\n")
			j++
		default:
			b.WriteString("- " + want[i] + "\n")
			i++
		}
	}
	return b.String()
}

func TestMergeFlags(t *testing.T) {
	f := func(s string) mailbox.Flags {
		t.Helper()
		flags, err := mailbox.ParseFlags(s)
		if err != nil {
			t.Fatal(err)
		}
		return flags
	}
	type tc struct {
		name         string
		base         *string // nil: never agreed
		s, d         string
		want         string // exact spelling, as Flags.String prints it
		wantConflict bool
	}
	str := func(s string) *string { return &s }
	tests := []tc{
		{name: "no base, equal", s: `\Seen $Work`, d: `\Seen $Work`, want: `$Work \Seen`},
		{name: "no base, both empty", want: ``},
		{name: "no base, differ: union", s: `\Seen`, d: `\Flagged $Work`, want: `$Work \Flagged \Seen`, wantConflict: true},
		{name: "no base, one side empty", s: ``, d: `\Answered %Passed`, want: `%Passed \Answered`, wantConflict: true},
		{name: "no base, keyword case only: no conflict, source spelling", s: `$Work`, d: `$WORK`, want: `$Work`},
		{name: "no change", base: str(`\Seen $Work %Passed`), s: `\Seen $Work %Passed`, d: `\Seen $Work %Passed`, want: `$Work %Passed \Seen`},
		{name: "both changed alike", base: str(``), s: `\Seen \Answered`, d: `\Answered \Seen`, want: `\Answered \Seen`},
		{name: "both cleared everything", base: str(`\Seen $Work %Passed`), want: ``},
		{name: "one added, the other removed", base: str(`\Seen`), s: `\Seen \Flagged`, d: ``, want: `\Flagged`},
		{name: "different keywords added on each side", base: str(`\Seen`), s: `\Seen $Work`, d: `\Seen $Home`, want: `$Home $Work \Seen`},
		{name: "keyword removed on one side, another added on the other", base: str(`$Todo $Work`), s: `$Work`, d: `$Todo $Work $Done`, want: `$Done $Work`},
		{name: "keyword case changed on one side only: unchanged", base: str(`$Work`), s: `$work`, d: `$Work`, want: `$work`},
		{name: "keyword in three spellings", base: str(`$WORK`), s: `$work`, d: `$Work`, want: `$work`},
		{name: "keyword added in different cases on both sides", base: str(``), s: `$Work`, d: `$WORK`, want: `$Work`},
		{name: "private flag set on target, keyword on source", base: str(`\Seen`), s: `\Seen $Forwarded`, d: `\Seen %Passed`, want: `$Forwarded %Passed \Seen`},
		{name: "private flag cleared on source", base: str(`%Passed`), s: ``, d: `%Passed`, want: ``},
	}
	// Each flag changed on one side only, both ways, the other flags left
	// alone: the change wins.
	for _, fl := range []string{`\Seen`, `\Answered`, `\Flagged`, `\Deleted`, `\Draft`, `$Work`, `%Passed`} {
		other := `$Other`
		tests = append(tests,
			tc{name: fl + " set on source", base: str(other), s: other + " " + fl, d: other, want: f(other + " " + fl).String()},
			tc{name: fl + " set on target", base: str(other), s: other, d: other + " " + fl, want: f(other + " " + fl).String()},
			tc{name: fl + " cleared on source", base: str(other + " " + fl), s: other, d: other + " " + fl, want: other},
			tc{name: fl + " cleared on target", base: str(other + " " + fl), s: other + " " + fl, d: other, want: other},
		)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var base *mailbox.Flags
			if tt.base != nil {
				b := f(*tt.base)
				base = &b
			}
			s, d := f(tt.s), f(tt.d)
			got, conflict := MergeFlags(base, s, d)
			if got.String() != tt.want || conflict != tt.wantConflict {
				b := "nil"
				if tt.base != nil {
					b = "(" + *tt.base + ")"
				}
				t.Errorf("MergeFlags(%s, (%s), (%s)) = (%s), %v; want (%s), %v", b, tt.s, tt.d, got, conflict, tt.want, tt.wantConflict)
			}
			// Merging is symmetric but for the spelling of keywords.
			if rev, rc := MergeFlags(base, d, s); !rev.Equal(got) || rc != conflict {
				t.Errorf("MergeFlags with the sides swapped = (%s), %v; want (%s), %v", rev, rc, got, conflict)
			}
		})
	}
}
