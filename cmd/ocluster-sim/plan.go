package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/ocluster-go/ocluster/cmd/internal/policyflag"
	"github.com/ocluster-go/ocluster/core"
	"github.com/ocluster-go/ocluster/sim"
	"github.com/ocluster-go/ocluster/sim/report"
)

func planCommand() *cobra.Command {
	var scenario, vary, policy, format, out string
	var targets []string
	var seeds, parallel, largest int
	var first uint64
	cmd := &cobra.Command{
		Use:   "plan --scenario S --target METRIC<VALUE [--target ...] [--vary workers|capacity|POOL.WORKER.count] [--policy P]",
		Short: "Find the smallest fleet that meets every target, with 95% confidence intervals",
		Long: `Finds the smallest size of the fleet at which the scenario meets every
--target under the policy, and prints it with the deciding target (the one
hardest to meet) at that size and at the size one smaller, and every size
tried.

--vary says what the size N is:
  workers                 every worker spec in every pool gets count N
                          (N workers of each kind)
  capacity                every worker gets capacity N (N slots each)
  POOL.WORKER.count       one worker spec's count (or .capacity); the sweep's
                          path syntax, pools[P].workers[W].count, works too
N replaces the scenario's values, as sweep's --set does.

A target is METRIC<VALUE, METRIC>VALUE (or <=, >=) over the metrics that
compare reports, e.g. wait_p95<5m, turnaround_mean<20m, unfinished<1,
jain>0.8; a duration's _s may be left off, and its value is a duration
(90s, 5m, 1h30m, or seconds). A size meets a target when the metric's mean
over the seeds does; the 95% interval (Student's t) says how sure that is.

The search tries N = 1, 2, 4, ... up to --max until a size meets every
target, then bisects between it and the last size that missed, so the size
one smaller than the answer is always tried. It assumes that a target met
at one size stays met at every larger one, as waits, turnaround and
makespan do; a target that a bigger fleet can miss (utilisation>0.8) may
not give the smallest. When even --max misses, the command prints the
sizes tried and the target missed by the widest margin there, and exits 1.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if format != "text" && format != "json" {
				return &exitError{2, fmt.Errorf("--format %q: want text or json", format)}
			}
			if len(targets) == 0 {
				return &exitError{2, fmt.Errorf("give at least one --target, e.g. --target 'wait_p95<5m'")}
			}
			if seeds < 1 || largest < 1 {
				return &exitError{2, fmt.Errorf("--seeds %d, --max %d: want 1 or more of each", seeds, largest)}
			}
			var ts []sim.Target
			for _, s := range targets {
				t, err := sim.ParseTarget(s)
				if err != nil {
					return &exitError{2, err}
				}
				ts = append(ts, t)
			}
			v, err := policyflag.ParseVariant(policy)
			if err != nil {
				return &exitError{2, fmt.Errorf("--policy: %w", err)}
			}
			source, err := scenarioSource(scenario)
			if err != nil {
				return err
			}
			opts := sim.PlanOptions{Policy: v, Max: largest, Parallel: parallel}
			for i := range seeds {
				opts.Seeds = append(opts.Seeds, first+uint64(i))
			}
			progress := report.NewProgress(os.Stderr)
			opts.Progress = func(size, done, total int) {
				progress.Update(float64(done), float64(total), fmt.Sprintf("size %d: %d of %d runs", size, done, total))
			}
			p, err := sim.Plan(scenario, source, vary, ts, opts)
			progress.Done()
			if err != nil {
				return &exitError{2, err}
			}
			if format == "json" {
				err = writeJSON(cmd.OutOrStdout(), p)
			} else {
				err = report.PlanText(cmd.OutOrStdout(), p)
			}
			if err == nil && out != "" {
				err = report.WritePlan(out, p)
			}
			if err == nil && p.Answer == 0 {
				err = &exitError{1, fmt.Errorf("no size up to --max %d meets every target", largest)}
			}
			return err
		},
	}
	cmd.Flags().StringVar(&scenario, "scenario", "small", "built-in scenario name or scenario file")
	cmd.Flags().StringArrayVar(&targets, "target", nil, "METRIC<VALUE or METRIC>VALUE, e.g. wait_p95<5m (repeatable; all must be met)")
	cmd.Flags().StringVar(&vary, "vary", "workers", "what the size is: "+sim.VaryChoices)
	cmd.Flags().StringVar(&policy, "policy", core.DefaultPolicy, "policy, or a variant such as combined+lease=0s")
	cmd.Flags().IntVar(&seeds, "seeds", 5, "seeds per size")
	cmd.Flags().Uint64Var(&first, "first-seed", 1, "first seed")
	cmd.Flags().IntVar(&largest, "max", 256, "largest size tried")
	cmd.Flags().IntVar(&parallel, "parallel", 0, "runs at once (default: the number of cores)")
	cmd.Flags().StringVar(&format, "format", "text", "output format: text or json")
	cmd.Flags().StringVar(&out, "out", "", "also write plan.html, with a plot of each target's metric against the size, and plan.json into this folder")
	return cmd
}
