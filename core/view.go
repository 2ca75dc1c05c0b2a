package core

import "iter"

// PoolView is what a Policy may read of its pool during a call. It is
// valid only during that call.
type PoolView struct{ p *Pool }

// Name is the pool's name.
func (v PoolView) Name() string { return v.p.name }

// Now is the scheduler's clock, in seconds.
func (v PoolView) Now() float64 { return v.p.sched.now() }

// Costs are the configured estimates of a cached and an uncached run.
func (v PoolView) Costs() Costs { return v.p.sched.costs }

// Settings are the scheduler's settings (the policy's, as overridden).
func (v PoolView) Settings() Settings { return v.p.sched.settings }

// Capacity is the sum of the capacities of the connected workers.
func (v PoolView) Capacity() int { return v.p.capacity }

// Worker returns the connected worker of that name, or the zero view.
func (v PoolView) Worker(name string) WorkerView { return WorkerView{v.p.workers[name]} }

// WorkerOf returns the worker that runs or ran t, or whose local queue
// holds it (it may since have been released), or the zero view while t
// waits in the main queue.
func (v PoolView) WorkerOf(t *Ticket) WorkerView { return WorkerView{t.worker} }

// Workers yields the connected workers, sorted by name. A policy that
// goes through them all on every decision breaks the rule that a decision
// costs no more than the workers that have the job's hint: the ideal
// reference alone does.
func (v PoolView) Workers() iter.Seq[WorkerView] {
	return func(yield func(WorkerView) bool) {
		for _, w := range v.p.byName {
			if !yield(WorkerView{w}) {
				return
			}
		}
	}
}

// CachedWorkers yields the connected workers that the cache index stores
// (and, under Settings.CacheAge, still trusts) as having t's hint, in
// descending order of name (OCluster's tie-break: the first of equals is
// the one to keep). Inactive ones are included; nothing is yielded for a
// job without a hint.
func (v PoolView) CachedWorkers(t *Ticket) iter.Seq[WorkerView] {
	return func(yield func(WorkerView) bool) {
		if t.job.Hint == "" {
			return
		}
		for _, rec := range t.hint.workers {
			if rec.conn == nil || v.p.stale(t.hint, rec) {
				continue
			}
			if !yield(WorkerView{rec.conn}) {
				return
			}
		}
	}
}

// HintKnown reports whether the cache index stores any worker, connected
// or not, as having t's hint.
func (v PoolView) HintKnown(t *Ticket) bool { return len(t.hint.workers) > 0 }

// HasCached reports whether the cache index stores w as having t's hint
// (recently enough, under Settings.CacheAge).
func (v PoolView) HasCached(t *Ticket, w WorkerView) bool {
	return t.job.Hint != "" && w.w != nil && v.p.hasCached(t.hint, w.w.record)
}

// QueuingWorkers yields the connected workers whose local queue holds a
// job, in no particular order: the order is deterministic, but an answer
// that depends on it changes when the pool's history does, so break ties
// by name.
func (v PoolView) QueuingWorkers() iter.Seq[WorkerView] {
	return func(yield func(WorkerView) bool) {
		for _, w := range v.p.queuing {
			if !yield(WorkerView{w}) {
				return
			}
		}
	}
}

// Backlog is how many jobs wait in the main queue.
func (v PoolView) Backlog() int { return v.p.backlog.Len() }

// LocalJobs is how many jobs wait in the workers' local queues, all told.
func (v PoolView) LocalJobs() int { return v.p.localJobs }

// ClientState is the policy's own value kept with t's client in this pool,
// for the policy to read and set: what it charged the client, say. It
// starts nil and lives as long as the client does (RemoveClient ends it).
func (v PoolView) ClientState(t *Ticket) *any { return &t.client.policyState }

// HintState is the policy's own value kept with t's cache hint, or nil for
// a job without one: what it learned of the hint's run times, say. It
// starts nil and lives while the pool tracks the hint (some job queued
// with it, or some worker stored as having it).
func (v PoolView) HintState(t *Ticket) *any {
	if t.job.Hint == "" {
		return nil
	}
	h := t.hint
	if h.forgotten {
		// The pool stopped tracking the hint since t was queued; it may
		// have started again.
		if h = v.p.hints[t.job.Hint]; h == nil {
			return nil
		}
	}
	return &h.policyState
}

// WorkerView is what a Policy may read of one worker connection. The zero
// WorkerView is no worker.
type WorkerView struct{ w *Worker }

// IsZero reports whether the view is of no worker.
func (v WorkerView) IsZero() bool { return v.w == nil }

// Name is the worker's name.
func (v WorkerView) Name() string { return v.w.name }

// Capacity is how many jobs it runs at once.
func (v WorkerView) Capacity() int { return v.w.capacity }

// Active reports whether it may be given jobs.
func (v WorkerView) Active() bool { return v.w.Active() }

// Running is how many jobs it is running.
func (v WorkerView) Running() int { return len(v.w.running) }

// RunningJobs yields the jobs it is running, in the order it took them.
func (v WorkerView) RunningJobs() iter.Seq[*Ticket] {
	return func(yield func(*Ticket) bool) {
		for _, t := range v.w.running {
			if !yield(t) {
				return
			}
		}
	}
}

// Queued is how many jobs wait in its local queue.
func (v WorkerView) Queued() int { return v.w.local.Len() }

// NextQueued is the job its local queue would give it next, or nil.
func (v WorkerView) NextQueued() *Ticket { return v.w.local.peek() }

// Workload is the sum of the placement costs of its queued jobs.
func (v WorkerView) Workload() float64 { return v.w.workload }

// HasFreeSlot reports whether it runs and has queued fewer jobs than its
// capacity.
func (v WorkerView) HasFreeSlot() bool { return len(v.w.running)+v.w.local.Len() < v.w.capacity }

// State is the policy's own value kept with the worker's name in the pool,
// for the policy to read and set: how fast it runs, say. It starts nil and
// outlives the connection: a worker that reconnects finds it again.
func (v WorkerView) State() *any { return &v.w.record.policyState }
