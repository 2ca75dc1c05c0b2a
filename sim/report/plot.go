package report

import (
	"bytes"
	"fmt"
	"html/template"
	"image/color"
	"math"
	"slices"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgsvg"

	"github.com/ocluster-go/ocluster/sim"
)

// Plot sizes; the page's CSS scales the SVGs down on narrow screens.
const (
	wideW, wideH   = 9 * vg.Inch, 3.2 * vg.Inch
	smallW, smallH = 3.4 * vg.Inch, 2.6 * vg.Inch
)

// logFloorS is where the wait axis starts when it is logarithmic: shorter
// waits, including the many zero waits, are drawn there.
const logFloorS = 1.0

// logFromS is the longest wait from which the wait axis turns logarithmic:
// below it a linear axis reads better.
const logFromS = 100.0

// hitWindow is how many sample intervals the cache hit rate pools, so that
// an interval with a single hinted start does not swing the line to 0 or 1.
const hitWindow = 5

// figure is one plot of a page, rendered to inline SVG.
type figure struct {
	ID      string
	Caption string
	// Note, when set, says why the plot is empty or partial.
	Note string
	SVG  template.HTML
}

// sans is the plot typeface: it matches the page's text better than
// gonum's default serif, and its metrics match the fonts the page's CSS
// falls back to.
var sans = font.Font{Typeface: "Liberation", Variant: "Sans"}

// newPlot returns an empty plot with the report's fonts and labels.
func newPlot(title, x, y string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.Title.TextStyle.Font = font.From(sans, 11)
	p.X.Label.Text, p.Y.Label.Text = x, y
	for _, a := range []*plot.Axis{&p.X, &p.Y} {
		a.Label.TextStyle.Font = font.From(sans, 10)
		a.Tick.Label.Font = font.From(sans, 9)
	}
	p.Legend.TextStyle.Font = font.From(sans, 9)
	return p
}

// render draws p as an SVG fragment fit to sit inside HTML.
func render(p *plot.Plot, w, h vg.Length) (svg template.HTML, err error) {
	// gonum/plot reports some bad input (such as a log axis reaching 0) by
	// panicking; a report should fail with an error instead.
	defer func() {
		if e := recover(); e != nil {
			err = fmt.Errorf("drawing %q: %v", p.Title.Text, e)
		}
	}()
	c := vgsvg.New(w, h)
	p.Draw(draw.New(c))
	var b bytes.Buffer
	if _, err := c.WriteTo(&b); err != nil {
		return "", err
	}
	// Drop the XML prolog and comment before <svg>: HTML has no use for them.
	s := b.String()
	return template.HTML(s[strings.Index(s, "<svg"):]), nil
}

// addLine adds a line in the ith palette colour, with a legend entry when
// named. Empty lines are left out, since gonum cannot range them.
func addLine(p *plot.Plot, name string, i int, xys plotter.XYs, dashed bool) error {
	if len(xys) == 0 {
		return nil
	}
	l, err := plotter.NewLine(xys)
	if err != nil {
		return err
	}
	l.Color = plotutil.Color(i)
	l.Width = vg.Points(1.5)
	if dashed {
		l.Dashes = plotutil.Dashes(i)
	}
	p.Add(l)
	if name != "" {
		p.Legend.Add(name, l)
	}
	return nil
}

func finite(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }

// cdfAt returns the share of waits at most x, reading the 0th..100th
// percentiles q as a piecewise linear quantile function.
func cdfAt(q []float64, x float64) float64 {
	n := len(q) - 1
	switch {
	case x < q[0]:
		return 0
	case x >= q[n]:
		return 1
	}
	// j is the first percentile above x: q[j-1] <= x < q[j], so the
	// division is safe even where q has ties.
	j, _ := slices.BinarySearchFunc(q, x, func(v, x float64) int {
		if v <= x {
			return -1
		}
		return 1
	})
	return (float64(j-1) + (x-q[j-1])/(q[j]-q[j-1])) / float64(n)
}

// validQuantiles says whether q can be read as percentiles: at least two,
// all finite, in order.
func validQuantiles(q []float64) bool {
	return len(q) >= 2 && slices.IsSorted(q) && !slices.ContainsFunc(q, func(x float64) bool { return !finite(x) })
}

// waitCDF returns the CDF of the waits of groups together, each weighted
// by its started jobs. The mixture of piecewise linear CDFs is itself
// linear between their breakpoints, so evaluating it there is exact.
func waitCDF(groups []sim.Group) plotter.XYs {
	var qs [][]float64
	var weights []float64
	total := 0.0
	for _, g := range groups {
		q := g.WaitQuantilesS
		if g.Started == 0 || !validQuantiles(q) {
			continue
		}
		qs = append(qs, q)
		weights = append(weights, float64(g.Started))
		total += float64(g.Started)
	}
	var xs []float64
	for _, q := range qs {
		xs = append(xs, q...)
	}
	slices.Sort(xs)
	xs = slices.Compact(xs)
	pts := make(plotter.XYs, len(xs))
	for i, x := range xs {
		pts[i].X = x
		for k, q := range qs {
			pts[i].Y += weights[k] / total * cdfAt(q, x)
		}
	}
	return pts
}

