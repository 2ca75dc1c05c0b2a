package report

import (
	"encoding/csv"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"

	"gonum.org/v1/plot/plotter"

	"github.com/ocluster-go/ocluster/sim"
)

// WriteFidelity writes a fidelity check's report into dir, creating it if
// needed: report.html, fidelity.json and fidelity.csv.
func WriteFidelity(dir string, fs []*sim.Fidelity) error {
	return writeFiles(dir,
		output{"report.html", func(w io.Writer) error { return FidelityHTML(w, fs) }},
		output{"fidelity.json", jsonOf(fs)},
		output{"fidelity.csv", func(w io.Writer) error { return FidelityCSV(w, fs) }})
}

func fidelityTitle(f *sim.Fidelity) string {
	return fmt.Sprintf("%s · policy %s · %d seeds · live at %gx", f.Scenario, f.Policy, len(f.Seeds), f.Speed)
}

// fidelityRow is a metric's cells: simulated, live, the difference (with
// its share of the simulated value) and the target with its verdict.
func fidelityRow(m sim.FidelityMetric) (label string, cells []string, verdict string) {
	mc := sim.MetricComparison{Metric: m.Metric, Unit: m.Unit}
	diff := diffWithCI(mc, m.Diff)
	if m.Relative != 0 {
		rel, _ := relative(m.Relative)
		diff += " (" + rel + ")"
	}
	target := m.Target
	if m.Met != nil {
		verdict = "missed"
		if *m.Met {
			verdict = "met"
		}
		target += " " + verdict
	}
	return metricLabel(mc), []string{WithCI(mc, m.Simulated), WithCI(mc, m.Live), diff, target}, verdict
}

// FidelityText writes each policy's predictions beside the live runs.
func FidelityText(w io.Writer, fs []*sim.Fidelity) error {
	for i, f := range fs {
		if i > 0 {
			fmt.Fprintln(w)
		}
		fmt.Fprintf(w, "%s · means with 95%% intervals\n\n", fidelityTitle(f))
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "metric\tsimulated\tlive\tlive - simulated\ttarget\t")
		for _, m := range f.Metrics {
			label, cells, _ := fidelityRow(m)
			fmt.Fprintln(tw, label+"\t"+strings.Join(cells, "\t")+"\t")
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	return nil
}

// FidelityCSV writes one row per policy and metric.
func FidelityCSV(w io.Writer, fs []*sim.Fidelity) error {
	cw := csv.NewWriter(w)
	cw.Write([]string{"scenario", "policy", "speed", "metric", "n", "simulated_mean", "simulated_ci_low", "simulated_ci_high",
		"live_mean", "live_ci_low", "live_ci_high", "diff_mean", "diff_ci_low", "diff_ci_high", "relative", "target", "met"})
	for _, fi := range fs {
		for _, m := range fi.Metrics {
			met := ""
			if m.Met != nil {
				met = strconv.FormatBool(*m.Met)
			}
			cw.Write([]string{fi.Scenario, fi.Policy, f(fi.Speed), m.Metric, strconv.Itoa(m.Diff.N),
				f(m.Simulated.Mean), f(m.Simulated.CILow), f(m.Simulated.CIHigh),
				f(m.Live.Mean), f(m.Live.CILow), f(m.Live.CIHigh),
				f(m.Diff.Mean), f(m.Diff.CILow), f(m.Diff.CIHigh), f(m.Relative), m.Target, met})
		}
	}
	cw.Flush()
	return cw.Error()
}

// FidelityHTML writes a fidelity check as a web page: each policy's table,
// and the queue and utilisation of its first seed, simulated and live, on
// one plot each.
func FidelityHTML(w io.Writer, fs []*sim.Fidelity) error {
	if len(fs) == 0 {
		return fmt.Errorf("a fidelity report needs at least one policy")
	}
	pg := page{Title: fmt.Sprintf("Fidelity · %s · %d seeds · live at %gx", fs[0].Scenario, len(fs[0].Seeds), fs[0].Speed),
		Facts: []fact{{"policies", strings.Join(policiesOf(fs), ", ")}, {"seeds", seedList(fs[0].Seeds)}, {"intervals", "95% (Student's t)"}}}
	for _, fi := range fs {
		t := table{Header: []string{"metric", "simulated", "live", "live - simulated", "target"}}
		for _, m := range fi.Metrics {
			label, cells, verdict := fidelityRow(m)
			row := []cell{{label, ""}}
			for i, c := range cells {
				class := ""
				if i == len(cells)-1 && verdict != "" {
					class = map[string]string{"met": "better", "missed": "worse"}[verdict]
				}
				row = append(row, cell{c, class})
			}
			t.Rows = append(t.Rows, row)
		}
		figs, err := fidelityFigures(fi)
		if err != nil {
			return err
		}
		pg.Sections = append(pg.Sections, section{Title: "Policy " + fi.Policy, Table: t, Figures: figs})
	}
	return pages.ExecuteTemplate(w, "fidelity", pg)
}

func policiesOf(fs []*sim.Fidelity) []string {
	var out []string
	for _, f := range fs {
		out = append(out, f.Policy)
	}
	return out
}

func seedList(seeds []uint64) string {
	var s []string
	for _, x := range seeds {
		s = append(s, strconv.FormatUint(x, 10))
	}
	return sampleList(s)
}

func fidelityFigures(f *sim.Fidelity) ([]figure, error) {
	if len(f.Simulated) == 0 || len(f.Live) == 0 {
		return nil, nil
	}
	s, l := f.Simulated[0].Series, f.Live[0].Series
	seed := fmt.Sprintf("seed %d", f.Seeds[0])
	id := "plot-" + f.Policy
	queue := figure{ID: id + "-queue", Caption: "Jobs waiting over scenario time on " + seed + ", as the simulator predicted it and as the live cluster had it."}
	p, err := timePlot("Queue length · "+f.Policy, "queued jobs", append(s.T, l.T...), []string{"simulated", "live"},
		[]plotter.XYs{series(s.T, s.Queued), series(l.T, l.Queued)})
	if err != nil {
		return nil, err
	}
	if queue.SVG, err = render(p, wideW, wideH); err != nil {
		return nil, err
	}
	util := figure{ID: id + "-utilisation", Caption: "Share of the connected capacity running jobs on " + seed + ", simulated and live."}
	p, err = timePlot("Utilisation · "+f.Policy, "running / capacity", append(s.T, l.T...), []string{"simulated", "live"},
		[]plotter.XYs{utilisation(s), utilisation(l)})
	if err != nil {
		return nil, err
	}
	p.Y.Min, p.Y.Max = min(p.Y.Min, 0), max(p.Y.Max, 1)
	if util.SVG, err = render(p, wideW, wideH); err != nil {
		return nil, err
	}
	return []figure{queue, util}, nil
}
