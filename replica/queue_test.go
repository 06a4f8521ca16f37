package replica

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mailrepl/mailrepl/journal"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// step is one call on a queue in a table test.
type step struct {
	at time.Duration // since t0
	// one of:
	add     *Notice
	seq     journal.Seq // with add
	next    string      // expect next() to hand out this job ("user:mbox,mbox" or "user:*"), "-" for none
	deny    string      // with next: a user allowed() refuses
	done    string      // finish the user's job: "ok" or the failure reason
	stop    bool        // with done's user: the job was stopped
	user    string      // the user for done/stop
	failed  []string    // expect the failed set
	lowSeq  *journal.Seq
	wakeAt  *time.Duration
	pending []string // expect pendingKey true for "user:mbox"
}

func jobString(j *job) string {
	if j == nil {
		return "-"
	}
	if j.all {
		return j.user + ":*"
	}
	return j.user + ":" + strings.Join(j.names(), ",")
}

func seqp(s journal.Seq) *journal.Seq     { return &s }
func durp(d time.Duration) *time.Duration { return &d }
func note(user, mbox string, p Priority) *Notice {
	return &Notice{User: user, Mailbox: mbox, Priority: p}
}

func TestQueue(t *testing.T) {
	s := time.Second
	tests := []struct {
		name  string
		steps []step
	}{
		{name: "notices for one mailbox coalesce", steps: []step{
			{add: note("a", "INBOX", PriorityChange)},
			{add: note("a", "INBOX", PriorityChange)},
			{add: note("a", "Sent", PriorityChange)},
			{next: "a:INBOX,Sent"},
			{next: "-"},
		}},
		{name: "a whole-user notice covers the mailboxes", steps: []step{
			{add: note("a", "INBOX", PriorityChange)},
			{add: note("a", "", PriorityFull)},
			{next: "a:*"},
		}},
		{name: "a change goes before a verification", steps: []step{
			{add: note("full", "", PriorityFull)},
			{at: s, add: note("chg", "INBOX", PriorityChange)},
			{at: 2 * s, next: "chg:INBOX"},
			{at: 2 * s, next: "full:*"},
		}},
		{name: "aging: a verification that waited an aging period goes first", steps: []step{
			{add: note("full", "", PriorityFull)},
			{at: 61 * s, add: note("chg", "INBOX", PriorityChange)},
			{at: 62 * s, next: "full:*"},
			{at: 62 * s, next: "chg:INBOX"},
		}},
		{name: "equal priority: the longer wait first", steps: []step{
			{add: note("b", "INBOX", PriorityChange)},
			{at: s, add: note("a", "INBOX", PriorityChange)},
			{at: 2 * s, next: "b:INBOX"},
			{at: 2 * s, next: "a:INBOX"},
		}},
		{name: "one sync per user: a notice during a sync waits for it", steps: []step{
			{add: note("a", "INBOX", PriorityChange)},
			{next: "a:INBOX"},
			{add: note("a", "INBOX", PriorityChange)},
			{next: "-"},
			{pending: []string{"a:INBOX"}},
			{done: "ok", user: "a"},
			{next: "a:INBOX"},
		}},
		{name: "a refused server's user is passed over", steps: []step{
			{add: note("a", "INBOX", PriorityChange)},
			{at: s, add: note("b", "INBOX", PriorityChange)},
			{at: s, next: "b:INBOX", deny: "a"},
			{at: s, next: "a:INBOX"},
		}},
		{name: "back-off doubles to its cap, then the failed set", steps: []step{
			{add: note("a", "INBOX", PriorityChange)},
			{next: "a:INBOX"},
			{done: "boom 1", user: "a", failed: []string{}, wakeAt: durp(s)},
			{at: s - 1, next: "-"},
			{at: s, next: "a:INBOX"},
			{at: s, done: "boom 2", user: "a", wakeAt: durp(3 * s)},
			{at: 3 * s, next: "a:INBOX"},
			{at: 3 * s, done: "boom 3", user: "a", failed: []string{"a: boom 3"}, wakeAt: durp(7 * s)},
			{at: 7 * s, next: "a:INBOX"},
			{at: 7 * s, done: "boom 4", user: "a", wakeAt: durp(15 * s)},
			{at: 15 * s, next: "a:INBOX"},
			{at: 15 * s, done: "boom 5", user: "a", wakeAt: durp(25 * s)}, // the cap: 10 s
			{at: 25 * s, next: "a:INBOX"},
			{at: 25 * s, done: "ok", user: "a", failed: []string{}},
			{at: 25 * s, next: "-"},
		}},
		{name: "a failing user does not hold up others", steps: []step{
			{add: note("a", "INBOX", PriorityChange)},
			{next: "a:INBOX"},
			{done: "boom", user: "a"},
			{add: note("b", "INBOX", PriorityChange)},
			{next: "b:INBOX"},
			{next: "-"},
		}},
		{name: "a stopped job is queued again without a failure", steps: []step{
			{add: note("a", "INBOX", PriorityChange), seq: 7},
			{next: "a:INBOX"},
			{done: "stopped", stop: true, user: "a", failed: []string{}, lowSeq: seqp(7)},
			{next: "a:INBOX"},
		}},
		{name: "the low sequence number covers running and pending notices", steps: []step{
			{add: note("a", "INBOX", PriorityChange), seq: 5},
			{add: note("b", "INBOX", PriorityChange), seq: 6},
			{lowSeq: seqp(5)},
			{next: "a:INBOX"},
			{add: note("a", "INBOX", PriorityChange), seq: 9},
			{lowSeq: seqp(5)},
			{done: "ok", user: "a", lowSeq: seqp(6)},
			{next: "a:INBOX"}, // a tie of waits goes by name
			{done: "ok", user: "a", lowSeq: seqp(6)},
			{next: "b:INBOX"},
			{done: "ok", user: "b", lowSeq: seqp(0)},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			q := newQueue(time.Second, 10*time.Second, 3, time.Minute)
			jobs := map[string]*job{}
			for i, st := range tc.steps {
				now := t0.Add(st.at)
				switch {
				case st.add != nil:
					q.add(*st.add, st.seq, now)
				case st.next != "":
					j, _ := q.next(now, func(u string) bool { return u != st.deny })
					if got := jobString(j); got != st.next {
						t.Fatalf("step %d: next = %s, want %s", i, got, st.next)
					}
					if j != nil {
						jobs[j.user] = j
					}
				case st.done != "":
					j := jobs[st.user]
					switch {
					case st.stop:
						q.stopped(j, now)
					case st.done == "ok":
						q.done(j, nil, "", now)
					default:
						q.done(j, errors.New(st.done), st.done, now)
					}
				}
				if st.failed != nil {
					var got []string
					for _, f := range q.failedUsers() {
						got = append(got, f.User+": "+f.Reason)
					}
					if !slices.Equal(got, st.failed) && (len(got) > 0 || len(st.failed) > 0) {
						t.Errorf("step %d: failed set %q, want %q", i, got, st.failed)
					}
				}
				if st.lowSeq != nil {
					if got := q.lowSeq(); got != *st.lowSeq {
						t.Errorf("step %d: lowSeq = %d, want %d", i, got, *st.lowSeq)
					}
				}
				if st.wakeAt != nil {
					if got := q.wake(now); !got.Equal(t0.Add(*st.wakeAt)) {
						t.Errorf("step %d: wake = %v, want %v", i, got.Sub(t0), *st.wakeAt)
					}
				}
				for _, k := range st.pending {
					u, m, _ := strings.Cut(k, ":")
					if !q.pendingKey(u, m) {
						t.Errorf("step %d: %s not pending", i, k)
					}
				}
			}
		})
	}
}

