package batch

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/mailrepl/mailrepl/journal"
)

// SyncLog remembers, per pair of stores, where the journal's change log
// stood when the pair's last successful sync started, so that a later
// batch can skip a user whose mail did not change since ([Changes]). It
// lives in journal records of namespace "<tool>/synced", keyed by pair.
type SyncLog struct {
	j  *journal.Journal
	ns string
}

// LastSync is what a SyncLog keeps of a pair.
type LastSync struct {
	V    int         `json:"v"`
	Seq  journal.Seq `json:"seq"`  // the journal's last event when the sync started
	Time time.Time   `json:"time"` // when it started
}

// NewSyncLog returns tool's sync log in j.
func NewSyncLog(j *journal.Journal, tool string) *SyncLog {
	return &SyncLog{j: j, ns: tool + "/synced"}
}

// Last returns what the log holds of pair; found is false when the pair
// never synced successfully.
func (l *SyncLog) Last(pair string) (s LastSync, found bool, err error) {
	v, found, err := l.j.Record(l.ns, pair)
	if err != nil || !found {
		return LastSync{}, false, err
	}
	if err := json.Unmarshal(v, &s); err != nil || s.V != recordVersion {
		return LastSync{}, false, fmt.Errorf("batch: sync log of pair %q in %s does not decode (version %d, want %d): %v",
			pair, l.j.Dir(), s.V, recordVersion, err)
	}
	return s, true, nil
}

// Put records a successful sync of pair that started at s.
func (l *SyncLog) Put(ctx context.Context, pair string, s LastSync) error {
	s.V = recordVersion
	v, err := json.Marshal(s)
	if err != nil {
		return err
	}
	if err := l.j.PutRecord(ctx, l.ns, pair, v); err != nil {
		return fmt.Errorf("batch: sync log of pair %q: %w", pair, err)
	}
	return nil
}

// Changes is what the journal's change log says of each user: the last
// event that changed one of the user's mailboxes. A mail server that
// embeds mailrepl logs its users' changes there ([journal.Journal.Append]).
type Changes struct {
	last map[string]journal.Seq
}

// ReadChanges reads the journal's index of changed mailboxes (one record
// per mailbox ever changed, see [journal.Journal.Dirty]).
func ReadChanges(ctx context.Context, j *journal.Journal) (*Changes, error) {
	c := &Changes{last: map[string]journal.Seq{}}
	for m, err := range j.Dirty(ctx, 0) {
		if err != nil {
			return nil, fmt.Errorf("batch: read the change log: %w", err)
		}
		c.last[m.User] = max(c.last[m.User], m.Seq)
	}
	return c, nil
}

// Tracked reports whether the change log holds events of user: only then
// does it tell whether the user's mail changed. (A user whose changes are
// not logged, such as the users of a Maildir tree that Dovecot serves,
// must be synced every time.)
func (c *Changes) Tracked(user string) bool {
	_, ok := c.last[user]
	return ok
}

// Unchanged reports whether user's changes are logged and none came
// after event since.
func (c *Changes) Unchanged(user string, since journal.Seq) bool {
	last, ok := c.last[user]
	return ok && last <= since
}
