package remote

import (
	"fmt"
	"time"

	"github.com/mailrepl/mailrepl/mailbox"
	"github.com/mailrepl/mailrepl/mailbox/remote/internal/wire"
	"github.com/mailrepl/mailrepl/uid"
)

// The conversions between the mailbox package's values and the wire's.
// Values that come off the wire are checked (flags parsed, EmailIDs of the
// right length): a peer is not trusted to send well-formed values.

func toInfo(i mailbox.Info) *wire.Info {
	return &wire.Info{
		Name:          i.Name,
		Id:            string(i.ID),
		UidValidity:   uint32(i.UIDValidity),
		UidNext:       uint32(i.UIDNext),
		HighestModSeq: uint64(i.HighestModSeq),
		Subscribed:    i.Subscribed,
	}
}

func fromInfo(i *wire.Info) mailbox.Info {
	return mailbox.Info{
		Name:          i.GetName(),
		ID:            mailbox.ID(i.GetId()),
		UIDValidity:   uid.Validity(i.GetUidValidity()),
		UIDNext:       uid.UID(i.GetUidNext()),
		HighestModSeq: mailbox.ModSeq(i.GetHighestModSeq()),
		Subscribed:    i.GetSubscribed(),
	}
}

func toTime(t time.Time) *wire.Time {
	if t.IsZero() {
		return nil
	}
	return &wire.Time{Seconds: t.Unix(), Nanos: int32(t.Nanosecond())}
}

func fromTime(t *wire.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return time.Unix(t.GetSeconds(), int64(t.GetNanos()))
}

func toFlags(f mailbox.Flags) []string {
	out := make([]string, 0, f.Len())
	for fl := range f.All() {
		out = append(out, string(fl))
	}
	return out
}

func fromFlags(list []string) (mailbox.Flags, error) {
	fl := make([]mailbox.Flag, len(list))
	for i, s := range list {
		fl[i] = mailbox.Flag(s)
	}
	return mailbox.NewFlags(fl...)
}

func toEmailID(id mailbox.EmailID) []byte {
	if id.IsZero() {
		return nil
	}
	return id[:]
}

func fromEmailID(b []byte) (mailbox.EmailID, error) {
	var id mailbox.EmailID
	switch len(b) {
	case 0:
		return id, nil
	case len(id):
		copy(id[:], b)
		return id, nil
	}
	return id, fmt.Errorf("an EmailID of %d bytes, want %d", len(b), len(id))
}

func toMessage(m mailbox.Message, expunged bool) *wire.Message {
	return &wire.Message{
		Uid:          uint32(m.UID),
		EmailId:      toEmailID(m.EmailID),
		Flags:        toFlags(m.Flags),
		InternalDate: toTime(m.InternalDate),
		Size:         m.Size,
		ModSeq:       uint64(m.ModSeq),
		Expunged:     expunged,
	}
}

func fromMessage(w *wire.Message) (mailbox.Change, error) {
	flags, err := fromFlags(w.GetFlags())
	if err != nil {
		return mailbox.Change{}, err
	}
	id, err := fromEmailID(w.GetEmailId())
	if err != nil {
		return mailbox.Change{}, err
	}
	return mailbox.Change{
		Message: mailbox.Message{
			UID:          uid.UID(w.GetUid()),
			EmailID:      id,
			Flags:        flags,
			InternalDate: fromTime(w.GetInternalDate()),
			Size:         w.GetSize(),
			ModSeq:       mailbox.ModSeq(w.GetModSeq()),
		},
		Expunged: w.GetExpunged(),
	}, nil
}

func toMeta(h *wire.AppendHeader, meta mailbox.AppendMeta) {
	h.Flags = toFlags(meta.Flags)
	h.InternalDate = toTime(meta.InternalDate)
	h.EmailId = toEmailID(meta.EmailID)
}

func fromMeta(h *wire.AppendHeader) (mailbox.AppendMeta, error) {
	flags, err := fromFlags(h.GetFlags())
	if err != nil {
		return mailbox.AppendMeta{}, err
	}
	id, err := fromEmailID(h.GetEmailId())
	if err != nil {
		return mailbox.AppendMeta{}, err
	}
	return mailbox.AppendMeta{Flags: flags, InternalDate: fromTime(h.GetInternalDate()), EmailID: id}, nil
}

func fromSet(s string) (uid.Set, error) {
	if s == "" {
		return nil, nil
	}
	return uid.ParseSet(s)
}
