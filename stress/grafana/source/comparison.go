package source

import (
	"fmt"
	"slices"

	"github.com/grafana/grafana-plugin-sdk-go/data"

	"github.com/ocluster-go/ocluster/stress/grafana/results"
)

// comparisonFrame is a comparison as one row per metric and policy: the
// policy's mean with its 95% interval, and its difference from the
// baseline (null on the baseline's rows).
func comparisonFrame(cat *results.Catalog, q Query) (data.Frames, error) {
	c, err := cat.Comparison(q.Run)
	if err != nil {
		return nil, err
	}
	if q.Policy != "" && !slices.Contains(c.Policies, q.Policy) {
		return nil, fmt.Errorf("comparison %s has no policy %q; it has %s", c.Name, q.Policy, results.List(c.Policies))
	}
	var metrics []string
	for _, m := range c.Metrics {
		metrics = append(metrics, m.Metric)
	}
	if q.Metric != "" && !slices.Contains(metrics, q.Metric) {
		return nil, fmt.Errorf("comparison %s has no metric %q; it has %s", c.Name, q.Metric, results.List(metrics))
	}
	var (
		metric, policy, baseline, verdict []string
		lower                             []bool
		n                                 []int64
		mean, ciLow, ciHigh               []float64
		diff, diffLow, diffHigh, relative []*float64
	)
	for _, m := range c.Metrics {
		if q.Metric != "" && m.Metric != q.Metric {
			continue
		}
		for i, p := range c.Policies {
			if q.Policy != "" && p != q.Policy {
				continue
			}
			e := m.Policies[i]
			metric, policy, lower = append(metric, m.Metric), append(policy, p), append(lower, m.LowerBetter)
			n, mean, ciLow, ciHigh = append(n, int64(e.N)), append(mean, e.Mean), append(ciLow, e.CILow), append(ciHigh, e.CIHigh)
			if i == 0 {
				baseline, verdict = append(baseline, ""), append(verdict, "")
				diff, diffLow, diffHigh, relative = append(diff, nil), append(diffLow, nil), append(diffHigh, nil), append(relative, nil)
				continue
			}
			d := m.Differences[i-1]
			baseline, verdict = append(baseline, d.Baseline), append(verdict, d.Verdict)
			diff, diffLow, diffHigh = append(diff, &d.Diff.Mean), append(diffLow, &d.Diff.CILow), append(diffHigh, &d.Diff.CIHigh)
			relative = append(relative, &d.Relative)
		}
	}
	// One metric has one unit; over several the values' units differ.
	u := ""
	if q.Metric != "" {
		u = unit(q.Metric)
	}
	withUnit := func(f *data.Field, unit string) *data.Field {
		f.Config = &data.FieldConfig{Unit: unit}
		return f
	}
	return data.Frames{data.NewFrame(c.Name,
		data.NewField("metric", nil, metric),
		data.NewField("policy", nil, policy),
		data.NewField("lower_is_better", nil, lower),
		data.NewField("n", nil, n),
		withUnit(data.NewField("mean", nil, mean), u),
		withUnit(data.NewField("ci_low", nil, ciLow), u),
		withUnit(data.NewField("ci_high", nil, ciHigh), u),
		data.NewField("baseline", nil, baseline),
		withUnit(data.NewField("diff_mean", nil, diff), u),
		withUnit(data.NewField("diff_ci_low", nil, diffLow), u),
		withUnit(data.NewField("diff_ci_high", nil, diffHigh), u),
		withUnit(data.NewField("relative", nil, relative), "percentunit"),
		data.NewField("verdict", nil, verdict),
	)}, nil
}
