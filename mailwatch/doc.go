// Package mailwatch is the daemon's I/O: it watches each department's
// mailbox over IMAP, hands every new message to the processor, runs the
// clock that escalates and reports, and delivers the outbox.
//
// The parts, and who starts them (NewDaemon builds them all; Run runs
// them until its context ends):
//
//   - Watcher (imap.go): one goroutine per watched mailbox, the inbox and
//     the Sent folder. It keeps an IMAP session, remembers UIDVALIDITY and
//     the last UID handled in the store, fetches only new UIDs with
//     BODY.PEEK, waits with IDLE or polls, and reconnects with a capped,
//     jittered backoff. A mailbox without a checkpoint starts at its
//     newest message; backfill and max_age bound what the past may get.
//   - Processor (process.go, lifecycle.go): one path for INBOX and
//     Sent-folder mail. It parses a fetched message, asks the Runtime's
//     compiled rules (rules.Set.Decide), and steps lifecycle.Step: a new
//     request (Received) is recorded with its thread keys and the receipt
//     in one store transaction, which the watcher shares among a fetch
//     group's messages and the checkpoint after them (store.Store.Batch,
//     Watcher.handleGroup); later mail on a thread becomes a
//     reminder, a staff answer or a command, with authority proven by the
//     Sent folder or a Message-ID only participants know. Mail that fails
//     on its content is recorded as skipped (poison.go) and the mailbox
//     moves on.
//   - Scheduler (scheduler.go) and Digester (digest.go): sleep until the
//     next escalation step, due time or digest slot the store holds, or a
//     kick, then queue mail. The scheduler plans a department's stored
//     wake-ups again only when its calendar, commitments or ladders
//     changed (lifecycle.PlanFingerprint).
//   - The outbox sender (outbox.Sender, fed through queue.go and
//     sentcopy.go): delivers queued mail with retries, behind the sending
//     limits of limit.go, and files a copy in the Sent folder.
//   - Leases (leases.go): with replicas, each department is served by the
//     replica holding its lease.
//
// The configuration in force is a Runtime behind an atomic pointer:
// Reload swaps it, and every part reads it afresh at each message or pass.
package mailwatch
