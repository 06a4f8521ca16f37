// Command mailrepld is mailrepl's daemon for machines that hold replicas.
// Its serve subcommand exposes the stores of this machine to mailrepl
// clients elsewhere (sync_all_users, restore, a Go program using
// mailbox/remote), over mailrepl's own protocol, so that a mirror to a
// remote Maildir keeps UIDVALIDITY, UIDs, private flags and EmailIDs as a
// local one does:
//
//	mailrepld serve -listen :7143 -store maildir:/srv/mail/{user} \
//	    -token-file /etc/mailrepl/token \
//	    -tls-cert /etc/mailrepl/cert.pem -tls-key /etc/mailrepl/key.pem \
//	    [-client-ca /etc/mailrepl/clients.pem] [-max-conns 64]
//
// Clients then name a user's store mailrepl://HOST:7143/{user}.
//
// # Security
//
// Every call carries the bearer token of -token-file (its first line),
// compared in constant time. The connection is TLS 1.3 with -tls-cert and
// -tls-key; with -client-ca, clients must also present a certificate that
// it signed (mutual TLS). Without a certificate the server speaks
// plaintext, and refuses to start unless -listen is a loopback address
// (127.0.0.1, [::1], localhost). Each request is confined to the user's
// store of the template: a user name that could leave it ("../x", "a/b",
// a NUL) is refused. Neither bodies nor the token are logged.
//
// # Load
//
// -max-conns caps the connections served at once and -max-streams the
// calls in flight; beyond them the server answers "overloaded, retry
// after -retry-after" (gRPC RESOURCE_EXHAUSTED), which clients turn into
// rate-limit observations and a pause.
//
// SIGINT or SIGTERM stops the server: calls in flight end, stores are
// closed; a client's batch that was not committed is undone, and its next
// run finishes it. The exit status is 0 after a stop, 1 when serving
// failed, 2 for a usage error.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

const usage = `usage: mailrepld COMMAND [flags]

commands:
  serve       expose this machine's stores to mailrepl clients
  replicate   keep replicas of this machine's stores current, continuously
  status      show what a replicator has queued, failing, and how far behind it is

run 'mailrepld COMMAND -h' for a command's flags
`

// run runs the program with the command-line arguments args (without the
// program's name) and returns its exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "serve":
		return serve(ctx, args[1:], stdout, stderr)
	case "replicate":
		return replicate(ctx, args[1:], stdout, stderr)
	case "status":
		return status(ctx, args[1:], stdout, stderr)
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "mailrepld: unknown command %q\n%s", args[0], usage)
	return 2
}
