package report

import (
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/ocluster-go/ocluster/sim"
)

// Seconds prints a duration for a person: 12.3s, 4m05s, 2h01m, 131h.
func Seconds(s float64) string {
	switch {
	case math.IsNaN(s) || math.IsInf(s, 0):
		return "-"
	case s < 0:
		return "-" + Seconds(-s)
	case s < 10:
		return strconv.FormatFloat(s, 'f', 2, 64) + "s"
	case s < 60:
		return strconv.FormatFloat(s, 'f', 1, 64) + "s"
	case s < 3600:
		m := int(s) / 60
		return fmt.Sprintf("%dm%02ds", m, int(s)-60*m)
	case s < 100*3600:
		h := int(s) / 3600
		return fmt.Sprintf("%dh%02dm", h, (int(s)-3600*h)/60)
	}
	return fmt.Sprintf("%.0fh", s/3600)
}

func percent(x float64) string { return strconv.FormatFloat(100*x, 'f', 1, 64) + "%" }

func count(n int) string {
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// Text writes a run's result as tables.
func Text(w io.Writer, r *sim.Result) error {
	fmt.Fprintf(w, "%s · policy %s · seed %d\n", r.Scenario, r.Policy, r.Seed)
	fmt.Fprintf(w, "simulated %s: %s jobs, %s events\n\n", Seconds(r.SimulatedS), count(r.Jobs), count(int(r.Events)))
	// Names are padded to one width so that, right-aligned, they read
	// left-aligned while the numbers line up on the right.
	width := len("  urgent")
	for _, c := range r.Clients {
		width = max(width, len(c.Pool)+1+len(c.Client), len("pool ")+len(c.Pool))
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "%-*s\tjobs\tfailed\tcancelled\twait p50\tp95\tp99\tmax\tturnaround\thit rate\t\n", width, "")
	row := func(name string, s sim.Stats) {
		if s.Jobs == 0 {
			return
		}
		fmt.Fprintf(tw, "%-*s\t%s\t%d\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t\n", width, name, count(s.Jobs), s.Failed, s.Cancelled,
			Seconds(s.WaitP50S), Seconds(s.WaitP95S), Seconds(s.WaitP99S), Seconds(s.WaitMaxS),
			Seconds(s.TurnaroundMeanS), percent(s.CacheHitRate))
	}
	group := func(name string, s, urgent, normal sim.Stats) {
		row(name, s)
		if urgent.Jobs > 0 && normal.Jobs > 0 {
			row("  urgent", urgent)
			row("  normal", normal)
		}
	}
	group("all", r.Stats, r.Urgent, r.Normal)
	pools := len(r.Pools) > 1
	for _, p := range r.Pools {
		if pools {
			group("pool "+p.Pool, p.Stats, p.Urgent, p.Normal)
		}
		for _, c := range r.Clients {
			if c.Pool == p.Pool {
				name := c.Client
				if pools {
					name = p.Pool + "/" + c.Client
				}
				group(name, c.Stats, c.Urgent, c.Normal)
			}
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "\nutilisation %s · makespan %s · Jain's fairness %.3f over %d contended windows · worker imbalance %.2f\n",
		percent(r.Utilisation), Seconds(r.MakespanS), r.Jain, r.JainWindows, r.Imbalance)
	return err
}

// isPercent says whether a metric is a share shown as a percentage.
func isPercent(m sim.MetricComparison) bool {
	return strings.Contains(m.Metric, "rate") || m.Metric == "utilisation"
}

func metricValue(m sim.MetricComparison, x float64) string {
	switch {
	case m.Unit == "s":
		return Seconds(x)
	case isPercent(m):
		return percent(x)
	case m.Metric == "failed" || m.Metric == "retried" || m.Metric == "unfinished":
		return strconv.FormatFloat(x, 'f', 1, 64)
	}
	return strconv.FormatFloat(x, 'f', 3, 64)
}

// WithCI prints an estimate as its mean ± half its 95% interval, in the
// metric's unit.
func WithCI(m sim.MetricComparison, e sim.Estimate) string {
	if e.N < 2 {
		return metricValue(m, e.Mean)
	}
	half := (e.CIHigh - e.CILow) / 2
	if m.Unit == "s" {
		return metricValue(m, e.Mean) + " ± " + Seconds(half)
	}
	return metricValue(m, e.Mean) + " ± " + strings.TrimSuffix(metricValue(m, half), "%")
}

// diffValue prints a difference of two values of a metric, signed. The
// difference of two percentages is in percentage points: 90% against 80%
// is +10.0 pts, where "+10%" would read as 88%.
func diffValue(m sim.MetricComparison, x float64) string {
	var s string
	if isPercent(m) {
		s = strconv.FormatFloat(100*x, 'f', 1, 64) + " pts"
	} else {
		s = metricValue(m, x)
	}
	switch {
	case noDigit(s):
		return strings.TrimPrefix(s, "-") // no sign on what shows as 0
	case !strings.HasPrefix(s, "-"):
		return "+" + s
	}
	return s
}

// diffWithCI prints a difference as its signed mean ± half its 95%
// interval.
func diffWithCI(m sim.MetricComparison, e sim.Estimate) string {
	mean := diffValue(m, e.Mean)
	if e.N < 2 {
		return mean
	}
	half := (e.CIHigh - e.CILow) / 2
	switch {
	case m.Unit == "s":
		return mean + " ± " + Seconds(half)
	case isPercent(m):
		return mean + " ± " + strconv.FormatFloat(100*half, 'f', 1, 64)
	}
	return mean + " ± " + metricValue(m, half)
}

// relative prints a difference's share of the baseline: whole percents,
// one decimal under 1%, and ≈0% for what rounds to nothing at that.
func relative(r float64) (text string, zero bool) {
	p := 100 * r
	switch {
	case math.Abs(p) >= 0.95:
		return fmt.Sprintf("%+.0f%%", p), false
	case math.Abs(p) >= 0.05:
		return fmt.Sprintf("%+.1f%%", p), false
	}
	return "≈0%", true
}

// noDigit says whether a printed number shows no digit but 0.
func noDigit(s string) bool {
	return !strings.ContainsFunc(s, func(r rune) bool { return r >= '1' && r <= '9' })
}

// difference prints a policy's difference from the baseline on one
// metric: its mean ± half its 95% interval, its share of the baseline's
// mean, and the verdict, which it also returns. The verdict is left out
// where the difference rounds to 0 as printed: a long run can put a 0.08 s
// change on 8 hours outside its interval, and "(+0%) worse" reads as a
// contradiction and points at nothing worth a change.
func difference(m sim.MetricComparison, d sim.Difference) (text, verdict string) {
	text = diffWithCI(m, d.Diff)
	negligible := noDigit(diffValue(m, d.Diff.Mean))
	if d.Relative != 0 {
		rel, zero := relative(d.Relative)
		text += " (" + rel + ")"
		negligible = negligible || zero
	}
	if d.Verdict != "" && !negligible {
		verdict = d.Verdict
		text += " " + verdict
	}
	return text, verdict
}

func metricLabel(m sim.MetricComparison) string {
	return strings.ReplaceAll(strings.TrimSuffix(m.Metric, "_s"), "_", " ")
}

// ComparisonText writes a comparison of policies as one table per policy
// against the baseline: both means with their 95% intervals and the
// difference, seed by seed, with a verdict where its interval excludes
// zero. All the policies side by side in one table made it 219 columns
// wide for six policies; a pair fits in 100. ComparisonLegend explains
// the columns.
func ComparisonText(w io.Writer, c *sim.Comparison) error {
	fmt.Fprintf(w, "%s · %d samples · baseline %s · means with 95%% intervals\n", c.Scenario, len(c.Samples), c.Policies[0])
	table := func(header []string, row func(m sim.MetricComparison) []string) error {
		fmt.Fprintln(w)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		// The last cell ends the line rather than a tab: no trailing spaces.
		fmt.Fprintln(tw, strings.Join(header, "\t"))
		for _, m := range c.Metrics {
			fmt.Fprintln(tw, strings.Join(append([]string{metricLabel(m)}, row(m)...), "\t"))
		}
		return tw.Flush()
	}
	base := c.Policies[0]
	if len(c.Policies) == 1 {
		return table([]string{"metric", base}, func(m sim.MetricComparison) []string {
			return []string{WithCI(m, m.Policies[0])}
		})
	}
	for i, p := range c.Policies[1:] {
		diff := p + " - " + base
		if len(diff) > len("-3m38s ± 50.7s (-63%) better") {
			diff = "difference" // long variants' names would widen the table
		}
		err := table([]string{"metric", base, p, diff}, func(m sim.MetricComparison) []string {
			diff, _ := difference(m, m.Differences[i])
			return []string{WithCI(m, m.Policies[0]), WithCI(m, m.Policies[i+1]), diff}
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// ComparisonLegend explains what ComparisonText's tables show, once
// however many comparisons precede it.
func ComparisonLegend(w io.Writer) error {
	_, err := io.WriteString(w, `
wait            from submission to start; turnaround: from submission to success
slowdown        turnaround over max(run time, 10s): 1 when a job never waits
utilisation     share of the workers' connected capacity that was busy
cache hit rate  share of the jobs with a hint that started where it was cached
jain            Jain's fairness index of what clients received against their rates, while
                two or more competed: 1 = as entitled, 1/n = one client took everything
imbalance       spread of the workers' utilisations (standard deviation over mean): 0 = even
retried         jobs sent back to the queue after losing their worker (neither good nor bad)
unfinished      jobs still queued or running when the run ended
difference      policy - baseline, sample by sample, ± its 95% interval (pts: percentage
                points), with its share of the baseline's mean; better or worse only where
                the interval excludes 0 and the difference does not round to 0
`)
	return err
}
