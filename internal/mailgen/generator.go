package mailgen

import (
	"bytes"
	"mime"
	"slices"
	"strings"
	"time"

	"github.com/mailrepl/mailrepl/mailbox"
)

// Generator makes the messages of one deterministic stream. It holds no
// mutable state: its methods are safe for concurrent use, and message i is
// the same whatever was generated before or alongside it.
type Generator struct {
	seed    uint64
	o       Options // with defaults
	folders []folder
	total   float64 // sum of the folders' weights
	parties []party
	owner   party
	weyl    uint64 // offset of the dates' low-discrepancy sequence
}

// folder is a Folder with what rendering needs precomputed.
type folder struct {
	Folder
	list string // a List folder's list name: its last level, in ASCII
}

// party is a correspondent.
type party struct {
	addr   string
	domain string
	hdr    string // as in From: and To:, the name quoted or encoded as needed
	name   string // the display name, as people read it
	zone   *time.Location
}

const nParties = 300

var zones = []*time.Location{
	time.UTC,
	time.FixedZone("CET", 1*3600),
	time.FixedZone("EET", 2*3600),
	time.FixedZone("EST", -5*3600),
	time.FixedZone("PDT", -7*3600),
	time.FixedZone("IST", 5*3600+1800),
	time.FixedZone("JST", 9*3600),
	time.FixedZone("AEST", 10*3600),
}

// New returns the generator of the stream seeded with seed, with the
// default options.
func New(seed uint64) *Generator {
	g, err := NewWithOptions(seed, nil)
	if err != nil {
		panic(err) // the defaults are valid
	}
	return g
}

// NewWithOptions returns the generator of the stream seeded with seed,
// configured by opts (nil: the defaults). The error is opts.Validate's.
// Two generators with the same seed and options make the same messages.
func NewWithOptions(seed uint64, opts *Options) (*Generator, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	g := &Generator{seed: seed, o: opts.withDefaults(), weyl: mix(seed ^ 0x2545f4914f6cdd1d)}
	for _, f := range g.o.Folders {
		ff := folder{Folder: f}
		if f.Kind == List {
			ff.list = listName(f.Name[strings.LastIndexByte(f.Name, mailbox.Delimiter)+1:])
		}
		g.folders = append(g.folders, ff)
		g.total += f.Weight
	}
	g.parties = make([]party, nParties)
	for k := range g.parties {
		r := newRNG(seed, 0, k, streamParty)
		first, last := pick(&r, firstNames), pick(&r, lastNames)
		local := asciiFold(first) + "." + asciiFold(last)
		if r.chance(0.3) {
			local = asciiFold(first)[:1] + asciiFold(last)
		}
		domain := pick(&r, domains)
		addr := local + itoa(k) + "@" + domain
		name := first + " " + last
		if r.chance(0.1) {
			name = last + ", " + first
		}
		g.parties[k] = party{addr: addr, domain: domain, name: name, hdr: addressHeader(name, addr, r.chance(0.5)), zone: pick(&r, zones)}
	}
	local, domain, _ := strings.Cut(g.o.Owner, "@")
	var name []string
	for w := range strings.FieldsFuncSeq(local, func(c rune) bool { return c == '.' || c == '_' || c == '-' || c == '+' }) {
		name = append(name, strings.ToUpper(w[:1])+w[1:])
	}
	ownerName := strings.Join(name, " ")
	g.owner = party{addr: g.o.Owner, domain: domain, name: ownerName, hdr: addressHeader(ownerName, g.o.Owner, false), zone: zones[1]}
	return g, nil
}

// listName makes a list's name, as in its address, from a folder's name:
// lower-case ASCII letters, digits, '-', '_' and '.'.
func listName(folder string) string {
	var b strings.Builder
	for _, c := range strings.ToLower(folder) {
		switch {
		case c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_':
			b.WriteRune(c)
		case c == ' ' || c == '.':
			b.WriteByte('-')
		default:
			b.WriteString(asciiFold(string(c)))
		}
	}
	if s := strings.Trim(b.String(), "-_"); s != "" {
		return s
	}
	return "list"
}

