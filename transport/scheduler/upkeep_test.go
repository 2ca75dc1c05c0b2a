package scheduler

import (
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ocluster-go/ocluster/core"
	"github.com/ocluster-go/ocluster/runners"
	"github.com/ocluster-go/ocluster/transport/client"
	"github.com/ocluster-go/ocluster/transport/worker"
)

// upkeepRunner is a mock runner that can need pruning and be unhealthy.
type upkeepRunner struct {
	*mockRunner
	prunes prometheus.Counter

	mu        sync.Mutex
	running   int
	needPrune bool
	pruned    []int // jobs running at each prune
	unhealthy error
}

func newUpkeepRunner() *upkeepRunner {
	return &upkeepRunner{mockRunner: newMockRunner(),
		prunes: prometheus.NewCounter(prometheus.CounterOpts{Name: "test_runner_prunes_total", Help: "Prunes"})}
}

func (r *upkeepRunner) Run(ctx context.Context, job *runners.Job, dir string, log io.Writer) (string, error) {
	r.mu.Lock()
	r.running++
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		r.running--
		r.mu.Unlock()
	}()
	return r.mockRunner.Run(ctx, job, dir, log)
}

func (r *upkeepRunner) PruneNeeded(context.Context) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.needPrune {
		return "1% free", nil
	}
	return "", nil
}

func (r *upkeepRunner) Prune(_ context.Context, log io.Writer) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.pruned = append(r.pruned, r.running)
	r.needPrune = false
	r.prunes.Inc()
	io.WriteString(log, "freed 3 images\n")
	return nil
}

func (r *upkeepRunner) HealthCheck(context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.unhealthy
}

func (r *upkeepRunner) Describe(ch chan<- *prometheus.Desc) { r.prunes.Describe(ch) }
func (r *upkeepRunner) Collect(ch chan<- prometheus.Metric) { r.prunes.Collect(ch) }

func (r *upkeepRunner) set(f func(r *upkeepRunner)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	f(r)
}

// workerActive says whether the scheduler sees the worker as active.
func (c *cluster) workerActive(t *testing.T, name string) bool {
	t.Helper()
	var active bool
	c.withPool("pool", func(ctx context.Context, p *client.Pool) {
		workers, err := p.Workers(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range workers {
			if w.Name == name {
				active = w.Active
			}
		}
	})
	return active
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("never: %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// When its runner needs pruning, a worker stops taking jobs, lets its
// running ones finish, prunes with nothing running, and takes jobs again.
func TestWorkerPrunesBetweenJobs(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, s, _ := newTest(t)
		r := newUpkeepRunner()
		c.startAgent(worker.Config{Ref: c.pools["pool"], Name: "worker-1", Capacity: 3, Runners: map[string]runners.Runner{"": r}})
		first := s.start(t, "first")
		r.await(t, "first")
		synctest.Wait() // the worker has checked for pruning and pops again
		r.set(func(r *upkeepRunner) { r.needPrune = true })
		// The worker's next pop was already waiting: this job still runs; the
		// check comes before the pop after it.
		second := s.start(t, "second")
		r.await(t, "second")
		eventually(t, "the worker pauses itself to prune", func() bool { return !c.workerActive(t, "worker-1") })
		third := s.start(t, "third")
		synctest.Wait() // the worker has done all it would do with two jobs running
		r.set(func(r *upkeepRunner) {
			if len(r.pruned) != 0 {
				t.Errorf("pruned while %v jobs were running", r.pruned)
			}
		})
		if _, started := r.channels("third"); len(started) != 0 {
			t.Error("a worker paused to prune took a job")
		}
		r.mockRunner.set("first", "", nil)
		r.mockRunner.set("second", "", nil)
		<-first
		<-second
		r.await(t, "third")
		r.set(func(r *upkeepRunner) {
			if len(r.pruned) != 1 || r.pruned[0] != 0 {
				t.Errorf("prunes (jobs running at each): %v, want one with none running", r.pruned)
			}
		})
		if !c.workerActive(t, "worker-1") {
			t.Error("the worker did not take jobs again after pruning")
		}
		r.mockRunner.set("third", "", nil)
		<-third
		// The runner's own metrics are the worker's.
		if _, body := c.get("/pool/pool/worker/worker-1/metrics"); !strings.Contains(body, "test_runner_prunes_total 1") {
			t.Fatalf("the worker's metrics lack its runner's:\n%s", body)
		}
	})
}

// A worker whose health check fails at start takes no job until it passes.
func TestUnhealthyWorkerTakesNoJobs(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, s, _ := newTest(t)
		r := newUpkeepRunner()
		r.unhealthy = errors.New("the store is read-only")
		c.startAgent(worker.Config{Ref: c.pools["pool"], Name: "worker-1", Capacity: 1, HealthInterval: 50 * time.Millisecond,
			Runners: map[string]runners.Runner{"": r}})
		c.waitConnected("pool", 1)
		eventually(t, "the unhealthy worker is inactive", func() bool { return !c.workerActive(t, "worker-1") })
		if got := c.workerMetric(t, "worker-1", "ocluster_worker_unhealthy"); got != "1" {
			t.Fatalf("ocluster_worker_unhealthy of a failing worker: %q", got)
		}
		result := s.start(t, "job")
		_, started := r.channels("job")
		// Four health checks fail on the fake clock, and the worker has
		// done all it would do after them.
		time.Sleep(200 * time.Millisecond)
		synctest.Wait()
		select {
		case <-started:
			t.Fatal("an unhealthy worker took a job")
		default:
		}
		r.set(func(r *upkeepRunner) { r.unhealthy = nil })
		r.await(t, "job")
		r.mockRunner.set("job", "", nil)
		<-result
		if got := c.workerMetric(t, "worker-1", "ocluster_worker_unhealthy"); got != "0" {
			t.Fatalf("ocluster_worker_unhealthy of a healthy worker: %q", got)
		}
	})
}

