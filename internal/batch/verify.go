package batch

import (
	"context"
	"fmt"
	"iter"
	"slices"

	"github.com/mailrepl/mailrepl/mailbox"
	"github.com/mailrepl/mailrepl/uid"
)

// Compare checks that replica mirrors source, mailbox by mailbox: the
// same mailboxes, each with the same UIDVALIDITY and the same messages
// under the same UIDs, with the same EmailIDs and flags. (That is what a
// mirror to a store that keeps UIDs, such as a Maildir tree, makes.) A
// listing that gives no EmailID has its bodies read. It returns the
// differences found, at most limit of them (then a last line counts the
// rest); none means equal. The error is for a store that could not be
// read.
func Compare(ctx context.Context, source, replica mailbox.Reader, limit int) ([]string, error) {
	c := &comparison{limit: limit}
	srcBoxes, err := source.Mailboxes(ctx)
	if err != nil {
		return nil, fmt.Errorf("batch: compare: list source: %w", err)
	}
	dstBoxes, err := replica.Mailboxes(ctx)
	if err != nil {
		return nil, fmt.Errorf("batch: compare: list replica: %w", err)
	}
	names := func(infos []mailbox.Info) []string {
		var n []string
		for _, i := range infos {
			n = append(n, i.Name)
		}
		return n
	}
	dstNames := names(dstBoxes)
	for _, si := range srcBoxes {
		k := slices.Index(dstNames, si.Name)
		if k < 0 {
			c.add("mailbox %q: missing from the replica", si.Name)
			continue
		}
		di := dstBoxes[k]
		if si.UIDValidity != di.UIDValidity {
			c.add("mailbox %q: UIDVALIDITY %d on the source, %d on the replica", si.Name, si.UIDValidity, di.UIDValidity)
			continue
		}
		if err := c.messages(ctx, source, replica, si.Name); err != nil {
			return c.result(), err
		}
	}
	for _, n := range dstNames {
		if !slices.Contains(names(srcBoxes), n) {
			c.add("mailbox %q: only on the replica", n)
		}
	}
	return c.result(), nil
}

type comparison struct {
	limit int
	diffs []string
	more  int
}

func (c *comparison) add(format string, args ...any) {
	if len(c.diffs) < c.limit {
		c.diffs = append(c.diffs, fmt.Sprintf(format, args...))
	} else {
		c.more++
	}
}

func (c *comparison) result() []string {
	if c.more > 0 {
		return append(c.diffs, fmt.Sprintf("… and %d more differences", c.more))
	}
	return c.diffs
}

// messages merges the two listings of a mailbox by UID.
func (c *comparison) messages(ctx context.Context, src, dst mailbox.Reader, name string) error {
	nextSrc, stopSrc := iter.Pull2(src.Messages(ctx, name, uid.All))
	defer stopSrc()
	nextDst, stopDst := iter.Pull2(dst.Messages(ctx, name, uid.All))
	defer stopDst()
	read := func(what string, next func() (mailbox.Message, error, bool)) (*mailbox.Message, error) {
		m, err, ok := next()
		if !ok {
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("batch: compare: list %s mailbox %q: %w", what, name, err)
		}
		return &m, nil
	}
	s, err := read("source", nextSrc)
	if err != nil {
		return err
	}
	d, err := read("replica", nextDst)
	if err != nil {
		return err
	}
	for s != nil || d != nil {
		switch {
		case d == nil || (s != nil && s.UID < d.UID):
			c.add("mailbox %q uid %d: missing from the replica", name, s.UID)
			if s, err = read("source", nextSrc); err != nil {
				return err
			}
			continue
		case s == nil || d.UID < s.UID:
			c.add("mailbox %q uid %d: only on the replica", name, d.UID)
			if d, err = read("replica", nextDst); err != nil {
				return err
			}
			continue
		}
		sid, err := emailID(ctx, src, name, s)
		if err != nil {
			return fmt.Errorf("batch: compare: source: %w", err)
		}
		did, err := emailID(ctx, dst, name, d)
		if err != nil {
			return fmt.Errorf("batch: compare: replica: %w", err)
		}
		if sid != did {
			c.add("mailbox %q uid %d: EmailID %s on the source, %s on the replica", name, s.UID, sid.Short(), did.Short())
		}
		if !s.Flags.Equal(d.Flags) {
			c.add("mailbox %q uid %d: flags (%s) on the source, (%s) on the replica", name, s.UID, s.Flags, d.Flags)
		}
		if s, err = read("source", nextSrc); err != nil {
			return err
		}
		if d, err = read("replica", nextDst); err != nil {
			return err
		}
	}
	return nil
}

// emailID returns m's EmailID, reading its body when the listing gave
// none.
func emailID(ctx context.Context, r mailbox.Reader, name string, m *mailbox.Message) (mailbox.EmailID, error) {
	if !m.EmailID.IsZero() {
		return m.EmailID, nil
	}
	rc, err := r.Open(ctx, name, m.UID)
	if err != nil {
		return mailbox.EmailID{}, err
	}
	defer rc.Close()
	id, _, err := mailbox.ComputeEmailID(rc)
	if err != nil {
		return mailbox.EmailID{}, fmt.Errorf("read mailbox %q uid %d: %w", name, m.UID, err)
	}
	return id, nil
}