// addressHeader formats an address with its display name for a header:
// bare when the name is plain ASCII words, quoted when it holds a comma or
// other specials, as an RFC 2047 encoded word (B or Q) when it is not ASCII.
func addressHeader(name, addr string, bEncoding bool) string {
	switch {
	case name == "":
		return addr
	case !isASCII(name):
		// Go's Q encoding leaves specials such as ',' as they are, which
		// a phrase cannot hold (RFC 2047 §5): B encoding then.
		if bEncoding || strings.ContainsAny(name, `,.:;@<>()[]\"`) {
			return mime.BEncoding.Encode("UTF-8", name) + " <" + addr + ">"
		}
		return mime.QEncoding.Encode("UTF-8", name) + " <" + addr + ">"
	case strings.ContainsAny(name, `,.:;@<>()[]\"`):
		return `"` + name + `" <` + addr + ">"
	}
	return name + " <" + addr + ">"
}

// Seed is the generator's seed.
func (g *Generator) Seed() uint64 { return g.seed }

// Options returns the generator's options, defaults filled in.
func (g *Generator) Options() Options {
	o := g.o
	o.Folders = append([]Folder(nil), o.Folders...)
	return o
}

// Message is one generated message.
type Message struct {
	// Index is the message's number in its stream.
	Index int
	// Original is the index of the message whose bytes these are: Index,
	// or for an exact duplicate the earlier message it duplicates.
	Original int
	// Folder is the mailbox the message belongs in.
	Folder string
	// Body is the raw message, RFC 5322 with the configured line endings.
	Body []byte
	// Flags are its flags; InternalDate is when it arrived (UTC, whole
	// seconds).
	Flags        mailbox.Flags
	InternalDate time.Time
}

// IsDuplicate reports whether m's bytes are those of an earlier message.
func (m Message) IsDuplicate() bool { return m.Original != m.Index }

// Message returns message i (i >= 0) of the stream. It depends on the
// seed, the options and i alone.
func (g *Generator) Message(i int) Message {
	_, m := g.AppendTo(nil, i)
	return m
}

// AppendTo appends the bytes of message i to dst and returns the extended
// buffer and the message, whose Body is the appended part of that buffer.
// Reusing the buffer (AppendTo(buf[:0], i)) saves allocating a body per
// message; the Body is then valid until the buffer is reused.
func (g *Generator) AppendTo(dst []byte, i int) ([]byte, Message) {
	return g.appendMessage(dst, 0, i)
}

// appendMessage appends message i of stream st: 0 is the account, others
// are the new mail of Mutate.
func (g *Generator) appendMessage(dst []byte, st uint64, i int) ([]byte, Message) {
	if i < 0 {
		panic("mailgen: negative message index")
	}
	id := g.base(st, i)
	kind := g.folders[id.folder].Kind
	m := Message{Index: i, Original: i, Folder: g.folders[id.folder].Name}
	if orig, ok := g.original(id); ok {
		m.Original = orig.i
		id = orig
	}
	var th thread
	g.walk(id, &th)
	start := len(dst)
	dst = g.render(dst, id, &th)
	if g.o.CRLF {
		dst = toCRLF(dst, start)
	}
	m.Body = dst[start:len(dst):len(dst)]
	m.InternalDate = th.date.Add(th.delivery).UTC()
	fr := newRNG(g.seed, st, i, streamFlags)
	m.Flags = flagsOf(pickFlags(&fr, kind))
	return dst, m
}

// ident is what other messages may need to know of a message: drawn from
// its base stream alone, so that it is cheap to compute for any index.
type ident struct {
	st      uint64
	i       int
	folder  int
	level   int // the thread depth it tries to reach: 0 for a new conversation
	from    int // its correspondent: the sender, or for sent mail the recipient
	noMsgID bool
	dup     bool   // tries to duplicate an earlier message
	token   uint64 // the random part of its Message-ID
	jitter  float64
	delay   time.Duration // a reply's delay after its parent
}

const (
	maxLevel     = 4   // deepest thread level
	threadWindow = 400 // a reply's parent is among the messages this far back
	dupWindow    = 2000
	parentTries  = 12
)

func (g *Generator) base(st uint64, i int) ident {
	r := newRNG(g.seed, st, i, streamBase)
	id := ident{st: st, i: i}
	x := r.float() * g.total
	id.folder = len(g.folders) - 1
	for k, f := range g.folders {
		if x < f.Weight {
			id.folder = k
			break
		}
		x -= f.Weight
	}
	id.from = r.intn(len(g.parties))
	id.noMsgID = g.even(evenNoMsgID, st, i, g.o.NoMessageIDRate)
	id.dup = i > 0 && g.even(evenDup, st, i, g.o.DuplicateRate)
	id.token = r.u64()
	id.jitter = r.float()
	if r.chance(g.o.ReplyRate) && i > 0 {
		switch x := r.float(); {
		case x < 0.6:
			id.level = 1
		case x < 0.85:
			id.level = 2
		case x < 0.95:
			id.level = 3
		default:
			id.level = 4
		}
	}
	d := r.lognormal(float64(2*time.Hour), 1.5)
	id.delay = min(max(time.Duration(d), time.Minute), 14*24*time.Hour).Truncate(time.Second)
	return id
}

