package results

import (
	"fmt"
	"math"
	"slices"
	"strings"
)

// TraceMetrics are the series a trace gives: jobs queued and running,
// connected capacity (slots), utilisation (running over capacity) and
// wait_s, each job's wait from submission to first start, as a point at
// its start. Running counts runs started and not finished: when a worker's
// connection is lost its jobs finish (failed) at once, so while its builds
// go on holding slots, the simulator's own series (slots in use) run
// higher.
var TraceMetrics = []string{"queued", "running", "capacity", "utilisation", "wait_s"}

// jobState is what the series need to remember of a job.
type jobState struct {
	pool, client string
	submitted    float64
	queued       bool
	started      bool
	known        bool // its submission is in the trace
	running      int  // runs started and not finished
}

// Series computes one metric of the trace over its time (seconds since
// its origin), for one pool and one client when they are set. Levels
// (queued, running, capacity, utilisation) get a point wherever they
// change, the last of the changes at one instant; utilisation is NaN while
// no capacity is connected. Capacity counts registered workers' slots,
// paused ones included, as the simulator's series do.
func (t *Trace) Series(metric, pool, client string) (times, values []float64, err error) {
	switch metric {
	case "queued", "running", "wait_s":
	case "capacity", "utilisation":
		if client != "" {
			return nil, nil, fmt.Errorf("%s is measured per pool, not per client: clear the client", metric)
		}
	default:
		return nil, nil, fmt.Errorf("a trace has no metric %q; it has %s", metric, strings.Join(TraceMetrics, ", "))
	}
	if pool != "" && !slices.Contains(t.Header.Pools, pool) {
		return nil, nil, fmt.Errorf("the trace has no pool %q; it has %s", pool, strings.Join(t.Header.Pools, ", "))
	}
	if client != "" && !t.hasClient(pool, client) {
		return nil, nil, fmt.Errorf("the trace has no client %q%s; it has %s", client, inPool(pool), strings.Join(t.Clients(), ", "))
	}
	matches := func(p, c string) bool { return (pool == "" || p == pool) && (client == "" || c == client) }
	jobs := map[uint64]*jobState{}
	slots := map[[2]string]int{} // by pool and worker
	var queued, running, capacity int
	var s levels
	for _, e := range t.Events {
		j := jobs[e.Job]
		if j == nil && e.Job != 0 {
			// A job first seen starting was submitted before the recording began.
			j = &jobState{pool: e.Pool}
			jobs[e.Job] = j
		}
		switch e.Kind {
		case "submit":
			*j = jobState{pool: e.Pool, client: e.Client, submitted: e.T, queued: true, known: true}
			if matches(j.pool, j.client) {
				queued++
			}
		case "cancel":
			if j.queued && matches(j.pool, j.client) {
				queued--
			}
			j.queued = false
		case "start":
			if matches(j.pool, j.client) {
				if j.queued {
					queued--
				}
				running++
				if metric == "wait_s" && j.known && !j.started {
					times, values = append(times, e.T), append(values, e.T-j.submitted)
				}
			}
			j.queued, j.started = false, true
			j.running++
		case "finish":
			// A run that started before the recording began was never counted.
			if j.running > 0 {
				j.running--
				if matches(j.pool, j.client) {
					running--
				}
			}
		case "register", "release":
			key := [2]string{e.Pool, e.Worker}
			if matches(e.Pool, "") {
				capacity -= slots[key]
				if e.Kind == "register" {
					capacity += e.Capacity
				}
			}
			slots[key] = e.Capacity // a release carries 0
		}
		switch metric {
		case "queued":
			s.set(e.T, float64(queued))
		case "running":
			s.set(e.T, float64(running))
		case "capacity":
			s.set(e.T, float64(capacity))
		case "utilisation":
			u := math.NaN()
			if capacity > 0 {
				u = float64(running) / float64(capacity)
			}
			s.set(e.T, u)
		}
	}
	if metric == "wait_s" {
		return times, values, nil
	}
	return s.t, s.v, nil
}

// levels is a step series: one point per change.
type levels struct{ t, v []float64 }

func (l *levels) set(t, v float64) {
	n := len(l.t)
	switch {
	case n > 0 && l.t[n-1] == t:
		l.v[n-1] = v
		// A change undone at the same instant leaves no step.
		if n > 1 && same(l.v[n-2], v) {
			l.t, l.v = l.t[:n-1], l.v[:n-1]
		}
	case n > 0 && same(l.v[n-1], v):
	default:
		l.t, l.v = append(l.t, t), append(l.v, v)
	}
}

func same(a, b float64) bool { return a == b || (math.IsNaN(a) && math.IsNaN(b)) }

func (t *Trace) hasClient(pool, client string) bool {
	for _, e := range t.Events {
		if e.Client == client && (pool == "" || e.Pool == pool) {
			return true
		}
	}
	return false
}

// Clients are the trace's clients, as pool/client, sorted.
func (t *Trace) Clients() []string {
	seen := map[string]bool{}
	var out []string
	for _, e := range t.Events {
		if e.Client == "" {
			continue
		}
		if k := e.Pool + "/" + e.Client; !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

func inPool(pool string) string {
	if pool == "" {
		return ""
	}
	return " in pool " + pool
}
