package worker

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"capnproto.org/go/capnp/v3/exc"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"

	"github.com/ocluster-go/ocluster/core"
	"github.com/ocluster-go/ocluster/runners"
	"github.com/ocluster-go/ocluster/transport/schema"
	"github.com/ocluster-go/ocluster/transport/wire"
)

// ContextPreparer makes a job's build context (e.g. a git checkout).
type ContextPreparer interface {
	Prepare(ctx context.Context, job *runners.Job, log io.Writer) (dir string, release func(), err error)
}

// Config says how to run a worker.
type Config struct {
	Ref      wire.SturdyRef // the pool's capability
	Name     string
	Capacity int
	StateDir string
	// Runners run the jobs, by kind ("docker", "obuilder", or a custom
	// kind); the runner under "" takes any kind without its own.
	Runners map[string]runners.Runner
	// Context prepares git build contexts; without it, such jobs fail.
	Context ContextPreparer
	// Registry holds the worker's metrics (one is made when nil).
	Registry *prometheus.Registry
	// AdditionalMetrics are other Prometheus endpoints to relay, by name.
	AdditionalMetrics map[string]string
	// HostMetrics is the node exporter's URL.
	HostMetrics string
	// RetryDelay is the least time between two connection attempts
	// (default 10 s).
	RetryDelay time.Duration
	// Dial opens the network connection to the scheduler (default: TCP).
	// A testbed passes one whose connections it can cut or stop.
	Dial wire.DialFunc
	// UpdateGrace bounds how long, when told to update, the worker waits
	// after its last job for clients to finish reading logs (default 60 s).
	UpdateGrace time.Duration
	// HealthInterval is how often the runners that can check their health
	// do (0: only at start).
	HealthInterval time.Duration
	// PruneRetry is how long a worker whose prune did not free enough
	// waits before pruning again (default 1 min).
	PruneRetry time.Duration
	Logger     *slog.Logger
}

// ErrSelfUpdate is returned by Run when the scheduler asked the worker to
// update: it finished its jobs and should exit so that its service
// manager starts the new version.
var ErrSelfUpdate = errors.New("exiting to update, as the scheduler asked")

// Agent is a worker: it pulls jobs from a pool and runs them.
type Agent struct {
	cfg     Config
	log     *slog.Logger
	metrics agentMetrics

	mu      sync.Mutex
	state   agentState
	changed chan struct{} // closed and replaced when the jobs or the update change
	queue   schema.Queue  // of the current connection
}

type agentMetrics struct {
	accepted        prometheus.Counter
	jobTime         *prometheus.SummaryVec
	running         prometheus.Gauge
	healthcheckTime prometheus.Summary
	unhealthy       prometheus.Gauge
}

// New checks the configuration and returns an agent.
func New(cfg Config) (*Agent, error) {
	if err := wire.CheckName("worker name", cfg.Name); err != nil {
		return nil, err
	}
	if cfg.Capacity < 1 || cfg.Capacity > core.MaxCapacity {
		return nil, fmt.Errorf("capacity %d: a worker runs from 1 to %d jobs at a time", cfg.Capacity, core.MaxCapacity)
	}
	if len(cfg.Runners) == 0 {
		return nil, errors.New("no runner configured")
	}
	if err := os.MkdirAll(filepath.Join(cfg.StateDir, "logs"), 0o700); err != nil {
		return nil, fmt.Errorf("state dir: %w", err)
	}
	if cfg.RetryDelay == 0 {
		cfg.RetryDelay = 10 * time.Second
	}
	if cfg.Dial == nil {
		cfg.Dial = wire.DialTCP
	}
	if cfg.UpdateGrace == 0 {
		cfg.UpdateGrace = 60 * time.Second
	}
	if cfg.PruneRetry == 0 {
		cfg.PruneRetry = time.Minute
	}
	if cfg.HostMetrics == "" {
		cfg.HostMetrics = "http://127.0.0.1:9100/metrics"
	}
	if cfg.Registry == nil {
		cfg.Registry = prometheus.NewRegistry()
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	a := &Agent{cfg: cfg, log: log, state: newAgentState(cfg.Capacity), changed: make(chan struct{})}
	a.metrics = agentMetrics{
		accepted:        prometheus.NewCounter(prometheus.CounterOpts{Name: "ocluster_worker_jobs_accepted_total", Help: "Number of jobs accepted in total"}),
		jobTime:         prometheus.NewSummaryVec(prometheus.SummaryOpts{Name: "ocluster_worker_job_time_seconds", Help: "Time spent running jobs"}, []string{"result"}),
		running:         prometheus.NewGauge(prometheus.GaugeOpts{Name: "ocluster_worker_running_jobs", Help: "Number of jobs currently running"}),
		healthcheckTime: prometheus.NewSummary(prometheus.SummaryOpts{Name: "ocluster_worker_healthcheck_time_seconds", Help: "Time spent checking the runners' health"}),
		unhealthy:       prometheus.NewGauge(prometheus.GaugeOpts{Name: "ocluster_worker_unhealthy", Help: "1 while the last health check failed"}),
	}
	collectors := []prometheus.Collector{a.metrics.accepted, a.metrics.jobTime, a.metrics.running, a.metrics.healthcheckTime, a.metrics.unhealthy}
	for _, r := range a.runners() {
		if c, ok := r.(prometheus.Collector); ok {
			collectors = append(collectors, c)
		}
	}
	for _, c := range collectors {
		if err := cfg.Registry.Register(c); err != nil {
			return nil, fmt.Errorf("registering the worker's metrics: %w", err)
		}
	}
	return a, nil
}

// Running is how many jobs the worker runs now (those of lost connections
// included: their builds go on).
func (a *Agent) Running() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.state.running
}

