package replica

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mailrepl/mailrepl/mailbox"
	"github.com/mailrepl/mailrepl/mailbox/memstore"
	"github.com/mailrepl/mailrepl/uid"
)

// fakeClock is a deterministic clock for stores and the engine, safe for
// concurrent use.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(time.Second)
	return c.t
}

var clockOffset int

func newMem(t testing.TB, clock *fakeClock) *memstore.Store {
	t.Helper()
	if clock == nil {
		clockOffset += 1000
		clock = &fakeClock{t: time.Date(2026, 1, 1, 0, 0, clockOffset, 0, time.UTC)}
	}
	s := memstore.New(&memstore.Options{Now: clock.Now})
	t.Cleanup(func() { s.Close() })
	return s
}

// body makes a small message whose content is determined by name.
func body(name string) []byte {
	return []byte(fmt.Sprintf("From: a@example.org\nSubject: %s\nMessage-ID: <%s@example.org>\n\nThis is message %s.\n", name, name, name))
}

func mustCreate(t testing.TB, s mailbox.Store, name string) {
	t.Helper()
	if _, err := s.Create(context.Background(), name); err != nil {
		t.Fatalf("create %q: %v", name, err)
	}
}

func mustAppend(t testing.TB, s mailbox.Store, mbox, name string, flags ...mailbox.Flag) uid.UID {
	t.Helper()
	u, err := s.Append(context.Background(), mbox, mailbox.BytesLiteral(body(name)), mailbox.AppendMeta{Flags: mailbox.MustFlags(flags...)})
	if err != nil {
		t.Fatalf("append %s to %q: %v", name, mbox, err)
	}
	return u
}

// dump describes a store for comparisons: per mailbox its messages as
// "uid:id(flags)", and with uids=false, without UIDs (sorted).
func dump(t testing.TB, s mailbox.Reader, uids bool) string {
	t.Helper()
	ctx := context.Background()
	infos, err := s.Mailboxes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, info := range infos {
		var msgs []string
		for m, err := range s.Messages(ctx, info.Name, uid.All) {
			if err != nil {
				t.Fatal(err)
			}
			id := m.EmailID
			if id.IsZero() {
				rc, err := s.Open(ctx, info.Name, m.UID)
				if err != nil {
					t.Fatal(err)
				}
				id, _, _ = mailbox.ComputeEmailID(rc)
				rc.Close()
			}
			e := fmt.Sprintf("%s(%s)", id.Short(), m.Flags)
			if uids {
				e = fmt.Sprintf("%d:%s", m.UID, e)
			}
			msgs = append(msgs, e)
		}
		if !uids {
			slices.Sort(msgs)
		}
		fmt.Fprintf(&b, "%s", info.Name)
		if uids {
			fmt.Fprintf(&b, " v=%d", info.UIDValidity)
		}
		fmt.Fprintf(&b, " sub=%v: %s\n", info.Subscribed, strings.Join(msgs, " "))
	}
	return b.String()
}

func mustSync(t testing.TB, src mailbox.Reader, dst mailbox.Store, opts *Options) *Report {
	t.Helper()
	s, err := New(src, dst, opts)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := s.Sync(context.Background())
	if err != nil {
		t.Fatalf("sync: %v", err)
	}
	return rep
}
