package e2e

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/client"

	"github.com/ocluster-go/ocluster/runners/docker/dockertest"
	"github.com/ocluster-go/ocluster/runners/gitctx/gittest"
	"github.com/ocluster-go/ocluster/runners/obuilder"
)

// Real builds through the real commands: a scheduler, an ocluster-worker
// on the machine's Docker engine, and ocluster-client.

type buildCluster struct {
	t      *testing.T
	dir    string
	cli    *client.Client
	worker *process
	store  string // the OBuilder store's path
}

func startBuildCluster(t *testing.T, workerFlags ...string) *buildCluster {
	return startBuildClusterOn(t, "docker", workerFlags...)
}

// startBuildClusterOn starts a cluster whose worker's OBuilder store is of
// the kind given (docker or rsync).
func startBuildClusterOn(t *testing.T, storeKind string, workerFlags ...string) *buildCluster {
	cli := dockertest.Engine(t)
	dockertest.Base(t, cli)
	dir := t.TempDir()
	sched := startScheduler(t, dir, freePort(t), freePort(t))
	out, code := run(t, dir, "ocluster-admin", "-c", "capnp-secrets/admin.cap", "add-client", "builder")
	if code != 0 {
		t.Fatalf("add-client: %s", out)
	}
	os.WriteFile(filepath.Join(dir, "submission.cap"), []byte(out), 0o600)
	obuilderStore := filepath.Join(dir, "obuilder")
	// Registered before the worker starts, so that it runs once the
	// worker has stopped.
	t.Cleanup(func() { removeOBuilderStore(t, cli, obuilderStore) })
	args := append([]string{"-c", "capnp-secrets/pool-linux-x86_64.cap", "--name", "builder-1", "--state-dir", "worker",
		"--capacity", "2", "--obuilder-store", storeKind + ":" + obuilderStore,
		"--obuilder-healthcheck-image", dockertest.BaseImage,
		// The machine's free space is not the test's business: a disk below
		// the default 30% would keep the worker pruning instead of building.
		"--obuilder-prune-threshold", "0"}, workerFlags...)
	w := start(t, dir, "ocluster-worker", args...)
	sched.waitFor(t, `msg="Registered new worker" worker=builder-1 `)
	return &buildCluster{t: t, dir: dir, cli: cli, worker: w, store: obuilderStore}
}

// removeOBuilderStore removes the obuilder-cache images and the cache
// volumes of the store at path, and only those: the runner labels them
// with their store's path.
func removeOBuilderStore(t *testing.T, cli *client.Client, path string) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := dockertest.RemoveLabelled(ctx, cli, obuilder.StoreLabel(path)); err != nil {
		t.Errorf("the obuilder store's images stay behind: %v", err)
	}
}

// file writes a file in the cluster's folder and returns its name.
func (c *buildCluster) file(name, content string) string {
	if err := os.WriteFile(filepath.Join(c.dir, name), []byte(content), 0o644); err != nil {
		c.t.Fatal(err)
	}
	return name
}

// submit runs ocluster-client with the cluster's submission capability.
func (c *buildCluster) submit(kind string, args ...string) (string, int) {
	c.t.Helper()
	return run(c.t, c.dir, "ocluster-client", append([]string{"-c", "submission.cap", kind, "--pool", "linux-x86_64"}, args...)...)
}

var resultLine = regexp.MustCompile(`(?m)^Result: "([^"]*)"$`)

func result(t *testing.T, out string) string {
	t.Helper()
	m := resultLine.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no Result line in:\n%s", out)
	}
	return m[1]
}

