package results

import (
	"encoding/json"
	"fmt"
)

// Comparison is a comparison.json: several policies run on the same
// samples (seeds of a scenario, or traces).
type Comparison struct {
	// Name and File are where the catalogue found it.
	Name string `json:"-"`
	File string `json:"-"`

	Scenario string             `json:"scenario"`
	Policies []string           `json:"policies"`
	Samples  []string           `json:"samples"`
	Metrics  []MetricComparison `json:"metrics"`
	// Runs holds every run: Runs[policy][sample].
	Runs [][]*Result `json:"runs"`
}

// MetricComparison is one metric across the policies.
type MetricComparison struct {
	Metric      string     `json:"metric"`
	Unit        string     `json:"unit"`
	LowerBetter bool       `json:"lower_is_better"`
	Policies    []Estimate `json:"policies"`
	// Differences are each policy but the first (the baseline) minus the
	// baseline, seed by seed.
	Differences []Difference `json:"differences"`
}

// Estimate is a mean with its 95% confidence interval.
type Estimate struct {
	Mean   float64 `json:"mean"`
	CILow  float64 `json:"ci_low"`
	CIHigh float64 `json:"ci_high"`
	N      int     `json:"n"`
}

// Difference is a policy against the baseline on one metric.
type Difference struct {
	Policy   string   `json:"policy"`
	Baseline string   `json:"baseline"`
	Diff     Estimate `json:"diff"`
	Relative float64  `json:"relative"`
	// Verdict is "better", "worse", or empty when the interval holds 0.
	Verdict string `json:"verdict"`
}

// readComparison decodes a comparison and checks that its parts line up,
// so that queries can index them without checking again.
func readComparison(b []byte) (*Comparison, error) {
	var c Comparison
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, err
	}
	if len(c.Policies) == 0 {
		return nil, fmt.Errorf("the comparison names no policy")
	}
	if len(c.Runs) != len(c.Policies) {
		return nil, fmt.Errorf("%d sets of runs for %d policies", len(c.Runs), len(c.Policies))
	}
	for i, runs := range c.Runs {
		if len(runs) != len(c.Samples) {
			return nil, fmt.Errorf("policy %s has %d runs for %d samples", c.Policies[i], len(runs), len(c.Samples))
		}
		for j, r := range runs {
			if r == nil {
				return nil, fmt.Errorf("policy %s has no run for sample %s", c.Policies[i], c.Samples[j])
			}
		}
	}
	for _, m := range c.Metrics {
		if len(m.Policies) != len(c.Policies) || len(m.Differences) != len(c.Policies)-1 {
			return nil, fmt.Errorf("metric %s has %d estimates and %d differences for %d policies",
				m.Metric, len(m.Policies), len(m.Differences), len(c.Policies))
		}
	}
	return &c, nil
}
