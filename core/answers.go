package core

import (
	"fmt"
	"math"
)

// The pool asks its policy through these, which check each answer before
// the pool acts on it (see Policy): whatever a policy returns, the pool
// stays consistent, and the first answer it could not apply is kept for
// Scheduler.PolicyError.

func (p *Pool) refuse(format string, args ...any) {
	if p.sched.policyErr == nil {
		p.sched.policyErr = fmt.Errorf("policy %q in pool %q: %s: %w", p.sched.policyName, p.name, fmt.Sprintf(format, args...), ErrPolicyAnswer)
	}
}

func validCost(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) && x >= 0 }

func validTime(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }

func (p *Pool) submitCost(t *Ticket, pendingBefore int) float64 {
	v := PoolView{p}
	cost := p.policy.SubmitCost(v, t, pendingBefore)
	if !validCost(cost) {
		p.refuse("SubmitCost of job %d is %v, not a finite number of seconds, 0 or more; OCluster's estimate was used", t.seq, cost)
		cost = oclusterPolicy{}.SubmitCost(v, t, pendingBefore)
	}
	return cost
}

func (p *Pool) fairStart(t *Ticket, cost, rate float64) float64 {
	start := p.policy.FairStart(PoolView{p}, t, cost, rate)
	if !validTime(start) {
		p.refuse("FairStart of job %d is %v, not a finite time; the clock was used", t.seq, start)
		start = p.sched.now()
	}
	return start
}

func (p *Pool) fairNow() float64 {
	now := p.policy.FairNow(PoolView{p})
	if !validTime(now) {
		p.refuse("FairNow is %v, not a finite time; the clock was used", now)
		now = p.sched.now()
	}
	return now
}

func (p *Pool) placementCost(t *Ticket, w *Worker, cached bool) float64 {
	cost := p.policy.PlacementCost(PoolView{p}, t, WorkerView{w}, cached)
	if !validCost(cost) {
		p.refuse("PlacementCost of job %d on %q is %v, not a finite number of seconds, 0 or more; the configured cost was used", t.seq, w.name, cost)
		cost = p.sched.costs.Uncached
		if cached {
			cost = p.sched.costs.Cached
		}
	}
	return cost
}

// prefer returns the worker the policy prefers for t, if it may queue it:
// an active, connected worker of this pool. One without slots may: OCluster
// queues jobs there, to wait for it to come back with some.
func (p *Pool) prefer(t *Ticket) *Worker {
	w := p.policy.Prefer(PoolView{p}, t).w
	if w == nil {
		return nil
	}
	if w.pool != p || w.released || !w.Active() {
		p.refuse("Prefer chose %q for job %d, which is not an active, connected worker of the pool (%s); the job was left to the next idle worker", w.name, t.seq, p.unfit(w))
		return nil
	}
	return w
}

// steal returns the worker whose next queued job the policy has w take, if
// w may: another connected worker of this pool with a job queued.
func (p *Pool) steal(w *Worker) *Worker {
	v := p.policy.Steal(PoolView{p}, WorkerView{w}).w
	if v == nil {
		return nil
	}
	if v == w || v.pool != p || v.released || v.local.Len() == 0 {
		why := p.unfit(v)
		if v == w {
			why = "the thief itself"
		} else if why == "" {
			why = "nothing queued"
		}
		p.refuse("Steal had %q take from %q, which is not another connected worker of the pool with a job queued (%s); nothing was taken", w.name, v.name, why)
		return nil
	}
	return v
}

// unfit says why w cannot take a job from the pool, or "".
func (p *Pool) unfit(w *Worker) string {
	switch {
	case w.pool != p:
		return fmt.Sprintf("it is in pool %q", w.pool.name)
	case w.released:
		return "released"
	case !w.Active():
		return w.reasons.String()
	}
	return ""
}

// forgetHint stops tracking a hint that no queued job carries and no
// worker is stored as having.
func (p *Pool) forgetHint(h *hintEntry) {
	h.forgotten = true
	delete(p.hints, h.name)
}
