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
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
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
	msgToken   = regexp.MustCompile(`^(\d+):([a-z][a-z0-9]*)(\?)?(?:\((.*)\))?$`)
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
	out     []string
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
		names:   map[string]string{},
		fp:      map[string]string{},
		tombs:   map[mailbox.EmailID]bool{},
		uidName: [2]map[uid.UID]string{{}, {}},
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
				return fmt.Errorf("message %q: want UID:name[?][(flags)] or UID:expunged", a)
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
