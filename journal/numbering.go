package journal

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/mailrepl/mailrepl/mailbox"
	"github.com/mailrepl/mailrepl/uid"
)

// Numberings: the UIDs, UIDVALIDITY and ID the journal keeps for mailboxes
// of stores that keep no UID list of their own and must not be written to
// (a read-only Maildir without dovecot-uidlist, an mbox, loose files).
// See mailbox.UIDKeeper for what they promise.
//
// A numbering belongs to a scope, the owner of the store (the tools use
// the user's name), and within it is found by the keys of its mailbox's
// messages (a Maildir file's unique name), never by a path: an index maps
// each key to the numberings that hold it. The name a numbering was last
// seen under finds it first and is the only way to find the numbering of
// an empty mailbox. Two stores of one scope that share files (a Maildir
// and a file copy of it) must not both be numbered: the copy would take
// the original's numbering. Backups are read without a keeper.

// numbering is the record of one numbering.
type numbering struct {
	id       mailbox.ID
	scheme   string
	scope    string
	name     string
	validity uid.Validity
	next     uid.UID
	updated  time.Time
}

// UIDKeeper returns a mailbox.UIDKeeper that keeps its numberings in the
// journal, under scope: the name of the store's owner (the tools use the
// user's name). Give one store per scope a keeper: a mailbox is found
// again by its name or its messages' keys, among the scope's numberings.
func (j *Journal) UIDKeeper(scope string) mailbox.UIDKeeper { return &uidKeeper{j: j, scope: scope} }

type uidKeeper struct {
	j     *Journal
	scope string
}

func (k *uidKeeper) Number(ctx context.Context, req mailbox.NumberRequest) (mailbox.Numbering, error) {
	return k.j.Number(ctx, k.scope, req)
}

func (k *uidKeeper) Forget(ctx context.Context, id mailbox.ID) error {
	return k.j.ForgetNumbering(ctx, id)
}

// numberingSample is how many of a mailbox's keys are looked up in the
// index when its name does not find its numbering.
const numberingSample = 16

// numberingCandidates is how many of the numberings the sample finds are
// read and compared with the keys.
const numberingCandidates = 4

// Number implements mailbox.UIDKeeper for scope: it finds the numbering
// of the mailbox req describes (by its name in scope, else by the keys of
// its messages), gives new keys UIDs, forgets keys that are gone, and
// makes that durable before it returns. A mailbox no numbering matches
// gets a new one, with a fresh ID (32 hex digits, usable as a Dovecot
// mailbox GUID) and a UIDVALIDITY above every one the journal gave before.
func (j *Journal) Number(ctx context.Context, scope string, req mailbox.NumberRequest) (mailbox.Numbering, error) {
	const op = "number"
	what := fmt.Sprintf("scheme %q mailbox %q", req.Scheme, req.Name)
	if err := checkNumberRequest(&req); err != nil {
		return mailbox.Numbering{}, &Error{Op: op, Dir: j.dir, Key: what, Err: err}
	}
	if err := j.ctxErr(ctx, op); err != nil {
		return mailbox.Numbering{}, err
	}
	j.numMu.Lock()
	defer j.numMu.Unlock()
	if err := j.enter(); err != nil {
		return mailbox.Numbering{}, &Error{Op: op, Dir: j.dir, Key: what, Err: err}
	}
	defer j.leave()

	n, known, err := j.findNumbering(ctx, scope, &req)
	if err != nil {
		return mailbox.Numbering{}, j.err(op, what, err)
	}
	b := j.db.NewBatch()
	defer b.Close()
	fresh := n == nil
	if fresh {
		if n, err = j.newNumbering(b, scope, req.Scheme, req.Name); err != nil {
			return mailbox.Numbering{}, j.err(op, what, err)
		}
		known = map[string]uid.UID{}
	}
	out := mailbox.Numbering{ID: n.id, UIDValidity: n.validity, UIDs: make([]uid.UID, len(req.Keys))}
	assigned := false
	for i, key := range req.Keys {
		if u, ok := known[key]; ok {
			out.UIDs[i] = u
			delete(known, key) // what is left is gone
			continue
		}
		if n.next >= uid.Max {
			return mailbox.Numbering{}, &Error{Op: op, Dir: j.dir, Key: what, Err: fmt.Errorf("%w: no UIDs left below 2^32-1", ErrInvalid)}
		}
		out.UIDs[i] = n.next
		if err := b.Set(numberedKey(n.id, key), newValue(recNumbered).uvarint(uint64(n.next)), nil); err != nil {
			return mailbox.Numbering{}, j.err(op, what, err)
		}
		if err := b.Set(numberIndexKey(n.scheme, key, n.id), newValue(recNumberIndex), nil); err != nil {
			return mailbox.Numbering{}, j.err(op, what, err)
		}
		n.next++
		assigned = true
	}
	for key := range known {
		if err := b.Delete(numberedKey(n.id, key), nil); err != nil {
			return mailbox.Numbering{}, j.err(op, what, err)
		}
		if err := b.Delete(numberIndexKey(n.scheme, key, n.id), nil); err != nil {
			return mailbox.Numbering{}, j.err(op, what, err)
		}
	}
	out.UIDNext = n.next
	moved := n.name != req.Name || n.scope != scope
	if fresh || assigned || moved {
		if moved && !fresh {
			// The name the numbering was found under no longer leads to it.
			old := numberNameKey(n.scope, n.scheme, n.name)
			if v, found, err := getFrom(j.db, old); err != nil {
				return mailbox.Numbering{}, j.err(op, what, err)
			} else if found {
				if id, err := decodeNumberName(old, v); err == nil && id == n.id {
					if err := b.Delete(old, nil); err != nil {
						return mailbox.Numbering{}, j.err(op, what, err)
					}
				}
			}
		}
		n.name, n.scope, n.updated = req.Name, scope, j.opts.Now()
		if err := b.Set(numberingKey(n.id), encodeNumbering(n), nil); err != nil {
			return mailbox.Numbering{}, j.err(op, what, err)
		}
	}
	name := numberNameKey(scope, n.scheme, req.Name)
	if v, found, err := getFrom(j.db, name); err != nil {
		return mailbox.Numbering{}, j.err(op, what, err)
	} else if id, derr := decodeNumberName(name, v); !found || derr != nil || id != n.id {
		if err := b.Set(name, newValue(recNumberName).str(string(n.id)), nil); err != nil {
			return mailbox.Numbering{}, j.err(op, what, err)
		}
	}
	if b.Empty() {
		return out, nil
	}
	// New UIDs are durable before anyone sees them: a crash must not let a
	// later run give the same file another UID. Forgetting gone keys needs
	// no sync: lost, it is done again.
	wo := pebble.NoSync
	if fresh || assigned {
		wo = j.wo
	}
	if err := safeCommit(b, wo); err != nil {
		return mailbox.Numbering{}, j.err(op, what, err)
	}
	return out, nil
}

