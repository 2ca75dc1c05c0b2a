package testbed

import (
	"bytes"
	"fmt"
	"slices"
	"time"

	"github.com/ocluster-go/ocluster/core"
	"github.com/ocluster-go/ocluster/sim"
	"github.com/ocluster-go/ocluster/trace"
)

// Workload is a scenario's load for a live cluster, with the simulator's
// prediction of the same run.
type Workload struct {
	Scenario *sim.Scenario
	Seed     uint64
	// Policy and Override are the simulated run's, and the live
	// scheduler's.
	Policy   string
	Override core.Override
	// Events is the simulated run's trace: its submissions (with what the
	// simulator drew for each job) and cancellations are played.
	Events    []trace.Event
	Predicted *sim.Result
}

// Simulate runs the scenario (cut to duration when it is set) in the
// simulator, recording its trace: the live clients play the trace's
// submissions and cancellations at the same scenario times, so that the
// live run and the simulated one see the same jobs.
func Simulate(sc *sim.Scenario, seed uint64, duration time.Duration, policy string, override core.Override) (*Workload, error) {
	if duration < 0 {
		return nil, fmt.Errorf("--duration %v: must be 0 (the scenario's own) or more", duration)
	}
	if duration > 0 {
		sc.Duration = sim.Duration(duration.Seconds())
	}
	var buf bytes.Buffer
	w, err := trace.NewWriter(&buf, sim.TraceHeader(sc, policy, seed))
	if err != nil {
		return nil, err
	}
	res, err := sim.Run(sc, sim.Options{Policy: policy, Override: override, Seed: seed, Trace: w})
	if err != nil {
		return nil, fmt.Errorf("simulating %s: %w", sc.Name, err)
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	_, events, err := trace.ReadAll(&buf)
	if err != nil {
		return nil, err
	}
	return &Workload{Scenario: sc, Seed: seed, Policy: res.Policy, Override: override, Events: events, Predicted: res}, nil
}

// Rates are the scenario's client rates, by pool and client.
func (w *Workload) Rates() map[[2]string]float64 {
	out := map[[2]string]float64{}
	for _, p := range w.Scenario.Pools {
		for _, c := range p.Clients {
			if c.Rate > 0 {
				out[[2]string{p.Name, c.Name}] = c.Rate
			}
		}
	}
	return out
}

// Replayed names the clients whose arrivals depend on when their jobs
// end (closed-loop streams, streams that skip arrivals while busy): live,
// they submit at the times the simulation had, whatever the cluster does.
func (w *Workload) Replayed() []string {
	var out []string
	for _, p := range w.Scenario.Pools {
		for _, c := range p.Clients {
			for _, st := range c.Streams {
				if (st.Arrivals.Process == "closed" || st.Arrivals.SkipBusy) && !slices.Contains(out, c.Name) {
					out = append(out, c.Name)
				}
			}
		}
	}
	return out
}
