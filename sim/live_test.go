package sim

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ocluster-go/ocluster/trace"
)

// recorded runs a scenario with its trace recorded.
func recorded(t *testing.T, sc *Scenario, policy string, seed uint64) []trace.Event {
	t.Helper()
	var buf bytes.Buffer
	w, err := trace.NewWriter(&buf, TraceHeader(sc, policy, seed))
	require.NoError(t, err)
	_, err = Run(sc, Options{Policy: policy, Seed: seed, Trace: w})
	require.NoError(t, err)
	require.NoError(t, w.Flush())
	_, events, err := trace.ReadAll(&buf)
	require.NoError(t, err)
	return events
}

// Every run that ended on its own took what WorkerModel.RunTime says, to
// the bit: a live worker that computes its run times so plays the
// simulated jobs.
func TestRunTimeIsTheSimulatorsOwn(t *testing.T) {
	sc, err := LoadScenario("two-streams", []byte(`
duration: 3h
pools:
  - name: p
    workers:
      - {name: fast, capacity: 2, speed: 2, cache: 3,
         cached: {dist: lognormal, median: 30s, sigma: 0.5}, uncached: {dist: exponential, mean: 5m}}
      - {name: plain, count: 2, capacity: 1}
    clients:
      - name: c
        streams:
          - {arrivals: {process: poisson, mean: 2m}, hints: {kind: uniform, count: 6}}
          - {arrivals: {process: poisson, mean: 5m}, hints: {kind: uniform, count: 6},
             durations: {cached: {dist: fixed, value: 20s}, uncached: {dist: uniform, min: 1m, max: 9m}}}
`))
	require.NoError(t, err)
	events := recorded(t, sc, "ocluster", 4)
	type submitted struct {
		client string
		stream int
		size   float64
	}
	jobs := map[uint64]submitted{}
	cached := map[uint64]bool{}
	models := map[string]*WorkerModel{}
	streams := map[int]int{}
	checked := 0
	for _, e := range events {
		switch e.Kind {
		case trace.Submit:
			jobs[e.Job] = submitted{e.Client, e.Stream, e.Size}
			streams[e.Stream]++
		case trace.Start:
			cached[e.Job] = e.Cached
		case trace.Finish:
			if e.Outcome != trace.OutcomeOK {
				continue
			}
			m := models[e.Worker]
			if m == nil {
				m, err = sc.WorkerModel("p", e.Worker)
				require.NoError(t, err)
				models[e.Worker] = m
			}
			j := jobs[e.Job]
			d, err := m.RunTime(j.client, j.stream, j.size, cached[e.Job])
			require.NoError(t, err)
			assert.Equal(t, e.Duration, d, "job %d on %s", e.Job, e.Worker)
			checked++
		}
	}
	assert.Greater(t, checked, 100)
	assert.Greater(t, streams[1], 10, "jobs of the second stream")
	assert.Len(t, models, 3)
}

func TestWorkerModelRefusesWhatTheScenarioLacks(t *testing.T) {
	sc := mustOpen(t, "small")
	_, err := sc.WorkerModel("nowhere", "worker-1")
	assert.ErrorContains(t, err, `no pool "nowhere"`)
	_, err = sc.WorkerModel("linux-x86_64", "worker-9")
	assert.ErrorContains(t, err, `no worker "worker-9"`)
	m, err := sc.WorkerModel("linux-x86_64", "worker-2")
	require.NoError(t, err)
	_, err = m.RunTime("ci", 1, 0.5, false)
	assert.ErrorContains(t, err, "there is no stream 1")
	_, err = m.RunTime("nobody", 0, 0.5, false)
	assert.ErrorContains(t, err, `no client "nobody"`)
	_, err = m.RunTime("ci", 0, 1.5, false)
	assert.ErrorContains(t, err, "must be in [0, 1)")
}

// The plan holds the worker's join, its events and its random failures
// where the simulator had them: every failure that found the worker
// connected released it at the planned instant, and it came back when the
// downtime was over.
func TestWorkerPlanIsTheSimulatorsOwn(t *testing.T) {
	sc := mustOpen(t, "failures")
	const seed = 9
	events := recorded(t, sc, "combined", seed)
	var end float64
	releases := map[string][]float64{}
	registers := map[string][]float64{}
	for _, e := range events {
		end = e.T
		switch e.Kind {
		case trace.Release:
			releases[e.Worker] = append(releases[e.Worker], e.T)
		case trace.Register:
			registers[e.Worker] = append(registers[e.Worker], e.T)
		}
	}
	matched := 0
	for _, name := range []string{"flaky-1", "flaky-2", "flaky-3"} {
		m, err := sc.WorkerModel("linux-x86_64", name)
		require.NoError(t, err)
		var failures []WorkerAction
		for a := range m.WorkerPlan(seed) {
			if a.At > end {
				break
			}
			if a.Failure {
				assert.Equal(t, "disconnect", a.Kind)
				failures = append(failures, a)
			} else {
				assert.Equal(t, WorkerAction{Kind: "join"}, a)
			}
		}
		// A failure while disconnected does nothing, so the releases are
		// a subset of the planned failures, and each is followed by a
		// registration when its downtime is over.
		for _, f := range failures {
			for i, r := range releases[name] {
				if r == f.At {
					matched++
					if f.At+f.For <= end {
						assert.Contains(t, registers[name], f.At+f.For, "%s back after the failure at %v", name, f.At)
					}
					releases[name] = append(releases[name][:i], releases[name][i+1:]...)
					break
				}
			}
		}
		assert.Empty(t, releases[name], "%s released when no failure was planned", name)
	}
	assert.GreaterOrEqual(t, matched, 2)
	alpha, err := sc.WorkerModel("linux-x86_64", "alpha")
	require.NoError(t, err)
	var plan []WorkerAction
	for a := range alpha.WorkerPlan(seed) {
		plan = append(plan, a)
	}
	assert.Equal(t, []WorkerAction{{At: 0, Kind: "join"}, {At: 3600, Kind: "disconnect", For: 600}, {At: 10800, Kind: "disconnect", For: 300}}, plan)
}
