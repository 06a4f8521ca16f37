package remote

import (
	"context"
	"errors"
	"fmt"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/mailrepl/mailrepl/mailbox"
	"github.com/mailrepl/mailrepl/mailbox/remote/internal/wire"
	"github.com/mailrepl/mailrepl/uid"
)

// Errors of this package, besides those of the stores it carries.
var (
	// ErrVersion: client and server speak no protocol version in common.
	ErrVersion = errors.New("remote: no common protocol version")
	// ErrUnauthenticated: the server refused the token or the
	// certificate.
	ErrUnauthenticated = errors.New("remote: not authenticated")
	// ErrOverloaded: the server refused the call for now (too many
	// connections or calls in flight). It is also marked
	// mailbox.ErrTransient; [RetryAfter] tells how long to wait.
	ErrOverloaded = errors.New("remote: server overloaded")
	// ErrInsecure: plaintext was asked for where it is not allowed (an
	// address that is not loopback).
	ErrInsecure = errors.New("remote: plaintext off loopback")
	// ErrUnsafeUser: the user name could leave the server's template.
	ErrUnsafeUser = errors.New("remote: unsafe user name")
)

// kinds are the sentinel errors that travel by name.
var kinds = []struct {
	name string
	err  error
}{
	{"not_found", mailbox.ErrNotFound},
	{"exists", mailbox.ErrExists},
	{"invalid_name", mailbox.ErrInvalidName},
	{"invalid_flag", mailbox.ErrInvalidFlag},
	{"invalid_message", mailbox.ErrInvalidMessage},
	{"has_children", mailbox.ErrHasChildren},
	{"not_allowed", mailbox.ErrNotAllowed},
	{"uid_validity_changed", mailbox.ErrUIDValidityChanged},
	{"uid_order", mailbox.ErrUIDOrder},
	{"changes_unavailable", mailbox.ErrChangesUnavailable},
	{"corrupt", mailbox.ErrCorrupt},
	{"read_only", mailbox.ErrReadOnly},
	{"not_supported", mailbox.ErrNotSupported},
	{"closed", mailbox.ErrClosed},
	{"transient", mailbox.ErrTransient},
	{"version", ErrVersion},
	{"unauthenticated", ErrUnauthenticated},
	{"overloaded", ErrOverloaded},
	{"unsafe_user", ErrUnsafeUser},
}

// causeError is the cause of an error that came over the wire: the
// server's text, and the sentinel errors it wrapped there.
type causeError struct {
	msg  string
	errs []error
}

func (e *causeError) Error() string { return e.msg }

func (e *causeError) Is(target error) bool {
	for _, err := range e.errs {
		if err == target {
			return true
		}
	}
	return false
}

// retryError carries the delay an overloaded server asked for.
type retryError struct {
	error
	after time.Duration
}

func (e *retryError) Unwrap() error { return e.error }

// RetryAfter returns how long the server that failed err asked the
// client to wait, and whether it asked.
func RetryAfter(err error) (time.Duration, bool) {
	var r *retryError
	if errors.As(err, &r) {
		return r.after, true
	}
	return 0, false
}

// detailOf describes err for the wire.
func detailOf(err error) *wire.ErrorDetail {
	d := &wire.ErrorDetail{Cause: err.Error()}
	var me *mailbox.Error
	if errors.As(err, &me) {
		d.Op, d.Store, d.Mailbox, d.Uid, d.Path = me.Op, me.Store, me.Mailbox, uint32(me.UID), me.Path
		if me.Err != nil {
			d.Cause = me.Err.Error()
		}
	}
	for _, k := range kinds {
		if errors.Is(err, k.err) {
			d.Kinds = append(d.Kinds, k.name)
		}
	}
	return d
}

