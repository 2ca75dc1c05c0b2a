package scheduler

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/ocluster-go/ocluster/runners"
	"github.com/ocluster-go/ocluster/trace"
	"github.com/ocluster-go/ocluster/transport/client"
	"github.com/ocluster-go/ocluster/transport/schema"
	"github.com/ocluster-go/ocluster/transport/worker"
)

// A worker's network drops mid-job: the job fails for its client, the
// worker reconnects, and the build it could not report still holds its slot
// until it ends, as OCluster's workers do.
func TestNetworkCutMidJob(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, s, m := newTest(t)
		net := c.startProxy(t)
		w := c.startWorker("worker-1", 1, m, net.ref(c.pools["pool"]))
		first := s.start(t, "first")
		m.await(t, "first")
		net.cut()
		got := <-first
		if !strings.HasSuffix(got, "FAILED\n") || !strings.Contains(got, `Worker "worker-1" disconnected while running the job`) {
			t.Fatalf("the job of a cut worker: %q", got)
		}
		c.waitConnected("pool", 0)
		c.waitConnected("pool", 1) // it reconnected
		second := s.start(t, "second")
		synctest.Wait() // all that the submission sets off has happened
		if w.agent.Running() != 1 {
			t.Fatalf("the worker runs %d builds, want the orphaned one only", w.agent.Running())
		}
		m.set("first", "", nil) // the orphaned build ends: the slot frees
		m.set("second", "", nil)
		expect(t, "log", <-second, "Building on worker-1\nBuilding second\nJob succeeded\n")
	})
}

// The admin updates a worker: it stops taking jobs, finishes the running
// one, exits to be restarted, and the update returns once it is back.
func TestUpdate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, s, m := newTest(t)
		w := c.startWorker("worker-1", 1, m, c.pools["pool"])
		running := s.start(t, "running")
		m.await(t, "running")
		var progress []string
		var mu sync.Mutex
		updated := make(chan error, 1)
		go c.withPool("pool", func(ctx context.Context, p *client.Pool) {
			updated <- p.Update(ctx, "worker-1", func(status string) {
				mu.Lock()
				progress = append(progress, status)
				mu.Unlock()
			})
		})
		synctest.Wait()                // the update is under way
		queued := s.start(t, "queued") // must wait for the new version
		m.set("running", "", nil)
		expect(t, "log", <-running, "Building on worker-1\nBuilding running\nJob succeeded\n")
		if err := w.wait(t); !errors.Is(err, worker.ErrSelfUpdate) {
			t.Fatalf("the worker ended with %v, want worker.ErrSelfUpdate", err)
		}
		// The service manager starts the new version.
		c.startWorker("worker-1", 1, m, c.pools["pool"])
		if err := <-updated; err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		if strings.Join(progress, "|") != "Running jobs: 1|Restarting" {
			t.Errorf("progress %q", progress)
		}
		mu.Unlock()
		m.set("queued", "", nil)
		expect(t, "log", <-queued, "Building on worker-1\nBuilding queued\nJob succeeded\n")
	})
}

// The scheduler records a trace that the simulator's reader accepts.
func TestTraceRecording(t *testing.T) {
	var buf bytes.Buffer
	tw, err := trace.NewWriter(&buf, trace.Header{Source: "test", Pools: []string{"pool"}})
	if err != nil {
		t.Fatal(err)
	}
	c := startCluster(t, clusterOptions{})
	c.sched.locked(func(st *owned) { st.trace = tw })
	s := c.connectClient(c.addClient("client"))
	m := newMockRunner()
	c.startWorker("worker-1", 1, m, c.pools["pool"])
	c.withPool("pool", func(ctx context.Context, p *client.Pool) {
		if err := p.SetRate(ctx, "client", 3); err != nil {
			t.Fatal(err)
		}
	})
	m.set("a", "", nil)
	s.run(t, "a")
	m.set("b", "", errBuild)
	s.run(t, "b")
	c.stop()
	h, events, err := trace.ReadAll(&buf)
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]int{}
	step := map[uint64]string{} // each job's last event
	for _, e := range events {
		counts[string(e.Kind)+":"+e.Outcome]++
		if e.Job != 0 {
			if want := map[trace.Kind]string{trace.Submit: "", trace.Start: "submit", trace.Finish: "start"}[e.Kind]; step[e.Job] != want {
				t.Fatalf("job %d: %s after %q", e.Job, e.Kind, step[e.Job])
			}
			step[e.Job] = string(e.Kind)
		}
	}
	want := map[string]int{"register:": 1, "rate:": 1, "submit:": 2, "start:": 2, "finish:ok": 1, "finish:failed": 1, "release:": 1}
	for k, n := range want {
		if counts[k] != n {
			t.Fatalf("trace has %d %s events, want %d (all: %v)", counts[k], k, n, counts)
		}
	}
	if h.Pools[0] != "pool" {
		t.Fatalf("trace header %+v", h)
	}
}

