package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/mailrepl/mailrepl/uid"
	"github.com/stretchr/testify/require"
)

// TestRestoreIntoRemote: restore delivers into a live store on a replica
// machine (-into mailrepl://, -into-auth) what a backup holds and the
// live store lost; a user without a live store fails and no store is
// made for it on the server.
func TestRestoreIntoRemote(t *testing.T) {
	dir := t.TempDir()
	tokenFile, authFile := writeToken(t, dir)
	live, backup := filepath.Join(dir, "live"), filepath.Join(dir, "backup")
	populate(t, filepath.Join(backup, "alice"), 40, 5)
	// The live store: the backup less three messages of INBOX, lost.
	code, out := runSync(t, "-source", "maildir:"+backup+"/{user}", "-target", "maildir:"+live+"/{user}", "-journal", filepath.Join(dir, "j0"), "alice")
	require.Equal(t, 0, code, out)
	files, err := filepath.Glob(filepath.Join(live, "alice", "cur", "*"))
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(files), 3)
	for _, f := range files[:3] {
		require.NoError(t, os.Remove(f))
	}
	before := countMessages(t, filepath.Join(live, "alice"))

	srv := startMaildirServer(t, live, tokenFile, "127.0.0.1:0")
	args := []string{"-into", "mailrepl://" + srv.addr + "/{user}", "-into-auth", authFile,
		"-from", "maildir:" + backup + "/{user}", "-journal", filepath.Join(dir, "journal")}
	code, out = runProgram(t, restoreBinary, append(args, "alice")...)
	require.Equal(t, 0, code, out)
	require.Equal(t, before+3, countMessages(t, filepath.Join(live, "alice")), out)
	// Again: nothing more.
	code, out = runProgram(t, restoreBinary, append(args, "alice")...)
	require.Equal(t, 0, code, out)
	require.Equal(t, before+3, countMessages(t, filepath.Join(live, "alice")), out)

	code, out = runProgram(t, restoreBinary, append(args, "nobody-here")...)
	require.Equal(t, 1, code, out)
	require.Contains(t, out, "live store mailrepl://")
	require.NoDirExists(t, filepath.Join(live, "nobody-here"))
}

func countMessages(t *testing.T, dir string) int {
	t.Helper()
	s := openRO(t, dir)
	infos, err := s.Mailboxes(bg)
	require.NoError(t, err)
	n := 0
	for _, i := range infos {
		for _, err := range s.Messages(bg, i.Name, uid.All) {
			require.NoError(t, err)
			n++
		}
	}
	return n
}
