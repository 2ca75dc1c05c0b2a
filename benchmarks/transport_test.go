package benchmarks

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ocluster-go/ocluster/runners"
	"github.com/ocluster-go/ocluster/transport/client"
	"github.com/ocluster-go/ocluster/transport/scheduler"
	"github.com/ocluster-go/ocluster/transport/wire"
	"github.com/ocluster-go/ocluster/transport/worker"
)

// The scheduler under test runs in a child process (this test binary,
// started again with schedulerEnv set), so that its CPU and memory are
// measured apart from the workers and clients that load it.
const schedulerEnv = "OCLUSTER_BENCH_SCHEDULER_DIR"

func TestMain(m *testing.M) {
	if dir := os.Getenv(schedulerEnv); dir != "" {
		if err := runChildScheduler(dir); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// runChildScheduler serves until its stdin closes. It prints the metrics
// address once the capability files are written, and serves /heap: the
// live heap after a collection plus the goroutine stacks (the RPC library
// runs a goroutine for every capability it serves).
func runChildScheduler(dir string) error {
	id, err := wire.LoadOrCreateIdentity(filepath.Join(dir, "key.pem"))
	if err != nil {
		return err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	s, err := scheduler.New(scheduler.Config{Pools: []string{"pool"}, Identity: id,
		PublicAddr: l.Addr().String(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		return err
	}
	if err := s.WriteCapFiles(dir, []string{"bench"}); err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", s.MetricsHandler())
	mux.HandleFunc("/heap", func(w http.ResponseWriter, _ *http.Request) {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		fmt.Fprint(w, m.HeapAlloc+m.StackInuse)
	})
	// For profiling the scheduler under a benchmark's load: its CPU, and
	// its live heap (after a collection with ?gc=1).
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.Handle("/debug/pprof/heap", pprof.Handler("heap"))
	ml, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	go http.Serve(ml, mux)
	go s.Serve(l)
	fmt.Println("READY", ml.Addr().String())
	io.Copy(io.Discard, os.Stdin)
	return s.Close()
}

// benchCluster is the child scheduler with its capabilities.
type benchCluster struct {
	cmd     *exec.Cmd
	stdin   io.WriteCloser
	dir     string
	metrics string
	pool    wire.SturdyRef
	client  wire.SturdyRef
}

// startBenchCluster starts the child scheduler, with env added to its
// environment.
func startBenchCluster(b *testing.B, env ...string) *benchCluster {
	b.Helper()
	dir := b.TempDir()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(append(os.Environ(), schedulerEnv+"="+dir), env...)
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "READY ") {
		b.Fatalf("the child scheduler said %q (%v)", line, err)
	}
	c := &benchCluster{cmd: cmd, stdin: stdin, dir: dir, metrics: strings.TrimSpace(strings.TrimPrefix(line, "READY "))}
	b.Logf("the scheduler's metrics, and its CPU profile at /debug/pprof/profile: http://%s", c.metrics)
	if c.pool, err = wire.ReadCapFile(filepath.Join(dir, "pool-pool.cap")); err != nil {
		b.Fatal(err)
	}
	if c.client, err = wire.ReadCapFile(filepath.Join(dir, "bench.cap")); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		stdin.Close()
		cmd.Wait()
	})
	return c
}

// cpu is the child's user+system CPU time so far.
func (c *benchCluster) cpu(b *testing.B) time.Duration {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", c.cmd.Process.Pid))
	if err != nil {
		b.Fatal(err)
	}
	fields := strings.Fields(string(data[strings.LastIndexByte(string(data), ')')+2:]))
	utime, _ := strconv.ParseInt(fields[11], 10, 64)
	stime, _ := strconv.ParseInt(fields[12], 10, 64)
	return time.Duration(utime+stime) * time.Second / 100 // clock ticks (USER_HZ = 100)
}

// syscalls is how many reads and writes the child has made so far.
func (c *benchCluster) syscalls(b *testing.B) (reads, writes int64) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/io", c.cmd.Process.Pid))
	if err != nil {
		b.Fatal(err)
	}
	counts := map[string]int64{}
	for line := range strings.Lines(string(data)) {
		name, v, _ := strings.Cut(strings.TrimSpace(line), ": ")
		if n, err := strconv.ParseInt(v, 10, 64); err == nil {
			counts[name] = n
		}
	}
	reads, okr := counts["syscr"]
	writes, okw := counts["syscw"]
	if !okr || !okw {
		b.Fatalf("the child's /proc io lacks syscr or syscw:\n%s", data)
	}
	return reads, writes
}

func (c *benchCluster) heap(b *testing.B) float64 {
	resp, err := http.Get("http://" + c.metrics + "/heap")
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	v, _ := strconv.ParseFloat(string(body), 64)
	return v
}

// instantRunner finishes every job at once.
type instantRunner struct{}

func (instantRunner) Run(context.Context, *runners.Job, string, io.Writer) (string, error) {
	return "", nil
}

// startWorkers connects one worker agent per capacity, each with a runner
// of its own.
func (c *benchCluster) startWorkers(b *testing.B, capacities []int, newRunner func() runners.Runner) {
	b.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for i, capacity := range capacities {
		agent, err := worker.New(worker.Config{Ref: c.pool, Name: fmt.Sprintf("worker-%d", i), Capacity: capacity,
			StateDir: b.TempDir(), Runners: map[string]runners.Runner{"": newRunner()}, RetryDelay: 100 * time.Millisecond,
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err != nil {
			b.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			agent.Run(ctx)
		}()
	}
	b.Cleanup(func() {
		cancel()
		wg.Wait()
	})
	c.waitWorkers(b, len(capacities))
}

// same is n workers' capacities, all capacity.
func same(n, capacity int) []int { return slices.Repeat([]int{capacity}, n) }

func instant() runners.Runner { return instantRunner{} }

func (c *benchCluster) waitWorkers(b *testing.B, n int) {
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get("http://" + c.metrics + "/metrics")
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if strings.Contains(string(body), fmt.Sprintf(`ocluster_pool_workers_connected{pool="pool"} %d`, n)) {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	b.Fatalf("%d workers never connected", n)
}

// submissions connects n clients, each with its submission client.
func (c *benchCluster) submissions(b *testing.B, n int) []*client.Submission {
	subs := make([]*client.Submission, n)
	for i := range subs {
		conn, err := client.Connect(context.Background(), c.client, nil)
		if err != nil {
			b.Fatal(err)
		}
		if subs[i], err = conn.Submission(context.Background()); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() {
			subs[i].Release()
			conn.Close()
		})
	}
	return subs
}

// runJob submits a job and waits until it has started and ended. It
// returns the time from the submission to the start.
func runJob(ctx context.Context, sub *client.Submission, hint string) (time.Duration, error) {
	start := time.Now()
	job, err := sub.Submit(ctx, "pool", &runners.Job{Hint: hint, Docker: &runners.DockerBuild{DockerfileContents: "x"}}, false)
	if err != nil {
		return 0, err
	}
	defer job.Release()
	if err := job.Started(ctx); err != nil {
		return 0, err
	}
	started := time.Since(start)
	_, err = job.Result(ctx)
	return started, err
}

// BenchmarkClusterThroughput: 100 synthetic workers of capacity 4, instant
// jobs, 64 clients submitting as fast as they can, all over TLS on
// loopback. An op is one job submitted, started and finished.
func BenchmarkClusterThroughput(b *testing.B) {
	c := startBenchCluster(b)
	c.startWorkers(b, same(100, 4), instant)
	const clients = 64
	subs := c.submissions(b, clients)
	// jobs runs n jobs from all the clients at once.
	jobs := func(n int) {
		var next, failures atomic.Int64
		var wg sync.WaitGroup
		for i := range clients {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for j := next.Add(1); j <= int64(n); j = next.Add(1) {
					if _, err := runJob(context.Background(), subs[i], "h"+strconv.FormatInt(j%64, 10)); err != nil {
						failures.Add(1)
					}
				}
			}()
		}
		wg.Wait()
		if f := failures.Load(); f > 0 {
			b.Fatalf("%d of %d jobs failed", f, n)
		}
	}
	// A fresh cluster is slower for a few seconds (goroutine stacks grow,
	// buffers fill their pools): measure it warm.
	jobs(5000)
	cpu0 := c.cpu(b)
	reads0, writes0 := c.syscalls(b)
	b.ResetTimer()
	jobs(b.N)
	b.StopTimer()
	reads, writes := c.syscalls(b)
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "jobs/s")
	b.ReportMetric(float64(c.cpu(b)-cpu0)/float64(time.Microsecond)/float64(b.N), "sched-cpu-us/job")
	b.ReportMetric(float64(reads-reads0)/float64(b.N), "sched-reads/job")
	b.ReportMetric(float64(writes-writes0)/float64(b.N), "sched-writes/job")
}

// BenchmarkClusterLatency measures submission-to-start at half the load
// the cluster can take: Poisson arrivals at 50% of a throughput measured
// first. It reports percentiles in milliseconds.
func BenchmarkClusterLatency(b *testing.B) {
	c := startBenchCluster(b)
	c.startWorkers(b, same(100, 4), instant)
	subs := c.submissions(b, 16)
	// Capacity: as many jobs as 64 closed-loop clients finish in 2 s.
	var done atomic.Int64
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	var wg sync.WaitGroup
	for i := range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				if _, err := runJob(ctx, subs[i%len(subs)], "warm"); err == nil {
					done.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	cancel()
	rate := float64(done.Load()) / 2 / 2 // half of the jobs per second
	b.ResetTimer()
	var mu sync.Mutex
	var latencies []float64
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range b.N {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d, err := runJob(context.Background(), subs[i%len(subs)], "h"+strconv.Itoa(i%64))
			if err == nil {
				mu.Lock()
				latencies = append(latencies, float64(d)/float64(time.Millisecond))
				mu.Unlock()
			}
		}()
		time.Sleep(time.Duration(rng.ExpFloat64() / rate * float64(time.Second)))
	}
	wg.Wait()
	b.StopTimer()
	slices.Sort(latencies)
	if len(latencies) < b.N {
		b.Fatalf("%d of %d jobs failed", b.N-len(latencies), b.N)
	}
	at := func(p float64) float64 { return latencies[min(len(latencies)-1, int(p*float64(len(latencies))))] }
	b.ReportMetric(rate, "offered-jobs/s")
	b.ReportMetric(at(0.50), "p50-ms")
	b.ReportMetric(at(0.99), "p99-ms")
}

// chattyRunner writes size bytes of log.
type chattyRunner struct{ size int }

func (r chattyRunner) Run(_ context.Context, _ *runners.Job, _ string, log io.Writer) (string, error) {
	line := []byte(strings.Repeat("x", 1023) + "\n")
	for n := 0; n < r.size; n += len(line) {
		if _, err := log.Write(line); err != nil {
			return "", err
		}
	}
	return "", nil
}

type countingWriter struct{ n int64 }

func (w *countingWriter) Write(p []byte) (int, error) {
	w.n += int64(len(p))
	return len(p), nil
}

// BenchmarkLogStreaming reads one job's 64 MiB log from the worker
// through the scheduler to the client. An op is one job.
func BenchmarkLogStreaming(b *testing.B) {
	const size = 64 << 20
	c := startBenchCluster(b)
	c.startWorkers(b, same(1, 1), func() runners.Runner { return chattyRunner{size} })
	conn, err := client.Connect(context.Background(), c.client, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	sub, err := conn.Submission(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	defer sub.Release()
	var total int64
	b.ResetTimer()
	for range b.N {
		ctx := context.Background()
		job, err := sub.Submit(ctx, "pool", &runners.Job{Docker: &runners.DockerBuild{DockerfileContents: "x"}}, false)
		if err != nil {
			b.Fatal(err)
		}
		w := &countingWriter{}
		if err := job.Tail(ctx, w); err != nil {
			b.Fatal(err)
		}
		total += w.n
		job.Release()
	}
	b.StopTimer()
	b.ReportMetric(float64(total)/1e6/b.Elapsed().Seconds(), "MB/s")
}

// BenchmarkSchedulerMemory reports the scheduler's live heap per connected
// worker and per queued job.
func BenchmarkSchedulerMemory(b *testing.B) {
	for range b.N {
		c := startBenchCluster(b)
		base := c.heap(b)
		c.startWorkers(b, same(200, 4), instant)
		withWorkers := c.heap(b)
		b.ReportMetric((withWorkers-base)/200, "B/worker")

		conn, err := client.Connect(context.Background(), c.client, nil)
		if err != nil {
			b.Fatal(err)
		}
		sub, err := conn.Submission(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		// Pause every worker, then queue jobs that stay queued. The slope
		// between two queue lengths leaves out what the RPC library pools.
		pauseAll(b, c)
		submit := func(n int) float64 {
			for i := range n {
				job := &runners.Job{Hint: "h" + strconv.Itoa(i%100), Docker: &runners.DockerBuild{DockerfileContents: "FROM busybox\nRUN make\n"}}
				if _, err := sub.Submit(context.Background(), "pool", job, false); err != nil {
					b.Fatal(err)
				}
			}
			time.Sleep(time.Second) // the RPC library frees answers 250 ms after their Finish
			return c.heap(b)
		}
		// The slope between 10,000 and 100,000 queued.
		before := submit(10000)
		b.ReportMetric((submit(90000)-before)/90000, "B/queued-job")
		sub.Release()
		conn.Close()
	}
}

func pauseAll(b *testing.B, c *benchCluster) {
	admin, err := wire.ReadCapFile(filepath.Join(c.dir, "admin.cap"))
	if err != nil {
		b.Fatal(err)
	}
	conn, err := client.Connect(context.Background(), admin, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	a, err := conn.Admin(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	defer a.Release()
	p, err := a.Pool(context.Background(), "pool")
	if err != nil {
		b.Fatal(err)
	}
	defer p.Release()
	for i := range 200 {
		if err := p.SetActive(context.Background(), fmt.Sprintf("worker-%d", i), false, false); err != nil {
			b.Fatal(err)
		}
	}
}

// peakRSS is the most resident memory the child has had, in bytes.
func (c *benchCluster) peakRSS(b *testing.B) float64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", c.cmd.Process.Pid))
	if err != nil {
		b.Fatal(err)
	}
	for line := range strings.Lines(string(data)) {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			if err != nil {
				b.Fatal(err)
			}
			return kb * 1024
		}
	}
	b.Fatal("no VmHWM in the child's status")
	return 0
}

// BenchmarkMillionQueued queues a million jobs from a thousand clients,
// each on its own connection submitting its thousand jobs one after the
// other, in a pool with no workers, and reports the scheduler's peak
// resident memory, its live heap at the end, and how long the submissions
// took. An op is the whole million. The scheduler runs as it comes, and
// with a soft memory limit (GOMEMLIMIT), under which the Go runtime
// collects sooner rather than letting the heap grow to twice what is live.
func BenchmarkMillionQueued(b *testing.B) {
	for _, limit := range []string{"", "1300MiB"} {
		name := "GOMEMLIMIT=" + limit
		if limit == "" {
			name = "GOMEMLIMIT=off"
		}
		b.Run(name, func(b *testing.B) {
			var env []string
			if limit != "" {
				env = append(env, "GOMEMLIMIT="+limit)
			}
			for range b.N {
				millionQueued(b, env)
			}
		})
	}
}

func millionQueued(b *testing.B, env []string) {
	const clients, perClient = 1000, 1000
	c := startBenchCluster(b, env...)
	adminRef, err := wire.ReadCapFile(filepath.Join(c.dir, "admin.cap"))
	if err != nil {
		b.Fatal(err)
	}
	adminConn, err := client.Connect(context.Background(), adminRef, nil)
	if err != nil {
		b.Fatal(err)
	}
	admin, err := adminConn.Admin(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	subs := make([]*client.Submission, clients)
	for i := range subs {
		text, err := admin.AddClient(context.Background(), "client-"+strconv.Itoa(i))
		if err != nil {
			b.Fatal(err)
		}
		ref, err := wire.ParseSturdyRef(strings.TrimSpace(text))
		if err != nil {
			b.Fatal(err)
		}
		conn, err := client.Connect(context.Background(), ref, nil)
		if err != nil {
			b.Fatal(err)
		}
		if subs[i], err = conn.Submission(context.Background()); err != nil {
			b.Fatal(err)
		}
		defer conn.Close()
		defer subs[i].Release()
	}
	admin.Release()
	adminConn.Close()

	start := time.Now()
	var wg sync.WaitGroup
	var failures atomic.Int64
	held := make([][]*client.Job, clients) // a released ticket cancels its job
	for i, sub := range subs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range perClient {
				job := &runners.Job{Hint: "h" + strconv.Itoa(k%100), Docker: &runners.DockerBuild{DockerfileContents: "FROM busybox\nRUN make\n"}}
				j, err := sub.Submit(context.Background(), "pool", job, false)
				if err != nil {
					failures.Add(1)
					return
				}
				held[i] = append(held[i], j)
			}
		}()
	}
	wg.Wait()
	took := time.Since(start)
	if f := failures.Load(); f > 0 {
		b.Fatalf("%d clients failed to submit", f)
	}
	b.ReportMetric(c.peakRSS(b)/(1<<20), "peak-RSS-MiB")
	b.ReportMetric(c.heap(b)/(1<<20), "heap-MiB")
	b.ReportMetric(took.Seconds(), "submit-s")
	b.ReportMetric(clients*perClient/took.Seconds(), "jobs/s")
	runtime.KeepAlive(held)
}
