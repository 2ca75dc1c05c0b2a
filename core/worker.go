package core

import (
	"fmt"
	"slices"
	"strings"
)

// Reasons is the set of reasons a connected worker is inactive. A worker is
// active only when the set is empty.
type Reasons uint8

const (
	// ReasonWorker: the worker paused itself (every worker starts so).
	ReasonWorker Reasons = 1 << iota
	// ReasonAdmin: an administrator paused it; this one is stored.
	ReasonAdmin
	// ReasonShutdown: it is shutting down, e.g. for an update; nothing clears it.
	ReasonShutdown
)

func (r Reasons) String() string {
	if r == 0 {
		return "active"
	}
	var parts []string
	for _, x := range []struct {
		bit  Reasons
		text string
	}{{ReasonWorker, "worker pause"}, {ReasonAdmin, "admin pause"}, {ReasonShutdown, "shutting down"}} {
		if r&x.bit != 0 {
			parts = append(parts, x.text)
		}
	}
	return strings.Join(parts, ", ")
}

// Worker is one connection of a worker to a pool, from Register to Release.
// A worker that reconnects gets a new Worker.
type Worker struct {
	pool     *Pool
	record   *workerRecord
	name     string
	capacity int
	reasons  Reasons
	released bool
	local    ticketQueue
	workload float64 // sum of the costs of the tickets in local
	running  []*Ticket
	// lastSeen is the last sign of life: registration, a pop, a finish or
	// a heartbeat.
	lastSeen float64

	// A pop is pending when it had to wait; woken when something it waits
	// for has happened and the driver should resume it.
	pending bool
	woken   bool

	// queuingAt is its place in the pool's queuing list, while its local
	// queue holds a job.
	queuingAt int

	// Links in the pool's ready list, newest towards prev.
	listed     bool
	prev, next *Worker

	payload any
}

// Payload is the driver's own value set with SetPayload; the core never
// looks at it.
func (w *Worker) Payload() any { return w.payload }

// SetPayload attaches the driver's own value to the worker.
func (w *Worker) SetPayload(v any) { w.payload = v }

// Name is the worker's name.
func (w *Worker) Name() string { return w.name }

// Pool is the name of the worker's pool.
func (w *Worker) Pool() string { return w.pool.name }

// Capacity is how many jobs the worker said it runs at once.
func (w *Worker) Capacity() int { return w.capacity }

// Reasons is why the worker is inactive (empty when active).
func (w *Worker) Reasons() Reasons { return w.reasons }

// Active reports whether the worker may be given jobs.
func (w *Worker) Active() bool { return !w.released && w.reasons == 0 }

// Released reports whether the worker's connection has been released.
func (w *Worker) Released() bool { return w.released }

// Workload is the estimated cost of the jobs queued for this worker.
func (w *Worker) Workload() float64 { return w.workload }

// Queued returns how many jobs wait in the worker's local queue, and how
// many of those are urgent.
func (w *Worker) Queued() (jobs, urgent int) { return w.local.Len(), w.local.urgent }

// Running returns the jobs the worker has taken and not yet finished, in the
// order it took them.
func (w *Worker) Running() []*Ticket { return append([]*Ticket(nil), w.running...) }

// PopPending reports whether the worker's pop is waiting.
func (w *Worker) PopPending() bool { return w.pending }

// Pop asks for the worker's next job. It returns the job, or nil and no
// error when the pop must wait: the pop is then pending, and once something
// it waits for happens the worker comes in Scheduler.Ready's Woken and the
// driver calls Resume. A released worker's pop fails with ErrWorkerReleased.
func (w *Worker) Pop() (*Ticket, error) {
	if w.pending {
		return nil, fmt.Errorf("pop for %q: %w", w.name, ErrPopPending)
	}
	return w.pool.runPop(w)
}

// Resume runs a pending pop again after the worker was woken, with the same
// results as Pop. Resuming a worker whose pop is not pending does nothing.
func (w *Worker) Resume() (*Ticket, error) {
	if !w.pending {
		return nil, nil
	}
	w.pending = false
	w.woken = false
	w.pool.ready.remove(w)
	return w.pool.runPop(w)
}

// Finish records that the worker finished t, one of its running jobs.
func (w *Worker) Finish(t *Ticket) error {
	if err := w.unrun(t, "finish"); err != nil {
		return err
	}
	t.state = TicketFinished
	if !w.released {
		w.lastSeen = w.pool.sched.now()
	}
	w.pool.policy.Finished(PoolView{w.pool}, t, w.pool.sched.now()-t.started)
	return nil
}