func TestWorkerMetricsPaths(t *testing.T) {
	c, _, m := newTest(t)
	c.startWorker("worker-1", 1, m, c.pools["pool"])
	c.waitConnected("pool", 1)
	get := c.get
	if code, body := get("/pool/pool/worker/worker-1/metrics"); code != 200 || !strings.Contains(body, "ocluster_worker_jobs_accepted_total") {
		t.Fatalf("worker metrics: %d %q", code, body)
	}
	if code, body := get("/pool/nope/worker/worker-1/metrics"); code != 400 || !strings.Contains(body, "No such pool") {
		t.Fatalf("unknown pool: %d %q", code, body)
	}
	if code, body := get("/pool/pool/worker/ghost/metrics"); code != 400 || !strings.Contains(body, "Worker not connected") {
		t.Fatalf("unknown worker: %d %q", code, body)
	}
	// Nothing listens on the worker's node-exporter port here.
	if code, _ := get("/pool/pool/worker/worker-1/host-metrics"); code != http.StatusBadGateway {
		t.Fatalf("host metrics without a node exporter: %d", code)
	}
}

// numbered writes lines numbered 0 to n-1, pausing now and then so that
// readers catch up with the writer and wait at the log's end.
type numbered struct{ n int }

func (r numbered) Run(_ context.Context, _ *runners.Job, _ string, log io.Writer) (string, error) {
	for i := range r.n {
		if _, err := fmt.Fprintf(log, "line %06d\n", i); err != nil {
			return "", err
		}
		if i%5000 == 0 {
			time.Sleep(20 * time.Millisecond)
		}
	}
	return "done", nil
}

// A log read through the scheduler arrives whole and in order, in replies
// of at most maxLogReply that start where the last one ended, both for a
// reader that tails it and for readers that start over or jump about, all
// at once.
func TestLogChunks(t *testing.T) {
	c, s, _ := newTest(t)
	const lines = 30000
	c.startWorker("worker-1", 1, numbered{lines}, c.pools["pool"])
	var want strings.Builder
	want.WriteString("Building on worker-1\n")
	for i := range lines {
		fmt.Fprintf(&want, "line %06d\n", i)
	}
	want.WriteString("Job succeeded\n")
	job := s.submitBare(t, "log")
	job.started(t)
	defer job.release()
	ctx := context.Background()
	read := func(start int64) ([]byte, int64, error) {
		f, release := job.job.Log(ctx, func(p schema.Job_log_Params) error { p.SetStart(start); return nil })
		defer release()
		res, err := f.Struct()
		if err != nil {
			return nil, 0, err
		}
		data, err := res.Log()
		return bytes.Clone(data), res.Next(), err
	}
	var wg sync.WaitGroup
	errs := make(chan error, 3)
	wg.Add(3)
	go func() { // tails chunk by chunk
		defer wg.Done()
		var got []byte
		for start := int64(0); ; {
			data, next, err := read(start)
			if err != nil {
				errs <- err
				return
			}
			if len(data) > maxLogReply || next != start+int64(len(data)) {
				errs <- fmt.Errorf("a chunk of %d bytes from %d said the next starts at %d", len(data), start, next)
				return
			}
			if len(data) == 0 {
				break
			}
			got, start = append(got, data...), next
		}
		if string(got) != want.String() {
			errs <- fmt.Errorf("the tailed log differs: %d bytes, want %d", len(got), want.Len())
		}
	}()
	go func() { // tails the same log at once, through the client's Tail
		defer wg.Done()
		var got strings.Builder
		if err := job.Tail(ctx, &got); err != nil {
			errs <- err
		} else if got.String() != want.String() {
			errs <- fmt.Errorf("the second reader's log differs: %d bytes, want %d", got.Len(), want.Len())
		}
	}()
	go func() { // reads every third chunk, then goes back to the start
		defer wg.Done()
		// 300 KiB is ahead of the writer, which pauses every 60 KiB.
		for _, start := range []int64{0, 30 << 10, 90 << 10, 0, 11, 300 << 10} {
			data, _, err := read(start)
			if err != nil {
				errs <- err
				return
			}
			if end := min(int(start)+len(data), want.Len()); string(data) != want.String()[start:end] || len(data) == 0 {
				errs <- fmt.Errorf("the %d bytes read from %d differ from the log there", len(data), start)
				return
			}
		}
	}()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if out, err := job.Result(ctx); err != nil || out != "done" {
		t.Fatalf("result: %q, %v", out, err)
	}
	if data, next, err := read(int64(want.Len())); err != nil || len(data) != 0 || next != int64(want.Len()) {
		t.Fatalf("reading at the end of a finished log: %d bytes, next %d, %v", len(data), next, err)
	}
	if _, _, err := read(int64(want.Len()) + 5); err == nil || !strings.Contains(err.Error(), "past the end of the log") {
		t.Fatalf("reading past the end of a finished log: %v", err)
	}
}

// Once Close has begun, a worker that registers is refused with a message
// rather than recorded as a worker whose departure Close would wait for.
func TestRegistrationRefusedWhileClosing(t *testing.T) {
	c := startCluster(t, clusterOptions{})
	c.sched.locked(func(st *owned) { st.shutting = true })
	if err := c.register(t, "late"); err == nil || !strings.Contains(err.Error(), "the scheduler is shutting down") {
		t.Fatalf("registering while the scheduler closes: %v", err)
	}
	var n int
	c.sched.locked(func(*owned) { n = len(c.sched.pools["pool"].workers) })
	if n != 0 {
		t.Fatalf("%d workers recorded", n)
	}
}
