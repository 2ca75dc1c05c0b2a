package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/ocluster-go/ocluster/core"
	"github.com/ocluster-go/ocluster/transport"
	"github.com/ocluster-go/ocluster/transport/schema"
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
	fl.StringVar(&f.policy, "policy", "", "policy of the simulated prediction, and of the scheduler `all` starts (default "+core.DefaultPolicy+")")
}

func (f *loadFlags) check() error {
	if !(f.speed > 0) {
		return fmt.Errorf("--speed %v: must be more than 0", f.speed)
	}
	return nil
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
			wl, err := simulate(lf.scenario, lf.seed, lf.duration, lf.policy)
			if err != nil {
				return err
			}
			ref, err := transport.ReadCapFile(adminPath)
			if err != nil {
				return err
			}
			log := slog.New(slog.NewTextHandler(os.Stderr, nil))
			counts, err := playLoad(ctx, ref, wl, pool, lf.speed, log, func(c map[string]transport.LoadCounts) {})
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
func playLoad(ctx context.Context, admin transport.SturdyRef, wl *workload, pool string, speed float64, log *slog.Logger,
	progress func(map[string]transport.LoadCounts)) (map[string]transport.LoadCounts, error) {
	events := wl.events
	if pool != "" {
		pools := map[string]bool{}
		for _, e := range events {
			pools[e.Pool] = true
		}
		if len(pools) > 1 {
			return nil, fmt.Errorf("--pool %s: the scenario %s has %d pools; --pool only renames a single one", pool, wl.scenario.Name, len(pools))
		}
		events = slices.Clone(events)
		for i := range events {
			events[i].Pool = pool
		}
	}
	conn, err := transport.Connect(ctx, admin, log)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	capAdmin, err := conn.Admin(ctx)
	if err != nil {
		return nil, err
	}
	ac := transport.NewAdminClient(capAdmin)
	defer ac.Release()
	subs := map[string]schema.Submission{}
	for _, name := range transport.LoadClients(events) {
		sub, closeSub, err := addClient(ctx, ac, name, log)
		if err != nil {
			return nil, err
		}
		defer closeSub()
		subs[name] = sub
	}
	for pc, rate := range wl.rates() {
		if _, ok := subs[pc[1]]; !ok {
			continue // no job of it falls within --duration
		}
		p := pc[0]
		if pool != "" {
			p = pool
		}
		pa, err := ac.Pool(ctx, p)
		if err != nil {
			return nil, err
		}
		err = pa.SetRate(ctx, pc[1], rate)
		pa.Release()
		if err != nil {
			return nil, fmt.Errorf("setting the rate of %s: %w", pc[1], err)
		}
	}
	log.Info("playing the workload", "scenario", wl.scenario.Name, "jobs", wl.predicted.Jobs, "clients", len(subs), "speed", speed)
	return transport.Load(ctx, transport.LoadConfig{Clients: subs, Events: events, Speed: speed}, progress)
}

// addClient (re)creates a client and connects with its capability.
func addClient(ctx context.Context, ac *transport.AdminClient, name string, log *slog.Logger) (schema.Submission, func(), error) {
	text, err := ac.AddClient(ctx, name)
	if err != nil && strings.Contains(err.Error(), "already") {
		// A client of an earlier run: its secret is gone with that run.
		if err = ac.RemoveClient(ctx, name); err == nil {
			text, err = ac.AddClient(ctx, name)
		}
	}
	if err != nil {
		return schema.Submission{}, nil, fmt.Errorf("adding client %s: %w", name, err)
	}
	ref, err := transport.ParseSturdyRef(strings.TrimSpace(text))
	if err != nil {
		return schema.Submission{}, nil, err
	}
	conn, err := transport.Connect(ctx, ref, log)
	if err != nil {
		return schema.Submission{}, nil, err
	}
	sub, err := conn.Submission(ctx)
	if err != nil {
		conn.Close()
		return schema.Submission{}, nil, err
	}
	return sub, func() { sub.Release(); conn.Close() }, nil
}

func writeCounts(path string, counts map[string]transport.LoadCounts) error {
	var total transport.LoadCounts
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
		Total   transport.LoadCounts            `json:"total"`
		Clients map[string]transport.LoadCounts `json:"clients"`
	}{total, counts}, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(data, '\n'), 0o644)
}
