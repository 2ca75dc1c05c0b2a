package report

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"os"
	"path/filepath"
	"strings"

	"gonum.org/v1/plot/plotter"

	"github.com/ocluster-go/ocluster/sim"
)

// WriteRun writes a run's report into dir, creating it if needed:
// report.html for people, result.json and result.csv for programs.
func WriteRun(dir string, r *sim.Result) error {
	return writeFiles(dir,
		output{"report.html", func(w io.Writer) error { return HTML(w, r) }},
		output{"result.json", jsonOf(r)},
		output{"result.csv", func(w io.Writer) error { return CSV(w, r) }})
}

// WriteComparison writes a comparison's report into dir, creating it if
// needed: report.html, comparison.json and comparison.csv.
func WriteComparison(dir string, c *sim.Comparison) error {
	return writeFiles(dir,
		output{"report.html", func(w io.Writer) error { return ComparisonHTML(w, c) }},
		output{"comparison.json", jsonOf(c)},
		output{"comparison.csv", func(w io.Writer) error { return ComparisonCSV(w, c) }})
}

type output struct {
	name  string
	write func(io.Writer) error
}

// writeFiles renders each output in memory before writing it, so that a
// failure leaves no truncated file behind.
func writeFiles(dir string, outs ...output) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, o := range outs {
		var b bytes.Buffer
		if err := o.write(&b); err != nil {
			return fmt.Errorf("%s: %w", o.name, err)
		}
		if err := os.WriteFile(filepath.Join(dir, o.name), b.Bytes(), 0o644); err != nil {
			return err
		}
	}
	return nil
}

func jsonOf(v any) func(io.Writer) error {
	return func(w io.Writer) error {
		e := json.NewEncoder(w)
		e.SetIndent("", "  ")
		return e.Encode(v)
	}
}

// HTML writes a run's result as a self-contained web page: the headline
// numbers, the text report's table, and plots of the waits, the queue,
// utilisation and cache hits.
func HTML(w io.Writer, r *sim.Result) error {
	figs, err := runFigures(r)
	if err != nil {
		return err
	}
	return pages.ExecuteTemplate(w, "run", page{
		Title:   fmt.Sprintf("%s · policy %s · seed %d", r.Scenario, r.Policy, r.Seed),
		Facts:   runFacts(r),
		Table:   runTable(r),
		Figures: figs,
	})
}

// ComparisonHTML writes a comparison of policies as a self-contained web
// page: the text report's table, each metric's means with their
// intervals, and the waits under each policy on the first sample.
func ComparisonHTML(w io.Writer, c *sim.Comparison) error {
	if len(c.Policies) == 0 {
		return fmt.Errorf("comparison of %s has no policies", c.Scenario)
	}
	cdf, err := comparisonCDF(c)
	if err != nil {
		return err
	}
	var metrics []figure
	for _, m := range c.Metrics {
		f, err := metricFigure(m, c)
		if err != nil {
			return err
		}
		metrics = append(metrics, f)
	}
	return pages.ExecuteTemplate(w, "comparison", page{
		Title: fmt.Sprintf("%s · %s · %d samples", c.Scenario, strings.Join(c.Policies, " vs "), len(c.Samples)),
		Facts: []fact{
			{"samples", sampleList(c.Samples)},
			{"baseline", c.Policies[0]},
			{"intervals", "95% (Student's t)"},
		},
		Table:   comparisonTable(c),
		Figures: []figure{cdf},
		Grid:    metrics,
	})
}

// page is what the templates show; Summary is lines of text said first;
// Grid holds small plots laid out side by side after the full-width
// Figures; Sections are parts with a table and figures of their own.
type page struct {
	Title    string
	Facts    []fact
	Summary  []string
	Table    table
	Figures  []figure
	Grid     []figure
	Sections []section
}

type section struct {
	Title   string
	Table   table
	Figures []figure
}

// fact is a headline number.
type fact struct{ Label, Value string }

type table struct {
	Header []string
	Rows   [][]cell
}

// cell is a table cell; the first of a row heads it. Class marks nested
// rows ("sub") and verdicts ("better", "worse").
type cell struct{ Text, Class string }

