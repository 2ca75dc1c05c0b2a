package testbed

import (
	"context"
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ocluster-go/ocluster/cmd/internal/server"
	"github.com/ocluster-go/ocluster/core"
	"github.com/ocluster-go/ocluster/sim"
	"github.com/ocluster-go/ocluster/transport/wire"
)

// A second load against the same scheduler replaces the clients the
// first one registered (their secrets went with that load).
func TestSetUpClientsReplacesAnEarlierRunsClients(t *testing.T) {
	sc, err := sim.Open(filepath.Join("testdata", "unambiguous.yaml"))
	require.NoError(t, err)
	wl, err := Simulate(sc, 1, 0, "ocluster", core.Override{})
	require.NoError(t, err)
	var pools []string
	for _, p := range sc.Pools {
		pools = append(pools, p.Name)
	}
	dir := t.TempDir()
	log := slog.New(slog.DiscardHandler)
	s, err := server.Start(t.Context(), server.Config{KeyFile: filepath.Join(dir, "key.pem"), Listen: "127.0.0.1:0",
		StateDir: dir, SecretsDir: filepath.Join(dir, "secrets"), Pools: pools, Logger: log})
	require.NoError(t, err)
	defer s.Close()
	admin, err := wire.ReadCapFile(filepath.Join(dir, "secrets", "admin.cap"))
	require.NoError(t, err)
	for range 2 {
		subs, closeSubs, err := SetUpClients(context.Background(), admin, wl, "", log)
		require.NoError(t, err)
		assert.NotEmpty(t, subs)
		closeSubs()
	}
}
