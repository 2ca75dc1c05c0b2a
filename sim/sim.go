package sim

import (
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"slices"
	"strings"

	"github.com/ocluster-go/ocluster/core"
	"github.com/ocluster-go/ocluster/trace"
)

// Options tune one run.
type Options struct {
	// Policy names the core policy; empty means the core's default.
	Policy string
	// Override replaces some of the policy's settings.
	Override core.Override
	// Seed selects the run: the same scenario, policy and seed give the
	// same result, byte for byte.
	Seed uint64
	// Check runs the core's CheckInvariants after every event (slow; for
	// debugging and tests).
	Check bool
	// Trace, when set, records the run in the trace format.
	Trace *trace.Writer
	// Progress, when set, is called now and then with the simulated time
	// reached and the time arrivals stop.
	Progress func(now, end float64)
}

// Event kinds.
const (
	evFinish uint8 = iota
	evJoin
	evDisconnect
	evReconnect
	evCrash
	evRestart
	evPause
	evUnpause
	evDrain
	evForcePause
	evHang
	evUnhang
	evPrune
	evLease
	evFailure
	evHead
	evArrival
	evCancel
	evSample
)

type simPool struct {
	idx     int
	name    string
	core    *core.Pool
	clients []*clientState
	queued  int
}

// job is one generated job.
type job struct {
	id         uint64
	stream     *stream
	batch      int
	seed       jobSeed
	ticket     *core.Ticket
	state      jobState
	run        int32 // current run, -1 before any
	submitted  float64
	firstStart float64 // -1 until it first starts
	started    float64
	ended      float64
	service    float64 // duration of its last run
	cached     bool
	retries    int    // times it went back to the queue
	traceID    uint64 // the job's id in the trace it is replayed from
}

type jobState uint8

const (
	jobQueued jobState = iota
	jobRunning
	jobOK
	jobFailed
	jobCancelled
)

// run is one execution of a job on a worker.
type run struct {
	job      *job
	worker   *simWorker
	epoch    uint32
	state    runState
	start    float64
	duration float64 // planned; recorded as is so that a replay ends it at the same instant
}

type runState uint8

const (
	runActive   runState = iota // its result goes to the job
	runOrphaned                 // the connection dropped; it only holds a slot
	runStopped
)

type simulation struct {
	sc    *Scenario
	opts  Options
	now   float64
	end   float64 // arrivals stop
	limit float64 // the run stops
	q     eventQueue
	sched *core.Scheduler

	pools   []*simPool
	workers []*simWorker
	byName  map[[2]string]*simWorker // by pool and name
	streams []*stream
	spaces  []*hintSpaceState
	jobs    []*job
	runs    []run

	live         int // jobs not yet done
	liveStreams  int
	events       uint64
	metrics      *collector
	costs        core.Costs
	traceErr     error
	defaultDists [2]Dist // uncached, cached
	replay       *replaySource
}

// Run simulates the scenario once.
func Run(sc *Scenario, opts Options) (*Result, error) {
	return simulate(sc, opts, nil)
}

// simulate runs a simulation to its end, generating the scenario's jobs
// or, with replay, the recorded ones: Run and Replay differ only there.
func simulate(sc *Scenario, opts Options, replay *replaySource) (*Result, error) {
	s, err := newSimulation(sc, opts, replay)
	if err != nil {
		return nil, err
	}
	if err := s.loop(); err != nil {
		return nil, err
	}
	if s.traceErr != nil {
		return nil, fmt.Errorf("recording the trace: %w", s.traceErr)
	}
	return s.metrics.result(s), nil
}

// TraceHeader is the header of a trace recording a run of sc.
func TraceHeader(sc *Scenario, policy string, seed uint64) trace.Header {
	h := trace.Header{Source: "ocluster-sim", Scenario: sc.Name, Policy: policy, Seed: seed,
		Sample: sc.Sample.Seconds(), Window: sc.Window.Seconds()}
	for _, p := range sc.Pools {
		h.Pools = append(h.Pools, p.Name)
	}
	return h
}

// derive makes an independent random source for one component of the run,
// named by what and i.
func derive(seed uint64, what string, i int) *rand.Rand {
	h := fnv.New64a()
	fmt.Fprintf(h, "%s/%d", what, i)
	return rand.New(rand.NewPCG(seed, h.Sum64()))
}

