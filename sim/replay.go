package sim

import (
	"fmt"
	"math"
	"slices"

	"github.com/ocluster-go/ocluster/core"
	"github.com/ocluster-go/ocluster/trace"
)

// ReplayOptions tune a replay.
type ReplayOptions struct {
	Options
	// TimeScale multiplies the trace's times, as in ObserveOptions: a
	// trace a live run recorded at --speed 60 is replayed in scenario time
	// with 60. 0 means 1.
	TimeScale float64
	// Sample and Window override the trace header's (or the defaults).
	Sample, Window Duration
}

// Event kinds of a replay.
const (
	evReplayRegister uint8 = 100 + iota
	evReplayRelease
	evReplayRate
	evReplaySubmit
	evReplayCancel
	evReplayPause
	evReplayUnpause
	evReplayPrune
)

// replaySource feeds a recorded trace into a simulation.
type replaySource struct {
	events  []trace.Event
	workers map[[2]string]*simWorker // (pool, worker)
	clients map[[2]string]*stream    // (pool, client)
	jobs    map[uint64]*job          // by the trace's job id
	model   durationModel
	// ends is how each job's run ends by itself when not in success (see
	// jobSeed.ends), and cancels when its client cancelled it, by the
	// trace's job id.
	ends    map[uint64]string
	cancels map[uint64]float64
}

// Replay re-runs a recorded trace under opts.Policy: the same arrivals,
// the same workers coming and going, each job's duration modelled from
// where the new policy places it (see durationModel). Replaying a trace
// the simulator recorded, under the policy that recorded it, reproduces
// the recorded run's metrics.
func Replay(h trace.Header, events []trace.Event, opts ReplayOptions) (*Result, error) {
	events, err := scaled(events, opts.TimeScale)
	if err != nil {
		return nil, err
	}
	sc, src, err := replayScenario(h, events, opts)
	if err != nil {
		return nil, err
	}
	return simulate(sc, opts.Options, src)
}

// replayScenario builds the shape of the recorded cluster (pools, workers,
// clients and their rates) as a scenario, so that the simulation and its
// measurements run unchanged.
func replayScenario(h trace.Header, events []trace.Event, opts ReplayOptions) (*Scenario, *replaySource, error) {
	sc := &Scenario{Name: h.Scenario, Drain: defaultDrain}
	if sc.Name == "" {
		sc.Name = "replay"
	}
	last := 0.0
	if len(events) > 0 {
		last = events[len(events)-1].T
	}
	sc.Duration = Duration(max(last, 1))
	sc.Sample = firstPositive(opts.Sample, Duration(h.Sample), Duration(max(1, math.Round(last/400))))
	sc.Window = firstPositive(opts.Window, Duration(h.Window), min(defaultWindow, sc.Duration))

	poolIdx := map[string]int{}
	for _, p := range h.Pools {
		poolIdx[p] = len(sc.Pools)
		sc.Pools = append(sc.Pools, PoolSpec{Name: p})
	}
	workerSeen := map[[2]string]bool{}
	clientIdx := map[[2]string]int{}
	for _, e := range events {
		p := &sc.Pools[poolIdx[e.Pool]]
		switch e.Kind {
		case trace.Register:
			if key := [2]string{e.Pool, e.Worker}; !workerSeen[key] {
				workerSeen[key] = true
				p.Workers = append(p.Workers, WorkerSpec{Name: e.Worker, Count: 1, Capacity: e.Capacity, Cache: e.Cache, Speed: 1})
			}
		case trace.Submit, trace.Rate:
			if e.Kind == trace.Rate && !(e.Rate >= core.MinRate && e.Rate <= core.MaxRate) {
				return nil, nil, fmt.Errorf("trace: client %q is given rate %g at t = %g, outside the rates a scheduler accepts (%g to %g)", e.Client, e.Rate, e.T, core.MinRate, core.MaxRate)
			}
			key := [2]string{e.Pool, e.Client}
			i, ok := clientIdx[key]
			if !ok {
				i = len(p.Clients)
				clientIdx[key] = i
				p.Clients = append(p.Clients, ClientSpec{Name: e.Client, Rate: 1,
					Streams: []StreamSpec{{Arrivals: &Arrivals{Process: "trace"}, Batch: new(FixedCount(1)), Hints: &HintSpec{Kind: "none"}}}})
			}
			if e.Kind == trace.Rate && e.T == 0 {
				p.Clients[i].Rate = e.Rate
			}
		}
	}
	for _, p := range sc.Pools {
		if len(p.Clients) > 0 && len(p.Workers) == 0 {
			return nil, nil, fmt.Errorf("trace: pool %q has jobs but no worker ever registered in it", p.Name)
		}
	}
	lost := lostRuns(events)
	src := &replaySource{
		events:  events,
		workers: map[[2]string]*simWorker{},
		clients: map[[2]string]*stream{},
		jobs:    map[uint64]*job{},
		model:   newDurationModel(events, lost),
		ends:    map[uint64]string{},
		cancels: map[uint64]float64{},
	}
	for i, e := range events {
		switch {
		case e.Kind == trace.Submit && e.Outcome != "" && e.Outcome != trace.OutcomeOK:
			src.ends[e.Job] = e.Outcome
		case e.Kind == trace.Finish && e.Outcome == trace.OutcomeFailed && !lost[i]:
			src.ends[e.Job] = trace.OutcomeFailed
		case e.Kind == trace.Cancel, e.Kind == trace.Finish && e.Outcome == trace.OutcomeCancelled:
			if _, ok := src.cancels[e.Job]; !ok {
				src.cancels[e.Job] = e.T
			}
		}
	}
	return sc, src, nil
}

