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

// TestAppendIntoHalfMadeFolder: a folder with cur/ only (a Create killed
// between its directories, as earlier versions made cur/ first, left one;
// sync_all_users's kill test met it on resume as "rename …/.Archive/tmp/X
// …/.Archive/new/X: no such file or directory") is a mailbox, and takes
// deliveries into new/ and cur/.
func TestAppendIntoHalfMadeFolder(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	s, err := Open(root, nil)
	require.NoError(t, err)
	defer s.Close()
	require.NoError(t, os.MkdirAll(filepath.Join(root, ".Archive", "cur"), 0o700))

	_, err = s.Create(ctx, "Archive")
	require.ErrorIs(t, err, mailbox.ErrExists, "cur/ makes it a mailbox")
	u1, err := s.Append(ctx, "Archive", mailbox.BytesLiteral([]byte("Subject: one\r\n\r\n1\r\n")), mailbox.AppendMeta{})
	require.NoError(t, err, "a message without flags goes into new/, which is missing")
	u2, err := s.Append(ctx, "Archive", mailbox.BytesLiteral([]byte("Subject: two\r\n\r\n2\r\n")), mailbox.AppendMeta{Flags: mailbox.MustFlags(mailbox.Seen)})
	require.NoError(t, err)
	var got []uid.UID
	for m, err := range s.Messages(ctx, "Archive", uid.All) {
		require.NoError(t, err)
		got = append(got, m.UID)
	}
	require.Equal(t, []uid.UID{u1, u2}, got)
	fi, err := os.Stat(filepath.Join(root, ".Archive", "new"))
	require.NoError(t, err)
	require.True(t, fi.IsDir())
}
