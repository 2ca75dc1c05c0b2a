package docker

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/moby/moby/client"

	"github.com/ocluster-go/ocluster/runners"
	"github.com/ocluster-go/ocluster/runners/docker/dockertest"
)

// The seed job of OCluster's README. Its image is left for the engine's
// prune: an identical build by anyone else on the engine shares it.
func TestSeedJob(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := e.runner(nil)
	log := newLog(t)
	id, err := r.Run(context.Background(), dockerJob("FROM "+dockertest.BaseImage+"\nRUN date\n"), "", log)
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^sha256:[0-9a-f]{64}$`).MatchString(id) {
		t.Fatalf("output %q is not an image id", id)
	}
	if _, err := e.cli.ImageInspect(context.Background(), id); err != nil {
		t.Fatalf("the image %s does not exist: %v", id, err)
	}
	if !strings.Contains(log.text(), "RUN date") {
		t.Errorf("the log does not show the build")
	}
}

func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, data := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestDockerfilePathInContext(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"docker/Dockerfile.ci": e.labelled("FROM " + dockertest.BaseImage + "\nCOPY data /data\nRUN cat /data\n"),
		"data":                 "payload-" + e.token + "\n",
	})
	// A link inside the context is followed.
	if err := os.Symlink("docker/Dockerfile.ci", filepath.Join(dir, "Dockerfile.link")); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for i, path := range []string{"docker/Dockerfile.ci", "Dockerfile.link"} {
		log := newLog(t)
		job := &runners.Job{Docker: &runners.DockerBuild{DockerfilePath: path}}
		id, err := e.runner(nil).Run(context.Background(), job, dir, log)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if i == 0 && !log.hasLine("payload-"+e.token) {
			t.Errorf("%s: the build did not read the context's file", path)
		}
		ids = append(ids, id)
	}
	// The same Dockerfile, so the second build is the first's, from cache.
	if ids[0] != ids[1] {
		t.Errorf("the link built %s, the file it points to %s", ids[1], ids[0])
	}
}

func TestBuildArgs(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	log := newLog(t)
	job := dockerJob(e.labelled("FROM " + dockertest.BaseImage + "\nARG MSG\nARG BARE=default-" + e.token + "\nRUN echo \"msg=$MSG bare=$BARE\"\n"))
	job.Docker.BuildArgs = []string{"MSG=hello " + e.token, "BARE"}
	if _, err := e.runner(nil).Run(context.Background(), job, "", log); err != nil {
		t.Fatal(err)
	}
	// A bare NAME gives the argument no value, so its default stands.
	if want := "msg=hello " + e.token + " bare=default-" + e.token; !log.hasLine(want) {
		t.Errorf("the log lacks %q", want)
	}
}

func TestDockerignore(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		".dockerignore":     "# comment\n*.secret\nignored\n!ignored/keep.txt\n",
		"keep.txt":          "k",
		"x.secret":          "s",
		"ignored/other.txt": "o",
		"ignored/keep.txt":  "k",
		".git/HEAD":         "ref: refs/heads/main\n",
		"Dockerfile":        e.labelled("FROM " + dockertest.BaseImage + "\nCOPY . /ctx\nRUN find /ctx | sort | sed 's/^/ctx: /'\n"),
	})
	log := newLog(t)
	job := &runners.Job{Docker: &runners.DockerBuild{DockerfilePath: "Dockerfile"}}
	if _, err := e.runner(nil).Run(context.Background(), job, dir, log); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"ctx: /ctx/keep.txt", "ctx: /ctx/ignored/keep.txt", "ctx: /ctx/Dockerfile"} {
		if !log.hasLine(want) {
			t.Errorf("the context lacks %s", strings.TrimPrefix(want, "ctx: "))
		}
	}
	for _, bad := range []string{"ctx: /ctx/x.secret", "ctx: /ctx/ignored/other.txt", "ctx: /ctx/.git"} {
		if log.hasLine(bad) {
			t.Errorf("the context has %s", strings.TrimPrefix(bad, "ctx: "))
		}
	}
}

func TestBuildKitLog(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	log := newLog(t)
	job := dockerJob(e.labelled("FROM " + dockertest.BaseImage + "\nRUN echo hello-" + e.token + "\n"))
	job.Docker.BuildKit = true
	id, err := e.runner(nil).Run(context.Background(), job, "", log)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.cli.ImageInspect(context.Background(), id); err != nil {
		t.Fatalf("the image %s does not exist: %v", id, err)
	}
	for _, want := range []string{
		`^#\d+ \[\d/\d\] RUN echo hello-` + e.token + `$`,
		`^#\d+ hello-` + e.token + `$`,
		`^#\d+ DONE \d+\.\ds$`,
	} {
		if !regexp.MustCompile(`(?m)` + want).MatchString(log.text()) {
			t.Errorf("no log line matches %s", want)
		}
	}
	if strings.Contains(log.text(), "moby.buildkit.trace") {
		t.Errorf("undecoded BuildKit progress in the log")
	}
}