func runFacts(r *sim.Result) []fact {
	return []fact{
		{"jobs", count(r.Jobs)},
		{"wait p50", Seconds(r.WaitP50S)},
		{"wait p95", Seconds(r.WaitP95S)},
		{"wait p99", Seconds(r.WaitP99S)},
		{"wait max", Seconds(r.WaitMaxS)},
		{"turnaround mean", Seconds(r.TurnaroundMeanS)},
		{"utilisation", percent(r.Utilisation)},
		{"cache hit rate", percent(r.CacheHitRate)},
		{"makespan", Seconds(r.MakespanS)},
		{fmt.Sprintf("Jain's fairness (%d windows)", r.JainWindows), fmt.Sprintf("%.3f", r.Jain)},
		{"worker imbalance", fmt.Sprintf("%.2f", r.Imbalance)},
		{"failed", count(r.Failed)},
		{"retried", count(r.Retried)},
		{"unfinished", count(r.Unfinished)},
		{"simulated", Seconds(r.SimulatedS)},
		{"events", count(int(r.Events))},
	}
}

// runTable has the rows of Text: all jobs, each pool when there are
// several, each client, with urgent and normal jobs apart when both ran.
func runTable(r *sim.Result) table {
	t := table{Header: []string{"", "jobs", "failed", "cancelled", "wait p50", "p95", "p99", "max", "turnaround", "hit rate"}}
	row := func(name, class string, s sim.Stats) {
		if s.Jobs == 0 {
			return
		}
		t.Rows = append(t.Rows, []cell{{name, class},
			{count(s.Jobs), ""}, {count(s.Failed), ""}, {count(s.Cancelled), ""},
			{Seconds(s.WaitP50S), ""}, {Seconds(s.WaitP95S), ""}, {Seconds(s.WaitP99S), ""}, {Seconds(s.WaitMaxS), ""},
			{Seconds(s.TurnaroundMeanS), ""}, {percent(s.CacheHitRate), ""}})
	}
	group := func(name string, s, urgent, normal sim.Stats) {
		row(name, "", s)
		if urgent.Jobs > 0 && normal.Jobs > 0 {
			row("urgent", "sub", urgent)
			row("normal", "sub", normal)
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
				group(clientName(c.Pool, c.Client, pools), c.Stats, c.Urgent, c.Normal)
			}
		}
	}
	return t
}

// clientName qualifies a client by its pool when there are several.
func clientName(pool, client string, pools bool) string {
	if pools {
		return pool + "/" + client
	}
	return client
}

func runFigures(r *sim.Result) ([]figure, error) {
	var figs []figure
	for _, build := range []func(*sim.Result) (figure, error){waitFigure, queueFigure, utilisationFigure, hitFigure} {
		f, err := build(r)
		if err != nil {
			return nil, err
		}
		figs = append(figs, f)
	}
	return figs, nil
}

func waitFigure(r *sim.Result) (figure, error) {
	f := figure{ID: "plot-wait-cdf", Caption: "Share of each client's started jobs that waited at most a given time " +
		"between submission and first start, read from the client's wait percentiles."}
	pools := len(r.Pools) > 1
	var names, missing []string
	var lines []plotter.XYs
	for _, c := range r.Clients {
		name := clientName(c.Pool, c.Client, pools)
		if l := waitCDF([]sim.Group{c}); len(l) > 0 {
			names, lines = append(names, name), append(lines, l)
		} else {
			missing = append(missing, name)
		}
	}
	switch {
	case len(lines) == 0:
		f.Note = "No job started, so there are no waits to plot."
	case len(missing) > 0:
		f.Note = "No waits to draw for: " + strings.Join(missing, ", ") + "."
	}
	return cdfFigure(f, "Wait CDF per client", names, lines, false)
}

// cdfFigure draws f's wait CDFs and says in its caption how to read a log
// axis.
func cdfFigure(f figure, title string, names []string, lines []plotter.XYs, dashed bool) (figure, error) {
	p, logScale, err := waitCDFPlot(title, names, lines, dashed)
	if err != nil {
		return f, err
	}
	if logScale {
		f.Caption += fmt.Sprintf(" The axis is logarithmic: waits under %g s are drawn at %[1]g s.", logFloorS)
	}
	f.SVG, err = render(p, wideW, wideH)
	return f, err
}

func queueFigure(r *sim.Result) (figure, error) {
	f := figure{ID: "plot-queue", Caption: "Jobs waiting in the queue over simulated time, for all clients together and for each client."}
	s := r.Series
	pools := len(r.Pools) > 1
	names, lines := []string{"all"}, []plotter.XYs{series(s.T, s.Queued)}
	for _, c := range s.Clients {
		names = append(names, clientName(c.Pool, c.Client, pools))
		lines = append(lines, series(s.T, c.Queued))
	}
	if len(lines[0]) == 0 {
		f.Note = "No samples were taken."
	}
	p, err := timePlot("Queue length", "queued jobs", s.T, names, lines)
	if err != nil {
		return f, err
	}
	f.SVG, err = render(p, wideW, wideH)
	return f, err
}

