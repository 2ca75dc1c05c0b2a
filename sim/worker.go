package sim

import (
	"fmt"
	"math/rand/v2"

	"github.com/ocluster-go/ocluster/core"
	"github.com/ocluster-go/ocluster/trace"
)

// simWorker is a synthetic worker: it pulls jobs from the core exactly as
// a real worker does (one pop at a time while it has a free slot) and
// "runs" them for a time drawn from its duration distributions.
type simWorker struct {
	idx      int
	name     string
	pool     *simPool
	spec     *WorkerSpec
	failures *failureClock // nil without random failures
	failure  failure       // the next one
	capacity int
	cache    *hintCache

	online   bool // the process is alive
	conn     *core.Worker
	popping  bool
	inUse    int    // busy slots: active and orphaned runs
	active   int    // runs whose results still count
	epoch    uint32 // bumped by a crash: older runs died with the process
	draining bool
	downFor  float64 // how long a drained worker stays away
	orphans  []int32 // runs lost with a connection that still hold slots
	// hung is set while the process is stopped; frozen holds its runs'
	// remaining times until it goes on.
	hung   bool
	frozen []frozenRun
}

type frozenRun struct {
	run       int32
	remaining float64
}

func newSimWorker(name string, p *simPool, spec *WorkerSpec, rng *rand.Rand) *simWorker {
	w := &simWorker{
		name: name, pool: p, spec: spec,
		capacity: spec.Capacity, cache: newHintCache(spec.Cache),
	}
	if spec.Failures != nil {
		w.failures = newFailureClock(spec, rng)
		w.failure = w.failures.next()
	}
	return w
}

func (s *simulation) workerEvent(w *simWorker, kind uint8, forSeconds float64) {
	switch kind {
	case evJoin, evRestart:
		w.online = true
		s.connect(w)
	case evReconnect:
		if w.online && !w.hung {
			s.connect(w)
		}
	case evDisconnect:
		if w.conn != nil {
			s.disconnect(w, false)
			if forSeconds > 0 {
				s.later(w, forSeconds, evReconnect)
			}
		}
	case evCrash:
		if w.online {
			s.crash(w)
			if forSeconds > 0 {
				s.later(w, forSeconds, evRestart)
			}
		}
	case evPause:
		s.adminPause(w, true)
		if forSeconds > 0 {
			s.later(w, forSeconds, evUnpause)
		}
	case evUnpause:
		s.adminPause(w, false)
	case evForcePause:
		s.adminPause(w, true)
		s.moveRunning(w)
		if forSeconds > 0 {
			s.later(w, forSeconds, evUnpause)
		}
	case evHang:
		if w.online && !w.hung {
			s.hang(w)
			s.later(w, forSeconds, evUnhang)
		}
	case evUnhang:
		s.unhang(w)
	case evPrune:
		s.prune(w)
	case evDrain:
		s.adminPause(w, true)
		w.draining = true
		w.downFor = forSeconds
		s.checkDrained(w)
	case evFailure:
		down := w.failure.down
		switch {
		case w.spec.Failures.Kind == "crash" && w.online:
			s.crash(w)
			s.later(w, down, evRestart)
		case w.spec.Failures.Kind == "disconnect" && w.conn != nil:
			s.disconnect(w, false)
			s.later(w, down, evReconnect)
		}
		w.failure = w.failures.next()
		s.q.push(event{at: w.failure.at, class: classWorker, kind: evFailure, key: uint64(w.idx)})
	}
}

func (s *simulation) later(w *simWorker, after float64, kind uint8) {
	s.q.push(event{at: s.now + after, class: classWorker, kind: kind, key: uint64(w.idx)})
}

func (s *simulation) connect(w *simWorker) {
	if w.conn != nil {
		return
	}
	c, err := w.pool.core.Register(w.name, w.capacity)
	if err != nil {
		panic(fmt.Sprintf("register %s: %v", w.name, err))
	}
	c.SetPayload(w)
	w.conn = c
	s.metrics.connected(s, w, true)
	s.record(trace.Event{Kind: trace.Register, Pool: w.pool.name, Worker: w.name, Capacity: w.capacity, Cache: w.spec.Cache})
	if err := c.SetActive(true); err != nil {
		panic(err)
	}
	s.fill(w)
}

// disconnect drops the worker's connection: its running jobs fail (the
// client sees an error) but their builds go on holding slots until they
// would have ended, as OCluster's workers do. crash says, for the trace,
// that the builds die too.
func (s *simulation) disconnect(w *simWorker, crash bool) {
	c := w.conn
	lost := c.Release()
	w.conn = nil
	w.popping = false
	s.metrics.connected(s, w, false)
	for _, t := range lost {
		j := t.Job().Payload.(*job)
		r := &s.runs[j.run]
		r.state = runOrphaned
		w.active--
		w.orphans = append(w.orphans, j.run)
		if c.Requeue(t, true) == nil {
			s.requeued(j, r)
			continue
		}
		if err := c.Finish(t); err != nil {
			panic(err)
		}
		s.record(trace.Event{Kind: trace.Finish, Pool: w.pool.name, Job: j.id, Worker: w.name, Outcome: trace.OutcomeFailed, Duration: s.now - r.start, Planned: r.duration})
		s.jobDone(j, jobFailed)
	}
	s.record(trace.Event{Kind: trace.Release, Pool: w.pool.name, Worker: w.name, Crash: crash})
}

