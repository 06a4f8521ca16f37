package journal

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/bloom"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/mailrepl/mailrepl/mailbox"
)

// sentinel is an error value that also matches a mailbox sentinel, so a
// caller that handles mailbox.ErrCorrupt or mailbox.ErrClosed handles the
// journal's too.
type sentinel struct {
	msg  string
	also error
}

func (s *sentinel) Error() string { return s.msg }
func (s *sentinel) Unwrap() error { return s.also }

// Sentinel errors, wrapped in an [*Error]; test for them with [errors.Is].
var (
	// ErrClosed: the journal has been closed. It matches mailbox.ErrClosed
	// too.
	ErrClosed error = &sentinel{"journal: closed", mailbox.ErrClosed}
	// ErrCorrupt: a record or a file of the journal is damaged. The error
	// names the directory and the record or file. It matches
	// mailbox.ErrCorrupt too. Nothing was changed.
	ErrCorrupt error = &sentinel{"journal: corrupt data", mailbox.ErrCorrupt}
	// ErrInUse: another process (or another Journal in this process) has
	// the directory open.
	ErrInUse = errors.New("journal: directory in use")
	// ErrFormatTooNew: the directory was written by a newer build, in a
	// format version this build does not read.
	ErrFormatTooNew = errors.New("journal: format version too new")
	// ErrFormatTooOld: the directory is in a format version so old that
	// this build no longer upgrades it.
	ErrFormatTooOld = errors.New("journal: format version too old")
	// ErrNotJournal: the directory is not empty and holds no journal.
	ErrNotJournal = errors.New("journal: not a journal directory")
	// ErrTruncated: the events asked for were removed by [Journal.Truncate].
	ErrTruncated = errors.New("journal: events truncated")
	// ErrInvalid: an argument is not acceptable (an empty pair name, a
	// zero UID, a cursor beyond the last event, …).
	ErrInvalid = errors.New("journal: invalid argument")
)

