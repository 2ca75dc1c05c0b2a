package e2e

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ocluster-go/ocluster/runners/docker/dockertest"
)

func TestProductionQuickStart(t *testing.T) {
	dir := t.TempDir()
	port, metrics := freePort(t), freePort(t)
	sched := startScheduler(t, dir, port, metrics, "--trace", "trace.jsonl")
	sched.waitFor(t, "Wrote capability reference to capnp-secrets/admin.cap")
	sched.waitFor(t, "Wrote capability reference to capnp-secrets/pool-linux-x86_64.cap")
	for _, f := range []string{"key.pem", "capnp-secrets/admin.cap", "capnp-secrets/pool-linux-x86_64.cap", "var/scheduler.db"} {
		if fi, err := os.Stat(filepath.Join(dir, f)); err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("%s: %v %v (want mode 0600)", f, fi.Mode(), err)
		}
	}
	admin := func(args ...string) (string, int) {
		return run(t, dir, "ocluster-admin", append([]string{"-c", "capnp-secrets/admin.cap"}, args...)...)
	}
	// --out writes the capability in a file only its owner reads, and
	// never over another; without it, the capability is printed.
	if out, code := admin("add-client", "test-user", "--out", "submission.cap"); code != 0 || out != "Wrote submission.cap (readable by you only).\n" {
		t.Fatalf("add-client --out: exit %d %q", code, out)
	}
	if fi, err := os.Stat(filepath.Join(dir, "submission.cap")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("submission.cap: %v %v (want mode 0600)", fi, err)
	}
	if capFile, err := os.ReadFile(filepath.Join(dir, "submission.cap")); err != nil || !strings.HasPrefix(string(capFile), "capnp://sha-256:") {
		t.Fatalf("submission.cap: %v %q", err, capFile)
	}
	if out, code := admin("add-client", "other", "--out", "submission.cap"); code != 2 || !strings.Contains(out, "never overwritten") {
		t.Fatalf("add-client --out over an existing file: exit %d %q", code, out)
	}
	if capFile, code := admin("add-client", "other"); code != 0 || !strings.HasPrefix(capFile, "capnp://sha-256:") {
		t.Fatalf("add-client: %d %s", code, capFile)
	}
	if out, _ := admin("remove-client", "other"); out != "Removed client other: its capability no longer works.\n" {
		t.Fatalf("remove-client: %q", out)
	}
	start(t, dir, "ocluster-stress", "worker", "-c", "capnp-secrets/pool-linux-x86_64.cap", "--name", "worker-1", "--state-dir", "wvar", "--speed", "600")
	sched.waitFor(t, `msg="Registered new worker" worker=worker-1 `)
	os.WriteFile(filepath.Join(dir, "Dockerfile.test"), []byte("FROM "+dockertest.BaseImage+"\nRUN date\n"), 0o644)
	out, code := run(t, dir, "ocluster-client", "-c", "submission.cap", "submit-docker", "--local-dockerfile", "Dockerfile.test", "--pool=linux-x86_64", "--cache-hint", "tutorial")
	if code != 0 || !strings.HasPrefix(out, "Tailing log:\nBuilding on worker-1\n") || !strings.HasSuffix(out, "Job succeeded\n") {
		t.Fatalf("submit-docker: exit %d\n%s", code, out)
	}
	checks := []struct {
		args []string
		want string
		code int
	}{
		{[]string{"show"}, "linux-x86_64\n", 0},
		{[]string{"show", "linux-x86_64", "worker-1"}, "worker-1: Running\n", 0},
		{[]string{"pause", "linux-x86_64", "worker-1"}, "Success.\n", 0},
		{[]string{"show", "linux-x86_64", "worker-1"}, "worker-1: Paused\n", 0},
		{[]string{"unpause", "linux-x86_64", "worker-1"}, "Success.\n", 0},
		{[]string{"set-rate", "linux-x86_64", "test-user", "3"}, "Rate of test-user in linux-x86_64 set to 3.\n", 0},
		{[]string{"set-rate", "linux-x86_64", "test-user", "1e-320"}, "Rate 1e-320: invalid rate: must be a number from 1e-06 to 1e+06 (rates are relative shares: 1 and 2 give one client twice the other's share)\n", 1},
		{[]string{"list-clients"}, "test-user\n", 0},
		{[]string{"forget", "linux-x86_64", "worker-1"}, "Worker \"worker-1\" is still connected!\n", 1},
		{[]string{"set-rate", "linux-x86_64", "nobody", "3"}, "No such user \"nobody\" (see list-clients)\n", 1},
		{[]string{"show", "nope"}, "No such pool \"nope\" (pools: linux-x86_64)\n", 1},
		{[]string{"set-rate", "linux-x86_64", "test-user"}, "", 2},
	}
	for _, c := range checks {
		out, code := admin(c.args...)
		if code != c.code || (c.want != "" && out != c.want) {
			t.Errorf("ocluster-admin %v: exit %d, %q; want %d, %q", c.args, code, out, c.code, c.want)
		}
	}
	if out, _ := admin("show", "linux-x86_64"); !strings.Contains(out, "worker-1 (0): [] (0 running)") || !strings.Contains(out, "test-user(3)") {
		t.Errorf("show linux-x86_64:\n%s", out)
	}
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", metrics))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, m := range []string{"ocluster_pool_jobs_submitted_total", "ocluster_pool_jobs_accepted_total", "ocluster_pool_workers_connected",
		"ocluster_pool_workers_capacity", "ocluster_pool_queue_length", "ocluster_scheduler_job_wait_seconds_bucket"} {
		if !strings.Contains(string(body), m) {
			t.Errorf("/metrics lacks %s", m)
		}
	}
	if out, code := admin("remove-client", "test-user"); code != 0 {
		t.Fatalf("remove-client: %d %s", code, out)
	}
	out, code = run(t, dir, "ocluster-client", "-c", "submission.cap", "submit-docker", "--local-dockerfile", "Dockerfile.test", "--pool=linux-x86_64")
	if code != 1 || !strings.Contains(out, "Access has been revoked") {
		t.Fatalf("a revoked client: exit %d\n%s", code, out)
	}
	// The trace the scheduler records replays in the simulator.
	sched.cmd.Process.Signal(syscall.SIGTERM)
	sched.wait()
	out, code = run(t, dir, "ocluster-sim", "replay", "--trace", "trace.jsonl", "--format", "json")
	if code != 0 || !strings.Contains(out, `"jobs": 1`) {
		t.Fatalf("replaying the production trace: exit %d\n%s", code, out)
	}
}