// The seed's job, FROM busybox / RUN date: the image is built and exists.
func TestDockerBuild(t *testing.T) {
	c := startBuildCluster(t)
	out, code := c.submit("submit-docker", "--local-dockerfile", c.file("Dockerfile.test", "FROM "+dockertest.BaseImage+"\nRUN date\n"), "--cache-hint", "tutorial")
	if code != 0 || !strings.HasPrefix(out, "Tailing log:\nBuilding on builder-1\n") || !strings.Contains(out, "Job succeeded") {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	id := result(t, out)
	if _, err := c.cli.ImageInspect(context.Background(), id); err != nil {
		t.Fatalf("the result %q is not an image: %v", id, err)
	}
}

// A failing build fails the client with the step's exit code and the last
// lines of its output.
func TestDockerBuildFails(t *testing.T) {
	c := startBuildCluster(t)
	out, code := c.submit("submit-docker", "--local-dockerfile", c.file("Dockerfile", "FROM "+dockertest.BaseImage+"\nRUN echo about to fail && exit 3\n"))
	if code != 1 || !strings.Contains(out, "about to fail") || !strings.Contains(out, "3") {
		t.Fatalf("exit %d:\n%s", code, out)
	}
}

// A client that goes away cancels its build: no container of it is left
// running.
func TestDockerBuildCancelled(t *testing.T) {
	c := startBuildCluster(t)
	marker := "ocluster-e2e-" + strings.ReplaceAll(t.Name(), "/", "-")
	submitter := start(t, c.dir, "ocluster-client", "-c", "submission.cap", "submit-docker", "--pool", "linux-x86_64",
		"--local-dockerfile", c.file("Dockerfile", "FROM "+dockertest.BaseImage+"\nRUN echo "+marker+" && sleep 300\n"))
	submitter.waitFor(t, marker)
	submitter.kill()
	submitter.wait()
	c.worker.waitFor(t, "result=cancelled")
	deadline := time.Now().Add(30 * time.Second)
	for {
		list, err := c.cli.ContainerList(context.Background(), client.ContainerListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		running := 0
		for _, ctr := range list.Items {
			if strings.Contains(ctr.Command, marker) {
				running++
			}
		}
		if running == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d containers of the cancelled build still run", running)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// A build from a git context: the first commit checked out with the second
// merged in, fetched from a git daemon.
func TestDockerBuildFromGit(t *testing.T) {
	c := startBuildCluster(t)
	srv := gittest.Start(t)
	repo := srv.Repo("project")
	// Contents of this run only, so that the engine's cache cannot answer.
	run := strconv.FormatInt(time.Now().UnixNano(), 36)
	repo.Commit("base", map[string]string{
		"Dockerfile": "FROM " + dockertest.BaseImage + "\nCOPY . /src\nRUN cat /src/a.txt /src/b.txt\n",
		"a.txt":      "from the first commit\n",
	})
	repo.Git("checkout", "-q", "-b", "feature")
	feature := repo.Commit("feature", map[string]string{"b.txt": "from the merged commit " + run + "\n"})
	repo.Git("checkout", "-q", "main")
	main := repo.Commit("main moves on", map[string]string{"a.txt": "from the first commit, amended " + run + "\n"})
	out, code := c.submit("submit-docker", repo.URL, main, feature)
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	for _, want := range []string{"from the first commit, amended " + run, "from the merged commit " + run} {
		if !strings.Contains(out, want) {
			t.Errorf("the build's log lacks %q:\n%s", want, out)
		}
	}
	if _, err := c.cli.ImageInspect(context.Background(), result(t, out)); err != nil {
		t.Fatalf("the result is not an image: %v", err)
	}

	// A Dockerfile path that leaves the context is refused.
	out, code = c.submit("submit-docker", repo.URL, main, "--context-dockerfile", "../../etc/passwd")
	if code != 1 || !strings.Contains(out, "../../etc/passwd") {
		t.Fatalf("a Dockerfile outside the context: exit %d:\n%s", code, out)
	}
}

// A push goes to a registry the worker was started with --allow-push for,
// and the result is the pushed digest; any other repository is refused,
// naming the flag.
func TestDockerPush(t *testing.T) {
	reg := dockertest.StartRegistry(t, "", "pusher", "s3cret")
	allowed := reg.Addr + "/ocluster/e2e"
	c := startBuildCluster(t, "--allow-push", allowed)
	password := c.file("password", "s3cret")
	dockerfile := c.file("Dockerfile", "FROM "+dockertest.BaseImage+"\nRUN echo pushed > /f\n")
	out, code := c.submit("submit-docker", "--local-dockerfile", dockerfile,
		"--push-to", allowed+":v1", "--push-user", "pusher", "--push-password", password)
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	t.Cleanup(func() {
		c.cli.ImageRemove(context.Background(), allowed+":v1", client.ImageRemoveOptions{})
	})
	digest := reg.ManifestDigest(t, "ocluster/e2e", "v1")
	if got := result(t, out); got != allowed+"@"+digest {
		t.Fatalf("result %q, want %s@%s", got, allowed, digest)
	}
	if strings.Contains(out, "s3cret") {
		t.Errorf("the password is in the log:\n%s", out)
	}

	out, code = c.submit("submit-docker", "--local-dockerfile", dockerfile,
		"--push-to", reg.Addr+"/elsewhere:v1", "--push-user", "pusher", "--push-password", password)
	if code != 1 || !strings.Contains(out, "--allow-push") {
		t.Fatalf("a push to a repository not allowed: exit %d:\n%s", code, out)
	}
}

// An OBuilder spec built twice: the second time every step is cached.
func TestOBuilderBuiltTwice(t *testing.T) {
	c := startBuildCluster(t)
	spec := c.file("spec", `((from `+dockertest.BaseImage+`)
 (workdir /src)
 (run (shell "echo first > a.txt"))
 (run (shell "cat a.txt")))
`)
	first, code := c.submit("submit-obuilder", "--local-file", spec)
	if code != 0 {
		t.Fatalf("first build: exit %d\n%s", code, first)
	}
	second, code := c.submit("submit-obuilder", "--local-file", spec)
	if code != 0 {
		t.Fatalf("second build: exit %d\n%s", code, second)
	}
	if result(t, first) != result(t, second) {
		t.Fatalf("the same spec built to %q, then %q", result(t, first), result(t, second))
	}
	if strings.Count(second, "from cache") != 2 || regexp.MustCompile(`(?m)^first$`).MatchString(second) {
		t.Fatalf("the second build ran steps again:\n%s", second)
	}
}

// A malformed spec fails with where the mistake is.
func TestOBuilderMalformedSpec(t *testing.T) {
	c := startBuildCluster(t)
	out, code := c.submit("submit-obuilder", "--local-file", c.file("spec", "((from "+dockertest.BaseImage+")\n (run (shel \"true\")))\n"))
	if code != 1 || !regexp.MustCompile(`2:\d+`).MatchString(out) {
		t.Fatalf("exit %d:\n%s", code, out)
	}
}
