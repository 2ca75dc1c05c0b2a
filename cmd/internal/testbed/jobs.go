package testbed

import (
	"fmt"
	"math"

	"github.com/ocluster-go/ocluster/trace"
)

// Job is one job's story in a trace: what was submitted, each run it had
// (a job lost with its worker or moved off it runs again), and how it
// ended.
type Job struct {
	ID        uint64
	Pool      string
	Client    string
	Hint      string
	Urgent    bool
	Submitted float64
	Runs      []Run
	// Outcome is how it ended: ok, failed or cancelled, or "" if it did
	// not (a job cancelled while queued ends cancelled with no run).
	Outcome string
}

// Run is one run of a job on a worker.
type Run struct {
	Worker  string
	Start   float64
	Cached  bool
	Outcome string // of its finish event: ok, failed, cancelled, requeued
	// Took is how long it ran, from start to finish event (-1 when it
	// did not finish).
	Took float64
}

// Jobs reads the jobs of a trace, in the order they were submitted.
func Jobs(events []trace.Event) []*Job {
	var jobs []*Job
	byID := map[[2]any]*Job{}
	for _, e := range events {
		j := byID[[2]any{e.Pool, e.Job}]
		switch e.Kind {
		case trace.Submit:
			j = &Job{ID: e.Job, Pool: e.Pool, Client: e.Client, Hint: e.Hint, Urgent: e.Urgent, Submitted: e.T}
			byID[[2]any{e.Pool, e.Job}] = j
			jobs = append(jobs, j)
		case trace.Start:
			if j != nil {
				j.Runs = append(j.Runs, Run{Worker: e.Worker, Start: e.T, Cached: e.Cached, Took: -1})
			}
		case trace.Finish:
			if j == nil || len(j.Runs) == 0 {
				continue
			}
			r := &j.Runs[len(j.Runs)-1]
			r.Outcome, r.Took = e.Outcome, e.T-r.Start
			if e.Outcome != trace.OutcomeRequeued {
				j.Outcome = e.Outcome
			}
		case trace.Cancel:
			if j != nil {
				j.Outcome = trace.OutcomeCancelled
			}
		}
	}
	return jobs
}

// JobPair is a simulated job and the live job that played it.
type JobPair struct {
	Simulated, Live *Job
}

// MatchJobs pairs the jobs of a simulated run with those of its live play:
// a client submits its jobs one after the other on its connection, so its
// k-th live job is its k-th simulated one.
func MatchJobs(simulated, live []*Job) ([]JobPair, error) {
	pairs, missing, extra := pairJobs(simulated, live)
	switch {
	case missing != nil:
		return nil, fmt.Errorf("simulated job %d of %s in %s has no live counterpart (the live run has fewer of its jobs)", missing.ID, missing.Client, missing.Pool)
	case extra != nil:
		return nil, fmt.Errorf("the live run has more jobs of %s in %s than the simulated one", extra.Client, extra.Pool)
	}
	return pairs, nil
}

// pairJobs pairs what it can: a live run under way has played only the
// first of each client's jobs. It returns the first simulated job without
// a live one and the first live job without a simulated one, if any.
func pairJobs(simulated, live []*Job) (pairs []JobPair, missing, extra *Job) {
	type clientKey struct{ pool, client string }
	queue := map[clientKey][]*Job{}
	for _, j := range live {
		k := clientKey{j.Pool, j.Client}
		queue[k] = append(queue[k], j)
	}
	for _, s := range simulated {
		k := clientKey{s.Pool, s.Client}
		if len(queue[k]) == 0 {
			if missing == nil {
				missing = s
			}
			continue
		}
		pairs = append(pairs, JobPair{s, queue[k][0]})
		queue[k] = queue[k][1:]
	}
	for _, j := range live {
		if rest := queue[clientKey{j.Pool, j.Client}]; len(rest) > 0 && rest[0] == j {
			extra = j
			break
		}
	}
	return pairs, missing, extra
}

// RunTimeTolerance is how far a live run time may be from the simulated
// one, in scenario seconds, at a speed: the scheduler learns that a job
// ended a round trip after the worker's timer fired, and every wall-clock
// millisecond is speed scenario milliseconds. 25 ms of wall-clock time is
// a loaded machine's round trip, with room for a garbage collection.
func RunTimeTolerance(speed float64) float64 { return 0.025 * speed }

// Mismatch is one way in which a live job did not do what its simulated
// one did.
type Mismatch struct {
	Simulated, Live *Job
	What            string
}

func (m Mismatch) String() string {
	return fmt.Sprintf("job %d (%s, hint %q, submitted at %.1f s; live job %d): %s",
		m.Simulated.ID, m.Simulated.Client, m.Simulated.Hint, m.Simulated.Submitted, m.Live.ID, m.What)
}

// Compare lists where live jobs differ from their simulated ones: hint,
// priority, their runs' cached or uncached starts and outcomes, how they
// ended, and run times longer or shorter by more than tolerance (scenario
// seconds). Times are compared in scenario time: the live trace scaled.
func Compare(pairs []JobPair, tolerance float64) []Mismatch {
	var out []Mismatch
	for _, p := range pairs {
		s, l := p.Simulated, p.Live
		add := func(format string, args ...any) {
			out = append(out, Mismatch{s, l, fmt.Sprintf(format, args...)})
		}
		switch {
		case s.Hint != l.Hint:
			add("hint %q live", l.Hint)
		case s.Urgent != l.Urgent:
			add("urgent %v live", l.Urgent)
		case s.Outcome != l.Outcome:
			add("ended %q simulated, %q live", s.Outcome, l.Outcome)
		case len(s.Runs) != len(l.Runs):
			add("%d runs simulated, %d live", len(s.Runs), len(l.Runs))
		}
		for i := range min(len(s.Runs), len(l.Runs)) {
			rs, rl := s.Runs[i], l.Runs[i]
			switch {
			case rs.Cached != rl.Cached:
				add("run %d cached %v simulated, %v live", i+1, rs.Cached, rl.Cached)
			case rs.Outcome != rl.Outcome:
				add("run %d ended %q simulated, %q live", i+1, rs.Outcome, rl.Outcome)
			case rs.Outcome == trace.OutcomeOK && math.Abs(rs.Took-rl.Took) > tolerance:
				add("run %d took %.1f s simulated, %.1f s live", i+1, rs.Took, rl.Took)
			}
		}
	}
	return out
}
