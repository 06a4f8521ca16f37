package imapstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/mailrepl/mailrepl/mailbox"
	"github.com/mailrepl/mailrepl/uid"
)

// errConnection marks a failure of the connection rather than a refusal
// by the server: the connection is dropped and, for operations that can
// be repeated, the operation retried once on a new one.
var errConnection = errors.New("connection lost")

// backoffRE finds Office 365's hint, "Suggested Backoff Time: 2500
// milliseconds", in a server's text.
var backoffRE = regexp.MustCompile(`(?i)suggested\s+backoff\s+time:\s*(\d+)\s*(milliseconds|ms|seconds|s)\b`)

// signal is what a server's answer says about its load.
type signal struct {
	overloaded bool
	retryAfter time.Duration
}

// serverSignal reads a refusal for throttling: NO [LIMIT], [UNAVAILABLE],
// [INUSE], the word THROTTLED, a BYE for too many connections, a
// suggested back-off, Gmail's bandwidth and connection ALERTs.
func serverSignal(err error) signal {
	var sg signal
	if err == nil {
		return sg
	}
	text := err.Error()
	var ie *imap.Error
	if errors.As(err, &ie) {
		switch ie.Code {
		case imap.ResponseCodeLimit, imap.ResponseCodeUnavailable, imap.ResponseCodeInUse:
			sg.overloaded = true
		}
		text = ie.Text
	}
	lower := strings.ToLower(text)
	for _, w := range []string{"throttl", "too many connections", "too many simultaneous", "bandwidth limits", "try again later", "rate limit", "server busy"} {
		if strings.Contains(lower, w) {
			sg.overloaded = true
		}
	}
	if m := backoffRE.FindStringSubmatch(text); m != nil {
		n, _ := strconv.Atoi(m[1])
		unit := time.Millisecond
		if u := strings.ToLower(m[2]); u == "seconds" || u == "s" {
			unit = time.Second
		}
		sg.overloaded, sg.retryAfter = true, time.Duration(n)*unit
	}
	return sg
}

// classify gives err the sentinels of package mailbox that callers test:
// the server's refusals by their response codes, a lost connection or a
// timeout as transient. The server's own words stay in the message.
func classify(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	var ie *imap.Error
	if errors.As(err, &ie) {
		if sg := serverSignal(err); sg.overloaded {
			return fmt.Errorf("%w: %w", mailbox.ErrTransient, err)
		}
		switch ie.Code {
		case imap.ResponseCodeNonExistent, imap.ResponseCodeTryCreate:
			return fmt.Errorf("%w: %w", mailbox.ErrNotFound, err)
		case imap.ResponseCodeAlreadyExists:
			return fmt.Errorf("%w: %w", mailbox.ErrExists, err)
		case imap.ResponseCodeHasChildren:
			return fmt.Errorf("%w: %w", mailbox.ErrHasChildren, err)
		case imap.ResponseCodeCannot, imap.ResponseCodeNoPerm:
			return fmt.Errorf("%w: %w", mailbox.ErrNotAllowed, err)
		case imap.ResponseCodeCorruption:
			return fmt.Errorf("%w: %w", mailbox.ErrCorrupt, err)
		case imap.ResponseCodeServerBug, imap.ResponseCodeContactAdmin:
			return fmt.Errorf("%w: %w", mailbox.ErrTransient, err)
		}
		if ie.Code == "" && notFoundText(ie.Text) {
			// Dovecot answers SELECT and STATUS of a missing mailbox
			// without a code.
			return fmt.Errorf("%w: %w", mailbox.ErrNotFound, err)
		}
		if ie.Type == imap.StatusResponseTypeBye {
			return fmt.Errorf("%w: %w: %w", mailbox.ErrTransient, errConnection, err)
		}
		return err
	}
	if errors.Is(err, errAuth) {
		return err
	}
	if errors.Is(err, errTimeout) || isConnErr(err) {
		return fmt.Errorf("%w: %w: %w", mailbox.ErrTransient, errConnection, err)
	}
	return err
}

// notFoundText reports whether a refusal's words say the mailbox does not
// exist.
func notFoundText(text string) bool {
	t := strings.ToLower(text)
	for _, w := range []string{"doesn't exist", "does not exist", "no such mailbox", "mailbox not found", "unknown mailbox", "nonexistent"} {
		if strings.Contains(t, w) {
			return true
		}
	}
	return false
}

// isConnErr reports whether err is the connection failing.
func isConnErr(err error) bool {
	var ne net.Error
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) ||
		errors.Is(err, io.ErrClosedPipe) || errors.As(err, &ne) || errors.Is(err, errConnection)
}

// fail makes the *mailbox.Error of an operation.
func (s *Store) fail(op, name string, u uid.UID, err error) error {
	if err == nil {
		return nil
	}
	var me *mailbox.Error
	if errors.As(err, &me) && me.Store == s.opt.Name {
		return err
	}
	return &mailbox.Error{Op: op, Store: s.opt.Name, Mailbox: name, UID: u, Err: classify(err)}
}

// observe tells the Observer when the server asked to slow down (the
// engine reports every copy's latency itself).
func (s *Store) observe(latency time.Duration, err error) {
	if s.opt.Observer == nil {
		return
	}
	if sg := serverSignal(err); sg.overloaded {
		s.opt.Observer.Observe(latency, true, sg.retryAfter)
	}
}
