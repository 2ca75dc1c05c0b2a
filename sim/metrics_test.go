package sim

import (
	"math"
	"strings"
	"testing"

	"gonum.org/v1/gonum/stat"
)

func load(t *testing.T, src string) *Scenario {
	t.Helper()
	sc, err := LoadScenario("test.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	return sc
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9*math.Max(1, math.Abs(b)) }

// One worker, one slot, four 100 s jobs arriving every 30 s: they start at
// 0, 100, 200, 300, so they wait 0, 70, 140, 210 s.
func TestMetricsOfAQueueWorkedByHand(t *testing.T) {
	sc := load(t, `
duration: 1h
pools:
  - name: p
    workers: [{name: w, capacity: 1, uncached: 100s}]
    clients:
      - name: c
        arrivals: {process: periodic, every: 30s}
        jobs: 4
`)
	r, err := Run(sc, Options{Seed: 1, Check: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name      string
		got, want float64
	}{
		{"jobs", float64(r.Jobs), 4},
		{"finished", float64(r.Finished), 4},
		{"wait mean", r.WaitMeanS, 105},
		{"wait p50 (nearest rank: 2nd of 4)", r.WaitP50S, 70},
		{"wait p95 (4th of 4)", r.WaitP95S, 210},
		{"wait max", r.WaitMaxS, 210},
		{"turnaround mean", r.TurnaroundMeanS, (100 + 170 + 240 + 310) / 4.0},
		{"slowdown mean", r.SlowdownMean, (1 + 1.7 + 2.4 + 3.1) / 4},
		{"makespan", r.MakespanS, 400},
		{"utilisation", r.Utilisation, 1},
		{"hinted starts", float64(r.HintedStarts), 0},
	} {
		if !near(c.got, c.want) {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
}

// Two clients share one slot: A (rate 1) and B (rate 3) each submit four
// 10 s jobs at t=0. VirtualClock orders them A1 (the worker was idle), B1,
// B2, B3, A2, B4, A3, A4. While both wait (t=10..50), B gets 40 s of
// starts and A 10 s; their entitlements accrue per contended start as
// work x rate / 4: 12.5 s for A, 37.5 s for B. So x = 0.8 and 16/15, and
// Jain's index is (0.8 + 16/15)^2 / (2 (0.64 + 256/225)) = 0.98.
func TestJainWorkedByHand(t *testing.T) {
	sc := load(t, `
duration: 1h
window: 1000s
pools:
  - name: p
    workers: [{name: w, capacity: 1, uncached: 10s}]
    clients:
      - {name: a, rate: 1, arrivals: {process: periodic, every: 1h}, batch: 4}
      - {name: b, rate: 3, arrivals: {process: periodic, every: 1h}, batch: 4}
`)
	r, err := Run(sc, Options{Seed: 1, Check: true})
	if err != nil {
		t.Fatal(err)
	}
	if r.JainWindows != 1 || !near(r.Jain, 0.98) {
		t.Fatalf("Jain = %v over %d windows, want 0.98 over 1", r.Jain, r.JainWindows)
	}
	// B1 starts at 10 s: 10 s after submission.
	for _, c := range r.Clients {
		if c.Client == "b" && !near(c.WaitP50S, 20) {
			t.Errorf("b's median wait = %v, want 20 (waits 10, 20, 30, 50)", c.WaitP50S)
		}
	}
}

func TestJainExtremes(t *testing.T) {
	// Everything contended went to client 0, which was entitled to half.
	f := &poolFairness{rates: []float64{1, 1}, received: [][]float64{{10, 0}}, entitled: [][]float64{{5, 5}}}
	if j, n := jain(f); n != 1 || !near(j, 0.5) {
		t.Fatalf("one client taking all: Jain = %v over %d, want 0.5", j, n)
	}
	f = &poolFairness{rates: []float64{1, 2}, received: [][]float64{{5, 10}}, entitled: [][]float64{{5, 10}}}
	if j, _ := jain(f); !near(j, 1) {
		t.Fatalf("shares by rate: Jain = %v, want 1", j)
	}
	if j, n := jain(&poolFairness{rates: []float64{1}}); j != 1 || n != 0 {
		t.Fatalf("no contention: Jain = %v over %d, want 1 over 0", j, n)
	}
}

func TestSummaryPercentilesAreNearestRank(t *testing.T) {
	xs := []float64{10, 1, 9, 2, 8, 3, 7, 4, 6, 5} // 1..10
	s := summarise(xs)
	for _, c := range []struct {
		name      string
		got, want float64
	}{{"mean", s.mean, 5.5}, {"p50", s.p50, 5}, {"p90", s.p90, 9}, {"p95", s.p95, 10}, {"p99", s.p99, 10}, {"max", s.max, 10}} {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	if (summarise(nil) != summary{}) {
		t.Error("no data should summarise to zeros")
	}
	// The same as gonum's empirical quantile, for many sizes and levels.
	for n := 1; n <= 60; n++ {
		xs := make([]float64, n)
		for i := range xs {
			xs[i] = float64(i)
		}
		for p := 0.01; p <= 1; p += 0.01 {
			if got, want := nearestRank(xs, p), stat.Quantile(p, stat.Empirical, xs, nil); got != want {
				t.Fatalf("n=%d p=%v: %v, gonum says %v", n, p, got, want)
			}
		}
	}
}

func TestEstimateInterval(t *testing.T) {
	e := estimate([]float64{1, 2, 3})
	// mean 2, sd 1, t(0.975, 2 df) = 4.302653, half width 4.302653/sqrt(3)
	half := 4.302652729911275 / math.Sqrt(3)
	if !near(e.Mean, 2) || !near(e.CILow, 2-half) || !near(e.CIHigh, 2+half) || e.N != 3 {
		t.Fatalf("estimate = %+v", e)
	}
	if e := estimate([]float64{7}); e.CILow != 7 || e.CIHigh != 7 {
		t.Fatalf("one sample: %+v", e)
	}
}

func TestCompareGivesVerdictsOnlyWhenTheIntervalExcludesZero(t *testing.T) {
	mk := func(waits ...float64) []*Result {
		var rs []*Result
		for _, w := range waits {
			rs = append(rs, &Result{Stats: Stats{WaitP95S: w}})
		}
		return rs
	}
	c, err := Compare("s", []string{"base", "fast", "noisy"}, []string{"1", "2", "3"},
		[][]*Result{mk(10, 20, 30), mk(5, 14, 26), mk(12, 15, 35)})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range c.Metrics {
		if m.Metric != "wait_p95_s" {
			continue
		}
		if d := m.Differences[0]; d.Verdict != "better" || !near(d.Diff.Mean, -5) {
			t.Errorf("fast vs base: %+v", d)
		}
		if d := m.Differences[1]; d.Verdict != "" {
			t.Errorf("noisy vs base got a verdict: %+v", d)
		}
	}
}

func TestScenarioErrorsNameTheLineAndField(t *testing.T) {
	base := `duration: 1h
pools:
  - name: p
    workers:
      - name: w
        capacity: %CAP%
    clients:
      - name: c
        arrivals: {process: %PROC%, mean: 10s}
        hints: {kind: %HINT%, count: 5}
`
	for _, c := range []struct {
		name, cap, proc, hint, want string
	}{
		{"capacity", "0", "poisson", "uniform", "test.yaml:6: pools[0].workers[0].capacity: must be from 1 to"},
		{"process", "1", "sometimes", "uniform", `test.yaml:9: pools[0].clients[0].arrivals.process: "sometimes" is not one of`},
		{"hint kind", "1", "poisson", "warm", `test.yaml:10: pools[0].clients[0].hints.kind: "warm" is not one of`},
		{"zipf exponent", "1", "poisson", "zipf", "test.yaml:10: pools[0].clients[0].hints.s: the Zipf exponent must be more than 1"},
		{"unknown field", "1\n        colour: red", "poisson", "uniform", `test.yaml:7: pools[0].workers[0]: unknown field "colour": the fields here are name, count, capacity, speed,`},
		{"misspelt field", "1\n        capacty: 2", "poisson", "uniform", `test.yaml:7: pools[0].workers[0]: unknown field "capacty": did you mean "capacity"?`},
		{"workers past the limit", "1\n        count: 10000000", "poisson", "uniform", "pools[0].workers[0].count: must be from 1 to 1000000"},
		{"capacity past the limit", "4294967297", "poisson", "uniform", "pools[0].workers[0].capacity: must be from 1 to 1048576"},
	} {
		t.Run(c.name, func(t *testing.T) {
			src := strings.NewReplacer("%CAP%", c.cap, "%PROC%", c.proc, "%HINT%", c.hint).Replace(base)
			_, err := LoadScenario("test.yaml", []byte(src))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want an error containing %q", err, c.want)
			}
		})
	}
	for _, c := range []struct{ src, want string }{
		{"", "the file is empty"},
		{"duraton: 1h\npools: []", `test.yaml:1: unknown field "duraton": did you mean "duration"?`},
		{"duration: 1h\npools:\n  - name: p\n    workers: [{name: w, capacity: 1}]\n    clients: [{name: c, arrivals: {process: poisson, mean: 1s}, bacth: 2}]", `test.yaml:5: pools[0].clients[0]: unknown field "bacth": did you mean "batch"?`},
		{"duration: 1h\npools:\n  - name: p\n    workers: [{name: w, capacity: 1}]\n    clients: [{name: c, arrivals: {process: poisson, maen: 1s}}]", `test.yaml:5: pools[0].clients[0].arrivals: unknown field "maen": did you mean "mean"?`},
		{"duration: soon\npools: []", `line 1: duration "soon"`},
		{"duration: 0s\npools: []", "duration: must be more than 0"},
		{"duration: 1h\npools: []", "pools: must list at least one pool"},
		{"duration: 1h\npools:\n  - name: p\n    workers: []\n    clients: [{name: c, arrivals: {process: head, space: nope}}]", `hint space "nope" is not defined`},
		{"duration: 1h\npools:\n  - name: p\n    workers: [{name: w, capacity: 1}]\n    clients: [{name: c, arrivals: {process: closed}, batch: 0}]", "a closed stream with no pause needs batches of at least one job"},
		{"duration: 1h\npools:\n  - name: p\n    workers: [{name: w, capacity: 1, cached: {dist: lognormal, median: 0s}}]\n    clients: [{name: c, arrivals: {process: poisson, mean: 1s}}]", "median must be more than 0"},
		{"duration: 100000000d\npools: []", "duration: must be at most 10 years"},
		{"duration: 1h\npools:\n  - name: p\n    workers: [{name: w, capacity: 1}]\n    clients: [{name: c, arrivals: {process: poisson, mean: 1s}, hints: {kind: zipf, s: 1.1, count: 2000000000}}]", "hints.count: must be from 1 to 10000000"},
		{"duration: 1h\npools:\n  - name: p\n    workers: [{name: w, capacity: 1}]\n    clients: [{name: c, arrivals: {process: poisson, mean: 1s}, batch: 2000000000}]", "batch: must hold at most 1000000 jobs"},
		{"duration: 3650d\npools:\n  - name: p\n    workers: [{name: w, capacity: 1}]\n    clients: [{name: c, arrivals: {process: periodic, every: 1s}, batch: 10}]", "the streams would submit about 3.15e+09 jobs"},
	} {
		if _, err := LoadScenario("test.yaml", []byte(c.src)); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: got %v, want an error containing %q", c.src, err, c.want)
		}
	}
}

func TestBuiltinsLoadAndDescribeThemselves(t *testing.T) {
	names := Builtins()
	for _, want := range []string{"ocluster-stress", "small", "failures", "hot-hint"} {
		sc, err := Open(want)
		if err != nil {
			t.Fatalf("built-in %s: %v (have %v)", want, err, names)
		}
		if sc.Description == "" {
			t.Errorf("%s has no description", want)
		}
	}
	if _, err := Open("no-such-scenario"); err == nil || !strings.Contains(err.Error(), "neither a built-in scenario") {
		t.Fatalf("unknown scenario: %v", err)
	}
}
