// Package synthetic is a runner that builds nothing: it sleeps for as long
// as a job would take, keeps the cache hints it has used in a cache that
// may be bounded, and writes log lines. The stress testbed and tests use
// it to try a cluster without Docker; the testbed gives each job what the
// simulator drew for it, so that a live cluster runs the simulated jobs.
//
// It must never do real work or touch anything outside its memory: a
// synthetic worker is safe to run anywhere.
package synthetic

import (
	"container/list"
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ocluster-go/ocluster/runners"
)

// Runner sleeps for each job's run time.
type Runner struct {
	// RunTime is how long the job runs here, with its hint cached or not.
	// An error fails the job.
	RunTime func(job *runners.Job, cached bool) (time.Duration, error)
	// CacheLimit bounds the hints kept: beyond it the least recently used
	// goes, and is reported as dropped (0: no bound).
	CacheLimit int

	mu      sync.Mutex
	lru     list.List // of hints, most recent first
	entries map[string]*list.Element
	hits    uint64
	miss    uint64
	// dropAll and dropped are what left the cache since TakeDropped:
	// everything (a prune), then these hints.
	dropAll bool
	dropped []string
	signal  chan struct{}
	clock   Clock
}

// Fixed is a RunTime of cached or uncached, divided by speed.
func Fixed(cached, uncached time.Duration, speed float64) func(*runners.Job, bool) (time.Duration, error) {
	return func(_ *runners.Job, hit bool) (time.Duration, error) {
		d := uncached
		if hit {
			d = cached
		}
		return time.Duration(float64(d) / speed), nil
	}
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

// Clock is the clock the runs wait on.
func (r *Runner) Clock() *Clock { return &r.clock }

// use records a use of hint and says whether it was cached.
func (r *Runner) use(hint string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.entries == nil {
		r.entries = map[string]*list.Element{}
	}
	if hint == "" {
		r.miss++
		return false
	}
	if e := r.entries[hint]; e != nil {
		r.lru.MoveToFront(e)
		r.hits++
		return true
	}
	r.miss++
	r.entries[hint] = r.lru.PushFront(hint)
	if r.CacheLimit > 0 && r.lru.Len() > r.CacheLimit {
		old := r.lru.Back()
		r.lru.Remove(old)
		delete(r.entries, old.Value.(string))
		r.dropped = append(r.dropped, old.Value.(string))
		r.notify()
	}
	return false
}

// Prune empties the cache, as a Docker prune does, and reports it.
func (r *Runner) Prune() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lru.Init()
	clear(r.entries)
	r.dropAll, r.dropped = true, nil
	r.notify()
}

// Cached lists the hints the cache holds, most recently used first.
func (r *Runner) Cached() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for e := r.lru.Front(); e != nil; e = e.Next() {
		out = append(out, e.Value.(string))
	}
	return out
}

func (r *Runner) notify() {
	select {
	case r.signalLocked() <- struct{}{}:
	default:
	}
}

func (r *Runner) signalLocked() chan struct{} {
	if r.signal == nil {
		r.signal = make(chan struct{}, 1)
	}
	return r.signal
}

// Dropped implements runners.CacheReporter.
func (r *Runner) Dropped() <-chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.signalLocked()
}

// TakeDropped implements runners.CacheReporter.
func (r *Runner) TakeDropped() (all bool, hints []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	all, hints = r.dropAll, r.dropped
	r.dropAll, r.dropped = false, nil
	return all, hints
}

// Run implements runners.Runner.
func (r *Runner) Run(ctx context.Context, job *runners.Job, _ string, log io.Writer) (string, error) {
	cached := r.use(job.Hint)
	d, err := r.RunTime(job, cached)
	if err != nil {
		return "", err
	}
	state := "not cached"
	if cached {
		state = "cached"
	}
	fmt.Fprintf(log, "Synthetic %s job (hint %q, %s): %s\n", job.Kind(), job.Hint, state, d)
	if err := r.clock.Sleep(ctx, d); err != nil {
		return "", runners.ErrCancelled
	}
	fmt.Fprintf(log, "Done\n")
	return "", nil
}

// Clock measures the time runs take. It can be stopped, as a worker's
// process is by SIGSTOP: a run sleeps for its time on this clock, so a
// stopped run goes on for what it had left once the clock goes again.
type Clock struct {
	mu      sync.Mutex
	origin  time.Time
	stopped bool
	lost    time.Duration // stopped time before the current stop
	since   time.Time     // of the current stop
	changed chan struct{} // closed and replaced on Stop and Go
}