// requeued records that the core put j, whose run r was lost, back in
// its queue.
func (s *simulation) requeued(j *job, r *run) {
	j.state = jobQueued
	j.retries++
	s.queued(j, +1)
	s.record(trace.Event{Kind: trace.Finish, Pool: r.worker.pool.name, Job: j.id, Worker: r.worker.name, Outcome: trace.OutcomeRequeued, Duration: s.now - r.start, Planned: r.duration})
}

// moveRunning stops the builds of a connected worker and puts their jobs
// back in the queue, as the admin's pause --force does; the moves do not
// count against the jobs' attempts.
func (s *simulation) moveRunning(w *simWorker) {
	if w.conn == nil {
		return
	}
	for _, t := range w.conn.Running() {
		j := t.Job().Payload.(*job)
		r := &s.runs[j.run]
		s.stopRun(r)
		if err := w.conn.Requeue(t, false); err != nil {
			panic(fmt.Sprintf("forced re-queue: %v", err))
		}
		s.requeued(j, r)
	}
	s.fill(w)
	s.checkDrained(w)
}

// hang stops the worker's process: its runs freeze where they are.
func (s *simulation) hang(w *simWorker) {
	w.hung = true
	var runs []int32
	if w.conn != nil {
		for _, t := range w.conn.Running() {
			runs = append(runs, t.Job().Payload.(*job).run)
		}
	}
	for _, ri := range append(runs, w.orphans...) {
		r := &s.runs[ri]
		w.frozen = append(w.frozen, frozenRun{ri, r.start + r.duration - s.now})
	}
	// Their finish events are of the old epoch and will be ignored.
	w.epoch++
	for _, f := range w.frozen {
		s.runs[f.run].epoch = w.epoch
	}
	w.epoch++
}

// unhang lets the process go on: its runs end as much later as it was
// stopped, and a worker the scheduler gave up on connects again.
func (s *simulation) unhang(w *simWorker) {
	if !w.hung {
		return
	}
	w.hung = false
	for _, f := range w.frozen {
		r := &s.runs[f.run]
		if r.state == runStopped {
			continue
		}
		r.epoch = w.epoch
		r.duration = s.now + f.remaining - r.start
		s.q.push(event{at: s.now + f.remaining, class: classFinish, kind: evFinish, key: r.job.id, arg: int64(f.run)})
	}
	w.frozen = w.frozen[:0]
	switch {
	case w.conn == nil:
		if w.online && !w.draining {
			s.connect(w)
		}
	case w.conn.PopPending():
		s.resume(w, w.conn)
	default:
		s.fill(w)
	}
}

// prune empties a connected worker's cache, which it reports.
func (s *simulation) prune(w *simWorker) {
	if w.conn == nil {
		return
	}
	w.cache = newHintCache(w.spec.Cache)
	w.conn.Pruned(nil)
	s.record(trace.Event{Kind: trace.Prune, Pool: w.pool.name, Worker: w.name})
}

// checkLeases is the scheduler's periodic ping: every worker that is not
// hung answers, renewing its lease, and those whose lease ran out are
// dropped as lost (by act).
func (s *simulation) checkLeases() {
	for _, w := range s.workers {
		if w.conn != nil && !w.hung {
			w.conn.Heartbeat(s.now)
		}
	}
	s.sched.CheckLeases()
}

// crash kills the worker process with everything it was running.
func (s *simulation) crash(w *simWorker) {
	if w.conn != nil {
		s.disconnect(w, true)
	}
	for _, ri := range w.orphans {
		r := &s.runs[ri]
		r.state = runStopped
		s.metrics.slotFreed(s, r)
	}
	w.orphans = w.orphans[:0]
	w.inUse = 0
	w.epoch++
	w.online = false
	w.hung = false
	w.frozen = w.frozen[:0]
}

func (s *simulation) adminPause(w *simWorker, paused bool) {
	if err := w.pool.core.SetAdminPause(w.name, paused, true); err != nil {
		panic(err)
	}
	kind := trace.Unpause
	if paused {
		kind = trace.Pause
	}
	s.record(trace.Event{Kind: kind, Pool: w.pool.name, Worker: w.name})
}

// checkDrained lets a draining worker leave once its jobs are done.
func (s *simulation) checkDrained(w *simWorker) {
	if !w.draining || w.active > 0 {
		return
	}
	w.draining = false
	if w.conn != nil {
		s.disconnect(w, false)
	}
	if w.downFor > 0 {
		s.q.push(event{at: s.now + w.downFor, class: classWorker, kind: evUnpause, key: uint64(w.idx)})
		s.q.push(event{at: s.now + w.downFor, class: classWorker, kind: evReconnect, key: uint64(w.idx)})
	}
}
