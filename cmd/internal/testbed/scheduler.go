package testbed

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"time"

	"github.com/ocluster-go/ocluster/cmd/internal/server"
	"github.com/ocluster-go/ocluster/sim"
	"github.com/ocluster-go/ocluster/sim/report"
	"github.com/ocluster-go/ocluster/trace"
	"github.com/ocluster-go/ocluster/transport/wire"
)

// liveScheduler is the run's scheduler.
type liveScheduler struct {
	*server.Server
	tee   *traceTee
	admin wire.SturdyRef
	pools map[string]wire.SturdyRef
	once  sync.Once
	err   error
}

func startScheduler(ctx context.Context, wl *Workload, opts Options, origin time.Time, state string, log *slog.Logger) (*liveScheduler, error) {
	var poolNames []string
	for _, p := range wl.Scenario.Pools {
		poolNames = append(poolNames, p.Name)
	}
	tee := &traceTee{}
	secrets := filepath.Join(state, "capnp-secrets")
	s, err := server.Start(ctx, server.Config{
		KeyFile:     filepath.Join(state, "key.pem"),
		Listen:      "127.0.0.1:0",
		StateDir:    state,
		SecretsDir:  secrets,
		Pools:       poolNames,
		Policy:      wl.Policy,
		Override:    wl.Override,
		Costs:       wl.Scenario.SchedulerCosts(),
		TimeScale:   opts.Speed,
		Origin:      origin,
		Trace:       opts.Trace,
		TraceHeader: trace.Header{Source: "ocluster-stress", Pools: poolNames, Policy: wl.Policy, Scenario: wl.Scenario.Name, Seed: wl.Seed},
		TraceCopy:   tee,
		Metrics:     opts.Metrics,
		Logger:      log,
	})
	if err != nil {
		return nil, err
	}
	ls := &liveScheduler{Server: s, tee: tee, pools: map[string]wire.SturdyRef{}}
	fail := func(err error) (*liveScheduler, error) {
		ls.close()
		return nil, err
	}
	if ls.admin, err = wire.ReadCapFile(filepath.Join(secrets, "admin.cap")); err != nil {
		return fail(err)
	}
	for _, p := range poolNames {
		if ls.pools[p], err = wire.ReadCapFile(filepath.Join(secrets, "pool-"+p+".cap")); err != nil {
			return fail(err)
		}
	}
	return ls, nil
}

func (ls *liveScheduler) close() error {
	ls.once.Do(func() { ls.err = ls.Server.Close() })
	return ls.err
}

// events is the trace so far in scenario time: from the load's start
// (offset seconds after the trace's), speed times slower. What happened
// before the start (registrations, rates) counts as at time 0.
func (ls *liveScheduler) events(speed, offset float64) ([]trace.Event, error) {
	_, events, err := ls.tee.events()
	if err != nil {
		return nil, fmt.Errorf("reading the live run's trace: %w", err)
	}
	for i := range events {
		e := &events[i]
		e.T = max(0, e.T-offset) * speed
		e.Duration *= speed
		e.Planned *= speed
	}
	return events, nil
}

// observe measures a live run from its trace in scenario time.
func observe(wl *Workload, events []trace.Event) (*sim.Result, error) {
	h := sim.TraceHeader(wl.Scenario, wl.Policy, wl.Seed)
	h.Source = "ocluster-stress"
	return sim.Observe(h, events, sim.ObserveOptions{})
}

// summary is one line on the run so far, measured as the end result is.
func (ls *liveScheduler) summary(r *run, offset float64) string {
	events, err := ls.events(r.speed, offset)
	if err != nil {
		return err.Error()
	}
	r.trueCache(events)
	res, err := observe(r.wl, events)
	if err != nil {
		return "the trace cannot be read: " + err.Error()
	}
	return r.summaryLine(res)
}

func (r *run) summaryLine(res *sim.Result) string {
	queued, running := 0, 0
	if n := len(res.Series.T); n > 0 {
		queued, running = res.Series.Queued[n-1], res.Series.Running[n-1]
	}
	return fmt.Sprintf("%6s (scenario %s): queued %d, running %d, done %d of %d, wait p95 %s, cache hits %s, utilisation %s",
		time.Since(r.start).Round(time.Second), time.Duration(r.scenarioNow()*float64(time.Second)).Round(time.Second), queued, running,
		res.Finished+res.Failed+res.Cancelled, r.wl.Predicted.Jobs,
		report.Seconds(res.WaitP95S), percent(res.CacheHitRate), percent(res.Utilisation))
}

func percent(x float64) string { return fmt.Sprintf("%.1f%%", 100*x) }

// traceTee keeps what the scheduler writes to its trace, to measure the
// run while it goes on.
type traceTee struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (t *traceTee) Write(b []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.buf.Write(b)
}

// events reads the complete lines written so far.
func (t *traceTee) events() (trace.Header, []trace.Event, error) {
	t.mu.Lock()
	data := t.buf.Bytes()
	if i := bytes.LastIndexByte(data, '\n'); i >= 0 {
		data = data[:i+1]
	}
	data = bytes.Clone(data)
	t.mu.Unlock()
	return trace.ReadAll(bytes.NewReader(data))
}
