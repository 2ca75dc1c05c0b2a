package main

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ocluster-go/ocluster/sim"
)

// The end table reads as ocluster-sim's: durations as 17m20s, not
// 1.04e+03 s, and a difference of percentages in percentage points.
func TestPrintComparisonUnits(t *testing.T) {
	a := &sim.Result{Stats: sim.Stats{Jobs: 1040, WaitP95S: 1040, CacheHitRate: 0.8}, Utilisation: 0.5, Jain: 0.5}
	b := &sim.Result{Stats: sim.Stats{Jobs: 1040, WaitP95S: 980, CacheHitRate: 0.9}, Utilisation: 0.45, Jain: 0.75}
	var out strings.Builder
	require.NoError(t, printComparison(&out, "simulated", a, "live", b))
	text := out.String()
	assert.NotContains(t, text, "e+")
	assert.Regexp(t, `wait p95\s+17m20s\s+16m20s\s+-1m00s`, text)
	assert.Regexp(t, `jobs\s+1040\s+1040\s+\+0`, text)
	assert.Regexp(t, `cache hit rate\s+80\.0%\s+90\.0%\s+\+10\.0 pts`, text)
	assert.Regexp(t, `utilisation\s+50\.0%\s+45\.0%\s+-5\.0 pts`, text)
	assert.Regexp(t, `fairness \(Jain\)\s+0\.500\s+0\.750\s+\+0\.250`, text)
}
