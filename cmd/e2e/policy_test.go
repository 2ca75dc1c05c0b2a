package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ocluster-go/ocluster/runners/docker/dockertest"
)

// A policy written in its own package (policies/scfq), against the core's
// public API only, is a choice by name in the simulator and in a real
// scheduler, as the built-in ones are.
func TestPolicyOutsideTheCore(t *testing.T) {
	dir := t.TempDir()
	out, code := run(t, dir, "ocluster-sim", "policies")
	require.Equal(t, 0, code, out)
	assert.Contains(t, out, "scfq\tself-clocked fair queuing")

	out, code = run(t, dir, "ocluster-sim", "compare", "--scenario", "small", "--seeds", "2", "--policies", "ocluster,scfq", "--format", "json")
	require.Equal(t, 0, code, out)
	var cmp struct {
		Policies []string
		Metrics  []struct {
			Metric   string
			Policies []struct{ N int }
		}
	}
	require.NoError(t, json.Unmarshal([]byte(out), &cmp))
	assert.Equal(t, []string{"ocluster", "scfq"}, cmp.Policies)
	require.NotEmpty(t, cmp.Metrics)
	assert.Equal(t, 2, cmp.Metrics[0].Policies[1].N, "scfq ran both seeds")

	sched := startScheduler(t, dir, freePort(t), freePort(t), "--policy", "scfq", "--trace", "trace.jsonl")
	capFile, code := run(t, dir, "ocluster-admin", "-c", "capnp-secrets/admin.cap", "add-client", "c")
	require.Equal(t, 0, code, capFile)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "c.cap"), []byte(capFile), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM "+dockertest.BaseImage+"\n"), 0o644))
	start(t, dir, "ocluster-stress", "worker", "-c", "capnp-secrets/pool-linux-x86_64.cap", "--name", "w", "--state-dir", "w", "--speed", "600")
	sched.waitFor(t, `msg="Registered new worker" worker=w `)
	for _, hint := range []string{"h", "h"} {
		out, code := run(t, dir, "ocluster-client", "-c", "c.cap", "submit-docker", "--local-dockerfile", "Dockerfile", "--pool", "linux-x86_64", "--cache-hint", hint)
		require.Equal(t, 0, code, out)
		assert.True(t, strings.HasSuffix(out, "Job succeeded\n"), out)
	}
	require.NoError(t, sched.cmd.Process.Signal(syscall.SIGTERM))
	sched.wait()
	data, err := os.ReadFile(filepath.Join(dir, "trace.jsonl"))
	require.NoError(t, err)
	header, _, _ := strings.Cut(string(data), "\n")
	assert.Contains(t, header, `"policy":"scfq"`)
	assert.Contains(t, string(data), `"cached":true`, "the second job ran where the first cached its hint")

	out, code = run(t, dir, "ocluster-scheduler", "--policy", "nonesuch", "--capnp-secret-key-file", "key2.pem",
		"--capnp-listen-address", "tcp:127.0.0.1:0", "--pools", "p", "--state-dir", "state2")
	assert.NotEqual(t, 0, code)
	assert.Contains(t, out, `unknown policy "nonesuch"`)
	assert.Contains(t, out, "scfq", "the error lists the policies there are")
	assert.NoFileExists(t, filepath.Join(dir, "key2.pem"), "a mistyped policy is refused before anything is created")
}
