// Package batch holds what mailrepl's batch programs (sync_all_users,
// restore) share: a users file ([ReadUsers]) whose unsafe names
// ([ValidUser]) fail alone, a machine's share of the users ([Shard]),
// store templates such as "maildir:/srv/mail/{user}" ([Template]), a
// [Runner] that runs a job per user, several at once, with one user's
// failure (an error, a panic) kept to that user, a graceful stop
// ([Interrupts]), progress shown on a terminal or logged, and a summary
// ([Result.WriteTable], JSON, an exit status); resumable batches
// ([Checkpoint]) and the skipping of users the journal's change log shows
// unchanged ([SyncLog], [Changes]), both kept in a journal's records; and
// [Compare], which checks that a replica mirrors its source.
package batch