func newSimulation(sc *Scenario, opts Options, replay *replaySource) (*simulation, error) {
	s := &simulation{sc: sc, opts: opts, replay: replay, byName: map[[2]string]*simWorker{}}
	s.end = sc.Duration.Seconds()
	s.limit = s.end + sc.Drain.Seconds()
	s.costs = sc.SchedulerCosts()
	s.defaultDists = defaultDists(sc)
	var poolNames []string
	for _, p := range sc.Pools {
		poolNames = append(poolNames, p.Name)
	}
	sched, err := core.New(core.Config{Pools: poolNames, Policy: opts.Policy, Override: opts.Override, Costs: s.costs, Oracle: s, Clock: func() float64 { return s.now }}, nil)
	if err != nil {
		return nil, err
	}
	s.sched = sched
	s.metrics = newCollector(sc)

	spaces := map[string]*hintSpaceState{}
	for i := range sc.HintSpaces {
		hs := &hintSpaceState{spec: &sc.HintSpaces[i]}
		spaces[hs.spec.Name] = hs
		s.spaces = append(s.spaces, hs)
		if hs.spec.HeadFirst > 0 || hs.spec.HeadEvery > 0 {
			first := hs.spec.HeadFirst.Seconds()
			if first == 0 {
				first = hs.spec.HeadEvery.Seconds()
			}
			s.q.push(event{at: first, class: classArrival, kind: evHead, key: uint64(i)})
		}
	}
	for pi := range sc.Pools {
		ps := &sc.Pools[pi]
		cp, _ := sched.Pool(ps.Name)
		p := &simPool{idx: pi, name: ps.Name, core: cp}
		s.pools = append(s.pools, p)
		var workers []*simWorker
		for wi := range ps.Workers {
			for _, name := range ps.Workers[wi].Names() {
				workers = append(workers, newSimWorker(name, p, &ps.Workers[wi], workerRand(opts.Seed, p.name, name)))
			}
		}
		// Workers are ordered by name, whatever order the scenario or the
		// trace gives them in: their order breaks ties between events.
		slices.SortFunc(workers, func(a, b *simWorker) int { return strings.Compare(a.name, b.name) })
		for _, w := range workers {
			w.idx = len(s.workers)
			s.workers = append(s.workers, w)
			s.byName[[2]string{p.name, w.name}] = w
		}
		for ci := range ps.Clients {
			cs := &ps.Clients[ci]
			c := &clientState{idx: ci, name: cs.Name, rate: cs.Rate}
			p.clients = append(p.clients, c)
			if cs.Rate != 1 {
				if err := cp.SetRate(cs.Name, cs.Rate); err != nil {
					return nil, err
				}
				s.record(trace.Event{Kind: trace.Rate, Pool: p.name, Client: cs.Name, Rate: cs.Rate})
			}
			for si := range cs.Streams {
				st := newStream(len(s.streams), si, &cs.Streams[si], c, p, derive(opts.Seed, "stream", len(s.streams)), spaces, s.end)
				s.streams = append(s.streams, st)
				s.liveStreams++
				if at := st.firstArrival(); at >= 0 {
					s.scheduleArrival(st, at)
				}
			}
		}
	}
	for _, w := range s.workers {
		if replay == nil {
			s.q.push(event{at: w.spec.Join.Seconds(), class: classWorker, kind: evJoin, key: uint64(w.idx)})
		}
		for _, e := range w.spec.Events {
			kind := map[string]uint8{"disconnect": evDisconnect, "crash": evCrash, "pause": evPause, "drain": evDrain, "force-pause": evForcePause, "hang": evHang, "prune": evPrune}[e.Kind]
			s.q.push(event{at: e.At.Seconds(), class: classWorker, kind: kind, key: uint64(w.idx), arg: int64(e.For.Seconds() * 1e6)})
		}
		if w.failures != nil {
			s.q.push(event{at: w.failure.at, class: classWorker, kind: evFailure, key: uint64(w.idx)})
		}
	}
	if replay != nil {
		replay.model.fallback = [2]float64{s.costs.Uncached, s.costs.Cached}
		replay.start(s)
	}
	s.q.push(event{at: 0, class: classSample, kind: evSample})
	if lease := sched.Settings().Lease; lease > 0 {
		s.q.push(event{at: lease / leaseChecks, class: classSample, kind: evLease})
	}
	return s, nil
}

