package results

import (
	"encoding/json"
	"os"
	"sort"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fixtures is the folder testdata/generate.sh fills with the real
// simulator's outputs.
const fixtures = "../testdata/folder"

// rawJSON reads a fixture the plain way, to check the readers against.
func rawJSON(t *testing.T, file string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(fixtures + "/" + file)
	require.NoError(t, err)
	var m map[string]any
	require.NoError(t, json.Unmarshal(b, &m))
	return m
}

func scanFixtures(t *testing.T) *Catalog {
	t.Helper()
	c, err := NewFolder(fixtures).Scan()
	require.NoError(t, err)
	require.Empty(t, c.Problems)
	return c
}

func TestScanNamesEveryRun(t *testing.T) {
	c := scanFixtures(t)
	type row struct{ name, kind, file, policy, sample string }
	var got []row
	for _, r := range c.Runs {
		got = append(got, row{r.Name, r.Kind, r.File, r.Policy, r.Sample})
	}
	assert.Equal(t, []row{
		{"compare/ocluster/seed-1", KindResult, "compare/comparison.json", "ocluster", "1"},
		{"compare/ocluster/seed-2", KindResult, "compare/comparison.json", "ocluster", "2"},
		{"traces/two-pools.trace", KindTrace, "traces/two-pools.trace", "ocluster", "3"},
		{"two-pools", KindResult, "two-pools/result.json", "ocluster", "3"},
	}, got)
	require.Len(t, c.Comparisons, 1)
	assert.Equal(t, "compare", c.Comparisons[0].Name)
}

// TestResultHoldsEveryNumber checks that every number of result.json is
// read, under its JSON name, for the run and for each pool and client.
func TestResultHoldsEveryNumber(t *testing.T) {
	run, err := scanFixtures(t).Run("two-pools")
	require.NoError(t, err)
	r := run.Result
	raw := rawJSON(t, "two-pools/result.json")
	assert.Equal(t, raw["scenario"], r.Scenario)
	assert.Equal(t, raw["policy"], r.Policy)
	assert.EqualValues(t, raw["seed"], r.Seed)
	checkScope(t, raw, r.Scope, "seed")
	for i, p := range raw["pools"].([]any) {
		checkScope(t, p.(map[string]any), r.Pools[i].Scope)
	}
	for i, c := range raw["clients"].([]any) {
		cm := c.(map[string]any)
		assert.Equal(t, cm["client"], r.Clients[i].Client)
		checkScope(t, cm, r.Clients[i].Scope)
		assert.Len(t, r.Clients[i].WaitQuantiles, 101)
		assert.Equal(t, cm["wait_quantiles_s"].([]any)[95], r.Clients[i].WaitQuantiles[95])
	}
	assert.Contains(t, r.All, "utilisation")
	assert.Contains(t, r.Urgent, "wait_p95_s")
}

func checkScope(t *testing.T, raw map[string]any, s Scope, skip ...string) {
	t.Helper()
	want := func(m map[string]any) Numbers {
		n := Numbers{}
		for k, v := range m {
			if x, ok := v.(float64); ok {
				n[k] = x
			}
		}
		for _, k := range skip {
			delete(n, k)
		}
		return n
	}
	assert.Equal(t, want(raw), s.All)
	assert.Equal(t, want(raw["urgent"].(map[string]any)), s.Urgent)
	assert.Equal(t, want(raw["normal"].(map[string]any)), s.Normal)
}

func TestSeries(t *testing.T) {
	run, err := scanFixtures(t).Run("two-pools")
	require.NoError(t, err)
	s := &run.Result.Series
	raw := rawJSON(t, "two-pools/result.json")["series"].(map[string]any)
	floats := func(v any) []float64 {
		var out []float64
		for _, x := range v.([]any) {
			out = append(out, x.(float64))
		}
		return out
	}
	assert.Equal(t, floats(raw["t_s"]), s.T)
	for _, name := range []string{"queued", "running", "capacity", "hinted_starts", "hits"} {
		got, err := s.Get(name)
		require.NoError(t, err)
		assert.Equal(t, floats(raw[name]), got, name)
	}
	util, err := s.Get("utilisation")
	require.NoError(t, err)
	running, capacity := floats(raw["running"]), floats(raw["capacity"])
	for i := range util {
		assert.Equal(t, running[i]/capacity[i], util[i])
	}
	assert.Equal(t, []string{"cache_hit_rate", "capacity", "hinted_starts", "hits", "queued", "running", "utilisation"}, s.SeriesNames())
	_, err = s.Get("nope")
	assert.ErrorContains(t, err, `no series "nope"; there are cache_hit_rate, capacity`)

	cs, err := run.Result.ClientSeries("linux-arm64", "ci")
	require.NoError(t, err)
	q, err := cs.Get("queued")
	require.NoError(t, err)
	assert.Equal(t, floats(raw["clients"].([]any)[2].(map[string]any)["queued"]), q)
}

func TestGroupLookup(t *testing.T) {
	run, err := scanFixtures(t).Run("two-pools")
	require.NoError(t, err)
	r := run.Result
	g, err := r.Group("linux-arm64", "ci")
	require.NoError(t, err)
	assert.Equal(t, "linux-arm64", g.Pool)
	g, err = r.Group("", "nightly")
	require.NoError(t, err)
	assert.Equal(t, "linux-x86_64", g.Pool)
	g, err = r.Group("linux-arm64", "")
	require.NoError(t, err)
	assert.Empty(t, g.Client)

	for _, tc := range []struct{ pool, client, err string }{
		{"", "ci", `client "ci" is in pools linux-x86_64 and linux-arm64: set the pool`},
		{"", "nobody", `no client "nobody"; it has linux-x86_64/ci, linux-x86_64/nightly, linux-arm64/ci`},
		{"linux-arm64", "nightly", `no client "nightly" in pool linux-arm64`},
		{"riscv", "", `no pool "riscv"; it has linux-x86_64, linux-arm64`},
	} {
		_, err := r.Group(tc.pool, tc.client)
		assert.ErrorContains(t, err, tc.err)
	}
}

func TestComparison(t *testing.T) {
	c, err := scanFixtures(t).Comparison("compare")
	require.NoError(t, err)
	raw := rawJSON(t, "compare/comparison.json")
	assert.Equal(t, []string{"ocluster"}, c.Policies)
	assert.Equal(t, []string{"1", "2"}, c.Samples)
	rawMetrics := raw["metrics"].([]any)
	require.Len(t, c.Metrics, len(rawMetrics))
	for i, m := range rawMetrics {
		mm := m.(map[string]any)
		e := mm["policies"].([]any)[0].(map[string]any)
		assert.Equal(t, mm["metric"], c.Metrics[i].Metric)
		assert.Equal(t, e["mean"], c.Metrics[i].Policies[0].Mean)
		assert.Equal(t, e["ci_low"], c.Metrics[i].Policies[0].CILow)
		assert.EqualValues(t, e["n"], c.Metrics[i].Policies[0].N)
	}
	// The runs inside are read as results.
	seed2 := raw["runs"].([]any)[0].([]any)[1].(map[string]any)
	assert.Equal(t, seed2["wait_p95_s"], c.Runs[0][1].All["wait_p95_s"])

	_, err = scanFixtures(t).Comparison("other")
	assert.ErrorContains(t, err, `comparison "other" not found in ../testdata/folder; it holds compare`)
}

// TestTraceSeriesMatchResult checks the trace's series against the same
// run's sampled series: at every sampling instant, the level the trace
// reached by then is what the simulator sampled.
func TestTraceSeriesMatchResult(t *testing.T) {
	c := scanFixtures(t)
	res, err := c.Run("two-pools")
	require.NoError(t, err)
	tr, err := c.Run("traces/two-pools.trace")
	require.NoError(t, err)
	at := func(times, values []float64, t float64) float64 {
		k := sort.Search(len(times), func(i int) bool { return times[i] > t }) - 1
		if k < 0 {
			return 0
		}
		return values[k]
	}
	check := func(metric, pool, client string, want []float64) {
		times, values, err := tr.Trace.Series(metric, pool, client)
		require.NoError(t, err)
		for i, ts := range res.Result.Series.T {
			assert.Equal(t, want[i], at(times, values, ts), "%s %s/%s at %vs", metric, pool, client, ts)
		}
	}
	for _, metric := range []string{"queued", "running", "capacity"} {
		check(metric, "", "", res.Result.Series.Values[metric])
	}
	for _, cs := range res.Result.Series.Clients {
		check("queued", cs.Pool, cs.Client, cs.Values["queued"])
	}
}

func TestTraceWaits(t *testing.T) {
	c := scanFixtures(t)
	tr, err := c.Run("traces/two-pools.trace")
	require.NoError(t, err)
	res, err := c.Run("two-pools")
	require.NoError(t, err)
	g, err := res.Result.Group("linux-arm64", "ci")
	require.NoError(t, err)
	_, waits, err := tr.Trace.Series("wait_s", "linux-arm64", "ci")
	require.NoError(t, err)
	require.Len(t, waits, int(g.All["started"]))
	sort.Float64s(waits)
	assert.InDelta(t, g.All["wait_max_s"], waits[len(waits)-1], 1e-9)

	for _, tc := range []struct{ metric, pool, client, err string }{
		{"capacity", "", "ci", "capacity is measured per pool, not per client: clear the client"},
		{"hits", "", "", `a trace has no metric "hits"; it has queued, running, capacity, utilisation, wait_s`},
		{"queued", "riscv", "", `the trace has no pool "riscv"; it has linux-x86_64, linux-arm64`},
		{"queued", "linux-arm64", "nightly", `no client "nightly" in pool linux-arm64; it has linux-arm64/ci, linux-x86_64/ci, linux-x86_64/nightly`},
	} {
		_, _, err := tr.Trace.Series(tc.metric, tc.pool, tc.client)
		assert.ErrorContains(t, err, tc.err)
	}
}
