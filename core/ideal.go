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
}

func newIdeal(o Oracle) (policy, error) {
	if o == nil {
		return nil, errors.New("the ideal policy needs every job's true run time, which only the simulator knows; choose another policy (ocluster-sim policies lists them)")
	}
	return &idealPolicy{oracle: o}, nil
}

func (d *idealPolicy) placementCost(_ *Pool, t *Ticket, w *Worker, _ bool) float64 {
	return d.oracle.Duration(t, w.name)
}

func (d *idealPolicy) prefer(p *Pool, t *Ticket) *Worker {
	var best *Worker
	bestEnd, free := 0.0, false
	for _, w := range p.Workers() {
		if !w.Active() || w.capacity <= 0 {
			continue
		}
		wait := d.available(p, w)
		free = free || wait == 0
		if end := wait + d.oracle.Duration(t, w.name); best == nil || end < bestEnd {
			best, bestEnd = w, end
		}
	}
	if !free {
		return nil
	}
	return best
}

// available is how long until w could start one more job: at once (0)
// with a free slot, else when the work ahead of it, shared among its
// slots, is done.
func (d *idealPolicy) available(p *Pool, w *Worker) float64 {
	if len(w.running)+w.local.Len() < w.capacity {
		return 0
	}
	now := p.sched.now()
	work := w.workload
	for _, r := range w.running {
		work += max(0, r.trueEnd-now)
	}
	return work / float64(w.capacity)
}

func (d *idealPolicy) started(p *Pool, t *Ticket) {
	t.trueEnd = p.sched.now() + d.oracle.Duration(t, t.worker.name)
}
