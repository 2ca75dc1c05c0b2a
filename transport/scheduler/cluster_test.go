package scheduler

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/ocluster-go/ocluster/core"
	"github.com/ocluster-go/ocluster/runners"
	"github.com/ocluster-go/ocluster/transport/client"
	"github.com/ocluster-go/ocluster/transport/wire"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The cases of OCluster's own integration tests, by name, over real TLS
// connections on an in-memory network; each ends with the gauge-leak
// check.

func newTest(t *testing.T) (*cluster, *session, *mockRunner) {
	c := startCluster(t, clusterOptions{})
	t.Cleanup(func() { c.checkGauges(t) })
	return c, c.connectClient(c.addClient("client")), newMockRunner()
}

func expect(t *testing.T, what, got, want string) {
	t.Helper()
	if got != want {
		t.Fatalf("%s:\ngot  %q\nwant %q", what, got, want)
	}
}

func TestSimple(t *testing.T) {
	c, s, m := newTest(t)
	c.startWorker("worker-1", 1, m, c.pools["pool"])
	m.set("example", "hash", nil)
	expect(t, "log", s.run(t, "example"), "Building on worker-1\nBuilding example\nJob succeeded\n")
}

// The tests run on an in-memory network; this one runs a job over TCP on
// loopback, as in production: the scheduler's listener (with its
// keep-alives), Connect and the worker's default dial.
func TestOverTCP(t *testing.T) {
	c := startCluster(t, clusterOptions{tcp: true})
	t.Cleanup(func() { c.checkGauges(t) })
	s, m := c.connectClient(c.addClient("client")), newMockRunner()
	c.startWorker("worker-1", 1, m, c.pools["pool"])
	m.set("example", "hash", nil)
	expect(t, "log", s.run(t, "example"), "Building on worker-1\nBuilding example\nJob succeeded\n")
}

func TestFails(t *testing.T) {
	c, s, m := newTest(t)
	c.startWorker("worker-1", 1, m, c.pools["pool"])
	m.set("example2", "", errBuild)
	expect(t, "log", s.run(t, "example2"), "Building on worker-1\nBuilding example2\nBuild failed!\nFAILED\n")
}

func TestAwaitBuilder(t *testing.T) {
	c, s, m := newTest(t)
	result := s.start(t, "example") // no worker connected yet
	c.startWorker("worker-1", 1, m, c.pools["pool"])
	m.set("example", "hash", nil)
	expect(t, "log", <-result, "Building on worker-1\nBuilding example\nJob succeeded\n")
}

func TestAlreadyRegistered(t *testing.T) {
	c, _, m := newTest(t)
	c.startWorker("worker-1", 1, m, c.pools["pool"])
	c.waitConnected("pool", 1)
	if err := c.register(t, "worker-1"); err == nil || wire.RemoteText(err) != `Worker "worker-1" already registered!` {
		t.Fatalf("second registration: %v", err)
	}
}

// OCluster issue #119: a worker restarted after its machine vanished finds
// its old connection still registered. The old one does not answer a
// ping, so the new one takes its place at once, instead of being refused
// until TCP notices.
func TestRestartedWorkerReplacesDeadConnection(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := startCluster(t, clusterOptions{pingTimeout: 300 * time.Millisecond})
		t.Cleanup(func() { c.checkGauges(t) })
		s, m := c.connectClient(c.addClient("client")), newMockRunner()
		net := c.startProxy(t)
		old := c.startWorker("worker-1", 1, m, net.ref(c.pools["pool"]))
		c.waitConnected("pool", 1)
		registered := func() (wc *workerConn) {
			c.sched.locked(func(*owned) { wc = c.sched.pools["pool"].workers["worker-1"] })
			return wc
		}
		first := registered()
		net.freeze()
		c.startWorker("worker-1", 1, m, c.pools["pool"])
		eventually(t, "the restarted worker is registered", func() bool { w := registered(); return w != nil && w != first })
		result := s.start(t, "example")
		m.await(t, "example")
		m.set("example", "hash", nil)
		expect(t, "log", <-result, "Building on worker-1\nBuilding example\nJob succeeded\n")
		old.shutdown()
	})
}

func TestBuilderCapacity(t *testing.T) {
	c, s, m := newTest(t)
	c.startWorker("worker-1", 2, m, c.pools["pool"])
	results := make([]<-chan string, 3)
	for i := range results {
		results[i] = s.start(t, fmt.Sprintf("example%d", i+1))
	}
	m.await(t, "example1")
	m.await(t, "example2")
	var running int
	c.sched.locked(func(*owned) { running = len(c.sched.pools["pool"].core.Worker("worker-1").Running()) })
	if running != 2 {
		t.Fatalf("%d jobs run on a worker of capacity 2", running)
	}
	for i := range results {
		m.set(fmt.Sprintf("example%d", i+1), "hash", nil)
	}
	for i := range results {
		expect(t, "log", <-results[i], fmt.Sprintf("Building on worker-1\nBuilding example%d\nJob succeeded\n", i+1))
	}
}

