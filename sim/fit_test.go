package sim

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gonum.org/v1/gonum/stat"

	"github.com/ocluster-go/ocluster/trace"
)

// fitTrace runs sc once with its trace recorded and fits a scenario to the
// trace.
func fitTrace(t *testing.T, sc *Scenario, seed uint64) *Fitted {
	t.Helper()
	_, h, events := recordRun(t, sc, "", seed)
	f, err := Fit("fitted", []FitTrace{{Name: sc.Name, Header: h, Events: events}})
	require.NoError(t, err)
	_, err = LoadScenario("again", f.YAML)
	require.NoError(t, err, "the written scenario must load as a file does")
	return f
}

func clientOf(t *testing.T, sc *Scenario, name string) *StreamSpec {
	t.Helper()
	for _, c := range sc.Pools[0].Clients {
		if c.Name == name {
			return &c.Streams[0]
		}
	}
	t.Fatalf("no client %s in the fitted scenario", name)
	return nil
}

func workerOf(t *testing.T, sc *Scenario, name string) *WorkerSpec {
	t.Helper()
	for i := range sc.Pools[0].Workers {
		if w := &sc.Pools[0].Workers[i]; w.Name == name {
			return w
		}
	}
	t.Fatalf("no worker %s in the fitted scenario", name)
	return nil
}

// within says whether got is within rel (a fraction) of want.
func within(t *testing.T, what string, want, got, rel float64) {
	t.Helper()
	assert.InDelta(t, want, got, rel*math.Abs(want), "%s: want %g within %g%%, got %g", what, want, 100*rel, got)
}

// fitParams is two days of a pool whose every part the fit should
// recover: Poisson, diurnal and batched clients; Zipf and hot hints; two
// workers of different speeds with lognormal run times; one that joins
// late; one that fails now and then. The sample sizes (thousands of
// batches and runs) put the sampling error of each estimate at a third or
// less of its tolerance.
const fitParams = `
name: fit-params
duration: 2d
pools:
  - name: p
    workers:
      - name: fast
        capacity: 12
        speed: 2
        cache: 30
        cached: {dist: lognormal, median: 30s, sigma: 0.4}
        uncached: {dist: lognormal, median: 4m, sigma: 0.5}
      - name: slow
        capacity: 12
        cache: 30
        cached: {dist: lognormal, median: 30s, sigma: 0.4}
        uncached: {dist: lognormal, median: 4m, sigma: 0.5}
      - name: late
        capacity: 8
        join: 1h
        cached: {dist: lognormal, median: 30s, sigma: 0.4}
        uncached: {dist: lognormal, median: 4m, sigma: 0.5}
        failures: {kind: crash, mtbf: 1h, downtime: {dist: exponential, mean: 5m}}
    clients:
      - name: steady
        arrivals: {process: poisson, mean: 20s}
        urgent: 0.2
        cancel: {share: 0.1, after: {dist: lognormal, median: 5m, sigma: 0.5}}
        hints: {kind: zipf, count: 40, s: 1.3}
      - name: daily
        arrivals: {process: diurnal, mean: 40s, amplitude: 0.6, peak: 14h}
        hints: {kind: hot, count: 20, share: 0.5}
      - name: bursts
        arrivals: {process: poisson, mean: 2m}
        batch: {dist: uniform, min: 1, max: 9}
`

