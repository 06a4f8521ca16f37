package mailgen

import (
	"bytes"
	"encoding/base64"
	"mime"
	"slices"
	"strconv"
	"time"
)

// writer appends a message to a buffer. It writes LF line endings;
// appendMessage converts them afterwards when CRLF is asked for, so that
// both forms of a message hold the same text.
type writer struct {
	b []byte
}

func (w *writer) s(x string)       { w.b = append(w.b, x...) }
func (w *writer) c(x byte)         { w.b = append(w.b, x) }
func (w *writer) nl()              { w.b = append(w.b, '\n') }
func (w *writer) int(n int)        { w.b = strconv.AppendInt(w.b, int64(n), 10) }
func (w *writer) date(t time.Time) { w.b = t.AppendFormat(w.b, "Mon, 02 Jan 2006 15:04:05 -0700") }

// hex appends the n low hex digits of v, upper case.
func (w *writer) hex(v uint64, n int) {
	const digits = "0123456789ABCDEF"
	for k := n - 1; k >= 0; k-- {
		w.c(digits[(v>>(4*k))&15])
	}
}

// header appends "name: value" and a line ending.
func (w *writer) header(name, value string) {
	w.s(name)
	w.s(": ")
	w.s(value)
	w.nl()
}

func itoa(n int) string { return strconv.Itoa(n) }

// sender is who sent the message id: the owner for mail in Sent and
// Drafts, else its correspondent.
func (g *Generator) sender(id ident) *party {
	if k := g.folders[id.folder].Kind; k == Sent || k == Drafts {
		return &g.owner
	}
	return &g.parties[id.from]
}

// messageID appends the Message-ID of id, angle brackets included. It is
// unique in the generator's streams: it holds the index and the stream.
func (g *Generator) messageID(w *writer, id ident) {
	w.c('<')
	w.hex(id.token, 16)
	w.c('.')
	w.int(id.i)
	if id.st != 0 {
		w.c('.')
		w.hex(id.st, 16)
	}
	w.c('@')
	w.s(g.sender(id).domain)
	w.c('>')
}

// The features a message body has, drawn at the start of its content
// stream.
type features struct {
	utf8, large, attach, alt, longLine, bareCR bool
}

