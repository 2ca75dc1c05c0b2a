//go:build race

package scheduler

// raceDetector is whether the tests run under the race detector, whose
// shadow memory and slowness would make a memory bound meaningless.
const raceDetector = true
