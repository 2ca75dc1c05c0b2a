// Package simtest measures scheduling policies from go test: the quality
// of their decisions on the simulator's scenarios, as benchmarks that
// benchstat can compare between two commits or two policies. It is for
// tests and benchmarks only; nothing else imports it.
package simtest

import (
	"fmt"
	"sync"
	"testing"

	"github.com/ocluster-go/ocluster/sim"
)

// seeds counts, per sub-benchmark, the times it has run, so that each run
// (each of -count) simulates the next seed.
var seeds = struct {
	sync.Mutex
	next map[string]uint64
}{next: map[string]uint64{}}

func nextSeed(name string) uint64 {
	seeds.Lock()
	defer seeds.Unlock()
	seeds.next[name]++
	return seeds.next[name]
}

// BenchmarkPolicies runs a sub-benchmark scenario=S/policy=P for every
// scenario (the simulator's built-in ones when none is named) and policy,
// and reports what the policy's decisions gave: wait-mean-s, wait-p95-s,
// turnaround-mean-s, hit-rate (0 to 1), jain, lost-jobs (jobs that failed
// with their worker) and retried-jobs, and how fast the simulator ran it
// (sim-jobs/s). Every iteration of one run simulates the same seed, so the
// quality metrics are exact; the n-th run of a sub-benchmark simulates
// seed n, so that -count=10 gives benchstat ten seeds to summarise, the
// same ten for every policy and every commit:
//
//	go test -run '^$' -bench 'Policy' -benchtime 1x -count 10 . | tee new.txt
//	benchstat -col /policy new.txt
//
// A policy of one's own gets the same table from one line in its tests:
//
//	func BenchmarkMine(b *testing.B) { simtest.BenchmarkPolicies(b, []string{"mine", "combined"}) }
func BenchmarkPolicies(b *testing.B, policies []string, scenarios ...string) {
	if len(scenarios) == 0 {
		scenarios = sim.Builtins()
	}
	for _, name := range scenarios {
		sc, err := sim.Open(name)
		if err != nil {
			b.Fatal(err)
		}
		for _, policy := range policies {
			b.Run(fmt.Sprintf("scenario=%s/policy=%s", name, policy), func(b *testing.B) {
				seed := nextSeed(b.Name())
				var r *sim.Result
				for b.Loop() {
					if r, err = sim.Run(sc, sim.Options{Policy: policy, Seed: seed}); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(r.WaitMeanS, "wait-mean-s")
				b.ReportMetric(r.WaitP95S, "wait-p95-s")
				b.ReportMetric(r.TurnaroundMeanS, "turnaround-mean-s")
				b.ReportMetric(r.CacheHitRate, "hit-rate")
				b.ReportMetric(r.Jain, "jain")
				b.ReportMetric(float64(r.Failed), "lost-jobs")
				b.ReportMetric(float64(r.Retried), "retried-jobs")
				b.ReportMetric(float64(r.Jobs)*float64(b.N)/b.Elapsed().Seconds(), "sim-jobs/s")
			})
		}
	}
}
