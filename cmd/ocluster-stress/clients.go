package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"slices"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/ocluster-go/ocluster/cmd/internal/cli"
	"github.com/ocluster-go/ocluster/cmd/internal/policyflag"
	"github.com/ocluster-go/ocluster/cmd/internal/testbed"
	"github.com/ocluster-go/ocluster/core"
	"github.com/ocluster-go/ocluster/sim"
	"github.com/ocluster-go/ocluster/transport/client"
	"github.com/ocluster-go/ocluster/transport/wire"
)

type loadFlags struct {
	scenario string
	seed     uint64
	speed    float64
	duration time.Duration
	policy   string
}

func (f *loadFlags) add(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.scenario, "scenario", "ocluster-stress", "built-in scenario name or scenario file, as ocluster-sim takes")
	fl.Uint64Var(&f.seed, "seed", 1, "random seed of the workload")
	fl.Float64Var(&f.speed, "speed", 60, "play the scenario this many times faster than real time")
	fl.DurationVar(&f.duration, "duration", 0, "scenario time to play (0: the scenario's own duration)")
	policyflag.AddPolicy(fl, &f.policy, core.DefaultPolicy, "policy of the simulated prediction and of the scheduler that all starts (a variant such as combined+lease=0s sets some of its settings)")
}

func (f *loadFlags) check() error {
	if !(f.speed > 0) {
		return fmt.Errorf("--speed %v: must be more than 0", f.speed)
	}
	return nil
}

// simulate runs the scenario's seed in the simulator: its trace is the
// load to play.
func (f *loadFlags) simulate() (*testbed.Workload, error) {
	v, err := policyflag.ParseVariant(f.policy)
	if err != nil {
		return nil, cli.Usage(fmt.Errorf("--policy: %w", err))
	}
	sc, err := sim.Open(f.scenario)
	if err != nil {
		return nil, err
	}
	return testbed.Simulate(sc, f.seed, f.duration, v.Policy, v.Override)
}

func clientsCommand() *cobra.Command {
	var lf loadFlags
	var adminPath, pool, out string
	cmd := &cobra.Command{
		Use:   "clients --admin admin.cap [--scenario NAME|FILE] [--speed X] [--duration D] [--out FILE]",
		Short: "Submit a scenario's workload to a running scheduler, as its clients",
		Long: `Adds the scenario's clients through the admin capability (replacing any of
the same name), sets their rates, and submits the scenario's jobs at its
times divided by --speed, tailing each job's log and waiting for its result
like ocluster-client. With --out, writes what became of each client's jobs
as JSON.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := lf.check(); err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			wl, err := lf.simulate()
			if err != nil {
				return err
			}
			ref, err := wire.ReadCapFile(adminPath)
			if err != nil {
				return err
			}
			log := slog.New(slog.NewTextHandler(os.Stderr, nil))
			counts, err := playLoad(ctx, ref, wl, pool, lf.speed, log)
			if err != nil {
				return err
			}
			return writeCounts(out, counts)
		},
	}
	lf.add(cmd)
	cmd.Flags().StringVar(&adminPath, "admin", "", "the scheduler's admin.cap")
	cmd.Flags().StringVar(&pool, "pool", "", "submit to this pool instead of the scenario's (which must have one pool)")
	cmd.Flags().StringVar(&out, "out", "", "write each client's job counts to this JSON file")
	cmd.MarkFlagRequired("admin")
	return cmd
}

// playLoad registers the workload's clients with the scheduler the admin
// capability names, sets their rates, and plays the load.
func playLoad(ctx context.Context, admin wire.SturdyRef, wl *testbed.Workload, pool string, speed float64, log *slog.Logger) (map[string]client.LoadCounts, error) {
	events := wl.Events
	if pool != "" {
		pools := map[string]bool{}
		for _, e := range events {
			pools[e.Pool] = true
		}
		if len(pools) > 1 {
			return nil, fmt.Errorf("--pool %s: the scenario %s has %d pools; --pool only renames a single one", pool, wl.Scenario.Name, len(pools))
		}
		events = slices.Clone(events)
		for i := range events {
			events[i].Pool = pool
		}
	}
	subs, closeSubs, err := testbed.SetUpClients(ctx, admin, wl, pool, log)
	if err != nil {
		return nil, err
	}
	defer closeSubs()
	if names := wl.Replayed(); len(names) > 0 {
		log.Info("these clients submit when their jobs end in the simulation; here they submit at the simulated times", "clients", names)
	}
	log.Info("playing the workload", "scenario", wl.Scenario.Name, "jobs", wl.Predicted.Jobs, "clients", len(subs), "speed", speed)
	return client.Load(ctx, client.LoadConfig{Clients: subs, Events: events, Speed: speed}, nil)
}

func writeCounts(path string, counts map[string]client.LoadCounts) error {
	var total client.LoadCounts
	names := make([]string, 0, len(counts))
	for name, c := range counts {
		names = append(names, name)
		total.Submitted += c.Submitted
		total.Finished += c.Finished
		total.Failed += c.Failed
		total.Cancelled += c.Cancelled
		total.Refused += c.Refused
	}
	slices.Sort(names)
	for _, name := range names {
		c := counts[name]
		fmt.Printf("%-12s submitted %d, finished %d, failed %d, cancelled %d, refused %d\n", name, c.Submitted, c.Finished, c.Failed, c.Cancelled, c.Refused)
	}
	if path == "" {
		return nil
	}
	data, err := json.MarshalIndent(struct {
		Total   client.LoadCounts            `json:"total"`
		Clients map[string]client.LoadCounts `json:"clients"`
	}{total, counts}, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(data, '\n'), 0o644)
}
