package maildir

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/mailrepl/mailrepl/uid"
)

// uidvalidityName is the root file from which new mailboxes take their
// UIDVALIDITY, as Dovecot does (src/lib-storage/mailbox-uidvalidity.c):
// "dovecot-uidvalidity" holds the last value given, as 8 hex digits, and an
// empty file "dovecot-uidvalidity.<8 hex digits>" names it too. The next
// value is one more, taken by renaming that empty file, so that two
// processes never hand out the same value. With neither file, the first
// value is the current time in seconds.
const uidvalidityName = "dovecot-uidvalidity"

// nextUIDValidity returns a UIDVALIDITY for a new mailbox of the tree at
// root, above every one handed out there before.
func nextUIDValidity(root string, now time.Time, mode fs.FileMode) (uid.Validity, error) {
	path := filepath.Join(root, uidvalidityName)
	if data, err := os.ReadFile(path); err == nil {
		if cur, err := strconv.ParseUint(strings.TrimSpace(string(data)), 16, 32); err == nil && cur != 0 {
			if v, err := renameUIDValidity(path, uint32(cur)); err == nil {
				return v, writeUIDValidity(path, v, mode)
			}
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return 0, err
	}
	return rescanUIDValidity(root, path, now, mode)
}

// renameUIDValidity moves the marker from cur to the next value, trying
// a few values further when another process got there first.
func renameUIDValidity(path string, cur uint32) (uid.Validity, error) {
	var err error
	for range 10 {
		next := cur + 1
		if next == 0 {
			next = 1
		}
		err = os.Rename(fmt.Sprintf("%s.%08x", path, cur), fmt.Sprintf("%s.%08x", path, next))
		if err == nil {
			return uid.Validity(next), nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return 0, err
		}
		cur = next
	}
	return 0, err
}

func rescanUIDValidity(root, path string, now time.Time, mode fs.FileMode) (uid.Validity, error) {
	ents, err := os.ReadDir(root)
	if err != nil {
		return 0, err
	}
	var lo, hi uint32 = ^uint32(0), 0
	for _, e := range ents {
		h, ok := strings.CutPrefix(e.Name(), uidvalidityName+".")
		if !ok {
			continue
		}
		if v, err := strconv.ParseUint(h, 16, 32); err == nil {
			lo, hi = min(lo, uint32(v)), max(hi, uint32(v))
		}
	}
	if hi == 0 {
		v := uint32(now.Unix())
		if v == 0 {
			v = 1
		}
		for range 10 {
			f, err := os.OpenFile(fmt.Sprintf("%s.%08x", path, v), os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o444)
			if err == nil {
				f.Close()
				return uid.Validity(v), writeUIDValidity(path, uid.Validity(v), mode)
			}
			if !errors.Is(err, fs.ErrExist) {
				return 0, err
			}
			v++
		}
		return 0, fmt.Errorf("cannot create %s.*: values taken", path)
	}
	if lo != hi {
		removeIfExists(fmt.Sprintf("%s.%08x", path, lo))
	}
	v, err := renameUIDValidity(path, hi)
	if err != nil {
		return 0, err
	}
	return v, writeUIDValidity(path, v, mode)
}

func writeUIDValidity(path string, v uid.Validity, mode fs.FileMode) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, mode)
	if err != nil {
		return err
	}
	_, err = f.WriteAt(fmt.Appendf(nil, "%08x", uint32(v)), 0)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// raiseUIDValidity makes sure the next UIDVALIDITY handed out at root is
// above v, a value set from outside (a replica taking its source's), so
// that a mailbox made later never takes a UIDVALIDITY one of the same
// name had.
func raiseUIDValidity(root string, v uid.Validity, mode fs.FileMode) error {
	path := filepath.Join(root, uidvalidityName)
	var cur uint64
	if data, err := os.ReadFile(path); err == nil {
		cur, _ = strconv.ParseUint(strings.TrimSpace(string(data)), 16, 32)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if cur >= uint64(v) {
		return nil
	}
	if cur != 0 {
		err := os.Rename(fmt.Sprintf("%s.%08x", path, cur), fmt.Sprintf("%s.%08x", path, uint32(v)))
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		if err == nil {
			return writeUIDValidity(path, v, mode)
		}
	}
	f, err := os.OpenFile(fmt.Sprintf("%s.%08x", path, uint32(v)), os.O_RDWR|os.O_CREATE, 0o444)
	if err != nil {
		return err
	}
	f.Close()
	return writeUIDValidity(path, v, mode)
}
