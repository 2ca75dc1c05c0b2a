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
const DefaultPolicy = "combined"

// PolicyInfo names a policy and says in one line what it does.
type PolicyInfo struct {
	Name        string
	Description string
	// Settings are the policy's own; a Config may override each.
	Settings Settings
	// SimulatorOnly marks a reference that needs an Oracle.
	SimulatorOnly bool
}

// Settings are the knobs of a policy beyond its decisions.
type Settings struct {
	// MaxAttempts is how many times a job may be taken by a worker: a job
	// lost with its worker is re-queued, keeping its place, until it has
	// had that many; 1 means a lost job fails, as in OCluster.
	MaxAttempts int
	// Lease is how long, in seconds, a connected worker may go without a
	// sign of life before Expired reports it as lost; 0: never.
	Lease float64
	// HalfLife is how long, in seconds, it takes a client's lead in fair
	// start (the work it was charged beyond its share) to halve while it
	// waits; 0: the lead is never forgotten, as in OCluster.
	HalfLife float64
	// CacheLimit bounds how many hints the cache index remembers per
	// worker, forgetting the least recently used; 0: no bound.
	CacheLimit int
	// CacheAge is how long, in seconds, the index trusts an entry after
	// the worker was last handed a job with its hint; 0: for ever.
	CacheAge float64
	// TrustPrunes makes the index forget what a worker reports it pruned;
	// OCluster never learns of prunes.
	TrustPrunes bool
	// Steal lets a worker with a free slot and nothing queued take the
	// next job of another worker's local queue, when the policy can tell
	// which one should go.
	Steal bool
}

func (s Settings) validate() error {
	if s.MaxAttempts < 1 {
		return fmt.Errorf("%w: max attempts %d must be 1 or more", ErrInvalidSetting, s.MaxAttempts)
	}
	if s.CacheLimit < 0 {
		return fmt.Errorf("%w: cache limit %d must be 0 (no bound) or more", ErrInvalidSetting, s.CacheLimit)
	}
	for _, x := range []struct {
		name string
		v    float64
	}{{"lease", s.Lease}, {"half-life", s.HalfLife}, {"cache age", s.CacheAge}} {
		if math.IsNaN(x.v) || math.IsInf(x.v, 0) || x.v < 0 {
			return fmt.Errorf("%w: %s %v must be a finite number of seconds, 0 or more", ErrInvalidSetting, x.name, x.v)
		}
	}
	if s.Lease > 0 && s.Lease < minLease {
		return fmt.Errorf("%w: lease %vs must be 0 (none) or at least %vs: a shorter one drops workers that are only slow to answer", ErrInvalidSetting, s.Lease, minLease)
	}
	return nil
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
	// fairNow is the fair start time a job would get now from a client
	// that has used nothing: real time, or the policy's virtual time.
	fairNow(p *Pool) float64
	// placementCost is what t adds to the workload of the worker w whose
	// local queue takes it, expecting its hint to be cached there or not.
	placementCost(p *Pool, t *Ticket, w *Worker, cached bool) float64
	// prefer picks the worker that should queue t because it is expected to
	// have t's hint cached, or returns nil.
	prefer(p *Pool, t *Ticket) *Worker
	// steal picks, for w with a free slot and nothing queued, another
	// worker whose next queued job w should run instead, or returns nil.
	steal(p *Pool, w *Worker) *Worker
	// started tells the policy that a worker took t.
	started(p *Pool, t *Ticket)
	// finished tells the policy that t ran for seconds, on a worker that
	// was (t.wasCached) or was not stored as having its hint.
	finished(p *Pool, t *Ticket, seconds float64)
}

const (
	// defaultAttempts is the attempts of the policies that retry: a job
	// that lost three workers likely brings them down itself.
	defaultAttempts = 3
	// minLease is the shortest lease: a worker gets a few pings in it.
	minLease = 1
	// defaultLease is long enough for a worker under load to answer a
	// ping, and short against the hours a stuck worker held jobs.
	defaultLease = 120
)

var policies = []struct {
	info PolicyInfo
	make func(o Oracle) (policy, error)
}{
	{
		PolicyInfo{"ocluster", "OCluster's own pool: VirtualClock fair start per client, fixed cached/uncached estimates, jobs queue behind a worker that has their hint cached, a lost job fails",
			Settings{MaxAttempts: 1}, false},
		func(Oracle) (policy, error) { return oclusterPolicy{}, nil },
	},
	{
		PolicyInfo{"combined", "the default: adaptive's learned run times and load-aware cache affinity, idle workers stealing queued jobs, sfq's fair start, lost jobs re-queued (3 attempts, 2-minute lease), and a cache index that forgets what workers prune",
			Settings{MaxAttempts: defaultAttempts, Lease: defaultLease, TrustPrunes: true, Steal: true}, false},
		func(Oracle) (policy, error) { return newCombined(), nil },
	},
	{
		PolicyInfo{"adaptive", "OCluster's fair start with learned run times; a job waits for a worker that has its hint cached only while that wait is expected to be shorter than running uncached elsewhere",
			Settings{MaxAttempts: 1}, false},
		func(Oracle) (policy, error) { return &adaptivePolicy{}, nil },
	},
	{
		PolicyInfo{"sfq", "OCluster's placement with start-time fair queuing on virtual time: a client that used idle capacity is not made to wait for it later",
			Settings{MaxAttempts: 1}, false},
		func(Oracle) (policy, error) { return newSFQ(), nil },
	},
	{
		PolicyInfo{"ideal", "simulator only: knows every job's true run time and every worker's cache, and queues each job where it will finish first; a reference, not a policy to run",
			Settings{MaxAttempts: defaultAttempts, Lease: defaultLease, TrustPrunes: true}, true},
		newIdeal,
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

func lookupPolicy(name string) (int, error) {
	if name == "" {
		name = DefaultPolicy
	}
	for i, p := range policies {
		if p.info.Name == name {
			return i, nil
		}
	}
	names := make([]string, len(policies))
	for i, p := range policies {
		names[i] = p.info.Name
	}
	return -1, fmt.Errorf("%w %q (known: %v)", ErrUnknownPolicy, name, names)
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
	now := p.sched.now()
	start := max(now, decayed(p, c, c.nextFairStart, now))
	c.nextFairStart = start + cost/rate
	return start
}

// decayed is a client's next tag with its lead over ref (the tag a client
// that used nothing would get) halved for every half-life since it was
// last charged, and marks it charged now. Without a half-life the lead
// stays, as in OCluster.
func decayed(p *Pool, c *clientRecord, tag, ref float64) float64 {
	now := p.sched.now()
	since := now - c.charged
	c.charged = now
	hl := p.sched.settings.HalfLife
	if hl <= 0 || tag <= ref {
		return tag
	}
	return ref + (tag-ref)*math.Exp2(-since/hl)
}

func (oclusterPolicy) fairNow(p *Pool) float64 { return p.sched.now() }

func (oclusterPolicy) started(*Pool, *Ticket) {}

func (oclusterPolicy) finished(*Pool, *Ticket, float64) {}

func (oclusterPolicy) steal(*Pool, *Worker) *Worker { return nil }

func (oclusterPolicy) placementCost(p *Pool, _ *Ticket, _ *Worker, cached bool) float64 {
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
		if w == nil || !w.Active() || w.workload > limit || p.stale(t.hint, rec) {
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
