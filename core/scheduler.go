package core

import (
	"fmt"
	"slices"
)

// Clock returns the current time in seconds. Production passes the wall
// clock, the simulator its virtual time; the core reads nothing else.
type Clock func() float64

// Config says how to build a Scheduler.
type Config struct {
	// Pools are the names of the pools, at least one.
	Pools []string
	// Policy names the scheduling policy (see Policies); empty means
	// DefaultPolicy.
	Policy string
	// Costs are the estimates of cached and uncached jobs; zero means
	// DefaultCosts.
	Costs Costs
	// Override replaces some of the policy's own settings.
	Override Override
	// Oracle is what the ideal policy knows; other policies ignore it.
	Oracle Oracle
	// Clock is required.
	Clock Clock
}

// Override replaces the policy's settings that are not nil.
type Override struct {
	MaxAttempts *int
	Lease       *float64
	HalfLife    *float64
	CacheLimit  *int
	CacheAge    *float64
	TrustPrunes *bool
	Steal       *bool
}

func (o Override) apply(s Settings) Settings {
	if o.MaxAttempts != nil {
		s.MaxAttempts = *o.MaxAttempts
	}
	if o.Lease != nil {
		s.Lease = *o.Lease
	}
	if o.HalfLife != nil {
		s.HalfLife = *o.HalfLife
	}
	if o.CacheLimit != nil {
		s.CacheLimit = *o.CacheLimit
	}
	if o.CacheAge != nil {
		s.CacheAge = *o.CacheAge
	}
	if o.TrustPrunes != nil {
		s.TrustPrunes = *o.TrustPrunes
	}
	if o.Steal != nil {
		s.Steal = *o.Steal
	}
	return s
}

// Scheduler holds the pools and the registered clients. It is not safe for
// concurrent use: a driver owns it.
type Scheduler struct {
	pools      map[string]*Pool
	poolNames  []string
	policyName string
	settings   Settings
	costs      Costs
	clock      Clock
	clients    map[string]bool
	seq        uint64

	changes []Change
	woken   []*Worker
	wokenAt int
	expired []*Worker

	// policyErr is the first policy answer a pool could not apply.
	policyErr error
}

// New builds a Scheduler. With a snapshot it resumes the durable state that
// an earlier instance reported (rows of pools not configured are ignored).
func New(cfg Config, snap *Snapshot) (*Scheduler, error) {
	if cfg.Clock == nil {
		return nil, fmt.Errorf("core.New: no clock given")
	}
	if len(cfg.Pools) == 0 {
		return nil, fmt.Errorf("core.New: no pools given: %w", ErrInvalidPool)
	}
	costs := cfg.Costs
	if costs == (Costs{}) {
		costs = DefaultCosts
	}
	if err := costs.validate(); err != nil {
		return nil, fmt.Errorf("core.New: %w", err)
	}
	reg, err := lookupPolicy(cfg.Policy)
	if err != nil {
		// Not wrapped in "core.New:": a user named the policy, and the
		// function's name would tell them only where in Go it failed.
		return nil, err
	}
	info := reg.info
	settings := cfg.Override.apply(info.Settings)
	if err := settings.validate(); err != nil {
		return nil, fmt.Errorf("core.New: %w", err)
	}
	s := &Scheduler{
		pools:      map[string]*Pool{},
		policyName: info.Name,
		settings:   settings,
		costs:      costs,
		clock:      cfg.Clock,
		clients:    map[string]bool{},
	}
	for _, pn := range cfg.Pools {
		if pn == "" {
			return nil, fmt.Errorf("core.New: empty pool name: %w", ErrInvalidPool)
		}
		if s.pools[pn] != nil {
			return nil, fmt.Errorf("core.New: pool %q given twice: %w", pn, ErrInvalidPool)
		}
		pol, err := reg.make(cfg.Oracle)
		if err != nil {
			return nil, fmt.Errorf("core.New: %w", err)
		}
		if pol == nil {
			return nil, fmt.Errorf("core.New: policy %q made no policy: %w", info.Name, ErrInvalidPolicy)
		}
		s.pools[pn] = newPool(s, pn, pol)
		s.poolNames = append(s.poolNames, pn)
	}
	slices.Sort(s.poolNames)
	if snap != nil {
		s.restore(snap)
	}
	return s, nil
}

func (s *Scheduler) now() float64 { return s.clock() }

// Policy is the name of the policy the pools run.
func (s *Scheduler) Policy() string { return s.policyName }

// PolicyError returns the first answer of the policy that a pool could not
// apply (see Policy), or nil: a policy under test should never have one.
func (s *Scheduler) PolicyError() error { return s.policyErr }

// Settings are the policy's settings as overridden by the Config.
func (s *Scheduler) Settings() Settings { return s.settings }

// Costs are the current cost estimates.
func (s *Scheduler) Costs() Costs { return s.costs }

// SetCosts changes the cost estimates for later decisions.
func (s *Scheduler) SetCosts(c Costs) error {
	if err := c.validate(); err != nil {
		return err
	}
	s.costs = c
	return nil
}

// Pools lists the pool names, sorted.
func (s *Scheduler) Pools() []string { return slices.Clone(s.poolNames) }

