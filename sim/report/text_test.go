package report

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ocluster-go/ocluster/sim"
)

// comparisonOf compares policies on three samples whose results the
// caller fills in: fill(policy, sample, result).
func comparisonOf(t *testing.T, policies []string, fill func(p, s int, r *sim.Result)) *sim.Comparison {
	t.Helper()
	samples := []string{"1", "2", "3"}
	runs := make([][]*sim.Result, len(policies))
	for p := range policies {
		for s := range samples {
			r := &sim.Result{}
			fill(p, s, r)
			runs[p] = append(runs[p], r)
		}
	}
	c, err := sim.Compare("test", policies, samples, runs)
	require.NoError(t, err)
	return c
}

// Six policies with durations of tens of hours fit 100 columns: one
// table per policy against the baseline.
func TestComparisonTextFitsNarrowScreen(t *testing.T) {
	policies := []string{"ocluster", "combined", "adaptive", "sfq", "ideal", "combined+lease=0s"}
	c := comparisonOf(t, policies, func(p, s int, r *sim.Result) {
		r.WaitMeanS = 29000 + 1000*float64(p*s) + 37*float64(s)
		r.MakespanS = 97000 - 3600*float64(p) + 800*float64(s)
		r.SlowdownMean = 34.6 - float64(p) + 0.1*float64(s)
		r.Utilisation = 0.99 - 0.01*float64(p)
		r.Jain = 0.5 + 0.05*float64(p) + 0.01*float64(s)
	})
	var out strings.Builder
	require.NoError(t, ComparisonText(&out, c))
	require.NoError(t, ComparisonLegend(&out))
	for line := range strings.Lines(out.String()) {
		line = strings.TrimSuffix(line, "\n")
		assert.LessOrEqual(t, utf8.RuneCountInString(line), 100, "line %q", line)
		assert.Equal(t, strings.TrimRight(line, " "), line, "trailing spaces")
	}
	for _, p := range policies[1:] {
		assert.Regexp(t, `(?m)^metric +ocluster +`+strings.ReplaceAll(p, "+", `\+`)+` +`, out.String())
	}
	for _, word := range []string{"jain ", "imbalance ", "slowdown ", "pts"} {
		assert.Contains(t, out.String(), word, "the legend explains it")
	}
}

// A difference outside its interval but too small to show (0.08 s on 8
// hours) gets no verdict: "(+0%) worse" reads as a contradiction.
func TestComparisonTextNoVerdictOnNothing(t *testing.T) {
	c := comparisonOf(t, []string{"ocluster", "combined"}, func(p, s int, r *sim.Result) {
		r.WaitMeanS = 29520 + 100*float64(s)
		r.WaitMaxS = 600 + 10*float64(s)
		r.Jain = 0.5 + 0.01*float64(s)
		r.CacheHitRate = 0.9
		if p == 1 {
			r.WaitMeanS += 0.08 + 0.001*float64(s)
			r.WaitMaxS += 60 + float64(s)
			r.Jain += 0.0001
			r.CacheHitRate = 0.8 - 0.001*float64(s)
		}
	})
	require.Equal(t, "worse", c.Metrics[0].Differences[0].Verdict, "the comparison itself keeps its verdict")
	var out strings.Builder
	require.NoError(t, ComparisonText(&out, c))
	text := out.String()
	assert.Regexp(t, `(?m)^wait mean .* \+0\.08s ± [0-9.]+s \(≈0%\)$`, text)
	assert.Regexp(t, `(?m)^wait max .* \+1m01s ± [0-9.]+s \(\+10%\) worse$`, text)
	assert.Regexp(t, `(?m)^jain .* 0\.000 ± 0\.000 \(≈0%\)$`, text)
	assert.Regexp(t, `(?m)^cache hit rate +90\.0% ± 0\.0 +79\.9% ± 0\.2 +-10\.1 pts ± 0\.2 \(-11%\) worse$`, text)
	assert.Regexp(t, `(?m)^failed .* 0\.0 ± 0\.0$`, text, "no sign on what shows as 0")
}