// lostRuns marks the failed runs that were lost with their worker rather
// than failing by themselves: those followed, at the same instant, by
// their worker's release (the simulator and the scheduler record a lost
// worker's jobs just before the worker).
func lostRuns(events []trace.Event) map[int]bool {
	lost := map[int]bool{}
	for i, e := range events {
		if e.Kind != trace.Finish || e.Outcome != trace.OutcomeFailed {
			continue
		}
		for _, n := range events[i+1:] {
			if n.T != e.T {
				break
			}
			if n.Kind == trace.Release && n.Pool == e.Pool && n.Worker == e.Worker {
				lost[i] = true
				break
			}
		}
	}
	return lost
}

// cancelsAt says whether the trace's client cancels j at the instant t:
// a run that would end just then is cancelled, as the record says the
// cancel came first.
func (r *replaySource) cancelsAt(j *job, t float64) bool {
	at, ok := r.cancels[j.traceID]
	return ok && at == t
}

func firstPositive(ds ...Duration) Duration {
	for _, d := range ds {
		if d > 0 {
			return d
		}
	}
	return 0
}

// start schedules the trace's events in the simulation.
func (r *replaySource) start(s *simulation) {
	for _, w := range s.workers {
		r.workers[[2]string{w.pool.name, w.name}] = w
	}
	for _, st := range s.streams {
		r.clients[[2]string{st.pool.name, st.client.name}] = st
		s.streamDone(st)
	}
	s.end = math.Inf(1)
	s.limit = math.Inf(1)
	for i, e := range r.events {
		ev := event{at: e.T, arg: int64(i)}
		switch e.Kind {
		case trace.Register, trace.Release, trace.Pause, trace.Unpause, trace.Prune:
			w := r.workers[[2]string{e.Pool, e.Worker}]
			if w == nil {
				continue // released or paused before it ever registered
			}
			ev.class, ev.key = classWorker, uint64(w.idx)
			ev.kind = map[trace.Kind]uint8{trace.Register: evReplayRegister, trace.Release: evReplayRelease, trace.Pause: evReplayPause, trace.Unpause: evReplayUnpause, trace.Prune: evReplayPrune}[e.Kind]
		case trace.Rate:
			if e.T == 0 {
				continue // applied with the scenario
			}
			ev.class, ev.kind = classWorker, evReplayRate
		case trace.Submit:
			ev.class, ev.kind, ev.key = classArrival, evReplaySubmit, e.Job
			s.liveStreams++
		case trace.Cancel:
			ev.class, ev.kind, ev.key = classCancel, evReplayCancel, e.Job
		case trace.Finish:
			if e.Outcome != trace.OutcomeCancelled {
				continue
			}
			// The client cancelled the running build: cancel it then again.
			ev.class, ev.kind, ev.key = classCancel, evReplayCancel, e.Job
		default:
			continue
		}
		s.q.push(ev)
	}
}

func (r *replaySource) handle(s *simulation, e *event) {
	te := &r.events[e.arg]
	switch e.kind {
	case evReplayRegister:
		w := s.workers[e.key]
		w.online = true
		w.capacity = te.Capacity
		s.connect(w)
	case evReplayRelease:
		w := s.workers[e.key]
		if te.Crash {
			if w.online {
				s.crash(w)
			}
		} else if w.conn != nil {
			s.disconnect(w, false)
		}
	case evReplayPause, evReplayUnpause:
		s.adminPause(s.workers[e.key], e.kind == evReplayPause)
	case evReplayPrune:
		s.prune(s.workers[e.key])
	case evReplayRate:
		st := r.clients[[2]string{te.Pool, te.Client}]
		if err := st.pool.core.SetRate(te.Client, te.Rate); err != nil {
			panic(err) // the trace reader checked the rate
		}
		st.client.rate = te.Rate
		s.metrics.rateChanged(s, st.pool, st.client)
		s.record(trace.Event{Kind: trace.Rate, Pool: te.Pool, Client: te.Client, Rate: te.Rate})
	case evReplaySubmit:
		s.liveStreams--
		st := r.clients[[2]string{te.Pool, te.Client}]
		j := s.submit(st, jobSeed{hint: te.Hint, urgent: te.Urgent, cancel: -1, ends: r.ends[te.Job]})
		j.batch = -1
		j.traceID = te.Job
		r.jobs[te.Job] = j
	case evReplayCancel:
		if j := r.jobs[te.Job]; j != nil {
			s.cancel(j)
		}
	}
}

