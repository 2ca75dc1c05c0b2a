package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// `ocluster-stress fidelity` as a user runs it: every seed simulated and
// played live, the table printed, and the report, the JSON, the CSV and
// every run written.
func TestFidelityCommand(t *testing.T) {
	dir := t.TempDir()
	out, code := run(t, dir, "ocluster-stress", "fidelity", "--scenario", "small", "--duration", "20m",
		"--policies", "ocluster", "--seeds", "2", "--speed", "600", "--out", "fid")
	require.Equal(t, 0, code, out)
	assert.Contains(t, out, "ocluster, seed 2")
	assert.Contains(t, out, "small · policy ocluster · 2 seeds · live at 600x")
	assert.Regexp(t, `(?m)^wait p95 .* ±10% (met|missed)`, out)
	for _, f := range []string{"report.html", "fidelity.csv", "ocluster/1/sim/result.json", "ocluster/2/live/result.json", "ocluster/2/trace"} {
		assert.FileExists(t, filepath.Join(dir, "fid", f))
	}
	data, err := os.ReadFile(filepath.Join(dir, "fid", "fidelity.json"))
	require.NoError(t, err)
	var checks []struct {
		Policy string
		Seeds  []uint64
		Live   []struct{ Jobs, Finished int }
	}
	require.NoError(t, json.Unmarshal(data, &checks))
	require.Len(t, checks, 1)
	assert.Equal(t, []uint64{1, 2}, checks[0].Seeds)
	for _, r := range checks[0].Live {
		assert.Positive(t, r.Jobs)
		assert.Equal(t, r.Jobs, r.Finished)
	}

	for _, bad := range [][]string{{"--speed", "0"}, {"--seeds", "0"}, {"--policies", "nonesuch"}} {
		out, code := run(t, dir, "ocluster-stress", append([]string{"fidelity"}, bad...)...)
		assert.Equal(t, 2, code, "%v: %s", bad, out)
		assert.Contains(t, out, bad[0], "the error names the flag")
	}
}