// Pool returns the named pool.
func (s *Scheduler) Pool(name string) (*Pool, error) {
	if name == "" {
		return nil, fmt.Errorf("empty pool name: %w", ErrInvalidPool)
	}
	p := s.pools[name]
	if p == nil {
		return nil, fmt.Errorf("pool %q is not one of %v: %w", name, s.poolNames, ErrUnknownPool)
	}
	return p, nil
}

// AddClient registers a client id, which may then submit.
func (s *Scheduler) AddClient(id string) error {
	if id == "" {
		return fmt.Errorf("add client: %w", ErrEmptyClientID)
	}
	if s.clients[id] {
		return fmt.Errorf("add client %q: %w", id, ErrClientExists)
	}
	s.clients[id] = true
	s.report(Change{Kind: ClientAdded, Client: id})
	return nil
}

// RemoveClient revokes a client and deletes its rates. Jobs it already
// submitted stay where they are.
func (s *Scheduler) RemoveClient(id string) error {
	if !s.clients[id] {
		return fmt.Errorf("remove client %q: %w", id, ErrUnknownClient)
	}
	delete(s.clients, id)
	s.report(Change{Kind: ClientRemoved, Client: id})
	for _, pn := range s.poolNames {
		s.pools[pn].removeClient(id)
	}
	return nil
}

// HasClient reports whether the client id is registered.
func (s *Scheduler) HasClient(id string) bool { return s.clients[id] }

// Clients lists the registered client ids, sorted.
func (s *Scheduler) Clients() []string {
	out := make([]string, 0, len(s.clients))
	for id := range s.clients {
		out = append(out, id)
	}
	slices.Sort(out)
	return out
}

func (s *Scheduler) report(c Change) { s.changes = append(s.changes, c) }

func (s *Scheduler) wake(w *Worker) {
	if w.pending && !w.woken {
		w.woken = true
		s.woken = append(s.woken, w)
	}
}

// Ready is everything the core asks of its driver since the driver last
// acknowledged it with Advance. Its slices belong to the core: they hold
// until Advance and must not be kept after it.
type Ready struct {
	// Changes are the durable changes, in the order they happened, for
	// the driver to store (a driver with nothing to store drops them).
	Changes []Change
	// Woken are the workers whose pending pop should run again, in the
	// order they were woken. The driver resumes each with Worker.Resume,
	// which may wake more: they come in the next Ready.
	Woken []*Worker
	// Expired are the connected workers whose lease had run out at the
	// last CheckLeases. The driver treats them as lost: it releases them
	// (Worker.Release) and re-queues their jobs.
	Expired []*Worker
}

// Empty reports whether there is nothing for the driver to do.
func (rd Ready) Empty() bool {
	return len(rd.Changes) == 0 && len(rd.Woken) == 0 && len(rd.Expired) == 0
}

// Ready returns what the driver must act on. Acting on it may make more
// (a resumed pop wakes another, a released worker re-queues its jobs), so
// a driver calls Ready and Advance until Ready is empty.
func (s *Scheduler) Ready() Ready {
	// A worker resumed outside a Ready stays in the queue of woken pops
	// though it no longer waits: it is dropped here, so that Woken holds
	// only pops that wait to run again.
	kept := s.wokenAt
	for _, w := range s.woken[s.wokenAt:] {
		if w.woken {
			s.woken[kept] = w
			kept++
		}
	}
	clear(s.woken[kept:])
	s.woken = s.woken[:kept]
	return Ready{Changes: s.changes, Woken: s.woken[s.wokenAt:], Expired: s.expired}
}

// Advance acknowledges rd, an earlier Ready's value or part of it: its
// changes are stored, its woken workers resumed and its expired workers
// released, and the core forgets them. What came after that Ready stays
// for the next one.
func (s *Scheduler) Advance(rd Ready) {
	s.changes = dropFront(s.changes, len(rd.Changes))
	s.expired = dropFront(s.expired, len(rd.Expired))
	n := min(len(rd.Woken), len(s.woken)-s.wokenAt)
	clear(s.woken[s.wokenAt : s.wokenAt+n])
	s.wokenAt += n
	if s.wokenAt == len(s.woken) {
		s.woken = s.woken[:0]
		s.wokenAt = 0
	}
}

// dropFront removes the first n elements of xs, reusing its array.
func dropFront[T any](xs []T, n int) []T {
	n = min(n, len(xs))
	m := copy(xs, xs[n:])
	clear(xs[m:])
	return xs[:m]
}

// CheckLeases finds the connected workers, sorted by pool and name, whose
// lease has run out: no sign of life for Settings.Lease seconds. They come
// in Ready's Expired. A driver calls it when it checks leases, after the
// heartbeats of that check.
func (s *Scheduler) CheckLeases() {
	lease := s.settings.Lease
	if lease <= 0 {
		return
	}
	now := s.now()
	for _, pn := range s.poolNames {
		for _, w := range s.pools[pn].Workers() {
			if now-w.lastSeen >= lease && !slices.Contains(s.expired, w) {
				s.expired = append(s.expired, w)
			}
		}
	}
}