func checkNumberRequest(req *mailbox.NumberRequest) error {
	if req.Scheme == "" {
		return invalid("empty scheme")
	}
	seen := make(map[string]bool, len(req.Keys))
	for _, k := range req.Keys {
		switch {
		case k == "":
			return invalid("empty key")
		case seen[k]:
			return invalid("key %q given twice", k)
		}
		seen[k] = true
	}
	return nil
}

// findNumbering finds the numbering of the mailbox req describes and
// returns it with its keys, or nil when none matches.
func (j *Journal) findNumbering(ctx context.Context, scope string, req *mailbox.NumberRequest) (*numbering, map[string]uid.UID, error) {
	taken := map[mailbox.ID]bool{}
	for _, id := range req.Taken {
		taken[id] = true
	}
	others := map[string]bool{}
	for _, o := range req.Others {
		if o != req.Name {
			others[o] = true
		}
	}
	usable := func(n *numbering) bool {
		return n.scheme == req.Scheme && n.scope == scope && !taken[n.id] && (n.name == req.Name || !others[n.name])
	}
	want := map[string]bool{}
	for _, k := range req.Keys {
		want[k] = true
	}
	overlap := func(known map[string]uid.UID) int {
		c := 0
		for k := range known {
			if want[k] {
				c++
			}
		}
		return c
	}

	// The name it was last seen under, in this scope.
	var hint *numbering
	var hintKeys map[string]uid.UID
	name := numberNameKey(scope, req.Scheme, req.Name)
	if v, found, err := getFrom(j.db, name); err != nil {
		return nil, nil, err
	} else if found {
		id, err := decodeNumberName(name, v)
		if err != nil {
			return nil, nil, err
		}
		n, keys, err := j.loadNumbering(ctx, id)
		if err != nil {
			return nil, nil, err
		}
		if n != nil && usable(n) {
			hint, hintKeys = n, keys
			ov := overlap(keys)
			if len(req.Keys) == 0 || (ov > 0 && 2*ov >= min(len(req.Keys), len(keys))) {
				return n, keys, nil
			}
		}
	}

	// A sample of the keys, looked up in the index.
	votes := map[mailbox.ID]int{}
	for _, i := range sampleIndexes(len(req.Keys), numberingSample) {
		p := newKey(tNumberIndex).str(req.Scheme).str(req.Keys[i])
		it, err := j.db.NewIter(&pebble.IterOptions{LowerBound: p, UpperBound: prefixEnd(p)})
		if err != nil {
			return nil, nil, err
		}
		for ok := it.First(); ok; ok = it.Next() {
			r := readKey(it.Key(), tNumberIndex)
			r.skipStr()
			r.skipStr()
			id := mailbox.ID(r.str())
			if err := r.done(); err != nil {
				_ = it.Close()
				return nil, nil, badRecord(tNumberIndex, it.Key(), err)
			}
			votes[id]++
		}
		if err := it.Close(); err != nil {
			return nil, nil, err
		}
	}
	cands := make([]mailbox.ID, 0, len(votes))
	for id := range votes {
		if hint == nil || id != hint.id {
			cands = append(cands, id)
		}
	}
	slices.SortFunc(cands, func(a, b mailbox.ID) int {
		if c := cmp.Compare(votes[b], votes[a]); c != 0 {
			return c
		}
		return cmp.Compare(a, b)
	})
	var best *numbering
	var bestKeys map[string]uid.UID
	bestOv := 0
	for i, id := range cands {
		if i == numberingCandidates {
			break
		}
		n, keys, err := j.loadNumbering(ctx, id)
		if err != nil {
			return nil, nil, err
		}
		if n == nil || !usable(n) {
			continue
		}
		if ov := overlap(keys); ov > bestOv || (ov == bestOv && ov > 0 && n.name == req.Name) {
			best, bestKeys, bestOv = n, keys, ov
		}
	}
	if best != nil {
		return best, bestKeys, nil
	}
	// Nothing else holds these messages: the mailbox under its old name,
	// emptied and filled again, keeps its numbering (UIDs go on rising).
	if hint != nil {
		return hint, hintKeys, nil
	}
	return nil, nil, nil
}

