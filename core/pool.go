package core

import (
	"fmt"
	"slices"
	"strings"
)

// Pool is a set of interchangeable workers and the jobs waiting for them.
//
// The main queue is in one of two modes: backlog (jobs wait, no worker is
// idle) or ready (workers wait, no job does). Each connected worker also has
// a local queue of jobs routed to it because it is expected to have their
// cache hint.
type Pool struct {
	sched  *Scheduler
	name   string
	policy Policy

	mainReady bool // the main queue is the ready list (workers wait), not the backlog
	backlog   ticketQueue
	ready     readyList

	workers map[string]*Worker // connected
	// byName are the connected workers, sorted by name.
	byName   []*Worker
	capacity int
	// localJobs counts the jobs in all local queues, so that an idle
	// worker looks for one to steal only when there is one.
	localJobs int
	// queuing are the connected workers whose local queue holds a job,
	// in no particular order (each knows its place, for O(1) removal):
	// where a steal looks, without scanning every worker.
	queuing []*Worker

	records map[string]*workerRecord
	hints   map[string]*hintEntry
	cached  map[cacheKey]*cacheEntry
	rates   map[string]float64
	clients map[string]*clientRecord

	stats PoolStats
}

// workerRecord is what the pool knows of a worker name beyond a connection:
// whether it is known (stored), whether an admin paused it, the hints it is
// stored as having, and its connection if any.
type workerRecord struct {
	name   string
	known  bool
	paused bool
	conn   *Worker
	cache  cacheList // its entries in the cache index
	// policyState is the policy's own (WorkerView.State).
	policyState any
}

// hintEntry is one cache hint: how many queued jobs carry it, and which
// workers are stored as having it cached.
type hintEntry struct {
	name    string
	pending int
	// policyState is the policy's own (PoolView.HintState).
	policyState any
	// forgotten is set once the pool stops tracking the hint; a ticket
	// still pointing here finds the hint's new entry, if any, by name.
	forgotten bool
	// workers is sorted by name, last first: a policy scanning it for the
	// least loaded worker keeps the first of equals, which is OCluster's
	// tie-break, without comparing names.
	workers []*workerRecord
}

func (h *hintEntry) addWorker(rec *workerRecord) {
	i, _ := slices.BinarySearchFunc(h.workers, rec.name, func(r *workerRecord, name string) int {
		return strings.Compare(name, r.name)
	})
	h.workers = slices.Insert(h.workers, i, rec)
}

type cacheKey struct {
	hint   *hintEntry
	worker *workerRecord
}

// clientRecord is a client as this pool instance has seen it.
type clientRecord struct {
	id string
	// policyState is the policy's own (PoolView.ClientState).
	policyState any
}

// PoolStats counts what happened in the pool since it was created.
type PoolStats struct {
	Submitted uint64
	Cancelled uint64 // cancelled while queued
	Accepted  uint64 // taken by a worker
	Requeued  uint64 // put back in the queue after losing their worker
	Stolen    uint64 // taken by an idle worker from another's local queue
}

func newPool(s *Scheduler, name string, pol Policy) *Pool {
	return &Pool{
		sched:   s,
		name:    name,
		policy:  pol,
		workers: map[string]*Worker{},
		records: map[string]*workerRecord{},
		hints:   map[string]*hintEntry{},
		cached:  map[cacheKey]*cacheEntry{},
		rates:   map[string]float64{},
		clients: map[string]*clientRecord{},
	}
}

// Name is the pool's name.
func (p *Pool) Name() string { return p.name }

// Stats returns the pool's counters.
func (p *Pool) Stats() PoolStats { return p.stats }

// Capacity is the sum of the capacities of the connected workers.
func (p *Pool) Capacity() int { return p.capacity }

// Backlog returns how many jobs wait in the main queue, and how many of
// those are urgent.
func (p *Pool) Backlog() (jobs, urgent int) { return p.backlog.Len(), p.backlog.urgent }

// ReadyWorkers is how many entries the ready list holds (stale ones too).
func (p *Pool) ReadyWorkers() int { return p.ready.n }

func (p *Pool) record(name string) *workerRecord {
	r := p.records[name]
	if r == nil {
		r = &workerRecord{name: name}
		p.records[name] = r
	}
	return r
}

func (p *Pool) hint(name string) *hintEntry {
	h := p.hints[name]
	if h == nil {
		h = &hintEntry{name: name}
		p.hints[name] = h
	}
	return h
}

// client returns the client's record, making it known.
func (p *Pool) client(id string) *clientRecord {
	c := p.clients[id]
	if c == nil {
		c = &clientRecord{id: id}
		p.clients[id] = c
	}
	return c
}

