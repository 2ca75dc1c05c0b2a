package core

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
)

// CheckInvariants verifies the scheduler's internal consistency: every
// queued ticket is in exactly one queue, workloads and capacities add up,
// pending counts match the queued jobs, the main queue is never both
// backlog and ready, and the cache index agrees with itself. Tests and the
// simulator's debug mode call it after every step; it costs O(state).
func (s *Scheduler) CheckInvariants() error {
	var errs []error
	fail := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	inFIFO := map[*Worker]bool{}
	for _, w := range s.woken[s.wokenAt:] {
		if w.woken {
			inFIFO[w] = true
		}
	}
	for _, pn := range s.poolNames {
		s.pools[pn].check(fail, inFIFO)
	}
	for w := range inFIFO {
		if !w.pending {
			fail("worker %q is woken without a pending pop", w.name)
		}
	}
	return errors.Join(errs...)
}

// CheckSettled verifies what holds once a driver has resumed every woken
// pop (Ready's Woken was empty): no active worker's pop waits while a job
// is queued for it or off the ready list, no inactive worker is on it,
// and no pool has both jobs in its backlog and workers ready.
func (s *Scheduler) CheckSettled() error {
	var errs []error
	for _, pn := range s.poolNames {
		p := s.pools[pn]
		for _, w := range p.byName {
			if w.pending && w.Active() && (!w.listed || w.local.Len() > 0) {
				errs = append(errs, fmt.Errorf("pool %q: active worker %q waits (listed as ready: %v, queued: %d)", pn, w.name, w.listed, w.local.Len()))
			}
			if w.pending && !w.Active() && w.listed {
				errs = append(errs, fmt.Errorf("pool %q: inactive worker %q is listed as ready", pn, w.name))
			}
		}
		if n := p.backlog.Len(); n > 0 && p.ready.n > 0 {
			errs = append(errs, fmt.Errorf("pool %q: %d jobs in the backlog and %d workers ready", pn, n, p.ready.n))
		}
	}
	return errors.Join(errs...)
}

