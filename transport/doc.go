// Package transport is the production driver of the core: the Cap'n Proto
// services of the scheduler (over TLS, with capabilities granted by .cap
// files), the worker agent that pulls and runs jobs, and the client and
// admin libraries that the commands use.
//
// The scheduler owns each core under one mutex: every RPC handler that
// changes the core does so under it, then resumes the pops the core woke
// and hands their jobs to the waiting pop calls, and queues the durable
// changes for the store, which writes them off the hot path.
//
// The pinned go-capnp version (v3.1.0-alpha.2) lets a peer crash a server
// with certain pipelined calls. The transport never gives it the chance:
// incoming calls pass a guard before the RPC layer sees them (guard.go),
// and results only ever hold local objects made by guarded or broken, never
// a promise, an import from another connection, or a null capability.
package transport