func TestFitRecoversParameters(t *testing.T) {
	sc := mustLoad(t, "fit-params", fitParams)
	f := fitTrace(t, sc, 1)
	got := f.Scenario

	steady := clientOf(t, got, "steady")
	require.Equal(t, "poisson", steady.Arrivals.Process)
	within(t, "steady mean gap", 20, steady.Arrivals.Mean.Seconds(), 0.05)
	assert.InDelta(t, 0.2, steady.Urgent, 0.02, "urgent share")
	require.NotNil(t, steady.Cancel)
	assert.InDelta(t, 0.1, steady.Cancel.Share, 0.015, "cancel share")
	require.Equal(t, "lognormal", steady.Cancel.After.Kind)
	within(t, "cancel-after median", 300, steady.Cancel.After.Median.Seconds(), 0.05)
	within(t, "cancel-after sigma", 0.5, steady.Cancel.After.Sigma, 0.1)
	require.Equal(t, "zipf", steady.Hints.Kind)
	assert.InDelta(t, 1.3, steady.Hints.S, 0.1, "Zipf exponent")

	daily := clientOf(t, got, "daily")
	require.Equal(t, "diurnal", daily.Arrivals.Process)
	within(t, "daily mean gap", 40, daily.Arrivals.Mean.Seconds(), 0.05)
	assert.InDelta(t, 0.6, daily.Arrivals.Amplitude, 0.06, "amplitude")
	assert.InDelta(t, 14*3600, daily.Arrivals.Peak.Seconds(), 1800, "peak")
	require.Equal(t, "hot", daily.Hints.Kind)
	assert.InDelta(t, 0.5, daily.Hints.Share, 0.03, "hot share")
	assert.Equal(t, 20, daily.Hints.Count)

	bursts := clientOf(t, got, "bursts")
	within(t, "bursts mean gap", 120, bursts.Arrivals.Mean.Seconds(), 0.05)
	within(t, "batch mean", 5, bursts.Batch.MeanValue(), 0.05)
	assert.Equal(t, "none", bursts.Hints.Kind)

	fast, slow, late := workerOf(t, got, "fast"), workerOf(t, got, "slow"), workerOf(t, got, "late")
	assert.Equal(t, 12, fast.Capacity)
	assert.Equal(t, 30, fast.Cache)
	assert.Equal(t, 8, late.Capacity)
	assert.Equal(t, Duration(3600), late.Join)
	within(t, "speed ratio fast/slow", 2, fast.Speed/slow.Speed, 0.05)
	// A worker's effective median is its distribution's over its speed.
	for _, w := range []*WorkerSpec{fast, slow} {
		orig := workerOf(t, sc, w.Name)
		for _, k := range []struct {
			name      string
			got, want *Dist
		}{{"uncached", w.Uncached, orig.Uncached}, {"cached", w.Cached, orig.Cached}} {
			require.Equal(t, "lognormal", k.got.Kind, "%s %s", w.Name, k.name)
			within(t, w.Name+" "+k.name+" median", k.want.Median.Seconds()/orig.Speed, k.got.Median.Seconds()/w.Speed, 0.05)
			within(t, w.Name+" "+k.name+" sigma", k.want.Sigma, k.got.Sigma, 0.1)
		}
	}
	require.NotNil(t, late.Failures)
	assert.Equal(t, "crash", late.Failures.Kind)
	n := failuresOf(t, f, "late")
	// The mean of n exponential gaps has a standard error of mean/√n;
	// allow three.
	within(t, "MTBF", 3600, late.Failures.MTBF.Seconds(), 3/math.Sqrt(n))
	within(t, "downtime mean", 300, late.Failures.Downtime.Mean.Seconds(), 3/math.Sqrt(n))
	assert.Nil(t, fast.Failures)

	for _, c := range f.Choices {
		if strings.Contains(c.Subject, "run time") || strings.Contains(c.Subject, "arrivals") {
			assert.Less(t, c.KS, 0.05, "%s fits its own model's data", c.Line())
		}
	}
}

// failuresOf is how many failures the fit saw of a worker.
func failuresOf(t *testing.T, f *Fitted, worker string) float64 {
	t.Helper()
	for _, c := range f.Choices {
		if strings.HasSuffix(c.Subject, "worker "+worker+" failures") {
			return float64(c.N)
		}
	}
	t.Fatalf("no failures fitted for %s", worker)
	return 0
}

