package sim

import (
	"cmp"
	"fmt"
	"math"
	"slices"

	"github.com/ocluster-go/ocluster/trace"
)

// ObserveOptions say how to read a recorded run.
type ObserveOptions struct {
	// Scenario names the result (the trace's scenario when empty).
	Scenario string
	// TimeScale multiplies the trace's times: a live run at --speed 60
	// is compared with its simulation by scaling its times by 60.
	// 0 means 1.
	TimeScale float64
	// Sample and Window are the series' sampling interval and the
	// fairness window, in scaled seconds (0: the trace header's, else 60
	// s and 3600 s).
	Sample, Window float64
}

// scaled returns a copy of events with their times multiplied by scale (0
// means 1), as a live run at --speed X is turned back into scenario time.
func scaled(events []trace.Event, scale float64) ([]trace.Event, error) {
	scale = cmp.Or(scale, 1)
	if scale <= 0 || math.IsNaN(scale) || math.IsInf(scale, 0) {
		return nil, fmt.Errorf("time scale %v: must be a finite number more than 0", scale)
	}
	out := make([]trace.Event, len(events))
	for i, e := range events {
		e.T *= scale
		e.Duration *= scale
		e.Planned *= scale
		out[i] = e
	}
	return out, nil
}

// Observe measures what a trace recorded, with the metrics of a simulated
// run, so that a live cluster's run (the scheduler's --trace) and the
// simulator's prediction of it can be put side by side. Nothing is
// re-scheduled: this is the run as it happened.
func Observe(h trace.Header, events []trace.Event, opts ObserveOptions) (*Result, error) {
	evs, err := scaled(events, opts.TimeScale)
	if err != nil {
		return nil, err
	}
	o := newRecording(h, opts)
	slices.SortStableFunc(evs, func(a, b trace.Event) int { return cmp.Compare(a.T, b.T) })
	o.index(evs)
	for i := range evs {
		o.sampleUntil(evs[i].T)
		o.apply(&evs[i])
	}
	r := o.result(h.Policy, h.Seed)
	r.Events = uint64(len(evs))
	return r, nil
}

type obsKey struct {
	pool string
	id   uint64
}

type obsClient struct {
	pool, name string
	idx        int // in its pool's fairness
	queued     int
	jobs       []*job
}

type obsWorker struct {
	pool, name string
	capacity   int
	since      float64 // -1 when not connected
	connected  float64 // capacity × connected seconds
	busy       float64
	running    int
}

type obsPool struct {
	name    string
	clients []*obsClient
	fair    *poolFairness
	queued  int
}

// recording replays a trace's events into the simulator's collector.
type recording struct {
	scenario string
	c        collector
	sample   float64
	next     float64 // next sampling time
	now      float64

	pools   []*obsPool
	clients map[[2]string]*obsClient
	workers map[[2]string]*obsWorker
	order   []*obsWorker
	jobs    map[obsKey]*job
	all     []*job
	owner   map[*job]*obsClient
	runner  map[*job]*obsWorker
	work    map[obsKey]float64 // each job's run time, known from its finish
}

func newRecording(h trace.Header, opts ObserveOptions) *recording {
	o := &recording{
		scenario: cmp.Or(opts.Scenario, h.Scenario, "trace"),
		sample:   cmp.Or(opts.Sample, h.Sample, 60),
		clients:  map[[2]string]*obsClient{},
		workers:  map[[2]string]*obsWorker{},
		jobs:     map[obsKey]*job{},
		owner:    map[*job]*obsClient{},
		runner:   map[*job]*obsWorker{},
		work:     map[obsKey]float64{},
	}
	o.c.window = cmp.Or(opts.Window, h.Window, 3600)
	for _, p := range h.Pools {
		o.pool(p)
	}
	return o
}

func (o *recording) pool(name string) *obsPool {
	for _, p := range o.pools {
		if p.name == name {
			return p
		}
	}
	p := &obsPool{name: name, fair: &poolFairness{}}
	o.pools = append(o.pools, p)
	o.c.fair = append(o.c.fair, p.fair)
	return p
}

