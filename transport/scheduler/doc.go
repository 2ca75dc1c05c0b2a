// Package scheduler is the scheduler's side of the transport: the
// Cap'n Proto services that clients, workers and admins call, each pool's
// core, the store and trace writers, and the Prometheus metrics.
//
// One owner holds the cores: every RPC handler that changes a core does
// so inside Scheduler.locked, then acts on the core's Ready value (resumes
// the pops it woke and hands their jobs to the waiting calls, queues the
// durable changes for the store, which writes them off the hot path) and
// acknowledges it. Results only ever hold local objects made by
// wire.Guarded or broken, never a promise, an import from another
// connection, or a null capability.
//
// It must never block a handler on a disk or on another peer while it
// holds the cores.
package scheduler