// leaseChecks is how many times per lease the simulated scheduler pings
// its workers.
const leaseChecks = 4

// Duration is the oracle the ideal policy asks: how long the job would run
// on the worker if it started there now, with the worker's real cache.
func (s *simulation) Duration(t *core.Ticket, worker string) float64 {
	w := s.byName[[2]string{t.Pool(), worker}]
	j := t.Job().Payload.(*job)
	return s.duration(j, w, j.seed.hint != "" && w.cache.has(j.seed.hint))
}

func (s *simulation) scheduleArrival(st *stream, at float64) {
	if at >= st.stop || st.done {
		s.streamDone(st)
		return
	}
	s.q.push(event{at: at, class: classArrival, kind: evArrival, key: uint64(st.idx) + 1<<32})
}

func (s *simulation) streamDone(st *stream) {
	if !st.done {
		st.done = true
		s.liveStreams--
	}
}

// finished reports whether the run is over: no job left to do and no more
// arrivals to come.
func (s *simulation) finished() bool {
	return s.live == 0 && (s.liveStreams == 0 || s.now >= s.end)
}

func (s *simulation) loop() error {
	nextProgress := 0.0
	for s.q.Len() > 0 {
		e := s.q.pop()
		if e.at > s.limit {
			break
		}
		s.now = e.at
		s.events++
		s.handle(&e)
		s.act()
		if s.opts.Check {
			if err := s.sched.CheckInvariants(); err != nil {
				return fmt.Errorf("at t=%v after event %d: %w", s.now, e.kind, err)
			}
		}
		// A policy's answer the core could not apply makes the run
		// something other than the policy's: stop at the first.
		if err := s.sched.PolicyError(); err != nil {
			return fmt.Errorf("at t=%v: %w (the policy has a bug; see core.Policy for what its answers must be)", s.now, err)
		}
		if s.opts.Progress != nil && s.now >= nextProgress {
			s.opts.Progress(s.now, s.end)
			nextProgress = s.now + s.end/200
		}
		if s.finished() {
			break
		}
	}
	s.metrics.close(s)
	return nil
}

func (s *simulation) handle(e *event) {
	switch e.kind {
	case evFinish:
		s.finishRun(int32(e.arg))
	case evArrival:
		s.arrive(s.streams[e.key&(1<<32-1)])
	case evHead:
		s.headChange(s.spaces[e.key])
	case evCancel:
		s.cancel(s.jobs[e.key-1])
	case evSample:
		s.metrics.sample(s)
		s.q.push(event{at: s.now + s.sc.Sample.Seconds(), class: classSample, kind: evSample})
	case evLease:
		s.checkLeases()
		s.q.push(event{at: s.now + s.sched.Settings().Lease/leaseChecks, class: classSample, kind: evLease})
	case evReplayRegister, evReplayRelease, evReplayRate, evReplaySubmit, evReplayCancel, evReplayPause, evReplayUnpause, evReplayPrune:
		s.replay.handle(s, e)
	default:
		s.workerEvent(s.workers[e.key], e.kind, float64(e.arg)/1e6)
	}
}

func (s *simulation) headChange(hs *hintSpaceState) {
	hs.head++
	for _, st := range hs.streams {
		if !st.done && s.now >= st.spec.Start.Seconds() {
			if s.now >= st.stop {
				s.streamDone(st)
				continue
			}
			s.submitBatch(st)
		}
	}
	if hs.spec.HeadEvery > 0 && s.now+hs.spec.HeadEvery.Seconds() < s.end {
		s.q.push(event{at: s.now + hs.spec.HeadEvery.Seconds(), class: classArrival, kind: evHead, key: uint64(s.indexOfSpace(hs))})
	} else {
		for _, st := range hs.streams {
			s.streamDone(st)
		}
	}
}

func (s *simulation) indexOfSpace(hs *hintSpaceState) int {
	for i, x := range s.spaces {
		if x == hs {
			return i
		}
	}
	return -1
}

func (s *simulation) arrive(st *stream) {
	if st.done {
		return
	}
	if s.now >= st.stop {
		s.streamDone(st)
		return
	}
	s.submitBatch(st)
	if next := st.nextArrival(s.now); next >= 0 {
		s.scheduleArrival(st, next)
	}
}

