package scenariotest

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ocluster-go/ocluster/core/scenario"
)

// Rewriting fills in a file whose output differs and leaves one that
// matches as it is, byte for byte, trailing spaces and all.
func TestRewriteWritesOnlyWhatDiffers(t *testing.T) {
	dir := t.TempDir()
	stale := filepath.Join(dir, "stale.scn")
	matching := filepath.Join(dir, "matching.scn")
	require.NoError(t, os.WriteFile(stale, []byte("pool p\nregister w capacity=1\nforget w\n> ok\n"), 0o644))
	matchingSrc := []byte("pool p\nforget w   \n> unknown worker\n")
	require.NoError(t, os.WriteFile(matching, matchingSrc, 0o644))

	require.Equal(t, 2, run(t, dir, scenario.Options{}, true))

	got, err := os.ReadFile(stale)
	require.NoError(t, err)
	require.Equal(t, "pool p\nregister w capacity=1\nforget w\n> still connected\n", string(got))
	got, err = os.ReadFile(matching)
	require.NoError(t, err)
	require.Equal(t, matchingSrc, got)
}