// workerMetric reads one unlabelled metric of a worker, through the
// scheduler.
func (c *cluster) workerMetric(t *testing.T, workerName, name string) string {
	t.Helper()
	_, body := c.get("/pool/pool/worker/" + workerName + "/metrics")
	for line := range strings.SplitSeq(body, "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			return v
		}
	}
	t.Fatalf("the worker's metrics lack %s:\n%s", name, body)
	return ""
}

// A worker that prunes tells the scheduler, which stops counting on the
// caches it lost under a policy that trusts the report; OCluster's keeps
// sending jobs for them.
func TestSchedulerForgetsPrunedCaches(t *testing.T) {
	for _, tc := range []struct {
		policy string
		kept   bool
	}{{"ocluster", true}, {"combined", false}} {
		t.Run(tc.policy, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				c := startCluster(t, clusterOptions{policy: tc.policy})
				s := c.connectClient(c.addClient("client"))
				r := newUpkeepRunner()
				c.startAgent(worker.Config{Ref: c.pools["pool"], Name: "worker-1", Capacity: 1, Runners: map[string]runners.Runner{"": r}})
				cached := func() bool {
					var snap core.Snapshot
					c.sched.locked(func(st *owned) { snap = st.core.Snapshot() })
					return len(snap.Pools) > 0 && len(snap.Pools[0].Cache) > 0
				}
				first := s.start(t, "first")
				r.await(t, "first")
				r.mockRunner.set("first", "", nil)
				<-first
				if !cached() {
					t.Fatal("the index does not have the job's hint on worker-1")
				}
				// Else the worker could see the need to prune before its
				// next pop, and the second job's hint would outlive the prune.
				synctest.Wait()
				r.set(func(r *upkeepRunner) { r.needPrune = true })
				second := s.start(t, "second") // taken by the pop already waiting
				r.await(t, "second")
				r.mockRunner.set("second", "", nil)
				<-second
				eventually(t, "worker-1 prunes", func() bool {
					var n int
					r.set(func(r *upkeepRunner) { n = len(r.pruned) })
					return n == 1
				})
				if tc.kept {
					synctest.Wait() // the scheduler has heard the prune report
					if !cached() {
						t.Fatal("the ocluster policy forgot a cache on a prune report")
					}
					return
				}
				eventually(t, "the scheduler forgets worker-1's caches", func() bool { return !cached() })
			})
		})
	}
}