// render appends message id, whose place in its conversation is th.
func (g *Generator) render(dst []byte, id ident, th *thread) []byte {
	r := newRNG(g.seed, id.st, id.i, streamContent)
	f := &g.folders[id.folder]
	w := &writer{b: dst}
	start := len(dst)

	var ft features
	ft.utf8 = r.chance(g.o.EightBitRate)
	ft.large = g.even(evenLarge, id.st, id.i, g.o.LargeRate)
	ft.attach = ft.large || r.chance(g.o.AttachmentRate)
	ft.alt = r.chance(g.o.AlternativeRate)
	ft.longLine = g.even(evenLongLine, id.st, id.i, g.o.LongLineRate)
	ft.bareCR = g.even(evenBareCR, id.st, id.i, g.o.BareCRRate)
	target := r.lognormal(float64(g.o.TextMedian), g.o.TextSigma)

	outgoing := f.Kind == Sent || f.Kind == Drafts
	from, to := g.sender(id), &g.owner
	if outgoing {
		to = &g.parties[id.from]
		if th.n > 0 {
			to = g.sender(th.chain[0])
			if to == &g.owner {
				to = &g.parties[th.chain[0].from]
			}
		}
	}

	if !outgoing {
		g.trace(w, &r, f, from, th.date.Add(th.delivery))
	}
	w.s("Date: ")
	w.date(th.date.In(from.zone))
	w.nl()
	w.header("From", from.hdr)
	switch {
	case f.Kind == List:
		w.s("To: ")
		w.s(f.list)
		w.s("@lists.example.org")
		w.nl()
	case f.Kind == Drafts && r.chance(0.1):
		// a draft not yet addressed
	default:
		w.header("To", to.hdr)
	}
	if r.chance(0.15) {
		w.s("Cc: ")
		w.s(pick(&r, g.parties).hdr)
		if r.chance(0.4) {
			w.s(",")
			w.nl()
			w.s("    ")
			w.s(pick(&r, g.parties).hdr)
		}
		w.nl()
	}
	g.subject(w, f, id, th)
	if !id.noMsgID {
		w.s("Message-ID: ")
		g.messageID(w, id)
		w.nl()
	}
	if th.n > 0 {
		w.s("In-Reply-To: ")
		g.messageID(w, th.chain[0])
		w.nl()
		w.s("References:")
		for k := th.n - 1; k >= 0; k-- {
			if k < th.n-1 {
				w.nl()
			}
			w.c(' ')
			g.messageID(w, th.chain[k])
		}
		w.nl()
	}
	if f.Kind == List {
		w.s("List-Id: ")
		w.s(f.list)
		w.s(" <")
		w.s(f.list)
		w.s(".lists.example.org>")
		w.nl()
		w.s("List-Unsubscribe: <mailto:")
		w.s(f.list)
		w.s("+unsubscribe@lists.example.org>")
		w.nl()
		w.s("List-Archive: <https://lists.example.org/archive/")
		w.s(f.list)
		w.s("/>")
		w.nl()
		w.header("Precedence", "list")
	}
	if r.chance(0.5) {
		if r.chance(0.5) {
			w.header("User-Agent", pick(&r, mailers))
		} else {
			w.header("X-Mailer", pick(&r, mailers))
		}
	}
	if f.Kind == Drafts {
		w.header("X-Mozilla-Draft-Info", "internal/draft; vcard=0; receipt=0; DSN=0; uuencode=0; attachmentreminder=0; deliveryformat=4")
	}
	w.header("MIME-Version", "1.0")

	// The text's share of the message: the log-normal target less what is
	// written already, bounded so that text and HTML stay well within
	// MaxSize.
	budget := int(target) - (len(w.b) - start) - 150
	if budget < 100 {
		budget = 100 + r.intn(200)
	}
	budget = min(budget, g.o.MaxSize/5)

	switch {
	case ft.attach:
		outer := newBoundary(&r)
		w.s(`Content-Type: multipart/mixed; boundary="`)
		w.b = append(w.b, outer[:]...)
		w.c('"')
		w.nl()
		w.nl()
		w.s("This is a multi-part message in MIME format.")
		w.nl()
		w.delimiter(&outer)
		if ft.alt {
			g.alternative(w, &r, budget, ft, id, th)
		} else {
			g.plain(w, &r, budget, ft, id, th)
		}
		w.delimiter(&outer)
		g.attachment(w, &r, ft, start)
		w.close(&outer)
	case ft.alt:
		g.alternative(w, &r, budget, ft, id, th)
	default:
		g.plain(w, &r, budget, ft, id, th)
	}
	return w.b
}

// trace appends the headers a delivery adds: Return-Path, Delivered-To,
// one to three Received, sometimes a DKIM-Signature.
func (g *Generator) trace(w *writer, r *rng, f *folder, from *party, arrived time.Time) {
	w.s("Return-Path: <")
	if f.Kind == List {
		w.s(f.list)
		w.s("+bounces@lists.example.org>")
	} else {
		w.s(from.addr)
		w.c('>')
	}
	w.nl()
	w.header("Delivered-To", g.owner.addr)
	// Newest first: the hop into the owner's server, then the relays
	// before it, back to the sender's (through the list server for list
	// mail).
	hops := r.between(1, 3)
	t := arrived.UTC()
	by, byN := "", 0 // the server that received the hop: the owner's first
	for h := range hops {
		relay := from.domain
		if f.Kind == List && h == 0 {
			relay = "lists.example.org"
		}
		n := r.intn(9)
		w.s("Received: from mx")
		w.int(n)
		w.c('.')
		w.s(relay)
		w.s(" (mx")
		w.int(n)
		w.c('.')
		w.s(relay)
		w.s(" [192.0.2.")
		w.int(r.between(1, 254))
		w.s("])")
		w.nl()
		if h == 0 {
			w.s("\tby mail.")
			w.s(g.owner.domain)
		} else {
			w.s("\tby mx")
			w.int(byN)
			w.c('.')
			w.s(by)
		}
		w.s(" (Postfix) with ESMTPS id ")
		w.hex(r.u64(), 10)
		w.nl()
		w.s("\tfor <")
		w.s(g.owner.addr)
		w.s(">; ")
		w.date(t)
		w.s(" (UTC)")
		w.nl()
		by, byN = relay, n
		t = t.Add(-time.Duration(r.between(1, 30)) * time.Second)
	}
	if r.chance(0.5) {
		w.s("DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=")
		w.s(from.domain)
		w.c(';')
		w.nl()
		w.s("\ts=mail2023; t=")
		w.int(int(arrived.Unix()))
		w.s("; h=from:to:subject:date:message-id;")
		w.nl()
		w.s("\tbh=")
		w.randomBase64(r, 43)
		w.s("=;")
		w.nl()
		w.s("\tb=")
		for k := range 4 {
			if k > 0 {
				w.nl()
				w.c('\t')
			}
			w.randomBase64(r, 86)
		}
		w.s("==")
		w.nl()
	}
}

