package testbed

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/ocluster-go/ocluster/sim"
)

// The progress line gives durations as ocluster-sim does (17m20s), not
// as 1.04e+03 s.
func TestSummaryLineDuration(t *testing.T) {
	r := &run{wl: &Workload{Predicted: &sim.Result{}}, speed: 1, start: time.Now()}
	line := r.summaryLine(&sim.Result{Stats: sim.Stats{WaitP95S: 1040}})
	assert.Contains(t, line, "wait p95 17m20s,")
	assert.NotContains(t, line, "e+")
}