// Register connects a worker. It starts inactive (paused by itself, and by
// the admin if that is stored) until it calls SetActive(true).
func (p *Pool) Register(name string, capacity int) (*Worker, error) {
	if name == "" {
		return nil, fmt.Errorf("register in pool %q: %w", p.name, ErrEmptyWorkerName)
	}
	if capacity < 0 || capacity > MaxCapacity {
		return nil, fmt.Errorf("register %q with capacity %d: %w", name, capacity, ErrInvalidCapacity)
	}
	rec := p.record(name)
	if rec.conn != nil {
		return nil, fmt.Errorf("register %q in pool %q: %w", name, p.name, ErrNameTaken)
	}
	p.setKnown(rec)
	w := &Worker{pool: p, record: rec, name: name, capacity: capacity, reasons: ReasonWorker, lastSeen: p.sched.now()}
	if rec.paused {
		w.reasons |= ReasonAdmin
	}
	rec.conn = w
	p.workers[name] = w
	i, _ := slices.BinarySearchFunc(p.byName, name, compareName)
	p.byName = slices.Insert(p.byName, i, w)
	p.capacity += capacity
	return w, nil
}

func (p *Pool) setKnown(rec *workerRecord) {
	if !rec.known {
		rec.known = true
		p.sched.report(Change{Kind: WorkerKnown, Pool: p.name, Worker: rec.name})
	}
}

// Worker returns the connected worker of that name, or nil.
func (p *Pool) Worker(name string) *Worker { return p.workers[name] }

// Workers returns the connected workers sorted by name.
func (p *Pool) Workers() []*Worker { return slices.Clone(p.byName) }

// WorkerInfo is a known worker as the admin sees it.
type WorkerInfo struct {
	Name      string
	Active    bool
	Connected bool
}

// KnownWorkers lists the stored workers, sorted by name.
func (p *Pool) KnownWorkers() []WorkerInfo {
	var out []WorkerInfo
	for _, rec := range p.sortedRecords() {
		if !rec.known {
			continue
		}
		info := WorkerInfo{Name: rec.name, Active: !rec.paused}
		if rec.conn != nil {
			info.Connected = true
			info.Active = rec.conn.Active()
		}
		out = append(out, info)
	}
	return out
}

func (p *Pool) sortedRecords() []*workerRecord {
	out := make([]*workerRecord, 0, len(p.records))
	for _, r := range p.records {
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b *workerRecord) int { return strings.Compare(a.name, b.name) })
	return out
}

// Touch makes a client known to the pool at the current time, as its first
// submission would.
func (p *Pool) Touch(clientID string) error {
	if clientID == "" {
		return fmt.Errorf("client in pool %q: %w", p.name, ErrEmptyClientID)
	}
	p.client(clientID)
	return nil
}

// Rate is the client's stored rate in this pool (1 unless set).
func (p *Pool) Rate(clientID string) float64 {
	if r, ok := p.rates[clientID]; ok {
		return r
	}
	return 1
}

// MaxCapacity bounds the jobs one worker may run at once: far beyond any
// machine, and small enough that a count of slots never overflows.
const MaxCapacity = 1 << 20

// The rates a client may be given. Shares far outside these make the
// policies' fair-start arithmetic lose its precision (a rate of 1e-320
// gives infinite costs) and mean nothing to an operator.
const (
	MinRate = 1e-6
	MaxRate = 1e6
)

// SetRate stores the client's rate: roughly how many jobs it expects to run
// at once when others compete. It applies to later submissions, and makes
// the client known like Touch.
func (p *Pool) SetRate(clientID string, rate float64) error {
	if clientID == "" {
		return fmt.Errorf("set rate in pool %q: %w", p.name, ErrEmptyClientID)
	}
	if !(rate >= MinRate && rate <= MaxRate) {
		return fmt.Errorf("set rate of %q to %v: %w", clientID, rate, ErrInvalidRate)
	}
	p.client(clientID)
	if old, ok := p.rates[clientID]; !ok || old != rate {
		p.rates[clientID] = rate
		p.sched.report(Change{Kind: RateSet, Pool: p.name, Client: clientID, Rate: rate})
	}
	return nil
}

func (p *Pool) removeClient(id string) {
	if _, ok := p.rates[id]; ok {
		delete(p.rates, id)
		p.sched.report(Change{Kind: RateRemoved, Pool: p.name, Client: id})
	}
	delete(p.clients, id)
}

