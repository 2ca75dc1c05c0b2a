package source

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/backend"
	"github.com/grafana/grafana-plugin-sdk-go/data"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fixtures is the folder testdata/generate.sh fills with the real
// simulator's outputs.
const fixtures = "../testdata/folder"

func newSource(t *testing.T, path string) *DataSource {
	t.Helper()
	settings, err := json.Marshal(Settings{Path: path})
	require.NoError(t, err)
	inst, err := NewDataSource(context.Background(), backend.DataSourceInstanceSettings{JSONData: settings})
	require.NoError(t, err)
	return inst.(*DataSource)
}

func query(t *testing.T, d *DataSource, queryType string, q Query) backend.DataResponse {
	t.Helper()
	b, err := json.Marshal(q)
	require.NoError(t, err)
	resp, err := d.QueryData(context.Background(), &backend.QueryDataRequest{
		Queries: []backend.DataQuery{{RefID: "A", QueryType: queryType, JSON: b}},
	})
	require.NoError(t, err)
	return resp.Responses["A"]
}

func frames(t *testing.T, d *DataSource, queryType string, q Query) data.Frames {
	t.Helper()
	r := query(t, d, queryType, q)
	require.NoError(t, r.Error)
	return r.Frames
}

// raw reads a fixture the plain way, to check the frames against.
func raw(t *testing.T, file string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(fixtures, file))
	require.NoError(t, err)
	var m map[string]any
	require.NoError(t, json.Unmarshal(b, &m))
	return m
}

func column[T any](t *testing.T, f *data.Frame, name string) []T {
	t.Helper()
	field, _ := f.FieldByName(name)
	require.NotNil(t, field, "field %s of %s", name, f.Name)
	out := make([]T, field.Len())
	for i := range out {
		v, ok := field.At(i).(T)
		require.True(t, ok, "field %s holds %T", name, field.At(i))
		out[i] = v
	}
	return out
}

func floats(v any) []float64 {
	var out []float64
	for _, x := range v.([]any) {
		out = append(out, x.(float64))
	}
	return out
}

func TestRuns(t *testing.T) {
	d := newSource(t, fixtures)
	f := frames(t, d, "runs", Query{})[0]
	assert.Equal(t, []string{"compare/ocluster/seed-1", "compare/ocluster/seed-2", "traces/two-pools.trace", "two-pools", "compare"}, column[string](t, f, "run"))
	assert.Equal(t, []string{"result", "result", "trace", "result", "comparison"}, column[string](t, f, "kind"))
	assert.Equal(t, []string{"1", "2", "3", "3", "1,2"}, column[string](t, f, "sample"))

	f = frames(t, d, "runs", Query{Kind: "trace"})[0]
	assert.Equal(t, []string{"traces/two-pools.trace"}, column[string](t, f, "run"))
	f = frames(t, d, "runs", Query{Policy: "fifo"})[0]
	assert.Zero(t, f.Rows())
	assert.EqualError(t, query(t, d, "runs", Query{Kind: "csv"}).Error, `unknown kind "csv": choose one of result, trace, comparison`)
}

func TestStats(t *testing.T) {
	d := newSource(t, fixtures)
	r := raw(t, "two-pools/result.json")
	clients := r["clients"].([]any)
	for _, tc := range []struct {
		q    Query
		want any
	}{
		{Query{Run: "two-pools", Metric: "wait_p95_s"}, r["wait_p95_s"]},
		{Query{Run: "two-pools", Metric: "utilisation"}, r["utilisation"]},
		{Query{Run: "two-pools", Metric: "wait_p99_s", Priority: "urgent"}, r["urgent"].(map[string]any)["wait_p99_s"]},
		{Query{Run: "two-pools", Metric: "jain", Pool: "linux-x86_64"}, r["pools"].([]any)[0].(map[string]any)["jain"]},
		{Query{Run: "two-pools", Metric: "cache_hit_rate", Pool: "linux-arm64", Client: "ci"}, clients[2].(map[string]any)["cache_hit_rate"]},
		{Query{Run: "two-pools", Metric: "jobs", Client: "nightly", Priority: "normal"}, clients[1].(map[string]any)["normal"].(map[string]any)["jobs"]},
	} {
		f := frames(t, d, "stats", tc.q)[0]
		assert.Equal(t, []float64{tc.want.(float64)}, column[float64](t, f, tc.q.Metric), "%+v", tc.q)
		assert.Equal(t, []string{"two-pools"}, column[string](t, f, "run"))
	}
	f := frames(t, d, "stats", Query{Metric: "wait_p95_s"})[0]
	assert.Equal(t, "s", f.Fields[4].Config.Unit)
	assert.Equal(t, []string{"compare/ocluster/seed-1", "compare/ocluster/seed-2", "two-pools"}, column[string](t, f, "run"))
	seed2 := raw(t, "compare/comparison.json")["runs"].([]any)[0].([]any)[1].(map[string]any)
	assert.Equal(t, seed2["wait_p95_s"], column[float64](t, f, "wait_p95_s")[1])
}

