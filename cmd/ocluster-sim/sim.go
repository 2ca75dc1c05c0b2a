package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/ocluster-go/ocluster/cmd/internal/policyflag"
	"github.com/ocluster-go/ocluster/core"
	"github.com/ocluster-go/ocluster/sim"
	"github.com/ocluster-go/ocluster/sim/report"
	"github.com/ocluster-go/ocluster/trace"
)

// output is the shared --format/--out handling.
type output struct {
	format string
	out    string
}

func (o *output) flags(cmd *cobra.Command) {
	cmd.Flags().StringVar(&o.format, "format", "text", "output format: text, json or csv")
	cmd.Flags().StringVar(&o.out, "out", "", "also write an HTML report with plots, and the JSON and CSV, into this folder")
}

func (o *output) check() error {
	switch o.format {
	case "text", "json", "csv":
		return nil
	}
	return &exitError{2, fmt.Errorf("--format %q: want text, json or csv", o.format)}
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	// Targets such as wait_p95<5m are read by people and by jq, not
	// pasted into HTML.
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

func (o *output) result(w io.Writer, r *sim.Result) error {
	var err error
	switch o.format {
	case "json":
		err = writeJSON(w, r)
	case "csv":
		err = report.CSV(w, r)
	default:
		err = report.Text(w, r)
	}
	if err == nil && o.out != "" {
		err = report.WriteRun(o.out, r)
	}
	return err
}

func (o *output) comparison(w io.Writer, c *sim.Comparison) error {
	var err error
	switch o.format {
	case "json":
		err = writeJSON(w, c)
	case "csv":
		err = report.ComparisonCSV(w, c)
	default:
		err = report.ComparisonText(w, c)
		if err == nil {
			err = report.ComparisonLegend(w)
		}
	}
	if err == nil && o.out != "" {
		err = report.WriteComparison(o.out, c)
	}
	return err
}

func openScenario(name string) (*sim.Scenario, error) {
	sc, err := sim.Open(name)
	if err != nil {
		return nil, &exitError{2, err}
	}
	return sc, nil
}

func runCommand() *cobra.Command {
	var scenario, policy, tracePath string
	var seed uint64
	var check bool
	var o output
	var settings *policyflag.Flags
	cmd := &cobra.Command{
		Use:   "run --scenario NAME|FILE [--policy P] [--seed N]",
		Short: "Simulate a scenario once",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.check(); err != nil {
				return err
			}
			if err := checkPolicy(policy); err != nil {
				return err
			}
			sc, err := openScenario(scenario)
			if err != nil {
				return err
			}
			override, err := settings.Override()
			if err != nil {
				return &exitError{2, err}
			}
			opts := sim.Options{Policy: policy, Override: override, Seed: seed, Check: check}
			progress := report.NewProgress(os.Stderr)
			opts.Progress = func(now, end float64) {
				progress.Update(now, end, "simulated "+report.Seconds(now)+" of "+report.Seconds(end))
			}
			var tw *trace.Writer
			if tracePath != "" {
				f, err := os.Create(tracePath)
				if err != nil {
					return &exitError{2, err}
				}
				defer f.Close()
				name := policy
				if name == "" {
					name = core.DefaultPolicy
				}
				if tw, err = trace.NewWriter(f, sim.TraceHeader(sc, name, seed)); err != nil {
					return err
				}
				opts.Trace = tw
			}
			r, err := sim.Run(sc, opts)
			progress.Done()
			if err != nil {
				return err
			}
			if tw != nil {
				if err := tw.Close(); err != nil {
					return err
				}
			}
			return o.result(cmd.OutOrStdout(), r)
		},
	}
	cmd.Flags().StringVar(&scenario, "scenario", "small", "built-in scenario `NAME` or scenario file (ocluster-sim scenarios lists them)")
	policyflag.AddPolicy(cmd.Flags(), &policy, "", "scheduling policy (default "+core.DefaultPolicy+")")
	cmd.Flags().Uint64Var(&seed, "seed", 1, "random seed: the same seed gives the same run")
	cmd.Flags().BoolVar(&check, "check", false, "check the core's invariants after every event (slow)")
	cmd.Flags().StringVar(&tracePath, "trace", "", "record the run as a trace in this file")
	settings = policyflag.Add(cmd.Flags())
	o.flags(cmd)
	return cmd
}

