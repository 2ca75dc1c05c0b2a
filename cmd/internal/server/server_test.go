package server

import (
	"context"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ocluster-go/ocluster/trace"
)

// testConfig is a scheduler of one pool, "a", with its files in dir, on
// a free loopback port.
func testConfig(dir string) Config {
	return Config{
		KeyFile:    filepath.Join(dir, "key.pem"),
		Listen:     "127.0.0.1:0",
		StateDir:   filepath.Join(dir, "state"),
		SecretsDir: filepath.Join(dir, "secrets"),
		Pools:      []string{"a"},
		Logger:     slog.New(slog.DiscardHandler),
	}
}

// A scheduler started twice on the same folders keeps its key, so the
// .cap files it wrote stay valid; its trace is never overwritten.
func TestStartWritesCapsAndKeepsThemAcrossRestarts(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(dir)
	cfg.Clients = []string{"alice"}
	cfg.Trace = filepath.Join(dir, "trace")
	cfg.TraceHeader = trace.Header{Source: "test", Pools: []string{"a"}}
	s, err := Start(context.Background(), cfg)
	require.NoError(t, err)
	assert.Equal(t, s.Addr, s.PublicAddr, "a loopback address is the public one")
	assert.Empty(t, s.MetricsAddr)
	admin, err := os.ReadFile(filepath.Join(cfg.SecretsDir, "admin.cap"))
	require.NoError(t, err)
	assert.FileExists(t, filepath.Join(cfg.SecretsDir, "pool-a.cap"))
	assert.FileExists(t, filepath.Join(cfg.SecretsDir, "alice.cap"))
	assert.NoFileExists(t, filepath.Join(cfg.SecretsDir, "submit-alice.cap"))
	require.NoError(t, s.Close())
	cfg.Listen = s.Addr // the .cap files name the port
	h, _, ending, err := trace.ReadFile(cfg.Trace)
	require.NoError(t, err)
	assert.Equal(t, "test", h.Source)
	assert.Equal(t, trace.Ended, ending, "a scheduler that closed cleanly leaves a complete trace")

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

// Metrics are served on a port of every interface, as OCluster's, or on
// the HOST:PORT given, so that an operator can keep them on loopback; a
// bad value is refused before anything is created.
func TestMetricsAddress(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(dir)
	cfg.Metrics = "127.0.0.1:0"
	s, err := Start(context.Background(), cfg)
	require.NoError(t, err)
	assert.Regexp(t, `^127\.0\.0\.1:\d+$`, s.MetricsAddr)
	require.NoError(t, s.Close())
	_, err = net.Dial("tcp", s.MetricsAddr)
	assert.Error(t, err, "the metrics port outlived the scheduler")

	for _, bad := range []string{"0", "65536", "nine", "localhost"} {
		cfg.Metrics = bad
		cfg.StateDir = filepath.Join(dir, "never-"+bad)
		_, err := Start(context.Background(), cfg)
		assert.ErrorContains(t, err, "--listen-prometheus", bad)
		assert.NoDirExists(t, cfg.StateDir, bad)
	}
	addr, err := metricsAddress("9090")
	require.NoError(t, err)
	assert.Equal(t, ":9090", addr)
}

// A pool's name names its .cap file: one that would put it outside the
// secrets folder is refused before anything is created.
func TestStartRefusesABadPoolName(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(dir)
	cfg.SecretsDir = filepath.Join(dir, "deep", "secrets")
	cfg.Pools = []string{"x/../../escaped"}
	_, err := Start(context.Background(), cfg)
	assert.ErrorContains(t, err, "--pools: pool name")
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Empty(t, entries, "something was created")
}

// A default client's file is <id>.cap, as OCluster names it. A client an
// earlier version registered, whose only file is submit-<id>.cap, gets
// <id>.cap from it (the scheduler keeps no copy of the secret), and a
// name whose file would be the admin's or a pool's is refused.
func TestDefaultClientCapFiles(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(dir)
	cfg.Clients = []string{"alice", "bob"}
	s, err := Start(context.Background(), cfg)
	require.NoError(t, err)
	cfg.Listen = s.Addr
	require.NoError(t, s.Close())
	alice := filepath.Join(cfg.SecretsDir, "alice.cap")
	written, err := os.ReadFile(alice)
	require.NoError(t, err)
	require.NoError(t, os.Rename(alice, filepath.Join(cfg.SecretsDir, "submit-alice.cap")))

	s, err = Start(context.Background(), cfg)
	require.NoError(t, err)
	require.NoError(t, s.Close())
	carried, err := os.ReadFile(alice)
	require.NoError(t, err)
	assert.Equal(t, string(written), string(carried), "the old file's capability, under the new name")

	for _, bad := range []struct{ id, want string }{
		{"admin", "admin.cap would be the admin's capability file"},
		{"pool-a", "pool-a.cap would be pool a's capability file"},
	} {
		cfg := testConfig(t.TempDir())
		cfg.Clients = []string{bad.id}
		_, err := Start(context.Background(), cfg)
		assert.ErrorContains(t, err, bad.want)
	}
}