// index makes every client and worker known before the sweep (fairness
// and series need them all from the start) and learns each job's run
// time from its finish.
func (o *recording) index(evs []trace.Event) {
	started := map[obsKey]float64{}
	for i := range evs {
		e := &evs[i]
		k := obsKey{e.Pool, e.Job}
		switch e.Kind {
		case trace.Submit, trace.Rate:
			o.client(e.Pool, e.Client)
		case trace.Register:
			o.worker(e.Pool, e.Worker)
		case trace.Start:
			started[k] = e.T
		case trace.Finish:
			if t, ok := started[k]; ok {
				o.work[k] = e.T - t
			}
		}
	}
	for k, t := range started {
		if _, ok := o.work[k]; !ok && len(evs) > 0 {
			o.work[k] = evs[len(evs)-1].T - t
		}
	}
}

func (o *recording) client(pool, name string) *obsClient {
	if c := o.clients[[2]string{pool, name}]; c != nil {
		return c
	}
	p := o.pool(pool)
	c := &obsClient{pool: pool, name: name, idx: len(p.clients)}
	p.clients = append(p.clients, c)
	p.fair.rates = append(p.fair.rates, 1) // OCluster's default rate
	p.fair.waiting = append(p.fair.waiting, false)
	p.fair.accAt = append(p.fair.accAt, 0)
	for w := range p.fair.received {
		p.fair.received[w] = append(p.fair.received[w], 0)
	}
	for w := range p.fair.entitled {
		p.fair.entitled[w] = append(p.fair.entitled[w], 0)
	}
	o.clients[[2]string{pool, name}] = c
	return c
}

func (o *recording) worker(pool, name string) *obsWorker {
	if w := o.workers[[2]string{pool, name}]; w != nil {
		return w
	}
	o.pool(pool)
	w := &obsWorker{pool: pool, name: name, since: -1}
	o.workers[[2]string{pool, name}] = w
	o.order = append(o.order, w)
	return w
}

func (o *recording) windowAt(t float64) int { return o.c.windowAt(t) }

func (o *recording) setQueued(c *obsClient, delta int) {
	c.queued += delta
	p := o.pool(c.pool)
	p.queued += delta
	p.fair.setWaiting(c.idx, c.queued > 0, o.windowAt(o.now))
}

func (o *recording) advanceCapacity(t float64) {
	o.c.capArea += float64(o.c.capNow) * (t - o.c.capLast)
	o.c.capLast = t
}

func (o *recording) apply(e *trace.Event) {
	o.now = e.T
	k := obsKey{e.Pool, e.Job}
	switch e.Kind {
	case trace.Submit:
		c := o.client(e.Pool, e.Client)
		j := &job{id: e.Job, seed: jobSeed{hint: e.Hint, urgent: e.Urgent}, run: -1, submitted: e.T, firstStart: -1}
		o.jobs[k] = j
		o.all = append(o.all, j)
		o.owner[j] = c
		c.jobs = append(c.jobs, j)
		o.setQueued(c, 1)
	case trace.Cancel:
		j := o.jobs[k]
		if j == nil || j.state != jobQueued || j.firstStart >= 0 {
			return
		}
		j.state, j.ended = jobCancelled, e.T
		o.setQueued(o.owner[j], -1)
	case trace.Start:
		j := o.jobs[k]
		w := o.worker(e.Pool, e.Worker)
		if j == nil || j.state != jobQueued {
			return
		}
		c := o.owner[j]
		o.pool(e.Pool).fair.start(c.idx, o.work[k], o.windowAt(e.T))
		if j.seed.hint != "" {
			o.c.hintedStarts++
			if e.Cached {
				o.c.hits++
			}
		}
		o.setQueued(c, -1)
		if j.firstStart < 0 {
			j.firstStart = e.T
		}
		j.started, j.cached, j.state = e.T, e.Cached, jobRunning
		o.runner[j] = w
		w.running++
	case trace.Finish:
		j := o.jobs[k]
		if j == nil || j.state != jobRunning {
			return
		}
		// The recorded duration, when there is one, is the run's time
		// without the rounding of two timestamps.
		j.ended, j.service = e.T, cmp.Or(e.Duration, e.T-j.started)
		switch e.Outcome {
		case trace.OutcomeOK:
			j.state = jobOK
		case trace.OutcomeCancelled:
			j.state = jobCancelled
		case trace.OutcomeRequeued:
			j.state, j.ended = jobQueued, 0
			j.retries++
			o.setQueued(o.owner[j], 1)
		default:
			j.state = jobFailed
		}
		if w := o.runner[j]; w != nil {
			w.busy += j.service
			w.running--
			o.c.busyArea += j.service
		}
	case trace.Register:
		w := o.worker(e.Pool, e.Worker)
		if w.since >= 0 {
			return
		}
		o.advanceCapacity(e.T)
		w.capacity, w.since = e.Capacity, e.T
		o.c.capNow += e.Capacity
	case trace.Release:
		w := o.worker(e.Pool, e.Worker)
		o.disconnect(w, e.T)
	case trace.Rate:
		c := o.client(e.Pool, e.Client)
		o.pool(e.Pool).fair.setRate(c.idx, e.Rate, o.windowAt(e.T))
	}
}

