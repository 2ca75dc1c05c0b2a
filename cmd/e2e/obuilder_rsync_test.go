package e2e

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ocluster-go/ocluster/runners/docker/dockertest"
)

// requireRunc skips when this machine cannot run an rsync: store (runc,
// rsync, root), unless the build tests are required.
func requireRunc(t *testing.T) {
	t.Helper()
	why := ""
	for _, tool := range []string{"runc", "rsync"} {
		if _, err := exec.LookPath(tool); err != nil {
			why = tool + " is not installed (apt-get install " + tool + ")"
		}
	}
	if why == "" && os.Geteuid() != 0 {
		why = "an rsync: OBuilder store runs runc as root, and the tests do not run as root"
	}
	if why == "" {
		return
	}
	if os.Getenv("OCLUSTER_REQUIRE_DOCKER") != "" {
		t.Fatalf("OCLUSTER_REQUIRE_DOCKER is set, but %s", why)
	}
	t.Skip(why)
}

// leftovers lists the runc containers whose bundle is in the store, the
// mounts under it, its unfinished steps and the processes whose command
// line holds marker.
func (c *buildCluster) leftovers(marker string) []string {
	c.t.Helper()
	var left []string
	out, err := exec.Command("runc", "list", "--format", "json").Output()
	require.NoError(c.t, err)
	var list []struct{ ID, Bundle string }
	if s := bytes.TrimSpace(out); len(s) > 0 && string(s) != "null" {
		require.NoError(c.t, json.Unmarshal(s, &list))
	}
	for _, ctr := range list {
		if strings.HasPrefix(ctr.Bundle, c.store) {
			left = append(left, "runc container "+ctr.ID)
		}
	}
	mounts, err := os.ReadFile("/proc/mounts")
	require.NoError(c.t, err)
	for _, l := range strings.Split(string(mounts), "\n") {
		if strings.Contains(l, c.store) {
			left = append(left, "mount "+l)
		}
	}
	tmps, _ := os.ReadDir(filepath.Join(c.store, "result-tmp"))
	for _, d := range tmps {
		left = append(left, "unfinished step "+d.Name())
	}
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		if b, err := os.ReadFile(p); err == nil && bytes.Contains(b, []byte(marker)) && !bytes.Contains(b, []byte("ocluster-client")) {
			left = append(left, "process "+strings.ReplaceAll(string(b), "\x00", " "))
		}
	}
	return left
}

// An ocluster-worker with an rsync: store (steps run with runc): a spec
// built twice, the second time from cache; a failing step; a cancelled
// build that leaves nothing behind.
func TestOBuilderRsyncStore(t *testing.T) {
	requireRunc(t)
	c := startBuildClusterOn(t, "rsync", "--rsync-mode", "hardlink")
	marker := "ocluster-e2e-rsync-" + strings.ReplaceAll(t.Name(), "/", "-") + "-" + time.Now().Format("150405.000")

	spec := c.file("spec", `((from `+dockertest.BaseImage+`)
 (env RUN `+marker+`)
 (workdir /src)
 (run (shell "echo first > a.txt"))
 (run (shell "cat a.txt")))
`)
	first, code := c.submit("submit-obuilder", "--local-file", spec)
	require.Equal(t, 0, code, first)
	second, code := c.submit("submit-obuilder", "--local-file", spec)
	require.Equal(t, 0, code, second)
	key := result(t, first)
	assert.Equal(t, key, result(t, second))
	assert.Regexp(t, `^[0-9a-f]{64}$`, key, "the result is the final step's key")
	assert.DirExists(t, filepath.Join(c.store, "result", key, "rootfs", "src"))
	assert.Equal(t, 2, strings.Count(second, "from cache"), second)
	assert.False(t, regexp.MustCompile(`(?m)^first$`).MatchString(second), "the second build ran steps again:\n%s", second)

	out, code := c.submit("submit-obuilder", "--local-file", c.file("failing", `((from `+dockertest.BaseImage+`)
 (run (shell "echo about to fail; exit 3")))
`))
	assert.Equal(t, 1, code, out)
	assert.Contains(t, out, "about to fail")
	assert.Contains(t, out, "exit code 3")

	submitter := start(t, c.dir, "ocluster-client", "-c", "submission.cap", "submit-obuilder", "--pool", "linux-x86_64",
		"--local-file", c.file("slow", `((from `+dockertest.BaseImage+`)
 (run (shell "echo `+marker+`; sleep 300; echo `+marker+`")))
`))
	submitter.waitFor(t, marker+"\n") // the step's output, not its heading
	require.NotEmpty(t, c.leftovers(marker), "the step should be running")
	submitter.kill()
	submitter.wait()
	c.worker.waitFor(t, "result=cancelled")
	var left []string
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if left = c.leftovers(marker); len(left) == 0 {
			break
		}
	}
	assert.Empty(t, left, "the cancelled build left these behind")
}
