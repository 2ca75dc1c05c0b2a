package sim

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// MetricNamed returns the metric of Metrics with that name.
func MetricNamed(name string) (Metric, bool) {
	i := slices.IndexFunc(Metrics, func(m Metric) bool { return m.Name == name })
	if i < 0 {
		return Metric{}, false
	}
	return Metrics[i], true
}

// Target is a bound on one metric's mean over seeds, such as a p95 wait
// under five minutes.
type Target struct {
	Metric string `json:"metric"` // a name of Metrics
	// Op is "<", "<=", ">" or ">=".
	Op string `json:"op"`
	// Value is in the metric's unit: seconds for a duration.
	Value float64 `json:"value"`
}

// ParseTarget reads METRIC<VALUE (or <=, >, >=), e.g. wait_p95<5m or
// jain>0.8. A duration metric may be named without its _s, as its value
// carries the unit (5m, 90s, 1h30m or seconds); a ratio may be written as
// a percentage (90%).
func ParseTarget(s string) (Target, error) {
	i := strings.IndexAny(s, "<>")
	if i <= 0 {
		return Target{}, fmt.Errorf("--target %q: want METRIC<VALUE or METRIC>VALUE, e.g. wait_p95<5m", s)
	}
	t := Target{Metric: strings.TrimSpace(s[:i]), Op: s[i : i+1]}
	value := s[i+1:]
	if rest, ok := strings.CutPrefix(value, "="); ok {
		t.Op, value = t.Op+"=", rest
	}
	m, ok := MetricNamed(t.Metric)
	if !ok {
		m, ok = MetricNamed(t.Metric + "_s")
	}
	if !ok {
		names := make([]string, len(Metrics))
		// A misspelt name is likelier written the short way, without _s.
		spellings := make([]string, 0, 2*len(Metrics))
		for k, m := range Metrics {
			names[k] = m.Name
			spellings = append(spellings, strings.TrimSuffix(m.Name, "_s"), m.Name)
		}
		guess := ""
		if near := nearest(t.Metric, spellings); near != "" {
			guess = fmt.Sprintf(": did you mean %q?", near)
		}
		return Target{}, fmt.Errorf("--target %q: unknown metric %q%s (known: %s; a duration's _s may be left off)", s, t.Metric, guess, strings.Join(names, ", "))
	}
	t.Metric = m.Name
	value = strings.TrimSpace(value)
	if m.Unit == "s" {
		d, err := ParseDuration(value)
		if err == nil && math.IsInf(d.Seconds(), 0) {
			err = fmt.Errorf("duration %q is too long", value)
		}
		if err != nil {
			return Target{}, fmt.Errorf("--target %q: %s is a duration: %w", s, m.Name, err)
		}
		t.Value = d.Seconds()
		return t, nil
	}
	number, percent := strings.CutSuffix(value, "%")
	x, err := strconv.ParseFloat(number, 64)
	if err != nil || math.IsNaN(x) || math.IsInf(x, 0) {
		return Target{}, fmt.Errorf("--target %q: %q is not a number (want e.g. %s>0.8 or %s>80%%)", s, value, m.Name, m.Name)
	}
	if percent {
		x /= 100
	}
	t.Value = x
	return t, nil
}

// Met says whether a mean meets the target.
func (t Target) Met(mean float64) bool {
	switch t.Op {
	case "<":
		return mean < t.Value
	case "<=":
		return mean <= t.Value
	case ">":
		return mean > t.Value
	}
	return mean >= t.Value
}

// room is how far a mean is inside the target, relative to the target's
// value (absolute when that is 0): negative when it misses, so that
// targets on different scales can be ranked by how near they came.
func (t Target) room(mean float64) float64 {
	r := t.Value - mean
	if t.Op == ">" || t.Op == ">=" {
		r = -r
	}
	if t.Value != 0 {
		r /= math.Abs(t.Value)
	}
	return r
}

// VaryChoices names what a plan may vary, for help and error messages.
const VaryChoices = "workers, capacity, POOL.WORKER.count, POOL.WORKER.capacity or pools[P].workers[W].count"

