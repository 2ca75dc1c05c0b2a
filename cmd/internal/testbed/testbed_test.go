package testbed

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ocluster-go/ocluster/core"
	"github.com/ocluster-go/ocluster/sim"
	"github.com/ocluster-go/ocluster/trace"
)

// unambiguous checks that a simulated run leaves a live cluster no
// choice to make differently: at every instant where something happens,
// one thing happens (or one client's batch arrives, or a worker's last
// job ends as it is drained, ...), and no two such instants are closer
// than window scenario seconds, so that a live cluster's delays, short of
// window, cannot change the order of its decisions. Time 0, where the
// testbed registers the workers in the simulator's order, is exempt.
func unambiguous(events []trace.Event, window float64) error {
	type key struct {
		kind trace.Kind
		who  string
	}
	byTime := map[float64][]trace.Event{}
	var times []float64
	for _, e := range events {
		if _, ok := byTime[e.T]; !ok {
			times = append(times, e.T)
		}
		byTime[e.T] = append(byTime[e.T], e)
	}
	var decisions []float64
	for _, t := range times {
		lost := map[string]bool{}
		for _, e := range byTime[t] {
			if e.Kind == trace.Release || e.Kind == trace.Pause {
				lost[e.Worker] = true
			}
		}
		causes := map[key]bool{}
		for _, e := range byTime[t] {
			switch {
			case e.Kind == trace.Start:
				// what a cause starts
			case e.Kind == trace.Finish && (e.Outcome == trace.OutcomeRequeued || e.Outcome == trace.OutcomeFailed) && lost[e.Worker]:
				// what a lost or paused worker loses
			case e.Kind == trace.Submit:
				causes[key{e.Kind, e.Client}] = true
			default:
				causes[key{e.Kind, e.Worker}] = true
			}
		}
		if len(causes) == 0 {
			continue
		}
		decisions = append(decisions, t)
		if t == 0 || len(causes) == 1 {
			continue
		}
		// Pairs one worker's story makes at one instant: drained (its
		// last job ends, it leaves), back from a drain (unpaused, it
		// registers).
		var kinds []trace.Kind
		var who []string
		for k := range causes {
			kinds, who = append(kinds, k.kind), append(who, k.who)
		}
		slices.Sort(kinds)
		pair := len(causes) == 2 && who[0] == who[1] && (slices.Equal(kinds, []trace.Kind{trace.Finish, trace.Release}) ||
			slices.Equal(kinds, []trace.Kind{trace.Pause, trace.Release}) || slices.Equal(kinds, []trace.Kind{trace.Register, trace.Unpause}))
		if !pair {
			return fmt.Errorf("at %v s several things happen at once, which a live cluster may take in another order: %v", t, causes)
		}
	}
	for i := 1; i < len(decisions); i++ {
		if decisions[i]-decisions[i-1] < window {
			return fmt.Errorf("at %v s and %v s things happen within %v s of each other", decisions[i-1], decisions[i], window)
		}
	}
	return nil
}

// A scenario built so that no decision is close to another is played
// live: every job does what it did in the simulator, run by run (on which
// worker, cached or not, how the run ended, how long it took, within the
// noise of the transport), and the workers' crash, dropped connection and
// hang lose or re-queue the same jobs (failed under ocluster, retried
// under combined).
func TestLiveJobsAreTheSimulatedJobs(t *testing.T) {
	const (
		seed  = 39
		speed = 20.0
		// A decision may come up to 50 ms of the wall clock late live.
		window = 0.05 * speed
		// The scenario's run times are 16 s apart or more, so 100 ms of
		// the wall clock still tells which one the worker drew, and
		// leaves room for a machine busy with other tests (a run's end
		// reaches the scheduler through two processes' goroutines).
		runTimeTolerance = 0.1 * speed
	)
	for _, policy := range []string{"ocluster", "combined"} {
		t.Run(policy, func(t *testing.T) {
			t.Parallel()
			sc, err := sim.Open(filepath.Join("testdata", "unambiguous.yaml"))
			require.NoError(t, err)
			wl, err := Simulate(sc, seed, 0, policy, core.Override{})
			require.NoError(t, err)
			require.NoError(t, unambiguous(wl.Events, window), "the scenario is not unambiguous at %gx", speed)

			simulated := Jobs(wl.Events)
			lost, retried := 0, 0
			for _, j := range simulated {
				for _, r := range j.Runs {
					switch r.Outcome {
					case trace.OutcomeFailed:
						lost++
					case trace.OutcomeRequeued:
						retried++
					}
				}
			}
			switch policy {
			case "ocluster":
				require.Positive(t, lost, "the scenario loses no job with its worker: it tests nothing of failures")
			case "combined":
				require.Greater(t, retried, 1, "the scenario re-queues too few jobs")
			}

			log := slog.New(slog.NewTextHandler(io.Discard, nil))
			if testing.Verbose() {
				log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
			defer cancel()
			outcome, err := Play(ctx, wl, Options{Speed: speed, Trace: filepath.Join(t.TempDir(), "trace"), Log: log})
			require.NoError(t, err)

			pairs, err := MatchJobs(simulated, Jobs(outcome.Trace))
			require.NoError(t, err)
			assert.Len(t, pairs, len(simulated))
			for _, m := range Compare(pairs, runTimeTolerance) {
				t.Errorf("%s", m)
			}
			for _, p := range pairs {
				for i := range min(len(p.Simulated.Runs), len(p.Live.Runs)) {
					assert.Equal(t, p.Simulated.Runs[i].Worker, p.Live.Runs[i].Worker, "job %d, run %d", p.Simulated.ID, i+1)
				}
			}
			assert.Equal(t, wl.Predicted.Failed, outcome.Live.Failed, "jobs lost with their worker")
			assert.Equal(t, wl.Predicted.Retried, outcome.Live.Retried, "jobs queued again")
			assert.Equal(t, wl.Predicted.Cancelled, outcome.Live.Cancelled, "jobs cancelled")
			assert.InDelta(t, wl.Predicted.CacheHitRate, outcome.Live.CacheHitRate, 1e-9)
		})
	}
}

// The check itself: a trace with two close or simultaneous decisions is
// refused.
func TestUnambiguousRefusesCloseDecisions(t *testing.T) {
	base := []trace.Event{
		{T: 0, Kind: trace.Register, Pool: "p", Worker: "a"},
		{T: 0, Kind: trace.Register, Pool: "p", Worker: "b"},
		{T: 10, Kind: trace.Submit, Pool: "p", Job: 1, Client: "c"},
		{T: 10, Kind: trace.Start, Pool: "p", Job: 1, Worker: "a"},
		{T: 20, Kind: trace.Pause, Pool: "p", Worker: "a"},
		{T: 20, Kind: trace.Finish, Pool: "p", Job: 1, Worker: "a", Outcome: trace.OutcomeRequeued},
		{T: 20, Kind: trace.Start, Pool: "p", Job: 1, Worker: "b"},
	}
	assert.NoError(t, unambiguous(base, 5))
	assert.ErrorContains(t, unambiguous(base, 15), "within 15 s")
	two := append(slices.Clone(base), trace.Event{T: 10, Kind: trace.Submit, Pool: "p", Job: 2, Client: "d"})
	assert.ErrorContains(t, unambiguous(two, 5), "several things happen at once")
}