func splitList(s string) []string {
	var out []string
	for _, x := range strings.Split(s, ",") {
		if x = strings.TrimSpace(x); x != "" {
			out = append(out, x)
		}
	}
	return out
}

// checkPolicy checks --policy before anything runs, so that a misspelt
// name is answered with the names to choose from, as a usage error.
func checkPolicy(name string) error {
	if name == "" {
		return nil // the default policy
	}
	if err := policyflag.Known(name); err != nil {
		return &exitError{2, fmt.Errorf("--policy: %w", err)}
	}
	return nil
}

// allPolicies are the names of every policy.
func allPolicies() []string {
	var names []string
	for _, p := range core.Policies() {
		names = append(names, p.Name)
	}
	return names
}

func policyList(s string) ([]string, error) {
	if s == "" || s == "all" {
		return allPolicies(), nil
	}
	names := splitList(s)
	for _, n := range names {
		if err := policyflag.Known(n); err != nil {
			return nil, &exitError{2, fmt.Errorf("--policies: %w", err)}
		}
	}
	return names, nil
}

// variantList reads --policies for compare: policies or variants of them
// (see policyflag.ParseVariant); "all" is every policy as it is.
func variantList(s string) ([]sim.Variant, error) {
	list := splitList(s)
	if s == "" || s == "all" {
		list = allPolicies()
	}
	var variants []sim.Variant
	for _, spec := range list {
		v, err := policyflag.ParseVariant(spec)
		if err != nil {
			return nil, &exitError{2, fmt.Errorf("--policies: %w", err)}
		}
		variants = append(variants, v)
	}
	return variants, nil
}

// compareScenario runs every policy on seeds first..first+n-1, in
// parallel, and compares them, showing its progress.
func compareScenario(sc *sim.Scenario, policies []sim.Variant, first uint64, n, parallel int, check bool) (*sim.Comparison, error) {
	seeds := make([]uint64, n)
	for i := range seeds {
		seeds[i] = first + uint64(i)
	}
	progress := report.NewProgress(os.Stderr)
	c, err := sim.CompareSeeds(sc, policies, seeds, sim.CompareOptions{Parallel: parallel, Check: check,
		Progress: func(done, total int) {
			progress.Update(float64(done), float64(total), fmt.Sprintf("%d of %d runs", done, total))
		}})
	progress.Done()
	return c, err
}