// codeOf is the status code the server answers err with.
func codeOf(err error) codes.Code {
	switch {
	case errors.Is(err, context.Canceled):
		return codes.Canceled
	case errors.Is(err, context.DeadlineExceeded):
		return codes.DeadlineExceeded
	case errors.Is(err, ErrOverloaded):
		return codes.ResourceExhausted
	case errors.Is(err, ErrUnauthenticated):
		return codes.Unauthenticated
	case errors.Is(err, ErrUnsafeUser), errors.Is(err, mailbox.ErrInvalidName), errors.Is(err, mailbox.ErrInvalidFlag),
		errors.Is(err, mailbox.ErrInvalidMessage):
		return codes.InvalidArgument
	case errors.Is(err, mailbox.ErrNotFound):
		return codes.NotFound
	case errors.Is(err, mailbox.ErrExists):
		return codes.AlreadyExists
	case errors.Is(err, ErrVersion), errors.Is(err, mailbox.ErrUIDOrder), errors.Is(err, mailbox.ErrUIDValidityChanged),
		errors.Is(err, mailbox.ErrChangesUnavailable), errors.Is(err, mailbox.ErrHasChildren), errors.Is(err, mailbox.ErrNotAllowed),
		errors.Is(err, mailbox.ErrReadOnly), errors.Is(err, mailbox.ErrClosed):
		return codes.FailedPrecondition
	case errors.Is(err, mailbox.ErrNotSupported):
		return codes.Unimplemented
	case errors.Is(err, mailbox.ErrCorrupt):
		return codes.DataLoss
	case errors.Is(err, mailbox.ErrTransient):
		return codes.Unavailable
	}
	return codes.Unknown
}

// statusOf is the status the server answers err with.
func statusOf(err error) error {
	return statusDetail(codeOf(err), err.Error(), detailOf(err))
}

func statusDetail(c codes.Code, msg string, d *wire.ErrorDetail) error {
	st, werr := status.New(c, msg).WithDetails(d)
	if werr != nil {
		return status.Error(c, msg)
	}
	return st.Err()
}

// errorFrom rebuilds, on the client, an error the server sent: a
// *mailbox.Error naming op, the client's store and the mailbox, wrapping
// the sentinels the server's error wrapped. Transport failures (the
// server unreachable, the connection cut, a call timed out) are marked
// mailbox.ErrTransient; a ctx the caller ended gives ctx's error.
func (c *client) errorFrom(ctx context.Context, op, name string, u uid.UID, err error) error {
	if err == nil {
		return nil
	}
	e := &mailbox.Error{Op: op, Store: c.name, Mailbox: name, UID: u}
	if c.isClosed() {
		e.Err = mailbox.ErrClosed
		return e
	}
	if ctx.Err() != nil {
		e.Err = ctx.Err()
		return e
	}
	var me *mailbox.Error
	if errors.As(err, &me) {
		return err // made here already
	}
	st, ok := status.FromError(err)
	if !ok {
		e.Err = err
		return e
	}
	var d *wire.ErrorDetail
	for _, x := range st.Details() {
		if w, ok := x.(*wire.ErrorDetail); ok {
			d = w
		}
	}
	if d == nil {
		e.Err = transportError(st)
		return e
	}
	return c.fromDetail(op, name, u, st.Code(), d)
}

// fromDetail is errorFrom for an ErrorDetail.
func (c *client) fromDetail(op, name string, u uid.UID, code codes.Code, d *wire.ErrorDetail) error {
	e := &mailbox.Error{Op: op, Store: c.name, Mailbox: name, UID: u}
	if d.GetOp() != "" {
		e.Op, e.Mailbox, e.UID, e.Path = d.GetOp(), d.GetMailbox(), uid.UID(d.GetUid()), d.GetPath()
	}
	cause := &causeError{msg: d.GetCause()}
	for _, name := range d.GetKinds() {
		for _, k := range kinds {
			if k.name == name {
				cause.errs = append(cause.errs, k.err)
			}
		}
	}
	e.Err = cause
	if code == codes.ResourceExhausted {
		if !cause.Is(mailbox.ErrTransient) {
			cause.errs = append(cause.errs, mailbox.ErrTransient, ErrOverloaded)
		}
		e.Err = &retryError{error: cause, after: time.Duration(d.GetRetryAfterMs()) * time.Millisecond}
	}
	return e
}

// transportError is the cause of a failure of the transport itself.
func transportError(st *status.Status) error {
	switch st.Code() {
	case codes.Unavailable, codes.DeadlineExceeded, codes.Aborted, codes.ResourceExhausted, codes.Canceled:
		return fmt.Errorf("%w: %s: %s", mailbox.ErrTransient, st.Code(), st.Message())
	case codes.Unauthenticated, codes.PermissionDenied:
		return fmt.Errorf("%w: %s", ErrUnauthenticated, st.Message())
	}
	return fmt.Errorf("%s: %s", st.Code(), st.Message())
}