// submitBatch submits one batch of the stream, unless it skips arrivals
// while busy and its previous batch is unfinished.
func (s *simulation) submitBatch(st *stream) {
	if st.spec.Arrivals.SkipBusy && st.open > 0 {
		return
	}
	seeds := st.generate()
	st.batch++
	st.open = len(seeds)
	for _, seed := range seeds {
		// Each submission is its own request, as in production: the pops it
		// wakes run before the next one comes.
		s.submit(st, seed)
		s.act()
	}
	if st.spec.Jobs > 0 && st.generated >= st.spec.Jobs {
		s.streamDone(st)
	}
	if st.open == 0 {
		s.batchDone(st)
	}
}

func (s *simulation) batchDone(st *stream) {
	if st.spec.Arrivals.Process == "closed" && !st.done {
		s.scheduleArrival(st, s.now+st.spec.Arrivals.Pause.Seconds())
	}
}

func (s *simulation) submit(st *stream, seed jobSeed) *job {
	j := &job{id: uint64(len(s.jobs)) + 1, stream: st, batch: st.batch, seed: seed, run: -1, submitted: s.now, firstStart: -1}
	s.jobs = append(s.jobs, j)
	s.live++
	t, err := st.pool.core.Submit(st.client.name, core.Job{Hint: seed.hint, Payload: j}, seed.urgent)
	if err != nil {
		panic(fmt.Sprintf("submit: %v", err)) // the scenario was validated
	}
	j.ticket = t
	s.queued(j, +1)
	s.record(trace.Event{Kind: trace.Submit, Pool: st.pool.name, Job: j.id, Client: st.client.name, Hint: seed.hint, Urgent: seed.urgent,
		Size: seed.size, Stream: st.inClient, CancelAfter: max(seed.cancel, 0)})
	if seed.cancel >= 0 {
		s.q.push(event{at: s.now + seed.cancel, class: classCancel, kind: evCancel, key: j.id})
	}
	return j
}

// queued tracks how many jobs wait, per pool and client.
func (s *simulation) queued(j *job, delta int) {
	st := j.stream
	st.pool.queued += delta
	st.client.queued += delta
	s.metrics.backlog(s, st.pool, st.client, st.client.queued)
}

// jobDone ends a job's life (ok, failed or cancelled).
func (s *simulation) jobDone(j *job, state jobState) {
	j.state = state
	j.ended = s.now
	s.live--
	st := j.stream
	if j.batch == st.batch {
		st.open--
		if st.open == 0 {
			s.batchDone(st)
		}
	}
}

func (s *simulation) cancel(j *job) {
	switch j.state {
	case jobQueued:
		if err := j.stream.pool.core.Cancel(j.ticket); err != nil {
			panic(fmt.Sprintf("cancel of a queued job: %v", err))
		}
		s.queued(j, -1)
		s.record(trace.Event{Kind: trace.Cancel, Pool: j.stream.pool.name, Job: j.id})
		s.jobDone(j, jobCancelled)
	case jobRunning:
		r := &s.runs[j.run]
		w := r.worker
		s.stopRun(r)
		if err := w.conn.Finish(j.ticket); err != nil {
			panic(fmt.Sprintf("finish of a cancelled run: %v", err))
		}
		s.record(trace.Event{Kind: trace.Finish, Pool: w.pool.name, Job: j.id, Worker: w.name, Outcome: trace.OutcomeCancelled, Duration: s.now - r.start, Planned: r.duration})
		s.jobDone(j, jobCancelled)
		s.fill(w)
		s.checkDrained(w)
	}
}

// act does what the core asks of its driver, as a real driver would, at
// the same instant: it drops the workers whose lease ran out as lost and
// resumes the pops the core woke. The durable changes it drops, as a
// simulated scheduler never restarts.
func (s *simulation) act() {
	for rd := s.sched.Ready(); !rd.Empty(); rd = s.sched.Ready() {
		for _, cw := range rd.Expired {
			s.disconnect(cw.Payload().(*simWorker), false)
		}
		for _, cw := range rd.Woken {
			s.resume(cw.Payload().(*simWorker), cw)
		}
		s.sched.Advance(rd)
	}
}

func (s *simulation) resume(w *simWorker, cw *core.Worker) {
	t, err := cw.Resume()
	if cw != w.conn {
		return // a released connection's pop ends here
	}
	if err != nil {
		panic(fmt.Sprintf("resume of %s: %v", w.name, err))
	}
	if t != nil {
		w.popping = false
		s.start(w, t)
		s.fill(w)
	}
}

