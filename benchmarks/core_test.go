package benchmarks

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/ocluster-go/ocluster/core"
)

// dispatchBench drives a pool in steady state as a real driver would: the
// worker that has run its job longest finishes it, a client submits a new
// job, and that worker pops its next; workers whose pops had to wait run
// again when the core wakes them. The number of jobs in the pool (queued
// plus running) stays constant.
type dispatchBench struct {
	sched *core.Scheduler
	pool  *core.Pool
	busy  busyQueue // workers running a job, longest-running first
	jobs  []core.Job
	now   float64

	// bytesPerJob is the heap the queued jobs took, divided by their number.
	bytesPerJob float64

	clients []string
}

type busyWorker struct {
	w *core.Worker
	t *core.Ticket
}

// busyQueue is a FIFO ring of busy workers.
type busyQueue struct {
	ring       []busyWorker
	head, size int
}

func (q *busyQueue) push(b busyWorker) {
	if q.size == len(q.ring) {
		grown := make([]busyWorker, max(16, 2*len(q.ring)))
		for i := range q.size {
			grown[i] = q.ring[(q.head+i)%len(q.ring)]
		}
		q.ring, q.head = grown, 0
	}
	q.ring[(q.head+q.size)%len(q.ring)] = b
	q.size++
}

func (q *busyQueue) pop() busyWorker {
	b := q.ring[q.head]
	q.head = (q.head + 1) % len(q.ring)
	q.size--
	return b
}

func newDispatchBench(b *testing.B, policy string, workers, queued, hints int) *dispatchBench {
	d := &dispatchBench{now: 1}
	s, err := core.New(core.Config{Pools: []string{"bench"}, Policy: policy, Clock: func() float64 { return d.now }}, nil)
	if err != nil {
		b.Fatal(err)
	}
	d.sched = s
	d.pool, _ = s.Pool("bench")
	for i := range 10 {
		c := fmt.Sprintf("client-%d", i)
		d.clients = append(d.clients, c)
		if err := d.pool.SetRate(c, float64(1+i%4)); err != nil {
			b.Fatal(err)
		}
	}
	// Hints with a skewed popularity: a few are hot, most are rare.
	rng := rand.New(rand.NewPCG(1, 2))
	zipf := rand.NewZipf(rng, 1.1, 1, uint64(hints-1))
	names := make([]string, hints)
	for i := range names {
		names[i] = fmt.Sprintf("hint-%d", i)
	}
	d.jobs = make([]core.Job, 1<<16)
	for i := range d.jobs {
		d.jobs[i] = core.Job{Label: "job", Hint: names[zipf.Uint64()]}
	}
	var ws []*core.Worker
	for i := range workers {
		w, err := d.pool.Register(fmt.Sprintf("worker-%d", i), 1)
		if err != nil {
			b.Fatal(err)
		}
		_ = w.SetActive(true)
		ws = append(ws, w)
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := range queued + workers {
		d.submit(i)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	d.bytesPerJob = float64(after.HeapAlloc-before.HeapAlloc) / float64(queued+workers)
	for _, w := range ws {
		d.pop(w)
	}
	d.resumeWoken()
	// Let the cache index and the queues settle before measuring.
	for i := range 4 * (workers + queued) {
		d.cycle(i)
	}
	return d
}

func (d *dispatchBench) submit(i int) {
	if _, err := d.pool.Submit(d.clients[i%len(d.clients)], d.jobs[i&(len(d.jobs)-1)], i%50 == 0); err != nil {
		panic(err)
	}
}

func (d *dispatchBench) pop(w *core.Worker) {
	t, err := w.Pop()
	if err != nil {
		panic(err)
	}
	if t != nil {
		d.busy.push(busyWorker{w, t})
	}
}

func (d *dispatchBench) resumeWoken() {
	for rd := d.sched.Ready(); !rd.Empty(); rd = d.sched.Ready() {
		for _, w := range rd.Woken {
			t, err := w.Resume()
			if err != nil {
				panic(err)
			}
			if t != nil {
				d.busy.push(busyWorker{w, t})
			}
		}
		d.sched.Advance(rd)
	}
}

// cycle is one job's worth of work: a finish, a submit and a pop.
func (d *dispatchBench) cycle(i int) {
	d.now += 0.001
	if d.busy.size == 0 {
		panic("no worker is busy")
	}
	b := d.busy.pop()
	if err := b.w.Finish(b.t); err != nil {
		panic(err)
	}
	d.submit(i)
	d.pop(b.w)
	d.resumeWoken()
}

func runDispatch(b *testing.B, policy string, workers, queued, hints int) {
	d := newDispatchBench(b, policy, workers, queued, hints)

	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		d.cycle(i)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "jobs/s")
	b.ReportMetric(d.bytesPerJob, "B/queued-job")
	runtime.KeepAlive(d)
}

// BenchmarkDispatch is the headline: 1,000 workers, 10,000 hints with a
// Zipf popularity, 100,000 jobs queued; one op is a submit + pop + finish.
// It runs the faithful ocluster policy, the baseline of every other.
func BenchmarkDispatch(b *testing.B) {
	runDispatch(b, "ocluster", 1000, 100_000, 10_000)
}

// BenchmarkDispatchPolicies is the headline under every policy: a policy
// must stay within 2x of ocluster's cost per job.
func BenchmarkDispatchPolicies(b *testing.B) {
	for _, p := range core.Policies() {
		if p.SimulatorOnly {
			continue
		}
		b.Run("policy="+p.Name, func(b *testing.B) {
			runDispatch(b, p.Name, 1000, 100_000, 10_000)
		})
	}
}

// BenchmarkDispatchScaling shows the cost per job across two orders of
// magnitude of workers and of queued jobs.
func BenchmarkDispatchScaling(b *testing.B) {
	for _, workers := range []int{100, 1000, 10_000} {
		for _, queued := range []int{10_000, 100_000, 1_000_000} {
			b.Run(fmt.Sprintf("workers=%d/queued=%d", workers, queued), func(b *testing.B) {
				runDispatch(b, "ocluster", workers, queued, 10_000)
			})
		}
	}
}
