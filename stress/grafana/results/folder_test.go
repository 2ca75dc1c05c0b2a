package results

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// copyFixture copies a fixture file into dir/to.
func copyFixture(t *testing.T, dir, from, to string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(fixtures, from))
	require.NoError(t, err)
	write(t, dir, to, string(b))
}

func write(t *testing.T, dir, name, text string) {
	t.Helper()
	p := filepath.Join(dir, name)
	require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
	require.NoError(t, os.WriteFile(p, []byte(text), 0o644))
}

func TestScanReportsBrokenFiles(t *testing.T) {
	dir := t.TempDir()
	copyFixture(t, dir, "two-pools/result.json", "good/result.json")
	write(t, dir, "cut/result.json", `{"scenario":"small",`)
	write(t, dir, "bad.trace", header+`{"t":1,"event":"explode","pool":"p"}`+"\n")
	write(t, dir, "notes.txt", "not a trace\n")
	write(t, dir, ".hidden/result.json", "hidden, so never read")
	c, err := NewFolder(dir).Scan()
	require.NoError(t, err)
	require.Len(t, c.Runs, 1)
	assert.Equal(t, "good", c.Runs[0].Name)
	var problems []string
	for _, p := range c.Problems {
		problems = append(problems, p.Error())
	}
	assert.Equal(t, []string{
		`bad.trace: line 2: unknown event "explode"`,
		"cut/result.json: not a result of ocluster-sim: unexpected end of JSON input",
	}, problems)
}

func TestScanFolderErrors(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "file", "x")
	for _, tc := range []struct{ root, err string }{
		{"", "no folder is set: set Path in the data source's settings (jsonData.path)"},
		{filepath.Join(dir, "nope"), "folder " + filepath.Join(dir, "nope") + " does not exist"},
		{filepath.Join(dir, "file"), filepath.Join(dir, "file") + " is a file, not a folder"},
	} {
		_, err := NewFolder(tc.root).Scan()
		assert.ErrorContains(t, err, tc.err)
	}
}

// TestScanRereadsChangedFiles checks that a trace still being written is
// read again as it grows, and that a removed run is gone.
func TestScanRereadsChangedFiles(t *testing.T) {
	dir := t.TempDir()
	f := NewFolder(dir)
	write(t, dir, "live.trace", header+`{"t":1,"event":"submit","pool":"p","job":1,"client":"c"}`+"\n")
	c, err := f.Scan()
	require.NoError(t, err)
	run, err := c.Run("live.trace")
	require.NoError(t, err)
	assert.Len(t, run.Trace.Events, 1)

	write(t, dir, "live.trace", header+`{"t":1,"event":"submit","pool":"p","job":1,"client":"c"}`+"\n"+`{"t":2,"event":"cancel","pool":"p","job":1}`+"\n")
	// Some file systems keep modification times to the second.
	later := time.Now().Add(time.Minute)
	require.NoError(t, os.Chtimes(filepath.Join(dir, "live.trace"), later, later))
	c, err = f.Scan()
	require.NoError(t, err)
	run, err = c.Run("live.trace")
	require.NoError(t, err)
	assert.Len(t, run.Trace.Events, 2)

	require.NoError(t, os.Remove(filepath.Join(dir, "live.trace")))
	c, err = f.Scan()
	require.NoError(t, err)
	_, err = c.Run("live.trace")
	assert.EqualError(t, err, `run "live.trace" not found: `+dir+" holds no runs yet (write some with `ocluster-sim run --out "+dir+"/NAME`)")
}

func TestScanNamesAndDuplicates(t *testing.T) {
	dir := t.TempDir()
	copyFixture(t, dir, "two-pools/result.json", "result.json")
	copyFixture(t, dir, "compare/comparison.json", "cmp/comparison.json")
	copyFixture(t, dir, "two-pools/result.json", "cmp/ocluster/seed-1/result.json")
	trace, err := filepath.Abs(filepath.Join(fixtures, "traces/two-pools.trace"))
	require.NoError(t, err)
	require.NoError(t, os.Symlink(trace, filepath.Join(dir, "linked.trace")))
	c, err := NewFolder(dir).Scan()
	require.NoError(t, err)
	var names []string
	for _, r := range c.Runs {
		names = append(names, r.Name)
	}
	// A result at the top is named after the folder; links are followed.
	assert.Equal(t, []string{"cmp/ocluster/seed-1", "cmp/ocluster/seed-2", "linked.trace", filepath.Base(dir)}, names)
	require.Len(t, c.Problems, 1)
	assert.Equal(t, "cmp/ocluster/seed-1/result.json: its run is named cmp/ocluster/seed-1, as one in cmp/comparison.json: rename one of their folders", c.Problems[0].Error())
}

func TestSampleName(t *testing.T) {
	assert.Equal(t, "seed-7", sampleName("7"))
	assert.Equal(t, "live.trace", sampleName("/data/traces/live.trace"))
}
