package sim

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func fidelityMetric(t *testing.T, f *Fidelity, name string) FidelityMetric {
	t.Helper()
	for _, m := range f.Metrics {
		if m.Metric == name {
			return m
		}
	}
	t.Fatalf("no metric %s", name)
	return FidelityMetric{}
}

// Each target is judged on the live mean's distance from the simulated
// one, or for counts on the interval of their seed-by-seed difference.
func TestFidelityTargets(t *testing.T) {
	res := func(p95, hit, util, jain float64, failed, retried int) *Result {
		r := &Result{Utilisation: util, Jain: jain}
		r.WaitP95S, r.WaitP99S, r.WaitMeanS, r.TurnaroundMeanS = p95, p95, p95, p95
		r.CacheHitRate, r.Failed, r.Retried = hit, failed, retried
		return r
	}
	simulated := []*Result{res(100, 0.50, 0.40, 0.80, 2, 3), res(200, 0.60, 0.50, 0.90, 4, 3)}
	live := []*Result{res(108, 0.505, 0.43, 0.84, 2, 3), res(221, 0.611, 0.52, 0.92, 5, 4)}
	f, err := CompareFidelity("s", "p", 60, []uint64{1, 2}, simulated, live)
	require.NoError(t, err)

	p95 := fidelityMetric(t, f, "wait_p95_s")
	assert.Equal(t, 150.0, p95.Simulated.Mean)
	assert.Equal(t, 164.5, p95.Live.Mean)
	assert.Equal(t, 14.5, p95.Diff.Mean)
	assert.InDelta(t, 14.5/150, p95.Relative, 1e-12)
	assert.Equal(t, "±10%", p95.Target)
	require.NotNil(t, p95.Met)
	assert.True(t, *p95.Met, "9.7% off")

	hit := fidelityMetric(t, f, "cache_hit_rate")
	assert.Equal(t, "±1 pt", hit.Target)
	assert.True(t, *hit.Met, "0.8 points off")
	util := fidelityMetric(t, f, "utilisation")
	assert.Equal(t, "±2 pt", util.Target)
	assert.False(t, *util.Met, "2.5 points off")
	jain := fidelityMetric(t, f, "jain")
	assert.Equal(t, "±0.03", jain.Target)
	assert.True(t, *jain.Met, "0.03 off")
	failed := fidelityMetric(t, f, "failed")
	assert.Equal(t, "0 in interval", failed.Target)
	assert.True(t, *failed.Met, "differences 0 and 1: the interval holds 0")
	retried := fidelityMetric(t, f, "retried")
	assert.True(t, *retried.Met)
	assert.Nil(t, fidelityMetric(t, f, "wait_max_s").Met, "no target")
	assert.Equal(t, []string{"utilisation"}, f.Missed())

	// A steady difference the interval excludes misses.
	live[0].Failed, live[1].Failed = 3, 5
	f, err = CompareFidelity("s", "p", 60, []uint64{1, 2}, simulated, live)
	require.NoError(t, err)
	assert.Contains(t, f.Missed(), "failed")

	_, err = CompareFidelity("s", "p", 60, []uint64{1, 2}, simulated, live[:1])
	assert.ErrorContains(t, err, "2 seeds, 2 simulated and 1 live runs")
}
