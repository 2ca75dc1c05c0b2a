package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ocluster-go/ocluster/runners/docker/dockertest"
)

// Under the default policy a running job survives its worker, with the
// real binaries: killed with -9, frozen (SIGSTOP: the connection stays
// open but nothing answers, until the lease runs out) or force-paused by
// the admin, the job moves to another worker and its client sees it
// succeed (OCluster #110, #167, #169). TestWorkerKilledMidJob is the
// baseline, where the job fails.
func TestRunningJobSurvivesItsWorker(t *testing.T) {
	for _, how := range []string{"killed", "frozen", "force-paused"} {
		t.Run(how, func(t *testing.T) {
			dir := t.TempDir()
			sched := startScheduler(t, dir, freePort(t), freePort(t), "--lease", "2s")
			capFile, _ := run(t, dir, "ocluster-admin", "-c", "capnp-secrets/admin.cap", "add-client", "c")
			os.WriteFile(filepath.Join(dir, "c.cap"), []byte(capFile), 0o600)
			os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM "+dockertest.BaseImage+"\n"), 0o644)
			worker := func(name, speed string) *process {
				return start(t, dir, "ocluster-stress", "worker", "-c", "capnp-secrets/pool-linux-x86_64.cap", "--name", name, "--state-dir", name, "--speed", speed, "--uncached", "60s")
			}
			slow := worker("slow", "1")
			sched.waitFor(t, `msg="Registered new worker" worker=slow `)
			client := start(t, dir, "ocluster-client", "-c", "c.cap", "submit-docker", "--local-dockerfile", "Dockerfile", "--pool", "linux-x86_64")
			client.waitFor(t, "Synthetic docker job")
			worker("spare", "600") // a 60 s build takes it 0.1 s
			sched.waitFor(t, `msg="Registered new worker" worker=spare `)
			why := "its worker was lost"
			switch how {
			case "killed":
				slow.kill()
			case "frozen":
				slow.cmd.Process.Signal(syscall.SIGSTOP)
				defer slow.cmd.Process.Signal(syscall.SIGCONT)
			case "force-paused":
				why = "the admin force-paused its worker"
				if out, code := run(t, dir, "ocluster-admin", "-c", "capnp-secrets/admin.cap", "pause", "--force", "linux-x86_64", "slow"); code != 0 {
					t.Fatalf("pause --force: exit %d\n%s", code, out)
				}
			}
			select {
			case <-client.done:
			case <-time.After(60 * time.Second):
				t.Fatalf("the job did not move to spare in a minute; the client printed:\n%s\nthe scheduler:\n%s", client.output(), sched.output())
			}
			out := client.output()
			note := `--- ` + why + `, so the job was queued again; attempt 2 runs on "spare" ---`
			if code := client.wait(); code != 0 || !strings.Contains(out, note) || !strings.HasSuffix(out, "Job succeeded\n") {
				t.Fatalf("the client of the moved job: exit %d, want 0, the line %q and success:\n%s\nthe scheduler:\n%s", code, note, out, sched.output())
			}
			if how == "frozen" {
				sched.waitFor(t, `msg="Worker gave no sign of life for a lease: dropping it" worker=slow pool=linux-x86_64 lease=2s`)
			}
		})
	}
}
