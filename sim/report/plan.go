package report

import (
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"

	"github.com/ocluster-go/ocluster/sim"
)

// WritePlan writes a fleet plan's report into dir, creating it if needed:
// plan.html, with a plot of each target's metric against the size, and
// plan.json.
func WritePlan(dir string, p *sim.FleetPlan) error {
	return writeFiles(dir,
		output{"plan.html", func(w io.Writer) error { return PlanHTML(w, p) }},
		output{"plan.json", jsonOf(p)})
}

// metricOf describes a metric as the formatters of this package take
// it.
func metricOf(name string) sim.MetricComparison {
	m, _ := sim.MetricNamed(name)
	return sim.MetricComparison{Metric: m.Name, Unit: m.Unit, LowerBetter: m.Lower}
}

// TargetText prints a target for a person: "wait p95 < 5m00s".
func TargetText(t sim.Target) string {
	m := metricOf(t.Metric)
	return metricLabel(m) + " " + t.Op + " " + metricValue(m, t.Value)
}

// planMetrics are the metrics the targets name, each once, in order.
func planMetrics(p *sim.FleetPlan) []string {
	var names []string
	for _, t := range p.Targets {
		if !slices.Contains(names, t.Metric) {
			names = append(names, t.Metric)
		}
	}
	return names
}

func metOrMissed(met bool) string {
	if met {
		return "met"
	}
	return "missed"
}

// planHeadline says what a plan found: the answer and the deciding
// target's estimates at it and at the size below, or that no size up to
// the largest tried meets every target.
func planHeadline(p *sim.FleetPlan) []string {
	d := p.Deciding
	m := metricOf(d.Metric)
	if p.Answer == 0 {
		last := p.Sizes[len(p.Sizes)-1]
		return []string{
			fmt.Sprintf("no size up to %d meets every target", p.Max),
			fmt.Sprintf("hardest: %s, at %d (%s): %s, missed", TargetText(d), last.Size, fleetText(last), withInterval(m, last.Metrics[d.Metric])),
		}
	}
	at, _ := p.Size(p.Answer)
	lines := []string{
		fmt.Sprintf("answer: %d (%s)", p.Answer, fleetText(at)),
		"deciding: " + TargetText(d),
		fmt.Sprintf("  at %d: %s, %s", p.Answer, withInterval(m, *p.AtAnswer), metOrMissed(d.Met(p.AtAnswer.Mean))),
	}
	if p.BelowAnswer != nil {
		lines = append(lines, fmt.Sprintf("  at %d: %s, %s", p.Answer-1, withInterval(m, *p.BelowAnswer), metOrMissed(d.Met(p.BelowAnswer.Mean))))
	}
	return lines
}

// withInterval prints an estimate with its interval's bounds, which say
// how sure the verdict is.
func withInterval(m sim.MetricComparison, e sim.Estimate) string {
	if e.N < 2 {
		return metricValue(m, e.Mean)
	}
	return fmt.Sprintf("%s [%s, %s]", WithCI(m, e), metricValue(m, e.CILow), metricValue(m, e.CIHigh))
}

func fleetText(s sim.FleetSize) string {
	return fmt.Sprintf("%s workers, %s slots", count(s.Workers), count(s.Slots))
}

// planTable has a row per size tried, with each target's metric.
func planTable(p *sim.FleetPlan) table {
	t := table{Header: []string{"size", "workers", "slots"}}
	names := planMetrics(p)
	for _, name := range names {
		t.Header = append(t.Header, metricLabel(metricOf(name)))
	}
	t.Header = append(t.Header, "targets")
	for _, s := range p.Sizes {
		row := []cell{{strconv.Itoa(s.Size), ""}, {count(s.Workers), ""}, {count(s.Slots), ""}}
		for _, name := range names {
			row = append(row, cell{WithCI(metricOf(name), s.Metrics[name]), ""})
		}
		class := "worse"
		if s.Met {
			class = "better"
		}
		row = append(row, cell{metOrMissed(s.Met), class})
		t.Rows = append(t.Rows, row)
	}
	return t
}

func planTitle(p *sim.FleetPlan) string {
	return fmt.Sprintf("%s · policy %s · vary %s · %d seeds", p.Scenario, p.Policy, p.Vary, len(p.Seeds))
}

func targetList(p *sim.FleetPlan) string {
	var ts []string
	for _, t := range p.Targets {
		ts = append(ts, TargetText(t))
	}
	return strings.Join(ts, ", ")
}

// PlanText writes a fleet plan as text: what it found, then every size
// tried.
func PlanText(w io.Writer, p *sim.FleetPlan) error {
	fmt.Fprintln(w, planTitle(p))
	fmt.Fprintf(w, "targets: %s (met when the mean over the seeds is; ± is its 95%% interval)\n\n", targetList(p))
	for _, l := range planHeadline(p) {
		fmt.Fprintln(w, l)
	}
	fmt.Fprintln(w)
	t := planTable(p)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, strings.Join(t.Header, "\t")+"\t")
	for _, row := range t.Rows {
		var cells []string
		for _, c := range row {
			cells = append(cells, c.Text)
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t")+"\t")
	}
	return tw.Flush()
}

