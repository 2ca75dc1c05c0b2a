package scenario_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/ocluster-go/ocluster/core/scenario"
	"github.com/ocluster-go/ocluster/core/scenario/scenariotest"
)

// sharedDirs are the folders of scenarios that are not the project's,
// which every test run also executes: the shared ones beside the project
// when that folder exists, and any listed in OCLUSTER_SCENARIOS
// (separated by the OS's list separator). They hold OCluster's own
// expected outputs.
func sharedDirs(t *testing.T) []string {
	var dirs []string
	shared := filepath.Join(moduleRoot(t), "..", "shared", "scenarios")
	if fi, err := os.Stat(shared); err == nil && fi.IsDir() {
		dirs = append(dirs, shared)
	}
	if extra := os.Getenv("OCLUSTER_SCENARIOS"); extra != "" {
		dirs = append(dirs, filepath.SplitList(extra)...)
	}
	return dirs
}

func moduleRoot(t *testing.T) string {
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test's directory")
		}
		dir = parent
	}
}

// The shared scenarios pin the runner and the ocluster policy to what
// OCluster itself printed. They are not the project's, so -rewrite never
// writes them. (The project's own run from core's TestScenarios.)
func TestSharedScenarios(t *testing.T) {
	dirs := sharedDirs(t)
	if len(dirs) == 0 {
		t.Skip("no shared scenarios beside the project, and OCLUSTER_SCENARIOS is empty")
	}
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			if scenariotest.CheckDir(t, dir, scenario.Options{Policy: "ocluster"}) == 0 {
				t.Fatalf("%s holds no .scn file", dir)
			}
		})
	}
}
