package main

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/mailrepl/mailrepl/internal/batchtest"
	"github.com/mailrepl/mailrepl/internal/mailgen"
	"github.com/mailrepl/mailrepl/mailbox"
	"github.com/stretchr/testify/require"
)

// tmpfsMagic is the f_type statfs gives for tmpfs (linux/magic.h).
const tmpfsMagic = 0x01021994

// diskDir returns a temporary directory on a disk, not on tmpfs: the
// system's temporary directory when it is on one, else /var/tmp. Appends
// fsync there, as on a mail server.
func diskDir(t testing.TB) string {
	t.Helper()
	for _, base := range []string{os.TempDir(), "/var/tmp"} {
		var st syscall.Statfs_t
		if err := syscall.Statfs(base, &st); err != nil || st.Type == tmpfsMagic {
			continue
		}
		dir, err := os.MkdirTemp(base, "sync_all_users-rate-")
		if err != nil {
			continue
		}
		t.Cleanup(func() { os.RemoveAll(dir) })
		return dir
	}
	t.Fatalf("no temporary directory on a disk: %s and /var/tmp are tmpfs or absent", os.TempDir())
	return ""
}

// arrival is one message file as it reached a target: its size and the
// time it was renamed into cur/ or new/ (its ctime: nothing touches a
// copied file afterwards in a first mirror).
type arrival struct {
	at   time.Time
	size int64
}

// arrivals lists the message files below root, by the time they arrived.
func arrivals(t *testing.T, root string) []arrival {
	t.Helper()
	var out []arrival
	require.NoError(t, filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if dir := filepath.Base(filepath.Dir(p)); d.IsDir() || (dir != "cur" && dir != "new") {
			return nil
		}
		var st syscall.Stat_t
		if err := syscall.Stat(p, &st); err != nil {
			return err
		}
		out = append(out, arrival{at: time.Unix(st.Ctim.Sec, st.Ctim.Nsec), size: st.Size})
		return nil
	}))
	slices.SortFunc(out, func(a, b arrival) int { return a.at.Compare(b.at) })
	return out
}

// measuredRate is the rate at which arrivals came after the first second
// of copying: the messages (or bytes) that arrived more than a second
// after the first one, over the time from then to the last arrival.
func measuredRate(as []arrival, bytes bool) (rate float64, over time.Duration) {
	if len(as) == 0 {
		return 0, 0
	}
	from := as[0].at.Add(time.Second)
	var moved float64
	for _, x := range as {
		if !x.at.After(from) {
			continue
		}
		if bytes {
			moved += float64(x.size)
		} else {
			moved++
		}
	}
	over = as[len(as)-1].at.Sub(from)
	if over <= 0 {
		return 0, 0
	}
	return moved / over.Seconds(), over
}

// firstCopyWithin bounds the time from the program's start to the first
// message on the target: listing, opening the journal and reading the
// first few bodies for their EmailIDs, on a loaded machine.
const firstCopyWithin = 5 * time.Second

