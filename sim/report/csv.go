package report

import (
	"encoding/csv"
	"io"
	"strconv"

	"github.com/ocluster-go/ocluster/sim"
)

var statsHeader = []string{"jobs", "started", "finished", "failed", "cancelled", "unfinished",
	"wait_mean_s", "wait_p50_s", "wait_p90_s", "wait_p95_s", "wait_p99_s", "wait_max_s",
	"turnaround_mean_s", "turnaround_p50_s", "turnaround_p95_s", "slowdown_mean", "slowdown_p95",
	"cache_hit_rate", "hinted_starts"}

func f(x float64) string { return strconv.FormatFloat(x, 'g', -1, 64) }

func statsRow(s sim.Stats) []string {
	return []string{strconv.Itoa(s.Jobs), strconv.Itoa(s.Started), strconv.Itoa(s.Finished), strconv.Itoa(s.Failed),
		strconv.Itoa(s.Cancelled), strconv.Itoa(s.Unfinished),
		f(s.WaitMeanS), f(s.WaitP50S), f(s.WaitP90S), f(s.WaitP95S), f(s.WaitP99S), f(s.WaitMaxS),
		f(s.TurnaroundMeanS), f(s.TurnaroundP50S), f(s.TurnaroundP95S), f(s.SlowdownMean), f(s.SlowdownP95),
		f(s.CacheHitRate), strconv.Itoa(s.HintedStarts)}
}

// CSV writes a run's result as one row per scope (all jobs, each pool,
// each client) and priority (all, urgent, normal).
func CSV(w io.Writer, r *sim.Result) error {
	cw := csv.NewWriter(w)
	cw.Write(append([]string{"scenario", "policy", "seed", "scope", "pool", "client", "priority"}, statsHeader...))
	put := func(scope, pool, client string, all, urgent, normal sim.Stats) {
		for _, p := range []struct {
			name string
			s    sim.Stats
		}{{"all", all}, {"urgent", urgent}, {"normal", normal}} {
			cw.Write(append([]string{r.Scenario, r.Policy, strconv.FormatUint(r.Seed, 10), scope, pool, client, p.name}, statsRow(p.s)...))
		}
	}
	put("all", "", "", r.Stats, r.Urgent, r.Normal)
	for _, p := range r.Pools {
		put("pool", p.Pool, "", p.Stats, p.Urgent, p.Normal)
	}
	for _, c := range r.Clients {
		put("client", c.Pool, c.Client, c.Stats, c.Urgent, c.Normal)
	}
	cw.Flush()
	return cw.Error()
}

// ComparisonCSV writes one row per metric and policy, with the difference
// from the baseline on the rows of the other policies.
func ComparisonCSV(w io.Writer, c *sim.Comparison) error {
	cw := csv.NewWriter(w)
	cw.Write([]string{"scenario", "metric", "policy", "n", "mean", "ci_low", "ci_high", "baseline", "diff_mean", "diff_ci_low", "diff_ci_high", "relative", "verdict"})
	for _, m := range c.Metrics {
		for i, e := range m.Policies {
			row := []string{c.Scenario, m.Metric, c.Policies[i], strconv.Itoa(e.N), f(e.Mean), f(e.CILow), f(e.CIHigh)}
			if i == 0 {
				row = append(row, "", "", "", "", "", "")
			} else {
				d := m.Differences[i-1]
				row = append(row, d.Baseline, f(d.Diff.Mean), f(d.Diff.CILow), f(d.Diff.CIHigh), f(d.Relative), d.Verdict)
			}
			cw.Write(row)
		}
	}
	cw.Flush()
	return cw.Error()
}