// original returns the earlier message that id duplicates, if it does.
// Only messages that do not themselves try to duplicate are taken, so a
// duplicate's original is never a duplicate.
func (g *Generator) original(id ident) (ident, bool) {
	if !id.dup {
		return ident{}, false
	}
	r := newRNG(g.seed, id.st, id.i, streamThread)
	for range 8 {
		j := id.i - 1 - r.intn(min(id.i, dupWindow))
		if c := g.base(id.st, j); !c.dup {
			return c, true
		}
	}
	return ident{}, false
}

// parent returns the message id replies to, if it finds one: an earlier
// message one thread level up, with a Message-ID, not a duplicate, in a
// folder where the reply makes sense.
func (g *Generator) parent(id ident) (ident, bool) {
	if id.level == 0 {
		return ident{}, false
	}
	r := newRNG(g.seed, id.st, id.i, streamThread)
	for range parentTries {
		j := id.i - 1 - r.intn(min(id.i, threadWindow))
		c := g.base(id.st, j)
		if c.level == id.level-1 && !c.noMsgID && !c.dup && g.related(id.folder, c.folder) {
			return c, true
		}
	}
	return ident{}, false
}

// related reports whether mail in folder a may reply to mail in folder b:
// list mail only to mail of its list, other mail to anything but drafts and
// list mail.
func (g *Generator) related(a, b int) bool {
	fa, fb := g.folders[a].Kind, g.folders[b].Kind
	if fa == List || fb == List {
		return a == b
	}
	return fb != Drafts
}

// thread is a message's place in its conversation.
type thread struct {
	chain    [maxLevel]ident // chain[0] is the parent, chain[n-1] the root
	n        int
	date     time.Time // the message's Date
	delivery time.Duration
}

func (t *thread) root(self ident) ident {
	if t.n == 0 {
		return self
	}
	return t.chain[t.n-1]
}

// walk finds id's ancestors and its date.
func (g *Generator) walk(id ident, t *thread) {
	cur := id
	for t.n < maxLevel {
		p, ok := g.parent(cur)
		if !ok {
			break
		}
		t.chain[t.n] = p
		t.n++
		cur = p
	}
	t.date = g.rootDate(t.root(id))
	for k := t.n - 2; k >= 0; k-- {
		t.date = t.date.Add(t.chain[k].delay)
	}
	if t.n > 0 {
		t.date = t.date.Add(id.delay)
	}
	t.delivery = time.Duration(1+int(id.jitter*119)) * time.Second
	if k := g.folders[id.folder].Kind; k == Sent || k == Drafts {
		t.delivery = 0
	}
}

// parentDate is the Date of the parent of a message with thread t.
func (g *Generator) parentDate(t *thread) time.Time {
	d := g.rootDate(t.chain[t.n-1])
	for k := t.n - 2; k >= 0; k-- {
		d = d.Add(t.chain[k].delay)
	}
	return d
}

// rootDate dates a message that starts a conversation. In the account's
// stream the dates follow a low-discrepancy sequence over [Epoch,
// Epoch+Span): any number of messages covers the span evenly. The new mail
// of Mutate comes after Epoch+Span, a few minutes apart.
func (g *Generator) rootDate(id ident) time.Time {
	if id.st == 0 {
		x := uint64(id.i)*0x9e3779b97f4a7c15 + g.weyl
		frac := float64(x>>11) / (1 << 53)
		return g.o.Epoch.Add(time.Duration(frac * float64(g.o.Span))).Truncate(time.Second)
	}
	day := time.Duration(mix(id.st)%30) * 24 * time.Hour
	step := 7 * time.Minute
	return g.o.Epoch.Add(g.o.Span + day + time.Duration(id.i)*step + time.Duration(id.jitter*float64(step))).Truncate(time.Second)
}

// toCRLF writes every LF of b[start:] as CRLF, in place.
func toCRLF(b []byte, start int) []byte {
	n := bytes.Count(b[start:], []byte{'\n'})
	if n == 0 {
		return b
	}
	old := len(b)
	b = slices.Grow(b, n)[:old+n]
	j := len(b)
	for k := old - 1; k >= start && j > k; k-- {
		j--
		b[j] = b[k]
		if b[k] == '\n' {
			j--
			b[j] = '\r'
		}
	}
	return b
}
