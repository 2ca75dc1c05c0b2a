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

func metricValue(m sim.MetricComparison, x float64) string {
	switch {
	case m.Unit == "s":
		return Seconds(x)
	case strings.Contains(m.Metric, "rate") || m.Metric == "utilisation":
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

// ComparisonText writes a comparison of policies as a table: each
// policy's mean with its 95% interval, and each policy's difference from
// the baseline with a verdict where the interval excludes zero.
func ComparisonText(w io.Writer, c *sim.Comparison) error {
	fmt.Fprintf(w, "%s · %d samples · baseline %s · means with 95%% intervals\n\n", c.Scenario, len(c.Samples), c.Policies[0])
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	header := []string{"metric"}
	header = append(header, c.Policies...)
	for _, p := range c.Policies[1:] {
		header = append(header, p+" - "+c.Policies[0])
	}
	fmt.Fprintln(tw, strings.Join(header, "\t")+"\t")
	for _, m := range c.Metrics {
		cells := []string{strings.ReplaceAll(strings.TrimSuffix(m.Metric, "_s"), "_", " ")}
		for _, e := range m.Policies {
			cells = append(cells, WithCI(m, e))
		}
		for _, d := range m.Differences {
			cell := WithCI(m, d.Diff)
			if d.Relative != 0 {
				cell += fmt.Sprintf(" (%+.0f%%)", 100*d.Relative)
			}
			if d.Verdict != "" {
				cell += " " + d.Verdict
			}
			cells = append(cells, cell)
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t")+"\t")
	}
	return tw.Flush()
}
