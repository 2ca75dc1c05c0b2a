// Package scfq is a scheduling policy written outside the core, against
// its public Policy API, as a researcher would write one: self-clocked
// fair queuing (Golestani, 1994).
//
// OCluster orders each pool's queue by start tags on real time
// (VirtualClock), and the core's sfq by start tags on virtual time: a
// client's jobs are served in the order they came, and a short job waits
// behind its client's long ones as much as behind anyone's. Here jobs are
// ordered by finish tag: a job's tag is where it would end if its client
// ran alone at its fair share, so within a client's share a job expected
// to be short (its hint cached somewhere) overtakes long ones, while a
// client that queued a thousand jobs still gets only its share. Virtual
// time is the tag of the latest job to start (the self-clocking), so a
// client that comes back after a pause starts level with the others
// instead of with the credit of its idle time.
//
// Run times are learned: the mean of the latest few dozen cached runs and
// of the uncached ones, starting from the configured costs. Placement is
// cache affinity with a bound: a job joins the local queue of an active
// worker stored as having its hint only if the wait it expects there (the
// work queued and running, per slot) is shorter than what running uncached
// elsewhere would add. Lost jobs are re-queued, and the cache index
// forgets what workers prune.
//
// Importing the package registers the policy as "scfq".
package scfq

import "github.com/ocluster-go/ocluster/core"

// Name is the policy's name on the command line.
const Name = "scfq"

func init() {
	info := core.PolicyInfo{
		Name:        Name,
		Description: "self-clocked fair queuing (an example of a policy outside the core): jobs ordered by finish tag within clients' fair shares, so expected-short jobs go first; learned run times; cache affinity bounded by the uncached penalty; lost jobs re-queued",
		Settings:    core.Settings{MaxAttempts: 3, Lease: 120, TrustPrunes: true},
	}
	if err := core.Register(info, func(core.Oracle) (core.Policy, error) { return &Policy{}, nil }); err != nil {
		panic(err)
	}
}

// Policy is one pool's self-clocked fair queue.
type Policy struct {
	// virtual is the finish tag of the latest job started.
	virtual float64
	// The run times learned of cached and uncached runs.
	cached, uncached mean
}

// mean is a moving mean of the latest observations.
type mean struct {
	value float64
	n     int
}

func (m *mean) or(fallback float64) float64 {
	if m.n == 0 {
		return fallback
	}
	return m.value
}

func (m *mean) observe(x float64) {
	m.n++
	// In full at first, then the latest twenty or so.
	m.value += max(1/float64(m.n), 0.05) * (x - m.value)
}

// costs are the expected run times of a cached and an uncached run.
func (q *Policy) costs(p core.PoolView) (cached, uncached float64) {
	return q.cached.or(p.Costs().Cached), q.uncached.or(p.Costs().Uncached)
}

// client is what the policy keeps of a client: the finish tag of its
// latest job.
type client struct {
	finish float64
}

// SubmitCost is the client's own estimate if it gave one, else a cached
// run when a worker is stored as having the hint or another job with it
// is queued (and will have run first), else an uncached one.
func (q *Policy) SubmitCost(p core.PoolView, t *core.Ticket, pendingBefore int) float64 {
	if e := t.Job().Estimate; e > 0 {
		return e
	}
	cached, uncached := q.costs(p)
	if t.Job().Hint != "" && (pendingBefore > 0 || p.HintKnown(t)) {
		return cached
	}
	return uncached
}

// FairStart returns the job's finish tag, which orders the queue.
func (q *Policy) FairStart(p core.PoolView, t *core.Ticket, cost, rate float64) float64 {
	state := p.ClientState(t)
	c, _ := (*state).(*client)
	if c == nil {
		c = &client{}
		*state = c
	}
	c.finish = max(q.virtual, c.finish) + cost/rate
	return c.finish
}

// FairNow is virtual time, against which Show prints the tags.
func (q *Policy) FairNow(core.PoolView) float64 { return q.virtual }

// PlacementCost is the expected run time, cached or not.
func (q *Policy) PlacementCost(p core.PoolView, t *core.Ticket, _ core.WorkerView, cached bool) float64 {
	if e := t.Job().Estimate; e > 0 {
		return e
	}
	c, u := q.costs(p)
	if cached {
		return c
	}
	return u
}

// Prefer picks the cached worker where the job would wait least, if that
// wait is shorter than the uncached penalty; on a tie the first in the
// index's order (names descending, as OCluster).
func (q *Policy) Prefer(p core.PoolView, t *core.Ticket) core.WorkerView {
	cached, uncached := q.costs(p)
	penalty := uncached - cached
	var best core.WorkerView
	bestWait := 0.0
	for w := range p.CachedWorkers(t) {
		if !w.Active() || w.Capacity() == 0 {
			continue
		}
		wait := 0.0
		if !w.HasFreeSlot() {
			// Running jobs count as half done.
			wait = (w.Workload() + float64(w.Running())*cached/2) / float64(w.Capacity())
		}
		if wait < penalty && (best.IsZero() || wait < bestWait) {
			best, bestWait = w, wait
			if wait == 0 {
				break // nothing beats a free slot
			}
		}
	}
	return best
}

// Steal is never asked: the policy's settings do not let workers steal.
func (q *Policy) Steal(core.PoolView, core.WorkerView) core.WorkerView { return core.WorkerView{} }

// Started advances virtual time to the tag of the job that started.
func (q *Policy) Started(_ core.PoolView, t *core.Ticket) {
	q.virtual = max(q.virtual, t.FairStart())
}

// Finished learns the run time, unless the client gave its own estimate.
func (q *Policy) Finished(_ core.PoolView, t *core.Ticket, seconds float64) {
	switch {
	case t.Job().Estimate > 0 || seconds < 0:
	case t.WasCached():
		q.cached.observe(seconds)
	default:
		q.uncached.observe(seconds)
	}
}

// Lost changes nothing: a re-queued job keeps its tag, and so its place.
func (q *Policy) Lost(core.PoolView, *core.Ticket) {}
