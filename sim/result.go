package sim

import (
	"math"
	"slices"

	"gonum.org/v1/gonum/stat"
)

// Result is what a run measured. Times are in seconds of virtual time.
type Result struct {
	Scenario string `json:"scenario"`
	Policy   string `json:"policy"`
	Seed     uint64 `json:"seed"`
	Stats
	// Urgent and Normal are the jobs of each priority, over all pools.
	Urgent      Stats   `json:"urgent"`
	Normal      Stats   `json:"normal"`
	MakespanS   float64 `json:"makespan_s"`
	Utilisation float64 `json:"utilisation"`
	Jain        float64 `json:"jain"`
	// JainWindows is how many windows had at least two clients waiting.
	JainWindows int `json:"jain_windows"`
	// Imbalance is the coefficient of variation of the workers' utilisation.
	Imbalance float64 `json:"imbalance"`
	// SimulatedS is the virtual time the run covered; Events how many
	// events it processed.
	SimulatedS float64 `json:"simulated_s"`
	Events     uint64  `json:"events"`

	Pools   []Group        `json:"pools"`
	Clients []Group        `json:"clients"`
	Workers []WorkerResult `json:"workers"`
	Series  Series         `json:"series"`
}

// Stats summarise a set of jobs.
type Stats struct {
	Jobs       int `json:"jobs"`
	Started    int `json:"started"`
	Finished   int `json:"finished"`
	Failed     int `json:"failed"`
	Cancelled  int `json:"cancelled"`
	Unfinished int `json:"unfinished"`
	// Retried counts the jobs that went back to the queue at least once,
	// after losing their worker or being moved off it.
	Retried int `json:"retried"`

	// Waits run from submission to first start, over the jobs that started.
	WaitMeanS float64 `json:"wait_mean_s"`
	WaitP50S  float64 `json:"wait_p50_s"`
	WaitP90S  float64 `json:"wait_p90_s"`
	WaitP95S  float64 `json:"wait_p95_s"`
	WaitP99S  float64 `json:"wait_p99_s"`
	WaitMaxS  float64 `json:"wait_max_s"`
	// Turnarounds run from submission to success, over the finished jobs;
	// slowdown is turnaround over max(run time, 10 s).
	TurnaroundMeanS float64 `json:"turnaround_mean_s"`
	TurnaroundP50S  float64 `json:"turnaround_p50_s"`
	TurnaroundP95S  float64 `json:"turnaround_p95_s"`
	SlowdownMean    float64 `json:"slowdown_mean"`
	SlowdownP95     float64 `json:"slowdown_p95"`
	// CacheHitRate is the share of starts of jobs with a hint whose worker
	// had that hint cached.
	CacheHitRate float64 `json:"cache_hit_rate"`
	HintedStarts int     `json:"hinted_starts"`
}

// Group is the statistics of a pool or a client, with their urgent and
// normal jobs apart.
type Group struct {
	Pool   string `json:"pool"`
	Client string `json:"client,omitempty"`
	Stats
	Urgent Stats `json:"urgent"`
	Normal Stats `json:"normal"`
	// Jain is the pool's fairness (pools only).
	Jain float64 `json:"jain,omitempty"`
	// WaitQuantilesS are the 0th, 1st, ..., 100th percentiles of the
	// waits (clients only), for CDF plots.
	WaitQuantilesS []float64 `json:"wait_quantiles_s,omitempty"`
}

// WorkerResult is one worker's use.
type WorkerResult struct {
	Pool        string  `json:"pool"`
	Name        string  `json:"name"`
	Capacity    int     `json:"capacity"`
	Utilisation float64 `json:"utilisation"`
	CachedHints int     `json:"cached_hints"`
}

// Series are sampled every scenario "sample" interval.
type Series struct {
	T        []float64 `json:"t_s"`
	Queued   []int     `json:"queued"`
	Running  []int     `json:"running"`
	Capacity []int     `json:"capacity"`
	// Starts and Hits count, per interval, the starts of hinted jobs and
	// those that found their hint cached.
	Starts  []int          `json:"hinted_starts"`
	Hits    []int          `json:"hits"`
	Clients []ClientSeries `json:"clients"`
}

