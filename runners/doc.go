// Package runners defines how a worker runs a job: a Runner gets the job's
// description, its build context directory, a log writer and a context, and
// returns the job's output or an error. Docker, OBuilder and synthetic
// runners live in subpackages.
//
// Runners import nothing else of the project: they neither schedule nor
// speak the wire protocol, so they can be tested (and reused) on their own.
package runners