// randomBase64 appends n random base64 digits.
func (w *writer) randomBase64(r *rng, n int) {
	const digits = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	for n > 0 {
		v := r.u64()
		for k := 0; k < 10 && n > 0; k++ {
			w.c(digits[v&63])
			v >>= 6
			n--
		}
	}
}

// subject appends the Subject header: the subject of the conversation's
// first message, with "Re: " for a reply and a list's tag in list folders.
// A few subjects hold UTF-8 words, written as RFC 2047 encoded words.
func (g *Generator) subject(w *writer, f *folder, id ident, th *thread) {
	root := th.root(id)
	r := newRNG(g.seed, root.st, root.i, streamSubject)
	w.s("Subject: ")
	fwd := r.chance(0.02) // drawn for replies too: they share the root's stream
	switch {
	case th.n > 0:
		w.s("Re: ")
	case fwd:
		w.s("Fwd: ")
	}
	if f.Kind == List {
		w.c('[')
		w.s(f.list)
		w.s("] ")
	}
	n := r.between(2, 9)
	if !r.chance(0.05) {
		for k := range n {
			if k > 0 {
				w.c(' ')
			}
			word := pick(&r, words)
			if k == 0 {
				w.c(upper(word[0]))
				word = word[1:]
			}
			w.s(word)
		}
		w.nl()
		return
	}
	// An encoded subject: build it aside, then encode it.
	var b []byte
	for k := range n {
		if k > 0 {
			b = append(b, ' ')
		}
		if r.chance(0.3) {
			b = append(b, pick(&r, utf8Words)...)
		} else {
			b = append(b, pick(&r, words)...)
		}
	}
	b = append(b, " — "...)
	b = append(b, pick(&r, utf8Words)...)
	if r.chance(0.5) {
		w.s(mime.QEncoding.Encode("UTF-8", string(b)))
	} else {
		w.s(mime.BEncoding.Encode("UTF-8", string(b)))
	}
	w.nl()
}

func upper(c byte) byte {
	if 'a' <= c && c <= 'z' {
		return c - 'a' + 'A'
	}
	return c
}

// boundary is a multipart boundary: "=_mailgen_" and 16 hex digits.
type boundary [26]byte

// newBoundary returns a fresh boundary.
func newBoundary(r *rng) boundary {
	const digits = "0123456789abcdef"
	var b boundary
	copy(b[:], "=_mailgen_")
	v := r.u64()
	for k := len(b) - 16; k < len(b); k++ {
		b[k] = digits[v&15]
		v >>= 4
	}
	return b
}

// delimiter appends a multipart delimiter line.
func (w *writer) delimiter(b *boundary) {
	w.nl()
	w.s("--")
	w.b = append(w.b, b[:]...)
	w.nl()
}

// close appends a multipart close-delimiter line.
func (w *writer) close(b *boundary) {
	w.s("--")
	w.b = append(w.b, b[:]...)
	w.s("--")
	w.nl()
}

func textType(w *writer, sub string, ft features, flowed bool) {
	w.s("Content-Type: text/")
	w.s(sub)
	if ft.utf8 {
		w.s("; charset=utf-8")
	} else {
		w.s("; charset=us-ascii")
	}
	if flowed {
		w.s("; format=flowed")
	}
	w.nl()
	if ft.utf8 {
		w.header("Content-Transfer-Encoding", "8bit")
	} else {
		w.header("Content-Transfer-Encoding", "7bit")
	}
}

// plain appends a text/plain part, headers included.
func (g *Generator) plain(w *writer, r *rng, budget int, ft features, id ident, th *thread) {
	textType(w, "plain", ft, r.chance(0.3))
	w.nl()
	g.text(w, r, budget, ft, id, th)
}

