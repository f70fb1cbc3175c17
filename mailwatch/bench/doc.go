// Package bench holds the end-to-end performance benchmark of ackd on the
// real Dovecot + Postfix stack: receipt latency one request at a time, the
// throughput of a 5,000-request backlog against a plain SMTP client, and
// the daemon's peak memory. It is test code only; scripts/bench runs it and
// docs/performance.md records the figures. TestBigMailboxRestart (run by
// hand with -bench.bigbox) measures what a start or restart against a
// mailbox of 100,000 messages costs. TestManyOpenRequests (run by hand
// with -bench.many 100000) measures the core with that many open requests,
// on SQLite or, with -bench.many-driver postgres, on the PostgreSQL server
// ACKD_TEST_POSTGRES names.
package bench