// fitMetrics is a busy pool (about 60% used) with a bounded cache, so
// that waits and hits depend on every fitted part.
const fitMetrics = `
name: fit-metrics
duration: 3d
pools:
  - name: p
    workers:
      - name: w
        count: 3
        capacity: 4
        cache: 8
        cached: {dist: lognormal, median: 1m, sigma: 0.5}
        uncached: {dist: lognormal, median: 5m, sigma: 0.6}
    clients:
      - name: a
        arrivals: {process: poisson, mean: 30s}
        hints: {kind: zipf, count: 60, s: 1.4}
      - name: b
        arrivals: {process: poisson, mean: 5m}
        batch: {dist: uniform, min: 2, max: 8}
        hints: {kind: uniform, count: 10}
`

// TestFittedScenarioPredictsAsTheOriginal fits a week's trace and checks
// that the fitted scenario predicts the original's wait p95, hit rate and
// utilisation within 10%, as means over ten seeds of three days (the
// original's own mean wait p95 over ten one-day runs is off by 5% often
// enough to make the comparison a coin toss).
func TestFittedScenarioPredictsAsTheOriginal(t *testing.T) {
	orig := mustLoad(t, "fit-metrics", fitMetrics)
	// The fit sees a week, so that its own sampling error is small
	// beside the tolerance; the predictions are over three.
	week := *orig
	week.Duration = 7 * 86400
	fitted := fitTrace(t, &week, 100).Scenario
	fitted.Duration, fitted.Sample = orig.Duration, orig.Sample
	ws := fitted.Pools[0].Workers
	require.Len(t, ws, 1, "alike workers w-1..w-3 are one spec, as plan --vary workers needs")
	assert.Equal(t, "w", ws[0].Name)
	assert.Equal(t, 3, ws[0].Count)
	metrics := []string{"wait_p95_s", "cache_hit_rate", "utilisation"}
	mean := func(sc *Scenario) map[string]float64 {
		xs := map[string][]float64{}
		for seed := uint64(1); seed <= 10; seed++ {
			r, err := Run(sc, Options{Seed: seed})
			require.NoError(t, err)
			for _, name := range metrics {
				m, _ := MetricNamed(name)
				xs[name] = append(xs[name], m.Of(r))
			}
		}
		out := map[string]float64{}
		for name, v := range xs {
			out[name] = stat.Mean(v, nil)
		}
		return out
	}
	want, got := mean(orig), mean(fitted)
	for _, name := range metrics {
		t.Logf("%s: original %.4g, fitted %.4g", name, want[name], got[name])
		within(t, name, want[name], got[name], 0.1)
	}
}

