package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/ocluster-go/ocluster/sim"
	"github.com/ocluster-go/ocluster/sim/report"
)

func sweepCommand() *cobra.Command {
	var scenario, policies, shardText, outPath string
	var sets []string
	var seeds, parallel int
	var first uint64
	cmd := &cobra.Command{
		Use:   "sweep --scenario S --set PATH=V1,V2 [--set ...] [--policies a,b] [--seeds N] [--shard i/n] --out FILE",
		Short: "Run a scenario over a grid of parameter values; shardable over machines",
		Long: `Runs every combination of the --set values, under every policy, on every
seed, and writes one JSON line per run to --out. With --shard i/n only the
i-th of n interleaved parts runs, so any batch system can spread a large
sweep over machines; then "ocluster-sim merge" checks the parts are all
there and aggregates them. --shard env takes the part from the environment
as a Kubernetes Indexed Job gives it: JOB_COMPLETION_INDEX (0 to n-1) and
SHARD_COUNT (n, set to the Job's completions); see deploy/README.md.

PATH addresses the scenario file: dots and brackets, a bracket holding an
index or an element's name, e.g. pools[0].workers[build1].capacity.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if outPath == "" {
				return &exitError{2, fmt.Errorf("--out FILE is required (the runs' JSON lines go there)")}
			}
			shard := sim.Shard{I: 1, N: 1}
			if shardText != "" {
				var err error
				if shardText == "env" {
					shard, err = sim.ShardFromEnv(os.Getenv)
				} else {
					shard, err = sim.ParseShard(shardText)
				}
				if err != nil {
					return &exitError{2, err}
				}
			}
			names, err := policyList(policies)
			if err != nil {
				return err
			}
			plan := sim.SweepPlan{Scenario: scenario, Policies: names}
			for _, s := range sets {
				p, err := sim.ParseParam(s)
				if err != nil {
					return &exitError{2, err}
				}
				plan.Params = append(plan.Params, p)
			}
			for i := range seeds {
				plan.Seeds = append(plan.Seeds, first+uint64(i))
			}
			source, err := scenarioSource(scenario)
			if err != nil {
				return err
			}
			// Load every combination first, so a bad value fails before any run.
			grid := sim.Grid(plan.Params)
			scenarios := make([]*sim.Scenario, len(grid))
			for i, settings := range grid {
				if scenarios[i], err = sim.Apply(scenario, source, settings); err != nil {
					return &exitError{2, err}
				}
			}
			var items []int
			var jobs []sim.Job
			for k := range plan.Items() {
				if !shard.Owns(k) {
					continue
				}
				combo, policy, seed := plan.Item(k)
				sc := scenarios[combo]
				items = append(items, k)
				jobs = append(jobs, func() (*sim.Result, error) {
					return sim.Run(sc, sim.Options{Policy: policy, Seed: seed})
				})
			}
			progress := report.NewProgress(os.Stderr)
			done := 0
			results, err := sim.RunAll(jobs, parallel, func() {
				done++
				progress.Update(float64(done), float64(len(jobs)), fmt.Sprintf("%d of %d runs", done, len(jobs)))
			})
			progress.Done()
			if err != nil {
				return err
			}
			f, err := os.Create(outPath)
			if err != nil {
				return &exitError{2, err}
			}
			enc := json.NewEncoder(f)
			for i, r := range results {
				if err := enc.Encode(plan.Record(items[i], r)); err != nil {
					f.Close()
					return err
				}
			}
			if err := f.Close(); err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "wrote %d of the sweep's %d runs to %s\n", len(results), plan.Items(), outPath)
			return nil
		},
	}
	cmd.Flags().StringVar(&scenario, "scenario", "small", "built-in scenario name or scenario file")
	cmd.Flags().StringArrayVar(&sets, "set", nil, "PATH=V1,V2,...: a parameter and its values (repeatable)")
	cmd.Flags().StringVar(&policies, "policies", "all", "comma-separated policies")
	cmd.Flags().IntVar(&seeds, "seeds", 5, "seeds per combination")
	cmd.Flags().Uint64Var(&first, "first-seed", 1, "first seed")
	cmd.Flags().StringVar(&shardText, "shard", "", "run only part i of n (i/n, 1 <= i <= n), or env: part JOB_COMPLETION_INDEX+1 of SHARD_COUNT")
	cmd.Flags().IntVar(&parallel, "parallel", 0, "runs at once (default: the number of cores)")
	cmd.Flags().StringVar(&outPath, "out", "", "file for the runs' JSON lines")
	return cmd
}

// scenarioSource reads a built-in scenario's or a scenario file's YAML,
// which sweep and plan edit setting by setting.
func scenarioSource(scenario string) ([]byte, error) {
	source, err := sim.BuiltinSource(scenario)
	if err != nil {
		if source, err = os.ReadFile(scenario); err != nil {
			return nil, &exitError{2, fmt.Errorf("--scenario %q is neither built in nor a readable file: %w", scenario, err)}
		}
	}
	return source, nil
}

func mergeCommand() *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "merge FILE|DIR...",
		Short: "Merge the shards of a sweep and print each combination's means with 95% intervals",
		Long: `Merges the shards of a sweep and prints each combination's means with 95%
intervals. A DIR stands for the .jsonl files in it, such as the shared
volume every shard of a Kubernetes Indexed Job wrote to; a shard missing,
or one of another sweep, is an error.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			files, err := shardFiles(args)
			if err != nil {
				return &exitError{2, err}
			}
			var readers []io.Reader
			for _, name := range files {
				f, err := os.Open(name)
				if err != nil {
					return &exitError{2, err}
				}
				defer f.Close()
				readers = append(readers, f)
			}
			rows, err := sim.Merge(readers)
			if err != nil {
				return &exitError{2, err}
			}
			if format == "json" {
				return writeJSON(cmd.OutOrStdout(), rows)
			}
			return mergeTable(cmd.OutOrStdout(), rows)
		},
	}
	cmd.Flags().StringVar(&format, "format", "text", "output format: text or json")
	return cmd
}

func mergeTable(w io.Writer, rows []sim.SweepRow) error {
	shown := []string{"wait_p50_s", "wait_p95_s", "utilisation", "cache_hit_rate", "jain"}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "settings\tpolicy\t"+strings.Join(shown, "\t")+"\t")
	for _, r := range rows {
		var settings []string
		for _, s := range r.Settings {
			settings = append(settings, s.Path+"="+s.Value)
		}
		cells := []string{strings.Join(settings, " "), r.Policy}
		for _, name := range shown {
			e := r.Metrics[name]
			metric, _ := sim.MetricNamed(name)
			m := sim.MetricComparison{Metric: name, Unit: metric.Unit}
			cells = append(cells, report.WithCI(m, e))
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t")+"\t")
	}
	return tw.Flush()
}

// shardFiles lists the files that merge reads: each FILE, and each DIR's
// .jsonl files in name order.
func shardFiles(args []string) ([]string, error) {
	var files []string
	for _, arg := range args {
		info, err := os.Stat(arg)
		if err != nil || !info.IsDir() {
			files = append(files, arg)
			continue
		}
		found, err := filepath.Glob(filepath.Join(arg, "*.jsonl"))
		if err != nil {
			return nil, err
		}
		if len(found) == 0 {
			return nil, fmt.Errorf("%s holds no .jsonl files: did the sweep's shards write there (--out DIR/NAME.jsonl)?", arg)
		}
		files = append(files, found...)
	}
	return files, nil
}
