package core

// adaptivePolicy answers OCluster #168, #249 and #90: OCluster queues every
// job of a hint behind the workers stored as having it until their queue is
// estimated at one uncached job, with estimates fixed at 10 s and 600 s, so
// a hot hint's jobs wait in line while other workers idle. This policy
// learns the run times from the jobs that finish (per hint, falling back to
// the pool's, then to the configured costs) and each worker's pace (how
// much longer or shorter its runs take than others'), and lets a job wait
// for a worker with its hint only while the wait it expects there (the
// queue's estimated work per slot) is shorter than what running without
// the cache would add. Fair start is OCluster's.
type adaptivePolicy struct {
	// The pool's run times, over all its workers.
	learned runTimes
}

// runTimes are run times learned of cached and uncached runs.
type runTimes struct {
	cached, uncached estimate
}

// estimate is a value learned as an exponentially weighted mean of the
// observed ones, starting from a fallback.
type estimate struct {
	mean float64
	n    int
}

// learnWeight is the weight of a new observation once a few are in: the
// mean follows the last few dozen jobs, so it adapts when builds change
// but one slow job does not swing it.
const learnWeight = 0.05

// priorWeight is how many observations the pool's run time counts for in
// a hint's.
const priorWeight = 5

// minSaving is the share of an uncached run the cache must save for a job
// to prefer a worker that has its hint.
const minSaving = 0.1

func (e *estimate) value(fallback float64) float64 {
	if e.n == 0 {
		return fallback
	}
	return e.mean
}

// shrunk is the estimate drawn towards prior as if prior had been observed
// priorWeight times: a hint seen once or twice is mostly the pool's, one
// seen often is its own. One noisy run must not decide where a hint's jobs
// go.
func (e *estimate) shrunk(prior float64) float64 {
	n := float64(min(e.n, int(1/learnWeight)))
	return (n*e.value(prior) + priorWeight*prior) / (n + priorWeight)
}

func (e *estimate) observe(x float64) {
	e.n++
	// The first observations count in full, so the fallback is forgotten
	// quickly.
	w := max(learnWeight, 1/float64(e.n))
	e.mean += w * (x - e.mean)
}

// observePace learns a ratio that starts at 1 with the weight of a few
// dozen observations: one worker's first runs, measured against estimates
// still being learned, must not make it look twice as slow.
func (e *estimate) observePace(ratio float64) {
	if e.n == 0 {
		e.mean, e.n = 1, int(1/learnWeight)
	}
	e.observe(ratio)
}

// learnedOf returns what was learned of t's hint, starting to learn it,
// or nil for a job without one or a hint the pool no longer tracks.
func learnedOf(p PoolView, t *Ticket) *runTimes {
	state := p.HintState(t)
	if state == nil {
		return nil
	}
	rt, _ := (*state).(*runTimes)
	if rt == nil {
		rt = &runTimes{}
		*state = rt
	}
	return rt
}

// paceOf returns what was learned of w's pace.
func paceOf(w WorkerView) *estimate {
	state := w.State()
	e, _ := (*state).(*estimate)
	if e == nil {
		e = &estimate{}
		*state = e
	}
	return e
}

// pace is how much longer w's runs take than others' (1 until learned).
func pace(w WorkerView) float64 {
	e, _ := (*w.State()).(*estimate)
	if e == nil {
		return 1
	}
	return e.value(1)
}

// costs are the expected run times of t's job, cached and not, on a
// typical worker: what its hint's finished jobs took, drawn towards the
// pool's (the configured costs until jobs finish).
func (a *adaptivePolicy) costs(p PoolView, t *Ticket) (cached, uncached float64) {
	c := p.Costs()
	cached, uncached = a.learned.cached.value(c.Cached), a.learned.uncached.value(c.Uncached)
	if state := p.HintState(t); state != nil {
		var h runTimes
		if rt, _ := (*state).(*runTimes); rt != nil {
			h = *rt
		}
		cached, uncached = h.cached.shrunk(cached), h.uncached.shrunk(uncached)
	}
	return cached, uncached
}

func (a *adaptivePolicy) SubmitCost(p PoolView, t *Ticket, pendingBefore int) float64 {
	if t.Job().Estimate > 0 {
		return t.Job().Estimate
	}
	cached, uncached := a.costs(p, t)
	if t.Job().Hint != "" && (pendingBefore > 0 || p.HintKnown(t)) {
		return cached
	}
	return uncached
}

func (a *adaptivePolicy) FairStart(p PoolView, t *Ticket, cost, rate float64) float64 {
	return oclusterPolicy{}.FairStart(p, t, cost, rate)
}

func (a *adaptivePolicy) FairNow(p PoolView) float64 { return p.Now() }

func (a *adaptivePolicy) PlacementCost(p PoolView, t *Ticket, w WorkerView, cached bool) float64 {
	if t.Job().Estimate > 0 {
		return t.Job().Estimate
	}
	c, u := a.costs(p, t)
	if !cached {
		c = u
	}
	return c * pace(w)
}

