package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/ocluster-go/ocluster/cmd/internal/cli"
	"github.com/ocluster-go/ocluster/cmd/internal/policyflag"
	"github.com/ocluster-go/ocluster/cmd/internal/testbed"
	"github.com/ocluster-go/ocluster/core"
	"github.com/ocluster-go/ocluster/sim"
	"github.com/ocluster-go/ocluster/sim/report"
)

func fidelityCommand() *cobra.Command {
	var scenario, policies, out string
	var seeds int
	var first uint64
	var speed float64
	var duration time.Duration
	cmd := &cobra.Command{
		Use:   "fidelity [--scenario NAME|FILE] [--policies a,b] [--seeds N] [--speed X] [--out DIR]",
		Short: "Check that the simulator's predictions hold: every seed simulated and played live, side by side",
		Long: `For every policy and seed, simulates the scenario and plays the same
jobs and worker events on a live cluster in this process (as ` + "`all`" + ` does,
one run at a time), then puts the simulated and live means side by side
per metric, with the seed-by-seed difference and its 95% interval, and
says whether each target is met: wait mean, p95 and p99 and turnaround
mean within 10% of the simulated value, cache hit rate within 1 point,
utilisation within 2 points, Jain's index within 0.03, failed and retried
jobs equal within their interval.

A live run takes the scenario's duration divided by --speed. The
transport's delays are multiplied by the speed: if a target is missed,
try a lower speed.

With --out it writes report.html (tables, and the simulated and live
queue and utilisation of each policy's first seed), fidelity.json,
fidelity.csv, and each run's results and traces under POLICY/SEED/.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !(speed > 0) {
				return cli.Usagef("--speed %v: must be more than 0", speed)
			}
			if seeds < 1 {
				return cli.Usagef("--seeds %d: must be 1 or more", seeds)
			}
			var variants []sim.Variant
			for _, spec := range strings.Split(policies, ",") {
				v, err := policyflag.ParseVariant(strings.TrimSpace(spec))
				if err != nil {
					return cli.Usage(fmt.Errorf("--policies: %w", err))
				}
				variants = append(variants, v)
			}
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return runFidelity(ctx, scenario, variants, first, seeds, speed, duration, out)
		},
	}
	f := cmd.Flags()
	f.StringVar(&scenario, "scenario", "small", "built-in scenario name or scenario file, as ocluster-sim takes")
	f.StringVar(&policies, "policies", "ocluster,"+core.DefaultPolicy, "policies (or variants such as combined+lease=0s) to check, comma-separated")
	f.IntVar(&seeds, "seeds", 5, "seeds to run, from --first-seed on")
	f.Uint64Var(&first, "first-seed", 1, "first seed")
	f.Float64Var(&speed, "speed", 120, "play the live runs this many times faster than real time")
	f.DurationVar(&duration, "duration", 0, "scenario time to play (0: the scenario's own duration)")
	f.StringVar(&out, "out", "", "write the report, fidelity.json, fidelity.csv and every run into this folder")
	return cmd
}

func runFidelity(ctx context.Context, scenario string, variants []sim.Variant, first uint64, n int, speed float64, duration time.Duration, out string) error {
	dir := out
	if dir == "" {
		var err error
		if dir, err = os.MkdirTemp("", "ocluster-stress-fidelity-"); err != nil {
			return err
		}
		defer os.RemoveAll(dir)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	var checks []*sim.Fidelity
	var name string
	for _, v := range variants {
		var seeds []uint64
		var simulated, live []*sim.Result
		for i := range n {
			seed := first + uint64(i)
			sc, err := sim.Open(scenario)
			if err != nil {
				return err
			}
			name = sc.Name
			wl, err := testbed.Simulate(sc, seed, duration, v.Policy, v.Override)
			if err != nil {
				return err
			}
			runDir := filepath.Join(dir, v.Spec, strconv.FormatUint(seed, 10))
			if err := os.MkdirAll(runDir, 0o755); err != nil {
				return err
			}
			started := time.Now()
			outcome, err := testbed.Play(ctx, wl, testbed.Options{Speed: speed, Trace: filepath.Join(runDir, "trace"), Log: log})
			if err != nil {
				return fmt.Errorf("%s, seed %d: %w", v.Spec, seed, err)
			}
			mismatched := "the jobs cannot be matched"
			if pairs, err := testbed.MatchJobs(testbed.Jobs(wl.Events), testbed.Jobs(outcome.Trace)); err == nil {
				mismatched = fmt.Sprintf("%d of %d jobs differ", len(testbed.Compare(pairs, testbed.RunTimeTolerance(speed))), len(pairs))
			}
			fmt.Printf("%s, seed %d (%s): wait p95 %s simulated, %s live; %s\n", v.Spec, seed, time.Since(started).Round(time.Second),
				report.Seconds(wl.Predicted.WaitP95S), report.Seconds(outcome.Live.WaitP95S), mismatched)
			for name, r := range map[string]*sim.Result{"sim": wl.Predicted, "live": outcome.Live} {
				if err := writeResult(filepath.Join(runDir, name), r); err != nil {
					return err
				}
			}
			seeds, simulated, live = append(seeds, seed), append(simulated, wl.Predicted), append(live, outcome.Live)
		}
		fi, err := sim.CompareFidelity(name, v.Spec, speed, seeds, simulated, live)
		if err != nil {
			return err
		}
		checks = append(checks, fi)
	}
	fmt.Println()
	if err := report.FidelityText(os.Stdout, checks); err != nil {
		return err
	}
	if out != "" {
		if err := report.WriteFidelity(out, checks); err != nil {
			return err
		}
		fmt.Printf("\nreport: %s\n", filepath.Join(out, "report.html"))
	}
	return nil
}
