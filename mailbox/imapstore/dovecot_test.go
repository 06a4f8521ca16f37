package imapstore_test

import (
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/mailrepl/mailrepl/internal/dovecottest"
	"github.com/mailrepl/mailrepl/mailbox"
	"github.com/mailrepl/mailrepl/mailbox/imapstore"
	"github.com/mailrepl/mailrepl/mailbox/mailboxtest"
)

// dovecot starts one Dovecot for a test; every account logs in with the
// same password, and each store of the suite takes a new account.
func dovecot(t *testing.T) *dovecottest.Server {
	t.Helper()
	return dovecottest.Start(t, dovecottest.Config{MailRoot: filepath.Join(t.TempDir(), "mail"), AnyUser: true, Master: "admin"})
}

func options(srv *dovecottest.Server, user string, pool *imapstore.Pool) imapstore.Options {
	return imapstore.Options{
		Addr:     srv.Addr,
		Security: imapstore.Plain,
		Auth:     imapstore.Auth{User: user, Password: srv.Password},
		Pool:     pool,
		BadChars: ".", // Maildir++
	}
}

func TestConformanceDovecot(t *testing.T) {
	srv := dovecot(t)
	pool := imapstore.NewPool(8)
	var n atomic.Int64
	open := func(t *testing.T, user string) mailbox.Store {
		s, err := imapstore.New(options(srv, user, pool))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	var mu sync.Mutex
	users := map[mailbox.Store]string{}
	mailboxtest.Run(t, mailboxtest.Harness{
		New: func(t *testing.T) mailbox.Store {
			user := fmt.Sprintf("user%d", n.Add(1))
			s := open(t, user)
			mu.Lock()
			users[s] = user
			mu.Unlock()
			return s
		},
		Reopen: func(t *testing.T, s mailbox.Store) mailbox.Store {
			mu.Lock()
			user := users[s]
			mu.Unlock()
			s.Close()
			s2 := open(t, user)
			mu.Lock()
			users[s2] = user
			mu.Unlock()
			return s2
		},
		CRLF:     true,
		BadNames: []string{"...x", "x.."},
		Steps:    150,
	})
}