// jobEvent applies an event of the jobs or the update to the state, and
// wakes what waits on them.
func (a *Agent) jobEvent(event func(*agentState)) {
	a.mu.Lock()
	event(&a.state)
	close(a.changed)
	a.changed = make(chan struct{})
	a.mu.Unlock()
}

// currentQueue is a reference to the connection's queue, which a word to
// send is for (the state sends words only while connected); a.mu is held.
func (a *Agent) currentQueue(w activeWord) schema.Queue {
	if !w.send {
		return schema.Queue{}
	}
	return a.queue.AddRef()
}

// observe reads the jobs and the update, with what is closed when they
// change next. The copy leaves out the pauses, whose map it would share.
func (a *Agent) observe() (agentState, <-chan struct{}) {
	a.mu.Lock()
	defer a.mu.Unlock()
	st := a.state
	st.paused = nil
	return st, a.changed
}

// waitUntil waits until the state satisfies done, and says whether it
// did before ctx ended.
func (a *Agent) waitUntil(ctx context.Context, done func(agentState) bool) bool {
	for {
		st, changed := a.observe()
		if done(st) {
			return true
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return false
		}
	}
}

// runners lists the configured runners, each once, in a stable order.
func (a *Agent) runners() []runners.Runner {
	kinds := slices.Sorted(maps.Keys(a.cfg.Runners))
	var list []runners.Runner
	for _, k := range kinds {
		if r := a.cfg.Runners[k]; !slices.Contains(list, r) {
			list = append(list, r)
		}
	}
	return list
}

// pause keeps the worker from taking jobs for a cause, until resume.
func (a *Agent) pause(ctx context.Context, cause, why string) {
	a.log.Warn("taking no jobs", "cause", cause, "why", why)
	a.tell(ctx, func(s *agentState) activeWord { return s.pause(cause, why) })
}

func (a *Agent) resume(ctx context.Context, cause string) {
	a.tell(ctx, func(s *agentState) activeWord {
		w, was := s.resume(cause)
		if was {
			a.log.Info("taking jobs again", "cause", cause)
		}
		return w
	})
}

// tell applies an event of the pauses or the connection to the state and
// tells the scheduler whether the worker takes jobs, if the state says
// to; words follow one another until the scheduler knows the current
// state. Without a connection it is told at the next registration.
func (a *Agent) tell(ctx context.Context, event func(*agentState) activeWord) error {
	a.mu.Lock()
	w := event(&a.state)
	q := a.currentQueue(w)
	a.mu.Unlock()
	for w.send {
		f, release := q.SetActive(ctx, func(p schema.Queue_setActive_Params) error {
			p.SetActive(w.active)
			return p.SetReason(w.why)
		})
		_, err := f.Struct()
		release()
		q.Release()
		a.mu.Lock()
		next := a.state.sent(w, err == nil)
		q = a.currentQueue(next)
		a.mu.Unlock()
		if err != nil {
			return fmt.Errorf("telling the scheduler the worker is active=%v: %s", w.active, wire.RemoteText(err))
		}
		w = next
	}
	return nil
}

