package sim

import (
	"errors"
	"fmt"
	"math"
	"runtime"
	"strconv"
	"sync"

	"gonum.org/v1/gonum/stat"
	"gonum.org/v1/gonum/stat/distuv"

	"github.com/ocluster-go/ocluster/core"
	"github.com/ocluster-go/ocluster/trace"
)

// Metric is one number a run is judged by.
type Metric struct {
	Name string // as in the JSON result
	// Unit is "s" for durations, "" for ratios and counts.
	Unit string
	// Lower says whether lower is better.
	Lower bool
	Of    func(*Result) float64
	// Reported marks a count that is neither better nor worse in itself,
	// such as the jobs retried: a difference gets no verdict.
	Reported bool
}

// Metrics are the numbers compared between policies.
var Metrics = []Metric{
	{"wait_mean_s", "s", true, func(r *Result) float64 { return r.WaitMeanS }, false},
	{"wait_p50_s", "s", true, func(r *Result) float64 { return r.WaitP50S }, false},
	{"wait_p95_s", "s", true, func(r *Result) float64 { return r.WaitP95S }, false},
	{"wait_p99_s", "s", true, func(r *Result) float64 { return r.WaitP99S }, false},
	{"wait_max_s", "s", true, func(r *Result) float64 { return r.WaitMaxS }, false},
	{"urgent_wait_p95_s", "s", true, func(r *Result) float64 { return r.Urgent.WaitP95S }, false},
	{"turnaround_mean_s", "s", true, func(r *Result) float64 { return r.TurnaroundMeanS }, false},
	{"slowdown_mean", "", true, func(r *Result) float64 { return r.SlowdownMean }, false},
	{"makespan_s", "s", true, func(r *Result) float64 { return r.MakespanS }, false},
	{"utilisation", "", false, func(r *Result) float64 { return r.Utilisation }, false},
	{"cache_hit_rate", "", false, func(r *Result) float64 { return r.CacheHitRate }, false},
	{"jain", "", false, func(r *Result) float64 { return r.Jain }, false},
	{"imbalance", "", true, func(r *Result) float64 { return r.Imbalance }, false},
	{"failed", "", true, func(r *Result) float64 { return float64(r.Failed) }, false},
	{"retried", "", true, func(r *Result) float64 { return float64(r.Retried) }, true},
	{"unfinished", "", true, func(r *Result) float64 { return float64(r.Unfinished) }, false},
}

// Estimate is a mean over runs with its 95% confidence interval (Student's
// t); with a single run the interval is the mean itself.
type Estimate struct {
	Mean   float64 `json:"mean"`
	CILow  float64 `json:"ci_low"`
	CIHigh float64 `json:"ci_high"`
	N      int     `json:"n"`
}

func estimate(xs []float64) Estimate {
	e := Estimate{N: len(xs)}
	if len(xs) == 0 {
		return e
	}
	e.Mean = stat.Mean(xs, nil)
	e.CILow, e.CIHigh = e.Mean, e.Mean
	if len(xs) > 1 {
		half := distuv.StudentsT{Mu: 0, Sigma: 1, Nu: float64(len(xs) - 1)}.Quantile(0.975) *
			stat.StdDev(xs, nil) / math.Sqrt(float64(len(xs)))
		e.CILow, e.CIHigh = e.Mean-half, e.Mean+half
	}
	return e
}

// Difference compares a policy with the baseline on one metric, seed by
// seed (both saw the same jobs): the mean of policy - baseline, its 95%
// interval, and a verdict only when the interval excludes zero.
type Difference struct {
	Policy   string   `json:"policy"`
	Baseline string   `json:"baseline"`
	Diff     Estimate `json:"diff"`
	// Relative is Diff.Mean over the baseline's mean (0 when that is 0).
	Relative float64 `json:"relative"`
	// Verdict is "better", "worse", or empty when the interval holds 0.
	Verdict string `json:"verdict,omitempty"`
}

// MetricComparison is one metric across policies.
type MetricComparison struct {
	Metric      string       `json:"metric"`
	Unit        string       `json:"unit,omitempty"`
	LowerBetter bool         `json:"lower_is_better"`
	Policies    []Estimate   `json:"policies"`
	Differences []Difference `json:"differences"`
}

// Comparison is several policies run on the same samples (seeds of a
// scenario, or traces).
type Comparison struct {
	Scenario string             `json:"scenario"`
	Policies []string           `json:"policies"`
	Samples  []string           `json:"samples"`
	Metrics  []MetricComparison `json:"metrics"`
	// Runs holds every run: Runs[policy][sample].
	Runs [][]*Result `json:"runs"`
}

// Job is one run of a comparison or sweep.
type Job func() (*Result, error)

// RunAll runs jobs on up to parallel goroutines (GOMAXPROCS when 0) and
// returns their results in order. done, when set, is called after each.
func RunAll(jobs []Job, parallel int, done func()) ([]*Result, error) {
	if parallel <= 0 {
		parallel = runtime.GOMAXPROCS(0)
	}
	results := make([]*Result, len(jobs))
	errs := make([]error, len(jobs))
	next := make(chan int)
	var wg sync.WaitGroup
	var mu sync.Mutex
	for range min(parallel, len(jobs)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				results[i], errs[i] = jobs[i]()
				if done != nil {
					mu.Lock()
					done()
					mu.Unlock()
				}
			}
		}()
	}
	for i := range jobs {
		next <- i
	}
	close(next)
	wg.Wait()
	return results, errors.Join(errs...)
}