// Prefer picks, among the active workers stored as having t's hint, the
// one t would wait for least, and only if that wait is expected to be
// shorter than the uncached penalty.
func (a *adaptivePolicy) Prefer(p PoolView, t *Ticket) WorkerView {
	if t.Job().Hint == "" {
		return WorkerView{}
	}
	cached, uncached := a.costs(p, t)
	penalty := uncached - cached
	if penalty <= minSaving*uncached {
		// The cache saves next to nothing (learned estimates never quite
		// agree): any worker will do, and the search is not worth its cost.
		return WorkerView{}
	}
	var best WorkerView
	bestWait := 0.0
	for w := range p.CachedWorkers(t) {
		if !w.Active() || w.Capacity() <= 0 {
			continue
		}
		wait := a.expectedWait(p, w, cached)
		if wait < penalty && (best.IsZero() || wait < bestWait) {
			best, bestWait = w, wait
			// Nothing queued: no worker can do better but one with a
			// free slot, and the scan (in descending names, OCluster's
			// tie-break) need go no further.
			if wait <= cached/2 && (wait <= 0 || w.Queued() == 0) {
				break
			}
		}
	}
	return best
}

func (a *adaptivePolicy) Steal(PoolView, WorkerView) WorkerView { return WorkerView{} }

func (a *adaptivePolicy) Started(PoolView, *Ticket) {}

func (a *adaptivePolicy) Lost(PoolView, *Ticket) {}

// Finished learns from a run: the worker's pace from how its time compares
// with the run time learned over all workers, then that run time, for the
// hint (while the pool still tracks it) and for the pool. Paces are ratios
// to the common run times, not inputs to them, so that with one worker its
// pace stays 1.
func (a *adaptivePolicy) Finished(p PoolView, t *Ticket, seconds float64) {
	if seconds < 0 || t.Job().Estimate > 0 {
		return // a client's estimate stands for this job, not for others
	}
	pool, hint := &a.learned.uncached, (*estimate)(nil)
	if t.WasCached() {
		pool = &a.learned.cached
	}
	if rt := learnedOf(p, t); rt != nil {
		hint = &rt.uncached
		if t.WasCached() {
			hint = &rt.cached
		}
	}
	// The pace compares the run with what runs of the same hint took on
	// any worker (else of any hint), unshrunk: only against a learned
	// run time does the ratio say anything of the worker.
	against := pool
	if hint != nil && hint.n > 0 {
		against = hint
	}
	if against.n > 0 && against.mean > 0 {
		paceOf(p.WorkerOf(t)).observePace(seconds / against.mean)
	}
	pool.observe(seconds)
	if hint != nil {
		hint.observe(seconds)
	}
}

// expectedWait is how long a job queued on w now is expected to wait: none
// while w has a free slot; else its queue's estimated work and what its
// running jobs have left, shared among its slots. A running job counts as
// half done (half a cached run), unless it has run for longer than an
// uncached run of the pool takes at w's pace: then it counts for as long
// as it has overrun. A build far past its estimate may well be stuck, and
// the longer it overruns the less likely it is to end soon; so jobs stop
// queueing behind a worker whose builds hang while its agent still
// answers, and idle workers steal the ones queued there.
func (a *adaptivePolicy) expectedWait(p PoolView, w WorkerView, cached float64) float64 {
	if w.HasFreeSlot() {
		return 0
	}
	longest := a.learned.uncached.value(p.Costs().Uncached) * pace(w)
	now := p.Now()
	// Jobs run in the order they started, so those that overran are the
	// first few: the rest count as half a cached run each, without going
	// through them.
	left, overran := 0.0, 0
	for t := range w.RunningJobs() {
		d := now - t.StartedAt() - longest
		if d <= cached/2 {
			break
		}
		left += d
		overran++
	}
	left += float64(w.Running()-overran) * cached / 2
	return (w.Workload() + left) / float64(w.Capacity())
}

// stealFrom picks, for w with a free slot, the worker whose next queued job
// w should take: the one whose queue is expected to make that job wait
// longest, provided the wait is longer than what running it on w would
// add (nothing if w is stored as having its hint, else the uncached
// penalty when it was queued for its cache). Ties go to the name that
// sorts first, so that the choice does not depend on the list's order.
func (a *adaptivePolicy) stealFrom(p PoolView, w WorkerView) WorkerView {
	var victim WorkerView
	best := 0.0
	for v := range p.QueuingWorkers() {
		if v == w {
			continue
		}
		t := v.NextQueued()
		cached, uncached := a.costs(p, t)
		wait := a.expectedWait(p, v, cached)
		better := func() bool {
			return wait > best || !victim.IsZero() && wait == best && v.Name() < victim.Name()
		}
		if !better() {
			continue // and the cache can only lower the wait
		}
		if t.WasCached() && !p.HasCached(t, w) {
			wait -= uncached - cached
		}
		if better() {
			victim, best = v, wait
		}
	}
	return victim
}
