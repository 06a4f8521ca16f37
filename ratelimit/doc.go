// Package ratelimit paces a batch of mail syncs so that it never overloads
// either server: limits in messages and bytes per second, globally, per
// source server, per target server and per user; a cap on the operations
// in flight per server; and rates that follow each server's health.
//
// A batch builds one [Limiter] from a [Config] and gives each user's sync a
// [Handle] ([Limiter.For]). The sync engine sees the handle through two
// methods of its own small interface:
//
//	Wait(ctx context.Context, msgs int, bytes int64) error
//	Observe(target bool, latency time.Duration, overloaded bool, retryAfter time.Duration)
//
// Wait blocks until the messages and bytes may move. It draws from every
// limit that applies at once, all or nothing, on token buckets of
// [golang.org/x/time/rate]; waiters are served in the order they reserve,
// so users sharing a limit all progress and none starves. A piece larger
// than a bucket's burst is split into burst-sized pieces. A zero limit is
// no limit.
//
// Observe tells how a server answered. A server that answers "try again
// later", or far more slowly than its recent normal, has its rates lowered
// (halved by default: multiplicative decrease, not below a floor); success
// raises them back step by step (additive increase); an explicit retryAfter
// hint pauses the server's waits until then. [Adapt] states the rule;
// [Limiter.Rates] and [Limiter.Effective] show the rates in effect, for a
// progress display.
//
// [Limiter.Acquire] and [Handle.Acquire] cap the operations (or
// connections) in flight per server, first come, first served, so that
// thousands of users never open thousands of connections.
//
// [ParseSize] reads sizes such as "20MB" for command-line flags.
//
// The package imports nothing of mailrepl's.
package ratelimit
