package batch

import (
	"errors"
	"flag"
	"fmt"

	"github.com/mailrepl/mailrepl/ratelimit"
)

// RateFlags are the rate-limit flags the batch programs share:
//
//	-rate-msgs N, -rate-bytes SIZE                 for the whole batch
//	-server-rate-msgs N, -server-rate-bytes SIZE   for each server, source and target alike
//	-user-rate-msgs N, -user-rate-bytes SIZE       for each user
//	-server-conns N                                users in flight per server
//
// A wait draws from every limit that applies (ratelimit). Zero or empty
// means no limit.
type RateFlags struct {
	msgs, serverMsgs, userMsgs    float64
	bytes, serverBytes, userBytes string
	conns                         int
}

// Register defines the flags on fs.
func (r *RateFlags) Register(fs *flag.FlagSet) {
	fs.Float64Var(&r.msgs, "rate-msgs", 0, "at most `N` messages per second in all (0: no limit)")
	fs.StringVar(&r.bytes, "rate-bytes", "", "at most `SIZE` bytes per second in all, e.g. 20MB or 512KiB (empty: no limit)")
	fs.Float64Var(&r.serverMsgs, "server-rate-msgs", 0, "at most `N` messages per second to or from each server (0: no limit)")
	fs.StringVar(&r.serverBytes, "server-rate-bytes", "", "at most `SIZE` bytes per second to or from each server (empty: no limit)")
	fs.Float64Var(&r.userMsgs, "user-rate-msgs", 0, "at most `N` messages per second for each user (0: no limit)")
	fs.StringVar(&r.userBytes, "user-rate-bytes", "", "at most `SIZE` bytes per second for each user (empty: no limit)")
	fs.IntVar(&r.conns, "server-conns", 0, "at most `N` users in flight per server (0: no cap beyond -concurrency)")
}

// Config returns the limits the flags give, or every problem with them
// (each naming its flag).
func (r *RateFlags) Config() (ratelimit.Config, error) {
	var errs []error
	limit := func(msgsFlag string, msgs float64, bytesFlag, bytes string) ratelimit.Limit {
		l := ratelimit.Limit{Msgs: msgs}
		if msgs < 0 {
			errs = append(errs, fmt.Errorf("-%s must not be negative", msgsFlag))
		}
		if bytes != "" {
			n, err := ratelimit.ParseSize(bytes)
			if err != nil {
				errs = append(errs, fmt.Errorf("-%s: %w", bytesFlag, err))
			}
			l.Bytes = float64(n)
		}
		return l
	}
	c := ratelimit.Config{
		Global:      limit("rate-msgs", r.msgs, "rate-bytes", r.bytes),
		User:        limit("user-rate-msgs", r.userMsgs, "user-rate-bytes", r.userBytes),
		ServerConns: r.conns,
	}
	c.Source = limit("server-rate-msgs", r.serverMsgs, "server-rate-bytes", r.serverBytes)
	c.Target = c.Source
	if r.conns < 0 {
		errs = append(errs, errors.New("-server-conns must not be negative"))
	}
	if len(errs) == 0 {
		if err := c.Validate(); err != nil {
			errs = append(errs, err)
		}
	}
	return c, errors.Join(errs...)
}