// elapsedLocked is the clock's reading: the time since its first use
// less the time it stood still.
func (c *Clock) elapsedLocked(now time.Time) time.Duration {
	if c.origin.IsZero() {
		c.origin = now
	}
	lost := c.lost
	if c.stopped {
		lost += now.Sub(c.since)
	}
	return now.Sub(c.origin) - lost
}

func (c *Clock) changedLocked() chan struct{} {
	if c.changed == nil {
		c.changed = make(chan struct{})
	}
	return c.changed
}

// Stop stops the clock.
func (c *Clock) Stop() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.stopped {
		c.stopped, c.since = true, time.Now()
		close(c.changedLocked())
		c.changed = nil
	}
}

// Go lets a stopped clock go on.
func (c *Clock) Go() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopped {
		c.stopped = false
		c.lost += time.Since(c.since)
		close(c.changedLocked())
		c.changed = nil
	}
}

// Sleep waits until d has passed on the clock, or ctx ends.
func (c *Clock) Sleep(ctx context.Context, d time.Duration) error {
	c.mu.Lock()
	end := c.elapsedLocked(time.Now()) + d
	for {
		left := end - c.elapsedLocked(time.Now())
		if left <= 0 && !c.stopped {
			c.mu.Unlock()
			return nil
		}
		stopped, changed := c.stopped, c.changedLocked()
		c.mu.Unlock()
		var timer *time.Timer
		var tick <-chan time.Time
		if !stopped {
			timer = time.NewTimer(left)
			tick = timer.C
		}
		select {
		case <-tick:
		case <-changed:
		case <-ctx.Done():
		}
		if timer != nil {
			timer.Stop()
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		c.mu.Lock()
	}
}

// The job a testbed's load submits carries what the simulator drew for
// it as build arguments, so that a synthetic worker runs it for as long
// as the simulated one ran: any Docker worker could still build it.
const (
	argJob    = "SYNTHETIC_JOB"
	argClient = "SYNTHETIC_CLIENT"
	argStream = "SYNTHETIC_STREAM"
	argSize   = "SYNTHETIC_SIZE"
)

// Draw is what the simulator drew for a job: its number in the simulated
// run, its client, which of that client's streams made it (from 0), and
// its quantile in the run-time distributions.
type Draw struct {
	Job    uint64
	Client string
	Stream int
	Size   float64
}

// NewJob is the job a load submits for a simulated one: a Docker build
// that echoes its name, carrying its hint and draw.
func NewJob(name, hint string, d Draw) *runners.Job {
	return &runners.Job{
		Hint: hint,
		Docker: &runners.DockerBuild{
			DockerfileContents: fmt.Sprintf("FROM busybox\nRUN echo %s\n", name),
			BuildArgs: []string{argJob + "=" + strconv.FormatUint(d.Job, 10), argClient + "=" + d.Client,
				argStream + "=" + strconv.Itoa(d.Stream), argSize + "=" + strconv.FormatFloat(d.Size, 'g', -1, 64)},
		},
	}
}

// DrawOf reads the draw a job carries; ok is false for a job without one.
func DrawOf(job *runners.Job) (d Draw, ok bool, err error) {
	if job.Docker == nil {
		return Draw{}, false, nil
	}
	var id, size, stream string
	for _, a := range job.Docker.BuildArgs {
		name, value, _ := strings.Cut(a, "=")
		switch name {
		case argJob:
			id = value
		case argClient:
			d.Client, ok = value, true
		case argStream:
			stream = value
		case argSize:
			size = value
		}
	}
	if !ok {
		return Draw{}, false, nil
	}
	if d.Job, err = strconv.ParseUint(id, 10, 64); err != nil {
		return Draw{}, true, fmt.Errorf("%s=%q: want the job's number", argJob, id)
	}
	if d.Stream, err = strconv.Atoi(stream); err != nil || d.Stream < 0 {
		return Draw{}, true, fmt.Errorf("%s=%q: want a stream number, 0 or more", argStream, stream)
	}
	if d.Size, err = strconv.ParseFloat(size, 64); err != nil || !(d.Size >= 0 && d.Size < 1) {
		return Draw{}, true, fmt.Errorf("%s=%q: want a number in [0, 1)", argSize, size)
	}
	return d, true, nil
}
