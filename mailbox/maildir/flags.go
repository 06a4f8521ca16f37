package maildir

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/mailrepl/mailrepl/mailbox"
	"github.com/mailrepl/mailrepl/uid"
)

// Flags in file names. The system flags have their Maildir letters: D
// \Draft, F \Flagged, R \Answered, S \Seen, T \Deleted. P ("passed") has no
// IMAP flag and is mailbox.Passed. Any other upper-case letter is kept as
// the private flag "%Maildir-<letter>", so a copy to another Maildir keeps
// it. Lower-case letters are keywords, through the folder's
// dovecot-keywords; a letter with no keyword there is "unknown-<index>",
// as Dovecot names it. Other characters are no flags: they are left in the
// name when the flags change, and not shown.

// privateLetterPrefix starts the private flag of an upper-case letter.
const privateLetterPrefix = "%Maildir-"

var letterFlags = map[byte]mailbox.Flag{
	'D': mailbox.Draft,
	'F': mailbox.Flagged,
	'P': mailbox.Passed,
	'R': mailbox.Answered,
	'S': mailbox.Seen,
	'T': mailbox.Deleted,
}

var flagLetters = map[mailbox.Flag]byte{
	mailbox.Draft:    'D',
	mailbox.Flagged:  'F',
	mailbox.Passed:   'P',
	mailbox.Answered: 'R',
	mailbox.Seen:     'S',
	mailbox.Deleted:  'T',
}

// flagDecoder turns flag characters into Flags, remembering the answer for
// each distinct string (a folder has few).
type flagDecoder struct {
	kw    *keywords
	cache map[string]mailbox.Flags
	bad   func(name string) // a keyword in dovecot-keywords that is no IMAP atom
}

func (d *flagDecoder) decode(chars string) mailbox.Flags {
	if chars == "" {
		return mailbox.Flags{}
	}
	if fl, ok := d.cache[chars]; ok {
		return fl
	}
	list := make([]mailbox.Flag, 0, len(chars))
	for i := 0; i < len(chars); i++ {
		c := chars[i]
		switch {
		case c >= 'A' && c <= 'Z':
			if fl, ok := letterFlags[c]; ok {
				list = append(list, fl)
			} else {
				list = append(list, mailbox.Flag(privateLetterPrefix+string(c)))
			}
		case c >= 'a' && c <= 'z':
			name := d.kw.name(c)
			if fl, err := mailbox.ParseFlag(name); err == nil && fl.IsKeyword() {
				list = append(list, fl)
			} else if d.bad != nil {
				d.bad(name)
			}
		}
	}
	fl, err := mailbox.NewFlags(list...)
	if err != nil {
		fl = mailbox.Flags{} // cannot happen: each flag was checked
	}
	if d.cache == nil {
		d.cache = make(map[string]mailbox.Flags)
	}
	d.cache[chars] = fl
	return fl
}

// checkFlags reports flags a Maildir cannot keep: private flags other than
// Passed and "%Maildir-<letter>".
func checkFlags(fl mailbox.Flags) error {
	for f := range fl.All() {
		if !f.IsPrivate() || f == mailbox.Passed {
			continue
		}
		l, ok := privateLetter(f)
		if !ok {
			return fmt.Errorf("%w %q: a Maildir keeps only %s and %s<A-Z> private flags", mailbox.ErrInvalidFlag, f, mailbox.Passed, privateLetterPrefix)
		}
		if _, taken := letterFlags[l]; taken {
			return fmt.Errorf("%w %q: letter %c is %s", mailbox.ErrInvalidFlag, f, l, letterFlags[l])
		}
	}
	return nil
}

func privateLetter(f mailbox.Flag) (byte, bool) {
	rest, ok := strings.CutPrefix(string(f), privateLetterPrefix)
	if !ok || len(rest) != 1 || rest[0] < 'A' || rest[0] > 'Z' {
		return 0, false
	}
	return rest[0], true
}

// encodeFlags returns the flag characters of fl, giving new keywords
// letters in kw (added reports that kw changed). It fails, wrapping
// mailbox.ErrInvalidFlag, for flags a Maildir cannot keep and when the
// folder has no letter left for a keyword.
func encodeFlags(fl mailbox.Flags, kw *keywords) (chars string, added bool, err error) {
	if err := checkFlags(fl); err != nil {
		return "", false, err
	}
	var b []byte
	for f := range fl.All() {
		switch {
		case f.IsKeyword():
			l, add, ok := kw.assign(string(f))
			if !ok {
				return "", false, fmt.Errorf("%w %q: all %d keyword letters of this folder are taken", mailbox.ErrInvalidFlag, f, maxKeywords)
			}
			added = added || add
			b = append(b, l)
		case f.IsPrivate() && f != mailbox.Passed:
			l, _ := privateLetter(f)
			b = append(b, l)
		default:
			b = append(b, flagLetters[f])
		}
	}
	return string(b), added, nil
}