// Submit queues a job for the client. Urgent jobs go before all others.
func (p *Pool) Submit(clientID string, job Job, urgent bool) (*Ticket, error) {
	if clientID == "" {
		return nil, fmt.Errorf("submit to pool %q: %w", p.name, ErrEmptyClientID)
	}
	s := p.sched
	c := p.client(clientID)
	h := p.hint(job.Hint)
	pendingBefore := h.pending
	if job.Hint != "" {
		h.pending++
	}
	s.seq++
	t := &Ticket{
		job:       job,
		pool:      p,
		client:    c,
		hint:      h,
		seq:       s.seq,
		urgent:    urgent,
		cost:      unassigned,
		submitted: s.now(),
	}
	cost := p.submitCost(t, pendingBefore)
	t.fairStart = p.fairStart(t, cost, p.Rate(clientID))
	p.stats.Submitted++
	p.add(t)
	return t, nil
}

// add places a ticket that is in no queue: on the backlog when jobs already
// wait, else on a worker that has its hint cached, else on the worker that
// has waited longest.
func (p *Pool) add(t *Ticket) {
	for {
		if !p.mainReady {
			t.worker = nil
			p.backlog.push(t)
			return
		}
		if p.ready.empty() {
			p.mainReady = false
			continue
		}
		if p.assignPreferred(t) {
			return
		}
		w := p.ready.takeOldest()
		if !w.Active() {
			continue // a stale entry
		}
		// OCluster stores the hint as cached on the worker as it hands
		// it the job, before the worker has run it.
		cached := p.markCached(t.hint, w)
		p.enqueue(w, t, p.placementCost(t, w, false), cached)
		p.sched.wake(w)
		return
	}
}

func (p *Pool) assignPreferred(t *Ticket) bool {
	w := p.prefer(t)
	if w == nil {
		return false
	}
	p.enqueue(w, t, p.placementCost(t, w, true), true)
	p.sched.wake(w)
	return true
}

// enqueue puts t in w's local queue; cached says whether w was stored as
// having t's hint before this placement.
func (p *Pool) enqueue(w *Worker, t *Ticket, cost float64, cached bool) {
	t.cost = cost
	t.worker = w
	t.wasCached = cached && t.job.Hint != ""
	w.workload += cost
	w.local.push(t)
	p.localJobs++
	if w.local.Len() == 1 {
		w.queuingAt = len(p.queuing)
		p.queuing = append(p.queuing, w)
	}
}

// unlistQueuing takes w, whose local queue has emptied, out of queuing.
func (p *Pool) unlistQueuing(w *Worker) {
	last := len(p.queuing) - 1
	moved := p.queuing[last]
	p.queuing[w.queuingAt] = moved
	moved.queuingAt = w.queuingAt
	p.queuing[last] = nil
	p.queuing = p.queuing[:last]
}

func compareName(w *Worker, name string) int { return strings.Compare(w.name, name) }

// unlist takes w out of a list of workers sorted by name.
func unlist(list []*Worker, w *Worker) []*Worker {
	if i, found := slices.BinarySearchFunc(list, w.name, compareName); found && list[i] == w {
		return slices.Delete(list, i, i+1)
	}
	return list
}

// unqueue takes t, the top of w's local queue, out of it.
func (p *Pool) unqueue(w *Worker) *Ticket {
	t := w.local.pop()
	if t != nil {
		w.workload -= t.cost
		p.localJobs--
		if w.local.Len() == 0 {
			p.unlistQueuing(w)
		}
	}
	return t
}

// runPop is the body of a pop: take from the local queue, else wait in the
// ready list, else route backlog jobs to their preferred workers until one
// is left for this worker.
func (p *Pool) runPop(w *Worker) (*Ticket, error) {
	w.lastSeen = p.sched.now()
	for {
		if w.released {
			return nil, fmt.Errorf("pop for %q: %w", w.name, ErrWorkerReleased)
		}
		if w.reasons != 0 {
			w.pending = true
			return nil, nil
		}
		if t := p.unqueue(w); t != nil {
			p.markCached(t.hint, w)
			p.take(w, t)
			return t, nil
		}
		if p.sched.settings.Steal && p.localJobs > 0 && (p.mainReady || p.backlog.Len() == 0) {
			if v := p.steal(w); v != nil {
				t := p.unqueue(v)
				t.wasCached = p.markCached(t.hint, w) && t.job.Hint != ""
				p.stats.Stolen++
				p.take(w, t)
				return t, nil
			}
		}
		if p.mainReady {
			p.ready.pushNewest(w)
			w.pending = true
			return nil, nil
		}
		t := p.backlog.pop()
		if t == nil {
			p.mainReady = true
			continue
		}
		if p.assignPreferred(t) {
			continue
		}
		t.wasCached = p.markCached(t.hint, w) && t.job.Hint != ""
		p.take(w, t)
		return t, nil
	}
}