func compareCommand() *cobra.Command {
	var scenario, policies string
	var traces []string
	var seeds, parallel int
	var first uint64
	var check bool
	var timeScale float64
	var o output
	cmd := &cobra.Command{
		Use:   "compare --scenario S --policies a,b [--seeds N] | --trace FILE... --policies a,b",
		Short: "Compare policies over several seeds (or traces), with 95% confidence intervals",
		Long: `Runs every policy on the same samples (seeds of a scenario, or recorded
traces) and prints, in one table per policy against the first one, each
metric's means with their 95% confidence intervals and the difference,
seed by seed, with a verdict only where that interval excludes zero and
the difference does not round to 0. A legend explains the columns. Runs
go in parallel on all cores.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.check(); err != nil {
				return err
			}
			variants, err := variantList(policies)
			if err != nil {
				return err
			}
			var c *sim.Comparison
			if len(traces) > 0 {
				c, err = compareTraces(traces, variants, timeScale, parallel, check)
			} else {
				if seeds < 1 {
					return &exitError{2, fmt.Errorf("--seeds %d: want 1 or more", seeds)}
				}
				var sc *sim.Scenario
				if sc, err = openScenario(scenario); err != nil {
					return err
				}
				c, err = compareScenario(sc, variants, first, seeds, parallel, check)
			}
			if err != nil {
				return err
			}
			return o.comparison(cmd.OutOrStdout(), c)
		},
	}
	cmd.Flags().StringVar(&scenario, "scenario", "small", "built-in scenario name or scenario file")
	cmd.Flags().StringSliceVar(&traces, "trace", nil, "compare on these traces instead of a scenario's seeds (each trace is one sample)")
	cmd.Flags().Float64Var(&timeScale, "time-scale", 1, "with --trace: multiply the traces' times, e.g. by the --speed of the ocluster-stress run that recorded them")
	cmd.Flags().StringVar(&policies, "policies", "all", "comma-separated policies, or variants such as combined+lease=0s+max-attempts=1 (settings as the run flags); the first is the baseline")
	cmd.Flags().IntVar(&seeds, "seeds", 10, "number of seeds")
	cmd.Flags().Uint64Var(&first, "first-seed", 1, "first seed")
	cmd.Flags().IntVar(&parallel, "parallel", 0, "runs at once (default: the number of cores)")
	cmd.Flags().BoolVar(&check, "check", false, "check the core's invariants after every event (slow)")
	o.flags(cmd)
	return cmd
}

func compareTraces(files []string, policies []sim.Variant, timeScale float64, parallel int, check bool) (*sim.Comparison, error) {
	var traces []sim.TraceSample
	for _, f := range files {
		h, events, err := readTrace(f, nil)
		if err != nil {
			return nil, err
		}
		traces = append(traces, sim.TraceSample{Name: f, Header: h, Events: events})
	}
	return sim.CompareTraces(traces, policies, timeScale, sim.CompareOptions{Parallel: parallel, Check: check})
}

// readTrace reads a trace file, or imports an SWF log when swf is set.
func readTrace(path string, swf *trace.SWFOptions) (trace.Header, []trace.Event, error) {
	if swf == nil {
		h, events, ending, err := trace.ReadFile(path)
		if err != nil {
			return trace.Header{}, nil, &exitError{2, err}
		}
		if p := ending.Problem(); p != "" {
			fmt.Fprintf(os.Stderr, "%s: %s\n", path, p)
		}
		return h, events, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return trace.Header{}, nil, &exitError{2, err}
	}
	defer f.Close()
	h, events, stats, err := trace.ReadSWF(f, *swf)
	if err != nil {
		return h, nil, &exitError{2, fmt.Errorf("%s: %w", path, err)}
	}
	fmt.Fprintf(os.Stderr, "%s: %s\n", path, swfSummary(stats))
	return h, events, nil
}

// swfSummary says what an SWF import kept, dropped and assumed: a replay
// of a log whose jobs lack their times rests on estimates, and the user
// must know.
func swfSummary(st trace.SWFStats) string {
	parts := []string{fmt.Sprintf("%d jobs imported", st.Jobs)}
	if st.NoWait > 0 {
		parts = append(parts, fmt.Sprintf("%d without a wait time (replayed with their run time)", st.NoWait))
	}
	if st.NoRuntime > 0 {
		parts = append(parts, fmt.Sprintf("%d without a run time (replayed with the policy's default estimates)", st.NoRuntime))
	}
	if st.Skipped > 0 {
		parts = append(parts, fmt.Sprintf("%d without a submit time skipped", st.Skipped))
	}
	if st.Malformed > 0 {
		parts = append(parts, fmt.Sprintf("%d malformed lines skipped (the first: %v)", st.Malformed, st.MalformedLines))
	}
	return strings.Join(parts, ", ") + "; workers: " + st.Mapping
}

// swfInput is the --swf FILE import and its options, which the commands
// that read traces share.
type swfInput struct {
	path string
	opts trace.SWFOptions
}

func (in *swfInput) flags(cmd *cobra.Command) {
	cmd.Flags().StringVar(&in.path, "swf", "", "Standard Workload Format log (Parallel Workloads Archive)")
	cmd.Flags().BoolVar(&in.opts.Lenient, "lenient", false, "with --swf: skip malformed lines (counting them) instead of failing")
	cmd.Flags().IntVar(&in.opts.Capacity, "swf-capacity", 0, "with --swf: jobs each pool's worker runs at once (0: the most the log ran at once, or MaxProcs over a job's mean processors when the log has no wait times)")
	cmd.Flags().StringVar(&in.opts.Pool, "swf-pool", "", "with --swf: put every job in this pool instead of one pool per queue")
}

// check refuses --trace with --swf (or neither), and SWF options without
// an SWF log.
func (in *swfInput) check(traces int) error {
	if (traces == 0) == (in.path == "") {
		return &exitError{2, fmt.Errorf("give exactly one of --trace FILE or --swf FILE")}
	}
	if in.path == "" && (in.opts.Lenient || in.opts.Capacity != 0 || in.opts.Pool != "") {
		return &exitError{2, fmt.Errorf("--lenient, --swf-capacity and --swf-pool go with --swf FILE")}
	}
	if in.opts.Capacity < 0 {
		return &exitError{2, fmt.Errorf("--swf-capacity %d: give a number of jobs, 1 or more (0: chosen from the log)", in.opts.Capacity)}
	}
	return nil
}

func replayCommand() *cobra.Command {
	var tracePath, policy string
	var check bool
	var swf swfInput
	var sample, window string
	var timeScale float64
	var o output
	cmd := &cobra.Command{
		Use:   "replay --trace FILE | --swf FILE [--policy P]",
		Short: "Replay a recorded trace (or an SWF workload log) under a policy",
		Long: `Re-submits the recorded jobs at their recorded times, re-creates the
recorded workers, and models each job's duration from where the policy
places it (its hint cached there or not), using the durations the trace
observed. See the trace package for the format and trace.ReadSWF for how
an SWF log maps onto it.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.check(); err != nil {
				return err
			}
			if err := checkPolicy(policy); err != nil {
				return err
			}
			traces := 0
			if tracePath != "" {
				traces = 1
			}
			if err := swf.check(traces); err != nil {
				return err
			}
			path, opts := tracePath, (*trace.SWFOptions)(nil)
			if swf.path != "" {
				path, opts = swf.path, &swf.opts
			}
			h, events, err := readTrace(path, opts)
			if err != nil {
				return err
			}
			ro := sim.ReplayOptions{Options: sim.Options{Policy: policy, Check: check}, TimeScale: timeScale}
			for _, d := range []struct {
				text string
				to   *sim.Duration
				flag string
			}{{sample, &ro.Sample, "--sample"}, {window, &ro.Window, "--window"}} {
				if d.text != "" {
					if *d.to, err = sim.ParseDuration(d.text); err != nil {
						return &exitError{2, fmt.Errorf("%s: %w", d.flag, err)}
					}
				}
			}
			r, err := sim.Replay(h, events, ro)
			if err != nil {
				return err
			}
			return o.result(cmd.OutOrStdout(), r)
		},
	}
	cmd.Flags().StringVar(&tracePath, "trace", "", "trace file (JSON Lines, as ocluster-scheduler --trace or ocluster-sim run --trace write)")
	swf.flags(cmd)
	cmd.Flags().Float64Var(&timeScale, "time-scale", 1, "multiply the trace's times, e.g. by the --speed of the ocluster-stress run that recorded it")
	policyflag.AddPolicy(cmd.Flags(), &policy, "", "scheduling policy (default "+core.DefaultPolicy+")")
	cmd.Flags().StringVar(&sample, "sample", "", "sampling interval of the series (default: the trace's, else span/400)")
	cmd.Flags().StringVar(&window, "window", "", "fairness window (default: the trace's, else 10m)")
	cmd.Flags().BoolVar(&check, "check", false, "check the core's invariants after every event (slow)")
	o.flags(cmd)
	return cmd
}

func policiesCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "policies",
		Short: "List the scheduling policies, one per line: name, then what it does",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			for _, p := range core.Policies() {
				fmt.Fprintf(cmd.OutOrStdout(), "%s\t%s\n", p.Name, p.Description)
			}
			return nil
		},
	}
}

func scenariosCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "scenarios [NAME]",
		Short: "List the built-in scenarios, or print one (a starting point for your own)",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				src, err := sim.BuiltinSource(args[0])
				if err != nil {
					return &exitError{2, err}
				}
				_, err = cmd.OutOrStdout().Write(src)
				return err
			}
			for _, name := range sim.Builtins() {
				sc, err := sim.Open(name)
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s\t%s\n", name, firstSentence(sc.Description))
			}
			return nil
		},
	}
}

func firstSentence(s string) string {
	if i := strings.Index(s, ". "); i >= 0 {
		return s[:i+1]
	}
	return s
}

// defaultComparison is what `ocluster-sim` does with no command: every
// policy on OCluster's own stress workload and on the hot-hint workload.
func defaultComparison(w io.Writer) error {
	policies, err := variantList("all")
	if err != nil {
		return err
	}
	for i, name := range []string{"ocluster-stress", "hot-hint"} {
		sc, err := openScenario(name)
		if err != nil {
			return err
		}
		c, err := compareScenario(sc, policies, 1, 10, 0, false)
		if err != nil {
			return err
		}
		if i > 0 {
			fmt.Fprintln(w)
		}
		if err := report.ComparisonText(w, c); err != nil {
			return err
		}
	}
	if err := report.ComparisonLegend(w); err != nil {
		return err
	}
	fmt.Fprintln(w, "\nMore: ocluster-sim --help; one run in detail: ocluster-sim run --scenario small")
	return nil
}