func TestSeries(t *testing.T) {
	d := newSource(t, fixtures)
	series := raw(t, "two-pools/result.json")["series"].(map[string]any)
	f := frames(t, d, "series", Query{Run: "two-pools", Metric: "queued"})[0]
	times := column[time.Time](t, f, "time")
	for i, s := range floats(series["t_s"]) {
		assert.Equal(t, time.Unix(int64(s), 0).UTC(), times[i])
	}
	assert.Equal(t, floats(series["queued"]), column[float64](t, f, "queued"))
	assert.Equal(t, data.Labels{"run": "two-pools"}, f.Fields[1].Labels)

	f = frames(t, d, "series", Query{Run: "two-pools", Metric: "queued", Pool: "linux-arm64", Client: "ci"})[0]
	assert.Equal(t, floats(series["clients"].([]any)[2].(map[string]any)["queued"]), column[float64](t, f, "queued"))

	// A pool's queue is the sum of its clients'.
	f = frames(t, d, "series", Query{Run: "two-pools", Metric: "queued", Pool: "linux-x86_64"})[0]
	ci, nightly := floats(series["clients"].([]any)[0].(map[string]any)["queued"]), floats(series["clients"].([]any)[1].(map[string]any)["queued"])
	for i, v := range column[float64](t, f, "queued") {
		assert.Equal(t, ci[i]+nightly[i], v)
	}

	// The hit rate is undefined where nothing hinted started: null.
	f = frames(t, d, "series", Query{Run: "two-pools", Metric: "cache_hit_rate"})[0]
	rate := column[*float64](t, f, "cache_hit_rate")
	starts, hits := floats(series["hinted_starts"]), floats(series["hits"])
	for i, v := range rate {
		if starts[i] == 0 {
			assert.Nil(t, v)
		} else {
			assert.Equal(t, hits[i]/starts[i], *v)
		}
	}
	assert.Equal(t, "percentunit", f.Fields[1].Config.Unit)

	// Over every run, the trace's series come from its events.
	fs := frames(t, d, "series", Query{Metric: "running"})
	var names []string
	for _, f := range fs {
		names = append(names, f.Name)
	}
	assert.Equal(t, []string{"compare/ocluster/seed-1", "compare/ocluster/seed-2", "traces/two-pools.trace", "two-pools"}, names)
	// Only the trace has waits per job.
	fs = frames(t, d, "series", Query{Metric: "wait_s", Client: "nightly"})
	require.Len(t, fs, 1)
	assert.Equal(t, "traces/two-pools.trace", fs[0].Name)
}

// TestTraceOrigin checks that a trace with an origin is placed at it.
func TestTraceOrigin(t *testing.T) {
	dir := t.TempDir()
	trace := `{"format":"ocluster-trace","version":1,"origin":"2026-11-27T08:00:00Z","source":"ocluster-scheduler","pools":["p"]}
{"t":0,"event":"register","pool":"p","worker":"w","capacity":4}
{"t":90.5,"event":"release","pool":"p","worker":"w"}
`
	require.NoError(t, os.WriteFile(filepath.Join(dir, "live.trace"), []byte(trace), 0o644))
	f := frames(t, newSource(t, dir), "series", Query{Run: "live.trace", Metric: "capacity"})[0]
	origin := time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC)
	assert.Equal(t, []time.Time{origin, origin.Add(90500 * time.Millisecond)}, column[time.Time](t, f, "time"))
	assert.Equal(t, []float64{4, 0}, column[float64](t, f, "capacity"))
}

func TestWaitCDF(t *testing.T) {
	d := newSource(t, fixtures)
	clients := raw(t, "two-pools/result.json")["clients"].([]any)
	fs := frames(t, d, "wait_cdf", Query{Run: "two-pools"})
	require.Len(t, fs, 3)
	for i, f := range fs {
		c := clients[i].(map[string]any)
		assert.Equal(t, "two-pools "+c["pool"].(string)+"/"+c["client"].(string), f.Name)
		assert.Equal(t, floats(c["wait_quantiles_s"]), column[float64](t, f, "wait_s"))
		p := column[float64](t, f, "percentile")
		assert.Equal(t, []float64{0, 50, 100}, []float64{p[0], p[50], p[100]})
	}
	fs = frames(t, d, "wait_cdf", Query{Run: "two-pools", Pool: "linux-x86_64"})
	assert.Len(t, fs, 2)
	fs = frames(t, d, "wait_cdf", Query{Run: "two-pools", Client: "nightly"})
	assert.Len(t, fs, 1)
}

func TestComparison(t *testing.T) {
	d := newSource(t, fixtures)
	metrics := raw(t, "compare/comparison.json")["metrics"].([]any)
	f := frames(t, d, "comparison", Query{Run: "compare"})[0]
	require.Equal(t, len(metrics), f.Rows())
	names, means := column[string](t, f, "metric"), column[float64](t, f, "mean")
	for i, m := range metrics {
		mm := m.(map[string]any)
		assert.Equal(t, mm["metric"], names[i])
		assert.Equal(t, mm["policies"].([]any)[0].(map[string]any)["mean"], means[i])
	}
	// The baseline has no difference from itself.
	assert.Nil(t, column[*float64](t, f, "diff_mean")[0])

	f = frames(t, d, "comparison", Query{Run: "compare", Metric: "wait_p95_s", Policy: "ocluster"})[0]
	assert.Equal(t, 1, f.Rows())
	assert.Equal(t, "s", f.Fields[4].Config.Unit)
}