func utilisationFigure(r *sim.Result) (figure, error) {
	f := figure{ID: "plot-utilisation", Caption: "Share of the connected workers' capacity running jobs at each sample; 0 while no worker is connected."}
	line := utilisation(r.Series)
	if len(line) == 0 {
		f.Note = "No samples were taken."
	}
	p, err := fractionPlot("Utilisation", "running / capacity", r.Series.T, line)
	if err != nil {
		return f, err
	}
	f.SVG, err = render(p, wideW, wideH)
	return f, err
}

func hitFigure(r *sim.Result) (figure, error) {
	f := figure{ID: "plot-cache-hits", Caption: fmt.Sprintf("Share of hinted job starts whose worker already had the hint cached. "+
		"To smooth out intervals with few starts, each point pools the last %d sample intervals; intervals without hinted starts have no point.", hitWindow)}
	line := hitRate(r.Series)
	if len(line) == 0 {
		f.Note = "No hinted job started."
	}
	p, err := fractionPlot("Cache hit rate", "hits / hinted starts", r.Series.T, line)
	if err != nil {
		return f, err
	}
	f.SVG, err = render(p, wideW, wideH)
	return f, err
}

func sampleList(samples []string) string {
	const shown = 10
	if len(samples) > shown {
		return fmt.Sprintf("%s, … (%d)", strings.Join(samples[:shown], ", "), len(samples))
	}
	return strings.Join(samples, ", ")
}

// comparisonTable has the rows of ComparisonText's tables, all policies
// side by side: a page can scroll sideways.
func comparisonTable(c *sim.Comparison) table {
	t := table{Header: append([]string{"metric"}, c.Policies...)}
	for _, p := range c.Policies[1:] {
		t.Header = append(t.Header, p+" - "+c.Policies[0])
	}
	for _, m := range c.Metrics {
		row := []cell{{metricLabel(m), ""}}
		for _, e := range m.Policies {
			row = append(row, cell{WithCI(m, e), ""})
		}
		for _, d := range m.Differences {
			text, verdict := difference(m, d)
			row = append(row, cell{text, verdict})
		}
		t.Rows = append(t.Rows, row)
	}
	return t
}

func metricFigure(m sim.MetricComparison, c *sim.Comparison) (figure, error) {
	f := figure{ID: "plot-compare-" + m.Metric, Caption: fmt.Sprintf("Mean %s over the %d samples under each policy; the whisker is its 95%% confidence interval.",
		metricLabel(m), len(c.Samples))}
	if len(c.Samples) < 2 {
		f.Note = "A single sample has no interval."
	}
	p, err := metricPlot(m, c.Policies)
	if err != nil {
		return f, err
	}
	f.SVG, err = render(p, smallW, smallH)
	return f, err
}

// comparisonCDF overlays the waits of every policy on the first sample,
// which all policies saw with the same jobs.
func comparisonCDF(c *sim.Comparison) (figure, error) {
	sample := "the first sample"
	if len(c.Samples) > 0 {
		sample = "sample " + c.Samples[0]
	}
	f := figure{ID: "plot-wait-cdf", Caption: "Share of started jobs that waited at most a given time under each policy on " + sample +
		", over all clients (each weighted by its started jobs). Lines are dashed differently so that equal ones stay visible."}
	var names []string
	var lines []plotter.XYs
	for i, p := range c.Policies {
		if i < len(c.Runs) && len(c.Runs[i]) > 0 && c.Runs[i][0] != nil {
			if l := waitCDF(c.Runs[i][0].Clients); len(l) > 0 {
				names, lines = append(names, p), append(lines, l)
			}
		}
	}
	if len(lines) < len(c.Policies) {
		f.Note = "Policies without runs or started jobs on this sample are left out."
	}
	return cdfFigure(f, "Wait CDF per policy, "+sample, names, lines, true)
}

