package maildir

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"

	"github.com/mailrepl/mailrepl/mailbox"
	"github.com/mailrepl/mailrepl/uid"
)

// A folder without dovecot-uidlist takes its UIDs, in this order, from:
//
//  1. Courier's courierimapuiddb, when there is one (Courier-IMAP wrote
//     it; its format is Dovecot's version 1 uidlist): its UIDVALIDITY and
//     UIDs are kept, and a store opened for writing writes them into the
//     dovecot-uidlist it creates, as Dovecot does when it takes a Courier
//     Maildir over;
//  2. the UIDKeeper of the options (the journal), for a store opened
//     read-only: the messages keep their UIDs across runs, and a tree
//     moved or remounted elsewhere keeps them too; a store opened for
//     writing seeds the dovecot-uidlist it creates from the keeper's
//     numbering (and the keeper forgets it), so the folder keeps the UIDs
//     a read-only pass gave it;
//  3. without a keeper, read-only: a numbering derived in memory from the
//     folder's path and file names, which every added or removed file
//     changes (the mailbox then looks renumbered: a new UIDVALIDITY).
const courierUidlistName = "courierimapuiddb"

// loadCourierLocked reads courierimapuiddb into f.ul when the folder has
// no dovecot-uidlist. It reports whether there is one.
func (f *folder) loadCourierLocked() (bool, error) {
	p := filepath.Join(f.path, courierUidlistName)
	st, err := stat(p)
	if errors.Is(err, fs.ErrNotExist) {
		if f.courier {
			f.ul, f.synthetic, f.courier = nil, false, false
		}
		return false, nil
	} else if err != nil {
		return false, err
	}
	id := idOf(st)
	if f.courier && f.ul != nil && f.courierID == id {
		return true, nil
	}
	data, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	} else if err != nil {
		return false, err
	}
	l, dups, err := parseUidlist(data)
	if err != nil {
		return false, &uidlistFileError{path: p, err: err}
	}
	if dups > 0 {
		f.warnOnce("dups:"+p, "maildir: courierimapuiddb names a file twice; the later line counts", "path", p, "lines", dups)
	}
	if l.guid == "" {
		l.guid = derivedGUID("courier", l.validity, f.name)
	}
	f.ul, f.ulID, f.synthetic, f.courier, f.courierID = l, fileID{}, true, true, id
	f.numbered = false
	return true, nil
}

// uidlistFileError names the UID list file that does not parse.
type uidlistFileError struct {
	path string
	err  error
}

func (e *uidlistFileError) Error() string { return e.path + ": " + e.err.Error() }
func (e *uidlistFileError) Unwrap() error { return e.err }