// otherChars returns the characters of a flag string that are no flag
// letters, which a flag change keeps.
func otherChars(chars string) string {
	var b []byte
	for i := 0; i < len(chars); i++ {
		if c := chars[i]; !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z') {
			b = append(b, c)
		}
	}
	return string(b)
}

// writeKeywordsLocked replaces the folder's dovecot-keywords, as Dovecot
// does: under its own dotlock (Dovecot relies on the uidlist lock, which
// the caller holds, and removes a leftover keywords lock first), content
// written into the lock file, mtime made to grow, fsync, rename.
func (f *folder) writeKeywordsLocked(ctx context.Context, kw *keywords) error {
	p := f.keywordsPath()
	old, _ := stat(p)
	if err := removeIfExists(p + ".lock"); err != nil {
		return err
	}
	l, err := acquireDotlock(ctx, p, lockSettings{timeout: 0, staleTimeout: uidlistLockSettings.staleTimeout}, f.s.opts.FileMode, true)
	if err != nil {
		return err
	}
	if _, err := l.fd.Write(kw.format()); err != nil {
		l.unlock()
		return err
	}
	if old != nil {
		if st, err := fstat(l.fd); err == nil && st.Mtim.Sec <= old.Mtim.Sec {
			t := mtimeOf(old).Add(time.Second)
			_ = os.Chtimes(l.lockPath, t, t)
		}
	}
	if err := l.replace(); err != nil {
		return err
	}
	f.kw, f.kwID = *kw, fileID{}
	return nil
}

// StoreFlags changes the flags of the messages in set by renaming their
// files (a file in new/ moves to cur/, as Dovecot does). A file renamed
// by someone else meanwhile is found again and changed from its new flags.
func (s *Store) StoreFlags(ctx context.Context, name string, set uid.Set, op mailbox.FlagOp, flags mailbox.Flags) (err error) {
	defer s.nameErr(name, &err)
	const opName = "store flags"
	f, err := s.folder(opName, name)
	if err != nil {
		return err
	}
	if err := s.checkWritable(opName, f.name); err != nil {
		return err
	}
	if err := checkFlags(flags); err != nil {
		return f.err(opName, 0, "", err)
	}
	if set.IsEmpty() {
		return nil
	}
	if err := f.acquire(ctx); err != nil {
		return f.err(opName, 0, "", err)
	}
	defer f.release()
	sn, err := f.flagsSnapshotLocked(ctx, opName)
	if err != nil {
		return err
	}
	kw := sn.kw
	if op != mailbox.FlagsRemove {
		// Give the new keywords letters before renaming anything, so that
		// running out of letters changes nothing.
		probe := kw
		if _, added, err := encodeFlags(flags, &probe); err != nil {
			return f.err(opName, 0, "", err)
		} else if added {
			dl, err := f.lockUidlistLocked(ctx, opName, true)
			if err != nil {
				return err
			}
			defer f.unlockUidlist(dl)
			if err := f.loadKeywordsLocked(); err != nil {
				return f.err(opName, 0, f.keywordsPath(), err)
			}
			kw = f.kw
			if _, added, err = encodeFlags(flags, &kw); err != nil {
				return f.err(opName, 0, "", err)
			}
			if added {
				if err := f.writeKeywordsLocked(ctx, &kw); err != nil {
					return f.err(opName, 0, f.keywordsPath(), err)
				}
			}
		}
	}
	dec := &flagDecoder{kw: &kw}
	var touchedCur, touchedNew bool
	var renamed []renamedFile
	for i := range recsIn(sn.ul, set) {
		r := &sn.ul.recs[i]
		if err := ctx.Err(); err != nil {
			return f.err(opName, r.uid, "", err)
		}
		ref, ok, err := f.lookupLocked(r.base, false)
		if err != nil {
			return f.err(opName, r.uid, f.path, err)
		}
		for attempt := 0; ok; attempt++ {
			fn, _ := parseFileName(ref.name)
			chars, _ := fn.flagChars()
			want := op.Apply(dec.decode(chars), flags)
			newChars, _, err := encodeFlags(want, &kw)
			if err != nil {
				return f.err(opName, r.uid, "", err)
			}
			to := fileRef{name: fn.withFlags(newChars + otherChars(chars)).String()}
			if to == ref {
				break
			}
			err = os.Rename(f.filePath(ref), f.filePath(to))
			if err == nil {
				touchedCur = true
				touchedNew = touchedNew || ref.inNew
				renamed = append(renamed, renamedFile{r.base, to})
				break
			}
			if !errors.Is(err, fs.ErrNotExist) || attempt >= 3 {
				return f.err(opName, r.uid, f.filePath(ref), err)
			}
			if ref, ok, err = f.lookupLocked(r.base, true); err != nil {
				return f.err(opName, r.uid, f.path, err)
			}
		}
	}
	if err := f.finishChangesLocked(opName, touchedCur, touchedNew); err != nil {
		return err
	}
	f.patchScanLocked(sn.sc, renamed)
	return nil
}