var pages = template.Must(template.New("").Parse(`
{{- define "head"}}<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8"/>
<meta name="viewport" content="width=device-width, initial-scale=1"/>
<title>{{.Title}}</title>
<style>` + css + `</style>
</head>
<body>
<h1>{{.Title}}</h1>
<dl class="facts">
{{- range .Facts}}
<div><dt>{{.Label}}</dt><dd>{{.Value}}</dd></div>
{{- end}}
</dl>
{{end}}

{{- define "table"}}<table>
<thead><tr>{{range .Header}}<th scope="col">{{.}}</th>{{end}}</tr></thead>
<tbody>
{{- range .Rows}}
<tr>{{range $i, $c := .}}{{if eq $i 0}}<th scope="row"{{with $c.Class}} class="{{.}}"{{end}}>{{$c.Text}}</th>{{else}}<td{{with $c.Class}} class="{{.}}"{{end}}>{{$c.Text}}</td>{{end}}{{end}}</tr>
{{- end}}
</tbody>
</table>
{{end}}

{{- define "figure"}}<figure id="{{.ID}}">
{{.SVG}}<figcaption>{{.Caption}}{{with .Note}} <strong>{{.}}</strong>{{end}}</figcaption>
</figure>
{{end}}

{{- define "grid"}}<div class="grid">
{{range .}}{{template "figure" .}}{{end -}}
</div>
{{end}}

{{- define "run"}}{{template "head" .}}<h2>Jobs</h2>
{{template "table" .Table}}<h2>Over time</h2>
{{range .Figures}}{{template "figure" .}}{{end -}}
</body>
</html>
{{end}}

{{- define "comparison"}}{{template "head" .}}<h2>Means with 95% intervals, and differences from the baseline</h2>
<p>A difference is called better or worse only when its interval, over the samples paired seed by seed, excludes zero.</p>
{{template "table" .Table}}<h2>Waits</h2>
{{range .Figures}}{{template "figure" .}}{{end -}}
<h2>Metrics</h2>
{{template "grid" .Grid}}</body>
</html>
{{end}}

{{- define "plan"}}{{template "head" .}}<p>A size meets a target when the metric's mean over the seeds does; ± is its 95% interval (Student's t).</p>
<pre>{{range .Summary}}{{.}}
{{end}}</pre>
<h2>Sizes tried</h2>
{{template "table" .Table}}<h2>Metrics against the size</h2>
{{range .Figures}}{{template "figure" .}}{{end -}}
</body>
</html>
{{end}}

{{- define "fit"}}{{template "head" .}}<style>td.text{white-space:normal;text-align:left;min-width:14em}</style>
<p>Each part of the fitted scenario, the model chosen for it and its Kolmogorov–Smirnov distance from the trace (0: the same; 1: disjoint). The plots draw what the trace shows against what the scenario will draw.</p>
{{template "table" .Table}}<h2>Observed against fitted</h2>
{{template "grid" .Grid}}</body>
</html>
{{end}}

{{- define "fidelity"}}{{template "head" .}}<p>The simulator's predictions beside a live cluster (the production scheduler, synthetic workers and clients over the real transport) that ran the same jobs, with the same worker events, seed by seed. A target is met when the live mean is within it of the simulated mean; for counts, when the interval of the seed-by-seed difference holds zero.</p>
{{range .Sections}}<h2>{{.Title}}</h2>
{{template "table" .Table}}{{range .Figures}}{{template "figure" .}}{{end -}}
{{end -}}
</body>
</html>
{{end}}`))

// css styles the pages. It keeps to greys, apart from verdicts, so colour
// on the page comes from the plots. SVG text prefers the font the plots
// were measured with, or a metric-compatible one; !important is needed to
// override the SVG's inline styles.
const css = `
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Liberation Sans",Arial,sans-serif;color:#222;background:#fff;max-width:1100px;margin:2em auto;padding:0 1em}
h1{font-size:1.5em;margin:0 0 .5em}
h2{font-size:1.15em;margin:1.6em 0 .5em}
.facts{display:grid;grid-template-columns:repeat(auto-fill,minmax(10em,1fr));gap:.5em;margin:0;padding:0}
.facts div{border:1px solid #ddd;border-radius:4px;padding:.35em .6em}
.facts dt{font-size:.8em;color:#666}
.facts dd{margin:0;font-size:1.2em;font-variant-numeric:tabular-nums}
table{border-collapse:collapse;font-variant-numeric:tabular-nums}
th,td{padding:.25em .7em;border-bottom:1px solid #e4e4e4;text-align:right;white-space:nowrap}
thead th{border-bottom:2px solid #bbb}
tbody th{text-align:left;font-weight:normal}
tbody th.sub{padding-left:2em;color:#555}
td.better{color:#17702c;font-weight:bold}
td.worse{color:#a61b1b;font-weight:bold}
figure{margin:1.2em 0}
figure svg{display:block;max-width:100%;height:auto}
svg text{font-family:"Liberation Sans",Arial,Helvetica,sans-serif!important}
figcaption{color:#555;font-size:.9em;max-width:60em;margin-top:.3em}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(330px,1fr));gap:0 1.5em}
.grid figure{margin:.6em 0}
`
