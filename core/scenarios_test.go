package core_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/ocluster-go/ocluster/core/scenario"
	"github.com/ocluster-go/ocluster/core/scenario/scenariotest"
)

// The core's scenarios are in testdata, a folder per policy named after
// it: a file runs under its folder's policy unless it chooses one.
// go test ./core -run TestScenarios -rewrite writes what the core does
// into the files whose output differs.
func TestScenarios(t *testing.T) {
	policies, err := os.ReadDir("testdata")
	if err != nil {
		t.Fatal(err)
	}
	ran := 0
	for _, dir := range policies {
		if !dir.IsDir() {
			t.Fatalf("core/testdata/%s: the folder holds one folder per policy, named after it", dir.Name())
		}
		t.Run(dir.Name(), func(t *testing.T) {
			ran += scenariotest.RunDir(t, filepath.Join("testdata", dir.Name()), scenario.Options{Policy: dir.Name()})
		})
	}
	if ran == 0 {
		t.Fatal("found no scenarios to run")
	}
}
