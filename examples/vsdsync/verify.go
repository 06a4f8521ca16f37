package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/mailrepl/mailrepl/mailbox"
	"github.com/mailrepl/mailrepl/mailbox/maildir"
	"github.com/mailrepl/mailrepl/uid"
)

// verify compares the Maildir tree b with its source a, read-only:
// mailboxes, UIDVALIDITY, and per UID the message's content (EmailID) and
// flags. It returns "ok" when they agree; when the only differences are
// dsync's known ones, it names them: the Maildir P flag dropped, and
// contents rewritten by stripping CRs before line feeds ("CR-stripped";
// those that stay the same message by EmailID, CRLF line ends written as
// LF, are not differences). Anything else is a MISMATCH.
func verify(ctx context.Context, a, b string) (string, error) {
	sa, err := maildir.Open(a, &maildir.Options{ReadOnly: true})
	if err != nil {
		return "", err
	}
	defer sa.Close()
	sb, err := maildir.Open(b, &maildir.Options{ReadOnly: true})
	if err != nil {
		return "", err
	}
	defer sb.Close()
	ia, err := sa.Mailboxes(ctx)
	if err != nil {
		return "", err
	}
	ib, err := sb.Mailboxes(ctx)
	if err != nil {
		return "", err
	}
	names := func(is []mailbox.Info) []string {
		var n []string
		for _, i := range is {
			n = append(n, i.Name)
		}
		return n
	}
	if !slices.Equal(names(ia), names(ib)) {
		return fmt.Sprintf("MISMATCH: mailboxes %q, want %q", names(ib), names(ia)), nil
	}
	var passed, stripped, messages int
	var bad []string
	for k, info := range ia {
		if ib[k].UIDValidity != info.UIDValidity {
			bad = append(bad, fmt.Sprintf("%s: UIDVALIDITY %d, want %d", info.Name, ib[k].UIDValidity, info.UIDValidity))
		}
		ma, err := listing(ctx, sa, info.Name)
		if err != nil {
			return "", err
		}
		mb, err := listing(ctx, sb, info.Name)
		if err != nil {
			return "", err
		}
		if len(ma) != len(mb) {
			bad = append(bad, fmt.Sprintf("%s: %d messages, want %d", info.Name, len(mb), len(ma)))
			continue
		}
		for i, x := range ma {
			y := mb[i]
			messages++
			if x.UID != y.UID {
				bad = append(bad, fmt.Sprintf("%s: uid %d, want %d", info.Name, y.UID, x.UID))
				break
			}
			flags := x.Flags
			if !y.Flags.Equal(flags) && flags.Has(mailbox.Passed) && y.Flags.Equal(flags.Without(mailbox.Passed)) {
				passed++
				flags = y.Flags
			}
			if !y.Flags.Equal(flags) {
				bad = append(bad, fmt.Sprintf("%s uid %d: flags (%s), want (%s)", info.Name, x.UID, y.Flags, x.Flags))
			}
			if x.EmailID != y.EmailID {
				raw, err := read(ctx, sa, info.Name, x.UID)
				if err != nil {
					return "", err
				}
				r := bytes.TrimSuffix(bytes.ReplaceAll(raw, []byte("\r\n"), []byte("\n")), []byte("\r"))
				if mailbox.EmailIDOf(r) == y.EmailID {
					stripped++
				} else {
					bad = append(bad, fmt.Sprintf("%s uid %d: content %s, want %s", info.Name, x.UID, y.EmailID.Short(), x.EmailID.Short()))
				}
			}
		}
	}
	if len(bad) > 0 {
		if len(bad) > 3 {
			bad = append(bad[:3], fmt.Sprintf("and %d more", len(bad)-3))
		}
		return "MISMATCH: " + strings.Join(bad, "; "), nil
	}
	var notes []string
	if passed > 0 {
		notes = append(notes, fmt.Sprintf("P dropped on %d", passed))
	}
	if stripped > 0 {
		notes = append(notes, fmt.Sprintf("%d CR-stripped", stripped))
	}
	if len(notes) == 0 {
		return fmt.Sprintf("ok (%d msgs)", messages), nil
	}
	return fmt.Sprintf("ok (%d msgs) but %s", messages, strings.Join(notes, ", ")), nil
}

// listing lists a mailbox, with the EmailID of every message (read from
// its body when the store's cache does not have it).
func listing(ctx context.Context, s *maildir.Store, name string) ([]mailbox.Message, error) {
	var ms []mailbox.Message
	for m, err := range s.Messages(ctx, name, uid.All) {
		if err != nil {
			return nil, err
		}
		if m.EmailID.IsZero() {
			raw, err := read(ctx, s, name, m.UID)
			if err != nil {
				return nil, err
			}
			m.EmailID = mailbox.EmailIDOf(raw)
		}
		ms = append(ms, m)
	}
	return ms, nil
}

func read(ctx context.Context, s *maildir.Store, name string, u uid.UID) ([]byte, error) {
	rc, err := s.Open(ctx, name, u)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(rc)
}