// fill makes a connected worker pop while it has a free slot, one pop at a
// time, as OCluster's workers do.
func (s *simulation) fill(w *simWorker) {
	for w.conn != nil && !w.popping && !w.hung && w.inUse < w.capacity {
		t, err := w.conn.Pop()
		if err != nil {
			if errors.Is(err, core.ErrWorkerReleased) {
				return
			}
			panic(fmt.Sprintf("pop for %s: %v", w.name, err))
		}
		if t == nil {
			w.popping = true
			return
		}
		s.start(w, t)
	}
}

func (s *simulation) start(w *simWorker, t *core.Ticket) {
	j := t.Job().Payload.(*job)
	hint := j.seed.hint
	cached := hint != "" && w.cache.has(hint)
	if hint != "" {
		if lost := w.cache.touch(hint); lost != "" {
			// The worker's cache is bounded: it tells the scheduler what
			// it evicted, as a worker reports a prune.
			w.conn.Pruned([]string{lost})
		}
	}
	d := s.duration(j, w, cached)
	s.runs = append(s.runs, run{job: j, worker: w, epoch: w.epoch, start: s.now, duration: d})
	ri := int32(len(s.runs) - 1)
	s.metrics.started(s, j, w, cached, d)
	if j.state == jobQueued {
		s.queued(j, -1)
	}
	j.state = jobRunning
	j.run = ri
	if j.firstStart < 0 {
		j.firstStart = s.now
	}
	j.started = s.now
	j.cached = cached
	j.service = d
	w.inUse++
	w.active++
	if w.hung {
		// The scheduler answered a pop the stopped process had made: the
		// job sits there, frozen with the others, until it goes on.
		s.runs[ri].epoch = w.epoch - 1
		w.frozen = append(w.frozen, frozenRun{ri, d})
	} else {
		s.q.push(event{at: s.now + d, class: classFinish, kind: evFinish, key: j.id, arg: int64(ri)})
	}
	s.record(trace.Event{Kind: trace.Start, Pool: w.pool.name, Job: j.id, Worker: w.name, Cached: cached})
}

// duration is how long j runs on w: the job's fixed quantile in the
// stream's (or else the worker's) distribution, divided by the speed.
func (s *simulation) duration(j *job, w *simWorker, cached bool) float64 {
	if s.replay != nil {
		return s.replay.model.duration(w.pool.name, j.traceID, j.seed.hint, cached)
	}
	return runTime(j.stream.spec.Durations, w.spec, &s.defaultDists, j.seed.size, cached)
}

func (s *simulation) finishRun(ri int32) {
	r := &s.runs[ri]
	w := r.worker
	if r.epoch != w.epoch || r.state == runStopped {
		return
	}
	if r.state == runOrphaned {
		r.state = runStopped
		w.inUse--
		for i, o := range w.orphans {
			if o == ri {
				w.orphans = append(w.orphans[:i], w.orphans[i+1:]...)
				break
			}
		}
		s.metrics.slotFreed(s, r)
		s.fill(w)
		return
	}
	j := r.job
	if j.seed.ends == trace.OutcomeCancelled || s.replay != nil && s.replay.cancelsAt(j, s.now) {
		s.cancel(j)
		return
	}
	outcome, state := trace.OutcomeOK, jobOK
	if j.seed.ends == trace.OutcomeFailed {
		outcome, state = trace.OutcomeFailed, jobFailed
	}
	s.stopRun(r)
	if err := w.conn.Finish(j.ticket); err != nil {
		panic(fmt.Sprintf("finish on %s: %v", w.name, err))
	}
	s.record(trace.Event{Kind: trace.Finish, Pool: w.pool.name, Job: j.id, Worker: w.name, Outcome: outcome, Duration: r.duration})
	s.jobDone(j, state)
	s.fill(w)
	s.checkDrained(w)
}

// stopRun frees an active run's slot.
func (s *simulation) stopRun(r *run) {
	r.state = runStopped
	r.worker.inUse--
	r.worker.active--
	s.metrics.slotFreed(s, r)
}

func (s *simulation) record(e trace.Event) {
	if s.opts.Trace == nil || s.traceErr != nil {
		return
	}
	e.T = s.now
	s.traceErr = s.opts.Trace.Write(e)
}