// Compare builds the comparison of runs[policy][sample]; the first policy
// is the baseline.
func Compare(scenario string, policies, samples []string, runs [][]*Result) (*Comparison, error) {
	if len(policies) == 0 || len(runs) != len(policies) {
		return nil, fmt.Errorf("compare: %d policies but %d sets of runs", len(policies), len(runs))
	}
	for i, rs := range runs {
		if len(rs) != len(samples) {
			return nil, fmt.Errorf("compare: policy %s has %d runs for %d samples", policies[i], len(rs), len(samples))
		}
	}
	c := &Comparison{Scenario: scenario, Policies: policies, Samples: samples, Runs: runs}
	for _, m := range Metrics {
		mc := MetricComparison{Metric: m.Name, Unit: m.Unit, LowerBetter: m.Lower}
		values := make([][]float64, len(policies))
		for p := range policies {
			for _, r := range runs[p] {
				values[p] = append(values[p], m.Of(r))
			}
			mc.Policies = append(mc.Policies, estimate(values[p]))
		}
		for p := 1; p < len(policies); p++ {
			diffs := make([]float64, len(samples))
			for i := range samples {
				diffs[i] = values[p][i] - values[0][i]
			}
			d := Difference{Policy: policies[p], Baseline: policies[0], Diff: estimate(diffs)}
			if base := mc.Policies[0].Mean; base != 0 {
				d.Relative = d.Diff.Mean / math.Abs(base)
			}
			if !m.Reported && d.Diff.N > 1 && (d.Diff.CILow > 0 || d.Diff.CIHigh < 0) {
				if (d.Diff.Mean < 0) == m.Lower {
					d.Verdict = "better"
				} else {
					d.Verdict = "worse"
				}
			}
			mc.Differences = append(mc.Differences, d)
		}
		c.Metrics = append(c.Metrics, mc)
	}
	return c, nil
}

// Variant is a policy with some of its settings overridden: what a
// comparison needs to measure one piece of a policy on its own.
type Variant struct {
	Spec     string // its name in the comparison
	Policy   string
	Override core.Override
}

// CompareOptions tune a comparison's runs.
type CompareOptions struct {
	// Parallel is the number of runs at once; 0 means GOMAXPROCS.
	Parallel int
	// Check runs the core's CheckInvariants after every event (slow).
	Check bool
	// Progress, when set, is called after each run with the runs done and
	// their total.
	Progress func(done, total int)
}

// CompareSeeds runs every policy on every seed of the scenario, in
// parallel, and compares them; the first policy is the baseline.
func CompareSeeds(sc *Scenario, policies []Variant, seeds []uint64, opts CompareOptions) (*Comparison, error) {
	samples := make([]string, len(seeds))
	for i, seed := range seeds {
		samples[i] = strconv.FormatUint(seed, 10)
	}
	return compareRuns(sc.Name, policies, samples, opts, func(v Variant, i int) (*Result, error) {
		return Run(sc, Options{Policy: v.Policy, Override: v.Override, Seed: seeds[i], Check: opts.Check})
	})
}

// TraceSample is one recorded trace of a comparison.
type TraceSample struct {
	Name   string // as the comparison shows it, e.g. its file
	Header trace.Header
	Events []trace.Event
}

// CompareTraces replays every trace under every policy, in parallel, and
// compares them; the first policy is the baseline. timeScale multiplies
// the traces' times, as ReplayOptions.TimeScale. The comparison is named
// after the first trace's scenario.
func CompareTraces(traces []TraceSample, policies []Variant, timeScale float64, opts CompareOptions) (*Comparison, error) {
	if len(traces) == 0 {
		return nil, errors.New("compare: no trace to replay")
	}
	samples := make([]string, len(traces))
	for i, t := range traces {
		samples[i] = t.Name
	}
	name := traces[0].Header.Scenario
	if name == "" {
		name = "replay"
	}
	return compareRuns(name, policies, samples, opts, func(v Variant, i int) (*Result, error) {
		return Replay(traces[i].Header, traces[i].Events, ReplayOptions{Options: Options{Policy: v.Policy, Override: v.Override, Check: opts.Check}, TimeScale: timeScale})
	})
}

// compareRuns runs every policy on every sample and compares them:
// CompareSeeds and CompareTraces differ only in what one run is.
func compareRuns(scenario string, policies []Variant, samples []string, opts CompareOptions, run func(v Variant, sample int) (*Result, error)) (*Comparison, error) {
	var jobs []Job
	for _, v := range policies {
		for i := range samples {
			jobs = append(jobs, func() (*Result, error) { return run(v, i) })
		}
	}
	var done func()
	if opts.Progress != nil {
		n := 0
		done = func() {
			n++
			opts.Progress(n, len(jobs))
		}
	}
	results, err := RunAll(jobs, opts.Parallel, done)
	if err != nil {
		return nil, err
	}
	specs := make([]string, len(policies))
	runs := make([][]*Result, len(policies))
	for i, v := range policies {
		specs[i] = v.Spec
		runs[i] = results[i*len(samples) : (i+1)*len(samples)]
	}
	return Compare(scenario, specs, samples, runs)
}