// derivedGUID is the mailbox ID of a folder whose UID list carries no
// GUID (Courier's, Dovecot's version 1): from what the list holds and the
// mailbox's name, never from a path, so a tree moved elsewhere keeps it.
func derivedGUID(kind string, v uid.Validity, name string) string {
	h := sha256.New()
	h.Write([]byte("mailrepl maildir " + kind + " mailbox v1\n"))
	h.Write(binary.BigEndian.AppendUint32(nil, uint32(v)))
	h.Write([]byte(name))
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// numberLocked numbers the files of sc through the store's UIDKeeper:
// the folder's list becomes the keeper's numbering, held in memory.
func (f *folder) numberLocked(ctx context.Context, op string, sc *scanResult) error {
	n, bases, err := f.askKeeperLocked(ctx, op, sc)
	if err != nil {
		return err
	}
	l := newUidlist(n.UIDValidity, n.UIDNext)
	l.guid = string(n.ID)
	l.recs = make([]record, len(bases))
	for i, b := range bases {
		l.recs[i] = record{uid: n.UIDs[i], base: b}
	}
	slices.SortFunc(l.recs, func(a, b record) int { return int(int64(a.uid) - int64(b.uid)) })
	f.ul, f.ulID, f.synthetic, f.numbered = l, fileID{}, true, true
	return nil
}

// askKeeperLocked asks the keeper for the numbering of the files of sc,
// given in the order Dovecot numbers new files, and returns it with the
// base names in that order.
func (f *folder) askKeeperLocked(ctx context.Context, op string, sc *scanResult) (mailbox.Numbering, []string, error) {
	bases := make([]string, 0, len(sc.files))
	for b := range sc.files {
		bases = append(bases, b)
	}
	slices.SortFunc(bases, compareBase)
	others, taken, err := f.s.siblings(f.dir)
	if err != nil {
		return mailbox.Numbering{}, nil, f.err(op, 0, f.s.root, err)
	}
	n, err := f.s.opts.UIDs.Number(ctx, mailbox.NumberRequest{Scheme: "maildir", Name: f.name, Keys: bases, Taken: taken, Others: others})
	if err != nil {
		return mailbox.Numbering{}, nil, f.err(op, 0, f.path, err)
	}
	if len(n.UIDs) != len(bases) || n.ID == "" || n.UIDValidity == 0 {
		return mailbox.Numbering{}, nil, f.err(op, 0, f.path, errors.New("the UID keeper answered a numbering that does not fit the request"))
	}
	if len(n.ID) != 32 {
		// A dovecot-uidlist seeded from it needs a GUID of 32 hex digits.
		sum := sha256.Sum256([]byte(n.ID))
		n.ID = mailbox.ID(hex.EncodeToString(sum[:16]))
	}
	f.s.claim(f.dir, n.ID)
	return n, bases, nil
}

// seedFromKeeperLocked is the list a folder without one gets when it is
// first written to: the keeper's numbering of its files, so that it keeps
// the UIDs a read-only pass gave it. It returns nil when the store has no
// keeper.
func (f *folder) seedFromKeeperLocked(ctx context.Context, op string, sc *scanResult) (*uidlist, mailbox.ID, error) {
	if f.s.opts.UIDs == nil {
		return nil, "", nil
	}
	n, bases, err := f.askKeeperLocked(ctx, op, sc)
	if err != nil {
		return nil, "", err
	}
	l := newUidlist(n.UIDValidity, n.UIDNext)
	l.guid = string(n.ID)
	for i, b := range bases {
		if !f.inflight[b] {
			l.recs = append(l.recs, record{uid: n.UIDs[i], base: b})
		}
	}
	slices.SortFunc(l.recs, func(a, b record) int { return int(int64(a.uid) - int64(b.uid)) })
	return l, n.ID, nil
}

// siblings returns the names of the store's other mailboxes and the
// numbering IDs other folders of this Store hold.
func (s *Store) siblings(dir string) ([]string, []mailbox.ID, error) {
	dirs, names, err := s.folderDirs()
	if err != nil {
		return nil, nil, err
	}
	others := make([]string, 0, len(dirs))
	for _, d := range dirs {
		if d != dir {
			others = append(others, names[d])
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var taken []mailbox.ID
	for id, d := range s.mu.numbered {
		if d != dir {
			taken = append(taken, id)
		}
	}
	slices.Sort(taken)
	return others, taken, nil
}

// claim records that the folder in dir holds numbering id.
func (s *Store) claim(dir string, id mailbox.ID) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mu.numbered == nil {
		s.mu.numbered = map[mailbox.ID]string{}
	}
	for old, d := range s.mu.numbered {
		if d == dir {
			delete(s.mu.numbered, old)
		}
	}
	s.mu.numbered[id] = dir
}

// derivedList is the list of a read-only folder with no list and no
// keeper: its UIDVALIDITY from the folder's path and its file names.
func (f *folder) derivedList(miss []string) *uidlist {
	sum := sha256.Sum256([]byte(f.s.realRoot + "/" + f.dir))
	h := sha256.New()
	h.Write(sum[:])
	for _, base := range miss {
		h.Write([]byte(base))
		h.Write([]byte{0})
	}
	v := binary.BigEndian.Uint32(h.Sum(nil)) | 1
	l := newUidlist(uid.Validity(v), 1)
	l.guid = hex.EncodeToString(sum[:16])
	return l
}
