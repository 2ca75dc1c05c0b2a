package benchmarks

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/ocluster-go/ocluster/runners"
	"github.com/ocluster-go/ocluster/runners/synthetic"
	"github.com/ocluster-go/ocluster/sim"
	"github.com/ocluster-go/ocluster/trace"
	"github.com/ocluster-go/ocluster/transport/client"
)

// BenchmarkTestbed is OCluster's stress testbed on the real transport:
// the scheduler (its own process) with five synthetic workers of 32, 64,
// 64, 64 and 128 slots (15 s cached, 15 min uncached), loaded with the
// first hour of the ocluster-stress scenario (about 21,800 jobs: the
// health client's 21,000 at once, then ocaml-ci's), all time divided by
// the speed. Raising the speed shrinks the jobs until the scheduler, not
// the jobs, sets the pace. An op is one play of the workload; it reports
// the jobs started per second of the play, and the scheduler's CPU per
// 1,000 jobs.
func BenchmarkTestbed(b *testing.B) {
	sc, err := sim.Open("ocluster-stress")
	if err != nil {
		b.Fatal(err)
	}
	sc.Duration = 3600
	var buf bytes.Buffer
	w, err := trace.NewWriter(&buf, sim.TraceHeader(sc, "", 1))
	if err != nil {
		b.Fatal(err)
	}
	if _, err := sim.Run(sc, sim.Options{Seed: 1, Trace: w}); err != nil {
		b.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	_, events, err := trace.ReadAll(&buf)
	if err != nil {
		b.Fatal(err)
	}
	for i := range events {
		events[i].Pool = "pool" // the benchmark scheduler's
	}
	for _, speed := range []float64{600, 6000, 60000} {
		b.Run(fmt.Sprintf("speed=%g", speed), func(b *testing.B) {
			c := startBenchCluster(b)
			c.startWorkers(b, []int{32, 64, 64, 64, 128}, func() runners.Runner {
				return &synthetic.Runner{RunTime: synthetic.Fixed(15*time.Second, 15*time.Minute, speed)}
			})
			sub := c.submissions(b, 1)[0]
			clients := map[string]*client.Submission{}
			for _, name := range client.LoadClients(events) {
				clients[name] = sub
			}
			jobs := 0
			var elapsed time.Duration
			cpu0 := c.cpu(b)
			reads0, writes0 := c.syscalls(b)
			for b.Loop() {
				start := time.Now()
				counts, err := client.Load(context.Background(), client.LoadConfig{Clients: clients, Events: events, Speed: speed}, nil)
				if err != nil {
					b.Fatal(err)
				}
				elapsed += time.Since(start)
				for name, n := range counts {
					if n.Failed+n.Refused > 0 {
						b.Fatalf("client %s: %+v", name, n)
					}
					jobs += n.Finished
				}
			}
			b.ReportMetric(float64(jobs)/elapsed.Seconds(), "jobs/s")
			b.ReportMetric(float64(c.cpu(b)-cpu0)/float64(time.Millisecond)/float64(jobs)*1000, "sched-cpu-ms/1000jobs")
			b.ReportMetric(float64(jobs)/float64(b.N), "jobs/play")
			reads, writes := c.syscalls(b)
			b.ReportMetric(float64(reads-reads0)/float64(jobs), "sched-reads/job")
			b.ReportMetric(float64(writes-writes0)/float64(jobs), "sched-writes/job")
		})
	}
}