// alternative appends a multipart/alternative part: the text, then the
// same as HTML.
func (g *Generator) alternative(w *writer, r *rng, budget int, ft features, id ident, th *thread) {
	b := newBoundary(r)
	w.s(`Content-Type: multipart/alternative; boundary="`)
	w.b = append(w.b, b[:]...)
	w.c('"')
	w.nl()
	w.delimiter(&b)
	textType(w, "plain", ft, false)
	w.nl()
	from := len(w.b)
	g.text(w, r, budget*2/5, ft, id, th)
	to := len(w.b)
	w.delimiter(&b)
	textType(w, "html", ft, false)
	w.nl()
	w.html(from, to)
	w.nl()
	w.close(&b)
}

// text appends about n bytes of text: prose, sometimes with a long line
// or bare CRs, a signature, and for a reply often the quoted parent.
func (g *Generator) text(w *writer, r *rng, n int, ft features, id ident, th *thread) {
	quote := 0
	if th.n > 0 && r.chance(0.6) {
		quote = n * 3 / 10
		n -= quote
	}
	if ft.bareCR {
		// Progress output pasted from a terminal: CRs without LF.
		w.s("Progress:")
		for k := range r.between(3, 9) {
			if k > 0 {
				w.c('\r')
			}
			w.c(' ')
			w.int((k + 1) * 10)
			w.c('%')
		}
		w.s("\r done.")
		w.nl()
		w.nl()
	}
	if ft.longLine {
		// One paragraph on a single line (as some clients and minified
		// HTML write), longer than RFC 5322's 998 bytes.
		w.prose(r, r.between(1000, 6000), ft.utf8, "", true)
		n = max(n-1000, 100)
	}
	w.prose(r, n, ft.utf8, "", false)
	w.s("-- ")
	w.nl()
	w.s(g.sender(id).name)
	w.nl()
	if quote > 0 {
		p := th.chain[0]
		w.nl()
		w.s("On ")
		w.date(g.parentDate(th).In(g.sender(p).zone))
		w.s(", ")
		w.s(g.sender(p).name)
		w.s(" wrote:")
		w.nl()
		w.prose(r, quote, ft.utf8, "> ", false)
	}
}

// prose appends paragraphs of sentences until at least n bytes are
// written. Lines are wrapped at 72 columns, each starting with prefix,
// unless oneLine: then it is a single paragraph on a single line.
func (w *writer) prose(r *rng, n int, utf8 bool, prefix string, oneLine bool) {
	end := len(w.b) + n
	col := 0
	for len(w.b) < end {
		sentences := r.between(2, 6)
		for s := 0; s < sentences || oneLine && len(w.b) < end; s++ {
			nw := r.between(4, 16)
			for k := range nw {
				var word string
				if utf8 && r.chance(0.12) {
					word = pick(r, utf8Words)
				} else {
					word = pick(r, words)
				}
				switch {
				case col == 0:
					w.s(prefix)
					col = len(prefix)
				case !oneLine && col+1+len(word) > 72:
					w.nl()
					w.s(prefix)
					col = len(prefix)
				default:
					w.c(' ')
					col++
				}
				if k == 0 {
					w.c(upper(word[0]))
					w.s(word[1:])
				} else {
					w.s(word)
				}
				col += len(word)
				if k == nw-1 {
					switch x := r.intn(100); {
					case x < 8:
						w.c('?')
					case x < 10:
						w.c('!')
					default:
						w.c('.')
					}
					col++
				} else if r.intn(100) < 7 {
					w.c(',')
					col++
				}
			}
		}
		w.nl()
		if oneLine {
			return
		}
		if prefix != "" {
			w.s(prefix[:1])
		}
		w.nl()
		col = 0
	}
}

