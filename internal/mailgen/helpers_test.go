package mailgen_test

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"mime"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/emersion/go-message"
	"github.com/emersion/go-message/mail"
)

var seedFlag = flag.Uint64("seed", 0, "seed of the randomized tests (0: a new one each run, printed on failure)")

// testSeed returns the seed of a randomized test and has it printed if the
// test fails, so that -seed replays it.
func testSeed(t testing.TB) uint64 {
	t.Helper()
	seed := *seedFlag
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("seed %d: replay with -seed=%d", seed, seed)
		}
	})
	return seed
}

// info is what a test learns of a message by parsing it with go-message.
type info struct {
	date        time.Time
	from        *mail.Address
	subject     string // decoded
	rawSubject  string
	messageID   string // without angle brackets; "" when absent
	inReplyTo   []string
	references  []string
	listID      string
	contentType string // of the message
	texts       int    // text/plain parts
	htmls       int    // text/html parts
	attachments int    // attachments (decoded, checked)
	attachBytes int64  // decoded attachment bytes
	eightBit    bool   // a part is 8bit UTF-8 text with non-ASCII bytes
	longLine    bool   // a line longer than 998 bytes
	bareCR      bool   // a CR not followed by LF
	encodedWord bool   // an RFC 2047 encoded word in a header
}

// inspect parses a message with go-message, as mail.CreateReader and
// message.Read do, reading every part to its end, and checks what every
// generated message must be. It reports the first problem as an error.
func inspect(body []byte) (info, error) {
	var in info
	for line := range bytes.SplitSeq(body, []byte("\n")) {
		if len(bytes.TrimSuffix(line, []byte("\r"))) > 998 {
			in.longLine = true
		}
	}
	for k := bytes.IndexByte(body, '\r'); k >= 0; {
		if k+1 >= len(body) || body[k+1] != '\n' {
			in.bareCR = true
			break
		}
		next := bytes.IndexByte(body[k+1:], '\r')
		if next < 0 {
			break
		}
		k += 1 + next
	}
	end := bytes.Index(body, []byte("\n\n"))
	if e := bytes.Index(body, []byte("\r\n\r\n")); e >= 0 && (end < 0 || e < end) {
		end = e
	}
	if end < 0 {
		return in, errors.New("no blank line after the header")
	}
	for line := range bytes.SplitSeq(body[:end], []byte("\n")) {
		if len(line) > 998 {
			return in, fmt.Errorf("header line of %d bytes: %.60q…", len(line), line)
		}
		if bytes.Contains(line, []byte("=?UTF-8?")) {
			in.encodedWord = true
		}
	}

	// message.Read: the entity and its walk.
	e, err := message.Read(bytes.NewReader(body))
	if err != nil {
		return in, fmt.Errorf("message.Read: %w", err)
	}
	if err := e.Walk(func(path []int, part *message.Entity, err error) error {
		if err != nil || part.MultipartReader() != nil {
			return err // a multipart entity's body is read by Walk
		}
		_, err = io.Copy(io.Discard, part.Body)
		return err
	}); err != nil {
		return in, fmt.Errorf("message.Entity.Walk: %w", err)
	}

	// mail.CreateReader: the headers and every part, decoded.
	mr, err := mail.CreateReader(bytes.NewReader(body))
	if err != nil {
		return in, fmt.Errorf("mail.CreateReader: %w", err)
	}
	defer mr.Close()
	h := mr.Header
	if in.date, err = h.Date(); err != nil {
		return in, fmt.Errorf("Date: %w", err)
	}
	from, err := h.AddressList("From")
	if err != nil || len(from) != 1 {
		return in, fmt.Errorf("From %q: %v addresses, %v", h.Get("From"), len(from), err)
	}
	in.from = from[0]
	for _, key := range []string{"To", "Cc"} {
		if _, err := h.AddressList(key); err != nil {
			return in, fmt.Errorf("%s %q: %w", key, h.Get(key), err)
		}
	}
	in.rawSubject = h.Get("Subject")
	if in.subject, err = h.Subject(); err != nil {
		return in, fmt.Errorf("Subject %q: %w", in.rawSubject, err)
	}
	if strings.Contains(in.subject, "=?") || !utf8.ValidString(in.subject) {
		return in, fmt.Errorf("Subject %q decodes to %q", in.rawSubject, in.subject)
	}
	if in.messageID, err = h.MessageID(); err != nil {
		return in, fmt.Errorf("Message-ID %q: %w", h.Get("Message-Id"), err)
	}
	if in.inReplyTo, err = h.MsgIDList("In-Reply-To"); err != nil {
		return in, fmt.Errorf("In-Reply-To: %w", err)
	}
	if in.references, err = h.MsgIDList("References"); err != nil {
		return in, fmt.Errorf("References: %w", err)
	}
	in.listID = h.Get("List-Id")
	in.contentType, _, err = h.ContentType()
	if err != nil {
		return in, fmt.Errorf("Content-Type: %w", err)
	}
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return in, fmt.Errorf("NextPart: %w", err)
		}
		data, err := io.ReadAll(p.Body)
		if err != nil {
			return in, fmt.Errorf("part body: %w", err)
		}
		switch ph := p.Header.(type) {
		case *mail.InlineHeader:
			t, params, err := ph.ContentType()
			if err != nil {
				return in, fmt.Errorf("part Content-Type: %w", err)
			}
			if !utf8.Valid(data) {
				return in, fmt.Errorf("%s part is not valid UTF-8", t)
			}
			switch t {
			case "text/plain":
				in.texts++
			case "text/html":
				in.htmls++
				if !bytes.Contains(data, []byte("</body></html>")) {
					return in, errors.New("HTML part without its end")
				}
			default:
				return in, fmt.Errorf("inline part of type %s", t)
			}
			if strings.EqualFold(params["charset"], "utf-8") && ph.Get("Content-Transfer-Encoding") == "8bit" && !isASCII(data) {
				in.eightBit = true
			}
		case *mail.AttachmentHeader:
			name, err := ph.Filename()
			if err != nil || name == "" {
				return in, fmt.Errorf("attachment file name %q: %v", name, err)
			}
			if t, _, err := ph.ContentType(); err != nil || t == "" {
				return in, fmt.Errorf("attachment Content-Type %q: %v", t, err)
			}
			in.attachments++
			in.attachBytes += int64(len(data))
		}
	}
	if in.texts == 0 {
		return in, errors.New("no text part")
	}
	return in, nil
}

func isASCII(b []byte) bool {
	for _, c := range b {
		if c >= 0x80 {
			return false
		}
	}
	return true
}

// decodeWords decodes RFC 2047 encoded words.
func decodeWords(s string) string {
	d, err := new(mime.WordDecoder).DecodeHeader(s)
	if err != nil {
		return s
	}
	return d
}
