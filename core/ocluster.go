package core

import "math"

// oclusterPolicy is the faithful port of OCluster's pool, the baseline every
// other policy is measured against. Other built-in policies embed it for
// the decisions they leave as OCluster makes them.
type oclusterPolicy struct{}

func (oclusterPolicy) SubmitCost(p PoolView, t *Ticket, pendingBefore int) float64 {
	c := p.Costs()
	if t.Job().Hint == "" {
		return c.Uncached
	}
	if pendingBefore > 0 || p.HintKnown(t) {
		return c.Cached
	}
	return c.Uncached
}

// clientTags is what a fair start policy keeps of a client: its next tag
// and when it was last charged, from which a lead decays.
type clientTags struct {
	next, charged float64
}

// tagsOf returns t's client's tags, starting from the clock.
func tagsOf(p PoolView, t *Ticket) *clientTags {
	state := p.ClientState(t)
	c, _ := (*state).(*clientTags)
	if c == nil {
		now := p.Now()
		c = &clientTags{next: now, charged: now}
		*state = c
	}
	return c
}

// FairStart is Zhang's VirtualClock in real time: a client that used idle
// capacity pays for it later.
func (oclusterPolicy) FairStart(p PoolView, t *Ticket, cost, rate float64) float64 {
	c := tagsOf(p, t)
	now := p.Now()
	start := max(now, decayed(p, &c.charged, c.next, now))
	c.next = start + cost/rate
	return start
}

// decayed is a client's tag with its lead over ref (the tag a client that
// used nothing would get) halved for every half-life since it was last
// charged, and marks it charged now. Without a half-life the lead stays,
// as in OCluster.
func decayed(p PoolView, charged *float64, tag, ref float64) float64 {
	now := p.Now()
	since := now - *charged
	*charged = now
	hl := p.Settings().HalfLife
	if hl <= 0 || tag <= ref {
		return tag
	}
	return ref + (tag-ref)*math.Exp2(-since/hl)
}

func (oclusterPolicy) FairNow(p PoolView) float64 { return p.Now() }

func (oclusterPolicy) Started(PoolView, *Ticket) {}

func (oclusterPolicy) Finished(PoolView, *Ticket, float64) {}

func (oclusterPolicy) Lost(PoolView, *Ticket) {}

func (oclusterPolicy) Steal(PoolView, WorkerView) WorkerView { return WorkerView{} }

func (oclusterPolicy) PlacementCost(p PoolView, _ *Ticket, _ WorkerView, cached bool) float64 {
	if cached {
		return p.Costs().Cached
	}
	return p.Costs().Uncached
}

// Prefer picks, among the connected active workers stored as having the
// hint and with a workload no more than one uncached job, the least loaded;
// on a tie the name that sorts last. Capacity and running jobs are ignored,
// so a job may queue behind a busy worker while others idle (OCluster #168).
func (oclusterPolicy) Prefer(p PoolView, t *Ticket) WorkerView {
	limit := p.Costs().Uncached
	var best WorkerView
	// Names descend, so the first of equal workloads is the one to keep,
	// and an idle worker cannot be beaten.
	for w := range p.CachedWorkers(t) {
		if !w.Active() || w.Workload() > limit {
			continue
		}
		if best.IsZero() || w.Workload() < best.Workload() {
			best = w
			if w.Workload() <= 0 {
				break
			}
		}
	}
	return best
}
