package scheduler

import (
	"context"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/ocluster-go/ocluster/core"
	"github.com/ocluster-go/ocluster/runners"
	"github.com/ocluster-go/ocluster/transport/client"
)

// retried checks the log of a job that ran on worker-1 and was moved to
// worker-2 for the reason why: the reader sees the move, or (if it only
// started reading after it) worker-2's run alone, and the job succeeds.
func retried(t *testing.T, log, why string) {
	t.Helper()
	second := "Building on worker-2\nBuilding job\nJob succeeded\n"
	note := "--- " + why + ", so the job was queued again; attempt 2 runs on \"worker-2\" ---\n"
	if !strings.HasSuffix(log, second) || strings.Contains(log, "FAILED") {
		t.Fatalf("log of the moved job:\n%s", log)
	}
	if strings.Contains(log, "worker-1") && !strings.Contains(log, note) {
		t.Fatalf("the log goes from worker-1 to worker-2 without saying so:\n%s", log)
	}
}

// jobOnWorker1 starts a cluster, a job running on worker-1 (which reaches
// the scheduler through a proxy), and an idle worker-2.
func jobOnWorker1(t *testing.T, o clusterOptions) (out <-chan string, m *mockRunner, net *proxy) {
	c := startCluster(t, o)
	t.Cleanup(func() { c.checkGauges(t) })
	s := c.connectClient(c.addClient("client"))
	m = newMockRunner()
	net = c.startProxy(t)
	c.startWorker("worker-1", 1, m, net.ref(c.pools["pool"]))
	c.waitConnected("pool", 1)
	out = s.start(t, "job")
	m.await(t, "job")
	c.startWorker("worker-2", 1, m, c.pools["pool"])
	c.waitConnected("pool", 2)
	return out, m, net
}

// Under the default policy a job lost with its worker is queued again and
// runs on another worker; its client sees it succeed (OCluster #167).
func TestLostJobIsRetried(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		out, m, net := jobOnWorker1(t, clusterOptions{policy: "combined"})
		net.cut()
		m.await(t, "job") // again, on worker-2: worker-1's orphaned build holds its slot
		m.set("job", "hash", nil)
		m.set("job", "hash", nil) // one of them may go to the orphan
		retried(t, <-out, "its worker was lost")
	})
}

// pause --force moves a worker's running job to another worker at once and
// stops its build (OCluster #169).
func TestForcePauseMovesRunningJobs(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, s, m := newTest(t)
		c.startWorker("worker-1", 1, m, c.pools["pool"])
		c.waitConnected("pool", 1)
		out := s.start(t, "job")
		m.await(t, "job")
		c.startWorker("worker-2", 1, m, c.pools["pool"])
		c.waitConnected("pool", 2)
		c.withPool("pool", func(ctx context.Context, p *client.Pool) {
			if err := p.ForcePause(ctx, "worker-1"); err != nil {
				t.Fatal(err)
			}
			workers, err := p.Workers(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range workers {
				if w.Name == "worker-1" && w.Active {
					t.Fatal("worker-1 is still active")
				}
			}
		})
		if err := c.forceUnpause("pool", "worker-1"); err == nil || !strings.Contains(err.Error(), "pause only") {
			t.Fatalf("force with unpause: %v", err)
		}
		m.await(t, "job")
		synctest.Wait() // worker-1's build is stopped: the result is worker-2's
		m.set("job", "hash", nil)
		retried(t, <-out, "the admin force-paused its worker")
	})
}

// A worker that stays connected but stops answering (its machine froze)
// loses its lease, and its running job goes to another worker (OCluster
// #110). Without a lease the job would wait for it for ever. The ping
// that goes unanswered outlasts the lease: it must not keep worker-2 from
// renewing its own.
func TestStuckWorkerLosesItsLease(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lease := 1.0
		out, m, net := jobOnWorker1(t, clusterOptions{policy: "combined", override: core.Override{Lease: &lease}, pingTimeout: 3 * time.Second})
		net.freeze()
		m.await(t, "job")
		m.set("job", "hash", nil)
		m.set("job", "hash", nil)
		retried(t, <-out, "its worker was lost")
	})
}

// A client's estimate of its job's run time reaches the policy: under the
// default policy the next job of the client may start 42 s of fair share
// later, not the configured uncached cost later.
func TestClientEstimateReachesThePolicy(t *testing.T) {
	c := startCluster(t, clusterOptions{policy: "combined"})
	s := c.connectClient(c.addClient("client"))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for range 2 {
		job := dockerJob("estimated")
		job.Estimate = 42
		submitted, err := s.sub.Submit(ctx, "pool", job, false)
		if err != nil {
			t.Fatal(err)
		}
		defer submitted.Release()
	}
	c.withPool("pool", func(ctx context.Context, p *client.Pool) {
		show, err := p.Show(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(show, "@42s") {
			t.Fatalf("the second job's fair start is not 42 s after the first:\n%s", show)
		}
	})
}

// A worker whose build has overrun what an uncached run takes is not
// waited for: under the default policy a job queued behind it (for its
// cache, while the build was within its time) is taken by an idle worker,
// and the scheduler counts the steal.
func TestIdleWorkerStealsFromAnOverrunningOne(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := startCluster(t, clusterOptions{policy: "combined", costs: core.Costs{Cached: 0.1, Uncached: 1}})
		s := c.connectClient(c.addClient("client"))
		m := newMockRunner()
		c.startWorker("worker-1", 1, m, c.pools["pool"])
		c.waitConnected("pool", 1)
		// A client's estimate keeps the mock's instant builds from teaching
		// the policy run times other than the configured 0.1 s and 1 s.
		job := func(label string) *runners.Job {
			j := dockerJob(label)
			j.Estimate = 0.1
			return j
		}
		m.set("warm", "", nil)
		if log := <-s.startJob(t, job("warm")); !strings.HasSuffix(log, "Job succeeded\n") {
			t.Fatalf("warm:\n%s", log) // worker-1 now has the hint
		}
		stuck := s.startJob(t, job("stuck"))
		m.await(t, "stuck")
		c.startWorker("worker-2", 1, m, c.pools["pool"])
		c.waitConnected("pool", 2)
		behind := s.startJob(t, job("behind")) // worth waiting 0.05 s for a cached start
		c.withPool("pool", func(ctx context.Context, p *client.Pool) {
			show, err := p.Show(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(show, "worker-1 (0): [client:") {
				t.Fatalf("the job is not queued behind worker-1's build:\n%s", show)
			}
		})
		// Queued there, the job adds 0.1 s to the wait, which stays below the
		// 0.9 s the cache saves until stuck overruns the 1 s of an uncached run.
		time.Sleep(2500 * time.Millisecond)
		m.set("kick", "", nil)
		if log := <-s.startJob(t, job("kick")); !strings.Contains(log, "Building on worker-2") {
			t.Fatalf("the next job went behind the overrunning build:\n%s", log)
		}
		m.set("behind", "", nil)
		if log := <-behind; !strings.HasPrefix(log, "Building on worker-2\n") || !strings.HasSuffix(log, "Job succeeded\n") {
			t.Fatalf("the job queued behind the overrunning build:\n%s", log)
		}
		if _, body := c.get("/metrics"); !strings.Contains(body, `ocluster_pool_jobs_stolen_total{pool="pool"} 1`+"\n") {
			t.Errorf("the steal is not counted:\n%s", body)
		}
		m.set("stuck", "", nil)
		<-stuck
	})
}
