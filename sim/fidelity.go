package sim

import (
	"fmt"
	"math"
)

// Fidelity puts the simulator's predictions of a scenario under a policy
// beside what a live cluster did with the same jobs, seed by seed: does
// what the simulator says hold?
type Fidelity struct {
	Scenario string           `json:"scenario"`
	Policy   string           `json:"policy"`
	Speed    float64          `json:"speed"`
	Seeds    []uint64         `json:"seeds"`
	Metrics  []FidelityMetric `json:"metrics"`
	// Simulated and Live hold the runs, seed by seed.
	Simulated []*Result `json:"simulated"`
	Live      []*Result `json:"live"`
}

// FidelityMetric is one metric predicted and observed.
type FidelityMetric struct {
	Metric    string   `json:"metric"`
	Unit      string   `json:"unit,omitempty"`
	Simulated Estimate `json:"simulated"`
	Live      Estimate `json:"live"`
	// Diff is live - simulated, seed by seed.
	Diff Estimate `json:"diff"`
	// Relative is Diff.Mean over the simulated mean (0 when that is 0).
	Relative float64 `json:"relative"`
	// Target says how close the live mean must be, and Met whether it is.
	Target string `json:"target,omitempty"`
	Met    *bool  `json:"met,omitempty"`
}

// fidelityTarget is how close a metric's live mean must come to the
// simulated one.
type fidelityTarget struct {
	metric string
	// relative and absolute bound |live - simulated| (over the
	// simulated mean for relative); interval asks instead that the
	// seed-by-seed difference's interval hold 0.
	relative, absolute float64
	interval           bool
}

func (t fidelityTarget) String() string {
	switch {
	case t.interval:
		return "0 in interval"
	case t.relative > 0:
		return fmt.Sprintf("±%g%%", 100*t.relative)
	case t.metric == "cache_hit_rate" || t.metric == "utilisation":
		return fmt.Sprintf("±%g pt", 100*t.absolute)
	}
	return fmt.Sprintf("±%g", t.absolute)
}

func (t fidelityTarget) met(m FidelityMetric) bool {
	switch {
	case t.interval:
		return m.Diff.CILow <= 0 && m.Diff.CIHigh >= 0
	case t.relative > 0:
		return math.Abs(m.Diff.Mean) <= t.relative*math.Abs(m.Simulated.Mean)
	}
	return math.Abs(m.Diff.Mean) <= t.absolute
}

// fidelityTargets are the bounds within which the simulator's
// predictions are taken to hold.
var fidelityTargets = []fidelityTarget{
	{metric: "wait_mean_s", relative: 0.10},
	{metric: "wait_p95_s", relative: 0.10},
	{metric: "wait_p99_s", relative: 0.10},
	{metric: "turnaround_mean_s", relative: 0.10},
	{metric: "cache_hit_rate", absolute: 0.01},
	{metric: "utilisation", absolute: 0.02},
	{metric: "jain", absolute: 0.03},
	{metric: "failed", interval: true},
	{metric: "retried", interval: true},
}

// CompareFidelity measures how well the simulated runs predicted the live
// ones: simulated[i] and live[i] are the same seed.
func CompareFidelity(scenario, policy string, speed float64, seeds []uint64, simulated, live []*Result) (*Fidelity, error) {
	if len(simulated) != len(seeds) || len(live) != len(seeds) {
		return nil, fmt.Errorf("fidelity of %s: %d seeds, %d simulated and %d live runs", scenario, len(seeds), len(simulated), len(live))
	}
	f := &Fidelity{Scenario: scenario, Policy: policy, Speed: speed, Seeds: seeds, Simulated: simulated, Live: live}
	for _, m := range Metrics {
		var s, l, d []float64
		for i := range seeds {
			x, y := m.Of(simulated[i]), m.Of(live[i])
			s, l, d = append(s, x), append(l, y), append(d, y-x)
		}
		fm := FidelityMetric{Metric: m.Name, Unit: m.Unit, Simulated: estimate(s), Live: estimate(l), Diff: estimate(d)}
		if fm.Simulated.Mean != 0 {
			fm.Relative = fm.Diff.Mean / math.Abs(fm.Simulated.Mean)
		}
		for _, t := range fidelityTargets {
			if t.metric == m.Name {
				met := t.met(fm)
				fm.Target, fm.Met = t.String(), &met
			}
		}
		f.Metrics = append(f.Metrics, fm)
	}
	return f, nil
}

// Missed lists the metrics whose target the live runs missed.
func (f *Fidelity) Missed() []string {
	var out []string
	for _, m := range f.Metrics {
		if m.Met != nil && !*m.Met {
			out = append(out, m.Metric)
		}
	}
	return out
}
