package main

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mailrepl/mailrepl/internal/batchtest"
	"github.com/mailrepl/mailrepl/internal/dovecottest"
	"github.com/stretchr/testify/require"
)

// countFiles counts the message files below dir (those in a cur/ or new/
// directory).
func countFiles(dir string) int {
	n := 0
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if b := filepath.Base(filepath.Dir(p)); b == "cur" || b == "new" {
				n++
			}
		}
		return nil
	})
	return n
}

// waitUntil polls cond until it holds, failing the test after timeout.
func waitUntil(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("no %s within %v", what, timeout)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestServerKilledMidMirror kills the server with SIGKILL in the middle
// of a mirror to it, starts it again on the same address, and runs the
// mirror again: the replica then equals the source (UIDVALIDITY, UIDs,
// flags, EmailIDs), nothing lost, nothing twice; and Dovecot serving each
// side shows the same.
func TestServerKilledMidMirror(t *testing.T) {
	dir := t.TempDir()
	tokenFile, authFile := writeToken(t, dir)
	src, replica := filepath.Join(dir, "src"), filepath.Join(dir, "replica")
	const n = 1500
	populate(t, filepath.Join(src, "alice"), n, 3)
	srv := startMaildirServer(t, replica, tokenFile, "127.0.0.1:0")
	args := []string{"-source", "maildir:" + src + "/{user}", "-target", "mailrepl://" + srv.addr + "/{user}", "-target-auth", authFile,
		"-journal", filepath.Join(dir, "journal"), "alice"}

	sync := batchtest.Start(t, syncBinary, args...)
	waitUntil(t, 2*time.Minute, "mail on the replica", func() bool { return countFiles(filepath.Join(replica, "alice")) >= n/5 })
	require.NoError(t, srv.Cmd.Process.Kill())
	srv.Wait(t)
	killed := countFiles(filepath.Join(replica, "alice"))
	code := sync.Wait(t)
	t.Logf("server killed with %d of %d messages on the replica; the mirror ended with status %d", killed, n, code)
	if killed < n {
		require.Equal(t, 1, code, "the user whose server died fails:\n%s", sync.Stderr())
	}
	batchtest.NameDeadHolder(t, replica, srv.Cmd.Process.Pid)

	srv = startMaildirServer(t, replica, tokenFile, srv.addr)
	code, out := runSync(t, args...)
	require.Equal(t, 0, code, out)
	requireSame(t, filepath.Join(src, "alice"), filepath.Join(replica, "alice"))
	cmd := exec.Command(syncBinary, append([]string{"-json"}, args...)...)
	stdout, err := cmd.Output()
	require.NoError(t, err)
	var res struct {
		Total map[string]int64 `json:"total"`
	}
	require.NoError(t, json.Unmarshal(stdout, &res))
	require.Zero(t, res.Total["appended"]+res.Total["expunged"]+res.Total["flag_changes"], "a re-run changes nothing: %v", res.Total)
	dovecotSame(t, filepath.Join(src, "alice"), filepath.Join(replica, "alice"))
}

// requireSame checks that replica mirrors src.
func requireSame(t *testing.T, src, replica string) {
	t.Helper()
	compareAll(t, src, replica, replica)
}

// dovecotSame serves src and replica each with its own Dovecot, and checks
// that both serve the same mailboxes with the same UIDVALIDITY, UIDNEXT,
// UIDs, flags, sizes and bytes.
func dovecotSame(t *testing.T, src, replica string) {
	t.Helper()
	if dovecottest.Binary() == "" {
		t.Log("dovecot is not installed: the check through Dovecot is left out")
		return
	}
	var dumps [2]string
	for i, root := range []string{src, replica} {
		srv := dovecottest.Start(t, dovecottest.Config{MailRoot: root})
		srv.Chown(t)
		c := srv.Login(t)
		boxes, err := c.List(false)
		require.NoError(t, err)
		var names []string
		for _, b := range boxes {
			if !slices.ContainsFunc(b.Attrs, func(a string) bool {
				return strings.EqualFold(a, `\Noselect`) || strings.EqualFold(a, `\NonExistent`)
			}) {
				names = append(names, b.Name)
			}
		}
		slices.Sort(names)
		var b strings.Builder
		for _, name := range names {
			sel, err := c.Select(name)
			require.NoError(t, err)
			fmt.Fprintf(&b, "%s validity=%d next=%d exists=%d\n", name, sel.UIDValidity, sel.UIDNext, sel.Exists)
			msgs, err := c.UIDFetch("1:*", dovecottest.FetchItemsBody)
			require.NoError(t, err)
			for _, m := range msgs {
				flags := slices.Clone(m.Flags)
				slices.Sort(flags)
				fmt.Fprintf(&b, "  %d %v %d %x\n", m.UID, flags, m.Size, m.Body)
			}
		}
		require.NoError(t, c.Logout())
		srv.Stop()
		dumps[i] = b.String()
	}
	require.NotEmpty(t, dumps[0])
	if dumps[0] != dumps[1] {
		t.Fatalf("Dovecot serves the replica differently from the source:\nsource:\n%s\nreplica:\n%s", batchtest.Tail(dumps[0], 20), batchtest.Tail(dumps[1], 20))
	}
}
