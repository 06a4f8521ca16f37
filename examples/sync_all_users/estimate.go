package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/mailrepl/mailrepl/internal/batch"
	"github.com/mailrepl/mailrepl/mailbox"
	"github.com/mailrepl/mailrepl/replica"
	"github.com/mailrepl/mailrepl/uid"
)

// estimate returns the messages and bytes a sync of user will copy, from
// listings of its source and target (no body is read, nothing is
// written): per mailbox of the same name, what one side holds beyond the
// other, the source over the target in a mirror or migration, either way
// in a two-way sync. Exact for a first copy; for a later sync the
// difference of the totals (new mail less expunges), which is what the
// ETA needs: the time of a sync that copies little is spent listing.
func (a *app) estimate(ctx context.Context, user string) (batch.Work, error) {
	cfg := a.cfg
	src, err := cfg.source.OpenReader(user, batch.OpenOptions{})
	if err != nil {
		return batch.Work{}, fmt.Errorf("estimate: source: %w", err)
	}
	defer src.Close()
	srcSizes, err := listSizes(ctx, src)
	if err != nil {
		return batch.Work{}, fmt.Errorf("estimate: source: %w", err)
	}
	dstSizes := map[string]batch.Work{}
	dst, err := cfg.target.OpenReader(user, batch.OpenOptions{})
	switch {
	case errors.Is(err, mailbox.ErrNotFound):
		// No target yet: everything is to copy.
	case err != nil:
		return batch.Work{}, fmt.Errorf("estimate: target: %w", err)
	default:
		defer dst.Close()
		if dstSizes, err = listSizes(ctx, dst); err != nil {
			return batch.Work{}, fmt.Errorf("estimate: target: %w", err)
		}
	}
	var w batch.Work
	over := func(x, y batch.Work) batch.Work {
		return batch.Work{Msgs: max(0, x.Msgs-y.Msgs), Bytes: max(0, x.Bytes-y.Bytes)}
	}
	add := func(x batch.Work) { w.Msgs, w.Bytes = w.Msgs+x.Msgs, w.Bytes+x.Bytes }
	for name, s := range srcSizes {
		add(over(s, dstSizes[name]))
	}
	if cfg.mode == replica.TwoWay {
		for name, d := range dstSizes {
			add(over(d, srcSizes[name]))
		}
	}
	return w, nil
}

// listSizes returns the messages and bytes of each mailbox of r.
func listSizes(ctx context.Context, r mailbox.Reader) (map[string]batch.Work, error) {
	infos, err := r.Mailboxes(ctx)
	if err != nil {
		return nil, err
	}
	out := make(map[string]batch.Work, len(infos))
	for _, info := range infos {
		var w batch.Work
		for m, err := range r.Messages(ctx, info.Name, uid.All) {
			if err != nil {
				return nil, fmt.Errorf("list %s: %w", info.Name, err)
			}
			w.Msgs++
			w.Bytes += m.Size
		}
		out[info.Name] = w
	}
	return out, nil
}

// batchLimits is the most the batch may move per second under the limits
// configured, for the ETA: the global limit, each server's (all users of
// a batch read from one source server and write to one target server),
// and the per-user limit times the users in flight.
func (a *app) batchLimits() batch.Rates {
	l := a.limits.Effective(a.srcSrv)
	t := a.limits.Effective(a.dstSrv)
	rates := a.limits.Rates()
	users := float64(a.cfg.concurrency)
	least := func(vs ...float64) float64 {
		m := 0.0
		for _, v := range vs {
			if v > 0 && (m == 0 || v < m) {
				m = v
			}
		}
		return m
	}
	return batch.Rates{
		Msgs:  least(rates.Global.Msgs, l.Source.Msgs, t.Target.Msgs, users*a.cfg.limits.User.Msgs),
		Bytes: least(rates.Global.Bytes, l.Source.Bytes, t.Target.Bytes, users*a.cfg.limits.User.Bytes),
	}
}
