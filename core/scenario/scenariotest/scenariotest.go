// Package scenariotest runs folders of .scn files as tests, the way
// etcd's raft runs its datadriven files: each file is a subtest, and with
// the -rewrite test flag each file gets the actual output written into it
// instead of being compared, to be read and committed. It is for tests
// only; nothing else imports it, since it defines a test flag.
package scenariotest

import (
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/ocluster-go/ocluster/core/scenario"
)

var rewrite = flag.Bool("rewrite", false, "write each scenario's actual output into its file instead of comparing")

// RunDir runs every .scn file in dir as a subtest named after the file,
// with the core's invariants checked after every command, and returns how
// many it found. Under -rewrite it writes the actual output into each file
// whose output differs (a file that cannot be run still fails); a file
// that matches is left as it is, byte for byte.
func RunDir(t *testing.T, dir string, opts scenario.Options) int {
	return run(t, dir, opts, *rewrite)
}

// CheckDir is RunDir for folders the project does not own (shared
// scenarios): it compares even under -rewrite and never writes.
func CheckDir(t *testing.T, dir string, opts scenario.Options) int {
	return run(t, dir, opts, false)
}

func run(t *testing.T, dir string, opts scenario.Options, write bool) int {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.scn"))
	if err != nil {
		t.Fatal(err)
	}
	opts.CheckInvariants = true
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			src, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			res, err := scenario.Run(file, string(src), opts)
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case write && !res.Match:
				if err := os.WriteFile(file, []byte(res.Actual), 0o644); err != nil {
					t.Fatal(err)
				}
			case !write && !res.Match:
				t.Errorf("output differs (go test -rewrite writes the actual output into the file):\n%s", res.Diff)
			}
		})
	}
	return len(files)
}