// take starts t on w; the caller has stored w as having t's hint.
func (p *Pool) take(w *Worker, t *Ticket) {
	t.state = TicketRunning
	t.worker = w
	t.cost = unassigned
	t.started = p.sched.now()
	t.attempts++
	p.policy.Started(PoolView{p}, t)
	w.running = append(w.running, t)
	p.stats.Accepted++
	p.decPending(t)
}

func (p *Pool) decPending(t *Ticket) {
	if t.job.Hint == "" {
		return
	}
	h := t.hint
	h.pending--
	if h.pending == 0 && len(h.workers) == 0 {
		p.forgetHint(h)
	}
}

// Cancel removes a queued job. It fails with ErrNotQueued once a worker has
// taken the job (the driver then cancels it on the worker) or once it was
// cancelled.
func (p *Pool) Cancel(t *Ticket) error {
	if t == nil || t.pool != p {
		return fmt.Errorf("cancel in pool %q: %w", p.name, ErrUnknownTicket)
	}
	if t.state != TicketQueued {
		return fmt.Errorf("cancel job %d (%s): %w", t.seq, t.state, ErrNotQueued)
	}
	t.state = TicketCancelled
	if w := t.worker; w != nil {
		w.workload -= t.cost
		w.local.forget(t)
		p.localJobs--
		if w.local.Len() == 0 {
			p.unlistQueuing(w)
		}
	} else {
		p.backlog.forget(t)
	}
	p.decPending(t)
	p.stats.Cancelled++
	return nil
}

// setActive removes (active) or adds (!active) one inactive reason.
func (p *Pool) setActive(w *Worker, reason Reasons, active bool) {
	if !active {
		p.setInactive(w, reason)
		return
	}
	if w.reasons&reason == 0 {
		return
	}
	w.reasons &^= reason
	if w.reasons == 0 {
		p.sched.wake(w)
	}
}

// setInactive adds a reason; a worker that was active gives its local queue
// back to the pool, best job first, and its waiting pop is woken (to wait
// for activation instead).
func (p *Pool) setInactive(w *Worker, reason Reasons) {
	if w.reasons != 0 {
		w.reasons |= reason
		return
	}
	w.reasons = reason
	for t := p.unqueue(w); t != nil; t = p.unqueue(w) {
		t.cost = unassigned
		p.add(t)
	}
	p.sched.wake(w)
}

// SetAdminPause pauses or unpauses a worker on the admin's behalf; the flag
// is stored, so it also applies to a known worker that is not connected
// (when it next registers). An unknown worker is an error unless autoCreate
// is set, which makes it known.
func (p *Pool) SetAdminPause(name string, paused, autoCreate bool) error {
	if name == "" {
		return fmt.Errorf("pause in pool %q: %w", p.name, ErrEmptyWorkerName)
	}
	rec := p.records[name]
	if rec == nil || !rec.known {
		if !autoCreate {
			return fmt.Errorf("pause %q in pool %q: %w", name, p.name, ErrUnknownWorker)
		}
		rec = p.record(name)
		p.setKnown(rec)
	}
	if rec.paused != paused {
		rec.paused = paused
		p.sched.report(Change{Kind: WorkerPaused, Pool: p.name, Worker: name, Paused: paused})
	}
	if w := rec.conn; w != nil {
		p.setActive(w, ReasonAdmin, !paused)
	}
	return nil
}

// AdminPaused reports whether the admin pause of the worker is stored.
func (p *Pool) AdminPaused(name string) bool {
	rec := p.records[name]
	return rec != nil && rec.paused
}

// Known reports whether the worker name is stored in this pool.
func (p *Pool) Known(name string) bool {
	rec := p.records[name]
	return rec != nil && rec.known
}

// Forget deletes a disconnected worker's stored record (its cache entries
// stay).
func (p *Pool) Forget(name string) error {
	rec := p.records[name]
	if rec == nil || !rec.known {
		return fmt.Errorf("forget %q in pool %q: %w", name, p.name, ErrUnknownWorker)
	}
	if rec.conn != nil {
		return fmt.Errorf("forget %q in pool %q: %w", name, p.name, ErrStillConnected)
	}
	rec.known = false
	rec.paused = false
	p.sched.report(Change{Kind: WorkerForgotten, Pool: p.name, Worker: name})
	return nil
}
