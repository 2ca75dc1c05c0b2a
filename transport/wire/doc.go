// Package wire holds what both ends of a connection to the scheduler
// share: capability files (SturdyRef) and the scheduler's key (Identity),
// TLS that pins that key by fingerprint, the framing and the guard that
// every message passes, the accepting Server and the dialling Conn, and
// the translation of jobs and queue statuses to and from their schema
// structs.
//
// The pinned go-capnp version (v3.1.0-alpha.2) lets a peer crash a server
// with certain pipelined calls. Nothing here gives it the chance:
// incoming calls pass a guard before the RPC layer sees them (guard.go),
// and servers are only ever handed out through Guarded.
//
// It must never hold a role's logic: what the scheduler, a worker or a
// client does with a connection lives in their packages.
package wire
