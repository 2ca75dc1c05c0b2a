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

// The project's scenarios are in core/testdata, a folder per policy named
// after it: a file runs under its folder's policy unless it chooses one.
// go test -run TestScenarios -rewrite writes what the core does into the
// files whose output differs.
func TestScenarios(t *testing.T) {
	policies, err := os.ReadDir(filepath.Join("..", "testdata"))
	if err != nil {
		t.Fatal(err)
	}
	ran := 0
	for _, dir := range policies {
		if !dir.IsDir() {
			t.Fatalf("core/testdata/%s: the folder holds one folder per policy, named after it", dir.Name())
		}
		t.Run(dir.Name(), func(t *testing.T) {
			ran += scenariotest.RunDir(t, filepath.Join("..", "testdata", dir.Name()), scenario.Options{Policy: dir.Name()})
		})
	}
	for _, dir := range sharedDirs(t) {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			ran += scenariotest.CheckDir(t, dir, scenario.Options{Policy: "ocluster"})
		})
	}
	if ran == 0 {
		t.Fatal("found no scenarios to run")
	}
}
