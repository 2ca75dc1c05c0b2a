package sim

import (
	"fmt"
	"iter"
	"math/rand/v2"
	"slices"

	"github.com/ocluster-go/ocluster/core"
)

// What a live cluster needs to play a scenario exactly as the simulator
// does: each worker's run times and cache bound (WorkerModel), and what
// happens to it when (WorkerPlan). The simulator itself goes through the
// same code, so the two cannot drift apart.

// WorkerModel is one worker of a scenario as the simulator runs it.
type WorkerModel struct {
	Pool, Name string
	Spec       *WorkerSpec
	sc         *Scenario
	pool       *PoolSpec
	defaults   [2]Dist // uncached, cached: the scenario's costs
}

// WorkerModel finds a worker of the scenario by pool and name.
func (sc *Scenario) WorkerModel(pool, name string) (*WorkerModel, error) {
	for pi := range sc.Pools {
		p := &sc.Pools[pi]
		if p.Name != pool {
			continue
		}
		for wi := range p.Workers {
			if slices.Contains(p.Workers[wi].Names(), name) {
				return &WorkerModel{Pool: pool, Name: name, Spec: &p.Workers[wi], sc: sc, pool: p, defaults: defaultDists(sc)}, nil
			}
		}
		return nil, fmt.Errorf("scenario %s has no worker %q in pool %s", sc.Name, name, pool)
	}
	return nil, fmt.Errorf("scenario %s has no pool %q", sc.Name, pool)
}

// defaultDists are the run times of a worker that gives none: the
// scheduler's estimates, uncached then cached.
func defaultDists(sc *Scenario) [2]Dist {
	costs := sc.SchedulerCosts()
	return [2]Dist{FixedDist(Duration(costs.Uncached)), FixedDist(Duration(costs.Cached))}
}

// SchedulerCosts are the scheduler's estimates of a cached and an
// uncached job: the scenario's costs, else the core's defaults.
func (sc *Scenario) SchedulerCosts() core.Costs {
	if sc.Costs == nil {
		return core.DefaultCosts
	}
	return core.Costs{Cached: sc.Costs.Cached.Seconds(), Uncached: sc.Costs.Uncached.Seconds()}
}

// RunTime is how long, in scenario seconds, a job of the client's stream
// (counted from 0) whose quantile is size runs on this worker, with its
// hint cached there or not.
func (m *WorkerModel) RunTime(client string, stream int, size float64, cached bool) (float64, error) {
	if !(size >= 0 && size < 1) {
		return 0, fmt.Errorf("job size %v: must be in [0, 1)", size)
	}
	for ci := range m.pool.Clients {
		c := &m.pool.Clients[ci]
		if c.Name != client {
			continue
		}
		if stream < 0 || stream >= len(c.Streams) {
			return 0, fmt.Errorf("client %s of pool %s has %d streams; there is no stream %d", client, m.Pool, len(c.Streams), stream)
		}
		return runTime(c.Streams[stream].Durations, m.Spec, &m.defaults, size, cached), nil
	}
	return 0, fmt.Errorf("scenario %s has no client %q in pool %s", m.sc.Name, client, m.Pool)
}

// runTime is the job's quantile in the stream's distribution (or else the
// worker's, or else the scheduler's estimate), divided by the worker's
// speed.
func runTime(stream *JobDurations, w *WorkerSpec, defaults *[2]Dist, size float64, cached bool) float64 {
	var d *Dist
	switch {
	case stream != nil && cached:
		d = &stream.Cached
	case stream != nil:
		d = &stream.Uncached
	case cached && w.Cached != nil:
		d = w.Cached
	case !cached && w.Uncached != nil:
		d = w.Uncached
	case cached:
		d = &defaults[1]
	default:
		d = &defaults[0]
	}
	return d.Quantile(size) / w.Speed
}

// WorkerAction is something that happens to a worker: it joins, one of
// the scenario's events, or one of its random failures. For is how long
// it lasts, in scenario seconds (0 where the event allows it: for ever).
type WorkerAction struct {
	At   float64
	Kind string // "join" or a WorkerEvent kind
	For  float64
	// Failure marks a random failure: the simulator draws the next one
	// whether or not this one could happen.
	Failure bool
}

// WorkerPlan lists, in time order, what happens to the worker in a run
// with the seed: its join, its events and its random failures, drawn as
// the simulator draws them. Random failures go on for ever: stop
// iterating when the run ends.
func (m *WorkerModel) WorkerPlan(seed uint64) iter.Seq[WorkerAction] {
	return func(yield func(WorkerAction) bool) {
		scripted := []WorkerAction{{At: m.Spec.Join.Seconds(), Kind: "join"}}
		for _, e := range m.Spec.Events {
			scripted = append(scripted, WorkerAction{At: e.At.Seconds(), Kind: e.Kind, For: e.For.Seconds()})
		}
		// The simulator takes a worker's events of one instant in the
		// order it scheduled them: the join, then as the scenario lists
		// them.
		slices.SortStableFunc(scripted, func(a, b WorkerAction) int {
			switch {
			case a.At < b.At:
				return -1
			case a.At > b.At:
				return 1
			}
			return 0
		})
		var failures *failureClock
		var next failure
		if m.Spec.Failures != nil {
			failures = newFailureClock(m.Spec, workerRand(seed, m.Pool, m.Name))
			next = failures.next()
		}
		for {
			if len(scripted) > 0 && (failures == nil || scripted[0].At <= next.at) {
				if !yield(scripted[0]) {
					return
				}
				scripted = scripted[1:]
				continue
			}
			if failures == nil {
				return
			}
			if !yield(WorkerAction{At: next.at, Kind: m.Spec.Failures.Kind, For: next.down, Failure: true}) {
				return
			}
			next = failures.next()
		}
	}
}

// workerRand is the random source of one worker's failures.
func workerRand(seed uint64, pool, name string) *rand.Rand {
	return derive(seed, "worker/"+pool+"/"+name, 0)
}

// failureClock draws a worker's random failures: the time between the
// end of one and the start of the next is exponential with mean MTBF,
// and each lasts a time drawn from Downtime.
type failureClock struct {
	f   *Failures
	rng *rand.Rand
	at  float64 // of the next failure
}

type failure struct{ at, down float64 }

func newFailureClock(w *WorkerSpec, rng *rand.Rand) *failureClock {
	return &failureClock{f: w.Failures, rng: rng, at: w.Join.Seconds() + rng.ExpFloat64()*w.Failures.MTBF.Seconds()}
}

// next is the next failure: when, and for how long.
func (c *failureClock) next() failure {
	f := failure{at: c.at, down: c.f.Downtime.Quantile(c.rng.Float64())}
	c.at = f.at + f.down + c.rng.ExpFloat64()*c.f.MTBF.Seconds()
	return f
}
