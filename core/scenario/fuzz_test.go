package scenario

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzRun feeds arbitrary scripts to the runner: it must answer with a
// result or an error, never panic, and the core must stay consistent.
func FuzzRun(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("..", "testdata", "*", "*.scn"))
	for _, file := range files {
		if src, err := os.ReadFile(file); err == nil {
			f.Add(string(src))
		}
	}
	f.Add("pool p\nregister w capacity=1\nactivate w\npop w\nsubmit c j hint=h urgent\nyield\nfinish w\nrelease w\nrestart\nshow\n")
	f.Fuzz(func(t *testing.T, src string) {
		res, err := Run("fuzz.scn", src, Options{CheckInvariants: true})
		if err != nil {
			return
		}
		// Printing the actual output and running that must match itself.
		again, err := Run("fuzz.scn", res.Actual, Options{CheckInvariants: true})
		if err != nil {
			t.Fatalf("the actual rendering does not run: %v\n%s", err, res.Actual)
		}
		if !again.Match {
			t.Fatalf("the actual rendering does not match itself:\n%s", again.Diff)
		}
	})
}
