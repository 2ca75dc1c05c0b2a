package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/spf13/cobra"

	"github.com/ocluster-go/ocluster/core"
	"github.com/ocluster-go/ocluster/runners"
	"github.com/ocluster-go/ocluster/runners/synthetic"
	"github.com/ocluster-go/ocluster/sim"
	"github.com/ocluster-go/ocluster/store"
	"github.com/ocluster-go/ocluster/trace"
	"github.com/ocluster-go/ocluster/transport"
)

func allCommand() *cobra.Command {
	var lf loadFlags
	var out string
	var prometheusPort int
	var every time.Duration
	cmd := &cobra.Command{
		Use:   "all [--scenario NAME|FILE] [--speed X] [--duration D] [--out DIR] [--listen-prometheus PORT]",
		Short: "Run a scheduler, the scenario's workers and its clients in this process, over the real transport",
		Long: `Starts a scheduler on loopback, one synthetic worker per worker of the
scenario (its capacity; its cached and uncached run times, as means,
divided by --speed), and the scenario's clients, and plays the workload.
Every few seconds it prints a summary line read from the scheduler's
metrics. At the end it prints the simulator's prediction of the same run
beside what the cluster did; with --out it writes both as results
(sim/result.json and live/result.json, as ocluster-sim run --out writes
a result), the scheduler's trace, and the clients' job counts.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := lf.check(); err != nil {
				return err
			}
			if every <= 0 {
				return fmt.Errorf("--summary-every %v: must be more than 0", every)
			}
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return runAll(ctx, lf, out, prometheusPort, every)
		},
	}
	lf.add(cmd)
	cmd.Flags().StringVar(&out, "out", "", "write sim/result.json, live/result.json, trace and clients.json into this folder")
	cmd.Flags().IntVar(&prometheusPort, "listen-prometheus", 0, "serve the scheduler's metrics on this port (0: not served)")
	cmd.Flags().DurationVar(&every, "summary-every", 5*time.Second, "time between summary lines")
	return cmd
}

func runAll(ctx context.Context, lf loadFlags, out string, prometheusPort int, every time.Duration) error {
	wl, err := simulate(lf.scenario, lf.seed, lf.duration, lf.policy)
	if err != nil {
		return err
	}
	dir := out
	if dir == "" {
		if dir, err = os.MkdirTemp("", "ocluster-stress-all-"); err != nil {
			return err
		}
		defer os.RemoveAll(dir)
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	state, err := os.MkdirTemp("", "ocluster-stress-state-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(state)
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))

	tracePath := filepath.Join(dir, "trace")
	os.Remove(tracePath) // a rerun into the same folder replaces its trace
	sched, admin, pools, err := startScheduler(ctx, wl, lf.policy, state, tracePath, prometheusPort, log)
	if err != nil {
		return err
	}
	defer sched.close()

	workerCtx, stopWorkers := context.WithCancel(ctx)
	var workers sync.WaitGroup
	defer func() { stopWorkers(); workers.Wait() }()
	for _, p := range wl.scenario.Pools {
		for _, ws := range p.Workers {
			for _, name := range ws.Names() {
				agent, err := newSyntheticAgent(pools[p.Name], name, ws, lf.speed, filepath.Join(state, "workers", name), log)
				if err != nil {
					return err
				}
				workers.Add(1)
				go func() { defer workers.Done(); agent.Run(workerCtx) }()
			}
		}
	}

	started := time.Now()
	ticker := time.NewTicker(every)
	defer ticker.Stop()
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-done:
				return
			case <-ticker.C:
				fmt.Println(sched.summary(time.Since(started), lf.speed))
			}
		}
	}()
	counts, err := playLoad(ctx, admin, wl, "", lf.speed, log, nil)
	close(done)
	if err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	fmt.Println(sched.summary(time.Since(started), lf.speed))
	stopWorkers()
	workers.Wait()
	if err := sched.close(); err != nil {
		return err
	}

	live, err := observe(tracePath, wl, lf.speed)
	if err != nil {
		return err
	}
	fmt.Println()
	printComparison(os.Stdout, "simulated", wl.predicted, "live", live)
	if out == "" {
		return writeCounts("", counts)
	}
	for name, r := range map[string]*sim.Result{"sim": wl.predicted, "live": live} {
		if err := writeResult(filepath.Join(out, name), r); err != nil {
			return err
		}
	}
	return writeCounts(filepath.Join(out, "clients.json"), counts)
}

// liveScheduler is the in-process scheduler of `all`.
type liveScheduler struct {
	s       *transport.Scheduler
	st      *store.Store
	trace   *os.File
	metrics http.Handler
	once    sync.Once
	err     error
}

func startScheduler(ctx context.Context, wl *workload, policy, state, tracePath string, prometheusPort int, log *slog.Logger) (
	*liveScheduler, transport.SturdyRef, map[string]transport.SturdyRef, error) {
	fail := func(err error) (*liveScheduler, transport.SturdyRef, map[string]transport.SturdyRef, error) {
		return nil, transport.SturdyRef{}, nil, err
	}
	var poolNames []string
	for _, p := range wl.scenario.Pools {
		poolNames = append(poolNames, p.Name)
	}
	id, err := transport.LoadOrCreateIdentity(filepath.Join(state, "key.pem"))
	if err != nil {
		return fail(err)
	}
	st, err := store.Open(filepath.Join(state, "scheduler.db"))
	if err != nil {
		return fail(err)
	}
	f, err := os.OpenFile(tracePath, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		st.Close()
		return fail(err)
	}
	h := trace.Header{Source: "ocluster-stress all", Pools: poolNames, Policy: policy, Scenario: wl.scenario.Name}
	if h.Policy == "" {
		h.Policy = core.DefaultPolicy
	}
	tw, err := trace.NewWriter(f, h)
	if err != nil {
		f.Close()
		st.Close()
		return fail(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		f.Close()
		st.Close()
		return fail(err)
	}
	costs := core.Costs{}
	if c := wl.scenario.Costs; c != nil {
		costs = core.Costs{Cached: c.Cached.Seconds(), Uncached: c.Uncached.Seconds()}
	}
	s, err := transport.NewScheduler(transport.SchedulerConfig{Pools: poolNames, Policy: policy, Costs: costs, Identity: id,
		PublicAddr: l.Addr().String(), Store: st, Trace: tw, Logger: log})
	if err != nil {
		l.Close()
		f.Close()
		st.Close()
		return fail(err)
	}
	ls := &liveScheduler{s: s, st: st, trace: f, metrics: s.MetricsHandler()}
	secrets := filepath.Join(state, "capnp-secrets")
	if err := os.Mkdir(secrets, 0o700); err != nil {
		ls.close()
		return fail(err)
	}
	if err := s.WriteCapFiles(secrets, nil); err != nil {
		ls.close()
		return fail(err)
	}
	if prometheusPort != 0 {
		ml, err := net.Listen("tcp", fmt.Sprintf(":%d", prometheusPort))
		if err != nil {
			ls.close()
			return fail(fmt.Errorf("--listen-prometheus: %w", err))
		}
		go http.Serve(ml, ls.metrics)
	}
	go s.Serve(l)
	go s.FlushTraceEvery(ctx)
	admin, err := transport.ReadCapFile(filepath.Join(secrets, "admin.cap"))
	if err != nil {
		ls.close()
		return fail(err)
	}
	pools := map[string]transport.SturdyRef{}
	for _, p := range poolNames {
		if pools[p], err = transport.ReadCapFile(filepath.Join(secrets, "pool-"+p+".cap")); err != nil {
			ls.close()
			return fail(err)
		}
	}
	return ls, admin, pools, nil
}

func (ls *liveScheduler) close() error {
	ls.once.Do(func() {
		ls.err = errors.Join(ls.s.Close(), ls.trace.Close(), ls.st.Close())
	})
	return ls.err
}

// summary is one line of the run's state, read from the scheduler's
// metrics: what a Grafana panel would show.
func (ls *liveScheduler) summary(elapsed time.Duration, speed float64) string {
	rec := httptest.NewRecorder()
	ls.metrics.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(rec.Body)
	if err != nil {
		return "metrics unreadable: " + err.Error()
	}
	sum := func(name string) float64 {
		total := 0.0
		if f := families[name]; f != nil {
			for _, m := range f.Metric {
				switch {
				case m.Gauge != nil:
					total += m.Gauge.GetValue()
				case m.Counter != nil:
					total += m.Counter.GetValue()
				}
			}
		}
		return total
	}
	hinted, cached := sum("ocluster_scheduler_hinted_starts_total"), sum("ocluster_scheduler_cached_starts_total")
	hitRate := "-"
	if hinted > 0 {
		hitRate = fmt.Sprintf("%.0f%%", 100*cached/hinted)
	}
	return fmt.Sprintf("%6s (scenario %s): queued %.0f, running %.0f, done %.0f, wait p95 %s, cache hits %s",
		elapsed.Round(time.Second), (time.Duration(float64(elapsed) * speed)).Round(time.Second),
		sum("ocluster_pool_queue_length"), sum("ocluster_pool_running_jobs"), sum("ocluster_scheduler_jobs_finished_total"),
		waitP95(families["ocluster_scheduler_job_wait_seconds"], speed), hitRate)
}

// waitP95 estimates the 95th percentile of the waits so far from the
// histogram's buckets (their upper bound), in scenario time.
func waitP95(f *dto.MetricFamily, speed float64) string {
	if f == nil {
		return "-"
	}
	buckets := map[float64]uint64{}
	var count uint64
	for _, m := range f.Metric {
		h := m.Histogram
		if h == nil {
			continue
		}
		count += h.GetSampleCount()
		for _, b := range h.Bucket {
			buckets[b.GetUpperBound()] += b.GetCumulativeCount()
		}
	}
	if count == 0 {
		return "-"
	}
	var bounds []float64
	for b := range buckets {
		bounds = append(bounds, b)
	}
	slices.Sort(bounds)
	for _, b := range bounds {
		if float64(buckets[b]) >= 0.95*float64(count) {
			return "≤" + (time.Duration(b * speed * float64(time.Second))).Round(time.Second).String()
		}
	}
	return "> " + (time.Duration(bounds[len(bounds)-1] * speed * float64(time.Second))).Round(time.Second).String()
}

func newSyntheticAgent(pool transport.SturdyRef, name string, ws sim.WorkerSpec, speed float64, stateDir string, log *slog.Logger) (*transport.Agent, error) {
	runner := &synthetic.Runner{Cached: meanOr(ws.Cached, 15*time.Second), Uncached: meanOr(ws.Uncached, 15*time.Minute), Speed: speed * cmp.Or(ws.Speed, 1)}
	return syntheticAgent(transport.AgentConfig{Ref: pool, Name: name, Capacity: ws.Capacity, StateDir: stateDir, RetryDelay: time.Second, Logger: log}, runner)
}

// syntheticAgent is a worker agent that runs every job with runner and
// exports its cache hits and misses.
func syntheticAgent(cfg transport.AgentConfig, runner *synthetic.Runner) (*transport.Agent, error) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(runner.Collector("ocluster_worker_cache"))
	cfg.Runners = map[string]runners.Runner{"": runner}
	cfg.Registry = reg
	return transport.NewAgent(cfg)
}

func meanOr(d *sim.Dist, def time.Duration) time.Duration {
	if d == nil {
		return def
	}
	return time.Duration(d.MeanSeconds() * float64(time.Second))
}

// observe measures the live run from the scheduler's trace, in scenario
// time.
func observe(path string, wl *workload, speed float64) (*sim.Result, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	h, events, err := trace.ReadAll(f)
	if err != nil {
		return nil, fmt.Errorf("reading the live run's trace: %w", err)
	}
	return sim.Observe(h, events, sim.ObserveOptions{Scenario: wl.scenario.Name, TimeScale: speed,
		Sample: wl.scenario.Sample.Seconds(), Window: wl.scenario.Window.Seconds()})
}

// writeResult writes DIR/result.json, where ocluster-sim run --out puts
// a run's result (and the Grafana data source looks for one).
func writeResult(dir string, r *sim.Result) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "result.json"), append(data, '\n'), 0o644)
}
