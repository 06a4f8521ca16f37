// Package replica is mailrepl's engine: it makes a target store agree with
// a source store, message by message, and can say beforehand what it will
// do.
//
// # One sync
//
// [Syncer.Sync] first makes the two sides' sets of mailboxes agree
// ([PlanMailboxes]): a mailbox is known by its ID, so a rename is a rename;
// one that vanished from a side is deleted from the other only when a
// user's deletion of it is on record, and otherwise recreated in two-way
// mode, so a folder lost to a failure comes back, and kept on the target
// in a mirror, which writes nothing into its source but split-brain mail.
// The state of a pair is found by its name, or, when that finds none, by
// the mailbox IDs of both stores ([PairFinder]): stores moved elsewhere
// keep their state. Then, for each pair of mailboxes (several at once),
// it plans and applies:
//
//	source listing ─┐
//	                ├─ merge-join by UID with the State ─→ ops ─→ apply ─→ commit State
//	target listing ─┘       ([Diff]: pure)                     (batched, journaled)
//
// Listings arrive sorted by UID and are merge-joined as they stream with
// the agreed state of the last sync (a [State]: which UID on each side
// holds which EmailID, with which flags). Memory does not grow with the
// mailbox. When a store tracks changes ([mailbox.ChangeTracker]), only
// what changed since the state's modseq is listed, and a mailbox whose
// modseqs did not move is not listed at all. Bodies are read only for
// messages that are copied, or, once, to learn an EmailID a store cannot
// list; every copy is checked against its EmailID while it streams, and a
// body that does not match is reported, not copied.
//
// # Two ways of pairing UIDs
//
// When the target can set UIDs ([mailbox.UIDSetter]; in two-way mode both
// sides must), both sides keep the same UIDVALIDITY and the same UIDs, so
// an IMAP client that fails over from one to the other keeps its cache.
// When a side can no longer match (it lost a message, holds mail of its
// own, or its UIDVALIDITY changed), the engine realigns it: its messages
// are matched with the other side's by EmailID and renumbered in place
// (no body is copied again), the ones it lacks are copied in, and the
// agreed state is carried over by EmailID: a message both sides had that
// one side no longer holds was expunged there, whatever its UIDs. Otherwise
// the state maps source UIDs to target UIDs; after a UIDVALIDITY change
// there, the same evidence is kept as tombstones of the side that lacks
// the message ([Header].Renewed) before the old entries go.
//
// # Modes
//
//   - [Mirror]: the target becomes the source. Messages found only on the
//     target that no sync put there (written while the replica was wrongly
//     used as the master) are copied back to the source and reported, or,
//     by policy ([DeleteTargetOnly]), deleted and reported. A target-only
//     message whose EmailID the source's user expunged (a tombstone) is
//     never copied back.
//   - [TwoWay]: new mail goes both ways; an expunge on either side wins
//     over a flag change on the other; flags merge flag by flag against
//     the last agreed flags ([MergeFlags]); a UID holding different
//     messages on the two sides is resolved by giving both messages new
//     UIDs above both UIDNEXTs, so no UID a client saw is reused.
//   - [Migrate]: the target gets what it lacks, found by EmailID or, for
//     stores that rewrite bytes, by header fingerprint; nothing is deleted
//     and the target's flags are left alone after the copy.
//
// # Folders of one special use
//
// Stores name their special-use folders differently: Dovecot's "Sent",
// Exchange's "Sent Items", Gmail's "[Gmail]/Sent Mail". A sync pairs such
// folders instead of making a second "Sent" beside the target's "Sent
// Items": the source folder is synced into the target folder of the same
// special use ([mailbox.Info].SpecialUse; where a store's listing gives
// none at all, its names tell it, [mailbox.GuessSpecialUse]), when
//
//   - exactly one mailbox of each side has that use (or the state pairs
//     two mailboxes of that use under the names they still have: a pair
//     holds when another folder of its use appears), neither is INBOX,
//     and their names differ;
//   - the target has no mailbox of the source folder's name (nor below
//     it), and the source none of the target folder's name: a sync that
//     pairs by name goes on doing so;
//   - the sync state does not pair either of them with another mailbox.
//
// [Options.FolderNames] names pairs explicitly (source name → target
// name) and wins over the guess; [Options.NoSpecialUseMap] turns the
// guess off. A pair holds for the mailboxes below too: the source's
// "Sent/2024" is the target's "Sent Items/2024".
//
// The engine plans in the source's names: the target's listing is seen
// through the map (its "Sent Items" is "Sent"), and every op on the
// target is translated back. The state records each side's own names, so
// a second sync finds the pair by its mailbox IDs and names as they were,
// and copies nothing again. The map is made again at every sync from the
// stores' names and uses and the state; a target folder renamed away
// from its use is then seen under its own name, a rename the mode's rules
// handle. So is a pair already synced when the pairing by use is turned
// off: the source's name wins, and the target folder is renamed to it.
//
// A mailbox whose name an explicit pair takes over (a target "Sent" when
// "Sent" is mapped to "Sent Items"; a source "Sent Items" then too) is
// left out of the sync and reported as a conflict.
//
// # Crashes
//
// Every step is ordered so that a process killed at any point, and run
// again, converges with nothing lost and nothing duplicated:
//
//   - before appends, an [Intent] per message is committed; the appends of
//     a batch are then made durable together ([mailbox.Batcher]); only then
//     are their state entries committed, with the intents dropped. A copy
//     that landed but was not recorded is found on the next run by its UID
//     or EmailID and paired, not copied again;
//   - the two flag changes of a two-way merge record the new agreement with
//     the last one only, so a crash between them merges again to the same
//     result;
//   - expunges come last, after every copy they may depend on;
//   - a move (two-way UID conflict) is one intent, finished by the next run
//     if it was interrupted;
//   - a realign commits its re-paired state, marked, before it renumbers,
//     and the next run realigns again if the mark is still there.
//
// The tests kill a sync at every single store and state operation of
// randomized scenarios and check that the re-run ends where an
// uninterrupted sync ends.
//
// # Reports and failures
//
// A [Report] counts what was copied (both ways), flagged, expunged, paired
// and moved, with bytes, and lists every conflict, skipped and failed
// message with its reason. A message that cannot be copied (its body
// vanished or is corrupt) is reported and the rest goes on; an error that
// makes a mailbox unsafe stops that mailbox only; transient errors
// ([mailbox.ErrTransient]) are retried with back-off. [Options.DryRun]
// plans without touching either store or the state; [Options.OnOp] sees
// each op in the readable form [Op.String] gives.
//
// The engine paces itself with a [Limiter] (waited on for every message
// and every byte it moves, and told how each server answered when it is
// an [Observer]); the ratelimit package provides one, and the programs in
// examples/ connect the two.
package replica
