package batch

import (
	"flag"
	"io"
	"testing"

	"github.com/mailrepl/mailrepl/ratelimit"
	"github.com/stretchr/testify/require"
)

func TestRateFlags(t *testing.T) {
	parse := func(args ...string) (ratelimit.Config, error) {
		fs := flag.NewFlagSet("x", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		var r RateFlags
		r.Register(fs)
		require.NoError(t, fs.Parse(args))
		return r.Config()
	}
	c, err := parse()
	require.NoError(t, err)
	require.Equal(t, ratelimit.Config{}, c, "no flags, no limits")

	c, err = parse("-rate-msgs", "100", "-rate-bytes", "20MB", "-server-rate-msgs", "50", "-server-rate-bytes", "1MiB",
		"-user-rate-msgs", "5", "-user-rate-bytes", "512KiB", "-server-conns", "8")
	require.NoError(t, err)
	require.Equal(t, ratelimit.Config{
		Global:      ratelimit.Limit{Msgs: 100, Bytes: 20e6},
		Source:      ratelimit.Limit{Msgs: 50, Bytes: 1 << 20},
		Target:      ratelimit.Limit{Msgs: 50, Bytes: 1 << 20},
		User:        ratelimit.Limit{Msgs: 5, Bytes: 512 << 10},
		ServerConns: 8,
	}, c)

	_, err = parse("-rate-msgs", "-1", "-user-rate-bytes", "lots", "-server-conns", "-2")
	require.Error(t, err)
	for _, want := range []string{"-rate-msgs must not be negative", "-user-rate-bytes:", "-server-conns must not be negative"} {
		require.Contains(t, err.Error(), want)
	}
}