func TestWorkerKilledMidJob(t *testing.T) {
	dir := t.TempDir()
	// OCluster's behaviour: the job fails. The client is a default one,
	// whose capability file is named after it, as OCluster names it.
	sched := startScheduler(t, dir, freePort(t), freePort(t), "--policy", "ocluster", "--default-clients", "c")
	os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM "+dockertest.BaseImage+"\n"), 0o644)
	w := start(t, dir, "ocluster-stress", "worker", "-c", "capnp-secrets/pool-linux-x86_64.cap", "--name", "slow", "--state-dir", "w", "--speed", "1", "--uncached", "60s")
	sched.waitFor(t, `msg="Registered new worker" worker=slow `)
	client := start(t, dir, "ocluster-client", "-c", "capnp-secrets/c.cap", "submit-docker", "--local-dockerfile", "Dockerfile", "--pool", "linux-x86_64", "--cache-hint", "opam-5.1")
	client.waitFor(t, "Synthetic docker job")
	// show says which job runs where, by its cache hint (OCluster #212).
	if out, _ := run(t, dir, "ocluster-admin", "-c", "capnp-secrets/admin.cap", "show", "linux-x86_64"); !strings.Contains(out, "slow (") || !strings.Contains(out, "(1 running: c:opam-5.1)") {
		t.Fatalf("show does not name the running job by its hint:\n%s", out)
	}
	w.kill()
	if code := client.wait(); code != 1 || !strings.Contains(client.output(), `Worker "slow" disconnected while running the job`) {
		t.Fatalf("the client of a killed worker's job: exit %d\n%s", code, client.output())
	}
	sched.waitFor(t, `msg="Worker disconnected" worker=slow `)
}

// The scheduler is killed with -9 and restarted: clients, rates, admin
// pauses and the cache index are all there.
func TestSchedulerRestartKeepsState(t *testing.T) {
	dir := t.TempDir()
	port, metrics := freePort(t), freePort(t)
	sched := startScheduler(t, dir, port, metrics)
	admin := func(args ...string) (string, int) {
		return run(t, dir, "ocluster-admin", append([]string{"-c", "capnp-secrets/admin.cap"}, args...)...)
	}
	capFile, _ := admin("add-client", "c")
	os.WriteFile(filepath.Join(dir, "c.cap"), []byte(capFile), 0o600)
	os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM "+dockertest.BaseImage+"\n"), 0o644)
	worker := func(name string) {
		start(t, dir, "ocluster-stress", "worker", "-c", "capnp-secrets/pool-linux-x86_64.cap", "--name", name, "--state-dir", name, "--speed", "600", "--retry-delay", "100ms")
	}
	worker("alpha")
	sched.waitFor(t, `msg="Registered new worker" worker=alpha `)
	submit := func(hint string) string {
		out, code := run(t, dir, "ocluster-client", "-c", "c.cap", "submit-docker", "--local-dockerfile", "Dockerfile", "--pool", "linux-x86_64", "--cache-hint", hint)
		if code != 0 {
			t.Fatalf("submit: exit %d\n%s", code, out)
		}
		return out
	}
	submit("warm") // alpha now has "warm" cached
	admin("set-rate", "linux-x86_64", "c", "7")
	admin("pause", "linux-x86_64", "ghost", "--auto-create")
	time.Sleep(500 * time.Millisecond) // the cache row is written in the background
	sched.kill()
	sched.wait()

	sched = startScheduler(t, dir, port, metrics)
	sched.waitFor(t, `msg="Registered new worker" worker=alpha `) // it reconnects by itself
	worker("beta")
	sched.waitFor(t, `msg="Registered new worker" worker=beta `)
	if out, _ := admin("list-clients"); out != "c\n" {
		t.Fatalf("clients after a restart: %q", out)
	}
	if out, _ := admin("show", "linux-x86_64", "ghost"); out != "ghost: Paused\n" {
		t.Fatalf("an admin pause after a restart: %q", out)
	}
	// Both workers wait; the job goes to the one that has its hint cached.
	for range 3 {
		if out := submit("warm"); !strings.Contains(out, "Building on alpha\n") {
			t.Fatalf("a job for a cached hint after a restart:\n%s", out)
		}
	}
	if out, _ := admin("show", "linux-x86_64"); !strings.Contains(out, "c(7)") {
		t.Fatalf("the rate after a restart:\n%s", out)
	}
}
