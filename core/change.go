package core

import (
	"cmp"
	"slices"
)

// ChangeKind says what a Change records.
type ChangeKind uint8

const (
	// CacheAdded: Worker is stored as having Hint cached in Pool, since At.
	CacheAdded ChangeKind = iota + 1
	// RateSet: Client's rate in Pool is Rate.
	RateSet
	// RateRemoved: Client's rate in Pool is back to the default.
	RateRemoved
	// WorkerKnown: Worker is known in Pool (not admin-paused).
	WorkerKnown
	// WorkerPaused: the admin pause flag of the known Worker is Paused.
	WorkerPaused
	// WorkerForgotten: Worker is no longer known in Pool.
	WorkerForgotten
	// ClientAdded: Client is registered.
	ClientAdded
	// ClientRemoved: Client is no longer registered.
	ClientRemoved
	// CacheRemoved: Worker is no longer stored as having Hint cached in
	// Pool (it pruned it, or the index's bound or age limit dropped it).
	CacheRemoved
)

func (k ChangeKind) String() string {
	switch k {
	case CacheAdded:
		return "cache-added"
	case RateSet:
		return "rate-set"
	case RateRemoved:
		return "rate-removed"
	case WorkerKnown:
		return "worker-known"
	case WorkerPaused:
		return "worker-paused"
	case WorkerForgotten:
		return "worker-forgotten"
	case ClientAdded:
		return "client-added"
	case ClientRemoved:
		return "client-removed"
	case CacheRemoved:
		return "cache-removed"
	}
	return "invalid"
}

// Change is one durable change of the scheduler's state; a driver stores
// it so that a later Scheduler can start from the Snapshot it adds up to.
// Only the fields its Kind names are set.
type Change struct {
	Kind   ChangeKind
	Pool   string
	Worker string
	Hint   string
	Client string
	Rate   float64
	Paused bool
	At     float64
}

// Snapshot is the durable state of a Scheduler, everything sorted by name;
// an empty list is nil.
type Snapshot struct {
	Clients []string
	Pools   []PoolSnapshot
}

// PoolSnapshot is the durable state of one pool.
type PoolSnapshot struct {
	Name    string
	Workers []KnownWorker
	Rates   []ClientRate
	Cache   []CacheEntry
}

// KnownWorker is a stored worker and its admin pause.
type KnownWorker struct {
	Name   string
	Paused bool
}

// ClientRate is a stored rate.
type ClientRate struct {
	Client string
	Rate   float64
}

// CacheEntry says a worker is stored as having a hint cached since At.
type CacheEntry struct {
	Hint   string
	Worker string
	At     float64
}

// Apply adds one change to the snapshot.
func (s *Snapshot) Apply(c Change) {
	switch c.Kind {
	case ClientAdded:
		s.Clients = upsert(s.Clients, c.Client, func(x string) string { return x })
		return
	case ClientRemoved:
		s.Clients = remove(s.Clients, c.Client, func(x string) string { return x })
		return
	}
	p := s.pool(c.Pool)
	switch c.Kind {
	case CacheAdded:
		i, found := slices.BinarySearchFunc(p.Cache, c, func(e CacheEntry, c Change) int {
			return cmp.Or(cmp.Compare(e.Hint, c.Hint), cmp.Compare(e.Worker, c.Worker))
		})
		if !found {
			p.Cache = slices.Insert(p.Cache, i, CacheEntry{Hint: c.Hint, Worker: c.Worker, At: c.At})
		}
	case CacheRemoved:
		if i, found := slices.BinarySearchFunc(p.Cache, c, func(e CacheEntry, c Change) int {
			return cmp.Or(cmp.Compare(e.Hint, c.Hint), cmp.Compare(e.Worker, c.Worker))
		}); found {
			p.Cache = slices.Delete(p.Cache, i, i+1)
			if len(p.Cache) == 0 {
				p.Cache = nil
			}
		}
	case RateSet:
		p.Rates = upsert(p.Rates, ClientRate{c.Client, c.Rate}, func(r ClientRate) string { return r.Client })
	case RateRemoved:
		p.Rates = remove(p.Rates, c.Client, func(r ClientRate) string { return r.Client })
	case WorkerKnown:
		p.Workers = upsert(p.Workers, KnownWorker{Name: c.Worker}, func(w KnownWorker) string { return w.Name })
	case WorkerPaused:
		p.Workers = upsert(p.Workers, KnownWorker{c.Worker, c.Paused}, func(w KnownWorker) string { return w.Name })
	case WorkerForgotten:
		p.Workers = remove(p.Workers, c.Worker, func(w KnownWorker) string { return w.Name })
	}
	if p.Workers == nil && p.Rates == nil && p.Cache == nil {
		s.Pools = remove(s.Pools, c.Pool, func(p PoolSnapshot) string { return p.Name })
	}
}

