package scheduler

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ocluster-go/ocluster/core"
	"github.com/ocluster-go/ocluster/runners"
	"github.com/ocluster-go/ocluster/runners/synthetic"
	"github.com/ocluster-go/ocluster/trace"
	"github.com/ocluster-go/ocluster/transport/client"
)

// cachedHints is the scheduler's cache index of the first pool.
func (c *cluster) cachedHints() []string {
	var hints []string
	c.sched.locked(func(st *owned) {
		for _, e := range st.core.Snapshot().Pools[0].Cache {
			hints = append(hints, e.Hint)
		}
	})
	slices.Sort(hints)
	return hints
}

// A runner that says which hints left its cache (a bounded cache
// evicting, a prune) is heard: the scheduler's index forgets them.
func TestDroppedHintsReachTheScheduler(t *testing.T) {
	c := startCluster(t, clusterOptions{policy: "combined"})
	s := c.connectClient(c.addClient("client"))
	r := &synthetic.Runner{CacheLimit: 1, RunTime: synthetic.Fixed(0, 0, 1)}
	c.startWorker("worker-1", 1, r, c.pools["pool"])
	run := func(hint string) {
		job := dockerJob("job " + hint)
		job.Hint = hint
		log := <-s.startJob(t, job)
		require.True(t, strings.HasSuffix(log, "Job succeeded\n"), log)
	}
	run("a")
	assert.Equal(t, []string{"a"}, c.cachedHints())
	run("b") // a leaves the worker's cache of one
	eventually(t, "the index forgets a", func() bool { return slices.Equal(c.cachedHints(), []string{"b"}) })
	r.Prune()
	eventually(t, "the index forgets the pruned cache", func() bool { return len(c.cachedHints()) == 0 })
}

// A scheduler whose time runs faster for its policy reckons its lease in
// that time: a 60 s lease at 60 times is a second of the wall clock, and
// a frozen worker's job goes to another worker after it.
func TestTimeScaleRunsTheLeaseFaster(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lease := 60.0
		out, m, net := jobOnWorker1(t, clusterOptions{policy: "combined", override: core.Override{Lease: &lease}, timeScale: 60, pingTimeout: 3 * time.Second})
		net.freeze()
		m.await(t, "job")
		m.set("job", "hash", nil)
		m.set("job", "hash", nil)
		retried(t, <-out, "its worker was lost")
	})
}

// recordingRunner remembers the build arguments of the jobs it runs, and
// runs each until cancelled.
type recordingRunner struct{ jobs chan *runners.Job }

func (r recordingRunner) Run(ctx context.Context, job *runners.Job, _ string, _ io.Writer) (string, error) {
	r.jobs <- job
	<-ctx.Done()
	return "", runners.ErrCancelled
}

// The load submits a client's jobs in the order of the trace, so that the
// scheduler numbers them in that order, gives each job what the simulator
// drew for it, and cancels a job when its cancel_after is up, whether it
// is queued or running.
func TestLoadPlaysTheSimulatedJobs(t *testing.T) {
	var tr strings.Builder
	tw, err := trace.NewWriter(&tr, trace.Header{Source: "test", Pools: []string{"pool"}})
	require.NoError(t, err)
	c := startCluster(t, clusterOptions{policy: "combined", trace: tw})
	r := recordingRunner{jobs: make(chan *runners.Job, 100)}
	c.startWorker("worker-1", 1, r, c.pools["pool"])
	c.waitConnected("pool", 1)
	a := c.connectClient(c.addClient("a"))
	var events []trace.Event
	for i := range 20 {
		events = append(events, trace.Event{T: 0.01, Kind: trace.Submit, Pool: "pool", Job: uint64(i + 1), Client: "a",
			Hint: fmt.Sprintf("h%d", i), Size: float64(i) / 20, Stream: i % 3, CancelAfter: 0.2})
	}
	counts, err := client.Load(context.Background(), client.LoadConfig{Clients: map[string]*client.Submission{"a": a.sub}, Events: events, Speed: 1}, nil)
	require.NoError(t, err)
	assert.Equal(t, client.LoadCounts{Submitted: 20, Cancelled: 20}, counts["a"], "every job cancelled after 0.2 s, the running one too")

	first := <-r.jobs
	d, ok, err := synthetic.DrawOf(first)
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, synthetic.Draw{Job: 1, Client: "a", Stream: 0, Size: 0}, d)

	c.sched.locked(func(*owned) { require.NoError(t, tw.Flush()) })
	_, recorded, err := trace.ReadAll(strings.NewReader(tr.String()))
	require.NoError(t, err)
	var hints, want []string
	for _, e := range recorded {
		if e.Kind == trace.Submit {
			hints = append(hints, e.Hint)
		}
	}
	for _, e := range events {
		want = append(want, e.Hint)
	}
	assert.Equal(t, want, hints, "the scheduler took the jobs in the trace's order")
}
