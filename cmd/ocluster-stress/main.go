// Command ocluster-stress is the live testbed: synthetic workers and load
// clients that use the real transport, so a cluster can be tried and
// loaded without Docker, and a live run compared with its simulation.
package main

import (
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"

	"github.com/ocluster-go/ocluster/cmd/internal/cli"
	"github.com/ocluster-go/ocluster/runners"
	"github.com/ocluster-go/ocluster/runners/synthetic"
	"github.com/ocluster-go/ocluster/transport/wire"
	"github.com/ocluster-go/ocluster/transport/worker"
)

func main() {
	root := &cobra.Command{
		Use:           "ocluster-stress",
		Short:         "Synthetic workers and load for an ocluster scheduler",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(workerCommand(), clientsCommand(), allCommand(), fidelityCommand(), compareCommand())
	cli.Execute(root)
}

func workerCommand() *cobra.Command {
	var capPath, name, stateDir string
	var capacity int
	var cached, uncached, retry time.Duration
	var speed float64
	var verbose bool
	cmd := &cobra.Command{
		Use:   "worker -c pool-NAME.cap --name NAME --state-dir DIR [--capacity N] [--speed X]",
		Short: "Run a worker whose jobs only sleep: cached ones 15 s, others 15 min, divided by --speed",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ref, err := wire.ReadCapFile(capPath)
			if err != nil {
				return err
			}
			if speed <= 0 {
				return fmt.Errorf("--speed %v: must be more than 0", speed)
			}
			level := slog.LevelInfo
			if verbose {
				level = slog.LevelDebug
			}
			log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
			runner := &synthetic.Runner{RunTime: synthetic.Fixed(cached, uncached, speed)}
			reg := prometheus.NewRegistry()
			reg.MustRegister(runner.Collector("ocluster_worker_cache"))
			agent, err := worker.New(worker.Config{Ref: ref, Name: name, Capacity: capacity, StateDir: stateDir, RetryDelay: retry,
				Runners: map[string]runners.Runner{"": runner}, Registry: reg, Logger: log})
			if err != nil {
				return err
			}
			return cli.UntilSignalled(agent.Run)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&capPath, "connect", "c", "", "the pool's .cap file (pool-<name>.cap)")
	f.StringVar(&name, "name", "", "the worker's name, unique in the pool")
	f.StringVar(&stateDir, "state-dir", "", "folder for the worker's job logs")
	f.IntVar(&capacity, "capacity", 10, "jobs run at once")
	f.DurationVar(&cached, "cached", 15*time.Second, "run time of a job whose hint this worker has seen")
	f.DurationVar(&uncached, "uncached", 15*time.Minute, "run time of any other job")
	f.Float64Var(&speed, "speed", 60, "divide run times by this (OCluster's testbed runs 60x)")
	f.DurationVar(&retry, "retry-delay", 10*time.Second, "least time between two attempts to reach the scheduler")
	f.BoolVarP(&verbose, "verbose", "v", false, "log more")
	for _, required := range []string{"connect", "name", "state-dir"} {
		cmd.MarkFlagRequired(required)
	}
	return cmd
}
