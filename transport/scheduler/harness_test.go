package scheduler

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/ocluster-go/ocluster/core"
	"github.com/ocluster-go/ocluster/runners"
	"github.com/ocluster-go/ocluster/store"
	"github.com/ocluster-go/ocluster/trace"
	"github.com/ocluster-go/ocluster/transport/client"
	"github.com/ocluster-go/ocluster/transport/schema"
	"github.com/ocluster-go/ocluster/transport/wire"
	"github.com/ocluster-go/ocluster/transport/worker"
	"github.com/stretchr/testify/require"
)

// testLogger logs only when the test is verbose.
func testLogger(t testing.TB) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// cluster is a scheduler with its capabilities, on an in-memory network
// unless the test is about TCP.
type cluster struct {
	t        *testing.T
	dir      string
	sched    *Scheduler
	store    *store.Store
	admin    wire.SturdyRef
	pools    map[string]wire.SturdyRef
	metrics  http.Handler
	net      *memNet // nil on TCP
	listener net.Listener
}

type clusterOptions struct {
	pools       []string
	dir         string // reuse (a restart); default a new temp dir
	noStore     bool
	maxDescr    uint64
	pingTimeout time.Duration
	authTimeout time.Duration
	maxUnauth   int
	// policy is "ocluster" unless given: most tests are OCluster's own.
	policy    string
	override  core.Override
	costs     core.Costs
	timeScale float64
	trace     *trace.Writer
	// tcp serves on loopback, and clients and workers reach it as in
	// production (Connect, the agent's default dial): the tests of that
	// path itself.
	tcp bool
}

