package main

import (
	"errors"
	"io/fs"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/mailrepl/mailrepl/mailbox"
	"github.com/mailrepl/mailrepl/ratelimit"
	"github.com/mailrepl/mailrepl/replica"
)

// metrics are the replicator's Prometheus metrics, on a registry of their
// own. None has a per-user label: the failed users are in the status.
type metrics struct {
	reg       *prometheus.Registry
	lag       prometheus.Histogram
	syncs     *prometheus.CounterVec
	errors    *prometheus.CounterVec
	messages  prometheus.Counter
	bytes     prometheus.Counter
	flags     prometheus.Counter
	expunges  prometheus.Counter
	scanned   atomic.Int64
	snapshot  func() replica.Snapshot
	limits    *ratelimit.Limiter
	srcServer string
	dstServer string
}

// lagBuckets are the bounds of the lag histogram, in seconds: fine below
// a second (the target), coarse up to a day.
var lagBuckets = []float64{0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10, 30, 60, 300, 900, 3600, 14400, 86400}

func newMetrics(snapshot func() replica.Snapshot, limits *ratelimit.Limiter, srcServer, dstServer string) *metrics {
	m := &metrics{reg: prometheus.NewRegistry(), snapshot: snapshot, limits: limits, srcServer: srcServer, dstServer: dstServer}
	m.lag = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "mailrepl_replication_lag_seconds",
		Help:    "Time from a change's notice to the replica holding it durably, per sync that covered it (the sync's oldest notice).",
		Buckets: lagBuckets,
	})
	m.syncs = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "mailrepl_syncs_total", Help: "Syncs of one user, by outcome (ok, failed, stopped).",
	}, []string{"outcome"})
	m.errors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "mailrepl_sync_errors_total", Help: "Failed syncs by kind of error (permission, not_found, transient, corrupt, read_only, other).",
	}, []string{"kind"})
	m.messages = prometheus.NewCounter(prometheus.CounterOpts{Name: "mailrepl_messages_copied_total", Help: "Messages copied to replicas."})
	m.bytes = prometheus.NewCounter(prometheus.CounterOpts{Name: "mailrepl_copied_bytes_total", Help: "Bytes of messages copied to replicas."})
	m.flags = prometheus.NewCounter(prometheus.CounterOpts{Name: "mailrepl_flag_changes_total", Help: "Flag changes applied to replicas."})
	m.expunges = prometheus.NewCounter(prometheus.CounterOpts{Name: "mailrepl_expunges_total", Help: "Messages expunged from replicas."})
	for _, o := range []string{"ok", "failed", "stopped"} {
		m.syncs.WithLabelValues(o)
	}
	m.reg.MustRegister(m.lag, m.syncs, m.errors, m.messages, m.bytes, m.flags, m.expunges, (*stateCollector)(m))
	return m
}

func (m *metrics) handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{}))
	return mux
}

func (m *metrics) setScanned(n int) { m.scanned.Store(int64(n)) }

// observe counts one sync's outcome (the Replicator's OnSync hook).
func (m *metrics) observe(o replica.SyncOutcome) {
	switch {
	case o.Stopped:
		m.syncs.WithLabelValues("stopped").Inc()
	case o.Err != nil:
		m.syncs.WithLabelValues("failed").Inc()
		m.errors.WithLabelValues(errorKind(o.Err)).Inc()
	default:
		m.syncs.WithLabelValues("ok").Inc()
		m.lag.Observe(o.Lag.Seconds())
	}
	if o.Report != nil {
		t := o.Report.Total
		m.messages.Add(float64(t.Appended + t.AppendedToSource))
		m.bytes.Add(float64(t.Bytes))
		m.flags.Add(float64(t.FlagChanges))
		m.expunges.Add(float64(t.Expunged + t.ExpungedSource))
	}
}

// errorKind classifies a sync's error for the errors metric.
func errorKind(err error) string {
	switch {
	case errors.Is(err, fs.ErrPermission):
		return "permission"
	case errors.Is(err, mailbox.ErrReadOnly):
		return "read_only"
	case errors.Is(err, mailbox.ErrNotFound), errors.Is(err, fs.ErrNotExist):
		return "not_found"
	case errors.Is(err, mailbox.ErrTransient):
		return "transient"
	case errors.Is(err, mailbox.ErrCorrupt):
		return "corrupt"
	}
	return "other"
}

// stateCollector reports the replicator's snapshot, taken once per
// scrape.
type stateCollector metrics

var (
	descQueued   = prometheus.NewDesc("mailrepl_users_queued", "Users waiting for a sync.", nil, nil)
	descInFlight = prometheus.NewDesc("mailrepl_users_in_flight", "Users being synced.", nil, nil)
	descFailed   = prometheus.NewDesc("mailrepl_users_failed", "Users in the failed set (failed several times in a row; still retried).", nil, nil)
	descOverdue  = prometheus.NewDesc("mailrepl_users_past_full_deadline", "Users whose periodic full verification is overdue.", nil, nil)
	descOldest   = prometheus.NewDesc("mailrepl_oldest_pending_change_age_seconds", "Age of the oldest change not yet replicated (0: none).", nil, nil)
	descBehind   = prometheus.NewDesc("mailrepl_journal_events_behind", "Events of the journal's change log after the replicator's cursor.", nil, nil)
	descScanned  = prometheus.NewDesc("mailrepl_watch_scanned_folders", "Folders scanned periodically because the kernel's inotify watch limit was reached.", nil, nil)
	descRate     = prometheus.NewDesc("mailrepl_server_rate_limit", "The rate limit in effect on a server (0: none), after adapting to its load.", []string{"server", "side", "unit"}, nil)
)

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descQueued, descInFlight, descFailed, descOverdue, descOldest, descBehind, descScanned, descRate} {
		ch <- d
	}
}

func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.snapshot()
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	gauge(descQueued, float64(s.Queued))
	gauge(descInFlight, float64(s.InFlight))
	gauge(descFailed, float64(len(s.Failed)))
	gauge(descOverdue, float64(s.PastFullDeadline))
	var age float64
	if !s.OldestPending.IsZero() {
		age = max(0, time.Since(s.OldestPending).Seconds())
	}
	gauge(descOldest, age)
	gauge(descBehind, float64(s.LastSeq-min(s.Cursor, s.LastSeq)))
	gauge(descScanned, float64(c.scanned.Load()))
	src := c.limits.Effective(c.srcServer)
	gauge(descRate, src.Source.Msgs, c.srcServer, "source", "messages_per_second")
	gauge(descRate, src.Source.Bytes, c.srcServer, "source", "bytes_per_second")
	dst := c.limits.Effective(c.dstServer)
	gauge(descRate, dst.Target.Msgs, c.dstServer, "target", "messages_per_second")
	gauge(descRate, dst.Target.Bytes, c.dstServer, "target", "bytes_per_second")
}
