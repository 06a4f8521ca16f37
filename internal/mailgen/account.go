package mailgen

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"maps"
	"slices"
	"sync"

	"github.com/mailrepl/mailrepl/mailbox"
)

// AccountSpec says which messages make an account.
type AccountSpec struct {
	// Messages is how many: the account holds messages 0 to Messages-1
	// of the generator's stream, each in the folder it names.
	Messages int
}

func (s AccountSpec) validate() error {
	if s.Messages < 0 {
		return fmt.Errorf("mailgen: account of %d messages", s.Messages)
	}
	return nil
}

// Account yields the messages of the account spec describes, in order.
// Each message has its own Body; nothing else is kept between them.
func (g *Generator) Account(spec AccountSpec) iter.Seq[Message] {
	return func(yield func(Message) bool) {
		for i := range max(spec.Messages, 0) {
			if !yield(g.Message(i)) {
				return
			}
		}
	}
}

// Folders returns the names of the account's folders, parents before
// their children where both are folders.
func (g *Generator) Folders() []string {
	names := make([]string, len(g.folders))
	for k, f := range g.folders {
		names[k] = f.Name
	}
	slices.SortStableFunc(names, func(a, b string) int {
		switch {
		case mailbox.IsDescendant(a, b):
			return 1
		case mailbox.IsDescendant(b, a):
			return -1
		}
		return 0
	})
	return names
}

// Stats counts what Populate or Mutate did.
type Stats struct {
	Messages   int            // messages appended
	Bytes      int64          // their bytes
	Largest    int64          // the size of the largest
	Duplicates int            // how many of them duplicate an earlier message
	PerFolder  map[string]int // messages appended per folder

	FlagChanges int // messages whose flags Mutate changed
	Expunges    int // messages Mutate expunged
}

func (s *Stats) add(m Message) {
	s.Messages++
	n := int64(len(m.Body))
	s.Bytes += n
	s.Largest = max(s.Largest, n)
	if m.IsDuplicate() {
		s.Duplicates++
	}
	if s.PerFolder == nil {
		s.PerFolder = map[string]int{}
	}
	s.PerFolder[m.Folder]++
}

func (s Stats) String() string {
	str := fmt.Sprintf("%d messages, %d bytes, largest %d, %d duplicates", s.Messages, s.Bytes, s.Largest, s.Duplicates)
	if s.FlagChanges > 0 || s.Expunges > 0 {
		str += fmt.Sprintf(", %d flag changes, %d expunges", s.FlagChanges, s.Expunges)
	}
	for _, f := range slices.Sorted(maps.Keys(s.PerFolder)) {
		str += fmt.Sprintf("; %s %d", f, s.PerFolder[f])
	}
	return str
}

// Populate creates the account's folders in store (those that do not
// exist yet) and appends the account's messages to them with their flags
// and internal dates, in stream order. When store is a [mailbox.Batcher],
// appends go through batches, committed every few hundred messages. It
// streams: at most a few messages are held in memory at a time; a
// goroutine of its own generates them while the calling one appends them.
//
// On an error it commits what it appended (batches included) and returns
// the error, which names the message and wraps the store's, with the
// Stats of what was appended before.
func (g *Generator) Populate(ctx context.Context, store mailbox.Store, spec AccountSpec) (Stats, error) {
	if err := spec.validate(); err != nil {
		return Stats{}, err
	}
	if err := g.createFolders(ctx, store); err != nil {
		return Stats{}, err
	}
	var st Stats
	if err := appendAll(ctx, store, g.pipeline(0, spec.Messages), &st); err != nil {
		return st, fmt.Errorf("mailgen: populate: %w", err)
	}
	return st, nil
}

// appendAll appends the messages of seq to store, counting them in st. On
// an error it still commits the batches it opened, so that the messages
// st counts are in the store; if that commit fails too, the error says so.
func appendAll(ctx context.Context, store mailbox.Store, seq iter.Seq[Message], st *Stats) error {
	a := newAppender(store)
	defer a.close()
	var err error
	for m := range seq {
		if err = ctx.Err(); err == nil {
			err = a.append(ctx, m)
		}
		if err != nil {
			err = fmt.Errorf("message %d: %w", m.Index, err)
			break
		}
		st.add(m)
	}
	cctx := ctx
	if err != nil {
		cctx = context.WithoutCancel(ctx) // keep what was appended
	}
	if cerr := a.commit(cctx); cerr != nil {
		if err != nil {
			return errors.Join(err, fmt.Errorf("commit of the messages appended before: %w", cerr))
		}
		return cerr
	}
	return err
}