// html appends the text in w.b[from:to] as an HTML document: a paragraph
// for each run of lines, each line ended by <br>.
func (w *writer) html(from, to int) {
	w.s(`<!DOCTYPE html>`)
	w.nl()
	w.s(`<html><head><meta http-equiv="Content-Type" content="text/html; charset=utf-8"></head><body>`)
	w.nl()
	open := false
	for k := from; k < to; {
		e := k + slices.Index(w.b[k:to], '\n')
		if e < k {
			e = to
		}
		line := e
		if line == k {
			if open {
				w.s("</p>")
				w.nl()
				open = false
			}
		} else {
			if !open {
				w.s("<p>")
				open = true
			}
			// Copy the line in runs between characters to escape; w.b
			// may move as it grows, so index it afresh each time.
			run := k
			for j := k; j < line; j++ {
				var esc string
				switch w.b[j] {
				case '<':
					esc = "&lt;"
				case '>':
					esc = "&gt;"
				case '&':
					esc = "&amp;"
				default:
					continue
				}
				w.b = append(w.b, w.b[run:j]...)
				w.s(esc)
				run = j + 1
			}
			w.b = append(w.b, w.b[run:line]...)
			w.s("<br>")
			w.nl()
		}
		k = e + 1
	}
	if open {
		w.s("</p>")
		w.nl()
	}
	w.s("</body></html>")
	w.nl()
}

// attachment appends an attachment part of random bytes in base64. Its
// size is log-normal (median 96 KiB), or for a large message such that
// the whole message is between 1 MiB and MaxSize; never so large that the
// message, which began at w.b[start] and ends with a close-delimiter,
// would exceed MaxSize.
func (g *Generator) attachment(w *writer, r *rng, ft features, start int) {
	kind := pick(r, attachmentKinds)
	var name []byte
	if ft.utf8 && r.chance(0.5) {
		name = append(name, pick(r, utf8Words)...)
	} else {
		name = append(name, pick(r, words)...)
	}
	name = append(name, '-')
	name = strconv.AppendInt(name, int64(r.intn(1000)), 10)
	name = append(name, '.')
	name = append(name, kind.ext...)
	w.s("Content-Type: ")
	w.s(kind.ctype)
	w.s(`; name="`)
	if isASCII(string(name)) {
		w.b = append(w.b, name...)
		w.c('"')
		w.nl()
		w.s(`Content-Disposition: attachment; filename="`)
		w.b = append(w.b, name...)
		w.c('"')
	} else {
		w.s(mime.BEncoding.Encode("UTF-8", string(name)))
		w.c('"')
		w.nl()
		w.s("Content-Disposition: attachment;")
		w.nl()
		w.s(" filename*=UTF-8''")
		percentEncode(w, name)
	}
	w.nl()
	w.header("Content-Transfer-Encoding", "base64")
	w.nl()

	// Sizes are counted with CRLF line endings, so that the message
	// keeps within MaxSize, and is the same, in both forms.
	const perLine = 78 // a line of base64 holds 57 bytes
	size := len(w.b) - start + bytes.Count(w.b[start:], []byte{'\n'})
	tail := 2 + len(boundary{}) + 2 + 2 // the close-delimiter
	room := g.o.MaxSize - size - tail
	var raw int
	if ft.large {
		lo := min(1<<20+4<<10, g.o.MaxSize/2) // over 1 MiB, whatever the rounding below
		total := r.between(lo, g.o.MaxSize)
		raw = (total - size - tail) / perLine * 57
	} else {
		raw = max(int(r.lognormal(96<<10, 1.2)), 2<<10)
	}
	raw = max(min(raw, room/perLine*57), 0)
	w.base64(r, raw, kind.magic)
}

// percentEncode appends b with RFC 2231's percent-encoding.
func percentEncode(w *writer, b []byte) {
	const digits = "0123456789ABCDEF"
	for _, c := range b {
		if c < 0x80 && (c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_') {
			w.c(c)
			continue
		}
		w.c('%')
		w.c(digits[c>>4])
		w.c(digits[c&15])
	}
}

// base64 appends n random bytes, the first of them magic, in base64 lines
// of 76 characters.
func (w *writer) base64(r *rng, n int, magic string) {
	lines := (n + 56) / 57
	w.b = slices.Grow(w.b, lines*77)
	var raw [57 * 64]byte
	first := true
	for n > 0 {
		k := min(n, len(raw))
		r.fill(raw[:k])
		if first {
			copy(raw[:k], magic)
			first = false
		}
		for off := 0; off < k; off += 57 {
			w.b = base64.StdEncoding.AppendEncode(w.b, raw[off:min(off+57, k)])
			w.nl()
		}
		n -= k
	}
}