// renamedFile is a file a flag change renamed.
type renamedFile struct {
	base string
	to   fileRef
}

// flagsSnapshotLocked is the view a flag change works on: when the last
// scan is one the folder's own flag changes patched (see patchScanLocked),
// that scan with the current uidlist and keywords, else syncLocked's. A
// scan stale by someone else's change is good enough here: a flag change
// renames only files of known UIDs, and one renamed or removed meanwhile
// is looked up afresh (its rename fails with ENOENT).
func (f *folder) flagsSnapshotLocked(ctx context.Context, op string) (*snapshot, error) {
	if f.sc == nil || !f.sc.patched || f.ul == nil {
		return f.syncLocked(ctx, op)
	}
	if err := f.loadUidlistLocked(); err != nil {
		return nil, f.err(op, 0, f.uidlistPath(), err)
	}
	if err := f.loadKeywordsLocked(); err != nil {
		return nil, f.err(op, 0, f.keywordsPath(), err)
	}
	if f.ul == nil {
		return f.syncLocked(ctx, op)
	}
	return f.snapshotLocked(), nil
}

// patchScanLocked makes the folder's last scan the scan sc was with this
// process's renames applied, so that the next flag change need not read
// the directories again (a sync's flag changes come one flag at a time).
// Such a scan is marked patched: only flag changes use it; a listing or a
// delivery scans afresh.
func (f *folder) patchScanLocked(sc *scanResult, renamed []renamedFile) {
	if sc == nil || len(renamed) == 0 {
		return
	}
	if !sc.patched {
		// Listings may hold sc: patch a copy.
		c := &scanResult{files: make(map[string]fileRef, len(sc.files)), start: sc.start, patched: true}
		for k, v := range sc.files {
			c.files[k] = v
		}
		sc = c
	}
	for _, r := range renamed {
		sc.files[r.base] = r.to
	}
	f.sc = sc
}

// finishChangesLocked makes renames and removals in cur/ and new/
// durable and forgets the scan they made stale.
func (f *folder) finishChangesLocked(op string, cur, new bool) error {
	if cur || new {
		f.sc = nil
	}
	if cur {
		if err := syncDir(filepath.Join(f.path, "cur")); err != nil {
			return f.err(op, 0, filepath.Join(f.path, "cur"), err)
		}
	}
	if new {
		if err := syncDir(filepath.Join(f.path, "new")); err != nil {
			return f.err(op, 0, filepath.Join(f.path, "new"), err)
		}
	}
	return nil
}

// Expunge removes the files of the messages in set. Their lines stay in
// dovecot-uidlist (as Dovecot leaves them until it compacts the file): a
// line without a file is an expunged message, and its UID is never given
// again.
func (s *Store) Expunge(ctx context.Context, name string, set uid.Set) (err error) {
	defer s.nameErr(name, &err)
	const opName = "expunge"
	f, err := s.folder(opName, name)
	if err != nil {
		return err
	}
	if err := s.checkWritable(opName, f.name); err != nil {
		return err
	}
	if set.IsEmpty() {
		return nil
	}
	if err := f.acquire(ctx); err != nil {
		return f.err(opName, 0, "", err)
	}
	defer f.release()
	sn, err := f.syncLocked(ctx, opName)
	if err != nil {
		return err
	}
	var touchedCur, touchedNew bool
	for i := range recsIn(sn.ul, set) {
		r := &sn.ul.recs[i]
		if err := ctx.Err(); err != nil {
			return f.err(opName, r.uid, "", err)
		}
		ref, ok, err := f.lookupLocked(r.base, false)
		if err != nil {
			return f.err(opName, r.uid, f.path, err)
		}
		for attempt := 0; ok; attempt++ {
			err := os.Remove(f.filePath(ref))
			if err == nil {
				touchedCur = touchedCur || !ref.inNew
				touchedNew = touchedNew || ref.inNew
				break
			}
			if !errors.Is(err, fs.ErrNotExist) || attempt >= 3 {
				return f.err(opName, r.uid, f.filePath(ref), err)
			}
			if ref, ok, err = f.lookupLocked(r.base, true); err != nil {
				return f.err(opName, r.uid, f.path, err)
			}
		}
	}
	f.pmu.Lock()
	for i := range recsIn(sn.ul, set) {
		delete(f.pending, sn.ul.recs[i].base)
	}
	f.pmu.Unlock()
	return f.finishChangesLocked(opName, touchedCur, touchedNew)
}
