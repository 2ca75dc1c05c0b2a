package docker

import (
	"context"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moby/moby/api/pkg/authconfig"
	"github.com/moby/moby/api/types/registry"
	"github.com/moby/moby/client"

	"github.com/ocluster-go/ocluster/runners"
	"github.com/ocluster-go/ocluster/runners/docker/dockertest"
)

func pushJob(e *testEnv, target, user, password string) *runners.Job {
	job := dockerJob(e.labelled("FROM " + dockertest.BaseImage + "\nRUN echo " + e.token + " > /built\n"))
	job.Docker.PushTarget, job.Docker.PushUser, job.Docker.PushPassword = target, user, password
	return job
}

func TestPush(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	reg := dockertest.StartRegistry(t, "", "", "")
	repo := reg.Addr + "/ocluster/" + e.token
	r := e.runner(func(c *Config) { c.AllowPush = []string{repo} })
	out, err := r.Run(context.Background(), pushJob(e, repo+":v1", "", ""), "", newLog(t))
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^` + regexp.QuoteMeta(repo) + `@sha256:[0-9a-f]{64}$`).MatchString(out) {
		t.Fatalf("output %q is not %s@sha256:...", out, repo)
	}
	if got := reg.ManifestDigest(t, "ocluster/"+e.token, "v1"); !strings.HasSuffix(out, "@"+got) {
		t.Errorf("pushed %s, but the registry has %s", out, got)
	}
	if n := summaryCount(t, r, "ocluster_worker_docker_push_time_seconds"); n != 1 {
		t.Errorf("the push time summary has %d observations, want 1", n)
	}
}

// A push to a repository the worker was not started with --allow-push for
// fails at once, before any build, and says what to do.
func TestPushNotAllowed(t *testing.T) {
	t.Parallel()
	r, err := New(Config{Client: unreachableClient(t), AllowPush: []string{"127.0.0.1:5000/ocluster/allowed", "busybox"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, target := range []string{"127.0.0.1:5000/ocluster/other:v1", "127.0.0.1:5001/ocluster/allowed:v1", "ocluster/busybox:latest"} {
		job := dockerJob("FROM busybox\n")
		job.Docker.PushTarget = target
		_, err := r.Run(context.Background(), job, "", newLog(t))
		repo, _, _ := strings.Cut(target, ":v1")
		repo = strings.TrimSuffix(repo, ":latest")
		errorContains(t, err, "--allow-push "+repo)
	}
}

func TestPushCredentials(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	reg := dockertest.StartRegistry(t, "", "pusher", "right-"+e.token)
	repo := reg.Addr + "/private/" + e.token

	t.Run("wrong", func(t *testing.T) {
		r := e.runner(func(c *Config) {
			c.AllowPush = []string{repo}
			c.PushRetryDelays = []time.Duration{time.Millisecond, time.Millisecond}
		})
		log := newLog(t)
		_, err := r.Run(context.Background(), pushJob(e, repo+":v1", "pusher", "wrong-"+e.token), "", log)
		errorContains(t, err, "failed after 3 attempts", "push user and password")
		if n := log.count("Retrying in"); n != 2 {
			t.Errorf("the log tells of %d retries, want 2", n)
		}
		if strings.Contains(log.text(), "wrong-"+e.token) || strings.Contains(err.Error(), "wrong-"+e.token) {
			t.Errorf("the password is in the log or the error")
		}
	})
	t.Run("right", func(t *testing.T) {
		r := e.runner(func(c *Config) { c.AllowPush = []string{repo} })
		out, err := r.Run(context.Background(), pushJob(e, repo+":v1", "pusher", "right-"+e.token), "", newLog(t))
		if err != nil {
			t.Fatal(err)
		}
		if got := reg.ManifestDigest(t, "private/"+e.token, "v1"); out != repo+"@"+got {
			t.Errorf("pushed %s, but the registry has %s", out, got)
		}
	})
}

// A push that fails because the registry is not up yet succeeds on retry.
func TestPushRetrySucceeds(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	addr := dockertest.FreeAddr(t)
	repo := addr + "/ocluster/" + e.token
	r := e.runner(func(c *Config) {
		c.AllowPush = []string{repo}
		c.PushRetryDelays = []time.Duration{time.Millisecond}
	})
	log := newLog(t)
	var once sync.Once
	// Started while the runner logs the failure, so before the retry.
	log.onLine = func(s string) {
		if strings.HasPrefix(s, "Push attempt 1/2 failed") {
			once.Do(func() { dockertest.StartRegistry(t, addr, "", "") })
		}
	}
	out, err := r.Run(context.Background(), pushJob(e, repo+":v1", "", ""), "", log)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(log.text(), "Push attempt 1/2 failed") {
		t.Fatal("the first attempt did not fail, so nothing was retried")
	}
	if !strings.HasPrefix(out, repo+"@sha256:") {
		t.Errorf("output %q", out)
	}
}

// The worker pulls each base image first; when the pull fails, a local
// copy does, and without one the job fails saying why.
func TestPullBases(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	reg := dockertest.StartRegistry(t, "", "", "")
	ctx := context.Background()
	base := reg.Addr + "/base/" + e.token + ":latest"
	if _, err := e.cli.ImageTag(ctx, client.ImageTagOptions{Source: dockertest.BaseImage, Target: base}); err != nil {
		t.Fatal(err)
	}
	auth, _ := authconfig.Encode(registry.AuthConfig{})
	resp, err := e.cli.ImagePush(ctx, base, client.ImagePushOptions{RegistryAuth: auth})
	if err == nil {
		err = resp.Wait(ctx)
	}
	if err != nil {
		t.Fatal(err)
	}
	// Untagging leaves the base image, the same image, alone.
	untag := func() { _, _ = e.cli.ImageRemove(ctx, base, client.ImageRemoveOptions{}) }
	untag()
	t.Cleanup(untag)
	r := e.runner(func(c *Config) { c.SkipPull = false })

	log := newLog(t)
	job := dockerJob("FROM " + base + "\nLABEL " + e.label + "\nRUN echo first-" + e.token + "\n")
	if _, err := r.Run(ctx, job, "", log); err != nil {
		t.Fatal(err)
	}
	if !log.hasLine("Pulling "+base) || !strings.Contains(log.text(), "Status: Downloaded newer image for "+base) {
		t.Errorf("the base was not pulled")
	}

	reg.Stop()
	log = newLog(t)
	job = dockerJob("FROM " + base + "\nLABEL " + e.label + "\nRUN echo second-" + e.token + "\n")
	if _, err := r.Run(ctx, job, "", log); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(log.text(), "Warning: could not pull "+base) {
		t.Errorf("the failed pull is not in the log")
	}

	missing := reg.Addr + "/base/missing-" + e.token + ":latest"
	_, err = r.Run(ctx, dockerJob("FROM "+missing+"\nRUN true\n"), "", newLog(t))
	errorContains(t, err, "pulling the base image "+missing, "no copy")
}
