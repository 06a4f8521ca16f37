package remote

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"testing"

	"github.com/mailrepl/mailrepl/internal/mailgen"
	"github.com/mailrepl/mailrepl/mailbox"
	"github.com/mailrepl/mailrepl/mailbox/maildir"
	"github.com/mailrepl/mailrepl/uid"
)

// BenchmarkRoundTrip appends generated messages in a batch, lists them
// and reads every body back: into a Maildir directly ("local"), and
// through the protocol over loopback TCP, plain and gzipped. Compare the
// ns/op of the three in one run.
func BenchmarkRoundTrip(b *testing.B) {
	g, err := mailgen.NewWithOptions(1, &mailgen.Options{AttachmentRate: -1, LargeRate: -1})
	if err != nil {
		b.Fatal(err)
	}
	mem := sourceOf(b, g, 500)
	var total int64
	msgs := list(b, mem)
	for _, m := range msgs {
		total += m.Size
	}
	for _, kind := range []string{"local", "remote", "remote+gzip"} {
		b.Run(kind, func(b *testing.B) {
			b.SetBytes(total)
			for b.Loop() {
				b.StopTimer()
				root := b.TempDir()
				var st mailbox.Store
				if kind == "local" {
					st, err = maildir.Open(filepath.Join(root, "u"), nil)
				} else {
					ts := startServer(b, ServerOptions{Open: maildirOpener(root)})
					st, err = Dial(context.Background(), ts.addr, "u", &Options{Token: testToken, Compress: kind == "remote+gzip"})
				}
				if err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				roundTrip(b, mem, st, msgs)
				b.StopTimer()
				st.Close()
				b.StartTimer()
			}
		})
	}
}

func sourceOf(b *testing.B, g *mailgen.Generator, n int) mailbox.Store {
	s, err := maildir.Open(filepath.Join(b.TempDir(), "src"), nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	if _, err := g.Populate(context.Background(), s, mailgen.AccountSpec{Messages: n}); err != nil {
		b.Fatal(err)
	}
	return s
}

func list(b *testing.B, s mailbox.Store) []mailbox.Message {
	var out []mailbox.Message
	for m, err := range s.Messages(context.Background(), mailbox.Inbox, uid.All) {
		if err != nil {
			b.Fatal(err)
		}
		out = append(out, m)
	}
	return out
}

func roundTrip(b *testing.B, src, dst mailbox.Store, msgs []mailbox.Message) {
	ctx := context.Background()
	bt, err := dst.(mailbox.Batcher).Batch(ctx, mailbox.Inbox)
	if err != nil {
		b.Fatal(err)
	}
	for _, m := range msgs {
		rc, err := src.Open(ctx, mailbox.Inbox, m.UID)
		if err != nil {
			b.Fatal(err)
		}
		if err := bt.AppendUID(ctx, m.UID, mailbox.NewLiteral(rc, m.Size), mailbox.AppendMeta{Flags: m.Flags, InternalDate: m.InternalDate}); err != nil {
			b.Fatal(err)
		}
		rc.Close()
	}
	if err := bt.Commit(ctx); err != nil {
		b.Fatal(err)
	}
	got := list(b, dst)
	if len(got) != len(msgs) {
		b.Fatal(fmt.Sprintf("%d messages, want %d", len(got), len(msgs)))
	}
	for _, m := range got {
		rc, err := dst.Open(ctx, mailbox.Inbox, m.UID)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, rc)
		rc.Close()
	}
}