func TestFailingBuild(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		buildKit bool
		message  string
	}{
		{"classic", false, "returned a non-zero code: 3"},
		{"buildkit", true, "exit code: 3"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			log := newLog(t)
			job := dockerJob(e.labelled("FROM " + dockertest.BaseImage + "\nRUN echo early-" + e.token + " && echo late-" + e.token + " && exit 3\n"))
			job.Docker.BuildKit = tc.buildKit
			_, err := e.runner(nil).Run(context.Background(), job, "", log)
			var be *BuildError
			if !errors.As(err, &be) {
				t.Fatalf("error %v is not a *BuildError", err)
			}
			if be.ExitCode != 3 {
				t.Errorf("exit code %d, want 3", be.ExitCode)
			}
			errorContains(t, err, "Build failed: ", tc.message, "late-"+e.token)
			if !log.hasLine("early-"+e.token) || !log.hasLine("late-"+e.token) {
				t.Errorf("the log lacks the step's output")
			}
			if cs := e.containers(); len(cs) > 0 {
				t.Errorf("containers left behind: %v", cs)
			}
		})
	}
}

// processesWith lists the processes whose command line contains s: how
// to see BuildKit's steps, which are no containers of the engine's.
func processesWith(s string) []string {
	var out []string
	entries, _ := os.ReadDir("/proc")
	for _, ent := range entries {
		cmd, err := os.ReadFile(filepath.Join("/proc", ent.Name(), "cmdline"))
		if err == nil && strings.Contains(string(cmd), s) {
			out = append(out, ent.Name()+": "+strings.ReplaceAll(string(cmd), "\x00", " "))
		}
	}
	return out
}

func TestCancel(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		buildKit bool
	}{{"classic", false}, {"buildkit", true}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			log := newLog(t)
			marker := "sleeping-" + e.token
			// The command after the sleep keeps the shell, whose command
			// line shows the marker, from exec'ing the sleep.
			job := dockerJob(e.labelled("FROM " + dockertest.BaseImage + "\nRUN echo " + marker + " && sleep 600; echo not-reached-" + e.token + "\n"))
			job.Docker.BuildKit = tc.buildKit
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			type result struct {
				out string
				err error
			}
			done := make(chan result, 1)
			go func() {
				out, err := e.runner(nil).Run(ctx, job, "", log)
				done <- result{out, err}
			}()
			wait, stop := context.WithTimeout(context.Background(), 2*time.Minute)
			defer stop()
			if !log.waitLine(wait, marker) {
				t.Fatal("the build did not start its step")
			}
			if procs := processesWith(marker); len(procs) == 0 && os.Geteuid() == 0 {
				t.Fatal("the step's process is not to be seen, so its end could not be either")
			}
			cancel()
			var res result
			select {
			case res = <-done:
			case <-wait.Done():
				t.Fatal("Run did not return after the cancel")
			}
			if !errors.Is(res.err, runners.ErrCancelled) {
				t.Fatalf("Run returned %q, %v; want ErrCancelled", res.out, res.err)
			}
			if cs := e.containers(); len(cs) > 0 {
				t.Errorf("containers left after the cancel: %v", cs)
			}
			if procs := processesWith(marker); len(procs) > 0 {
				t.Errorf("processes left after the cancel: %v", procs)
			}
		})
	}
}

// The first line of a step reaches the log while the step still runs.
func TestLogStreams(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		buildKit bool
	}{{"classic", false}, {"buildkit", true}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			first, second := "first-"+e.token, "second-"+e.token
			var returned, secondSeen, firstEarly atomic.Bool
			var firstSeen atomic.Bool
			log := newLog(t)
			log.onLine = func(s string) {
				switch {
				case strings.HasSuffix(s, first) && !strings.Contains(s, "echo"):
					firstSeen.Store(true)
					firstEarly.Store(!returned.Load() && !secondSeen.Load())
				case strings.HasSuffix(s, second) && !strings.Contains(s, "echo"):
					secondSeen.Store(true)
				}
			}
			job := dockerJob(e.labelled("FROM " + dockertest.BaseImage + "\nRUN echo " + first + "; sleep 1; echo " + second + "\n"))
			job.Docker.BuildKit = tc.buildKit
			_, err := e.runner(nil).Run(context.Background(), job, "", log)
			returned.Store(true)
			if err != nil {
				t.Fatal(err)
			}
			if !firstSeen.Load() || !secondSeen.Load() {
				t.Fatal("the log lacks the step's output")
			}
			if !firstEarly.Load() {
				t.Error("the first line reached the log only with the second")
			}
		})
	}
}

func TestSquashNeedsExperimental(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	info, err := e.cli.Info(context.Background(), client.InfoOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if info.Info.ExperimentalBuild {
		t.Skip("this engine is experimental, so it squashes")
	}
	job := dockerJob(e.labelled("FROM " + dockertest.BaseImage + "\nRUN echo a > /a\n"))
	job.Docker.Squash = true
	_, err = e.runner(nil).Run(context.Background(), job, "", newLog(t))
	errorContains(t, err, "squash", "experimental mode", "daemon.json")
}

func TestHealthCheckEngine(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	if err := e.runner(nil).HealthCheck(context.Background()); err != nil {
		t.Fatal(err)
	}
}
