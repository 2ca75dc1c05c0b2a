package sim

import (
	"math"
	"testing"

	"github.com/ocluster-go/ocluster/trace"
)

// Observing the trace of a simulated run measures what the simulator
// measured: the same jobs, waits, cache hits, utilisation and fairness.
// (Runs cut short by a lost worker are left out: the simulator accounts
// them by their planned time, a recording by when they ended.)
func TestObserveMeasuresWhatTheRunDid(t *testing.T) {
	for _, name := range []string{"small", "ocluster-stress", "hot-hint"} {
		t.Run(name, func(t *testing.T) {
			want, h, events := recordRun(t, mustOpen(t, name), "ocluster", 2)
			got, err := Observe(h, events, ObserveOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if got.Stats != want.Stats {
				t.Errorf("stats:\n got %+v\nwant %+v", got.Stats, want.Stats)
			}
			if len(got.Clients) != len(want.Clients) {
				t.Fatalf("%d clients, want %d", len(got.Clients), len(want.Clients))
			}
			for i := range got.Clients {
				if got.Clients[i].Stats != want.Clients[i].Stats {
					t.Errorf("client %s:\n got %+v\nwant %+v", want.Clients[i].Client, got.Clients[i].Stats, want.Clients[i].Stats)
				}
			}
			near := func(what string, a, b float64) {
				if math.Abs(a-b) > 1e-6*max(1, math.Abs(b)) {
					t.Errorf("%s: got %v, want %v", what, a, b)
				}
			}
			near("utilisation", got.Utilisation, want.Utilisation)
			near("jain", got.Jain, want.Jain)
			near("makespan", got.MakespanS, want.MakespanS)
			near("imbalance", got.Imbalance, want.Imbalance)
			if len(got.Series.T) == 0 || len(got.Series.Queued) != len(got.Series.T) {
				t.Errorf("series of %d samples, %d queue lengths", len(got.Series.T), len(got.Series.Queued))
			}
		})
	}
}

// A live run at --speed 60 is read in the scenario's time.
func TestObserveScalesTime(t *testing.T) {
	h := trace.Header{Format: trace.FormatName, Version: trace.Version, Source: "ocluster-scheduler", Pools: []string{"p"}}
	events := []trace.Event{
		{T: 0, Kind: trace.Register, Pool: "p", Worker: "w", Capacity: 1},
		{T: 1, Kind: trace.Submit, Pool: "p", Job: 1, Client: "c", Hint: "h"},
		{T: 2, Kind: trace.Start, Pool: "p", Job: 1, Worker: "w"},
		{T: 4, Kind: trace.Finish, Pool: "p", Job: 1, Worker: "w", Outcome: trace.OutcomeOK, Duration: 2},
	}
	r, err := Observe(h, events, ObserveOptions{TimeScale: 60})
	if err != nil {
		t.Fatal(err)
	}
	if r.WaitP50S != 60 || r.TurnaroundP50S != 180 || r.Finished != 1 || r.HintedStarts != 1 || r.CacheHitRate != 0 {
		t.Fatalf("got %+v", r.Stats)
	}
	if _, err := Observe(h, events, ObserveOptions{TimeScale: -1}); err == nil {
		t.Fatal("a negative time scale was accepted")
	}
}
