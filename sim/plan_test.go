package sim

import (
	"math"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The search finds every threshold of a monotone predicate, tries each
// size once, always tries the answer's predecessor (whose estimates the
// plan shows), and stays within twice log2 of the range.
func TestSmallestFindsEveryThreshold(t *testing.T) {
	for largest := 1; largest <= 40; largest++ {
		for threshold := 1; threshold <= largest+1; threshold++ {
			tried := map[int]bool{}
			got, err := smallest(largest, func(n int) (bool, error) {
				require.False(t, tried[n], "size %d tried twice", n)
				require.True(t, n >= 1 && n <= largest, "size %d outside 1..%d", n, largest)
				tried[n] = true
				return n >= threshold, nil
			})
			require.NoError(t, err)
			want := threshold
			if threshold > largest {
				want = 0
			}
			assert.Equal(t, want, got, "largest %d threshold %d", largest, threshold)
			if got > 1 {
				assert.True(t, tried[got-1], "largest %d threshold %d: %d not tried", largest, threshold, got-1)
			}
			assert.LessOrEqual(t, len(tried), 2*int(math.Ceil(math.Log2(float64(largest))))+1, "largest %d threshold %d", largest, threshold)
		}
	}
}

func TestParseTarget(t *testing.T) {
	for _, c := range []struct {
		in   string
		want Target
	}{
		{"wait_p95<5m", Target{"wait_p95_s", "<", 300}},
		{"wait_p95_s<=90", Target{"wait_p95_s", "<=", 90}},
		{"jain>=0.8", Target{"jain", ">=", 0.8}},
		{"utilisation > 80%", Target{"utilisation", ">", 0.8}},
		{"unfinished<1", Target{"unfinished", "<", 1}},
	} {
		got, err := ParseTarget(c.in)
		if assert.NoError(t, err, c.in) {
			assert.Equal(t, c.want, got, c.in)
		}
	}
	for _, c := range []struct{ in, want string }{
		{"wait_p95", "want METRIC<VALUE or METRIC>VALUE"},
		{"<5m", "want METRIC<VALUE or METRIC>VALUE"},
		{"wait_p96<5m", `unknown metric "wait_p96": did you mean "wait_p95"? (known: wait_mean_s, wait_p50_s, wait_p95_s`},
		{"slots>10", `unknown metric "slots" (known: wait_mean_s`},
		{"wait_p95<soon", "wait_p95_s is a duration"},
		{"wait_p95<1e308d", `duration "1e308d" is too long`},
		{"jain>high", `"high" is not a number`},
	} {
		_, err := ParseTarget(c.in)
		if assert.Error(t, err, c.in) {
			assert.Contains(t, err.Error(), c.want, c.in)
		}
	}
	assert.True(t, Target{"wait_p95_s", "<=", 90}.Met(90))
	assert.False(t, Target{"wait_p95_s", "<", 90}.Met(90))
	assert.True(t, Target{"jain", ">", 0.8}.Met(0.9))
}

// FuzzParseTarget: a target either fails to parse or names a known metric
// with a finite value, and reads back the same from its canonical form.
func FuzzParseTarget(f *testing.F) {
	for _, s := range []string{"wait_p95<5m", "jain>=0.8", "utilisation>80%", "wait_max_s<=1e308d", "unfinished<1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		target, err := ParseTarget(s)
		if err != nil {
			return
		}
		_, known := MetricNamed(target.Metric)
		require.True(t, known && !math.IsNaN(target.Value) && !math.IsInf(target.Value, 0), "%q gave %+v", s, target)
		again, err := ParseTarget(target.Metric + target.Op + strconv.FormatFloat(target.Value, 'g', -1, 64))
		require.NoError(t, err, "%q gave %+v", s, target)
		require.Equal(t, target, again, s)
	})
}

