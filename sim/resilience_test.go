package sim

import (
	"bytes"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/ocluster-go/ocluster/trace"
)

func mustLoad(t *testing.T, name, yaml string) *Scenario {
	t.Helper()
	sc, err := LoadScenario(name, []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	return sc
}

// lossScenario keeps two workers busy with ten-minute jobs; lost loses
// worker a's running jobs at 5m.
func lossScenario(t *testing.T, event string) *Scenario {
	t.Helper()
	return mustLoad(t, "loss", `
name: loss
duration: 30m
pools:
  - name: p
    workers:
      - {name: a, capacity: 2, cached: 10m, uncached: 10m, events: [`+event+`]}
      - {name: b, capacity: 2, cached: 10m, uncached: 10m}
    clients:
      - name: c
        arrivals: {process: periodic, first: 1s, every: 1h}
        batch: 8
`)
}

// A job lost with its worker fails under OCluster's policy and is run
// again elsewhere under the default one, ahead of the jobs queued after
// it (OCluster #167).
func TestLostJobsAreRetried(t *testing.T) {
	for _, tc := range []struct {
		policy          string
		failed, retried int
	}{{"ocluster", 2, 0}, {"combined", 0, 2}} {
		t.Run(tc.policy, func(t *testing.T) {
			r, h, events := recordRun(t, lossScenario(t, `{at: 5m, kind: crash}`), tc.policy, 1)
			if r.Failed != tc.failed || r.Retried != tc.retried {
				t.Fatalf("failed %d, retried %d; want %d and %d", r.Failed, r.Retried, tc.failed, tc.retried)
			}
			if r.Finished+r.Failed != 8 {
				t.Fatalf("%d finished and %d failed of 8", r.Finished, r.Failed)
			}
			requeued := 0
			for _, e := range events {
				if e.Outcome == trace.OutcomeRequeued {
					requeued++
				}
			}
			if requeued != tc.retried {
				t.Fatalf("the trace has %d requeued runs, want %d", requeued, tc.retried)
			}
			// Observing the trace gives the run's own numbers back.
			seen, err := Observe(h, events, ObserveOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if seen.Failed != r.Failed || seen.Retried != r.Retried || seen.WaitMeanS != r.WaitMeanS {
				t.Fatalf("observed failed %d retried %d wait %v; ran %d %d %v", seen.Failed, seen.Retried, seen.WaitMeanS, r.Failed, r.Retried, r.WaitMeanS)
			}
		})
	}
}

// A worker that hangs holds its jobs until it goes on, unless a lease
// notices (OCluster #110): under the default policy its running jobs move
// to b within the lease, and nothing fails.
func TestHungWorkerLosesItsLease(t *testing.T) {
	for _, tc := range []struct {
		policy        string
		maxTurnaround float64
	}{
		// a's two jobs freeze from 5m to 2h05m and end at 2h10m.
		{"ocluster", 130 * 60},
		// a is lost by 5m + 2m30s at the latest; b runs the other six,
		// two at a time, by 40m.
		{"combined", 40 * 60},
	} {
		t.Run(tc.policy, func(t *testing.T) {
			sc := lossScenario(t, `{at: 5m, kind: hang, for: 2h}`)
			sc.Drain = Duration(1e9 * 3600)
			r, err := Run(sc, Options{Policy: tc.policy, Seed: 1, Check: true})
			if err != nil {
				t.Fatal(err)
			}
			if r.Failed != 0 || r.Finished != 8 {
				t.Fatalf("failed %d finished %d", r.Failed, r.Finished)
			}
			if r.MakespanS < tc.maxTurnaround-1 || r.MakespanS > tc.maxTurnaround+1 {
				t.Fatalf("makespan %v, want %v", r.MakespanS, tc.maxTurnaround)
			}
		})
	}
}

// The admin's forced pause moves the running jobs at once, under any
// policy, without counting them as lost.
func TestForcePauseMovesRunningJobs(t *testing.T) {
	for _, policy := range []string{"ocluster", "combined"} {
		r, err := Run(lossScenario(t, `{at: 5m, kind: force-pause}`), Options{Policy: policy, Seed: 1, Check: true})
		if err != nil {
			t.Fatal(err)
		}
		if r.Failed != 0 || r.Retried != 2 || r.Finished != 8 {
			t.Fatalf("%s: failed %d retried %d finished %d", policy, r.Failed, r.Retried, r.Finished)
		}
	}
}

func TestHangNeedsALength(t *testing.T) {
	_, err := LoadScenario("x", []byte(`
name: x
duration: 1h
pools:
  - name: p
    workers: [{name: a, capacity: 1, events: [{at: 1m, kind: hang}]}]
    clients: [{name: c, arrivals: {process: periodic, every: 1m}}]
`))
	if err == nil || !strings.Contains(err.Error(), "hang needs a length") {
		t.Fatalf("got %v", err)
	}
}

// The ideal policy runs on every built-in scenario and is deterministic.
func TestIdealRuns(t *testing.T) {
	for _, name := range Builtins() {
		if name == "ocluster-stress" && testing.Short() {
			continue
		}
		a, err := Run(mustOpen(t, name), Options{Policy: "ideal", Seed: 3})
		if err != nil {
			t.Fatal(err)
		}
		b, _ := Run(mustOpen(t, name), Options{Policy: "ideal", Seed: 3})
		if !bytes.Equal(mustJSON(t, a), mustJSON(t, b)) {
			t.Fatalf("%s: two runs differ", name)
		}
		if a.Unfinished != 0 && name != "ocluster-stress" {
			t.Fatalf("%s: %d jobs unfinished", name, a.Unfinished)
		}
	}
}

// A worker's prune reaches the scheduler's cache index under a policy
// that trusts prune reports, and is recorded in the trace.
func TestPruneReachesTheIndex(t *testing.T) {
	for _, tc := range []struct {
		policy string
		rows   int
	}{{"ocluster", 1}, {"combined", 0}} {
		t.Run(tc.policy, func(t *testing.T) {
			sc := mustLoad(t, "prune", `
name: prune
duration: 10m
pools:
  - name: p
    workers: [{name: a, capacity: 1, cached: 8m, uncached: 8m, events: [{at: 5m, kind: prune}]}]
    clients:
      - name: c
        arrivals: {process: periodic, first: 1s, every: 1h}
        hints: {kind: uniform, count: 1}
`)
			// The job runs from 1s to 8m01s: the prune at 5m comes while the
			// run is live.
			_, _, events := recordRun(t, sc, tc.policy, 1)
			s, err := newSimulation(sc, Options{Policy: tc.policy, Seed: 1, Check: true}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.loop(); err != nil {
				t.Fatal(err)
			}
			snap := s.sched.Snapshot()
			rows := 0
			for _, p := range snap.Pools {
				rows += len(p.Cache)
			}
			if rows != tc.rows {
				t.Fatalf("the index holds %d rows after the prune, want %d", rows, tc.rows)
			}
			if !slices.ContainsFunc(events, func(e trace.Event) bool { return e.Kind == trace.Prune && e.Worker == "a" }) {
				t.Fatal("the trace does not record the prune")
			}
		})
	}
}

// A trace recorded at 60 times real speed, replayed with a time scale of
// 60, measures what the same trace recorded in scenario time does.
func TestReplayTimeScale(t *testing.T) {
	_, h, events := recordRun(t, mustOpen(t, "small"), "ocluster", 3)
	fast := make([]trace.Event, len(events))
	for i, e := range events {
		e.T, e.Duration, e.Planned = e.T/60, e.Duration/60, e.Planned/60
		fast[i] = e
	}
	want, err := Replay(h, events, ReplayOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := Replay(h, fast, ReplayOptions{TimeScale: 60})
	if err != nil {
		t.Fatal(err)
	}
	if got.Jobs != want.Jobs || math.Abs(got.WaitMeanS-want.WaitMeanS) > 1e-6*max(1, want.WaitMeanS) ||
		math.Abs(got.TurnaroundMeanS-want.TurnaroundMeanS) > 1e-6*max(1, want.TurnaroundMeanS) {
		t.Fatalf("scaled replay: %d jobs, wait %v, turnaround %v; want %d, %v, %v",
			got.Jobs, got.WaitMeanS, got.TurnaroundMeanS, want.Jobs, want.WaitMeanS, want.TurnaroundMeanS)
	}
	if _, err := Replay(h, events, ReplayOptions{TimeScale: -1}); err == nil {
		t.Fatal("a negative time scale was accepted")
	}
}

// A job handed to the pending pop of a worker that hangs waits with it:
// under OCluster's policy until it goes on, under the default until its
// lease runs out and the job goes to another worker. The core's
// invariants hold throughout.
func TestJobHandedToAHungWorker(t *testing.T) {
	for _, tc := range []struct {
		policy string
		end    float64
	}{
		// a goes on at 2h01m and runs it for a minute: the makespan runs
		// from the submission at 2m to 2h02m.
		{"ocluster", 2 * 3600},
		{"combined", 0}, // anything before a goes on
	} {
		t.Run(tc.policy, func(t *testing.T) {
			sc := mustLoad(t, "hung", `
name: hung
duration: 3h
pools:
  - name: p
    workers:
      - {name: a, capacity: 1, cached: 1m, uncached: 1m, events: [{at: 1m, kind: hang, for: 2h}]}
      - {name: b, capacity: 1, cached: 1m, uncached: 1m, join: 1m30s}
    clients:
      - name: c
        arrivals: {process: periodic, first: 2m, every: 5h}
`)
			r, err := Run(sc, Options{Policy: tc.policy, Seed: 1, Check: true})
			if err != nil {
				t.Fatal(err)
			}
			if r.Finished != 1 {
				t.Fatalf("finished %d of 1", r.Finished)
			}
			if tc.end > 0 && math.Abs(r.MakespanS-tc.end) > 1 {
				t.Fatalf("makespan %v, want %v", r.MakespanS, tc.end)
			}
			if tc.end == 0 && r.MakespanS >= 2*3600 {
				t.Fatalf("makespan %v: the job waited for the hung worker", r.MakespanS)
			}
		})
	}
}
