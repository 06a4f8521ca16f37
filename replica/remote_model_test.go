package replica

import (
	"context"
	"net"
	"testing"

	"github.com/mailrepl/mailrepl/mailbox"
	"github.com/mailrepl/mailrepl/mailbox/remote"
)

// remoteTarget serves s through mailbox/remote on 127.0.0.1 and returns
// the client's store: what a mirror to a replica machine writes to. The
// client has the optional interfaces s has. The test's cleanup closes
// client and server (the server closing s again is harmless: the model
// closes its stores itself).
func remoteTarget(t testing.TB, s mailbox.Store) mailbox.Store {
	t.Helper()
	const token = "model"
	srv, err := remote.NewServer(remote.ServerOptions{Token: token, Open: func(context.Context, string, bool) (mailbox.Store, error) {
		return s, nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); srv.Serve(l, nil) }()
	c, err := remote.Dial(context.Background(), l.Addr().String(), "target", &remote.Options{Token: token})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.Close()
		srv.Close()
		<-done
	})
	return c
}
