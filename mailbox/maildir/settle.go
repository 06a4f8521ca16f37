package maildir

import (
	"context"
)

// Settle gives a UID to every file of the mailbox that has none yet (a
// delivery whose process died before it published the UID, or one that
// holds the uidlist lock now), waiting for the uidlist lock as a delivery
// does (up to Options.LockTimeout; the lock of a dead process of this host
// is taken over once it is 2 seconds old). Afterwards a listing shows
// every message whose file was in the mailbox when Settle was called. A
// read-only store lists such files already (with UIDs held in memory):
// Settle does nothing there.
func (s *Store) Settle(ctx context.Context, name string) (err error) {
	defer s.nameErr(name, &err)
	const op = "settle"
	f, err := s.folder(op, name)
	if err != nil {
		return err
	}
	if s.opts.ReadOnly {
		return nil
	}
	if err := f.acquire(ctx); err != nil {
		return f.err(op, 0, "", err)
	}
	defer f.release()
	if err := f.loadUidlistLocked(); err != nil {
		return f.err(op, 0, f.uidlistPath(), err)
	}
	sc, err := f.scanLocked(false) // reused by the next listing when nothing changed
	if err != nil {
		return f.err(op, 0, f.path, err)
	}
	if f.ul != nil && f.ul.guid != "" && len(missing(f.ul, sc, f.inflight)) == 0 {
		return nil
	}
	dl, err := f.lockUidlistLocked(ctx, op, true)
	if err != nil {
		return err
	}
	defer f.unlockUidlist(dl)
	_, err = f.syncHeldLocked(ctx, op)
	return err
}
