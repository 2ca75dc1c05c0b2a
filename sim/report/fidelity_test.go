package report

import (
	"bytes"
	"encoding/csv"
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ocluster-go/ocluster/sim"
)

// A fidelity check with the simulator standing in for the live cluster
// (a different seed's run as "live"): every file is written, the page
// holds each policy's table and its two plots of simulated and live
// curves, and the CSV has a row per policy and metric.
func TestWriteFidelity(t *testing.T) {
	var fs []*sim.Fidelity
	for _, policy := range []string{"ocluster", "combined"} {
		simulated := []*sim.Result{run(t, "small", 1), run(t, "small", 2)}
		live := []*sim.Result{run(t, "small", 3), run(t, "small", 4)}
		f, err := sim.CompareFidelity("small", policy, 120, []uint64{1, 2}, simulated, live)
		require.NoError(t, err)
		fs = append(fs, f)
	}
	dir := t.TempDir()
	require.NoError(t, WriteFidelity(dir, fs))
	checkJSON(t, readFile(t, dir, "fidelity.json"), &fs)
	data := readFile(t, dir, "fidelity.csv")
	checkCSV(t, data, func(w io.Writer) error { return FidelityCSV(w, fs) })
	rows, err := csv.NewReader(bytes.NewReader(data)).ReadAll()
	require.NoError(t, err)
	assert.Len(t, rows, 1+2*len(sim.Metrics))
	assert.Equal(t, []string{"small", "combined", "120", "wait_mean_s"}, rows[1+len(sim.Metrics)][:4])

	html := readFile(t, dir, "report.html")
	pg := parsePage(t, html)
	assert.Equal(t, "Fidelity · small · 2 seeds · live at 120x", pg.title)
	checkPlots(t, pg, []string{"plot-ocluster-queue", "plot-ocluster-utilisation", "plot-combined-queue", "plot-combined-utilisation"},
		func(string) bool { return true })
	p95 := fs[0].Metrics[2] // the first table's
	require.Equal(t, "wait_p95_s", p95.Metric)
	_, cells, _ := fidelityRow(p95)
	assert.Equal(t, cells, cellsAfter(pg, "wait p95", 4)[:4])

	var text strings.Builder
	require.NoError(t, FidelityText(&text, fs))
	assert.Contains(t, text.String(), "small · policy combined · 2 seeds · live at 120x")
	assert.Contains(t, text.String(), cells[3])
}
