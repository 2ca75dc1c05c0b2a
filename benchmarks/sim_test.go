package benchmarks

import (
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/ocluster-go/ocluster/core"
	"github.com/ocluster-go/ocluster/sim"
)

// BenchmarkSimStress simulates OCluster's own stress testbed (24 h, ~40k
// jobs) end to end under each policy: engine, core and metrics, on one
// goroutine.
func BenchmarkSimStress(b *testing.B) {
	sc, err := sim.Open("ocluster-stress")
	if err != nil {
		b.Fatal(err)
	}
	for _, policy := range core.Policies() {
		b.Run("policy="+policy.Name, func(b *testing.B) {
			var jobs, events float64
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				r, err := sim.Run(sc, sim.Options{Policy: policy.Name, Seed: uint64(i + 1)})
				if err != nil {
					b.Fatal(err)
				}
				jobs += float64(r.Jobs)
				events += float64(r.Events)
			}
			b.ReportMetric(jobs/b.Elapsed().Seconds(), "jobs/s")
			b.ReportMetric(events/b.Elapsed().Seconds(), "events/s")
			b.ReportMetric(jobs/float64(b.N), "jobs/op")
		})
	}
}

const millionJobs = `
name: million
description: 1,000,000 jobs from ten clients on 1,000 workers.
duration: 60h
pools:
  - name: p
    workers:
      - name: worker
        count: 1000
        capacity: 2
        cached: {dist: exponential, mean: 30s}
        uncached: {dist: lognormal, median: 5m, sigma: 0.5}
    clients:
      - {name: c0, rate: 1, arrivals: {process: poisson, mean: 1s}, jobs: 100000, urgent: 0.1, hints: {kind: zipf, count: 10000, s: 1.1, prefix: h}}
      - {name: c1, rate: 2, arrivals: {process: poisson, mean: 1s}, jobs: 100000, hints: {kind: zipf, count: 10000, s: 1.1, prefix: h}}
      - {name: c2, rate: 3, arrivals: {process: poisson, mean: 1s}, jobs: 100000, hints: {kind: zipf, count: 10000, s: 1.1, prefix: h}}
      - {name: c3, rate: 4, arrivals: {process: poisson, mean: 1s}, jobs: 100000, hints: {kind: zipf, count: 10000, s: 1.1, prefix: h}}
      - {name: c4, rate: 1, arrivals: {process: poisson, mean: 1s}, jobs: 100000, hints: {kind: uniform, count: 1000}}
      - {name: c5, rate: 1, arrivals: {process: poisson, mean: 1s}, jobs: 100000, hints: {kind: none}}
      - {name: c6, rate: 1, arrivals: {process: periodic, every: 1m}, batch: 60, jobs: 100000, hints: {kind: uniform, count: 5000}}
      - {name: c7, rate: 1, arrivals: {process: poisson, mean: 1s}, jobs: 100000, hints: {kind: hot, count: 500, share: 0.3}}
      - {name: c8, rate: 1, arrivals: {process: diurnal, mean: 1s, amplitude: 0.5, peak: 14h}, jobs: 100000, hints: {kind: zipf, count: 10000, s: 1.3, prefix: h}}
      - {name: c9, rate: 1, arrivals: {process: poisson, mean: 1s}, jobs: 100000, hints: {kind: fixed, values: [a, b, c]}}
`

// BenchmarkSimMillion runs 1,000,000 jobs on 1,000 workers under each
// policy and reports the peak heap of a run (every job is kept until the
// end, for the percentiles) and the process's peak resident memory.
func BenchmarkSimMillion(b *testing.B) {
	sc, err := sim.LoadScenario("million", []byte(millionJobs))
	if err != nil {
		b.Fatal(err)
	}
	for _, policy := range core.Policies() {
		b.Run("policy="+policy.Name, func(b *testing.B) {
			if policy.SimulatorOnly {
				b.Skip("a reference that asks the oracle about every worker for every job: O(workers) per decision by definition")
			}
			var jobs, events float64
			var heap uint64
			for i := 0; i < b.N; i++ {
				var r *sim.Result
				heap, r = heapDuring(func() *sim.Result {
					r, err := sim.Run(sc, sim.Options{Policy: policy.Name, Seed: uint64(i + 1)})
					if err != nil {
						b.Fatal(err)
					}
					return r
				})
				jobs += float64(r.Jobs)
				events += float64(r.Events)
			}
			var ru syscall.Rusage
			syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
			b.ReportMetric(jobs/b.Elapsed().Seconds(), "jobs/s")
			b.ReportMetric(events/b.Elapsed().Seconds(), "events/s")
			b.ReportMetric(jobs/float64(b.N), "jobs/op")
			b.ReportMetric(float64(heap)/(1<<20), "MiB-peak-heap")
			b.ReportMetric(float64(ru.Maxrss)/1024, "MiB-peak-rss")
		})
	}
}

// heapDuring runs f and returns the most heap in use while it ran, beyond
// what was in use before, sampling every 50 ms (reading the heap stops the
// world, so it must not be read often).
func heapDuring(f func() *sim.Result) (uint64, *sim.Result) {
	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	peak := before.HeapInuse
	done := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		var m runtime.MemStats
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				runtime.ReadMemStats(&m)
				peak = max(peak, m.HeapInuse)
			}
		}
	}()
	r := f()
	close(done)
	<-sampled
	return peak - before.HeapInuse, r
}