func TestVaryPaths(t *testing.T) {
	src, _ := BuiltinSource("ocluster-stress")
	sc, err := LoadScenario("ocluster-stress", src)
	require.NoError(t, err)
	paths, err := varyPaths(sc, "capacity")
	require.NoError(t, err)
	assert.Len(t, paths, 5)
	assert.Equal(t, "pools[0].workers[4].capacity", paths[4])
	for _, vary := range []string{"linux-x86_64.build5.count", "pools[linux-x86_64].workers[build5].count"} {
		paths, err = varyPaths(sc, vary)
		require.NoError(t, err)
		assert.Equal(t, []string{"pools[linux-x86_64].workers[build5].count"}, paths)
	}
	for _, vary := range []string{"slots", "pools[0].clients[0].rate", "a.b.speed"} {
		_, err = varyPaths(sc, vary)
		assert.ErrorContains(t, err, "want workers, capacity, POOL.WORKER.count", vary)
	}
}

// On small, the answer meets the target and one worker fewer misses it,
// as runs made without the plan's machinery confirm.
func TestPlanAnswerIsTheSmallestThatMeets(t *testing.T) {
	src, _ := BuiltinSource("small")
	target := Target{"wait_p95_s", "<", 300}
	seeds := []uint64{1, 2}
	p, err := Plan("small", src, "workers", []Target{target}, PlanOptions{Policy: Variant{Spec: "combined", Policy: "combined"}, Seeds: seeds, Max: 16})
	require.NoError(t, err)
	require.Greater(t, p.Answer, 1, "the plan should need more than one worker: %+v", p.Sizes)
	assert.Equal(t, target, p.Deciding)
	for i := 1; i < len(p.Sizes); i++ {
		assert.Less(t, p.Sizes[i-1].Size, p.Sizes[i].Size, "sizes in order")
		assert.Equal(t, p.Sizes[i].Size >= p.Answer, p.Sizes[i].Met, "size %d", p.Sizes[i].Size)
	}
	at, _ := p.Size(p.Answer)
	below, _ := p.Size(p.Answer - 1)
	assert.Equal(t, at.Metrics["wait_p95_s"], *p.AtAnswer)
	assert.Equal(t, below.Metrics["wait_p95_s"], *p.BelowAnswer)
	assert.Equal(t, 2*p.Answer, at.Slots)
	for _, c := range []struct {
		size int
		met  bool
	}{{p.Answer, true}, {p.Answer - 1, false}} {
		sc, err := Apply("small", src, []Setting{{"pools[0].workers[0].count", strconv.Itoa(c.size)}})
		require.NoError(t, err)
		sum := 0.0
		for _, seed := range seeds {
			r, err := Run(sc, Options{Policy: "combined", Seed: seed})
			require.NoError(t, err)
			sum += r.WaitP95S
		}
		assert.Equal(t, c.met, target.Met(sum/float64(len(seeds))), "size %d", c.size)
	}
}

func TestPlanSaysWhenNoSizeMeets(t *testing.T) {
	src, _ := BuiltinSource("small")
	never := Target{"wait_max_s", "<", 0}
	p, err := Plan("small", src, "capacity", []Target{{"wait_p95_s", "<", 3600}, never}, PlanOptions{Policy: Variant{Spec: "combined", Policy: "combined"}, Seeds: []uint64{1}, Max: 3})
	require.NoError(t, err)
	assert.Equal(t, 0, p.Answer)
	assert.Equal(t, never, p.Deciding)
	assert.Nil(t, p.AtAnswer)
	var sizes []int
	for _, s := range p.Sizes {
		sizes = append(sizes, s.Size)
	}
	assert.Equal(t, []int{1, 2, 3}, sizes)

	_, err = Plan("small", src, "workers", nil, PlanOptions{Seeds: []uint64{1}, Max: 3})
	assert.ErrorContains(t, err, "no target")
	_, err = Plan("small", src, "workers", []Target{{"wait_p95", "<", 300}}, PlanOptions{Seeds: []uint64{1}, Max: 3})
	assert.ErrorContains(t, err, "want a metric of Metrics")
	_, err = Plan("small", src, "nope.worker.count", []Target{never}, PlanOptions{Policy: Variant{Spec: "combined", Policy: "combined"}, Seeds: []uint64{1}, Max: 3})
	assert.ErrorContains(t, err, `no element named "nope"`)
}
