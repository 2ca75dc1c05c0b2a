package core

import (
	"fmt"
	"math"
)

// Costs are the estimated run times, in seconds, of a job whose cache hint
// is (Cached) or is not (Uncached) expected to be cached on its worker.
type Costs struct {
	Cached   float64
	Uncached float64
}

// DefaultCosts are OCluster's production estimates: a build with its
// dependencies cached takes about 10 s, one without about 10 minutes.
var DefaultCosts = Costs{Cached: 10, Uncached: 600}

func (c Costs) validate() error {
	for _, x := range []float64{c.Cached, c.Uncached} {
		if math.IsNaN(x) || math.IsInf(x, 0) || x < 0 {
			return fmt.Errorf("%w (got cached=%v uncached=%v)", ErrInvalidCosts, c.Cached, c.Uncached)
		}
	}
	return nil
}

// DefaultPolicy is the policy a Scheduler runs when none is named.
const DefaultPolicy = "ocluster"

// PolicyInfo names a policy and says in one line what it does.
type PolicyInfo struct {
	Name        string
	Description string
}

// policy is what a pool asks where the mechanism leaves a choice open: how
// much a job is expected to cost, when it may fairly start, and which worker
// should take it. A new policy replaces these without copying the pool.
type policy interface {
	// submitCost estimates t's cost as it is submitted, for its fair start.
	// pendingBefore is how many queued jobs shared its hint before it came.
	submitCost(p *Pool, t *Ticket, pendingBefore int) float64
	// fairStart returns t's fair start time and charges cost to its client.
	fairStart(p *Pool, t *Ticket, cost, rate float64) float64
	// placementCost is what t adds to the workload of the worker whose local
	// queue takes it, expecting its hint to be cached there or not.
	placementCost(p *Pool, t *Ticket, cached bool) float64
	// prefer picks the worker that should queue t because it is expected to
	// have t's hint cached, or returns nil.
	prefer(p *Pool, t *Ticket) *Worker
	// started tells the policy that a worker took t.
	started(p *Pool, t *Ticket)
	// finished tells the policy that t ran for seconds, on a worker that
	// was (t.wasCached) or was not stored as having its hint.
	finished(p *Pool, t *Ticket, seconds float64)
}

var policies = []struct {
	info PolicyInfo
	make func() policy
}{
	{
		PolicyInfo{"ocluster", "OCluster's own pool: VirtualClock fair start per client, fixed cached/uncached estimates, jobs queue behind a worker that has their hint cached"},
		func() policy { return oclusterPolicy{} },
	},
	{
		PolicyInfo{"adaptive", "OCluster's fair start with learned run times; a job waits for a worker that has its hint cached only while that wait is expected to be shorter than running uncached elsewhere"},
		func() policy { return &adaptivePolicy{} },
	},
	{
		PolicyInfo{"sfq", "OCluster's placement with start-time fair queuing on virtual time: a client that used idle capacity is not made to wait for it later"},
		func() policy { return &sfqPolicy{finish: map[*clientRecord]float64{}} },
	},
}

// Policies lists every policy a Scheduler can run.
func Policies() []PolicyInfo {
	out := make([]PolicyInfo, len(policies))
	for i, p := range policies {
		out[i] = p.info
	}
	return out
}

func newPolicy(name string) (policy, error) {
	if name == "" {
		name = DefaultPolicy
	}
	for _, p := range policies {
		if p.info.Name == name {
			return p.make(), nil
		}
	}
	names := make([]string, len(policies))
	for i, p := range policies {
		names[i] = p.info.Name
	}
	return nil, fmt.Errorf("%w %q (known: %v)", ErrUnknownPolicy, name, names)
}

// oclusterPolicy is the faithful port of OCluster's pool, the baseline every
// other policy is measured against.
type oclusterPolicy struct{}

func (oclusterPolicy) submitCost(p *Pool, t *Ticket, pendingBefore int) float64 {
	c := p.sched.costs
	if t.job.Hint == "" {
		return c.Uncached
	}
	if pendingBefore > 0 || len(t.hint.workers) > 0 {
		return c.Cached
	}
	return c.Uncached
}

// fairStart is Zhang's VirtualClock in real time: a client that used idle
// capacity pays for it later.
func (oclusterPolicy) fairStart(p *Pool, t *Ticket, cost, rate float64) float64 {
	c := t.client
	start := max(p.sched.now(), c.nextFairStart)
	c.nextFairStart = start + cost/rate
	return start
}

func (oclusterPolicy) started(*Pool, *Ticket) {}

func (oclusterPolicy) finished(*Pool, *Ticket, float64) {}

func (oclusterPolicy) placementCost(p *Pool, _ *Ticket, cached bool) float64 {
	if cached {
		return p.sched.costs.Cached
	}
	return p.sched.costs.Uncached
}

// prefer picks, among the connected active workers stored as having the
// hint and with a workload no more than one uncached job, the least loaded;
// on a tie the name that sorts last. Capacity and running jobs are ignored,
// so a job may queue behind a busy worker while others idle (OCluster #168).
func (oclusterPolicy) prefer(p *Pool, t *Ticket) *Worker {
	if t.job.Hint == "" {
		return nil
	}
	limit := p.sched.costs.Uncached
	var best *Worker
	// Names descend, so the first of equal workloads is the one to keep,
	// and an idle worker cannot be beaten.
	for _, rec := range t.hint.workers {
		w := rec.conn
		if w == nil || !w.Active() || w.workload > limit {
			continue
		}
		if best == nil || w.workload < best.workload {
			best = w
			if w.workload <= 0 {
				break
			}
		}
	}
	return best
}