// sampleIndexes returns up to k indexes spread evenly over [0, n).
func sampleIndexes(n, k int) []int {
	if n <= k {
		out := make([]int, n)
		for i := range out {
			out[i] = i
		}
		return out
	}
	out := make([]int, k)
	for i := range out {
		out[i] = i * n / k
	}
	return out
}

// loadNumbering reads a numbering and its keys; nil when there is none.
func (j *Journal) loadNumbering(ctx context.Context, id mailbox.ID) (*numbering, map[string]uid.UID, error) {
	k := numberingKey(id)
	v, found, err := getFrom(j.db, k)
	if err != nil || !found {
		return nil, nil, err
	}
	n, err := decodeNumbering(k, v)
	if err != nil {
		return nil, nil, err
	}
	keys := map[string]uid.UID{}
	p := newKey(tNumbered).str(string(id))
	it, err := j.db.NewIter(&pebble.IterOptions{LowerBound: p, UpperBound: prefixEnd(p)})
	if err != nil {
		return nil, nil, err
	}
	defer it.Close()
	for ok := it.First(); ok; ok = it.Next() {
		if len(keys)%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, nil, err
			}
		}
		key, u, err := decodeNumbered(it.Key(), it.Value())
		if err != nil {
			return nil, nil, err
		}
		keys[key] = u
	}
	return n, keys, it.Error()
}

// newNumbering starts a numbering, writing into b the UIDVALIDITY it
// takes.
func (j *Journal) newNumbering(b *pebble.Batch, scope, scheme, name string) (*numbering, error) {
	var raw [16]byte
	if _, err := io.ReadFull(rand.Reader, raw[:]); err != nil {
		return nil, err
	}
	// UIDVALIDITY: the clock's seconds, as Dovecot gives them, but above
	// every one given before, so that a mailbox numbered again never gets
	// its old UIDVALIDITY back.
	var last uint64
	if v, found, err := getFrom(j.db, keyValidity); err != nil {
		return nil, err
	} else if found {
		d := newDec(v, recValidity)
		last = d.uvarint()
		if err := d.end(); err != nil {
			return nil, badRecord(tMeta, keyValidity, err)
		}
	}
	v := uint64(j.opts.Now().Unix())
	if v <= last {
		v = last + 1
	}
	if v == 0 || v > uint64(^uint32(0)) {
		v = 1
	}
	if err := b.Set(keyValidity, newValue(recValidity).uvarint(v), nil); err != nil {
		return nil, err
	}
	return &numbering{id: mailbox.ID(hex.EncodeToString(raw[:])), scheme: scheme, scope: scope, name: name,
		validity: uid.Validity(v), next: 1}, nil
}