// ClientSeries is one client's queue over time.
type ClientSeries struct {
	Pool   string `json:"pool"`
	Client string `json:"client"`
	Queued []int  `json:"queued"`
}

// accumulator computes one group's statistics. Its buffers are reused
// from group to group, so that the extra memory of a result is a few
// numbers per job, not per job and group.
type accumulator struct {
	stats       Stats
	waits       []float64
	turnarounds []float64
	slowdowns   []float64
	hits        int
}

func (a *accumulator) reset() {
	a.stats = Stats{}
	a.waits, a.turnarounds, a.slowdowns = a.waits[:0], a.turnarounds[:0], a.slowdowns[:0]
	a.hits = 0
}

func (a *accumulator) add(j *job) {
	a.stats.Jobs++
	switch j.state {
	case jobOK:
		a.stats.Finished++
		t := j.ended - j.submitted
		a.turnarounds = append(a.turnarounds, t)
		a.slowdowns = append(a.slowdowns, t/max(j.service, 10))
	case jobFailed:
		a.stats.Failed++
	case jobCancelled:
		a.stats.Cancelled++
	default:
		a.stats.Unfinished++
	}
	if j.retries > 0 {
		a.stats.Retried++
	}
	if j.firstStart >= 0 {
		a.stats.Started++
		a.waits = append(a.waits, j.firstStart-j.submitted)
		if j.seed.hint != "" {
			a.stats.HintedStarts++
			if j.cached {
				a.hits++
			}
		}
	}
}

// statsOf computes the statistics of jobs, of all priorities or of one.
// The sorted waits stay in the buffer until the next call.
func (a *accumulator) statsOf(jobs []*job, urgent, normal bool) Stats {
	a.reset()
	for _, j := range jobs {
		if (j.seed.urgent && urgent) || (!j.seed.urgent && normal) {
			a.add(j)
		}
	}
	return a.finish()
}

func (a *accumulator) finish() Stats {
	s := a.stats
	w := summarise(a.waits)
	s.WaitMeanS, s.WaitP50S, s.WaitP90S, s.WaitP95S, s.WaitP99S, s.WaitMaxS = w.mean, w.p50, w.p90, w.p95, w.p99, w.max
	t := summarise(a.turnarounds)
	s.TurnaroundMeanS, s.TurnaroundP50S, s.TurnaroundP95S = t.mean, t.p50, t.p95
	sd := summarise(a.slowdowns)
	s.SlowdownMean, s.SlowdownP95 = sd.mean, sd.p95
	if s.HintedStarts > 0 {
		s.CacheHitRate = float64(a.hits) / float64(s.HintedStarts)
	}
	return s
}

type summary struct{ mean, p50, p90, p95, p99, max float64 }

// summarise returns the mean, percentiles (nearest rank) and maximum of
// xs, all 0 for no data. It sorts xs.
func summarise(xs []float64) summary {
	if len(xs) == 0 {
		return summary{}
	}
	slices.Sort(xs)
	q := func(p float64) float64 { return nearestRank(xs, p) }
	return summary{stat.Mean(xs, nil), q(0.5), q(0.9), q(0.95), q(0.99), xs[len(xs)-1]}
}

// nearestRank is the smallest value of sorted with at least a fraction p of
// the values at or below it.
func nearestRank(sorted []float64, p float64) float64 {
	n := float64(len(sorted))
	i := max(0, min(int(math.Ceil(p*n))-1, len(sorted)-1))
	// Correct the index for the rounding of p*n.
	for i > 0 && float64(i)/n >= p {
		i--
	}
	for i < len(sorted)-1 && float64(i+1)/n < p {
		i++
	}
	return sorted[i]
}