func startCluster(t *testing.T, o clusterOptions) *cluster {
	t.Helper()
	if len(o.pools) == 0 {
		o.pools = []string{"pool"}
	}
	if o.dir == "" {
		o.dir = t.TempDir()
	}
	id, err := wire.LoadOrCreateIdentity(filepath.Join(o.dir, "key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	c := &cluster{t: t, dir: o.dir, pools: map[string]wire.SturdyRef{}}
	if !o.noStore {
		if c.store, err = store.Open(filepath.Join(o.dir, "scheduler.db")); err != nil {
			t.Fatal(err)
		}
	}
	if o.tcp {
		if c.listener, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
	} else {
		c.net = newMemNet()
		c.listener = c.net.listen()
	}
	if o.policy == "" {
		o.policy = "ocluster"
	}
	c.sched, err = New(Config{Pools: o.pools, Policy: o.policy, Override: o.override, Costs: o.costs, Identity: id, PublicAddr: c.listener.Addr().String(),
		Store: c.store, MaxDescr: o.maxDescr, PingTimeout: o.pingTimeout,
		AuthTimeout: o.authTimeout, MaxUnauthenticated: o.maxUnauth, TimeScale: o.timeScale, Trace: o.trace, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	c.metrics = c.sched.MetricsHandler()
	go c.sched.Serve(c.listener)
	capDir := filepath.Join(o.dir, "caps")
	os.MkdirAll(capDir, 0o700)
	if err := c.sched.WriteCapFiles(capDir, nil); err != nil {
		t.Fatal(err)
	}
	if c.admin, err = wire.ReadCapFile(filepath.Join(capDir, "admin.cap")); err != nil {
		t.Fatal(err)
	}
	for _, p := range o.pools {
		if c.pools[p], err = wire.ReadCapFile(filepath.Join(capDir, "pool-"+p+".cap")); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(c.stop)
	return c
}

// stop closes the scheduler (idempotent: a restart test stops it early).
func (c *cluster) stop() {
	if c.sched == nil {
		return
	}
	c.sched.Close()
	if c.store != nil {
		c.store.Close()
	}
	c.sched = nil
}

// checkGauges fails the test unless every pool gauge is back to zero once
// workers and clients are gone: nothing leaks.
func (c *cluster) checkGauges(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		nonZero := c.nonZeroGauges(t)
		if len(nonZero) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("gauges left non-zero after the test:\n%s", strings.Join(nonZero, "\n"))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// get serves a request for path from the scheduler's metrics handler, in
// process: no listener, so that it works under synctest too.
func (c *cluster) get(path string) (int, string) {
	rec := httptest.NewRecorder()
	c.metrics.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	return rec.Code, rec.Body.String()
}

func (c *cluster) nonZeroGauges(t *testing.T) []string {
	_, body := c.get("/metrics")
	var nonZero []string
	seen := 0
	sc := bufio.NewScanner(strings.NewReader(body))
	for sc.Scan() {
		line := sc.Text()
		name, value, ok := strings.Cut(line, " ")
		if !ok || strings.HasPrefix(line, "#") {
			continue
		}
		gauge := false
		for _, g := range []string{"ocluster_pool_workers_connected", "ocluster_pool_workers_capacity", "ocluster_pool_workers_ready",
			"ocluster_pool_workers_paused", "ocluster_pool_queue_length", "ocluster_pool_running_jobs", "ocluster_scheduler_client_submitted_jobs"} {
			gauge = gauge || strings.HasPrefix(name, g)
		}
		if !gauge {
			continue
		}
		seen++
		if v, err := strconv.ParseFloat(value, 64); err != nil || v != 0 {
			nonZero = append(nonZero, line)
		}
	}
	if seen == 0 {
		t.Fatal("the metrics have no pool gauge at all: the check would check nothing")
	}
	return nonZero
}

// addClient registers a client through the admin capability.
func (c *cluster) addClient(id string) wire.SturdyRef {
	c.t.Helper()
	var ref wire.SturdyRef
	c.withAdmin(func(ctx context.Context, a *client.Admin) {
		capFile, err := a.AddClient(ctx, id)
		if err != nil {
			c.t.Fatal(err)
		}
		if ref, err = wire.ParseSturdyRef(capFile); err != nil {
			c.t.Fatal(err)
		}
	})
	return ref
}

// connect is Connect over the cluster's network.
func (c *cluster) connect(ctx context.Context, ref wire.SturdyRef) (*client.Conn, error) {
	if c.net == nil {
		return client.Connect(ctx, ref, testLogger(c.t))
	}
	conn, err := wire.ConnectVia(ctx, ref, c.net.dial, testLogger(c.t))
	if err != nil {
		return nil, err
	}
	return &client.Conn{Conn: conn}, nil
}

func (c *cluster) withAdmin(f func(context.Context, *client.Admin)) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := c.connect(ctx, c.admin)
	if err != nil {
		c.t.Fatal(err)
	}
	defer conn.Close()
	a, err := conn.Admin(ctx)
	if err != nil {
		c.t.Fatal(err)
	}
	defer a.Release()
	f(ctx, a)
}

func (c *cluster) withPool(name string, f func(context.Context, *client.Pool)) {
	c.t.Helper()
	c.withAdmin(func(ctx context.Context, a *client.Admin) {
		p, err := a.Pool(ctx, name)
		if err != nil {
			c.t.Fatal(err)
		}
		defer p.Release()
		f(ctx, p)
	})
}

// testWorker is an agent running in the background.
type testWorker struct {
	agent *worker.Agent
	stop  context.CancelFunc
	ended chan struct{} // closed when Run has returned, with err set
	err   error
}

func (c *cluster) startWorker(name string, capacity int, runner runners.Runner, ref wire.SturdyRef) *testWorker {
	c.t.Helper()
	return c.startAgent(worker.Config{Ref: ref, Name: name, Capacity: capacity, Runners: map[string]runners.Runner{"": runner}})
}

// startAgent runs a worker as configured, with a state dir, a short retry
// delay and the test's logger unless set.
func (c *cluster) startAgent(cfg worker.Config) *testWorker {
	c.t.Helper()
	if cfg.StateDir == "" {
		cfg.StateDir = c.t.TempDir()
	}
	if cfg.RetryDelay == 0 {
		cfg.RetryDelay = 50 * time.Millisecond
	}
	if cfg.Logger == nil {
		cfg.Logger = testLogger(c.t)
	}
	if cfg.Dial == nil && c.net != nil {
		cfg.Dial = c.net.dial
	}
	agent, err := worker.New(cfg)
	if err != nil {
		c.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	w := &testWorker{agent: agent, stop: cancel, ended: make(chan struct{})}
	go func() {
		w.err = agent.Run(ctx)
		close(w.ended)
	}()
	c.t.Cleanup(w.shutdown)
	return w
}

// wait returns what Run returned, or fails the test if it goes on.
func (w *testWorker) wait(t *testing.T) error {
	t.Helper()
	select {
	case <-w.ended:
		return w.err
	case <-time.After(10 * time.Second):
		t.Fatal("the worker keeps running")
		return nil
	}
}

func (w *testWorker) shutdown() {
	w.stop()
	select {
	case <-w.ended:
	case <-time.After(10 * time.Second):
	}
}

// register registers a bare worker capability under name in "pool", as a
// worker agent would, and returns what the scheduler answered.
func (c *cluster) register(t *testing.T, name string) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := c.connect(ctx, c.pools["pool"])
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	reg, err := conn.Registration(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Release()
	f, release := reg.Register(ctx, func(p schema.Registration_register_Params) error {
		p.SetWorker(wire.Guarded[schema.Worker](schema.Worker_NewServer(bareWorker{})))
		p.SetCapacity(1)
		return p.SetName(name)
	})
	defer release()
	_, err = f.Struct()
	return err
}

// bareWorker is a worker capability that answers every call with nothing.
type bareWorker struct{}

func (bareWorker) Metrics(context.Context, schema.Worker_metrics) error { return nil }
func (bareWorker) AdditionalMetric(context.Context, schema.Worker_additionalMetric) error {
	return nil
}
func (bareWorker) Ping(context.Context, schema.Worker_ping) error             { return nil }
func (bareWorker) SelfUpdate(context.Context, schema.Worker_selfUpdate) error { return nil }

// waitConnected waits until the pool has n connected workers.
func (c *cluster) waitConnected(pool string, n int) {
	c.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var got int
		c.sched.locked(func(*owned) { got = len(c.sched.pools[pool].workers) })
		if got == n {
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("pool %s has %d connected workers, want %d", pool, got, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// mockRunner is like OCluster's mock builder: a job logs "Building
// <Dockerfile>" and then waits for the test to say how it ends.
type mockRunner struct {
	mu      sync.Mutex
	results map[string]chan mockResult
	started map[string]chan struct{}
}

type mockResult struct {
	output string
	err    error
}

func newMockRunner() *mockRunner {
	return &mockRunner{results: map[string]chan mockResult{}, started: map[string]chan struct{}{}}
}

// channels returns a label's results (set may come before the run) and
// its starts, one token per run.
func (m *mockRunner) channels(label string) (chan mockResult, chan struct{}) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.results[label] == nil {
		m.results[label] = make(chan mockResult, 16)
		m.started[label] = make(chan struct{}, 16)
	}
	return m.results[label], m.started[label]
}

func (m *mockRunner) Run(ctx context.Context, job *runners.Job, _ string, log io.Writer) (string, error) {
	label := job.Docker.DockerfileContents
	results, started := m.channels(label)
	fmt.Fprintf(log, "Building %s\n", label)
	started <- struct{}{}
	select {
	case r := <-results:
		return r.output, r.err
	case <-ctx.Done():
		return "", runners.ErrCancelled
	}
}

func (m *mockRunner) set(label, output string, err error) {
	results, _ := m.channels(label)
	results <- mockResult{output, err}
}

// await waits until a run of the job labelled label has started.
func (m *mockRunner) await(t *testing.T, label string) {
	t.Helper()
	_, started := m.channels(label)
	select {
	case <-started:
	case <-time.After(10 * time.Second):
		t.Fatalf("job %q never started", label)
	}
}

// session is a client connection with its submission capability.
type session struct {
	conn *client.Conn
	sub  *client.Submission
}

func (c *cluster) connectClient(ref wire.SturdyRef) *session {
	c.t.Helper()
	conn, err := c.connect(context.Background(), ref)
	if err != nil {
		c.t.Fatal(err)
	}
	sub, err := conn.Submission(context.Background())
	if err != nil {
		c.t.Fatal(err)
	}
	s := &session{conn: conn, sub: sub}
	c.t.Cleanup(s.close)
	return s
}

func (s *session) close() {
	s.sub.Release()
	s.conn.Close()
}

func dockerJob(label string) *runners.Job {
	return &runners.Job{Hint: "1", Docker: &runners.DockerBuild{DockerfileContents: label}}
}

// run submits a job and returns its log, then "FAILED" if it failed, as
// OCluster's tests do.
func (s *session) run(t *testing.T, label string) string {
	t.Helper()
	return <-s.start(t, label)
}

// start submits a job now and reads it in the background.
func (s *session) start(t *testing.T, label string) <-chan string {
	t.Helper()
	return s.startJob(t, dockerJob(label))
}

// startJob submits job now and reads it in the background.
func (s *session) startJob(t *testing.T, job *runners.Job) <-chan string {
	t.Helper()
	out := make(chan string, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	submitted, err := s.sub.Submit(ctx, "pool", job, false)
	if err != nil {
		cancel()
		out <- "Submit failed: " + err.Error() + "\n"
		return out
	}
	go func() {
		defer cancel()
		defer submitted.Release()
		out <- readJob(ctx, submitted)
	}()
	return out
}

func readJob(ctx context.Context, job *client.Job) string {
	if err := job.Started(ctx); err != nil {
		return "Error tailing logs: " + err.Error() + "\nFAILED\n"
	}
	var log strings.Builder
	if err := job.Tail(ctx, &log); err != nil {
		return log.String() + err.Error() + "\nFAILED\n"
	}
	if _, err := job.Result(ctx); err != nil {
		return log.String() + "FAILED\n"
	}
	return log.String()
}

// proxy is a relay on the cluster's network whose connections can be cut,
// to lose a network, or frozen, to lose the machine at the other end
// without a word. Its tests run under synctest: a cut or a freeze comes
// once all that was sent has arrived, so that what is lost is the
// connection, never a message half-way (which OCluster's tests do not
// test either, and which made them depend on timing).
type proxy struct {
	l      net.Listener
	mu     sync.Mutex
	conns  []net.Conn
	frozen atomic.Bool
}

func (c *cluster) startProxy(t *testing.T) *proxy {
	t.Helper()
	if c.net == nil {
		t.Fatal("the proxy relays on the in-memory network only")
	}
	p := &proxy{l: c.net.listen()}
	target := c.listener.Addr().String()
	go func() {
		for {
			in, err := p.l.Accept()
			if err != nil {
				return
			}
			out, err := c.net.dial(context.Background(), target)
			if err != nil {
				in.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, in, out)
			p.mu.Unlock()
			go func() { io.Copy(out, p.unlessFrozen(in)); out.Close() }()
			go func() { io.Copy(in, p.unlessFrozen(out)); in.Close() }()
		}
	}()
	t.Cleanup(func() { p.l.Close(); p.drop() })
	return p
}

// freeze drops everything relayed from now on, keeping the connections
// open.
func (p *proxy) freeze() {
	synctest.Wait()
	p.frozen.Store(true)
}

func (p *proxy) unlessFrozen(r io.Reader) io.Reader {
	return readerFunc(func(b []byte) (int, error) {
		for {
			n, err := r.Read(b)
			if !p.frozen.Load() || err != nil {
				return n, err
			}
		}
	})
}

type readerFunc func([]byte) (int, error)

func (f readerFunc) Read(b []byte) (int, error) { return f(b) }

// cut closes every relayed connection; new ones still get through.
func (p *proxy) cut() {
	synctest.Wait()
	p.drop()
}

func (p *proxy) drop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

func (p *proxy) ref(r wire.SturdyRef) wire.SturdyRef {
	r.Addr = p.l.Addr().String()
	return r
}

var errBuild = errors.New("Build failed!")

// bareJob is a job held through the bare capabilities, for the calls the
// client library never makes: the job's own cancel, or a ticket dropped
// while the job is kept.
type bareJob struct {
	ticket schema.Ticket
	job    schema.Job // once a worker has it
}

// submitBare submits a job to pool "pool" without the client library.
func (s *session) submitBare(t *testing.T, label string) *bareJob {
	t.Helper()
	ctx := context.Background()
	c, err := s.conn.Restore(ctx, schema.Bootstrap_Kind_submission)
	require.NoError(t, err)
	sub := schema.Submission(c)
	defer sub.Release()
	f, release := sub.Submit(ctx, func(p schema.Submission_submit_Params) error {
		if err := p.SetPool("pool"); err != nil {
			return err
		}
		d, err := p.NewDescr()
		if err != nil {
			return err
		}
		return wire.FillDescr(d, dockerJob(label))
	})
	defer release()
	res, err := f.Struct()
	require.NoError(t, err)
	return &bareJob{ticket: res.Ticket().AddRef()}
}

// started waits until a worker takes the job.
func (b *bareJob) started(t *testing.T) {
	t.Helper()
	f, release := b.ticket.Job(context.Background(), nil)
	defer release()
	res, err := f.Struct()
	require.NoError(t, err)
	b.job = res.Job().AddRef()
}

// Tail copies the job's log to w until the log ends.
func (b *bareJob) Tail(ctx context.Context, w io.Writer) error {
	var start int64
	for {
		f, release := b.job.Log(ctx, func(p schema.Job_log_Params) error { p.SetStart(start); return nil })
		res, err := f.Struct()
		var data []byte
		if err == nil {
			data, err = res.Log()
			start = res.Next()
		}
		if err == nil {
			_, err = w.Write(data)
		}
		release()
		if err != nil || len(data) == 0 {
			return err
		}
	}
}

// Result waits for the job's output or failure.
func (b *bareJob) Result(ctx context.Context) (string, error) {
	f, release := b.job.Result(ctx, nil)
	defer release()
	res, err := f.Struct()
	if err != nil {
		return "", errors.New(wire.RemoteText(err))
	}
	return res.Output()
}

func (b *bareJob) release() {
	b.job.Release()
	b.ticket.Release()
}

// forceUnpause asks the scheduler to unpause a worker with force, which
// the client library never sends, through the bare admin capability.
func (c *cluster) forceUnpause(pool, name string) error {
	c.t.Helper()
	ctx := context.Background()
	conn, err := c.connect(ctx, c.admin)
	require.NoError(c.t, err)
	defer conn.Close()
	cl, err := conn.Restore(ctx, schema.Bootstrap_Kind_admin)
	require.NoError(c.t, err)
	admin := schema.Admin(cl)
	defer admin.Release()
	pf, prelease := admin.Pool(ctx, func(p schema.Admin_pool_Params) error { return p.SetName(pool) })
	defer prelease()
	f, release := pf.Pool().SetActive(ctx, func(a schema.PoolAdmin_setActive_Params) error {
		a.SetActive(true)
		a.SetForce(true)
		return a.SetWorker(name)
	})
	defer release()
	if _, err := f.Struct(); err != nil {
		return errors.New(wire.RemoteText(err))
	}
	return nil
}