// varyPaths are the scenario paths a plan gives its size to:
//
//   - workers: every worker spec's count, in every pool;
//   - capacity: every worker spec's capacity;
//   - POOL.WORKER.count or .capacity, or the same as a sweep path
//     (pools[POOL].workers[WORKER].count): that one spec's.
func varyPaths(sc *Scenario, vary string) ([]string, error) {
	if vary == "workers" || vary == "capacity" {
		field := map[string]string{"workers": "count", "capacity": "capacity"}[vary]
		var paths []string
		for i, p := range sc.Pools {
			for j := range p.Workers {
				paths = append(paths, fmt.Sprintf("pools[%d].workers[%d].%s", i, j, field))
			}
		}
		return paths, nil
	}
	parts := splitPath(vary)
	if len(parts) == 3 && parts[0] != "pools" {
		parts = []string{"pools", parts[0], "workers", parts[1], parts[2]}
	}
	if len(parts) != 5 || parts[0] != "pools" || parts[2] != "workers" || (parts[4] != "count" && parts[4] != "capacity") {
		return nil, fmt.Errorf("--vary %q: want %s", vary, VaryChoices)
	}
	return []string{fmt.Sprintf("pools[%s].workers[%s].%s", parts[1], parts[3], parts[4])}, nil
}

// PlanOptions tune a plan's search.
type PlanOptions struct {
	Policy Variant
	Seeds  []uint64
	// Max is the largest size tried.
	Max int
	// Parallel is the number of runs at once; 0 means GOMAXPROCS.
	Parallel int
	// Progress, when set, is called after each run with the size being
	// tried, the runs done at that size and their total.
	Progress func(size, done, total int)
}

// FleetSize is the scenario at one size, run on every seed.
type FleetSize struct {
	Size int `json:"size"`
	// Workers and Slots are the fleet's workers and their capacity.
	Workers int  `json:"workers"`
	Slots   int  `json:"slots"`
	Met     bool `json:"met"`
	// Metrics are every metric's mean with its 95% interval.
	Metrics map[string]Estimate `json:"metrics"`
}

// FleetPlan is the smallest size of a fleet that meets every target, and
// the sizes tried on the way.
type FleetPlan struct {
	Scenario string   `json:"scenario"`
	Policy   string   `json:"policy"`
	Vary     string   `json:"vary"`
	Paths    []string `json:"paths"` // the settings each size is given to
	Targets  []Target `json:"targets"`
	Seeds    []uint64 `json:"seeds"`
	Max      int      `json:"max"`
	// Answer is the smallest size that meets every target; 0 when none
	// up to Max does.
	Answer int `json:"answer"`
	// Deciding is the target that was hardest to meet: the one missed by
	// the widest margin at Answer-1, or with the least room at Answer
	// when that is 1; with no answer, the one missed by the widest margin
	// at Max.
	Deciding Target `json:"deciding"`
	// AtAnswer and BelowAnswer are the deciding metric at Answer and at
	// Answer-1 (absent when there is no such size).
	AtAnswer    *Estimate `json:"at_answer,omitempty"`
	BelowAnswer *Estimate `json:"below_answer,omitempty"`
	// Sizes are every size tried, smallest first.
	Sizes []FleetSize `json:"sizes"`
}

// Size returns the size n if it was tried.
func (p *FleetPlan) Size(n int) (FleetSize, bool) {
	i := slices.IndexFunc(p.Sizes, func(s FleetSize) bool { return s.Size == n })
	if i < 0 {
		return FleetSize{}, false
	}
	return p.Sizes[i], true
}

