package replica

import (
	"cmp"
	"slices"
	"strconv"
	"time"

	"github.com/mailrepl/mailrepl/journal"
)

// Priority orders the users a [Replicator] has queued: a change a user
// made goes before a periodic verification, and aging lets neither
// starve (see [ReplicatorOptions].Aging).
type Priority int

// The priorities, lowest first.
const (
	// PriorityFull is a periodic full verification, or the pass a
	// replicator makes over every user when it starts.
	PriorityFull Priority = iota
	// PriorityChange is a change a user or a delivery made.
	PriorityChange
)

func (p Priority) String() string {
	switch p {
	case PriorityFull:
		return "full"
	case PriorityChange:
		return "change"
	}
	return "priority(" + strconv.Itoa(int(p)) + ")"
}

// Notice announces that a user's mail changed: one mailbox, or, when
// Mailbox is "", any of them (the whole user is synced).
type Notice struct {
	User    string
	Mailbox string
	// Time is when the change was noticed; the replication lag of the
	// change runs from it. Zero means now.
	Time     time.Time
	Priority Priority
}

// queue is the replicator's pure scheduling core: the users with pending
// notices, coalesced by user and mailbox, their retries and failures.
// It does no I/O and reads no clock: every call takes the time.
type queue struct {
	users map[string]*pending
	// backoff and its cap; failAfter failures in a row put a user in the
	// failed set; aging is the wait worth one priority level.
	backoff, maxBackoff time.Duration
	failAfter           int
	aging               time.Duration
}

// pending is one user's entry in the queue.
type pending struct {
	user string
	// mailboxes waiting for a sync, each with the time of its oldest
	// pending notice; all means the whole user waits (a notice without a
	// mailbox), then mailboxes only keeps the times.
	mailboxes map[string]time.Time
	all       bool
	allSince  time.Time
	prio      Priority
	queuedAt  time.Time   // when the entry last became pending, for aging
	minSeq    journal.Seq // the lowest journal event of the pending notices (0: none)

	inFlight *job
	// notBefore is when a retry may start after a failure.
	notBefore time.Time
	failures  int
	reason    string    // the last failure
	failedAt  time.Time // when the user entered the failed set (zero: not in it)
}

// job is one sync the queue handed out: the notices it covers.
type job struct {
	user      string
	mailboxes map[string]time.Time
	all       bool
	allSince  time.Time
	prio      Priority
	minSeq    journal.Seq
	started   time.Time
}

// oldest returns the time of the oldest notice the job covers.
func (j *job) oldest() time.Time {
	var t time.Time
	if j.all {
		t = j.allSince
	}
	for _, s := range j.mailboxes {
		if t.IsZero() || s.Before(t) {
			t = s
		}
	}
	return t
}

// names returns the job's mailboxes, sorted; nil when it syncs the whole
// user.
func (j *job) names() []string {
	if j.all {
		return nil
	}
	names := make([]string, 0, len(j.mailboxes))
	for m := range j.mailboxes {
		names = append(names, m)
	}
	slices.Sort(names)
	return names
}

func newQueue(backoff, maxBackoff time.Duration, failAfter int, aging time.Duration) *queue {
	return &queue{users: map[string]*pending{}, backoff: backoff, maxBackoff: maxBackoff, failAfter: failAfter, aging: aging}
}

func (p *pending) hasWork() bool { return p.all || len(p.mailboxes) > 0 }

// add records a notice; seq is the journal event that announced it (0
// when it did not come from the change log). It reports whether the
// user's mailbox was not pending before (a new key).
func (q *queue) add(n Notice, seq journal.Seq, now time.Time) bool {
	t := n.Time
	if t.IsZero() {
		t = now
	}
	p := q.users[n.User]
	if p == nil {
		p = &pending{user: n.User, mailboxes: map[string]time.Time{}}
		q.users[n.User] = p
	}
	if !p.hasWork() {
		p.queuedAt = now
		p.prio = n.Priority
	} else if n.Priority > p.prio {
		p.prio = n.Priority
	}
	if seq != 0 && (p.minSeq == 0 || seq < p.minSeq) {
		p.minSeq = seq
	}
	fresh := false
	if n.Mailbox == "" {
		if !p.all {
			p.all, p.allSince, fresh = true, t, true
		} else if t.Before(p.allSince) {
			p.allSince = t
		}
		return fresh
	}
	old, ok := p.mailboxes[n.Mailbox]
	if !ok || t.Before(old) {
		p.mailboxes[n.Mailbox] = t
	}
	return !ok
}

// score is an entry's rank at now: its priority, plus a level for every
// aging period it waited.
func (q *queue) score(p *pending, now time.Time) time.Duration {
	return time.Duration(p.prio)*q.aging + now.Sub(p.queuedAt)
}

// next hands out the best job that may start at now: the user is not in
// flight, not waiting out a back-off, and allowed(user) says yes (a
// server's cap). Ties go to the user who waited longer, then by name.
func (q *queue) next(now time.Time, allowed func(user string) bool) (*job, bool) {
	var best *pending
	for _, p := range q.users {
		if p.inFlight != nil || !p.hasWork() || now.Before(p.notBefore) {
			continue
		}
		if best != nil {
			sb, sp := q.score(best, now), q.score(p, now)
			if sp < sb || sp == sb && (p.queuedAt.After(best.queuedAt) || p.queuedAt.Equal(best.queuedAt) && p.user > best.user) {
				continue
			}
		}
		if allowed != nil && !allowed(p.user) {
			continue
		}
		best = p
	}
	if best == nil {
		return nil, false
	}
	j := &job{user: best.user, mailboxes: best.mailboxes, all: best.all, allSince: best.allSince,
		prio: best.prio, minSeq: best.minSeq, started: now}
	best.inFlight = j
	best.mailboxes = map[string]time.Time{}
	best.all, best.allSince, best.minSeq = false, time.Time{}, 0
	return j, true
}

