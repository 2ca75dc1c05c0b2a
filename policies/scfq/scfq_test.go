package scfq_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ocluster-go/ocluster/core"
	"github.com/ocluster-go/ocluster/core/coretest"
	"github.com/ocluster-go/ocluster/core/scenario"
	"github.com/ocluster-go/ocluster/core/scenario/scenariotest"
	"github.com/ocluster-go/ocluster/policies/scfq"
	"github.com/ocluster-go/ocluster/sim/simtest"
)

// The policy's scenarios, run as the core's are, with its invariants
// checked after every command. go test -rewrite writes what the policy
// does into the files whose output differs, to be read and committed.
func TestScenarios(t *testing.T) {
	require.NotZero(t, scenariotest.RunDir(t, "testdata", scenario.Options{Policy: scfq.Name}))
}

// What the finish tags change: under OCluster's start tags the same
// queue serves alice's second long job before bob's short one.
func TestShortJobsOvertakeOnlyUnderFinishTags(t *testing.T) {
	const script = `pool p
costs 10 600
submit alice a1
submit alice a2
submit bob b1 hint=h
submit bob b2 hint=h
register w capacity=1
activate w
flush w
`
	order := func(policy string) string {
		res, err := scenario.Run("order", script, scenario.Options{Policy: policy, CheckInvariants: true})
		require.NoError(t, err)
		_, flushed, _ := strings.Cut(res.Actual, "flush w\n")
		return strings.ReplaceAll(flushed, "> Flush ", "")
	}
	assert.Equal(t, "a1\nb1\nb2\na2\n", order(scfq.Name))
	assert.Equal(t, "a1\nb1\na2\nb2\n", order("ocluster"))
}

// The core's invariants hold under the policy whatever happens, it never
// gives an answer the core must refuse, and it is deterministic.
func TestRandomOperations(t *testing.T) {
	seeds := 1000
	if testing.Short() {
		seeds = 100
	}
	coretest.RandomOperations(t, scfq.Name, core.Override{}, seeds, 300)
}

// The quality of its decisions beside the default's, on every built-in
// scenario: go test -run '^$' -bench . -benchtime 1x -count 10 ./policies/scfq/
func BenchmarkPolicy(b *testing.B) {
	simtest.BenchmarkPolicies(b, []string{scfq.Name, core.DefaultPolicy})
}