// Error is the error the journal's methods return: it names the operation,
// the journal's directory and what the error concerns, and wraps the cause.
type Error struct {
	Op  string // "open", "append", "commit", "state", …
	Dir string // the journal's directory
	Key string // the record, file or argument concerned, if any
	Err error
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("journal: ")
	b.WriteString(e.Op)
	if e.Key != "" {
		b.WriteString(" ")
		b.WriteString(e.Key)
	}
	if e.Dir != "" {
		b.WriteString(" in ")
		b.WriteString(e.Dir)
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(strings.TrimPrefix(e.Err.Error(), "journal: "))
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// Options configures a Journal. A nil *Options is valid and means all
// defaults; a zero field means that field's default.
type Options struct {
	// Now is the clock for the times the journal fills in. Default
	// time.Now.
	Now func() time.Time
	// Logger receives the storage engine's messages (its routine ones at
	// Debug level; damaged files, background errors at Error; a slow disk
	// at Warn). If nil, nothing is logged.
	Logger *slog.Logger
	// GroupCommitWindow is how long a commit waits for more writers to
	// join it before it syncs. Writers that arrive while a sync is in
	// progress always share the next one, so the default, zero, already
	// groups concurrent writers; a window trades latency for fewer syncs
	// when writers arrive one by one.
	GroupCommitWindow time.Duration
	// NoSync makes commits return before their data is on disk. A crash
	// then loses acknowledged writes and may give their sequence numbers
	// to other events: only for tests and throwaway journals.
	NoSync bool
	// CacheSize is the size of the block cache, in bytes. Default 8 MiB.
	CacheSize int64
}

// Validate reports every problem of o at once.
func (o *Options) Validate() error {
	if o == nil {
		return nil
	}
	var errs []error
	if o.GroupCommitWindow < 0 {
		errs = append(errs, fmt.Errorf("%w: negative GroupCommitWindow %v", ErrInvalid, o.GroupCommitWindow))
	}
	if o.CacheSize < 0 {
		errs = append(errs, fmt.Errorf("%w: negative CacheSize %d", ErrInvalid, o.CacheSize))
	}
	return errors.Join(errs...)
}

// withDefaults returns a copy of o with defaults filled in.
func (o *Options) withDefaults() Options {
	var c Options
	if o != nil {
		c = *o
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.CacheSize == 0 {
		c.CacheSize = 8 << 20
	}
	return c
}

// Journal is a durable change log, sync state, tombstones, lost records,
// intents and an EmailID cache, kept in one directory. Its methods are safe
// for concurrent use.
type Journal struct {
	dir  string
	opts Options
	db   *pebble.DB
	lock *pebble.Lock
	wo   *pebble.WriteOptions

	// use guards db against Close: every call that touches db holds it
	// for reading, Close for writing.
	use    sync.RWMutex
	closed atomic.Bool
	// damaged is the path of the last file found damaged, for errors.
	damaged atomic.Pointer[string]

	mu struct {
		sync.Mutex
		queue  []*commitReq
		last   Seq           // the last event committed
		trunc  Seq           // events through trunc were truncated
		notify chan struct{} // closed when events are committed, and by Close
		snaps  map[*pebble.Snapshot]struct{}
	}
	// numMu serializes the numberings' reads and writes (Number,
	// ForgetNumbering): each reads what it then changes.
	numMu sync.Mutex

	wake chan struct{} // tells the committer there is work
	stop chan struct{} // closed by Close
	done chan struct{} // closed when the committer has exited
}

// Open opens the journal in dir, creating dir and an empty journal when
// there is none. It fails with an error wrapping ErrInUse when another
// process has dir open, ErrFormatTooNew when a newer build wrote it,
// ErrNotJournal when dir holds other files, and ErrCorrupt when its files
// are damaged. An older format is upgraded, step by step.
func Open(dir string, opts *Options) (*Journal, error) {
	return open(dir, vfs.Default, opts, currentFormat)
}

func open(dir string, fs vfs.FS, opts *Options, spec formatSpec) (_ *Journal, err error) {
	if err := opts.Validate(); err != nil {
		return nil, &Error{Op: "open", Dir: dir, Err: err}
	}
	if dir == "" {
		return nil, &Error{Op: "open", Err: fmt.Errorf("%w: empty directory name", ErrInvalid)}
	}
	o := opts.withDefaults()
	j := &Journal{dir: dir, opts: o, wo: pebble.Sync}
	if o.NoSync {
		j.wo = pebble.NoSync
	}
	if err := fs.MkdirAll(dir, 0o755); err != nil {
		return nil, &Error{Op: "open", Dir: dir, Err: err}
	}
	if err := checkJournalDir(fs, dir); err != nil {
		return nil, &Error{Op: "open", Dir: dir, Err: err}
	}
	lock, err := pebble.LockDirectory(dir, fs)
	if err != nil {
		return nil, &Error{Op: "open", Dir: dir, Err: lockError(fs.PathJoin(dir, "LOCK"), err)}
	}
	defer func() {
		if err != nil {
			if j.db != nil {
				_ = j.db.Close()
			}
			_ = lock.Close()
		}
	}()
	j.lock = lock
	db, err := openPebble(dir, fs, lock, &o, func(path string) { j.damaged.Store(&path) })
	if err != nil {
		return nil, j.err("open", "", err)
	}
	j.db = db
	if err := j.checkFormat(spec); err != nil {
		return nil, err
	}
	if err := j.loadSeqs(); err != nil {
		return nil, err
	}
	j.mu.notify = make(chan struct{})
	j.mu.snaps = make(map[*pebble.Snapshot]struct{})
	j.wake = make(chan struct{}, 1)
	j.stop = make(chan struct{})
	j.done = make(chan struct{})
	go j.committer()
	return j, nil
}

// checkJournalDir refuses a directory that holds files of its own but no
// journal, so that a journal is never created among someone else's files.
// The storage engine's own files alone (a journal whose creation was cut
// short leaves some) are accepted.
func checkJournalDir(fs vfs.FS, dir string) error {
	names, err := fs.List(dir)
	if err != nil {
		return err
	}
	var foreign []string
	for _, n := range names {
		if strings.HasPrefix(n, "MANIFEST-") || strings.HasPrefix(n, "marker.manifest.") {
			return nil
		}
		if !isEngineFile(n) {
			foreign = append(foreign, n)
		}
	}
	if len(foreign) == 0 {
		return nil
	}
	return fmt.Errorf("%w: it holds %q and no MANIFEST", ErrNotJournal, foreign[0])
}

// isEngineFile reports whether name is one the storage engine writes.
func isEngineFile(name string) bool {
	switch name {
	case "LOCK", "CURRENT", "archive":
		return true
	}
	for _, p := range []string{"OPTIONS-", "marker.", "temporary.", "CURRENT."} {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	for _, x := range []string{".log", ".sst", ".blob", ".dbtmp"} {
		if strings.HasSuffix(name, x) {
			return true
		}
	}
	return false
}

// lockError explains a failure to lock the directory.
func lockError(path string, err error) error {
	if errors.Is(err, syscall.EAGAIN) || errors.Is(err, syscall.EACCES) || strings.Contains(err.Error(), "lock held by current process") {
		return fmt.Errorf("%w: another process holds the lock on %s (%v)", ErrInUse, path, err)
	}
	return fmt.Errorf("lock %s: %w", path, err)
}

// pebbleFormat is the storage engine's on-disk format, pinned so that a
// newer pebble library does not change the files by itself.
const pebbleFormat = pebble.FormatValueSeparation

func openPebble(dir string, fs vfs.FS, lock *pebble.Lock, o *Options, damaged func(path string)) (db *pebble.DB, err error) {
	po := &pebble.Options{
		FS:                 fs,
		Lock:               lock,
		Logger:             pebbleLogger{o.Logger},
		FormatMajorVersion: pebbleFormat,
		CacheSize:          o.CacheSize,
		// Each run of a batch tool leaves what it wrote in a small table
		// of level 0 (its log, replayed and flushed at the next open), and
		// a table spans from the first key written to the last, so every
		// compaction of level 0 rewrote the whole state below it: with the
		// default of 4 (a compaction every second run here), a no-op sync
		// of 20,020 messages spent most of its time rewriting 4 MB. Level 0
		// is compacted at 16 sublevels instead; reads merge at most that
		// many small tables more.
		L0CompactionThreshold: 16,
		L0StopWritesThreshold: 48,
	}
	// pebble's default answer to a damaged file is to exit the process;
	// log it instead, and let the read that met it return an error.
	po.EventListener = &pebble.EventListener{
		DataCorruption: func(info pebble.DataCorruptionInfo) {
			damaged(info.Path)
			o.Logger.Error("journal: damaged file", "dir", dir, "path", info.Path, "err", info.Details)
		},
		BackgroundError: func(err error) {
			o.Logger.Error("journal: background error", "dir", dir, "err", err)
		},
		DiskSlow: func(info pebble.DiskSlowInfo) {
			o.Logger.Warn("journal: disk slow", "dir", dir, "path", info.Path, "op", info.OpType.String(), "duration", info.Duration)
		},
	}
	// A sync writes intents and deletes them once its copies are in, so
	// the small table a run leaves is dense with tombstones, and pebble
	// compacted it at once into the whole state below it (0.2 s of a
	// no-op run after an incremental one, on a 4 MB state): its
	// tombstones go with the next compaction of level 0 instead.
	po.Experimental.TombstoneDenseCompactionThreshold = -1
	for i := range po.Levels {
		po.Levels[i].FilterPolicy = bloom.FilterPolicy(10)
	}
	po.EnsureDefaults()
	// pebble panics on some damage it finds while opening; turn that into
	// an error.
	defer func() {
		if r := recover(); r != nil {
			db, err = nil, fmt.Errorf("%w: %v", pebble.ErrCorruption, r)
		}
	}()
	return pebble.Open(dir, po)
}

// pebbleLogger sends pebble's messages to a slog.Logger.
type pebbleLogger struct{ l *slog.Logger }

func (p pebbleLogger) Infof(format string, args ...any) {
	p.l.Debug(fmt.Sprintf(format, args...), "component", "pebble")
}

func (p pebbleLogger) Errorf(format string, args ...any) {
	p.l.Error(fmt.Sprintf(format, args...), "component", "pebble")
}

// Fatalf is called when pebble cannot go on safely (it would exit the
// process); panicking instead lets a recover in the caller report it.
func (p pebbleLogger) Fatalf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	p.l.Error(msg, "component", "pebble", "fatal", true)
	panic("journal: storage engine failed: " + msg)
}

// err wraps an error of an operation, marking storage-engine corruption and
// undecodable records with ErrCorrupt.
func (j *Journal) err(op, key string, err error) error {
	if err == nil {
		return nil
	}
	var de *decodeError
	switch {
	case errors.Is(err, ErrCorrupt):
	case errors.As(err, &de):
		err = fmt.Errorf("%w: %w", ErrCorrupt, err)
	case pebble.IsCorruptionError(err):
		err = fmt.Errorf("%w: %w", ErrCorrupt, j.engineError(err))
	}
	var je *Error
	if errors.As(err, &je) {
		return err
	}
	return &Error{Op: op, Dir: j.dir, Key: key, Err: err}
}

// engineError is an error of the storage engine, with a message of one
// line that names the damaged file when the engine reported one.
type engineError struct {
	msg string
	err error
}

func (e *engineError) Error() string { return e.msg }
func (e *engineError) Unwrap() error { return e.err }

func (j *Journal) engineError(err error) error {
	msg, _, _ := strings.Cut(err.Error(), "\n")
	if p := j.damaged.Load(); p != nil && !strings.Contains(msg, *p) {
		msg += " (file " + *p + ")"
	}
	return &engineError{msg: msg, err: err}
}

// Dir returns the journal's directory.
func (j *Journal) Dir() string { return j.dir }

// enter starts a use of the database; leave ends it.
func (j *Journal) enter() error {
	j.use.RLock()
	if j.closed.Load() {
		j.use.RUnlock()
		return ErrClosed
	}
	return nil
}

func (j *Journal) leave() { j.use.RUnlock() }

// Close waits for commits in progress, ends open iterations (their next
// step yields ErrClosed) and closes the journal. Later calls return an error
// wrapping ErrClosed.
func (j *Journal) Close() error {
	j.mu.Lock()
	if j.closed.Load() {
		j.mu.Unlock()
		return &Error{Op: "close", Dir: j.dir, Err: ErrClosed}
	}
	j.closed.Store(true)
	close(j.stop)
	close(j.mu.notify)
	j.mu.Unlock()
	<-j.done

	j.use.Lock()
	defer j.use.Unlock()
	j.mu.Lock()
	for s := range j.mu.snaps {
		_ = s.Close()
	}
	j.mu.snaps = nil
	j.mu.Unlock()
	// Flushing the memtable leaves nothing in the log file after a clean
	// close: the log's last block is where damage cannot be told from a
	// write cut short by a crash.
	err := j.db.Flush()
	err = errors.Join(err, j.db.Close())
	err = errors.Join(err, j.lock.Close())
	if err != nil {
		return &Error{Op: "close", Dir: j.dir, Err: err}
	}
	return nil
}

// get reads one value; found is false when there is none. The value is a
// copy.
func (j *Journal) get(key []byte) (v []byte, found bool, err error) {
	if err := j.enter(); err != nil {
		return nil, false, err
	}
	defer j.leave()
	return getFrom(j.db, key)
}

// getFrom reads a copy of key's value from db, a snapshot or an indexed
// batch.
func getFrom(r pebble.Reader, key []byte) (v []byte, found bool, err error) {
	val, closer, err := r.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	v = append([]byte(nil), val...)
	return v, true, closer.Close()
}

// ctxErr returns ctx's error, if any, wrapped for op.
func (j *Journal) ctxErr(ctx context.Context, op string) error {
	if err := ctx.Err(); err != nil {
		return &Error{Op: op, Dir: j.dir, Err: err}
	}
	return nil
}
