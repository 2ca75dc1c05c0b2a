package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/ocluster-go/ocluster/sim"
	"github.com/ocluster-go/ocluster/sim/report"
	"github.com/ocluster-go/ocluster/trace"
)

func fitCommand() *cobra.Command {
	var traces []string
	var swf swfInput
	var out, reportPath, html, name string
	var timeScale float64
	cmd := &cobra.Command{
		Use:   "fit --trace FILE [--trace FILE ...] | --swf FILE [--out scenario.yaml] [--report FILE] [--html DIR]",
		Short: "Fit a scenario to recorded traces, with how well each part fits",
		Long: `Fits a scenario file to traces (as ocluster-sim run --trace and
ocluster-scheduler --trace record them) or to an SWF log, so that the
cluster they recorded can be simulated under other policies and fleets
(compare, plan). It fits:

  per client   arrivals (Poisson rate by maximum likelihood; periodic when
               the gaps hardly vary; diurnal, by maximum likelihood, when a
               likelihood-ratio test finds a daily swing), batch sizes (jobs
               submitted at one instant: fixed, Poisson or empirical), the
               urgent share, the cancelled share and cancel-after times,
               hint popularity (uniform, Zipf or one hot hint; the trace's
               own hints weighted by use when none fits)
  per worker   capacity, cache and join time as registered; speed (the
               pool's geometric mean run time over the worker's); cached
               and uncached run times (lognormal or exponential by maximum
               likelihood, else empirical), the pool's unless the worker's
               own runs (200 or more) reject it; random failures from its
               releases
               (mean time between, crash or disconnect, downtime)

Every choice is reported with its Kolmogorov–Smirnov distance from the
data: on stderr, or in --report FILE, and as comments atop the scenario.
--html DIR writes fit.html, which draws each fitted distribution against
what the trace shows, and the scenario. Several traces are fitted
together, as one longer observation.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := swf.check(len(traces)); err != nil {
				return err
			}
			var inputs []sim.FitTrace
			paths, opts := traces, (*trace.SWFOptions)(nil)
			if swf.path != "" {
				paths, opts = []string{swf.path}, &swf.opts
			}
			for _, p := range paths {
				h, events, err := readTrace(p, opts)
				if err != nil {
					if opts == nil && !errors.Is(err, os.ErrNotExist) {
						err = &exitError{2, fmt.Errorf("%w (for a Standard Workload Format log, use --swf FILE)", err)}
					}
					return err
				}
				inputs = append(inputs, sim.FitTrace{Name: filepath.Base(p), Header: h, Events: events, TimeScale: timeScale})
			}
			if name == "" {
				name = strings.TrimSuffix(inputs[0].Name, filepath.Ext(inputs[0].Name)) + "-fit"
			}
			f, err := sim.Fit(name, inputs)
			if err != nil {
				return &exitError{2, err}
			}
			if err := writeTo(reportPath, cmd.ErrOrStderr(), func(w io.Writer) error { return report.FitText(w, f) }); err != nil {
				return err
			}
			if html != "" {
				if err := report.WriteFit(html, f); err != nil {
					return err
				}
			}
			return writeTo(out, cmd.OutOrStdout(), func(w io.Writer) error { _, err := w.Write(f.YAML); return err })
		},
	}
	cmd.Flags().StringArrayVar(&traces, "trace", nil, "trace file (JSON Lines); repeat to fit several together")
	swf.flags(cmd)
	cmd.Flags().StringVar(&out, "out", "", "write the scenario to this file (default: standard output)")
	cmd.Flags().StringVar(&reportPath, "report", "", "write the report of the choices to this file (default: standard error)")
	cmd.Flags().StringVar(&html, "html", "", "also write fit.html (observed against fitted distributions) and scenario.yaml into this folder")
	cmd.Flags().StringVar(&name, "name", "", "the scenario's name (default: the first trace's file name, with -fit)")
	cmd.Flags().Float64Var(&timeScale, "time-scale", 1, "multiply the traces' times, e.g. by the --speed of the ocluster-stress run that recorded them")
	return cmd
}

// writeTo writes to the file at path, or to w when path is empty.
func writeTo(path string, w io.Writer, write func(io.Writer) error) error {
	if path == "" {
		return write(w)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := write(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