// Requeue puts t, a job the worker was running, back in the pool with its
// fair start and submission order, so that it keeps its place ahead of
// later jobs. A job lost with its worker (counted) may come back until it
// has been taken Settings.MaxAttempts times; after that Requeue fails with
// ErrNoAttemptsLeft and t stays running here for the driver to finish as
// failed. A job moved off a worker that is fine (an admin's forced pause)
// is not counted against its attempts.
func (w *Worker) Requeue(t *Ticket, counted bool) error {
	p := w.pool
	if counted && t.attempts >= p.sched.settings.MaxAttempts {
		return fmt.Errorf("re-queue job %d after %d attempts: %w", t.seq, t.attempts, ErrNoAttemptsLeft)
	}
	if err := w.unrun(t, "re-queue"); err != nil {
		return err
	}
	if !counted {
		t.attempts--
	}
	t.state = TicketQueued
	t.worker = nil
	t.wasCached = false
	t.hint = p.hint(t.job.Hint)
	if t.job.Hint != "" {
		t.hint.pending++
	}
	p.stats.Requeued++
	p.policy.Lost(PoolView{p}, t)
	p.add(t)
	return nil
}

func (w *Worker) unrun(t *Ticket, what string) error {
	if len(w.running) == 0 {
		return fmt.Errorf("%s on %q: %w", what, w.name, ErrNothingRunning)
	}
	i := slices.Index(w.running, t)
	if i < 0 {
		return fmt.Errorf("%s job %d on %q: %w", what, t.seq, w.name, ErrNotRunning)
	}
	w.running = slices.Delete(w.running, i, i+1)
	return nil
}

// Heartbeat records a sign of life from the worker at time at, which
// renews its lease: a driver that pings passes when it sent the ping the
// worker answered, so that a lease runs from the same instant however
// long the answer took.
func (w *Worker) Heartbeat(at float64) {
	if !w.released {
		w.lastSeen = max(w.lastSeen, at)
	}
}

// SetActive pauses (false) or resumes (true) the worker on its own behalf.
// It is the "worker pause" reason; an admin pause is set through the pool.
func (w *Worker) SetActive(active bool) error {
	if w.released {
		return fmt.Errorf("set active on %q: %w", w.name, ErrWorkerReleased)
	}
	w.pool.setActive(w, ReasonWorker, active)
	return nil
}

// Shutdown marks the worker as shutting down: it gets no more jobs, and
// nothing makes it active again.
func (w *Worker) Shutdown() error {
	if w.released {
		return fmt.Errorf("shutdown of %q: %w", w.name, ErrWorkerReleased)
	}
	w.pool.setActive(w, ReasonShutdown, false)
	return nil
}

// Release disconnects the worker: its queued jobs go back to the pool, its
// pending pop is woken (to fail with ErrWorkerReleased) and it leaves the
// pool. The jobs it was running stay recorded as running on it until the
// driver finishes them; they are returned so the driver can fail them.
// Releasing twice does nothing.
func (w *Worker) Release() []*Ticket {
	if w.released {
		return nil
	}
	p := w.pool
	p.setActive(w, ReasonWorker, false)
	w.released = true
	delete(p.workers, w.name)
	p.byName = unlist(p.byName, w)
	w.record.conn = nil
	p.capacity -= w.capacity
	p.sched.wake(w)
	return w.Running()
}

// readyList holds the workers whose pops wait for work, oldest at the tail.
// Entries can go stale (the worker became inactive or left) and are skipped
// when taken; a worker leaves the list when a job is handed to it or when
// its pop runs again.
type readyList struct {
	newest, oldest *Worker
	n              int
}

func (l *readyList) empty() bool { return l.n == 0 }

func (l *readyList) pushNewest(w *Worker) {
	w.listed = true
	w.prev = nil
	w.next = l.newest
	if l.newest != nil {
		l.newest.prev = w
	} else {
		l.oldest = w
	}
	l.newest = w
	l.n++
}

func (l *readyList) takeOldest() *Worker {
	w := l.oldest
	if w != nil {
		l.remove(w)
	}
	return w
}

func (l *readyList) remove(w *Worker) {
	if !w.listed {
		return
	}
	if w.prev != nil {
		w.prev.next = w.next
	} else {
		l.newest = w.next
	}
	if w.next != nil {
		w.next.prev = w.prev
	} else {
		l.oldest = w.prev
	}
	w.prev, w.next, w.listed = nil, nil, false
	l.n--
}