// progressRecorder collects a drain's progress reports.
type progressRecorder struct {
	mu      sync.Mutex
	reports []string
	changed chan struct{}
}

func newProgress() *progressRecorder { return &progressRecorder{changed: make(chan struct{}, 100)} }

func (p *progressRecorder) report(s string) {
	p.mu.Lock()
	p.reports = append(p.reports, s)
	p.mu.Unlock()
	p.changed <- struct{}{}
}

func (p *progressRecorder) waitFor(t *testing.T, want string) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		p.mu.Lock()
		last := ""
		if len(p.reports) > 0 {
			last = p.reports[len(p.reports)-1]
		}
		p.mu.Unlock()
		if last == want {
			return
		}
		select {
		case <-p.changed:
		case <-deadline:
			t.Fatalf("progress is %q, want %q", last, want)
		}
	}
}

func TestDrain(t *testing.T) {
	c, s, m := newTest(t)
	c.startWorker("worker-1", 2, m, c.pools["pool"])
	results := make([]<-chan string, 3)
	for i := range results {
		results[i] = s.start(t, fmt.Sprintf("example%d", i+1))
		if i < 2 {
			m.await(t, fmt.Sprintf("example%d", i+1))
		}
	}
	progress := newProgress()
	drained := make(chan error, 1)
	go c.withPool("pool", func(ctx context.Context, p *client.Pool) {
		drained <- p.Drain(ctx, "worker-1", progress.report)
	})
	progress.waitFor(t, "Running jobs: 2")
	m.set("example1", "hash", nil)
	progress.waitFor(t, "Running jobs: 1")
	m.set("example2", "hash", nil)
	expect(t, "log 1", <-results[0], "Building on worker-1\nBuilding example1\nJob succeeded\n")
	expect(t, "log 2", <-results[1], "Building on worker-1\nBuilding example2\nJob succeeded\n")
	if err := <-drained; err != nil {
		t.Fatal(err)
	}
	progress.waitFor(t, "Running jobs: 0")
	c.withPool("pool", func(ctx context.Context, p *client.Pool) {
		if err := p.SetActive(ctx, "worker-1", true, false); err != nil {
			t.Fatal(err)
		}
	})
	m.set("example3", "hash", nil)
	expect(t, "log 3", <-results[2], "Building on worker-1\nBuilding example3\nJob succeeded\n")
}

func TestDrainCrash(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, s, m := newTest(t)
		net := c.startProxy(t)
		w := c.startWorker("worker-1", 1, m, net.ref(c.pools["pool"]))
		result := s.start(t, "example1")
		m.await(t, "example1")
		progress := newProgress()
		drained := make(chan error, 1)
		go c.withPool("pool", func(ctx context.Context, p *client.Pool) {
			drained <- p.Drain(ctx, "worker-1", progress.report)
		})
		progress.waitFor(t, "Running jobs: 1")
		// The worker crashes instead of finishing the job: its connection
		// drops without a word, then it is gone.
		net.cut()
		w.shutdown()
		progress.waitFor(t, "Running jobs: 0")
		// Whether the reader got the build's lines before the cut is a race
		// it may lose; how the job ended is not.
		got := <-result
		end := "tailing the log: Worker \"worker-1\" disconnected while running the job\nFAILED\n"
		if !strings.HasSuffix(got, end) || !strings.HasPrefix("Building on worker-1\nBuilding example1\n", strings.TrimSuffix(got, end)) {
			t.Fatalf("log of the crashed worker's job:\n%s", got)
		}
		if err := <-drained; err != nil {
			t.Fatal(err)
		}
	})
}

func TestAdmin(t *testing.T) {
	c, _, _ := newTest(t)
	c.withAdmin(func(ctx context.Context, a *client.Admin) {
		pools, err := a.Pools(ctx)
		if err != nil || len(pools) != 1 || pools[0] != "pool" {
			t.Fatalf("pools %v %v", pools, err)
		}
	})
	c.withPool("pool", func(ctx context.Context, p *client.Pool) {
		if err := p.SetActive(ctx, "worker-1", false, false); err == nil || !strings.Contains(err.Error(), "Unknown worker") {
			t.Fatalf("pausing an unknown worker without auto-create: %v", err)
		}
		if err := p.SetActive(ctx, "worker-1", false, true); err != nil {
			t.Fatal(err)
		}
		check := func(want []core.WorkerInfo) {
			t.Helper()
			got, err := p.Workers(ctx)
			if err != nil || fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("workers %v %v, want %v", got, err, want)
			}
		}
		check([]core.WorkerInfo{{Name: "worker-1"}})
		if err := p.SetActive(ctx, "worker-1", true, false); err != nil {
			t.Fatal(err)
		}
		check([]core.WorkerInfo{{Name: "worker-1", Active: true}})
		if err := p.Forget(ctx, "worker-1"); err != nil {
			t.Fatal(err)
		}
		check(nil)
		if err := p.Forget(ctx, "worker-1"); err == nil || err.Error() != `Worker "worker-1" not known in this pool` {
			t.Fatalf("forgetting twice: %v", err)
		}
	})
}

