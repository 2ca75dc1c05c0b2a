package main

import (
	"bytes"
	"fmt"
	"time"

	"github.com/ocluster-go/ocluster/sim"
	"github.com/ocluster-go/ocluster/trace"
)

// workload is a scenario's load for a live cluster, with the simulator's
// prediction of the same run.
type workload struct {
	scenario  *sim.Scenario
	events    []trace.Event // the simulated run's trace: its submits and cancels are played
	predicted *sim.Result
}

// simulate runs the scenario (cut to duration when it is set) in the
// simulator, recording its trace: the live clients play the trace's
// submissions and cancellations at the same scenario times, so that the
// live run and the simulated one see the same jobs. Arrivals that depend
// on the cluster (a closed-loop client's next batch) come at the times the
// simulation had them.
func simulate(scenario string, seed uint64, duration time.Duration, policy string) (*workload, error) {
	sc, err := sim.Open(scenario)
	if err != nil {
		return nil, err
	}
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
	res, err := sim.Run(sc, sim.Options{Policy: policy, Seed: seed, Trace: w})
	if err != nil {
		return nil, fmt.Errorf("simulating %s: %w", sc.Name, err)
	}
	if err := w.Flush(); err != nil {
		return nil, err
	}
	_, events, err := trace.ReadAll(&buf)
	if err != nil {
		return nil, err
	}
	return &workload{scenario: sc, events: events, predicted: res}, nil
}

// rates are the scenario's client rates, by pool and client.
func (w *workload) rates() map[[2]string]float64 {
	out := map[[2]string]float64{}
	for _, p := range w.scenario.Pools {
		for _, c := range p.Clients {
			if c.Rate > 0 {
				out[[2]string{p.Name, c.Name}] = c.Rate
			}
		}
	}
	return out
}