// PlanHTML writes a fleet plan as a self-contained web page: what it
// found, the sizes tried, and each target's metric against the size.
func PlanHTML(w io.Writer, p *sim.FleetPlan) error {
	if len(p.Sizes) == 0 {
		return fmt.Errorf("plan of %s tried no size", p.Scenario)
	}
	var figs []figure
	for _, name := range planMetrics(p) {
		f, err := planFigure(p, name)
		if err != nil {
			return err
		}
		figs = append(figs, f)
	}
	facts := []fact{{"targets", targetList(p)}, {"seeds", strconv.Itoa(len(p.Seeds))}, {"paths", strings.Join(p.Paths, ", ")}}
	if p.Answer > 0 {
		facts = append([]fact{{"answer", strconv.Itoa(p.Answer)}}, facts...)
	}
	return pages.ExecuteTemplate(w, "plan", page{
		Title:   planTitle(p),
		Facts:   facts,
		Summary: planHeadline(p),
		Table:   planTable(p),
		Figures: figs,
	})
}

// planFigure draws one metric's mean, with its interval, at each size
// tried, and the targets on it as dashed lines.
func planFigure(p *sim.FleetPlan, name string) (figure, error) {
	m := metricOf(name)
	f := figure{ID: "plot-plan-" + name, Caption: fmt.Sprintf("Mean %s over the %d seeds at each size tried; the whisker is its 95%% interval, the dashed line the target.",
		metricLabel(m), len(p.Seeds))}
	pl, logY, err := planPlot(p, m)
	if err != nil {
		return f, err
	}
	if logY {
		f.Caption += fmt.Sprintf(" The axis is logarithmic: values under %g s are drawn at %[1]g s.", logFloorS)
	}
	if !slices.ContainsFunc(p.Sizes, func(s sim.FleetSize) bool { return finite(s.Metrics[name].Mean) }) {
		f.Note = "No size has a value to draw."
	}
	f.SVG, err = render(pl, wideW, wideH)
	return f, err
}

// planPlot draws metric m against the size. Durations that reach
// logFromS go on a log axis, which it reports, with shorter ones (zero
// waits too) drawn at logFloorS.
func planPlot(p *sim.FleetPlan, m sim.MetricComparison) (*plot.Plot, bool, error) {
	y := "mean"
	if m.Unit == "s" {
		y = "mean (s)"
	}
	title := metricLabel(m) + " against " + p.Vary
	if p.Answer > 0 {
		title += fmt.Sprintf(" (answer %d)", p.Answer)
	}
	pl := newPlot(title, p.Vary, y)
	pl.Legend.Top = true
	var eb estimateBars
	highest := 0.0
	for _, s := range p.Sizes {
		e := s.Metrics[m.Metric]
		if finite(e.Mean) && finite(e.CILow) && finite(e.CIHigh) {
			eb.XYs = append(eb.XYs, plotter.XY{X: float64(s.Size), Y: e.Mean})
			eb.YErrors = append(eb.YErrors, struct{ Low, High float64 }{e.Mean - e.CILow, e.CIHigh - e.Mean})
			highest = max(highest, e.CIHigh)
		}
	}
	logY := m.Unit == "s" && highest >= logFromS
	if logY {
		pl.Y.Label.Text = "mean (s, log scale)"
		pl.Y.Scale, pl.Y.Tick.Marker = plot.LogScale{}, plot.LogTicks{Prec: -1}
		pl.Y.Min = logFloorS
		for i := range eb.XYs {
			pt, e := &eb.XYs[i], &eb.YErrors[i]
			low, high := max(pt.Y-e.Low, logFloorS), max(pt.Y+e.High, logFloorS)
			pt.Y = max(pt.Y, logFloorS)
			e.Low, e.High = pt.Y-low, high-pt.Y
		}
	}
	if len(eb.XYs) > 0 {
		if err := addLine(pl, "", 0, eb.XYs, false); err != nil {
			return nil, false, err
		}
		errs, err := plotter.NewYErrorBars(eb)
		if err != nil {
			return nil, false, err
		}
		errs.Width = vg.Points(1.2)
		pl.Add(errs)
	}
	lo, hi := float64(p.Sizes[0].Size), float64(p.Sizes[len(p.Sizes)-1].Size)
	for i, t := range p.Targets {
		if t.Metric != m.Metric || (logY && t.Value < logFloorS) {
			continue
		}
		if err := addLine(pl, TargetText(t), i+1, plotter.XYs{{X: lo, Y: t.Value}, {X: hi, Y: t.Value}}, true); err != nil {
			return nil, false, err
		}
	}
	return pl, logY, nil
}
