package report

import (
	"bytes"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ocluster-go/ocluster/sim"
)

// fleetPlan is a plan as sim.Plan makes it, with waits that fall as the
// fleet grows and a second target on another metric: met from size 5,
// as the search tries sizes, or never, with jobs left unfinished at
// every size.
func fleetPlan(found bool) *sim.FleetPlan {
	wait, done := sim.Target{Metric: "wait_p95_s", Op: "<", Value: 300}, sim.Target{Metric: "unfinished", Op: "<", Value: 1}
	p := &sim.FleetPlan{Scenario: "small", Policy: "combined", Vary: "workers", Paths: []string{"pools[0].workers[0].count"},
		Targets: []sim.Target{wait, done}, Seeds: []uint64{1, 2, 3}, Max: 8, Deciding: done}
	sizes, unfinished := []int{1, 2, 4, 8}, 2.0
	if found {
		sizes, unfinished, p.Answer, p.Deciding = []int{1, 2, 4, 5, 6, 8}, 0, 5, wait
	}
	for _, n := range sizes {
		s := sim.FleetSize{Size: n, Workers: n, Slots: 2 * n, Metrics: map[string]sim.Estimate{
			"wait_p95_s": {Mean: 1400 / float64(n), CILow: 1120 / float64(n), CIHigh: 1680 / float64(n), N: 3},
			"unfinished": {Mean: unfinished, CILow: unfinished, CIHigh: unfinished, N: 3},
		}}
		s.Met = wait.Met(s.Metrics[wait.Metric].Mean) && done.Met(unfinished)
		p.Sizes = append(p.Sizes, s)
	}
	if found {
		at, below := p.Sizes[3].Metrics["wait_p95_s"], p.Sizes[2].Metrics["wait_p95_s"]
		p.AtAnswer, p.BelowAnswer = &at, &below
	}
	return p
}

func TestPlanText(t *testing.T) {
	var b bytes.Buffer
	require.NoError(t, PlanText(&b, fleetPlan(true)))
	out := b.String()
	for _, want := range []string{
		"small · policy combined · vary workers · 3 seeds\n",
		"targets: wait p95 < 5m00s, unfinished < 1.0 (met when the mean over the seeds is",
		"answer: 5 (5 workers, 10 slots)\ndeciding: wait p95 < 5m00s\n",
		"  at 5: 4m40s ± 56.0s [3m44s, 5m36s], met\n",
		"  at 4: 5m50s ± 1m10s [4m40s, 7m00s], missed\n",
		"wait p95  unfinished  targets",
		"     5        5     10   4m40s ± 56.0s   0.0 ± 0.0      met",
	} {
		assert.Contains(t, out, want)
	}
	b.Reset()
	require.NoError(t, PlanText(&b, fleetPlan(false)))
	assert.Contains(t, b.String(), "no size up to 8 meets every target\nhardest: unfinished < 1.0, at 8 (8 workers, 16 slots): 2.0 ± 0.0 [2.0, 2.0], missed\n")
}

func TestWritePlan(t *testing.T) {
	p := fleetPlan(true)
	dir := t.TempDir()
	require.NoError(t, WritePlan(dir, p))
	checkJSON(t, readFile(t, dir, "plan.json"), p)
	html := readFile(t, dir, "plan.html")
	assert.NotContains(t, string(html), "NaN")
	pg := parsePage(t, html)
	assert.Equal(t, "small · policy combined · vary workers · 3 seeds", pg.title)
	assert.Equal(t, "5", pg.facts["answer"])
	assert.Equal(t, []string{"5", "10", "4m40s ± 56.0s", "0.0 ± 0.0", "met"}, cellsAfter(pg, "5", 5))
	checkPlots(t, pg, []string{"plot-plan-wait_p95_s", "plot-plan-unfinished"}, func(string) bool { return true })
	assert.True(t, strings.Contains(pg.plots["plot-plan-wait_p95_s"].caption, "logarithmic"))
}