func TestQueryErrors(t *testing.T) {
	d := newSource(t, fixtures)
	for _, tc := range []struct {
		queryType string
		q         Query
		err       string
	}{
		{"", Query{}, "no query type set: choose one of runs, stats, series, wait_cdf, comparison"},
		{"plot", Query{}, `unknown query type "plot": choose one of runs, stats, series, wait_cdf, comparison`},
		{"stats", Query{Run: "nope", Metric: "jain"}, `run "nope" not found in ../testdata/folder; it holds compare/ocluster/seed-1, compare/ocluster/seed-2, traces/two-pools.trace, two-pools`},
		{"stats", Query{Run: "two-pools", Metric: "speed"}, `no metric "speed"; there are cache_hit_rate, cancelled, events, failed`},
		{"stats", Query{Run: "two-pools"}, "no metric set: choose one of cache_hit_rate"},
		{"stats", Query{Run: "two-pools", Metric: "jain", Priority: "low"}, `priority "low": want all, urgent or normal`},
		{"stats", Query{Run: "two-pools", Metric: "jobs", Client: "ci"}, `client "ci" is in pools linux-x86_64 and linux-arm64: set the pool`},
		{"stats", Query{Run: "traces/two-pools.trace", Metric: "jobs"}, "run traces/two-pools.trace is a trace; this query reads results"},
		{"stats", Query{Metric: "jobs", Policy: "fifo"}, "../testdata/folder holds no result runs of policy fifo"},
		{"stats", Query{Metric: "speed"}, `no run answers (the first, compare/ocluster/seed-1: no metric "speed"`},
		{"series", Query{Run: "two-pools", Metric: "queued", Client: "bob"}, `the run has no client "bob"; it has linux-x86_64/ci, linux-x86_64/nightly, linux-arm64/ci`},
		{"series", Query{Run: "two-pools", Metric: "running", Pool: "linux-arm64", Client: "ci"}, `no series per client "running"; there are queued`},
		{"series", Query{Run: "two-pools", Metric: "wait_s"}, `no series "wait_s"; there are cache_hit_rate, capacity, hinted_starts, hits, queued, running, utilisation`},
		{"wait_cdf", Query{Run: "two-pools", Client: "bob"}, `the run has no client "bob"`},
		{"comparison", Query{Run: "two-pools"}, `comparison "two-pools" not found in ../testdata/folder; it holds compare`},
		{"comparison", Query{Run: "compare", Metric: "speed"}, `comparison compare has no metric "speed"; it has wait_mean_s, wait_p50_s`},
		{"comparison", Query{Run: "compare", Policy: "fifo"}, `comparison compare has no policy "fifo"; it has ocluster`},
	} {
		r := query(t, d, tc.queryType, tc.q)
		assert.ErrorContains(t, r.Error, tc.err, "%s %+v", tc.queryType, tc.q)
		assert.Equal(t, backend.StatusBadRequest, r.Status)
	}
	r := query(t, newSource(t, filepath.Join(t.TempDir(), "gone")), "runs", Query{})
	assert.ErrorContains(t, r.Error, "gone does not exist: create it, or set Path")
}

func TestCheckHealth(t *testing.T) {
	check := func(path string) *backend.CheckHealthResult {
		res, err := newSource(t, path).CheckHealth(context.Background(), &backend.CheckHealthRequest{})
		require.NoError(t, err)
		return res
	}
	res := check(fixtures)
	assert.Equal(t, backend.HealthStatusOk, res.Status)
	assert.Equal(t, "../testdata/folder: 3 runs, 1 comparison and 1 trace", res.Message)
	assert.JSONEq(t, `{"path":"../testdata/folder","results":3,"comparisons":1,"traces":1}`, string(res.JSONDetails))

	missing := filepath.Join(t.TempDir(), "gone")
	res = check(missing)
	assert.Equal(t, backend.HealthStatusError, res.Status)
	assert.Contains(t, res.Message, "folder "+missing+" does not exist")

	res = check("")
	assert.Equal(t, backend.HealthStatusError, res.Status)
	assert.Contains(t, res.Message, "no folder is set")

	dir := t.TempDir()
	res = check(dir)
	assert.Equal(t, backend.HealthStatusOk, res.Status)
	assert.Contains(t, res.Message, "0 runs, 0 comparisons and 0 traces yet: write some with `ocluster-sim run --out "+dir+"/NAME`")

	require.NoError(t, os.MkdirAll(filepath.Join(dir, "a"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "a", "result.json"), []byte("{"), 0o644))
	res = check(dir)
	assert.Equal(t, backend.HealthStatusError, res.Status)
	assert.Equal(t, dir+": 0 runs, 0 comparisons and 0 traces; 1 file did not read (fix or remove them): a/result.json: not a result of ocluster-sim: unexpected end of JSON input", res.Message)
}
