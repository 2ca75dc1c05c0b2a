// Package worker is the worker agent: it registers with a pool, pulls jobs
// from its queue and runs them with the runners, serves their logs and
// results, pauses itself when it cannot take jobs (low disk, a failed
// health check) and updates itself when the admin asks.
//
// Its pause, capacity and update state is agentState, a pure value with
// its own tests; the agent's goroutines only act on what it says.
package worker
