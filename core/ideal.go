package core

import "errors"

// Oracle is what a simulator knows and a production scheduler cannot: how
// long a job will really run on a worker, given that worker's real cache.
// Only the ideal policy asks it.
type Oracle interface {
	// Duration is how long t would run if the named worker started it now.
	Duration(t *Ticket, worker string) float64
}

// idealPolicy is a reference to measure policies against, in the spirit of
// the "ideal scheduler" of the Sparrow paper: it knows every job's true run
// time on every worker and, while some worker has a free slot, queues each
// job on the worker where it will finish first, even behind a busy one.
// When every slot is taken it leaves the job in the main queue, so that it
// goes, in fair order, where it finishes first once a slot frees. It is
// greedy, not optimal: it never holds a worker back for a later job.
// Fair start is OCluster's.
type idealPolicy struct {
	oclusterPolicy
	oracle Oracle
	// ends is when each running job's run ends, as the oracle said when
	// it started.
	ends map[*Ticket]float64
}

func newIdeal(o Oracle) (Policy, error) {
	if o == nil {
		return nil, errors.New("the ideal policy needs every job's true run time, which only the simulator knows; choose another policy (ocluster-sim policies lists them)")
	}
	return &idealPolicy{oracle: o, ends: map[*Ticket]float64{}}, nil
}

func (d *idealPolicy) PlacementCost(_ PoolView, t *Ticket, w WorkerView, _ bool) float64 {
	return d.oracle.Duration(t, w.Name())
}

func (d *idealPolicy) Prefer(p PoolView, t *Ticket) WorkerView {
	var best WorkerView
	bestEnd, free := 0.0, false
	for w := range p.Workers() {
		if !w.Active() || w.Capacity() <= 0 {
			continue
		}
		wait := d.available(p, w)
		free = free || wait == 0
		if end := wait + d.oracle.Duration(t, w.Name()); best.IsZero() || end < bestEnd {
			best, bestEnd = w, end
		}
	}
	if !free {
		return WorkerView{}
	}
	return best
}

// available is how long until w could start one more job: at once (0)
// with a free slot, else when the work ahead of it, shared among its
// slots, is done.
func (d *idealPolicy) available(p PoolView, w WorkerView) float64 {
	if w.HasFreeSlot() {
		return 0
	}
	now := p.Now()
	work := w.Workload()
	for r := range w.RunningJobs() {
		work += max(0, d.ends[r]-now)
	}
	return work / float64(w.Capacity())
}

func (d *idealPolicy) Started(p PoolView, t *Ticket) {
	d.ends[t] = p.Now() + d.oracle.Duration(t, t.Worker())
}

func (d *idealPolicy) Finished(_ PoolView, t *Ticket, _ float64) { delete(d.ends, t) }

func (d *idealPolicy) Lost(_ PoolView, t *Ticket) { delete(d.ends, t) }
