package benchmarks

import (
	"testing"

	"github.com/ocluster-go/ocluster/core"
	_ "github.com/ocluster-go/ocluster/policies/scfq"
	"github.com/ocluster-go/ocluster/sim/simtest"
)

// BenchmarkPolicy is the quality of every policy's decisions on every
// built-in scenario, one seed per run (see simtest.BenchmarkPolicies);
// results/policy-quality.txt is its benchstat table.
func BenchmarkPolicy(b *testing.B) {
	var names []string
	for _, p := range core.Policies() {
		names = append(names, p.Name)
	}
	simtest.BenchmarkPolicies(b, names)
}