// pipeline yields messages 0 to n-1 of stream st, generated ahead on
// another goroutine into a few reused buffers. A yielded Body is valid
// until the next message is asked for.
func (g *Generator) pipeline(st uint64, n int) iter.Seq[Message] {
	return func(yield func(Message) bool) {
		const depth = 4
		type item struct {
			m   Message
			buf []byte
		}
		free := make(chan []byte, depth+1)
		for range depth + 1 {
			free <- nil
		}
		out := make(chan item, depth)
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Go(func() {
			defer close(out)
			for i := range n {
				var buf []byte
				select {
				case buf = <-free:
				case <-stop:
					return
				}
				buf, m := g.appendMessage(buf[:0], st, i)
				select {
				case out <- item{m, buf}:
				case <-stop:
					return
				}
			}
		})
		defer wg.Wait()
		defer close(stop)
		var last []byte
		for it := range out {
			if last != nil {
				free <- last
			}
			if !yield(it.m) {
				return
			}
			last = it.buf
		}
	}
}

// createFolders creates the generator's folders that store lacks, and
// their parents where the store asks for them.
func (g *Generator) createFolders(ctx context.Context, store mailbox.Store) error {
	infos, err := store.Mailboxes(ctx)
	if err != nil {
		return fmt.Errorf("mailgen: create folders: %w", err)
	}
	have := map[string]bool{}
	for _, info := range infos {
		have[info.Name] = true
	}
	for _, name := range g.Folders() {
		if err := createFolder(ctx, store, name, have); err != nil {
			return fmt.Errorf("mailgen: create folders: %w", err)
		}
	}
	return nil
}

// createFolder creates name unless have says it exists. A store that
// wants parents to exist first gets them.
func createFolder(ctx context.Context, store mailbox.Store, name string, have map[string]bool) error {
	if have[name] || mailbox.IsInbox(name) {
		return nil
	}
	_, err := store.Create(ctx, name)
	if errors.Is(err, mailbox.ErrNotFound) && mailbox.Parent(name) != "" {
		if err := createFolder(ctx, store, mailbox.Parent(name), have); err != nil {
			return err
		}
		_, err = store.Create(ctx, name)
	}
	if err != nil && !errors.Is(err, mailbox.ErrExists) {
		return err
	}
	have[name] = true
	return nil
}

// appender appends messages to a store, through one batch per folder
// when the store offers batches.
type appender struct {
	store   mailbox.Store
	batcher mailbox.Batcher // nil: plain appends
	batches map[string]*openBatch
}

type openBatch struct {
	b     mailbox.Batch
	n     int
	bytes int64
}

// A batch is committed after this many messages or bytes.
const (
	batchMessages = 500
	batchBytes    = 64 << 20
)

func newAppender(store mailbox.Store) *appender {
	a := &appender{store: store, batches: map[string]*openBatch{}}
	a.batcher, _ = store.(mailbox.Batcher)
	return a
}

func (a *appender) append(ctx context.Context, m Message) error {
	meta := mailbox.AppendMeta{Flags: m.Flags, InternalDate: m.InternalDate}
	if a.batcher == nil {
		_, err := a.store.Append(ctx, m.Folder, mailbox.BytesLiteral(m.Body), meta)
		return err
	}
	ob := a.batches[m.Folder]
	if ob == nil {
		b, err := a.batcher.Batch(ctx, m.Folder)
		if err != nil {
			return err
		}
		ob = &openBatch{b: b}
		a.batches[m.Folder] = ob
	}
	if _, err := ob.b.Append(ctx, mailbox.BytesLiteral(m.Body), meta); err != nil {
		return err
	}
	ob.n++
	ob.bytes += int64(len(m.Body))
	if ob.n >= batchMessages || ob.bytes >= batchBytes {
		delete(a.batches, m.Folder)
		if err := ob.b.Commit(ctx); err != nil {
			ob.b.Close()
			return err
		}
	}
	return nil
}

// commit commits every open batch.
func (a *appender) commit(ctx context.Context) error {
	for _, name := range slices.Sorted(maps.Keys(a.batches)) {
		ob := a.batches[name]
		delete(a.batches, name)
		if err := ob.b.Commit(ctx); err != nil {
			ob.b.Close()
			return err
		}
	}
	return nil
}

// close ends the batches left open after an error.
func (a *appender) close() {
	for name, ob := range a.batches {
		ob.b.Close()
		delete(a.batches, name)
	}
}
