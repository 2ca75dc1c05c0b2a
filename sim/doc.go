// Package sim is the discrete-event simulator: synthetic (or replayed)
// workers and clients drive the same core that production runs, over
// virtual time, and the run is measured.
//
// A run is reproducible from its seed, byte for byte: events at the same
// virtual instant are ordered by a canonical key (their class, then the job
// or worker they concern), never by when they happened to be scheduled, and
// every random stream is derived from the seed. Each job draws its random
// size when it is generated, so two policies run on the same seed see the
// same jobs (common random numbers), which narrows their comparison.
//
// Fit goes the other way, from traces to a scenario: it fits each part of
// the workload and the fleet with gonum's estimators and says how well
// each fits (fit.go).
//
// Memory grows with the number of jobs and the sampled series, never with
// the number of events. The package never touches the wall clock for
// decisions and does no I/O beyond what its callers hand it.
package sim
