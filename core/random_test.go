package core_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ocluster-go/ocluster/core"
	"github.com/ocluster-go/ocluster/core/coretest"
)

func TestRandomOperationsKeepInvariants(t *testing.T) {
	seeds := 3000
	if testing.Short() {
		seeds = 300
	}
	for _, p := range core.Policies() {
		if strings.HasSuffix(p.Name, "-test") || p.Name == "nonsense" {
			continue // the tests' own, which misbehave on purpose
		}
		t.Run(p.Name, func(t *testing.T) {
			coretest.RandomOperations(t, p.Name, core.Override{}, seeds, 300)
		})
	}
	// The cache index's bound and age limit, which no policy sets itself.
	t.Run("combined-bounded-cache", func(t *testing.T) {
		cacheLimit, cacheAge := 2, 30.0
		coretest.RandomOperations(t, "combined", core.Override{CacheLimit: &cacheLimit, CacheAge: &cacheAge}, seeds, 300)
	})
	// Whatever a policy answers, the pool stays consistent: the world
	// checks the invariants after every step.
	t.Run("nonsense", func(t *testing.T) {
		for seed := range uint64(seeds) {
			coretest.NewWorld(t, "nonsense", core.Override{}, seed).Run(300)
		}
	})
}

// The first answer the pool could not apply is reported, naming the
// policy; the built-in policies never give one.
func TestNonsenseAnswersAreReported(t *testing.T) {
	w := coretest.NewWorld(t, "nonsense", core.Override{}, 7)
	w.Run(300)
	err := w.Scheduler().PolicyError()
	require.ErrorIs(t, err, core.ErrPolicyAnswer)
	assert.Contains(t, err.Error(), `policy "nonsense"`)

	for _, name := range []string{"ocluster", "combined", "adaptive", "sfq", "ideal"} {
		w := coretest.NewWorld(t, name, core.Override{}, 7)
		w.Run(300)
		assert.NoError(t, w.Scheduler().PolicyError(), name)
	}
}