func (s *Snapshot) pool(name string) *PoolSnapshot {
	i, found := slices.BinarySearchFunc(s.Pools, name, func(p PoolSnapshot, n string) int { return cmp.Compare(p.Name, n) })
	if !found {
		s.Pools = slices.Insert(s.Pools, i, PoolSnapshot{Name: name})
	}
	return &s.Pools[i]
}

func upsert[T any](xs []T, x T, key func(T) string) []T {
	i, found := slices.BinarySearchFunc(xs, key(x), func(e T, k string) int { return cmp.Compare(key(e), k) })
	if found {
		xs[i] = x
		return xs
	}
	return slices.Insert(xs, i, x)
}

func remove[T any](xs []T, k string, key func(T) string) []T {
	i, found := slices.BinarySearchFunc(xs, k, func(e T, k string) int { return cmp.Compare(key(e), k) })
	if !found {
		return xs
	}
	xs = slices.Delete(xs, i, i+1)
	if len(xs) == 0 {
		return nil
	}
	return xs
}

// Snapshot returns the scheduler's durable state. It equals what the
// changes reported since a fresh start (or since the snapshot it was
// restored from) add up to.
func (s *Scheduler) Snapshot() Snapshot {
	var snap Snapshot
	if len(s.clients) > 0 {
		snap.Clients = s.Clients()
	}
	for _, pn := range s.poolNames {
		p := s.pools[pn]
		ps := PoolSnapshot{Name: pn}
		for _, rec := range p.sortedRecords() {
			if rec.known {
				ps.Workers = append(ps.Workers, KnownWorker{rec.name, rec.paused})
			}
		}
		for client, rate := range p.rates {
			ps.Rates = append(ps.Rates, ClientRate{client, rate})
		}
		slices.SortFunc(ps.Rates, func(a, b ClientRate) int { return cmp.Compare(a.Client, b.Client) })
		for key, e := range p.cached {
			ps.Cache = append(ps.Cache, CacheEntry{key.hint.name, key.worker.name, e.added})
		}
		slices.SortFunc(ps.Cache, func(a, b CacheEntry) int {
			return cmp.Or(cmp.Compare(a.Hint, b.Hint), cmp.Compare(a.Worker, b.Worker))
		})
		if ps.Workers != nil || ps.Rates != nil || ps.Cache != nil {
			snap.Pools = append(snap.Pools, ps)
		}
	}
	return snap
}

func (s *Scheduler) restore(snap *Snapshot) {
	for _, id := range snap.Clients {
		s.clients[id] = true
	}
	for _, ps := range snap.Pools {
		p := s.pools[ps.Name]
		if p == nil {
			continue
		}
		for _, kw := range ps.Workers {
			rec := p.record(kw.Name)
			rec.known = true
			rec.paused = kw.Paused
		}
		for _, r := range ps.Rates {
			p.rates[r.Client] = r.Rate
		}
		// Oldest first, so that each worker's list ends most recent
		// first; their use is not stored, so it counts from when they
		// were first stored.
		entries := slices.Clone(ps.Cache)
		slices.SortStableFunc(entries, func(a, b CacheEntry) int { return cmp.Compare(a.At, b.At) })
		for _, e := range entries {
			h, rec := p.hint(e.Hint), p.record(e.Worker)
			key := cacheKey{h, rec}
			if p.cached[key] == nil {
				p.insertCache(&cacheEntry{key: key, added: e.At, used: e.At})
			}
		}
		// A bound or an age limit may be stricter than the last run's.
		for _, rec := range p.sortedRecords() {
			p.trim(rec)
		}
	}
}