// done records how a job ended. On success the user leaves the failed
// set; on failure the job's notices are pending again, after a back-off
// that doubles with each failure in a row up to the cap, and after
// failAfter failures the user is in the failed set (still retried, at
// the pace of the back-off). It reports whether the user is now failed.
func (q *queue) done(j *job, err error, reason string, now time.Time) bool {
	p := q.users[j.user]
	if p == nil || p.inFlight != j {
		return false
	}
	p.inFlight = nil
	if err == nil {
		p.failures, p.reason, p.failedAt, p.notBefore = 0, "", time.Time{}, time.Time{}
		q.gc(p)
		return false
	}
	q.requeue(p, j, now)
	p.failures++
	p.reason = reason
	d := q.backoff
	for i := 1; i < p.failures && d < q.maxBackoff; i++ {
		d *= 2
	}
	p.notBefore = now.Add(min(d, q.maxBackoff))
	if p.failures >= q.failAfter && p.failedAt.IsZero() {
		p.failedAt = now
	}
	return !p.failedAt.IsZero()
}

// stopped puts back a job that was stopped before it finished, without
// counting a failure.
func (q *queue) stopped(j *job, now time.Time) {
	p := q.users[j.user]
	if p == nil || p.inFlight != j {
		return
	}
	p.inFlight = nil
	q.requeue(p, j, now)
}

// requeue merges the job's notices back into the user's pending ones.
func (q *queue) requeue(p *pending, j *job, now time.Time) {
	if !p.hasWork() {
		p.queuedAt = now
		p.prio = j.prio
	}
	p.prio = max(p.prio, j.prio)
	if j.all && (!p.all || j.allSince.Before(p.allSince)) {
		p.all, p.allSince = true, j.allSince
	}
	for m, t := range j.mailboxes {
		if old, ok := p.mailboxes[m]; !ok || t.Before(old) {
			p.mailboxes[m] = t
		}
	}
	if j.minSeq != 0 && (p.minSeq == 0 || j.minSeq < p.minSeq) {
		p.minSeq = j.minSeq
	}
}

// gc forgets an entry with nothing left to remember.
func (q *queue) gc(p *pending) {
	if !p.hasWork() && p.inFlight == nil && p.failures == 0 {
		delete(q.users, p.user)
	}
}

// pendingKey reports whether the user's mailbox (or, for "", the whole
// user) has a notice waiting that no sync has taken yet.
func (q *queue) pendingKey(user, mbox string) bool {
	p := q.users[user]
	if p == nil {
		return false
	}
	if mbox == "" {
		return p.all
	}
	_, ok := p.mailboxes[mbox]
	return ok
}

// lowSeq returns the lowest journal event any pending or running notice
// came from (0: none).
func (q *queue) lowSeq() journal.Seq {
	var low journal.Seq
	for _, p := range q.users {
		for _, s := range []journal.Seq{p.minSeq, jobSeq(p.inFlight)} {
			if s != 0 && (low == 0 || s < low) {
				low = s
			}
		}
	}
	return low
}

func jobSeq(j *job) journal.Seq {
	if j == nil {
		return 0
	}
	return j.minSeq
}

// wake returns the earliest time after now at which a user waiting out a
// back-off may start (zero: none is waiting).
func (q *queue) wake(now time.Time) time.Time {
	var t time.Time
	for _, p := range q.users {
		if p.inFlight == nil && p.hasWork() && now.Before(p.notBefore) && (t.IsZero() || p.notBefore.Before(t)) {
			t = p.notBefore
		}
	}
	return t
}

// QueueStats counts a queue's users.
type queueStats struct {
	queued, inFlight, failed int
	oldest                   time.Time // the oldest notice pending or running
}

func (q *queue) stats() queueStats {
	var s queueStats
	older := func(t time.Time) {
		if !t.IsZero() && (s.oldest.IsZero() || t.Before(s.oldest)) {
			s.oldest = t
		}
	}
	for _, p := range q.users {
		if p.hasWork() && p.inFlight == nil {
			s.queued++
		}
		if p.inFlight != nil {
			s.inFlight++
			older(p.inFlight.oldest())
		}
		if !p.failedAt.IsZero() {
			s.failed++
		}
		if p.all {
			older(p.allSince)
		}
		for _, t := range p.mailboxes {
			older(t)
		}
	}
	return s
}

// failedUsers returns the users in the failed set, by name.
func (q *queue) failedUsers() []FailedUser {
	var out []FailedUser
	for _, p := range q.users {
		if !p.failedAt.IsZero() {
			out = append(out, FailedUser{User: p.user, Reason: p.reason, Failures: p.failures, Since: p.failedAt, NextRetry: p.notBefore})
		}
	}
	slices.SortFunc(out, func(a, b FailedUser) int { return cmp.Compare(a.User, b.User) })
	return out
}