// TestRateLimitsHold runs the built program on plain Maildirs (no
// dovecot-uidlist: the listing gives no EmailID, so each body is read for
// it before its copy, as with mail Postfix or Dovecot delivered) on a
// disk, under each kind of limit, and measures from outside, as an
// operator would: the messages or bytes that reached the target, by the
// times their files arrived, after the first second's burst, over at
// least 10 s; the first file arrives soon after the start. Each limit holds within 5%. Issue 12: the body read for its
// EmailID was charged to the limiter and its copy again, and a limit in
// bytes moved half of what it promised.
//
// The rates are low (about 12 messages a second per case), so that a
// loaded machine keeps up and the lower bound holds too; the cases run at
// once, each for about 14 s.
func TestRateLimitsHold(t *testing.T) {
	const (
		want    = 14 * time.Second // the run each rate is chosen for
		perCase = 170              // messages of a case, all users together
	)
	for _, tc := range []struct {
		name     string
		users    int
		folders  int    // mailboxes of each user
		flag     string // the limit
		perUser  bool   // the limit holds for each user: measured per user
		inBytes  bool
		parallel int // mailboxes a user syncs at once
	}{
		{name: "global bytes, one user, one mailbox", users: 1, folders: 1, flag: "-rate-bytes", inBytes: true},
		{name: "global messages, three users, three mailboxes at once", users: 3, folders: 3, flag: "-rate-msgs", parallel: 3},
		{name: "server bytes, three users, two mailboxes at once", users: 3, folders: 3, flag: "-server-rate-bytes", inBytes: true, parallel: 2},
		{name: "server messages, two users", users: 2, folders: 1, flag: "-server-rate-msgs"},
		{name: "user bytes, two users, two mailboxes at once", users: 2, folders: 2, flag: "-user-rate-bytes", inBytes: true, perUser: true, parallel: 2},
		{name: "user messages, two users, three mailboxes at once", users: 2, folders: 3, flag: "-user-rate-msgs", perUser: true, parallel: 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			root := diskDir(t)
			tr := tree{root: root, src: filepath.Join(root, "src"), dst: filepath.Join(root, "dst"), journal: filepath.Join(root, "journal")}
			var users []string
			// The bytes that one limit paces: the whole batch's, or the
			// smallest user's.
			var total int64
			folders := []mailgen.Folder{{Name: mailbox.Inbox, Weight: 2}, {Name: "Archive", Weight: 1}, {Name: "Sent", Kind: mailgen.Sent, Weight: 1}}[:tc.folders]
			for i := range tc.users {
				u := fmt.Sprintf("user%d", i)
				users = append(users, u)
				dir := filepath.Join(tr.src, u)
				err := benchPopulate(dir, uint64(100+i), perCase/tc.users,
					&mailgen.Options{AttachmentRate: -1, LargeRate: -1, Folders: folders})
				require.NoError(t, err)
				plainify(t, dir)
				var size int64
				for _, a := range arrivals(t, dir) {
					size += a.size
				}
				switch {
				case !tc.perUser:
					total += size
				case i == 0 || size < total:
					total = size
				}
			}
			paced := float64(perCase)
			if tc.perUser {
				paced /= float64(tc.users)
			}
			if tc.inBytes {
				paced = float64(total)
			}
			rate := paced / want.Seconds()
			limit := strconv.FormatFloat(rate, 'f', 0, 64)
			if !tc.inBytes {
				limit = strconv.FormatFloat(rate, 'f', 2, 64)
			}
			rate, _ = strconv.ParseFloat(limit, 64)
			args := tr.args(tc.flag, limit, "-concurrency", strconv.Itoa(tc.users), "-json")
			if tc.parallel > 0 {
				args = append(args, "-mailbox-concurrency", strconv.Itoa(tc.parallel))
			}
			start := time.Now()
			p := batchtest.Start(t, binary, append(args, users...)...)
			code := p.Wait(t)
			require.Equal(t, exitOK, code, "stderr:\n%s", batchtest.Tail(p.Stderr(), 20))
			out := decode(t, p.Stdout())
			require.EqualValues(t, perCase/tc.users*tc.users, out.Total["appended"])

			var groups [][]arrival
			if tc.perUser {
				for _, u := range users {
					groups = append(groups, arrivals(t, filepath.Join(tr.dst, u)))
				}
			} else {
				groups = append(groups, arrivals(t, tr.dst))
			}
			for i, as := range groups {
				got, over := measuredRate(as, tc.inBytes)
				ratio := got / rate
				what := "the batch"
				if tc.perUser {
					what = users[i]
				}
				t.Logf("%s %s %s: %.1f/s over %v after the first second: %.3f of the limit", tc.flag, limit, what, got, over.Round(time.Millisecond), ratio)
				if len(as) > 0 && as[0].at.Sub(start) > firstCopyWithin {
					t.Errorf("%s: the first message reached the target %v after the start, want within %v: the copies wait for something else than the limit", what, as[0].at.Sub(start).Round(time.Millisecond), firstCopyWithin)
				}
				if over < 10*time.Second {
					t.Errorf("%s: measured over %v only, want at least 10 s", what, over)
				}
				if ratio > 1.05 || ratio < 0.95 {
					t.Errorf("%s %s: %s moved %.1f/s after the first second, %.3f of the limit; want within 5%%", tc.flag, limit, what, got, ratio)
				}
			}
			for _, u := range users {
				tr.requireMirroredKept(t, u)
			}
		})
	}
}
