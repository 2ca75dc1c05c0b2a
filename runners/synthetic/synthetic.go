// Package synthetic is a runner that builds nothing: it sleeps for as long
// as a job would take, remembering the cache hints it has seen, and writes
// log lines. The stress testbed and tests use it to try a cluster without
// Docker.
package synthetic

import (
	"context"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ocluster-go/ocluster/runners"
)

// Runner sleeps Cached (when it has run a job with the same hint before)
// or Uncached, divided by Speed.
type Runner struct {
	Cached, Uncached time.Duration
	Speed            float64 // 0 means 1

	mu   sync.Mutex
	seen map[string]bool
	hits uint64
	miss uint64
}

// Stats returns how many jobs found their hint cached, and how many did not.
func (r *Runner) Stats() (hits, misses uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.hits, r.miss
}

// Collector exports the hits and misses as the counters
// <prefix>_hits and <prefix>_misses.
func (r *Runner) Collector(prefix string) prometheus.Collector {
	return collector{r: r,
		hits:   prometheus.NewDesc(prefix+"_hits", "Jobs whose cache hint this worker had seen", nil, nil),
		misses: prometheus.NewDesc(prefix+"_misses", "Jobs whose cache hint this worker had not seen", nil, nil)}
}

type collector struct {
	r            *Runner
	hits, misses *prometheus.Desc
}

func (c collector) Describe(ch chan<- *prometheus.Desc) { ch <- c.hits; ch <- c.misses }

func (c collector) Collect(ch chan<- prometheus.Metric) {
	hits, misses := c.r.Stats()
	ch <- prometheus.MustNewConstMetric(c.hits, prometheus.CounterValue, float64(hits))
	ch <- prometheus.MustNewConstMetric(c.misses, prometheus.CounterValue, float64(misses))
}

// Run implements runners.Runner.
func (r *Runner) Run(ctx context.Context, job *runners.Job, _ string, log io.Writer) (string, error) {
	r.mu.Lock()
	if r.seen == nil {
		r.seen = map[string]bool{}
	}
	cached := job.CacheHint != "" && r.seen[job.CacheHint]
	if job.CacheHint != "" {
		r.seen[job.CacheHint] = true
	}
	if cached {
		r.hits++
	} else {
		r.miss++
	}
	r.mu.Unlock()
	d := r.Uncached
	state := "not cached"
	if cached {
		d, state = r.Cached, "cached"
	}
	if r.Speed > 0 {
		d = time.Duration(float64(d) / r.Speed)
	}
	fmt.Fprintf(log, "Synthetic %s job (hint %q, %s): %s\n", job.Kind(), job.CacheHint, state, d)
	select {
	case <-time.After(d):
	case <-ctx.Done():
		return "", runners.ErrCancelled
	}
	fmt.Fprintf(log, "Done\n")
	return "", nil
}
