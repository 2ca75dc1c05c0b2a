package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/ocluster-go/ocluster/cmd/internal/testbed"
	"github.com/ocluster-go/ocluster/sim"
	"github.com/ocluster-go/ocluster/trace"
)

func allCommand() *cobra.Command {
	var lf loadFlags
	var out string
	var metrics string
	var every time.Duration
	cmd := &cobra.Command{
		Use:   "all [--scenario NAME|FILE] [--speed X] [--duration D] [--out DIR] [--listen-prometheus PORT]",
		Short: "Run a scheduler, the scenario's workers and its clients in this process, over the real transport",
		Long: `Plays one seed of a scenario on a live cluster in this process: a
scheduler on loopback, the scenario's workers as synthetic worker agents,
its clients, all over the real transport, --speed times faster than real
time. The cluster gets the very jobs the simulator runs for the seed (each
worker runs a job for as long as the simulated one ran on it, cached or
not), and the scenario's worker events and random failures happen to it
at their times: late joins, dropped connections, crashes, admin pauses,
drains, hangs and prunes.

Every few seconds it prints a line on the run so far, measured from the
scheduler's trace as the end result is. At the end it prints the
simulator's prediction beside what the cluster did; with --out it writes
both as results (sim/result.json and live/result.json, as ocluster-sim run
--out writes a result), the scheduler's trace, and the clients' job
counts.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := lf.check(); err != nil {
				return err
			}
			if every <= 0 {
				return fmt.Errorf("--summary-every %v: must be more than 0", every)
			}
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return runAll(ctx, lf, out, metrics, every)
		},
	}
	lf.add(cmd)
	cmd.Flags().StringVar(&out, "out", "", "write the results (sim/result.json, live/result.json), their traces in scenario time (sim/trace, live/trace), the scheduler's own trace, the jobs that differ (jobs.txt) and the clients' counts (clients.json) into this folder")
	cmd.Flags().StringVar(&metrics, "listen-prometheus", "", "serve the scheduler's metrics on this `PORT` (every interface) or HOST:PORT (default: not served)")
	cmd.Flags().DurationVar(&every, "summary-every", 5*time.Second, "time between summary lines")
	return cmd
}

func runAll(ctx context.Context, lf loadFlags, out string, metrics string, every time.Duration) error {
	wl, err := lf.simulate()
	if err != nil {
		return err
	}
	dir := out
	if dir == "" {
		if dir, err = os.MkdirTemp("", "ocluster-stress-all-"); err != nil {
			return err
		}
		defer os.RemoveAll(dir)
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if names := wl.Replayed(); len(names) > 0 {
		fmt.Printf("note: %s submit when their jobs end; live, they submit at the simulated times\n", strings.Join(names, ", "))
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	outcome, err := testbed.Play(ctx, wl, testbed.Options{Speed: lf.speed, Trace: filepath.Join(dir, "trace"),
		Metrics: metrics, Summary: func(line string) { fmt.Println(line) }, SummaryEvery: every, Log: log})
	if err != nil {
		return err
	}
	fmt.Println()
	if err := printComparison(os.Stdout, "simulated", wl.Predicted, "live", outcome.Live); err != nil {
		return err
	}
	fmt.Println()
	if err := printMismatches(os.Stdout, wl, outcome, lf.speed, out); err != nil {
		return err
	}
	if out == "" {
		return writeCounts("", outcome.Counts)
	}
	for name, r := range map[string]*sim.Result{"sim": wl.Predicted, "live": outcome.Live} {
		if err := writeResult(filepath.Join(out, name), r); err != nil {
			return err
		}
	}
	h := sim.TraceHeader(wl.Scenario, wl.Policy, wl.Seed)
	if err := writeTrace(filepath.Join(out, "sim", "trace"), h, wl.Events); err != nil {
		return err
	}
	h.Source = "ocluster-stress"
	if err := writeTrace(filepath.Join(out, "live", "trace"), h, outcome.Trace); err != nil {
		return err
	}
	return writeCounts(filepath.Join(out, "clients.json"), outcome.Counts)
}

// printMismatches says how many live jobs did not do what their simulated
// ones did, with the first few; with out, every one goes to
// out/jobs.txt.
func printMismatches(w io.Writer, wl *testbed.Workload, outcome *testbed.Outcome, speed float64, out string) error {
	pairs, err := testbed.MatchJobs(testbed.Jobs(wl.Events), testbed.Jobs(outcome.Trace))
	if err != nil {
		fmt.Fprintf(w, "The live jobs cannot be matched with the simulated ones: %v\n", err)
		return nil
	}
	tolerance := testbed.RunTimeTolerance(speed)
	diffs := testbed.Compare(pairs, tolerance)
	fmt.Fprintf(w, "%d of %d jobs differ from their simulated run (cached or not, outcome, runs, run time beyond %.3g s)\n", len(diffs), len(pairs), tolerance)
	for i, d := range diffs {
		if i == 5 {
			fmt.Fprintf(w, "  ...\n")
			break
		}
		fmt.Fprintf(w, "  %s\n", d)
	}
	if out == "" {
		return nil
	}
	var b strings.Builder
	for _, d := range diffs {
		fmt.Fprintf(&b, "%s\n", d)
	}
	return os.WriteFile(filepath.Join(out, "jobs.txt"), []byte(b.String()), 0o644)
}

func writeTrace(path string, h trace.Header, events []trace.Event) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w, err := trace.NewWriter(f, h)
	for i := 0; err == nil && i < len(events); i++ {
		err = w.Write(events[i])
	}
	if err == nil {
		err = w.Close()
	}
	return errors.Join(err, f.Close())
}

// writeResult writes DIR/result.json, where ocluster-sim run --out puts
// a run's result (and the Grafana data source looks for one).
func writeResult(dir string, r *sim.Result) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "result.json"), append(data, '\n'), 0o644)
}
