package batch

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"time"

	"github.com/mailrepl/mailrepl/journal"
)

// Checkpoint keeps a batch's progress in a journal, in records of a
// namespace of the batch's own ([journal.Record]), so that a batch
// stopped (Ctrl-C, a crash, kill -9) and run again with the same
// parameters resumes: the users it finished are not run again. When the
// batch has run every user, [Checkpoint.Finish] drops the records, and the
// next run with those parameters starts a new batch.
//
// Layout: namespace "<tool>/batch/<hash of the parameters>"; key "" holds
// the batch's header (its parameters and start), key <user> a finished
// user's [UserRecord]. Values are JSON with a version field "v".
type Checkpoint struct {
	j       *journal.Journal
	ns      string
	header  batchHeader
	resumed bool
	done    map[string]UserRecord // read when opened; immutable
}

type batchHeader struct {
	V       int       `json:"v"`
	Params  string    `json:"params"`
	Started time.Time `json:"started"`
}

// UserRecord is what a checkpoint remembers of a user the batch finished.
type UserRecord struct {
	V        int           `json:"v"`
	Status   Status        `json:"status"`
	Counts   Counts        `json:"counts"`
	Finished time.Time     `json:"finished"`
	Duration time.Duration `json:"duration_ns"`
}

const recordVersion = 1

// OpenCheckpoint finds the unfinished batch of tool with these
// parameters in j, or starts one. params must name everything that makes
// two runs the same batch (templates, mode, shard…); it is kept in the
// batch's header and compared on resume.
func OpenCheckpoint(ctx context.Context, j *journal.Journal, tool, params string, now time.Time) (*Checkpoint, error) {
	h := fnv.New64a()
	h.Write([]byte(params))
	c := &Checkpoint{j: j, ns: fmt.Sprintf("%s/batch/%016x", tool, h.Sum64()), done: map[string]UserRecord{}}
	v, found, err := j.Record(c.ns, "")
	if err != nil {
		return nil, fmt.Errorf("batch: read checkpoint: %w", err)
	}
	if found {
		if err := json.Unmarshal(v, &c.header); err != nil || c.header.V != recordVersion {
			return nil, fmt.Errorf("batch: checkpoint %s in %s: header %q does not decode (version %d, want %d): %v",
				c.ns, j.Dir(), v, c.header.V, recordVersion, err)
		}
	}
	if found && c.header.Params == params {
		c.resumed = true
		for r, err := range j.Records(ctx, c.ns) {
			if err != nil {
				return nil, fmt.Errorf("batch: read checkpoint: %w", err)
			}
			if r.Key == "" {
				continue
			}
			var u UserRecord
			if err := json.Unmarshal(r.Value, &u); err != nil || u.V != recordVersion {
				return nil, fmt.Errorf("batch: checkpoint %s in %s: record of user %q does not decode (version %d, want %d): %v",
					c.ns, j.Dir(), r.Key, u.V, recordVersion, err)
			}
			c.done[r.Key] = u
		}
		return c, nil
	}
	// A new batch (a header of other parameters under the same hash is
	// replaced).
	c.header = batchHeader{V: recordVersion, Params: params, Started: now}
	v, _ = json.Marshal(c.header)
	b := j.NewBatch()
	b.DeleteRecords(c.ns)
	b.PutRecord(c.ns, "", v)
	if _, err := b.Commit(ctx); err != nil {
		return nil, fmt.Errorf("batch: start checkpoint: %w", err)
	}
	return c, nil
}

// Resumed reports whether the checkpoint continues a batch that an
// earlier run left unfinished.
func (c *Checkpoint) Resumed() bool { return c.resumed }

// Started is when the batch started (in the first run, if resumed).
func (c *Checkpoint) Started() time.Time { return c.header.Started }

// DoneCount is the number of users an earlier run of the batch finished.
func (c *Checkpoint) DoneCount() int { return len(c.done) }

// Done returns what an earlier run of the batch recorded of user, if it
// finished the user.
func (c *Checkpoint) Done(user string) (UserRecord, bool) {
	r, ok := c.done[user]
	return r, ok
}

// MarkDone records that the batch finished user.
func (c *Checkpoint) MarkDone(ctx context.Context, user string, r UserRecord) error {
	r.V = recordVersion
	v, err := json.Marshal(r)
	if err != nil {
		return err
	}
	if err := c.j.PutRecord(ctx, c.ns, user, v); err != nil {
		return fmt.Errorf("batch: checkpoint user %q: %w", user, err)
	}
	return nil
}

// Finish ends the batch: its records are dropped, and the next run
// starts a new batch.
func (c *Checkpoint) Finish(ctx context.Context) error {
	b := c.j.NewBatch()
	b.DeleteRecords(c.ns)
	if _, err := b.Commit(ctx); err != nil {
		return fmt.Errorf("batch: finish checkpoint: %w", err)
	}
	return nil
}