func TestWorkerDisconnects(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, s, m := newTest(t)
		net := c.startProxy(t)
		c.startWorker("worker-1", 1, m, net.ref(c.pools["pool"]))
		m.set("example", "hash", nil)
		expect(t, "log", s.run(t, "example"), "Building on worker-1\nBuilding example\nJob succeeded\n")
		net.cut() // the worker's network drops; it reconnects by itself
		c.waitConnected("pool", 0)
		m.set("example", "hash", nil)
		expect(t, "log after reconnect", s.run(t, "example"), "Building on worker-1\nBuilding example\nJob succeeded\n")
	})
}

func TestClientDisconnects(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, _, m := newTest(t)
		c.startWorker("worker-1", 1, m, c.pools["pool"])
		net := c.startProxy(t)
		s := c.connectClient(net.ref(c.addClient("client2")))
		result := s.start(t, "example")
		m.await(t, "example")
		net.cut()
		if got := <-result; !strings.HasSuffix(got, "FAILED\n") {
			t.Fatalf("a client whose network dropped got %q", got)
		}
		// The build is cancelled: the worker is free again.
		deadline := time.Now().Add(10 * time.Second)
		for c.runningOn("worker-1") != 0 {
			if time.Now().After(deadline) {
				t.Fatal("the build of a lost client was not cancelled")
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
}

func (c *cluster) runningOn(name string) int {
	n := -1
	c.sched.locked(func(*owned) {
		if w := c.sched.pools["pool"].core.Worker(name); w != nil {
			n = len(w.Running())
		}
	})
	return n
}

// submitted submits and waits until the ticket's job exists.
func submitted(t *testing.T, s *session, label string) *client.Job {
	t.Helper()
	ctx := context.Background()
	job, err := s.sub.Submit(ctx, "pool", dockerJob(label), false)
	if err != nil {
		t.Fatal(err)
	}
	if err := job.Started(ctx); err != nil {
		t.Fatal(err)
	}
	return job
}

func TestCancel(t *testing.T) {
	c, s, m := newTest(t)
	c.startWorker("worker-1", 1, m, c.pools["pool"])
	job := s.submitBare(t, "example")
	job.started(t)
	defer job.release()
	m.await(t, "example")
	ctx := context.Background()
	// The job's own cancel, which the client library does not use.
	f, release := job.job.Cancel(ctx, nil)
	if _, err := f.Struct(); err != nil {
		t.Fatal(err)
	}
	release()
	expectCancelled(t, ctx, job)
}

// expectCancelled checks the log and result of the job "example",
// cancelled on worker-1 while it ran.
func expectCancelled(t *testing.T, ctx context.Context, job interface {
	Tail(context.Context, io.Writer) error
	Result(context.Context) (string, error)
}) {
	t.Helper()
	var log strings.Builder
	if err := job.Tail(ctx, &log); err != nil {
		t.Fatal(err)
	}
	expect(t, "log", log.String(), "Building on worker-1\nBuilding example\nJob cancelled\n")
	if _, err := job.Result(ctx); err == nil || err.Error() != "Build cancelled" {
		t.Fatalf("result of a cancelled job: %v", err)
	}
}

func TestCancelTicket(t *testing.T) {
	_, s, _ := newTest(t)
	ctx := context.Background()
	job, err := s.sub.Submit(ctx, "pool", dockerJob("example"), false)
	if err != nil {
		t.Fatal(err)
	}
	defer job.Release()
	if err := job.Cancel(ctx); err != nil {
		t.Fatal(err)
	}
	expect(t, "log", readJob(ctx, job), "Error tailing logs: Ticket cancelled\nFAILED\n")
}

func TestCancelTicketLate(t *testing.T) {
	c, s, m := newTest(t)
	c.startWorker("worker-1", 1, m, c.pools["pool"])
	job := submitted(t, s, "example")
	defer job.Release()
	m.await(t, "example")
	ctx := context.Background()
	if err := job.Cancel(ctx); err != nil {
		t.Fatal(err)
	}
	expectCancelled(t, ctx, job)
}

// A client drops its ticket (and abandons the job it asked for) while the
// job is queued: the job is cancelled. In go-capnp a question still in
// flight on the ticket keeps it alive, so the client lets go of everything.
func TestReleaseTicket(t *testing.T) {
	c, s, _ := newTest(t)
	ctx := context.Background()
	job := s.submitBare(t, "example")
	// Abandoning a call still in flight in go-capnp means cancelling it.
	callCtx, cancel := context.WithCancel(ctx)
	_, release := job.ticket.Job(callCtx, nil)
	job.ticket.Release()
	cancel()
	release()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var st core.PoolStats
		var queued int
		c.sched.locked(func(*owned) {
			st = c.sched.pools["pool"].core.Stats()
			queued, _ = c.sched.pools["pool"].core.Backlog()
		})
		if st.Cancelled == 1 && queued == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the job of a released ticket is still queued: %+v, %d queued", st, queued)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestReleaseTicketLate(t *testing.T) {
	c, s, m := newTest(t)
	c.startWorker("worker-1", 1, m, c.pools["pool"])
	job := s.submitBare(t, "example")
	job.started(t)
	m.await(t, "example")
	// The client drops the ticket but keeps the running job.
	job.ticket.Release()
	defer job.job.Release()
	expectCancelled(t, context.Background(), job)
}

func TestClients(t *testing.T) {
	c, _, _ := newTest(t)
	one := c.addClient("client1")
	two := c.addClient("client2")
	c.withAdmin(func(ctx context.Context, a *client.Admin) {
		ids, _ := a.ListClients(ctx)
		if fmt.Sprint(ids) != "[client client1 client2]" {
			t.Fatalf("clients %v", ids)
		}
		if err := a.RemoveClient(ctx, "client1"); err != nil {
			t.Fatal(err)
		}
		ids, _ = a.ListClients(ctx)
		if fmt.Sprint(ids) != "[client client2]" {
			t.Fatalf("clients after removal %v", ids)
		}
		if _, err := a.AddClient(ctx, "client2"); err == nil || err.Error() != `Client "client2" already registered!` {
			t.Fatalf("a duplicate client: %v", err)
		}
		if err := a.RemoveClient(ctx, "client1"); err == nil {
			t.Fatal("removing a removed client succeeded")
		}
	})
	ctx := context.Background()
	// A capability restored before the removal stops working...
	s1 := c.connectClient(two)
	if _, err := s1.sub.Submit(ctx, "pool", dockerJob("x"), false); err != nil {
		t.Fatalf("a registered client: %v", err)
	}
	conn, err := c.connect(ctx, one)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// ...and a removed client's secret is refused as revoked.
	if _, err := conn.Submission(ctx); err == nil || !strings.Contains(err.Error(), "Access has been revoked") {
		t.Fatalf("a removed client's capability: %v", err)
	}
}

func TestRevokedWhileConnected(t *testing.T) {
	c, s, _ := newTest(t)
	c.withAdmin(func(ctx context.Context, a *client.Admin) {
		if err := a.RemoveClient(ctx, "client"); err != nil {
			t.Fatal(err)
		}
	})
	_, err := s.sub.Submit(context.Background(), "pool", dockerJob("x"), false)
	if err == nil || err.Error() != "Access has been revoked" {
		t.Fatalf("submitting after revocation: %v", err)
	}
}

// show names each running and queued job by its cache hint, as OCluster
// does, and says when a job has none: an admin sees which jobs run where
// (OCluster #212).
func TestShowNamesJobsByHint(t *testing.T) {
	c, s, m := newTest(t)
	c.startWorker("worker-1", 1, m, c.pools["pool"])
	c.waitConnected("pool", 1)
	done := s.start(t, "running") // hint "1"
	m.await(t, "running")
	ctx := context.Background()
	hinted, err := s.sub.Submit(ctx, "pool", &runners.Job{Hint: "opam-5.1", Docker: &runners.DockerBuild{DockerfileContents: "hinted"}}, false)
	require.NoError(t, err)
	defer hinted.Release()
	plain, err := s.sub.Submit(ctx, "pool", &runners.Job{Docker: &runners.DockerBuild{DockerfileContents: "plain"}}, false)
	require.NoError(t, err)
	defer plain.Release()
	c.withPool("pool", func(ctx context.Context, p *client.Pool) {
		show, err := p.Show(ctx)
		require.NoError(t, err)
		assert.Contains(t, show, "1 running: client:1)", show)
		assert.Contains(t, show, "client:opam-5.1@", show)
		assert.Contains(t, show, "client:(no cache hint)@", show)
	})
	m.set("running", "", nil)
	<-done
}
