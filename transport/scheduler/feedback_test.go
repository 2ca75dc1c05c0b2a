package scheduler

import (
	"context"
	"io"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ocluster-go/ocluster/runners"
	"github.com/ocluster-go/ocluster/transport/client"
	"github.com/ocluster-go/ocluster/transport/wire"
	"github.com/ocluster-go/ocluster/transport/worker"
)

// lowDiskRunner is a mock runner on a disk too full to build on, until
// the test frees it: pruning frees nothing.
type lowDiskRunner struct {
	*mockRunner
	mu  sync.Mutex
	low bool
}

const lowDiskWhy = "obuilder store: only 12.0% free on /var/lib/obuilder, below the 30% threshold (the worker's --obuilder-prune-threshold)"

func (r *lowDiskRunner) PruneNeeded(context.Context) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.low {
		return lowDiskWhy, nil
	}
	return "", nil
}

func (r *lowDiskRunner) Prune(context.Context, io.Writer) error { return nil }

func (r *lowDiskRunner) free() {
	r.mu.Lock()
	r.low = false
	r.mu.Unlock()
}

// statusLog collects what AwaitStart reports.
type statusLog struct {
	mu   sync.Mutex
	seen []wire.QueueStatus
}

func (l *statusLog) report(q wire.QueueStatus) {
	l.mu.Lock()
	l.seen = append(l.seen, q)
	l.mu.Unlock()
}

func (l *statusLog) last() wire.QueueStatus {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.seen) == 0 {
		return wire.QueueStatus{}
	}
	return l.seen[len(l.seen)-1]
}

// awaitStart submits a job and waits for its start in the background,
// reporting where it stands.
func awaitStart(t *testing.T, s *session, label string) (*client.Job, *statusLog, <-chan error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	job, err := s.sub.Submit(ctx, "pool", dockerJob(label), false)
	require.NoError(t, err)
	log := &statusLog{}
	started := make(chan error, 1)
	go func() { started <- job.AwaitStart(ctx, 10*time.Millisecond, log.report) }()
	t.Cleanup(func() {
		cancel()
		job.Release()
	})
	return job, log, started
}

// A client whose job waits hears where it stands and why no worker takes
// it: none connected, then the only one paused for low disk (with the
// worker's own words); the admin's show says the same. Once the disk is
// freed the job starts.
func TestQueuedClientHearsWhyNoWorkerTakesItsJob(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, s, m := newTest(t)
		_, first, firstStarted := awaitStart(t, s, "first")
		eventually(t, "the client hears that no worker is connected", func() bool {
			return strings.Contains(first.last().Waiting, "no worker is connected to pool pool")
		})
		q := first.last()
		assert.True(t, q.Queued)
		assert.Equal(t, 1, q.Position)
		assert.Equal(t, 1, q.Length)
		assert.Equal(t, "pool pool", q.Queue)
		assert.Contains(t, q.String(), "queued: position 1 of 1 in the queue of pool pool; no worker is connected")

		r := &lowDiskRunner{mockRunner: m, low: true}
		c.startAgent(worker.Config{Ref: c.pools["pool"], Name: "worker-1", Capacity: 1, PruneRetry: 20 * time.Millisecond,
			Runners: map[string]runners.Runner{"": r}})
		eventually(t, "the client hears that the worker paused itself for low disk", func() bool {
			return first.last().Waiting == "no worker takes jobs: worker-1 paused by the worker: "+lowDiskWhy
		})
		_, second, _ := awaitStart(t, s, "second")
		eventually(t, "the second job hears it is second", func() bool {
			q := second.last()
			return q.Position == 2 && q.Length == 2
		})

		c.withPool("pool", func(ctx context.Context, p *client.Pool) {
			show, err := p.Show(ctx)
			require.NoError(t, err)
			assert.Contains(t, show, "\ninactive:\n  worker-1: paused by the worker: "+lowDiskWhy, show)
		})

		r.free()
		m.set("first", "", nil)
		m.set("second", "", nil)
		select {
		case err := <-firstStarted:
			require.NoError(t, err)
		case <-time.After(10 * time.Second):
			t.Fatal("the job did not start once the disk was freed")
		}
	})
}

// An admin's pause and a full pool are reasons too.
func TestQueuedClientHearsOfAdminPauseAndBusyWorkers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, s, m := newTest(t)
		c.startWorker("worker-1", 1, m, c.pools["pool"])
		c.waitConnected("pool", 1)
		c.withAdmin(func(ctx context.Context, a *client.Admin) {
			p, err := a.Pool(ctx, "pool")
			require.NoError(t, err)
			defer p.Release()
			require.NoError(t, p.SetActive(ctx, "worker-1", false, false))
		})
		_, log, started := awaitStart(t, s, "held")
		eventually(t, "the client hears of the admin's pause", func() bool {
			return log.last().Waiting == "no worker takes jobs: worker-1 paused by the admin (ocluster-admin unpause pool worker-1)"
		})
		c.withAdmin(func(ctx context.Context, a *client.Admin) {
			p, err := a.Pool(ctx, "pool")
			require.NoError(t, err)
			defer p.Release()
			require.NoError(t, p.SetActive(ctx, "worker-1", true, false))
		})
		require.NoError(t, <-started)
		_, behind, _ := awaitStart(t, s, "behind")
		eventually(t, "the client hears that every worker is busy", func() bool {
			return behind.last().Waiting == "every worker that takes jobs is busy (1 of 1 running)"
		})
		m.set("held", "", nil)
		m.set("behind", "", nil)
	})
}

// A worker's reason, a health check's build log say, is shown on one
// line, bounded.
func TestOneLine(t *testing.T) {
	assert.Equal(t, "health check failed: its log: step 1 failed", oneLine("health check failed: its log:\n  step 1\n failed\n", 100))
	assert.Equal(t, "abc...", oneLine("abcdef", 3))
	assert.Equal(t, "a...", oneLine("aé", 2), "a character is not cut in two")
}