// ForgetNumbering drops a numbering and its keys (mailbox.UIDKeeper's
// Forget). Dropping one that does not exist does nothing.
func (j *Journal) ForgetNumbering(ctx context.Context, id mailbox.ID) error {
	const op = "forget numbering"
	what := fmt.Sprintf("numbering %q", id)
	if err := j.ctxErr(ctx, op); err != nil {
		return err
	}
	j.numMu.Lock()
	defer j.numMu.Unlock()
	if err := j.enter(); err != nil {
		return &Error{Op: op, Dir: j.dir, Key: what, Err: err}
	}
	defer j.leave()
	n, keys, err := j.loadNumbering(ctx, id)
	if err != nil || n == nil {
		return j.err(op, what, err)
	}
	b := j.db.NewBatch()
	defer b.Close()
	for key := range keys {
		if err := b.Delete(numberIndexKey(n.scheme, key, id), nil); err != nil {
			return j.err(op, what, err)
		}
	}
	p := newKey(tNumbered).str(string(id))
	if err := b.DeleteRange(p, prefixEnd(p), nil); err != nil {
		return j.err(op, what, err)
	}
	if err := b.Delete(numberingKey(id), nil); err != nil {
		return j.err(op, what, err)
	}
	name := numberNameKey(n.scope, n.scheme, n.name)
	if v, found, err := getFrom(j.db, name); err != nil {
		return j.err(op, what, err)
	} else if found {
		if nid, err := decodeNumberName(name, v); err == nil && nid == id {
			if err := b.Delete(name, nil); err != nil {
				return j.err(op, what, err)
			}
		}
	}
	return j.err(op, what, safeCommit(b, j.wo))
}

// Keys and records of numberings.

func numberingKey(id mailbox.ID) []byte { return newKey(tNumbering).str(string(id)) }

func numberedKey(id mailbox.ID, key string) []byte {
	return newKey(tNumbered).str(string(id)).str(key)
}

func numberIndexKey(scheme, key string, id mailbox.ID) []byte {
	return newKey(tNumberIndex).str(scheme).str(key).str(string(id))
}

func numberNameKey(scope, scheme, name string) []byte {
	return newKey(tNumberName).str(scope).str(scheme).str(name)
}

func encodeNumbering(n *numbering) []byte {
	return newValue(recNumbering).str(n.scheme).str(n.scope).str(n.name).
		uvarint(uint64(n.validity)).uvarint(uint64(n.next)).time(n.updated)
}

func decodeNumbering(k, v []byte) (*numbering, error) {
	r := readKey(k, tNumbering)
	n := &numbering{id: mailbox.ID(r.str())}
	if err := r.done(); err != nil {
		return nil, badRecord(tNumbering, k, err)
	}
	d := newDec(v, recNumbering)
	n.scheme, n.scope, n.name = d.str(), d.str(), d.str()
	n.validity = uid.Validity(d.u32("UIDVALIDITY"))
	next := d.uvarint()
	n.updated = d.time()
	if d.err == nil && (n.validity == 0 || next == 0 || next > uint64(uid.Max)) {
		d.fail("UIDVALIDITY %d, UIDNEXT %d", n.validity, next)
	}
	if err := d.end(); err != nil {
		return nil, badRecord(tNumbering, k, err)
	}
	n.next = uid.UID(next)
	return n, nil
}

func decodeNumbered(k, v []byte) (string, uid.UID, error) {
	r := readKey(k, tNumbered)
	r.skipStr()
	key := r.str()
	if err := r.done(); err != nil {
		return "", 0, badRecord(tNumbered, k, err)
	}
	d := newDec(v, recNumbered)
	u := d.u32("UID")
	if d.err == nil && u == 0 {
		d.fail("UID 0")
	}
	if err := d.end(); err != nil {
		return "", 0, badRecord(tNumbered, k, err)
	}
	return key, uid.UID(u), nil
}

func decodeNumberIndex(k, v []byte) (scheme, key string, id mailbox.ID, err error) {
	r := readKey(k, tNumberIndex)
	scheme, key, id = r.str(), r.str(), mailbox.ID(r.str())
	if err := r.done(); err != nil {
		return "", "", "", badRecord(tNumberIndex, k, err)
	}
	d := newDec(v, recNumberIndex)
	if err := d.end(); err != nil {
		return "", "", "", badRecord(tNumberIndex, k, err)
	}
	return scheme, key, id, nil
}

func decodeNumberName(k, v []byte) (mailbox.ID, error) {
	r := readKey(k, tNumberName)
	r.skipStr()
	r.skipStr()
	r.skipStr()
	if err := r.done(); err != nil {
		return "", badRecord(tNumberName, k, err)
	}
	d := newDec(v, recNumberName)
	id := mailbox.ID(d.str())
	if d.err == nil && id == "" {
		d.fail("empty numbering ID")
	}
	if err := d.end(); err != nil {
		return "", badRecord(tNumberName, k, err)
	}
	return id, nil
}