// quantiles returns the 0th..100th percentiles of sorted xs.
func quantiles(sorted []float64) []float64 {
	if len(sorted) == 0 {
		return nil
	}
	out := make([]float64, 101)
	out[0] = sorted[0]
	for i := 1; i <= 100; i++ {
		out[i] = nearestRank(sorted, float64(i)/100)
	}
	return out
}

// group computes a pool's or a client's statistics, with its urgent and
// normal jobs apart.
func (a *accumulator) group(jobs []*job, pool, client string) Group {
	g := Group{Pool: pool, Client: client, Urgent: a.statsOf(jobs, true, false), Normal: a.statsOf(jobs, false, true)}
	g.Stats = a.statsOf(jobs, true, true)
	return g
}

func (c *collector) result(s *simulation) *Result {
	r := &Result{Scenario: s.sc.Name, Policy: s.sched.Policy(), Seed: s.opts.Seed, SimulatedS: s.now, Events: s.events}
	// Order the jobs by pool and client (a counting sort keeps submission
	// order within each), so that every pool and client is one range.
	var offsets []int // start of each (pool, client) range
	for _, p := range s.pools {
		for range p.clients {
			offsets = append(offsets, 0)
		}
	}
	base := make([]int, len(s.pools)+1)
	for i, p := range s.pools {
		base[i+1] = base[i] + len(p.clients)
	}
	slot := func(j *job) int { return base[j.stream.pool.idx] + j.stream.client.idx }
	counts := make([]int, len(offsets)+1)
	first, last := math.Inf(1), 0.0
	for _, j := range s.jobs {
		counts[slot(j)+1]++
		first = min(first, j.submitted)
		if j.state == jobOK || j.state == jobFailed || j.state == jobCancelled {
			last = max(last, j.ended)
		}
	}
	for i := range offsets {
		counts[i+1] += counts[i]
		offsets[i] = counts[i]
	}
	ordered := make([]*job, len(s.jobs))
	for _, j := range s.jobs {
		k := slot(j)
		ordered[offsets[k]] = j
		offsets[k]++
	}

	var a accumulator
	r.Urgent, r.Normal = a.statsOf(ordered, true, false), a.statsOf(ordered, false, true)
	r.Stats = a.statsOf(ordered, true, true)
	if last > first {
		r.MakespanS = last - first
	}
	if c.capArea > 0 {
		r.Utilisation = c.busyArea / c.capArea
	}
	jainSum, jainWindows := 0.0, 0
	for i, p := range s.pools {
		jobs := ordered[counts[base[i]]:counts[base[i+1]]]
		g := a.group(jobs, p.name, "")
		index, windows := jain(c.fair[i])
		g.Jain = index
		r.Pools = append(r.Pools, g)
		jainSum += index * float64(windows)
		jainWindows += windows
		for k, cl := range p.clients {
			cg := a.group(ordered[counts[base[i]+k]:counts[base[i]+k+1]], p.name, cl.name)
			cg.WaitQuantilesS = quantiles(a.waits) // the client's, sorted by its last statsOf
			r.Clients = append(r.Clients, cg)
		}
	}
	r.Jain, r.JainWindows = 1, jainWindows
	if jainWindows > 0 {
		r.Jain = jainSum / float64(jainWindows)
	}
	var utils []float64
	for i, w := range s.workers {
		u := c.workers[i]
		wr := WorkerResult{Pool: w.pool.name, Name: w.name, Capacity: w.capacity, CachedHints: w.cache.len()}
		if u.connectedArea > 0 {
			wr.Utilisation = u.busy / u.connectedArea
			utils = append(utils, wr.Utilisation)
		}
		r.Workers = append(r.Workers, wr)
	}
	r.Imbalance = imbalance(utils)
	r.Series = c.series
	return r
}

// imbalance is the coefficient of variation of the workers' utilisations.
func imbalance(utils []float64) float64 {
	if len(utils) > 1 {
		if mean := stat.Mean(utils, nil); mean > 0 {
			return stat.PopStdDev(utils, nil) / mean
		}
	}
	return 0
}