// waitCDFPlot draws one CDF per line. Waits reaching logFromS go on a log
// axis, which it reports, with shorter waits drawn at logFloorS.
func waitCDFPlot(title string, names []string, lines []plotter.XYs, dashed bool) (*plot.Plot, bool, error) {
	longest := 0.0
	for _, l := range lines {
		for _, pt := range l {
			longest = max(longest, pt.X)
		}
	}
	logScale := longest >= logFromS
	p := newPlot(title, "wait (s)", "share of started jobs")
	p.Y.Min, p.Y.Max = 0, 1
	if logScale {
		p.X.Label.Text = "wait (s, log scale)"
		p.X.Scale, p.X.Tick.Marker = plot.LogScale{}, plot.LogTicks{Prec: -1}
		p.X.Min = logFloorS
	}
	for i, l := range lines {
		if logScale {
			l = slices.Clone(l)
			for k := range l {
				l[k].X = max(l[k].X, logFloorS)
			}
		}
		if err := addLine(p, names[i], i, l, dashed); err != nil {
			return nil, false, err
		}
	}
	return p, logScale, nil
}

// series returns the points (t in hours, y) of a sampled count, as far
// as both slices go.
func series(t []float64, ys []int) plotter.XYs {
	n := min(len(t), len(ys))
	pts := make(plotter.XYs, 0, n)
	for i := range n {
		if finite(t[i]) {
			pts = append(pts, plotter.XY{X: t[i] / 3600, Y: float64(ys[i])})
		}
	}
	return pts
}

// utilisation returns running over capacity at each sample, 0 while no
// capacity is connected.
func utilisation(s sim.Series) plotter.XYs {
	n := min(len(s.T), len(s.Running), len(s.Capacity))
	pts := make(plotter.XYs, 0, n)
	for i := range n {
		u := 0.0
		if s.Capacity[i] > 0 {
			u = float64(s.Running[i]) / float64(s.Capacity[i])
		}
		if finite(s.T[i]) {
			pts = append(pts, plotter.XY{X: s.T[i] / 3600, Y: u})
		}
	}
	return pts
}

// hitRate returns, at each sample interval with hinted starts, the share
// of hits among the hinted starts of the last hitWindow intervals.
func hitRate(s sim.Series) plotter.XYs {
	n := min(len(s.T), len(s.Starts), len(s.Hits))
	var pts plotter.XYs
	for i := range n {
		if s.Starts[i] == 0 || !finite(s.T[i]) {
			continue
		}
		hits, starts := 0, 0
		for k := max(0, i-hitWindow+1); k <= i; k++ {
			hits += s.Hits[k]
			starts += s.Starts[k]
		}
		pts = append(pts, plotter.XY{X: s.T[i] / 3600, Y: float64(hits) / float64(starts)})
	}
	return pts
}

// timePlot draws lines over the sampled times t, in hours. Its axis
// spans all of t, so that the plots of a run line up even where a line
// has no point.
func timePlot(title, y string, t []float64, names []string, lines []plotter.XYs) (*plot.Plot, error) {
	p := newPlot(title, "time (h)", y)
	p.Legend.Top = true
	for _, s := range t {
		if finite(s) {
			p.X.Min, p.X.Max = min(p.X.Min, s/3600), max(p.X.Max, s/3600)
		}
	}
	for i, l := range lines {
		if err := addLine(p, names[i], i, l, false); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// fractionPlot is timePlot for one line of fractions, on a 0..1 axis.
func fractionPlot(title, y string, t []float64, line plotter.XYs) (*plot.Plot, error) {
	p, err := timePlot(title, y, t, []string{""}, []plotter.XYs{line})
	if err != nil {
		return nil, err
	}
	// Add only widens the range, so this keeps 0..1 unless data exceed it.
	p.Y.Min, p.Y.Max = min(p.Y.Min, 0), max(p.Y.Max, 1)
	return p, nil
}

// headroom widens a bar chart's value axis by 5% away from 0, so that
// the caps of error bars at the extremes are not lost on the frame, and
// gives an axis of zeros the range 0..1 rather than gonum's -1..1.
func headroom(a *plot.Axis) {
	if a.Min == a.Max {
		a.Max = a.Min + 1
		return
	}
	pad := (a.Max - a.Min) / 20
	if a.Max > 0 {
		a.Max += pad
	}
	if a.Min < 0 {
		a.Min -= pad
	}
}

// estimateBars draws one bar per policy with its 95% interval.
type estimateBars struct {
	plotter.XYs
	plotter.YErrors
}

// metricPlot draws a metric's mean under each policy with its interval.
func metricPlot(m sim.MetricComparison, policies []string) (*plot.Plot, error) {
	if len(m.Policies) != len(policies) {
		return nil, fmt.Errorf("metric %s has %d estimates for %d policies", m.Metric, len(m.Policies), len(policies))
	}
	better := "higher is better"
	if m.LowerBetter {
		better = "lower is better"
	}
	y := "mean"
	if m.Unit == "s" {
		y = "mean (s)"
	}
	p := newPlot(metricLabel(m)+" ("+better+")", "", y)
	if len(policies) == 0 {
		return p, nil
	}
	var eb estimateBars
	means := make(plotter.Values, len(policies))
	for i, e := range m.Policies {
		if !finite(e.Mean) || !finite(e.CILow) || !finite(e.CIHigh) {
			continue // drawn as an empty bar
		}
		means[i] = e.Mean
		eb.XYs = append(eb.XYs, plotter.XY{X: float64(i), Y: e.Mean})
		eb.YErrors = append(eb.YErrors, struct{ Low, High float64 }{e.Mean - e.CILow, e.CIHigh - e.Mean})
	}
	bars, err := plotter.NewBarChart(means, vg.Points(30))
	if err != nil {
		return nil, err
	}
	bars.Color = color.RGBA{R: 90, G: 155, B: 212, A: 255}
	bars.LineStyle.Width = 0
	p.Add(bars)
	if len(eb.XYs) > 0 {
		errs, err := plotter.NewYErrorBars(eb)
		if err != nil {
			return nil, err
		}
		errs.Width = vg.Points(1.2)
		p.Add(errs)
	}
	p.NominalX(policies...)
	headroom(&p.Y)
	return p, nil
}