// permanent marks errors that reconnecting cannot cure.
type permanent struct{ error }

func (p permanent) Unwrap() error { return p.error }

// Run connects and works until ctx ends, reconnecting when the connection
// is lost. It returns ErrSelfUpdate when told to update, or an error that
// retrying cannot cure (a capability of the wrong kind, an unknown one).
func (a *Agent) Run(ctx context.Context) error {
	if checkers := a.healthCheckers(); len(checkers) > 0 {
		a.checkHealth(ctx, checkers) // before the first job
		if a.cfg.HealthInterval > 0 {
			ctx, cancel := context.WithCancel(ctx)
			defer cancel()
			go func() {
				t := time.NewTicker(a.cfg.HealthInterval)
				defer t.Stop()
				for {
					select {
					case <-t.C:
						a.checkHealth(ctx, checkers)
					case <-ctx.Done():
						return
					}
				}
			}()
		}
	}
	for {
		started := time.Now()
		err := a.session(ctx)
		switch {
		case ctx.Err() != nil:
			return ctx.Err()
		case errors.Is(err, ErrSelfUpdate):
			return err
		}
		var p permanent
		if errors.As(err, &p) {
			return p.error
		}
		wait := a.cfg.RetryDelay - time.Since(started)
		a.log.Warn("lost the scheduler; reconnecting", "err", err, "in", max(wait, 0).Round(time.Millisecond))
		if wait > 0 {
			select {
			case <-time.After(wait):
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
}

// session is the life of one connection.
func (a *Agent) session(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	conn, err := wire.ConnectVia(ctx, a.cfg.Ref, a.cfg.Dial, a.log)
	if err != nil {
		if errors.Is(err, wire.ErrFingerprint) {
			return permanent{err}
		}
		return err
	}
	defer conn.Close()
	go func() {
		select {
		case <-conn.Done():
			cancel()
		case <-ctx.Done():
		}
	}()
	reg, err := conn.Registration(ctx)
	if err != nil {
		if errors.Is(err, wire.ErrWrongKind) {
			return permanent{fmt.Errorf("%w (give the worker a pool-<name>.cap file)", err)}
		}
		return err
	}
	defer reg.Release()
	worker := wire.Guarded[schema.Worker](schema.Worker_NewServer(&workerServer{a: a}))
	f, release := reg.Register(ctx, func(p schema.Registration_register_Params) error {
		p.SetCapacity(int32(a.cfg.Capacity))
		p.SetWorker(worker)
		return p.SetName(a.cfg.Name)
	})
	defer release()
	res, err := f.Struct()
	if err != nil {
		return fmt.Errorf("registering: %s", wire.RemoteText(err))
	}
	queue := res.Queue().AddRef()
	defer queue.Release()
	a.log.Info("registered", "worker", a.cfg.Name, "capacity", a.cfg.Capacity, "scheduler", a.cfg.Ref.Addr)
	defer func() {
		a.mu.Lock()
		a.queue = schema.Queue{}
		a.state.disconnected()
		a.mu.Unlock()
	}()
	err = a.tell(ctx, func(s *agentState) activeWord {
		a.queue = queue
		return s.registered()
	})
	if err != nil {
		return err
	}
	for _, r := range a.runners() {
		if c, ok := r.(runners.CacheReporter); ok {
			q := queue.AddRef()
			go func() {
				defer q.Release()
				a.reportDropped(ctx, q, c)
			}()
		}
	}
	for {
		st, changed := a.observe()
		switch st.next() {
		case stepUpdate:
			return a.awaitUpdate(ctx)
		case stepWait:
			select {
			case <-changed:
				continue
			case <-ctx.Done():
				return errors.New("connection closed")
			}
		}
		if err := a.prune(ctx, queue); err != nil {
			return err
		}
		if err := a.popOne(ctx, queue); err != nil {
			return err
		}
	}
}

// prune runs before each pop: when a runner says its caches need pruning,
// the worker stops taking jobs, waits for the running ones to end, prunes,
// and checks again. Running jobs and the connection carry on meanwhile;
// only the taking of new jobs waits.
func (a *Agent) prune(ctx context.Context, queue schema.Queue) error {
	for _, r := range a.runners() {
		p, ok := r.(runners.Pruner)
		if !ok {
			continue
		}
		for {
			why, err := p.PruneNeeded(ctx)
			if err != nil {
				a.log.Warn("cannot tell whether to prune; carrying on", "err", err)
				break
			}
			if why == "" {
				break
			}
			a.pause(ctx, "prune", why)
			if st, _ := a.observe(); st.running > 0 {
				a.log.Info("waiting for the running jobs to end before pruning", "running", st.running)
			}
			if !a.waitUntil(ctx, func(st agentState) bool { return st.running == 0 }) {
				return errors.New("connection closed")
			}
			a.log.Info("pruning", "why", why)
			if err := p.Prune(ctx, logWriter{a.log}); err != nil {
				a.log.Error("pruning failed", "err", err)
			} else {
				reportPruned(ctx, queue, a.log)
			}
			if after, err := p.PruneNeeded(ctx); err == nil && after != "" {
				a.log.Error("still short of space after pruning; trying again later", "why", after, "in", a.cfg.PruneRetry)
				select {
				case <-time.After(a.cfg.PruneRetry):
				case <-ctx.Done():
					return errors.New("connection closed")
				}
			}
		}
		a.resume(ctx, "prune")
	}
	return nil
}

// reportPruned tells the scheduler that the worker's build caches are
// gone, so that it stops queueing jobs here for them. A prune empties the
// caches as far as hints go: which hints survive it, no runner can tell.
func reportPruned(ctx context.Context, queue schema.Queue, log *slog.Logger) {
	reportHints(ctx, queue, nil, log)
}

// reportHints tells the scheduler that these hints (none: every hint)
// left the worker's caches.
func reportHints(ctx context.Context, queue schema.Queue, hints []string, log *slog.Logger) {
	f, release := queue.Pruned(ctx, func(p schema.Queue_pruned_Params) error {
		if len(hints) == 0 {
			return nil
		}
		list, err := p.NewHints(int32(len(hints)))
		if err != nil {
			return err
		}
		for i, h := range hints {
			if err := list.Set(i, h); err != nil {
				return err
			}
		}
		return nil
	})
	defer release()
	if _, err := f.Struct(); err != nil {
		log.Warn("could not tell the scheduler about the pruned caches", "hints", len(hints), "err", wire.RemoteText(err))
	}
}

// reportDropped passes on, for the life of a connection, what a runner
// says left its caches.
func (a *Agent) reportDropped(ctx context.Context, queue schema.Queue, r runners.CacheReporter) {
	for {
		select {
		case <-r.Dropped():
		case <-ctx.Done():
			return
		}
		all, hints := r.TakeDropped()
		if all {
			reportPruned(ctx, queue, a.log)
		}
		if len(hints) > 0 {
			reportHints(ctx, queue, hints, a.log)
		}
	}
}

func (a *Agent) healthCheckers() []runners.HealthChecker {
	var list []runners.HealthChecker
	for _, r := range a.runners() {
		if h, ok := r.(runners.HealthChecker); ok {
			list = append(list, h)
		}
	}
	return list
}

// checkHealth runs the health checks; the worker takes no jobs while one
// fails.
func (a *Agent) checkHealth(ctx context.Context, checkers []runners.HealthChecker) {
	started := time.Now()
	var failures []string
	for _, h := range checkers {
		if err := h.HealthCheck(ctx); err != nil {
			failures = append(failures, err.Error())
		}
	}
	if ctx.Err() != nil {
		return
	}
	a.metrics.healthcheckTime.Observe(time.Since(started).Seconds())
	if len(failures) > 0 {
		a.metrics.unhealthy.Set(1)
		a.pause(ctx, "health", "health check failed: "+strings.Join(failures, "; "))
		return
	}
	a.metrics.unhealthy.Set(0)
	a.resume(ctx, "health")
}

// logWriter turns what a runner writes while pruning into log records.
type logWriter struct{ log *slog.Logger }

func (w logWriter) Write(p []byte) (int, error) {
	for line := range strings.SplitSeq(strings.TrimRight(string(p), "\n"), "\n") {
		w.log.Info(line)
	}
	return len(p), nil
}

// popOne waits for one job and starts it.
func (a *Agent) popOne(ctx context.Context, queue schema.Queue) error {
	js := &jobServer{log: newJobLog(filepath.Join(a.cfg.StateDir, "logs")), done: make(chan struct{})}
	js.ctx, js.cancel = context.WithCancel(context.Background())
	// An update stops the waiting: the scheduler has marked the worker as
	// shutting down, so this pop would wait for ever.
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	go func() {
		if a.waitUntil(ctx, func(st agentState) bool { return st.updating }) {
			stop()
		}
	}()
	a.log.Debug("waiting for a job", "running", a.Running())
	f, release := queue.Pop(ctx, func(p schema.Queue_pop_Params) error {
		return p.SetJob(wire.Guarded[schema.Job](schema.Job_NewServer(js)))
	})
	res, err := f.Struct()
	if err != nil {
		release()
		// No job came: end the job server, or its Shutdown would wait
		// for a run that never starts (a goroutine per failed pop).
		js.complete("", err)
		if st, _ := a.observe(); st.updating {
			return nil // the session loop sees the update
		}
		return fmt.Errorf("waiting for a job: %s", wire.RemoteText(err))
	}
	descr, err := res.Descr()
	var job *runners.Job
	if err == nil {
		job, err = wire.ReadDescr(descr)
	}
	release()
	if err != nil {
		js.complete("", fmt.Errorf("reading the job description: %w", err))
		return nil
	}
	a.jobEvent((*agentState).taken)
	js.released = func() { a.jobEvent((*agentState).released) }
	a.metrics.accepted.Inc()
	a.metrics.running.Inc()
	go a.run(js, job)
	return nil
}

func (a *Agent) run(js *jobServer, job *runners.Job) {
	started := time.Now()
	output, err := a.execute(js, job)
	result := "ok"
	switch {
	case errors.Is(err, runners.ErrCancelled) || js.ctx.Err() != nil && err != nil:
		fmt.Fprintln(js.log, "Job cancelled")
		err, result = runners.ErrCancelled, "cancelled"
	case err != nil:
		fmt.Fprintln(js.log, err)
		result = "error"
	default:
		fmt.Fprintln(js.log, "Job succeeded")
	}
	js.complete(output, err)
	took := time.Since(started)
	// Successes are the steady state and would drown the log at thousands
	// of jobs a second; the rest is what an operator looks for.
	if result != "ok" {
		a.log.Info("job ended", "kind", job.Kind(), "result", result, "err", err, "took", took.Round(time.Millisecond))
	}
	a.metrics.jobTime.WithLabelValues(result).Observe(took.Seconds())
	a.metrics.running.Dec()
	a.jobEvent((*agentState).ended)
}

func (a *Agent) execute(js *jobServer, job *runners.Job) (string, error) {
	fmt.Fprintf(js.log, "Building on %s\n", a.cfg.Name)
	runner := a.cfg.Runners[job.Kind()]
	if runner == nil {
		runner = a.cfg.Runners[""]
	}
	if runner == nil {
		return "", fmt.Errorf("this worker cannot run %q jobs", job.Kind())
	}
	dir := ""
	if job.Repository != "" || len(job.Commits) > 0 {
		if a.cfg.Context == nil {
			return "", errors.New("this worker cannot fetch git build contexts")
		}
		d, release, err := a.cfg.Context.Prepare(js.ctx, job, js.log)
		if err != nil {
			return "", err
		}
		defer release()
		dir = d
	}
	return runner.Run(js.ctx, job, dir, js.log)
}

// awaitUpdate waits for the running jobs to end, and for the scheduler to
// let go of their Job objects (so their clients could read the logs to the
// end), at most UpdateGrace after the last job; then it tells Run to exit.
func (a *Agent) awaitUpdate(ctx context.Context) error {
	var grace <-chan time.Time
	for {
		st, changed := a.observe()
		switch st.updateNext() {
		case updateExit:
			return ErrSelfUpdate
		case updateGrace:
			if grace == nil {
				grace = time.After(a.cfg.UpdateGrace)
			}
		}
		select {
		case <-changed:
		case <-grace:
			a.log.Warn("exiting to update while clients still hold jobs", "jobs", st.held)
			return ErrSelfUpdate
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// ---------------------------------------------------------------- the worker's objects

// jobServer is the Job object a worker hands the scheduler for one job.
type jobServer struct {
	log      *jobLog
	ctx      context.Context // cancelled by Job.cancel
	cancel   context.CancelFunc
	released func() // tells the agent the scheduler let go of the job

	mu     sync.Mutex
	done   chan struct{}
	output string
	err    error
}

func (js *jobServer) complete(output string, err error) {
	js.mu.Lock()
	js.output, js.err = output, err
	js.mu.Unlock()
	js.log.finish()
	close(js.done)
}

// Shutdown runs when the scheduler lets go of the job: its log goes.
func (js *jobServer) Shutdown() {
	js.cancel()
	go func() {
		<-js.done
		js.log.discard()
		if js.released != nil {
			js.released()
		}
	}()
}

func (js *jobServer) Log(ctx context.Context, call schema.Job_log) error {
	call.Go()
	data, next, complete, err := js.log.read(ctx, call.Args().Start())
	if err != nil {
		return err
	}
	res, err := call.AllocResults()
	if err != nil {
		return err
	}
	res.SetNext(next)
	res.SetComplete(complete)
	return res.SetLog(data)
}

func (js *jobServer) Result(ctx context.Context, call schema.Job_result) error {
	call.Go()
	select {
	case <-js.done:
	case <-ctx.Done():
		return ctx.Err()
	}
	js.mu.Lock()
	output, err := js.output, js.err
	js.mu.Unlock()
	if err != nil {
		return exc.New(exc.Failed, "", err.Error())
	}
	res, err := call.AllocResults()
	if err != nil {
		return err
	}
	return res.SetOutput(output)
}

func (js *jobServer) Cancel(ctx context.Context, call schema.Job_cancel) error {
	js.cancel()
	return nil
}

// workerServer is the worker's own capability, given at registration.
type workerServer struct{ a *Agent }

func (w *workerServer) Metrics(ctx context.Context, call schema.Worker_metrics) error {
	call.Go()
	var data string
	var err error
	switch call.Args().Source() {
	case schema.Worker_MetricsSource_host:
		data, err = fetch(ctx, w.a.cfg.HostMetrics)
	default:
		data, err = gather(w.a.cfg.Registry)
	}
	if err != nil {
		return exc.New(exc.Failed, "", err.Error())
	}
	res, err := call.AllocResults()
	if err != nil {
		return err
	}
	if err := res.SetContentType(string(expfmt.NewFormat(expfmt.TypeTextPlain))); err != nil {
		return err
	}
	return res.SetData(data)
}

func (w *workerServer) AdditionalMetric(ctx context.Context, call schema.Worker_additionalMetric) error {
	call.Go()
	name, err := call.Args().Name()
	if err != nil {
		return err
	}
	url, ok := w.a.cfg.AdditionalMetrics[name]
	if !ok {
		return exc.New(exc.Failed, "", fmt.Sprintf("no additional metric %q on this worker", name))
	}
	data, err := fetch(ctx, url)
	if err != nil {
		return exc.New(exc.Failed, "", err.Error())
	}
	res, err := call.AllocResults()
	if err != nil {
		return err
	}
	if err := res.SetContentType(string(expfmt.NewFormat(expfmt.TypeTextPlain))); err != nil {
		return err
	}
	return res.SetData(data)
}

func (w *workerServer) Ping(context.Context, schema.Worker_ping) error { return nil }

func (w *workerServer) SelfUpdate(ctx context.Context, call schema.Worker_selfUpdate) error {
	call.Go()
	a := w.a
	a.jobEvent((*agentState).updateRequested)
	a.log.Info("the scheduler asked for an update: finishing the running jobs, then exiting")
	<-ctx.Done() // answered by the connection closing as the worker exits
	return ctx.Err()
}

func gather(reg *prometheus.Registry) (string, error) {
	families, err := reg.Gather()
	if err != nil {
		return "", err
	}
	var buf bytes.Buffer
	enc := expfmt.NewEncoder(&buf, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, f := range families {
		if err := enc.Encode(f); err != nil {
			return "", err
		}
	}
	return buf.String(), nil
}

func fetch(ctx context.Context, url string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", fmt.Errorf("fetching %s: %w", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("fetching %s: %s", url, resp.Status)
	}
	return string(body), nil
}
