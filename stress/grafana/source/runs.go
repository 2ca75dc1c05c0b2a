package source

import (
	"fmt"
	"slices"
	"strings"

	"github.com/grafana/grafana-plugin-sdk-go/data"

	"github.com/ocluster-go/ocluster/stress/grafana/results"
)

// kindComparison lists comparisons in the runs query, beside the kinds of
// runs.
const kindComparison = "comparison"

// runsFrame lists the runs and comparisons, of the kind and policy when
// set.
func runsFrame(cat *results.Catalog, q Query) (data.Frames, error) {
	kinds := []string{results.KindResult, results.KindTrace, kindComparison}
	if q.Kind != "" && !slices.Contains(kinds, q.Kind) {
		return nil, fmt.Errorf("unknown kind %q: choose one of %s", q.Kind, strings.Join(kinds, ", "))
	}
	var name, kind, scenario, policy, sample, file []string
	row := func(n, k, sc, p, s, f string) {
		name, kind, scenario, policy, sample, file = append(name, n), append(kind, k), append(scenario, sc),
			append(policy, p), append(sample, s), append(file, f)
	}
	for _, r := range cat.Runs {
		if (q.Kind == "" || q.Kind == r.Kind) && (q.Policy == "" || q.Policy == r.Policy) {
			row(r.Name, r.Kind, r.Scenario, r.Policy, r.Sample, r.File)
		}
	}
	for _, c := range cat.Comparisons {
		if (q.Kind == "" || q.Kind == kindComparison) && (q.Policy == "" || slices.Contains(c.Policies, q.Policy)) {
			row(c.Name, kindComparison, c.Scenario, strings.Join(c.Policies, ","), strings.Join(c.Samples, ","), c.File)
		}
	}
	return data.Frames{data.NewFrame("runs",
		data.NewField("run", nil, name),
		data.NewField("kind", nil, kind),
		data.NewField("scenario", nil, scenario),
		data.NewField("policy", nil, policy),
		data.NewField("sample", nil, sample),
		data.NewField("file", nil, file),
	)}, nil
}

// statsFrame is one number of each run selected, one row per run.
func statsFrame(cat *results.Catalog, q Query) (data.Frames, error) {
	runs, err := selectRuns(cat, q, results.KindResult)
	if err != nil {
		return nil, err
	}
	var name, scenario, policy, sample []string
	var values []float64
	err = eachRun(runs, q.Run != "", func(r *results.Run) error {
		v, err := stat(r.Result, q)
		if err != nil {
			return err
		}
		name, scenario, policy, sample = append(name, r.Name), append(scenario, r.Scenario), append(policy, r.Policy), append(sample, r.Sample)
		values = append(values, v)
		return nil
	})
	if err != nil {
		return nil, err
	}
	value := data.NewField(q.Metric, nil, values)
	value.Config = &data.FieldConfig{Unit: unit(q.Metric)}
	return data.Frames{data.NewFrame(q.Metric,
		data.NewField("run", nil, name),
		data.NewField("scenario", nil, scenario),
		data.NewField("policy", nil, policy),
		data.NewField("sample", nil, sample),
		value,
	)}, nil
}

// stat is one number of a run, of one of its pools or clients.
func stat(r *results.Result, q Query) (float64, error) {
	scope := r.Scope
	if q.Pool != "" || q.Client != "" {
		g, err := r.Group(q.Pool, q.Client)
		if err != nil {
			return 0, err
		}
		scope = g.Scope
	}
	nums, err := scope.Of(q.Priority)
	if err != nil {
		return 0, err
	}
	return nums.Metric(q.Metric)
}
