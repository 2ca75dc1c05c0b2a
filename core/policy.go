package core

import (
	"fmt"
	"math"
	"strings"
	"sync"
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

// Policy is what a pool asks where its mechanism leaves a choice open: how
// much a job is expected to cost, when it may fairly start, which worker
// should queue it, what an idle worker may take from another, and what to
// learn from the jobs that start, finish or lose their worker. The
// mechanism itself (the queues, the ready list, the cache index, leases
// and re-queueing) is the pool's; a policy only answers.
//
// A pool calls its policy from one goroutine at a time and never
// concurrently, with the scheduler's clock standing still for the length
// of a call; one policy value serves one pool. A policy must be
// deterministic: the same calls in the same order give the same answers
// (no wall clock, no unseeded randomness, no Go map order reaching an
// answer), which is what lets the simulator predict what production does.
// The views it gets are read-only and valid only during the call.
//
// The pool checks every answer before it acts on it, so that no answer can
// corrupt it: a cost or a fair start that is not a finite number (costs
// also 0 or more), or a worker that is not an active, connected worker of
// the pool (for Steal, another one with a job queued), is not applied. The pool then goes on as if the policy had no opinion (the
// configured Costs, no preference, no steal) and records the error, which
// Scheduler.PolicyError returns.
type Policy interface {
	// SubmitCost estimates t's cost in seconds as it is submitted, which
	// FairStart charges to its client. pendingBefore is how many queued
	// jobs carried t's hint before it came.
	SubmitCost(p PoolView, t *Ticket, pendingBefore int) float64
	// FairStart returns t's fair start time (jobs of equal urgency start
	// in its order, then in submission order) and charges cost at rate
	// to its client.
	FairStart(p PoolView, t *Ticket, cost, rate float64) float64
	// FairNow is the fair start time a job would get now from a client
	// that has used nothing: the clock, or the policy's virtual time. Show
	// prints queued jobs' fair starts relative to it.
	FairNow(p PoolView) float64
	// PlacementCost is what t adds, in seconds, to the workload of w,
	// whose local queue takes it, expecting t's hint to be cached there or
	// not.
	PlacementCost(p PoolView, t *Ticket, w WorkerView, cached bool) float64
	// Prefer picks the worker whose local queue t should join, typically
	// one expected to have its hint cached, or returns the zero WorkerView
	// to leave t to the next idle worker.
	Prefer(p PoolView, t *Ticket) WorkerView
	// Steal picks, for w with a free slot and nothing queued of its own,
	// another worker whose next queued job w should run instead, or
	// returns the zero WorkerView. It is asked only under Settings.Steal
	// and when some local queue holds a job.
	Steal(p PoolView, w WorkerView) WorkerView
	// Started tells the policy that a worker took t (p.WorkerOf(t)).
	Started(p PoolView, t *Ticket)
	// Finished tells the policy that t ran for seconds and ended on its
	// worker, whether it succeeded or not.
	Finished(p PoolView, t *Ticket, seconds float64)
	// Lost tells the policy that t, which a worker had taken, went back to
	// the queue: its worker was lost or paused by force. It will be placed
	// and started again.
	Lost(p PoolView, t *Ticket)
}

// NewPolicy makes the policy of one pool. Oracle is the simulator's
// knowledge of true run times, nil in production; a policy that needs it
// returns an error without it.
type NewPolicy func(o Oracle) (Policy, error)

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

// registry holds every policy a Scheduler can run, built-in ones first,
// in the order they were registered.
var registry struct {
	sync.RWMutex
	entries []registered
}

type registered struct {
	info PolicyInfo
	make NewPolicy
}

func init() {
	for _, b := range []registered{
		{
			PolicyInfo{"ocluster", "OCluster's own pool: VirtualClock fair start per client, fixed cached/uncached estimates, jobs queue behind a worker that has their hint cached, a lost job fails",
				Settings{MaxAttempts: 1}, false},
			func(Oracle) (Policy, error) { return oclusterPolicy{}, nil },
		},
		{
			PolicyInfo{"combined", "the default: adaptive's learned run times and load-aware cache affinity, idle workers stealing queued jobs, sfq's fair start, lost jobs re-queued (3 attempts, 2-minute lease), and a cache index that forgets what workers prune",
				Settings{MaxAttempts: defaultAttempts, Lease: defaultLease, TrustPrunes: true, Steal: true}, false},
			func(Oracle) (Policy, error) { return newCombined(), nil },
		},
		{
			PolicyInfo{"adaptive", "OCluster's fair start with learned run times; a job waits for a worker that has its hint cached only while that wait is expected to be shorter than running uncached elsewhere",
				Settings{MaxAttempts: 1}, false},
			func(Oracle) (Policy, error) { return &adaptivePolicy{}, nil },
		},
		{
			PolicyInfo{"sfq", "OCluster's placement with start-time fair queuing on virtual time: a client that used idle capacity is not made to wait for it later",
				Settings{MaxAttempts: 1}, false},
			func(Oracle) (Policy, error) { return newSFQ(), nil },
		},
		{
			PolicyInfo{"ideal", "simulator only: knows every job's true run time and every worker's cache, and queues each job where it will finish first; a reference, not a policy to run",
				Settings{MaxAttempts: defaultAttempts, Lease: defaultLease, TrustPrunes: true}, true},
			newIdeal,
		},
	} {
		if err := Register(b.info, b.make); err != nil {
			panic(err) // the built-in list itself is wrong
		}
	}
}

// Register makes a policy available by name to every Scheduler (and so to
// every command's --policy), after the built-in ones. Call it from an
// init function of the policy's package; a program that imports the
// package can then run the policy. The name must be new and made of
// lower-case letters, digits and '-' (a policy variant's settings follow
// a '+'), the description one line, and the settings valid.
func Register(info PolicyInfo, newPolicy NewPolicy) error {
	if !validPolicyName(info.Name) {
		return fmt.Errorf("register policy %q: %w: use lower-case letters, digits and '-', starting with a letter", info.Name, ErrInvalidPolicy)
	}
	if info.Description == "" || strings.ContainsAny(info.Description, "\n\r") {
		return fmt.Errorf("register policy %q: %w: the description must be one non-empty line", info.Name, ErrInvalidPolicy)
	}
	if err := info.Settings.validate(); err != nil {
		return fmt.Errorf("register policy %q: %w", info.Name, err)
	}
	if newPolicy == nil {
		return fmt.Errorf("register policy %q: %w: no constructor given", info.Name, ErrInvalidPolicy)
	}
	registry.Lock()
	defer registry.Unlock()
	for _, r := range registry.entries {
		if r.info.Name == info.Name {
			return fmt.Errorf("register policy %q: %w", info.Name, ErrPolicyExists)
		}
	}
	registry.entries = append(registry.entries, registered{info, newPolicy})
	return nil
}

func validPolicyName(name string) bool {
	if name == "" || name[0] < 'a' || name[0] > 'z' {
		return false
	}
	for _, r := range name {
		if (r < 'a' || r > 'z') && (r < '0' || r > '9') && r != '-' {
			return false
		}
	}
	return true
}

// Policies lists every policy a Scheduler can run, built-in ones first.
func Policies() []PolicyInfo {
	registry.RLock()
	defer registry.RUnlock()
	out := make([]PolicyInfo, len(registry.entries))
	for i, r := range registry.entries {
		out[i] = r.info
	}
	return out
}

func lookupPolicy(name string) (registered, error) {
	if name == "" {
		name = DefaultPolicy
	}
	registry.RLock()
	defer registry.RUnlock()
	names := make([]string, len(registry.entries))
	for i, r := range registry.entries {
		if r.info.Name == name {
			return r, nil
		}
		names[i] = r.info.Name
	}
	// A user can name the policy (a flag, a scenario): the error says
	// what to write instead, in words rather than a Go slice.
	return registered{}, fmt.Errorf("%w %q: choose one of %s", ErrUnknownPolicy, name, strings.Join(names, ", "))
}