func (p *Pool) check(fail func(string, ...any), inFIFO map[*Worker]bool) {
	seen := map[*Ticket]string{}
	pending := map[*hintEntry]int{}
	place := func(t *Ticket, where string) {
		if prev, dup := seen[t]; dup {
			fail("pool %q: job %d is both in %s and in %s", p.name, t.seq, prev, where)
		}
		seen[t] = where
		if t.job.Hint != "" {
			pending[t.hint]++
		}
		if p.hints[t.job.Hint] != t.hint {
			fail("pool %q: job %d points at a hint entry the pool does not hold", p.name, t.seq)
		}
	}

	if p.mainReady && len(p.backlog.entries) > 0 {
		fail("pool %q: main queue is ready but the backlog holds %d entries", p.name, len(p.backlog.entries))
	}
	if !p.mainReady && p.ready.n > 0 {
		fail("pool %q: main queue is backlog but %d workers are listed as ready", p.name, p.ready.n)
	}
	p.backlog.check(fail, p.name+" backlog")
	var connected, queuing []*Worker
	for _, name := range sortedKeys(p.workers) {
		w := p.workers[name]
		connected = append(connected, w)
		if w.local.Len() > 0 {
			queuing = append(queuing, w)
		}
	}
	if !slices.Equal(connected, p.byName) {
		fail("pool %q: the workers by name are %v, not the connected ones", p.name, workerNames(p.byName))
	}
	queued := slices.Clone(p.queuing)
	slices.SortFunc(queued, func(a, b *Worker) int { return strings.Compare(a.name, b.name) })
	if !slices.Equal(queuing, queued) {
		fail("pool %q: the workers listed as queuing are %v, not %v", p.name, workerNames(queued), workerNames(queuing))
	}
	for i, w := range p.queuing {
		if w.queuingAt != i {
			fail("pool %q: worker %q is at %d of the queuing list but thinks it is at %d", p.name, w.name, i, w.queuingAt)
		}
	}
	for _, e := range p.backlog.entries {
		t := e.t
		if t.state != TicketQueued {
			continue
		}
		place(t, "the backlog")
		if t.worker != nil || t.cost != unassigned {
			fail("pool %q: backlog job %d has worker %q and cost %v", p.name, t.seq, t.Worker(), t.cost)
		}
	}

	n := 0
	var prev *Worker
	for w := p.ready.newest; w != nil; w = w.next {
		n++
		if !w.listed || w.prev != prev {
			fail("pool %q: ready list is broken at %q", p.name, w.name)
		}
		if !w.pending {
			fail("pool %q: %q is listed as ready without a pending pop", p.name, w.name)
		}
		prev = w
		if n > p.ready.n {
			break
		}
	}
	if n != p.ready.n || p.ready.oldest != prev {
		fail("pool %q: ready list holds %d workers but counts %d", p.name, n, p.ready.n)
	}

	capacity := 0
	for name, w := range p.workers {
		capacity += w.capacity
		if w.name != name || w.record.conn != w || w.released || !w.record.known {
			fail("pool %q: connected worker %q is inconsistent with its record", p.name, name)
		}
		if w.woken && !inFIFO[w] {
			fail("pool %q: %q is marked woken but not queued to run", p.name, name)
		}
		w.local.check(fail, fmt.Sprintf("%s worker %s", p.name, name))
		workload := 0.0
		for _, e := range w.local.entries {
			t := e.t
			if t.state != TicketQueued {
				continue
			}
			place(t, "the local queue of "+name)
			workload += t.cost
			if t.worker != w || t.cost < 0 {
				fail("pool %q: job %d in %q's queue has worker %q and cost %v", p.name, t.seq, name, t.Worker(), t.cost)
			}
		}
		if w.reasons != 0 && w.local.Len() > 0 {
			fail("pool %q: inactive worker %q still has %d queued jobs", p.name, name, w.local.Len())
		}
		if math.Abs(workload-w.workload) > 1e-6*math.Max(1, math.Abs(workload)) {
			fail("pool %q: worker %q has workload %v but its queue adds up to %v", p.name, name, w.workload, workload)
		}
		for _, t := range w.running {
			if t.state != TicketRunning || t.worker != w {
				fail("pool %q: job %d listed as running on %q is %s on %q", p.name, t.seq, name, t.state, t.Worker())
			}
		}
	}
	local := 0
	for _, w := range p.workers {
		local += w.local.Len()
	}
	if local != p.localJobs {
		fail("pool %q: local queues hold %d jobs but the pool counts %d", p.name, local, p.localJobs)
	}
	if capacity != p.capacity {
		fail("pool %q: capacity is %d but connected workers add up to %d", p.name, p.capacity, capacity)
	}
	for name, rec := range p.records {
		if rec.conn != nil && p.workers[name] != rec.conn {
			fail("pool %q: record of %q points at a connection the pool does not hold", p.name, name)
		}
	}

	for name, h := range p.hints {
		if h.name != name {
			fail("pool %q: hint entry %q is filed as %q", p.name, h.name, name)
		}
		if name != "" && h.pending != pending[h] {
			fail("pool %q: hint %q counts %d pending jobs but %d are queued", p.name, name, h.pending, pending[h])
		}
		for _, rec := range h.workers {
			if _, ok := p.cached[cacheKey{h, rec}]; !ok {
				fail("pool %q: hint %q lists %q, which the cache index lacks", p.name, name, rec.name)
			}
		}
		if name != "" && h.pending == 0 && len(h.workers) == 0 {
			fail("pool %q: hint %q is kept with no pending job and no worker", p.name, name)
		}
	}
	rows := 0
	for _, h := range p.hints {
		rows += len(h.workers)
	}
	if rows != len(p.cached) {
		fail("pool %q: the cache index holds %d rows but hints list %d", p.name, len(p.cached), rows)
	}
	listed := 0
	limit := p.sched.settings.CacheLimit
	for name, rec := range p.records {
		n, last := 0, math.Inf(1)
		if rec.cache.n > 0 {
			for e := rec.cache.sentinel.next; e != &rec.cache.sentinel; e = e.next {
				n++
				if p.cached[e.key] != e || e.key.worker != rec {
					fail("pool %q: %q's cache list holds an entry the index does not", p.name, name)
				}
				if e.used > last {
					fail("pool %q: %q's cache list is not most recently used first", p.name, name)
				}
				last = e.used
			}
		}
		if n != rec.cache.n {
			fail("pool %q: %q's cache list counts %d but holds %d", p.name, name, rec.cache.n, n)
		}
		if limit > 0 && n > limit {
			fail("pool %q: %q has %d cache entries, over the bound of %d", p.name, name, n, limit)
		}
		listed += n
	}
	if listed != len(p.cached) {
		fail("pool %q: the cache index holds %d rows but the workers' lists %d", p.name, len(p.cached), listed)
	}

	if queued := uint64(len(seen)); p.stats.Submitted+p.stats.Requeued != p.stats.Cancelled+p.stats.Accepted+queued {
		fail("pool %q: %d submitted + %d re-queued but %d cancelled + %d accepted + %d queued", p.name,
			p.stats.Submitted, p.stats.Requeued, p.stats.Cancelled, p.stats.Accepted, queued)
	}
}

func (q *ticketQueue) check(fail func(string, ...any), name string) {
	dead, urgent := 0, 0
	for i := range q.entries {
		e := &q.entries[i]
		if e.t.state != TicketQueued {
			dead++
		} else if e.t.urgent {
			urgent++
		}
		if i > 0 && e.before(&q.entries[(i-1)/heapArity]) {
			fail("%s: heap order broken at %d", name, i)
		}
	}
	if dead != q.dead || urgent != q.urgent {
		fail("%s: counts %d dead and %d urgent but holds %d and %d", name, q.dead, q.urgent, dead, urgent)
	}
}

func workerNames(ws []*Worker) []string {
	out := make([]string, len(ws))
	for i, w := range ws {
		out[i] = w.name
	}
	return out
}
