package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ocluster-go/ocluster/runners/docker/dockertest"
)

// A new user's job that no worker takes is not a silent wait: the client
// says where it stands and why (no worker, then one the admin paused),
// and the admin's show names the reason, until the worker takes the job.
func TestClientSaysWhyItsJobWaits(t *testing.T) {
	dir := t.TempDir()
	sched := startScheduler(t, dir, freePort(t), freePort(t))
	sched.waitFor(t, "Wrote capability reference to capnp-secrets/admin.cap")
	admin := func(args ...string) string {
		t.Helper()
		out, code := run(t, dir, "ocluster-admin", append([]string{"-c", "capnp-secrets/admin.cap"}, args...)...)
		require.Equal(t, 0, code, "ocluster-admin %s: %s", strings.Join(args, " "), out)
		return out
	}
	admin("add-client", "test-user", "--out", "submission.cap")
	require.NoError(t, os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM "+dockertest.BaseImage+"\n"), 0o644))
	client := start(t, dir, "ocluster-client", "-c", "submission.cap", "submit-docker", "--local-dockerfile", "Dockerfile", "--pool=linux-x86_64")
	client.waitFor(t, "Waiting for a worker: queued: position 1 of 1 in the queue of pool linux-x86_64; no worker is connected to pool linux-x86_64")

	admin("pause", "linux-x86_64", "worker-1", "--auto-create")
	start(t, dir, "ocluster-stress", "worker", "-c", "capnp-secrets/pool-linux-x86_64.cap", "--name", "worker-1", "--state-dir", "wvar", "--speed", "600")
	sched.waitFor(t, `msg="Registered new worker" worker=worker-1 `)
	client.waitFor(t, "no worker takes jobs: worker-1 paused by the admin (ocluster-admin unpause linux-x86_64 worker-1)")
	require.Contains(t, admin("show", "linux-x86_64"), "inactive:\n  worker-1: paused by the admin (ocluster-admin unpause linux-x86_64 worker-1)")

	admin("unpause", "linux-x86_64", "worker-1")
	require.Equal(t, 0, client.wait(), client.output())
	require.Contains(t, client.output(), "Job succeeded")
	t.Logf("the client said:\n%s", client.output())
}
