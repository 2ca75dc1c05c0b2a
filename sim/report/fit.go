package report

import (
	"fmt"
	"io"
	"math"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"

	"github.com/ocluster-go/ocluster/sim"
)

// WriteFit writes a fit's report into dir, creating it if needed:
// fit.html, with the observations against each fitted distribution, and
// the fitted scenario.yaml.
func WriteFit(dir string, f *sim.Fitted) error {
	return writeFiles(dir,
		output{"fit.html", func(w io.Writer) error { return FitHTML(w, f) }},
		output{"scenario.yaml", func(w io.Writer) error { _, err := w.Write(f.YAML); return err }})
}

// FitText writes a fit's choices, one a line.
func FitText(w io.Writer, f *sim.Fitted) error {
	fmt.Fprintf(w, "fitted %s (pools: %d); KS is the Kolmogorov–Smirnov distance between the trace and the model\n", f.Scenario.Name, len(f.Scenario.Pools))
	for _, c := range f.Choices {
		if _, err := fmt.Fprintln(w, "  "+c.Line()); err != nil {
			return err
		}
	}
	return nil
}

// FitHTML writes a fit as a self-contained web page: every choice with its
// goodness of fit, then for each fitted distribution the observed CDF
// against the model's, so that the reader sees where the model is weak.
func FitHTML(w io.Writer, f *sim.Fitted) error {
	t := table{Header: []string{"what", "model", "n", "KS", "note"}}
	var figs []figure
	for i, c := range f.Choices {
		ks := "–"
		if !math.IsNaN(c.KS) {
			ks = fmt.Sprintf("%.3f", c.KS)
		}
		n := "–"
		if c.N > 0 {
			n = strconv.Itoa(c.N)
		}
		t.Rows = append(t.Rows, []cell{{c.Subject, ""}, {c.Model, "text"}, {n, ""}, {ks, ""}, {c.Note, "text"}})
		if len(c.Observed) == 0 || c.CDF == nil {
			continue
		}
		fig, err := fitFigure(i, c)
		if err != nil {
			return err
		}
		figs = append(figs, fig)
	}
	return pages.ExecuteTemplate(w, "fit", page{
		Title: "Fit of " + f.Scenario.Name,
		Facts: []fact{{"pools", strconv.Itoa(len(f.Scenario.Pools))}, {"choices", strconv.Itoa(len(f.Choices))}, {"plots", strconv.Itoa(len(figs))}},
		Table: t,
		Grid:  figs,
	})
}

// maxCDFPoints bounds the steps of an observed CDF drawn: more add bytes,
// not detail a reader can see.
const maxCDFPoints = 400

// fitFigure draws one choice's observations against its model. The
// x axis turns logarithmic when the observations span more than two
// decades, as run times often do.
func fitFigure(i int, c sim.FitChoice) (figure, error) {
	f := figure{ID: "plot-fit-" + strconv.Itoa(i), Caption: fmt.Sprintf("%s: observed (solid) and fitted (dashed) CDF; KS %.3f.", c.Subject, c.KS)}
	obs := c.Observed
	lo, hi := obs[0], obs[len(obs)-1]
	logX := lo > 0 && hi/lo > 100
	p := newPlot(c.Subject, c.Unit, "share at most x")
	if logX {
		p.X.Scale, p.X.Tick.Marker = plot.LogScale{}, plot.LogTicks{Prec: -1}
	}
	step := max(1, len(obs)/maxCDFPoints)
	var seen plotter.XYs
	for j := 0; j < len(obs); j += step {
		seen = append(seen, plotter.XY{X: obs[j], Y: float64(j+1) / float64(len(obs))})
	}
	seen = append(seen, plotter.XY{X: hi, Y: 1})
	var model plotter.XYs
	for j := 0; j <= 200; j++ {
		x := lo + (hi-lo)*float64(j)/200
		if logX {
			x = lo * math.Pow(hi/lo, float64(j)/200)
		}
		model = append(model, plotter.XY{X: x, Y: c.CDF(x)})
	}
	if err := addLine(p, "observed", 0, seen, false); err != nil {
		return f, err
	}
	if err := addLine(p, "fitted", 1, model, true); err != nil {
		return f, err
	}
	p.Legend.Top = false
	p.Legend.Left = false
	var err error
	f.SVG, err = render(p, smallW, smallH)
	return f, err
}