// Plan finds the smallest size of the fleet that meets every target: the
// scenario (its name and YAML source, as a sweep takes them) is run with
// each of the paths vary names set to the size, as a sweep's --set does,
// on every seed, and a size meets a target when the metric's mean over
// the seeds does. Sizes 1, 2, 4, ... are tried up to opts.Max until one
// meets every target, then the sizes between it and the last that missed
// are bisected. The search assumes that a target met at one size stays
// met at every larger one, as waits, turnaround and makespan do; it is not
// the smallest for a target that a bigger fleet can miss (utilisation>X).
func Plan(name string, source []byte, vary string, targets []Target, opts PlanOptions) (*FleetPlan, error) {
	if len(targets) == 0 {
		return nil, fmt.Errorf("plan: no target to meet (give e.g. --target wait_p95<5m)")
	}
	if len(opts.Seeds) == 0 || opts.Max < 1 {
		return nil, fmt.Errorf("plan: want at least one seed and a largest size of 1 or more")
	}
	for _, t := range targets {
		if _, ok := MetricNamed(t.Metric); !ok || !slices.Contains([]string{"<", "<=", ">", ">="}, t.Op) {
			return nil, fmt.Errorf("plan: target %+v: want a metric of Metrics and an op of <, <=, >, >= (ParseTarget reads them)", t)
		}
	}
	base, err := LoadScenario(name, source)
	if err != nil {
		return nil, err
	}
	paths, err := varyPaths(base, vary)
	if err != nil {
		return nil, err
	}
	p := &FleetPlan{Scenario: base.Name, Policy: opts.Policy.Spec, Vary: vary, Paths: paths, Targets: targets, Seeds: opts.Seeds, Max: opts.Max}
	meets := func(n int) (bool, error) {
		settings := make([]Setting, len(paths))
		for i, path := range paths {
			settings[i] = Setting{path, strconv.Itoa(n)}
		}
		sc, err := Apply(name, source, settings)
		if err != nil {
			return false, fmt.Errorf("size %d: %w", n, err)
		}
		copts := CompareOptions{Parallel: opts.Parallel}
		if opts.Progress != nil {
			copts.Progress = func(done, total int) { opts.Progress(n, done, total) }
		}
		c, err := CompareSeeds(sc, []Variant{opts.Policy}, opts.Seeds, copts)
		if err != nil {
			return false, fmt.Errorf("size %d: %w", n, err)
		}
		s := FleetSize{Size: n, Met: true, Metrics: map[string]Estimate{}}
		for _, m := range c.Metrics {
			s.Metrics[m.Metric] = m.Policies[0]
		}
		for _, pool := range sc.Pools {
			for _, w := range pool.Workers {
				s.Workers += w.Count
				s.Slots += w.Count * w.Capacity
			}
		}
		for _, t := range targets {
			s.Met = s.Met && t.Met(s.Metrics[t.Metric].Mean)
		}
		p.Sizes = append(p.Sizes, s)
		return s.Met, nil
	}
	if p.Answer, err = smallest(opts.Max, meets); err != nil {
		return nil, err
	}
	slices.SortFunc(p.Sizes, func(a, b FleetSize) int { return a.Size - b.Size })
	p.decide()
	return p, nil
}

// decide picks the deciding target and its estimates.
func (p *FleetPlan) decide() {
	// hardest is the target with the least room at size n.
	hardest := func(n int) (Target, *Estimate) {
		s, _ := p.Size(n)
		best := 0
		for i, t := range p.Targets {
			if t.room(s.Metrics[t.Metric].Mean) < p.Targets[best].room(s.Metrics[p.Targets[best].Metric].Mean) {
				best = i
			}
		}
		e := s.Metrics[p.Targets[best].Metric]
		return p.Targets[best], &e
	}
	switch {
	case p.Answer == 0:
		p.Deciding, _ = hardest(p.Sizes[len(p.Sizes)-1].Size)
	case p.Answer == 1:
		p.Deciding, p.AtAnswer = hardest(1)
	default:
		p.Deciding, p.BelowAnswer = hardest(p.Answer - 1)
		s, _ := p.Size(p.Answer)
		e := s.Metrics[p.Deciding.Metric]
		p.AtAnswer = &e
	}
}

// smallest returns the smallest n in 1..largest for which meets holds, or 0
// when none does, assuming that once it holds it holds for every larger n:
// it tries 1, 2, 4, ... (and largest) until one meets, then bisects between
// that and the last that missed, so it calls meets O(log max) times and
// always on the answer's predecessor.
func smallest(largest int, meets func(n int) (bool, error)) (int, error) {
	missed, met := 0, 0 // the largest size known to miss, the smallest known to meet
	for n := 1; met == 0; n = min(2*n, largest) {
		ok, err := meets(n)
		switch {
		case err != nil:
			return 0, err
		case ok:
			met = n
		case n == largest:
			return 0, nil
		default:
			missed = n
		}
	}
	for met-missed > 1 {
		mid := missed + (met-missed)/2
		ok, err := meets(mid)
		if err != nil {
			return 0, err
		}
		if ok {
			met = mid
		} else {
			missed = mid
		}
	}
	return met, nil
}
