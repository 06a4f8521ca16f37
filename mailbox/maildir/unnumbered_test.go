package maildir

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mailrepl/mailrepl/mailbox"
	"github.com/mailrepl/mailrepl/uid"
)

// TestLeaveUnnumbered: a read-only store with LeaveUnnumbered lists only
// the files dovecot-uidlist numbers; a delivery not numbered yet shows up
// once its writer numbers it, under the writer's UID.
func TestLeaveUnnumbered(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	w, err := Open(root, nil)
	require.NoError(t, err)
	defer w.Close()
	_, err = w.Append(ctx, mailbox.Inbox, mailbox.BytesLiteral([]byte("Subject: one\r\n\r\n1\r\n")), mailbox.AppendMeta{})
	require.NoError(t, err)
	// A delivery that bypassed the store: in new/, not in the uidlist.
	require.NoError(t, os.WriteFile(filepath.Join(root, "new", "1700000000.M1P1.host"), []byte("Subject: two\r\n\r\n2\r\n"), 0o600))

	uids := func(leave bool) []uid.UID {
		r, err := Open(root, &Options{ReadOnly: true, LeaveUnnumbered: leave})
		require.NoError(t, err)
		defer r.Close()
		var out []uid.UID
		for m, err := range r.Messages(ctx, mailbox.Inbox, uid.All) {
			require.NoError(t, err)
			out = append(out, m.UID)
		}
		return out
	}
	require.Equal(t, []uid.UID{1}, uids(true), "LeaveUnnumbered")
	require.Equal(t, []uid.UID{1, 2}, uids(false), "numbered in memory")
	// The writer numbers it.
	for _, err := range w.Messages(ctx, mailbox.Inbox, uid.All) {
		require.NoError(t, err)
	}
	require.Equal(t, []uid.UID{1, 2}, uids(true), "after the writer numbered it")
}
