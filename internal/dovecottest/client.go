package dovecottest

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Client is a minimal IMAP4rev1 client for tests: one command at a time,
// no pipelining, just what tests need. Mailbox names are passed as IMAP
// has them (modified UTF-7). Its methods return errors; the Must helpers
// of tests wrap them.
type Client struct {
	conn net.Conn
	r    *bufio.Reader
	w    *bufio.Writer
	tag  int
}

// Dial connects to an IMAP server and reads its greeting.
func Dial(addr string) (*Client, error) {
	conn, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return nil, err
	}
	c := &Client{conn: conn, r: bufio.NewReader(conn), w: bufio.NewWriter(conn)}
	conn.SetDeadline(time.Now().Add(time.Minute))
	greeting, err := c.readResponse()
	if err != nil {
		conn.Close()
		return nil, err
	}
	if len(greeting) < 2 || atomOf(greeting[1]) != "OK" {
		conn.Close()
		return nil, fmt.Errorf("imap: greeting %v", greeting)
	}
	return c, nil
}

// Login dials the server and logs its user in; t fails on error.
func (s *Server) Login(t testing.TB) *Client {
	t.Helper()
	c, err := Dial(s.Addr)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Login(s.User, s.Password); err != nil {
		c.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// Close closes the connection.
func (c *Client) Close() error { return c.conn.Close() }

// Logout ends the session.
func (c *Client) Logout() error {
	_, err := c.cmd("LOGOUT")
	c.conn.Close()
	return err
}

// value is a parsed IMAP datum: string (atom or quoted), []byte
// (literal), []any (parenthesized list) or nil (NIL).
type value = any

func atomOf(v value) string {
	switch x := v.(type) {
	case string:
		return x
	case []byte:
		return string(x)
	}
	return ""
}

// Response is one untagged response, split into data items.
type Response []value

// readResponse reads one response line with its literals and parses it.
func (c *Client) readResponse() (Response, error) {
	var raw bytes.Buffer
	var lits [][]byte
	for {
		line, err := c.r.ReadBytes('\n')
		if err != nil {
			return nil, err
		}
		line = bytes.TrimRight(line, "\r\n")
		raw.Write(line)
		n, ok := trailingLiteral(line)
		if !ok {
			break
		}
		lit := make([]byte, n)
		if _, err := io.ReadFull(c.r, lit); err != nil {
			return nil, err
		}
		lits = append(lits, lit)
		raw.WriteString("\x00")
	}
	p := &parser{s: raw.Bytes(), lits: lits}
	return p.items()
}

func trailingLiteral(line []byte) (int, bool) {
	if len(line) < 3 || line[len(line)-1] != '}' {
		return 0, false
	}
	i := bytes.LastIndexByte(line, '{')
	if i < 0 {
		return 0, false
	}
	n, err := strconv.Atoi(strings.TrimSuffix(string(line[i+1:len(line)-1]), "+"))
	if err != nil {
		return 0, false
	}
	return n, true
}

// parser parses a response whose literals were replaced by NUL markers.
type parser struct {
	s    []byte
	i    int
	lits [][]byte
}

func (p *parser) items() (Response, error) {
	var out Response
	for {
		p.skipSpaces()
		if p.i >= len(p.s) {
			return out, nil
		}
		v, err := p.value()
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
}

func (p *parser) skipSpaces() {
	for p.i < len(p.s) && p.s[p.i] == ' ' {
		p.i++
	}
}

func (p *parser) value() (value, error) {
	switch c := p.s[p.i]; {
	case c == '(':
		p.i++
		var list []any
		for {
			p.skipSpaces()
			if p.i >= len(p.s) {
				return nil, errors.New("imap: unterminated list")
			}
			if p.s[p.i] == ')' {
				p.i++
				return list, nil
			}
			v, err := p.value()
			if err != nil {
				return nil, err
			}
			list = append(list, v)
		}
	case c == '"':
		p.i++
		var b []byte
		for p.i < len(p.s) && p.s[p.i] != '"' {
			if p.s[p.i] == '\\' && p.i+1 < len(p.s) {
				p.i++
			}
			b = append(b, p.s[p.i])
			p.i++
		}
		p.i++
		return string(b), nil
	case c == '{':
		j := bytes.IndexByte(p.s[p.i:], 0)
		if j < 0 || len(p.lits) == 0 {
			return nil, errors.New("imap: bad literal")
		}
		p.i += j + 1
		lit := p.lits[0]
		p.lits = p.lits[1:]
		return lit, nil
	default:
		start := p.i
		depth := 0
		for p.i < len(p.s) {
			c := p.s[p.i]
			if c == '[' {
				depth++
			} else if c == ']' {
				depth--
			} else if depth == 0 && (c == ' ' || c == '(' || c == ')') {
				break
			}
			p.i++
		}
		a := string(p.s[start:p.i])
		if a == "NIL" {
			return nil, nil
		}
		return a, nil
	}
}

// Error is a NO or BAD answer.
type Error struct {
	Command string
	Status  string // NO or BAD
	Text    string
}

func (e *Error) Error() string { return fmt.Sprintf("imap: %s: %s %s", e.Command, e.Status, e.Text) }

// cmd sends a command and collects the untagged responses until its
// tagged answer. Arguments are already formatted.
func (c *Client) cmd(format string, args ...any) ([]Response, error) {
	c.tag++
	tag := "t" + strconv.Itoa(c.tag)
	line := fmt.Sprintf(format, args...)
	c.conn.SetDeadline(time.Now().Add(2 * time.Minute))
	if _, err := c.w.WriteString(tag + " " + line + "\r\n"); err != nil {
		return nil, err
	}
	if err := c.w.Flush(); err != nil {
		return nil, err
	}
	return c.collect(tag, line)
}

func (c *Client) collect(tag, line string) ([]Response, error) {
	var untagged []Response
	name, _, _ := strings.Cut(line, " ")
	for {
		r, err := c.readResponse()
		if err != nil {
			return nil, err
		}
		if len(r) == 0 {
			continue
		}
		switch atomOf(r[0]) {
		case "*":
			untagged = append(untagged, r[1:])
		case "+":
		case tag:
			status := atomOf(r[1])
			if status == "OK" {
				untagged = append(untagged, r[1:]) // the tagged OK, last
				return untagged, nil
			}
			var text []string
			for _, v := range r[2:] {
				text = append(text, fmt.Sprint(v))
			}
			return nil, &Error{Command: name, Status: status, Text: strings.Join(text, " ")}
		}
	}
}

// Quote returns s as an IMAP quoted string.
func Quote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

// Login logs in with LOGIN.
func (c *Client) Login(user, pass string) error {
	_, err := c.cmd("LOGIN %s %s", Quote(user), Quote(pass))
	return err
}

// Selected is what SELECT reports.
type Selected struct {
	Exists      int
	UIDValidity uint32
	UIDNext     uint32
}

// Select selects a mailbox.
func (c *Client) Select(mbox string) (Selected, error) {
	rs, err := c.cmd("SELECT %s", Quote(mbox))
	if err != nil {
		return Selected{}, err
	}
	var sel Selected
	for _, r := range rs {
		if len(r) >= 2 && atomOf(r[1]) == "EXISTS" {
			sel.Exists, _ = strconv.Atoi(atomOf(r[0]))
		}
		if len(r) >= 2 && atomOf(r[0]) == "OK" {
			code := atomOf(r[1])
			if v, ok := strings.CutPrefix(code, "[UIDVALIDITY "); ok {
				n, _ := strconv.ParseUint(strings.TrimSuffix(v, "]"), 10, 32)
				sel.UIDValidity = uint32(n)
			}
			if v, ok := strings.CutPrefix(code, "[UIDNEXT "); ok {
				n, _ := strconv.ParseUint(strings.TrimSuffix(v, "]"), 10, 32)
				sel.UIDNext = uint32(n)
			}
		}
	}
	return sel, nil
}

// Message is what UID FETCH returns of one message.
type Message struct {
	UID          uint32
	Flags        []string // as the server sends them, without \Recent
	Size         int64    // RFC822.SIZE
	InternalDate time.Time
	Body         []byte // BODY[], when asked for
}

// FetchItems are the items Fetch asks for without bodies.
const FetchItems = "(UID FLAGS RFC822.SIZE INTERNALDATE)"

// FetchItemsBody adds BODY.PEEK[].
const FetchItemsBody = "(UID FLAGS RFC822.SIZE INTERNALDATE BODY.PEEK[])"

// UIDFetch fetches items of the messages in a UID set ("1:*").
func (c *Client) UIDFetch(set, items string) ([]Message, error) {
	rs, err := c.cmd("UID FETCH %s %s", set, items)
	if err != nil {
		return nil, err
	}
	var out []Message
	for _, r := range rs {
		if len(r) < 3 || atomOf(r[1]) != "FETCH" {
			continue
		}
		list, _ := r[2].([]any)
		var m Message
		for i := 0; i+1 < len(list); i += 2 {
			key := strings.ToUpper(atomOf(list[i]))
			v := list[i+1]
			switch {
			case key == "UID":
				n, _ := strconv.ParseUint(atomOf(v), 10, 32)
				m.UID = uint32(n)
			case key == "FLAGS":
				m.Flags = []string{}
				for _, f := range v.([]any) {
					if a := atomOf(f); !strings.EqualFold(a, `\Recent`) {
						m.Flags = append(m.Flags, a)
					}
				}
			case key == "RFC822.SIZE":
				m.Size, _ = strconv.ParseInt(atomOf(v), 10, 64)
			case key == "INTERNALDATE":
				m.InternalDate, _ = time.Parse("_2-Jan-2006 15:04:05 -0700", atomOf(v))
			case strings.HasPrefix(key, "BODY["):
				switch b := v.(type) {
				case []byte:
					m.Body = b
				case string:
					m.Body = []byte(b)
				}
			}
		}
		out = append(out, m)
	}
	return out, nil
}

// UIDStore changes flags: op is "+FLAGS", "-FLAGS" or "FLAGS" (".SILENT"
// is added).
func (c *Client) UIDStore(set, op string, flags ...string) error {
	_, err := c.cmd("UID STORE %s %s.SILENT (%s)", set, op, strings.Join(flags, " "))
	return err
}

// Expunge expunges the messages marked \Deleted.
func (c *Client) Expunge() error {
	_, err := c.cmd("EXPUNGE")
	return err
}

// Append appends a message (with LITERAL+) and returns the UIDVALIDITY and
// UID of APPENDUID. A zero date means none.
func (c *Client) Append(mbox string, flags []string, date time.Time, msg []byte) (validity, u uint32, err error) {
	c.tag++
	tag := "t" + strconv.Itoa(c.tag)
	var b strings.Builder
	fmt.Fprintf(&b, "%s APPEND %s (%s) ", tag, Quote(mbox), strings.Join(flags, " "))
	if !date.IsZero() {
		fmt.Fprintf(&b, "%s ", Quote(date.Format("02-Jan-2006 15:04:05 -0700")))
	}
	fmt.Fprintf(&b, "{%d+}\r\n", len(msg))
	c.conn.SetDeadline(time.Now().Add(2 * time.Minute))
	c.w.WriteString(b.String())
	c.w.Write(msg)
	c.w.WriteString("\r\n")
	if err := c.w.Flush(); err != nil {
		return 0, 0, err
	}
	rs, err := c.collect(tag, "APPEND")
	if err != nil {
		return 0, 0, err
	}
	ok := rs[len(rs)-1]
	if len(ok) >= 2 {
		if f := strings.Fields(strings.Trim(atomOf(ok[1]), "[]")); len(f) == 3 && f[0] == "APPENDUID" {
			v, _ := strconv.ParseUint(f[1], 10, 32)
			n, _ := strconv.ParseUint(f[2], 10, 32)
			return uint32(v), uint32(n), nil
		}
	}
	return 0, 0, fmt.Errorf("imap: APPEND answered without APPENDUID: %v", ok)
}

// Create creates a mailbox.
func (c *Client) Create(mbox string) error {
	_, err := c.cmd("CREATE %s", Quote(mbox))
	return err
}

// Rename renames a mailbox.
func (c *Client) Rename(from, to string) error {
	_, err := c.cmd("RENAME %s %s", Quote(from), Quote(to))
	return err
}

// Delete deletes a mailbox.
func (c *Client) Delete(mbox string) error {
	_, err := c.cmd("DELETE %s", Quote(mbox))
	return err
}

// Subscribe subscribes to a mailbox.
func (c *Client) Subscribe(mbox string) error {
	_, err := c.cmd("SUBSCRIBE %s", Quote(mbox))
	return err
}

// Mailbox is one LIST answer.
type Mailbox struct {
	Name      string
	Delimiter string
	Attrs     []string
}

// List lists every mailbox (LIST "" "*"), or the subscribed ones (LSUB).
func (c *Client) List(subscribed bool) ([]Mailbox, error) {
	cmd := "LIST"
	if subscribed {
		cmd = "LSUB"
	}
	rs, err := c.cmd(`%s "" "*"`, cmd)
	if err != nil {
		return nil, err
	}
	var out []Mailbox
	for _, r := range rs {
		if len(r) < 4 || atomOf(r[0]) != cmd {
			continue
		}
		m := Mailbox{Name: atomOf(r[3]), Delimiter: atomOf(r[2])}
		for _, a := range r[1].([]any) {
			m.Attrs = append(m.Attrs, atomOf(a))
		}
		out = append(out, m)
	}
	return out, nil
}

// Status is what STATUS reports.
type Status struct {
	UIDValidity uint32
	UIDNext     uint32
	Messages    int
}

// Status asks STATUS (MESSAGES UIDVALIDITY UIDNEXT).
func (c *Client) Status(mbox string) (Status, error) {
	rs, err := c.cmd("STATUS %s (MESSAGES UIDVALIDITY UIDNEXT)", Quote(mbox))
	if err != nil {
		return Status{}, err
	}
	var st Status
	for _, r := range rs {
		if len(r) < 3 || atomOf(r[0]) != "STATUS" {
			continue
		}
		list, _ := r[2].([]any)
		for i := 0; i+1 < len(list); i += 2 {
			n, _ := strconv.ParseUint(atomOf(list[i+1]), 10, 32)
			switch strings.ToUpper(atomOf(list[i])) {
			case "UIDVALIDITY":
				st.UIDValidity = uint32(n)
			case "UIDNEXT":
				st.UIDNext = uint32(n)
			case "MESSAGES":
				st.Messages = int(n)
			}
		}
	}
	return st, nil
}

// Noop sends NOOP (and lets the server report changes).
func (c *Client) Noop() error {
	_, err := c.cmd("NOOP")
	return err
}