func (o *recording) disconnect(w *obsWorker, t float64) {
	if w.since < 0 {
		return
	}
	o.advanceCapacity(t)
	o.c.capNow -= w.capacity
	w.connected += float64(w.capacity) * (t - w.since)
	w.since = -1
}

// sampleUntil takes the series' samples due before t.
func (o *recording) sampleUntil(t float64) {
	for o.next <= t {
		o.now = o.next
		s := &o.c.series
		running, queued := 0, 0
		for _, w := range o.order {
			running += w.running
		}
		for _, p := range o.pools {
			queued += p.queued
		}
		s.T = append(s.T, o.next)
		s.Queued = append(s.Queued, queued)
		s.Running = append(s.Running, running)
		s.Capacity = append(s.Capacity, o.c.capNow)
		s.Starts = append(s.Starts, o.c.hintedStarts-o.c.lastHint)
		s.Hits = append(s.Hits, o.c.hits-o.c.lastHits)
		o.c.lastHint, o.c.lastHits = o.c.hintedStarts, o.c.hits
		i := 0
		for _, p := range o.pools {
			for _, c := range p.clients {
				if i == len(s.Clients) {
					s.Clients = append(s.Clients, ClientSeries{Pool: p.name, Client: c.name, Queued: make([]int, len(s.T)-1)})
				}
				s.Clients[i].Queued = append(s.Clients[i].Queued, c.queued)
				i++
			}
		}
		o.next += o.sample
	}
}

func (o *recording) result(policy string, seed uint64) *Result {
	end := o.now
	for _, w := range o.order {
		o.disconnect(w, end)
	}
	for j, w := range o.runner {
		if j.state == jobRunning {
			w.busy += end - j.started
			o.c.busyArea += end - j.started
		}
	}
	for _, f := range o.c.fair {
		f.advance(f.window + 1)
	}
	r := &Result{Scenario: o.scenario, Policy: policy, Seed: seed, SimulatedS: end}
	var a accumulator
	r.Urgent, r.Normal = a.statsOf(o.all, true, false), a.statsOf(o.all, false, true)
	r.Stats = a.statsOf(o.all, true, true)
	first, last := math.Inf(1), 0.0
	for _, j := range o.all {
		first = min(first, j.submitted)
		if j.state == jobOK || j.state == jobFailed || j.state == jobCancelled {
			last = max(last, j.ended)
		}
	}
	if last > first {
		r.MakespanS = last - first
	}
	if o.c.capArea > 0 {
		r.Utilisation = o.c.busyArea / o.c.capArea
	}
	jainSum, jainWindows := 0.0, 0
	for _, p := range o.pools {
		var jobs []*job
		for _, c := range p.clients {
			jobs = append(jobs, c.jobs...)
		}
		g := a.group(jobs, p.name, "")
		index, windows := jain(p.fair)
		g.Jain = index
		r.Pools = append(r.Pools, g)
		jainSum += index * float64(windows)
		jainWindows += windows
		for _, c := range p.clients {
			cg := a.group(c.jobs, p.name, c.name)
			cg.WaitQuantilesS = quantiles(a.waits)
			r.Clients = append(r.Clients, cg)
		}
	}
	r.Jain, r.JainWindows = 1, jainWindows
	if jainWindows > 0 {
		r.Jain = jainSum / float64(jainWindows)
	}
	var utils []float64
	for _, w := range o.order {
		wr := WorkerResult{Pool: w.pool, Name: w.name, Capacity: w.capacity}
		if w.connected > 0 {
			wr.Utilisation = w.busy / w.connected
			utils = append(utils, wr.Utilisation)
		}
		r.Workers = append(r.Workers, wr)
	}
	r.Imbalance = imbalance(utils)
	r.Series = o.c.series
	return r
}
