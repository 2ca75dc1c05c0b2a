package server

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ocluster-go/ocluster/trace"
)

// A scheduler started twice on the same folders keeps its key, so the
// .cap files it wrote stay valid; its trace is never overwritten.
func TestStartWritesCapsAndKeepsThemAcrossRestarts(t *testing.T) {
	dir := t.TempDir()
	cfg := Config{
		KeyFile:     filepath.Join(dir, "key.pem"),
		Listen:      "127.0.0.1:0",
		StateDir:    filepath.Join(dir, "state"),
		SecretsDir:  filepath.Join(dir, "secrets"),
		Clients:     []string{"alice"},
		Pools:       []string{"a"},
		Trace:       filepath.Join(dir, "trace"),
		TraceHeader: trace.Header{Source: "test", Pools: []string{"a"}},
		Logger:      slog.New(slog.DiscardHandler),
	}
	s, err := Start(context.Background(), cfg)
	require.NoError(t, err)
	assert.Equal(t, s.Addr, s.PublicAddr, "a loopback address is the public one")
	assert.Empty(t, s.MetricsAddr)
	admin, err := os.ReadFile(filepath.Join(cfg.SecretsDir, "admin.cap"))
	require.NoError(t, err)
	assert.FileExists(t, filepath.Join(cfg.SecretsDir, "pool-a.cap"))
	assert.FileExists(t, filepath.Join(cfg.SecretsDir, "submit-alice.cap"))
	require.NoError(t, s.Close())
	cfg.Listen = s.Addr // the .cap files name the port
	h, _, _, err := trace.ReadFile(cfg.Trace)
	require.NoError(t, err)
	assert.Equal(t, "test", h.Source)

	_, err = Start(context.Background(), cfg)
	assert.ErrorContains(t, err, "a trace is never overwritten")

	cfg.Trace = ""
	s, err = Start(context.Background(), cfg)
	require.NoError(t, err)
	defer s.Close()
	again, err := os.ReadFile(filepath.Join(cfg.SecretsDir, "admin.cap"))
	require.NoError(t, err)
	assert.Equal(t, string(admin), string(again), "the same key, secret and address")
}
