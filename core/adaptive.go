package core

// adaptivePolicy answers OCluster #168, #249 and #90: OCluster queues every
// job of a hint behind the workers stored as having it until their queue is
// estimated at one uncached job, with estimates fixed at 10 s and 600 s, so
// a hot hint's jobs wait in line while other workers idle. This policy
// learns the run times from the jobs that finish, and lets a job wait for a
// worker with its hint only while the wait it expects there (the queue's
// estimated work per slot) is shorter than what running without the cache
// would add. Fair start is OCluster's.
type adaptivePolicy struct {
	cached, uncached estimate
}

// estimate is a run time learned as an exponentially weighted mean of the
// observed ones, starting from the configured cost.
type estimate struct {
	mean float64
	n    int
}

// learnWeight is the weight of a new observation once a few are in: the
// mean follows the last few dozen jobs, so it adapts when builds change
// but one slow job does not swing it.
const learnWeight = 0.05

func (e *estimate) value(configured float64) float64 {
	if e.n == 0 {
		return configured
	}
	return e.mean
}

func (e *estimate) observe(seconds float64) {
	e.n++
	// The first observations count in full, so the configured guess is
	// forgotten quickly.
	w := max(learnWeight, 1/float64(e.n))
	e.mean += w * (seconds - e.mean)
}

func (a *adaptivePolicy) costs(p *Pool) (cached, uncached float64) {
	c := p.sched.costs
	return a.cached.value(c.Cached), a.uncached.value(c.Uncached)
}

func (a *adaptivePolicy) submitCost(p *Pool, t *Ticket, pendingBefore int) float64 {
	if t.job.Estimate > 0 {
		return t.job.Estimate
	}
	cached, uncached := a.costs(p)
	if t.job.Hint != "" && (pendingBefore > 0 || len(t.hint.workers) > 0) {
		return cached
	}
	return uncached
}

func (a *adaptivePolicy) fairStart(p *Pool, t *Ticket, cost, rate float64) float64 {
	return oclusterPolicy{}.fairStart(p, t, cost, rate)
}

func (a *adaptivePolicy) placementCost(p *Pool, t *Ticket, _ *Worker, cached bool) float64 {
	if t.job.Estimate > 0 {
		return t.job.Estimate
	}
	c, u := a.costs(p)
	if cached {
		return c
	}
	return u
}

// prefer picks, among the active workers stored as having t's hint, the
// one t would wait for least, and only if that wait is expected to be
// shorter than the uncached penalty.
func (a *adaptivePolicy) prefer(p *Pool, t *Ticket) *Worker {
	if t.job.Hint == "" {
		return nil
	}
	cached, uncached := a.costs(p)
	penalty := uncached - cached
	if penalty <= 0 {
		return nil // the cache saves nothing: any worker will do
	}
	var best *Worker
	bestWait := 0.0
	for _, rec := range t.hint.workers {
		w := rec.conn
		if w == nil || !w.Active() || w.capacity <= 0 || p.stale(t.hint, rec) {
			continue
		}
		wait := expectedWait(w, cached)
		if wait < penalty && (best == nil || wait < bestWait) {
			best, bestWait = w, wait
			// Nothing queued: no worker can do better but one with a
			// free slot, and the scan (in descending names, OCluster's
			// tie-break) need go no further.
			if wait <= cached/2 && (wait <= 0 || w.local.Len() == 0) {
				break
			}
		}
	}
	return best
}

func (a *adaptivePolicy) steal(*Pool, *Worker) *Worker { return nil }

func (a *adaptivePolicy) started(*Pool, *Ticket) {}

func (a *adaptivePolicy) finished(_ *Pool, t *Ticket, seconds float64) {
	if seconds < 0 || t.job.Estimate > 0 {
		return // a client's estimate stands for this job, not for others
	}
	if t.wasCached {
		a.cached.observe(seconds)
	} else {
		a.uncached.observe(seconds)
	}
}

// expectedWait is how long a job queued on w now is expected to wait: none
// while w has a free slot; else its queue's estimated work, and half of
// each running job (on average half done), shared among its slots.
func expectedWait(w *Worker, cached float64) float64 {
	if len(w.running)+w.local.Len() < w.capacity {
		return 0
	}
	return (w.workload + float64(len(w.running))*cached/2) / float64(w.capacity)
}

// stealFrom picks, for w with a free slot, the worker whose next queued job
// w should take: the one whose queue is expected to make that job wait
// longest, provided the wait is longer than what running it on w would
// add (nothing if w is stored as having its hint, else the uncached
// penalty when it was queued for its cache). Ties go to the name that
// sorts first, so the choice does not depend on map order.
func stealFrom(p *Pool, w *Worker, cached, uncached float64) *Worker {
	var victim *Worker
	best := 0.0
	for _, v := range p.workers {
		if v == w || v.local.Len() == 0 {
			continue
		}
		t := v.local.peek()
		wait := expectedWait(v, cached)
		if t.wasCached {
			if !p.hasCached(t.hint, w.record) {
				wait -= uncached - cached
			}
		}
		if wait > 0 && (victim == nil || wait > best || wait == best && v.name < victim.name) {
			victim, best = v, wait
		}
	}
	return victim
}
