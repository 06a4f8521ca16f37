package batch

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/mailrepl/mailrepl/mailbox"
	"github.com/mailrepl/mailrepl/mailbox/memstore"
	"github.com/mailrepl/mailrepl/replica"
	"github.com/mailrepl/mailrepl/uid"
	"github.com/stretchr/testify/require"
)

func TestCompare(t *testing.T) {
	ctx := context.Background()
	src := memstore.New(nil)
	defer src.Close()
	_, err := src.Create(ctx, "Work")
	require.NoError(t, err)
	for i := range 5 {
		for _, mbox := range []string{mailbox.Inbox, "Work"} {
			msg := fmt.Sprintf("Subject: %s %d\r\n\r\nbody\r\n", mbox, i)
			_, err := src.Append(ctx, mbox, mailbox.BytesLiteral([]byte(msg)), mailbox.AppendMeta{Flags: mailbox.MustFlags(mailbox.Seen)})
			require.NoError(t, err)
		}
	}
	mirror := func() *memstore.Store {
		dst := memstore.New(nil)
		s, err := replica.New(src, dst, nil)
		require.NoError(t, err)
		_, err = s.Sync(ctx)
		require.NoError(t, err)
		return dst
	}
	dst := mirror()
	defer dst.Close()
	diffs, err := Compare(ctx, src, dst, 10)
	require.NoError(t, err)
	require.Empty(t, diffs)

	require.NoError(t, dst.StoreFlags(ctx, mailbox.Inbox, uid.SetOf(2), mailbox.FlagsAdd, mailbox.MustFlags(mailbox.Flagged)))
	require.NoError(t, dst.Expunge(ctx, "Work", uid.SetOf(3)))
	_, err = dst.Append(ctx, "Work", mailbox.BytesLiteral([]byte("Subject: extra\r\n\r\nx\r\n")), mailbox.AppendMeta{})
	require.NoError(t, err)
	_, err = dst.Create(ctx, "Only here")
	require.NoError(t, err)
	diffs, err = Compare(ctx, src, dst, 10)
	require.NoError(t, err)
	require.Equal(t, []string{
		`mailbox "INBOX" uid 2: flags (\Seen) on the source, (\Flagged \Seen) on the replica`,
		`mailbox "Work" uid 3: missing from the replica`,
		`mailbox "Work" uid 6: only on the replica`,
		`mailbox "Only here": only on the replica`,
	}, diffs)
	diffs, err = Compare(ctx, src, dst, 2)
	require.NoError(t, err)
	require.Equal(t, "… and 2 more differences", diffs[2])

	// Another UIDVALIDITY, another message under a UID, a missing mailbox.
	other := memstore.New(&memstore.Options{Now: func() time.Time { return time.Unix(1e9, 0) }})
	defer other.Close()
	_, err = other.Append(ctx, mailbox.Inbox, mailbox.BytesLiteral([]byte("Subject: other\r\n\r\n")), mailbox.AppendMeta{})
	require.NoError(t, err)
	diffs, err = Compare(ctx, src, other, 10)
	require.NoError(t, err)
	require.Len(t, diffs, 2)
	require.Contains(t, diffs[0], `mailbox "INBOX": UIDVALIDITY`)
	require.Equal(t, `mailbox "Work": missing from the replica`, diffs[1])
}