// durationModel predicts how long a recorded job runs where a new policy
// places it. A job placed as it was recorded (its hint cached there or
// not, alike) runs as long as it did. Otherwise it runs the median of the
// recorded runs of its hint in the new cache state; failing that, the
// median of its pool's runs in that state; failing that, its own recorded
// time scaled by the ratio of its pool's medians, or the core's estimate.
// Medians use successful runs only. A run that failed by itself (not lost
// with its worker) ran its course; a run that did not complete tells its
// job's duration when the trace gives planned, otherwise it is a lower
// bound on it. A job that ran more than once (re-queued after losing its
// worker) is known in each cache state it ran in. A job the trace knows
// only from its submit (planned: an SWF log without wait times) runs that
// long, uncached.
type durationModel struct {
	job      map[jobKey]float64
	atLeast  map[[2]any]float64
	byHint   map[hintKey]float64
	byPool   map[poolKey]float64
	fallback [2]float64 // uncached, cached: the core's default estimates
}

type jobKey struct {
	pool   string
	job    uint64
	cached bool
}

type hintKey struct {
	pool, hint string
	cached     bool
}

type poolKey struct {
	pool   string
	cached bool
}

func newDurationModel(events []trace.Event, lost map[int]bool) durationModel {
	m := durationModel{job: map[jobKey]float64{}, atLeast: map[[2]any]float64{}, byHint: map[hintKey]float64{}, byPool: map[poolKey]float64{}}
	hints := map[[2]any]string{}
	started := map[[2]any]bool{}
	hintRuns := map[hintKey][]float64{}
	poolRuns := map[poolKey][]float64{}
	for i, e := range events {
		key := [2]any{e.Pool, e.Job}
		switch e.Kind {
		case trace.Submit:
			hints[key] = e.Hint
			if e.Planned <= 0 {
				continue
			}
			m.job[jobKey{e.Pool, e.Job, false}] = e.Planned
			if e.Outcome == "" || e.Outcome == trace.OutcomeOK {
				if e.Hint != "" {
					k := hintKey{e.Pool, e.Hint, false}
					hintRuns[k] = append(hintRuns[k], e.Planned)
				}
				pk := poolKey{e.Pool, false}
				poolRuns[pk] = append(poolRuns[pk], e.Planned)
			}
		case trace.Start:
			started[key] = e.Cached
		case trace.Finish:
			cached := started[key]
			jk := jobKey{e.Pool, e.Job, cached}
			if e.Outcome == trace.OutcomeFailed && !lost[i] && e.Planned == 0 {
				m.job[jk] = e.Duration
				continue
			}
			if e.Outcome != trace.OutcomeOK {
				if e.Planned > 0 {
					m.job[jk] = e.Planned
				} else {
					m.atLeast[key] = max(m.atLeast[key], e.Duration)
				}
				continue
			}
			m.job[jk] = e.Duration
			if h := hints[key]; h != "" {
				k := hintKey{e.Pool, h, cached}
				hintRuns[k] = append(hintRuns[k], e.Duration)
			}
			pk := poolKey{e.Pool, cached}
			poolRuns[pk] = append(poolRuns[pk], e.Duration)
		}
	}
	for k, xs := range hintRuns {
		m.byHint[k] = median(xs)
	}
	for k, xs := range poolRuns {
		m.byPool[k] = median(xs)
	}
	return m
}

func median(xs []float64) float64 {
	slices.Sort(xs)
	return xs[(len(xs)-1)/2]
}

func (m *durationModel) duration(pool string, traceJob uint64, hint string, cached bool) float64 {
	return max(m.estimate(pool, traceJob, hint, cached), m.atLeast[[2]any{pool, traceJob}])
}

func (m *durationModel) estimate(pool string, traceJob uint64, hint string, cached bool) float64 {
	if d, ok := m.job[jobKey{pool, traceJob, cached}]; ok {
		return d
	}
	if d, ok := m.byHint[hintKey{pool, hint, cached}]; ok && hint != "" {
		return d
	}
	if d, ok := m.byPool[poolKey{pool, cached}]; ok {
		return d
	}
	if d, ok := m.job[jobKey{pool, traceJob, !cached}]; ok {
		from, to := m.byPool[poolKey{pool, !cached}], m.byPool[poolKey{pool, cached}]
		if from > 0 && to > 0 {
			return d * to / from
		}
		return d
	}
	if cached {
		return m.fallback[1]
	}
	return m.fallback[0]
}