// TestQueueCoalescingModel runs random notices, jobs and outcomes on the
// queue and checks it against a model that keeps every notice apart:
// every notice is covered by a successful job that started after it, at
// most one job per user runs, and nothing is left once all succeed.
func TestQueueCoalescingModel(t *testing.T) {
	seed := *flagSeed
	if seed == 0 {
		seed = rand.Uint64()
	}
	for round := range 200 {
		s := seed + uint64(round)
		if !t.Run(fmt.Sprint(s), func(t *testing.T) { queueModelRound(t, s) }) {
			t.Fatalf("replay with -run TestQueueCoalescingModel -seed %d", s)
		}
	}
}

func queueModelRound(t *testing.T, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 0))
	users := []string{"a", "b", "c"}
	mboxes := []string{"", "INBOX", "Sent", "Junk"}
	q := newQueue(time.Second, 8*time.Second, 2, time.Minute)
	var open []modelNotice       // notices no successful job has covered
	running := map[string]*job{} // by user
	taken := map[*job][]modelNotice{}
	now := t0
	var seq journal.Seq
	covers := func(j *job, n modelNotice) bool {
		if n.user != j.user {
			return false
		}
		if j.all {
			return true
		}
		_, ok := j.mailboxes[n.mbox]
		return ok && n.mbox != ""
	}
	check := func(what string) {
		t.Helper()
		// Every open notice is pending or in a running job, and the low
		// sequence number is at most its.
		low := q.lowSeq()
		for _, n := range open {
			inJob := false
			if j := running[n.user]; j != nil && slices.Contains(taken[j], n) {
				inJob = true
			}
			if !inJob && !q.pendingKey(n.user, n.mbox) && !q.pendingKey(n.user, "") {
				t.Fatalf("%s: notice %+v lost", what, n)
			}
			if n.seq != 0 && (low == 0 || low > n.seq) {
				t.Fatalf("%s: lowSeq %d above open notice %d", what, low, n.seq)
			}
		}
		if st := q.stats(); st.inFlight != len(running) {
			t.Fatalf("%s: %d in flight, model %d", what, st.inFlight, len(running))
		}
	}
	for i := range 300 {
		now = now.Add(time.Duration(rng.IntN(3000)) * time.Millisecond)
		switch op := rng.IntN(10); {
		case op < 5:
			n := modelNotice{user: users[rng.IntN(len(users))], mbox: mboxes[rng.IntN(len(mboxes))], at: now}
			if rng.IntN(2) == 0 {
				seq++
				n.seq = seq
			}
			q.add(Notice{User: n.user, Mailbox: n.mbox, Time: now, Priority: Priority(rng.IntN(2))}, n.seq, now)
			open = append(open, n)
			check(fmt.Sprintf("op %d add %+v", i, n))
		case op < 8:
			j, ok := q.next(now, nil)
			if !ok {
				continue
			}
			if running[j.user] != nil {
				t.Fatalf("op %d: a second job for %s", i, j.user)
			}
			running[j.user] = j
			for _, n := range open {
				if covers(j, n) {
					taken[j] = append(taken[j], n)
				}
			}
			// The job covers every open notice of its user that is not in
			// another job: a notice it does not cover was not pending.
			for _, n := range open {
				if n.user == j.user && !slices.Contains(taken[j], n) {
					t.Fatalf("op %d: job %s leaves notice %+v behind", i, jobString(j), n)
				}
			}
			if !j.oldest().Equal(oldestOf(taken[j])) {
				t.Fatalf("op %d: job %s oldest %v, notices' %v", i, jobString(j), j.oldest(), oldestOf(taken[j]))
			}
			check(fmt.Sprintf("op %d next %s", i, jobString(j)))
		default:
			var u string
			for _, name := range users {
				if running[name] != nil && (u == "" || rng.IntN(2) == 0) {
					u = name
				}
			}
			if u == "" {
				continue
			}
			j := running[u]
			delete(running, u)
			switch rng.IntN(3) {
			case 0:
				q.done(j, errors.New("boom"), "boom", now)
			case 1:
				q.stopped(j, now)
			default:
				q.done(j, nil, "", now)
				open = slices.DeleteFunc(open, func(n modelNotice) bool { return slices.Contains(taken[j], n) })
			}
			delete(taken, j)
			check(fmt.Sprintf("op %d done %s", i, u))
		}
	}
	// Drain: every job succeeds; nothing is left.
	for k := 0; len(running) > 0 || q.stats().queued > 0; k++ {
		if k > 1000 {
			t.Fatalf("the queue does not drain: %+v", q.stats())
		}
		for u, j := range running {
			q.done(j, nil, "", now)
			open = slices.DeleteFunc(open, func(n modelNotice) bool { return slices.Contains(taken[j], n) })
			delete(running, u)
			delete(taken, j)
		}
		now = now.Add(10 * time.Second) // past every back-off
		for {
			j, ok := q.next(now, nil)
			if !ok {
				break
			}
			running[j.user] = j
			for _, n := range open {
				if covers(j, n) {
					taken[j] = append(taken[j], n)
				}
			}
		}
	}
	if len(open) > 0 {
		t.Fatalf("notices never covered: %+v", open)
	}
	if low := q.lowSeq(); low != 0 {
		t.Fatalf("lowSeq %d after the drain", low)
	}
	if len(q.users) != 0 {
		t.Fatalf("%d users left in the queue after the drain", len(q.users))
	}
}

// modelNotice is one notice as the model keeps it.
type modelNotice struct {
	user, mbox string
	seq        journal.Seq
	at         time.Time
}

func oldestOf(ns []modelNotice) time.Time {
	var t time.Time
	for _, n := range ns {
		if t.IsZero() || n.at.Before(t) {
			t = n.at
		}
	}
	return t
}
