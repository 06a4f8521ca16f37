package maildir_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/mailrepl/mailrepl/mailbox"
	"github.com/mailrepl/mailrepl/mailbox/maildir"
	"github.com/mailrepl/mailrepl/uid"
)

func Example() {
	ctx := context.Background()
	root, _ := os.MkdirTemp("", "maildir-example")
	defer os.RemoveAll(root)

	s, err := maildir.Open(root, &maildir.Options{
		Now: func() time.Time { return time.Date(2024, 6, 1, 12, 0, 0, 0, time.UTC) },
	})
	if err != nil {
		panic(err)
	}
	defer s.Close()

	if _, err := s.Create(ctx, "Archive/Été"); err != nil {
		panic(err)
	}
	msg := []byte("Subject: hello\n\nHi!\n")
	u, err := s.Append(ctx, "Archive/Été", mailbox.BytesLiteral(msg), mailbox.AppendMeta{
		Flags: mailbox.MustFlags(mailbox.Seen, "$Forwarded", mailbox.Passed),
	})
	if err != nil {
		panic(err)
	}
	for m, err := range s.Messages(ctx, "Archive/Été", uid.All) {
		if err != nil {
			panic(err)
		}
		fmt.Printf("UID %d: %d bytes, flags (%s), %s\n", m.UID, m.Size, m.Flags, m.InternalDate.UTC().Format(time.DateTime))
	}
	r, _ := s.Open(ctx, "Archive/Été", u)
	body, _ := io.ReadAll(r)
	r.Close()
	fmt.Printf("body %q\n", body)

	// On disk, as Dovecot keeps it.
	cur, _ := os.ReadDir(filepath.Join(root, ".Archive.&AMk-t&AOk-", "cur"))
	name := cur[0].Name()
	fmt.Println("file name ends", name[strings.Index(name, ",S="):])
	kw, _ := os.ReadFile(filepath.Join(root, ".Archive.&AMk-t&AOk-", "dovecot-keywords"))
	fmt.Printf("dovecot-keywords %q\n", kw)
	// Output:
	// UID 1: 20 bytes, flags ($Forwarded %Passed \Seen), 2024-06-01 12:00:00
	// body "Subject: hello\n\nHi!\n"
	// file name ends ,S=20,W=23:2,PSa
	// dovecot-keywords "0 $Forwarded\n"
}