func TestFitRefusesWhatItCannotFit(t *testing.T) {
	h := trace.Header{Format: trace.FormatName, Version: trace.Version, Pools: []string{"p"}}
	register := trace.Event{Kind: trace.Register, Pool: "p", Worker: "w", Capacity: 2}
	submit := trace.Event{T: 5, Kind: trace.Submit, Pool: "p", Job: 1, Client: "c"}
	for _, tc := range []struct {
		name   string
		events []trace.Event
		want   string
	}{
		{"no jobs", []trace.Event{register}, "no submit event"},
		{"no worker", []trace.Event{submit}, `pool "p" has jobs but the traces register no worker`},
		{"no run", []trace.Event{register, submit}, `pool "p" has no finished run`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Fit("x", []FitTrace{{Name: "t", Header: h, Events: tc.events}})
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
	_, err := Fit("x", nil)
	assert.ErrorContains(t, err, "no trace")
}

// oneWorker is a scenario of one pool, one worker and the one client
// given.
func oneWorker(t *testing.T, duration, client string) *Scenario {
	t.Helper()
	return mustLoad(t, "one", "duration: "+duration+"\npools: [{name: p, workers: [{name: w, capacity: 4}], clients: ["+client+"]}]\n")
}

func TestFitTakesRegularArrivalsAsPeriodic(t *testing.T) {
	sc := oneWorker(t, "6h", "{name: nightly, arrivals: {process: periodic, first: 10m, every: 30m}, batch: 3}")
	got := clientOf(t, fitTrace(t, sc, 1).Scenario, "nightly")
	assert.Equal(t, &Arrivals{Process: "periodic", First: 600, Every: 1800}, got.Arrivals)
	assert.Equal(t, FixedCount(3), *got.Batch)
}

func TestEmpiricalCount(t *testing.T) {
	sc := oneWorker(t, "1h", "{name: c, arrivals: {process: poisson, mean: 1m}, batch: {dist: empirical, values: [1, 3, 3]}}")
	b := sc.Pools[0].Clients[0].Streams[0].Batch
	assert.InDelta(t, 7.0/3, b.MeanValue(), 1e-12)
	assert.False(t, b.canBeZero())
	rng := rand.New(rand.NewPCG(1, 2))
	for range 20 {
		assert.Contains(t, []int{1, 3}, b.Sample(rng))
	}
	_, err := LoadScenario("bad", []byte(`
duration: 1h
pools: [{name: p, workers: [{name: w, capacity: 1}], clients: [{name: c, arrivals: {process: poisson, mean: 1m}, batch: {dist: empirical, values: [-1]}}]}]
`))
	assert.ErrorContains(t, err, "empirical count")
}

// TestFitOfSeveralTraces fits two traces as one observation: rates over
// their time together, and a worker that leaves at the end of the first
// and registers at the start of the second has not failed.
func TestFitOfSeveralTraces(t *testing.T) {
	h := trace.Header{Format: trace.FormatName, Version: trace.Version, Pools: []string{"p"}}
	day := func(leaves bool) FitTrace {
		evs := []trace.Event{{Kind: trace.Register, Pool: "p", Worker: "w", Capacity: 2}}
		for i := range 10 {
			at := float64(100*(i+1) + 5*i*i) // gaps too uneven to be periodic
			job := uint64(i + 1)
			evs = append(evs,
				trace.Event{T: at, Kind: trace.Submit, Pool: "p", Job: job, Client: "c"},
				trace.Event{T: at, Kind: trace.Start, Pool: "p", Job: job, Worker: "w"},
				trace.Event{T: at + 10 + float64(i), Kind: trace.Finish, Pool: "p", Job: job, Worker: "w", Outcome: trace.OutcomeOK, Duration: 10 + float64(i)})
		}
		if leaves {
			evs = append(evs, trace.Event{T: 1500, Kind: trace.Release, Pool: "p", Worker: "w"})
		}
		return FitTrace{Name: "day", Header: h, Events: evs}
	}
	f, err := Fit("x", []FitTrace{day(true), day(false)})
	require.NoError(t, err)
	c := clientOf(t, f.Scenario, "c")
	// 20 batches over two spans of 1405 s, to the last submission.
	assert.Equal(t, &Arrivals{Process: "poisson", Mean: 140.5}, c.Arrivals)
	assert.Nil(t, workerOf(t, f.Scenario, "w").Failures)
}

// A trace a live run recorded at --speed 60 is fitted in scenario time
// when given that time scale.
func TestFitInScenarioTime(t *testing.T) {
	sc := oneWorker(t, "6h", "{name: nightly, arrivals: {process: periodic, first: 10m, every: 30m}, batch: 3}")
	_, h, events := recordRun(t, sc, "", 1)
	for i := range events {
		events[i].T /= 60 // what a live run at --speed 60 records
		events[i].Duration /= 60
	}
	f, err := Fit("fitted", []FitTrace{{Name: sc.Name, Header: h, Events: events, TimeScale: 60}})
	require.NoError(t, err)
	got := clientOf(t, f.Scenario, "nightly").Arrivals
	assert.Equal(t, "periodic", got.Process)
	assert.InDelta(t, 1800, float64(got.Every), 1e-6)
}
