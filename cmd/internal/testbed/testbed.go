package testbed

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ocluster-go/ocluster/sim"
	"github.com/ocluster-go/ocluster/trace"
	"github.com/ocluster-go/ocluster/transport/client"
	"github.com/ocluster-go/ocluster/transport/wire"
)

// Options say how to play a workload.
type Options struct {
	// Speed plays the scenario this many times faster than real time.
	Speed float64
	// Trace is where the scheduler's trace goes (required).
	Trace string
	// Metrics, when set, serves the scheduler's metrics there: a port or
	// HOST:PORT.
	Metrics string
	// Summary, when set, is given a line on the run's state every
	// SummaryEvery (default 5 s).
	Summary      func(string)
	SummaryEvery time.Duration
	// Log takes the testbed's own messages (workers failing on purpose,
	// errors); nil: warnings and worse to stderr.
	Log *slog.Logger
}

// Outcome is what a live run did.
type Outcome struct {
	// Live is the run measured from the scheduler's trace, in scenario
	// time, with the simulator's metrics.
	Live   *sim.Result
	Counts map[string]client.LoadCounts
	// Trace is the scheduler's trace in scenario time from the load's
	// start, as the simulator's would be: a start says whether the job's
	// hint was in the worker's cache, as its worker told the testbed.
	Trace []trace.Event
}

// The time the cluster is given to set up before the scenario starts:
// the scheduler, the clients, and the workers there at time 0, one
// after the other.
const (
	setUpTime          = 500 * time.Millisecond
	setUpTimePerWorker = 50 * time.Millisecond
)

// run is one live run under way.
type run struct {
	ctx      context.Context
	wl       *Workload
	speed    float64
	stateDir string
	log      *slog.Logger
	agentLog *slog.Logger
	pools    map[string]wire.SturdyRef
	ac       *client.Admin
	start    time.Time // scenario time 0

	mu sync.Mutex
	// runs holds, by simulated job, its runs as the workers began them.
	runs map[uint64][]workerRun
}

// workerRun is a run as a worker saw it: whether its cache held the hint.
type workerRun struct {
	worker string
	cached bool
}

func (r *run) ran(job uint64, worker string, cached bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.runs[job] = append(r.runs[job], workerRun{worker: worker, cached: cached})
}

