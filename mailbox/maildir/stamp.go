package maildir

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"syscall"
	"time"

	"github.com/mailrepl/mailrepl/mailbox"
)

var _ mailbox.OwnStamper = (*Store)(nil)

// A stamp vouches only for file times that lie far enough back: a change
// made within the same tick of the file system's clock as the one before
// it leaves the time as it was. Linux stamps files from a clock that
// ticks every few milliseconds (fineMargin covers it, and the stamp's
// own stats); a file system whose times show no fraction of a second
// keeps whole seconds, or two (FAT), and gets coarseMargin.
const (
	fineMargin   = 100 * time.Millisecond
	coarseMargin = 2 * time.Second
)

// Stamp implements [mailbox.Stamper]. The stamp covers the folders'
// names and, for each, the times of cur/ and new/ (a file delivered,
// renamed by a flag change, or removed changes its directory's time) and
// the time and size of dovecot-uidlist, dovecot-keywords and
// courierimapuiddb, and the subscriptions file: about five stats a
// folder, no listing of messages. Files are renamed, never rewritten, in
// a Maildir, which is what makes the directories' times enough. It is ""
// when one of those times is less than 100 ms old (2 s on a file system
// that keeps whole seconds), or in the future. On a network file system
// the times are the server's: a server whose clock lags the client's by
// more than that may see a change in the tick of the last one go
// unnoticed until the next change.
func (s *Store) Stamp(ctx context.Context) (string, error) { return s.stamp(ctx, true) }

// StampOwn implements [mailbox.OwnStamper]: Stamp, however recent the
// times.
func (s *Store) StampOwn(ctx context.Context) (string, error) { return s.stamp(ctx, false) }

func (s *Store) stamp(ctx context.Context, margined bool) (string, error) {
	const op = "stamp"
	if err := s.checkOpen(op, ""); err != nil {
		return "", err
	}
	start := time.Now()
	dirs, names, err := s.folderDirs()
	if err != nil {
		return "", s.err(op, "", 0, s.root, err)
	}
	h := sha256.New()
	fmt.Fprintf(h, "maildir stamp 1 ro=%t keeper=%t unnumbered=%t\n", s.opts.ReadOnly, s.opts.UIDs != nil, s.opts.LeaveUnnumbered)
	var (
		latest time.Time
		fine   bool // a time with a fraction of a second
	)
	add := func(rel string) error {
		var st syscall.Stat_t
		err := syscall.Stat(filepath.Join(s.root, rel), &st)
		if errors.Is(err, fs.ErrNotExist) {
			fmt.Fprintf(h, "%q -\n", rel)
			return nil
		}
		if err != nil {
			return s.err(op, "", 0, filepath.Join(s.root, rel), err)
		}
		mt := time.Unix(st.Mtim.Sec, st.Mtim.Nsec)
		if st.Mtim.Nsec != 0 {
			fine = true
		}
		latest = latestTime(latest, mt)
		size := st.Size
		if st.Mode&syscall.S_IFMT == syscall.S_IFDIR {
			size = 0 // a directory's size says nothing more than its time
		}
		fmt.Fprintf(h, "%q %d.%09d %d\n", rel, st.Mtim.Sec, st.Mtim.Nsec, size)
		return nil
	}
	if err := add(subscriptionsName); err != nil {
		return "", err
	}
	for _, dir := range dirs {
		if err := ctx.Err(); err != nil {
			return "", s.err(op, "", 0, "", err)
		}
		fmt.Fprintf(h, "folder %q %q\n", dir, names[dir])
		for _, f := range []string{"cur", "new", uidlistName, "dovecot-keywords", courierUidlistName} {
			if err := add(filepath.Join(dir, f)); err != nil {
				return "", err
			}
		}
	}
	margin := coarseMargin
	if fine {
		margin = fineMargin
	}
	if !margined {
		margin = 0
	}
	if !latest.Before(start.Add(-margin)) {
		return "", nil
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
