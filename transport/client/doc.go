// Package client is the library that clients and admins use to talk to a
// scheduler: Connect with a capability file, then Submission to submit
// jobs (each a Job to follow, cancel or release) or Admin for a pool's
// workers, clients and rates. Load replays a trace's submissions against
// a live scheduler.
//
// It must never depend on the scheduler's or the worker's code: it knows
// them only through the wire.
package client