// trueCache sets each start's cached flag in the live trace to what the
// worker's cache held, as the simulator's trace has it: the scheduler
// records what it believed, which a policy that ignores prunes and
// evictions gets wrong. Its runs may claim each worker's run once only.
func (r *run) trueCache(events []trace.Event) {
	pairs, _, _ := pairJobs(Jobs(r.wl.Events), Jobs(events))
	type liveKey struct {
		pool string
		id   uint64
	}
	simulated := map[liveKey]uint64{}
	for _, p := range pairs {
		simulated[liveKey{p.Live.Pool, p.Live.ID}] = p.Simulated.ID
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	claimed := map[uint64][]bool{}
	for i := range events {
		e := &events[i]
		if e.Kind != trace.Start {
			continue
		}
		id := simulated[liveKey{e.Pool, e.Job}]
		runs := r.runs[id]
		if claimed[id] == nil {
			claimed[id] = make([]bool, len(runs))
		}
		for k := range runs {
			if !claimed[id][k] && runs[k].worker == e.Worker {
				e.Cached, claimed[id][k] = runs[k].cached, true
				break
			}
		}
	}
}

// Play plays the workload on a live cluster it starts, and measures it.
func Play(ctx context.Context, wl *Workload, opts Options) (*Outcome, error) {
	if !(opts.Speed > 0) {
		return nil, fmt.Errorf("--speed %v: must be more than 0", opts.Speed)
	}
	if opts.Trace == "" {
		return nil, errors.New("testbed: no trace file given")
	}
	log := opts.Log
	if log == nil {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	state, err := os.MkdirTemp("", "ocluster-stress-state-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(state)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	r := &run{ctx: ctx, wl: wl, speed: opts.Speed, stateDir: state, log: log, runs: map[uint64][]workerRun{},
		// Agents complain of every connection they lose: here that is the
		// plan, not news.
		agentLog: slog.New(slog.DiscardHandler)}

	os.Remove(opts.Trace) // a rerun into the same folder replaces its trace
	// Time 0 of the scenario is a moment ahead, when the cluster is set
	// up: the scheduler's trace and lease checks count from it, as the
	// simulator's do.
	workers := 0
	for _, p := range wl.Scenario.Pools {
		for _, ws := range p.Workers {
			workers += len(ws.Names())
		}
	}
	origin := time.Now().Add(setUpTime + time.Duration(workers)*setUpTimePerWorker)
	sched, err := startScheduler(ctx, wl, opts, origin, state, log)
	if err != nil {
		return nil, err
	}
	defer sched.close()
	r.pools = sched.pools

	conn, err := client.Connect(ctx, sched.admin, log)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	if r.ac, err = conn.Admin(ctx); err != nil {
		return nil, err
	}
	defer r.ac.Release()
	subs, closeSubs, err := setUpClients(ctx, r.ac, wl, "", log)
	if err != nil {
		return nil, err
	}
	defer closeSubs()

	all, err := r.startWorkers()
	if err != nil {
		return nil, err
	}
	var wg sync.WaitGroup
	playCtx, stopPlaying := context.WithCancel(ctx)
	defer func() {
		stopPlaying()
		wg.Wait()
		for _, w := range all {
			w.kill()
		}
	}()
	// Should the set-up overrun, the scenario starts late, and the trace
	// is read from then.
	r.start = origin
	if wait := time.Until(origin); wait > 0 {
		time.Sleep(wait)
	} else {
		r.start = time.Now()
		log.Warn("the cluster took long to set up: the scenario starts late", "by", -wait)
	}
	offset := r.start.Sub(origin).Seconds()
	for _, w := range all {
		wg.Go(func() { w.play(playCtx, wl.Seed) })
	}
	if opts.Summary != nil {
		every := cmp.Or(opts.SummaryEvery, 5*time.Second)
		wg.Go(func() {
			t := time.NewTicker(every)
			defer t.Stop()
			for {
				select {
				case <-playCtx.Done():
					return
				case <-t.C:
					opts.Summary(sched.summary(r, offset))
				}
			}
		})
	}
	counts, err := client.Load(ctx, client.LoadConfig{Clients: subs, Events: wl.Events, Speed: opts.Speed, Start: r.start}, nil)
	if err != nil {
		return nil, err
	}
	stopPlaying()
	wg.Wait()
	// The scheduler goes first: workers gone before it would run out
	// their leases in the trace.
	if err := sched.close(); err != nil {
		return nil, err
	}
	for _, w := range all {
		w.kill()
	}
	events, err := sched.events(opts.Speed, offset)
	if err != nil {
		return nil, err
	}
	r.trueCache(events)
	live, err := observe(wl, events)
	if err != nil {
		return nil, err
	}
	if opts.Summary != nil {
		opts.Summary(r.summaryLine(live))
	}
	return &Outcome{Live: live, Counts: counts, Trace: events}, nil
}

// startWorkers makes the scenario's workers and starts those that are
// there from the start, as the simulator does at time 0: one after the
// other by name, each waiting for a job before the next registers, so
// that the pool hands its first jobs to them in the same order.
func (r *run) startWorkers() ([]*liveWorker, error) {
	var workers []*liveWorker
	ctx, cancel := context.WithTimeout(r.ctx, 30*time.Second)
	defer cancel()
	for _, p := range r.wl.Scenario.Pools {
		var pool []*liveWorker
		for _, ws := range p.Workers {
			for _, name := range ws.Names() {
				m, err := r.wl.Scenario.WorkerModel(p.Name, name)
				if err != nil {
					return nil, err
				}
				pool = append(pool, newWorker(r, m, r.speed))
			}
		}
		slices.SortFunc(pool, func(a, b *liveWorker) int { return strings.Compare(a.model.Name, b.model.Name) })
		for _, w := range pool {
			if w.model.Spec.Join > 0 {
				continue
			}
			if err := w.start(); err != nil {
				return nil, err
			}
			if err := r.awaitReady(ctx, p.Name, w.model.Name); err != nil {
				return nil, err
			}
		}
		workers = append(workers, pool...)
	}
	return workers, nil
}

// awaitReady waits until the worker waits for a job in the pool, as the
// pool's state (ocluster-admin show) tells.
func (r *run) awaitReady(ctx context.Context, pool, name string) error {
	p, err := r.ac.Pool(ctx, pool)
	if err != nil {
		return err
	}
	defer p.Release()
	for {
		text, err := p.Show(ctx)
		if err != nil {
			return err
		}
		for line := range strings.Lines(text) {
			if ready, ok := strings.CutPrefix(strings.TrimSpace(line), "queue: (ready) ["); ok &&
				slices.Contains(strings.Fields(strings.TrimSuffix(ready, "]")), name) {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("worker %s did not register with pool %s in time", name, pool)
		case <-time.After(time.Millisecond):
		}
	}
}

// scenarioNow is the scenario time reached.
func (r *run) scenarioNow() float64 { return time.Since(r.start).Seconds() * r.speed }

// sleepUntil waits until scenario time at; false if ctx ended first.
func (r *run) sleepUntil(ctx context.Context, at float64) bool {
	d := time.Until(r.start.Add(time.Duration(at / r.speed * float64(time.Second))))
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// admin does something to a pool through the admin capability, as an
// operator would with ocluster-admin.
func (r *run) admin(pool string, log *slog.Logger, f func(context.Context, *client.Pool) error) {
	p, err := r.ac.Pool(r.ctx, pool)
	if err == nil {
		err = f(r.ctx, p)
		p.Release()
	}
	if err != nil && r.ctx.Err() == nil {
		log.Error("admin action failed", "err", err)
	}
}
