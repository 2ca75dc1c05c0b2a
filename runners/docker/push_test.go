package docker

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/pkg/authconfig"
	"github.com/moby/moby/api/types/jsonstream"
	"github.com/moby/moby/api/types/registry"
	"github.com/moby/moby/client"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ocluster-go/ocluster/runners"
	"github.com/ocluster-go/ocluster/runners/docker/dockertest"
)

func pushJob(e *testEnv, target, user, password string) *runners.Job {
	job := dockerJob(e.labelled("FROM " + dockertest.BaseImage + "\nRUN echo " + e.token + " > /built\n"))
	job.Docker.PushTarget, job.Docker.PushUser, job.Docker.PushPassword = target, user, password
	return job
}

// pushedImage is the image id the runner's log says it pushed.
func pushedImage(t *testing.T, log *logRecorder) string {
	t.Helper()
	m := regexp.MustCompile(`(?m)^Pushing (sha256:[0-9a-f]{64}) to `).FindStringSubmatch(log.text())
	require.NotNil(t, m, "the log names no pushed image")
	return m[1]
}

// requireUntagged checks that the engine has no image tagged target.
func requireUntagged(t *testing.T, e *testEnv, target string) {
	t.Helper()
	_, err := e.cli.ImageInspect(context.Background(), target)
	require.Error(t, err, "the engine still has an image tagged %s", target)
	require.True(t, cerrdefs.IsNotFound(err), "inspecting %s: %v", target, err)
}

func TestPush(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	reg := dockertest.StartRegistry(t, "", "", "")
	repo := reg.Addr + "/ocluster/" + e.token
	r := e.runner(func(c *Config) { c.AllowPush = []string{repo} })
	log := newLog(t)
	out, err := r.Run(context.Background(), pushJob(e, repo+":v1", "", ""), "", log)
	require.NoError(t, err)
	require.Regexp(t, `^`+regexp.QuoteMeta(repo)+`@sha256:[0-9a-f]{64}$`, out)
	got := reg.ManifestDigest(t, "ocluster/"+e.token, "v1")
	assert.Equal(t, repo+"@"+got, out, "the registry has another image")
	assert.EqualValues(t, 1, summaryCount(t, r, "ocluster_worker_docker_push_time_seconds"), "observations of the push time")
	// The tag served the push only.
	requireUntagged(t, e, repo+":v1")
	assert.True(t, log.hasLine("Removed the local tag "+repo+":v1"))
}

// Untagging after a push removes the push's tag only: an image another
// tag holds stays.
func TestPushKeepsOtherTags(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	reg := dockertest.StartRegistry(t, "", "", "")
	repo := reg.Addr + "/ocluster/" + e.token
	r := e.runner(func(c *Config) { c.AllowPush = []string{repo} })
	ctx := context.Background()
	built, err := r.Run(ctx, pushJob(e, "", "", ""), "", newLog(t))
	require.NoError(t, err)
	// The test's own name; the cleanup removes the image by its label.
	keep := "ocluster-go-test/keep-" + e.token + ":v1"
	_, err = e.cli.ImageTag(ctx, client.ImageTagOptions{Source: built, Target: keep})
	require.NoError(t, err)

	// The same build again, from the cache: the same image.
	log := newLog(t)
	_, err = r.Run(ctx, pushJob(e, repo+":v1", "", ""), "", log)
	require.NoError(t, err)
	require.Equal(t, built, pushedImage(t, log), "the second build made another image")
	requireUntagged(t, e, repo+":v1")
	img, err := e.cli.ImageInspect(ctx, built)
	require.NoError(t, err, "the image went with the push's tag")
	assert.Equal(t, []string{keep}, img.RepoTags)

	// A tag that names the image before the push is not the runner's.
	_, err = e.cli.ImageTag(ctx, client.ImageTagOptions{Source: built, Target: repo + ":v2"})
	require.NoError(t, err)
	_, err = r.Run(ctx, pushJob(e, repo+":v2", "", ""), "", newLog(t))
	require.NoError(t, err)
	img, err = e.cli.ImageInspect(ctx, repo+":v2")
	require.NoError(t, err, "the push removed a tag it did not make")
	assert.Equal(t, built, img.ID)
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

// A registry's refusal of the credentials fails the push at once: the
// same credentials would get the same answer on every retry.
func TestPushCredentials(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	reg := dockertest.StartRegistry(t, "", "pusher", "right-"+e.token)
	repo := reg.Addr + "/private/" + e.token
	retrying := func(c *Config) {
		c.AllowPush = []string{repo}
		c.PushRetryDelays = []time.Duration{time.Millisecond, time.Millisecond}
	}

	for _, tc := range []struct {
		name, user, password string
		advice               string
	}{
		{"wrong", "pusher", "wrong-" + e.token, "check the job's push credentials (--push-user and --push-password)"},
		{"none", "", "", "the job gives no push credentials: give them with --push-user and --push-password"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.runner(retrying)
			log := newLog(t)
			_, err := r.Run(context.Background(), pushJob(e, repo+":"+tc.name, tc.user, tc.password), "", log)
			require.Error(t, err)
			assert.Contains(t, err.Error(), "push to "+repo+":"+tc.name+" refused: authentication failed (401): ")
			assert.Contains(t, err.Error(), tc.advice)
			assert.NotContains(t, err.Error(), "attempts")
			assert.Zero(t, log.count("Retrying in"), "a refused push was retried")
			assert.Equal(t, 1, log.count("The push refers to repository"), "push attempts")
			if tc.password != "" {
				assert.NotContains(t, log.text(), tc.password, "the password is in the log")
				assert.NotContains(t, err.Error(), tc.password, "the password is in the error")
			}
			requireUntagged(t, e, repo+":"+tc.name)
		})
	}
	t.Run("right", func(t *testing.T) {
		r := e.runner(func(c *Config) { c.AllowPush = []string{repo} })
		out, err := r.Run(context.Background(), pushJob(e, repo+":v1", "pusher", "right-"+e.token), "", newLog(t))
		require.NoError(t, err)
		got := reg.ManifestDigest(t, "private/"+e.token, "v1")
		assert.Equal(t, repo+"@"+got, out, "the registry has another image")
	})
}

// A push that fails in a way a retry may mend (here, no registry listens)
// goes through the retry ladder, and its tag goes when it gives up.
func TestPushRetriesUnreachable(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	repo := dockertest.FreeAddr(t) + "/ocluster/" + e.token
	r := e.runner(func(c *Config) {
		c.AllowPush = []string{repo}
		c.PushRetryDelays = []time.Duration{time.Millisecond, time.Millisecond}
	})
	log := newLog(t)
	_, err := r.Run(context.Background(), pushJob(e, repo+":v1", "", ""), "", log)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "pushing to "+repo+":v1 failed after 3 attempts")
	assert.NotContains(t, err.Error(), "refused:")
	assert.Equal(t, 2, log.count("Retrying in"), "retries")
	requireUntagged(t, e, repo+":v1")
}

// A push cancelled while it waits to retry leaves no tag either.
func TestPushCancelledUntags(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	repo := dockertest.FreeAddr(t) + "/ocluster/" + e.token
	r := e.runner(func(c *Config) {
		c.AllowPush = []string{repo}
		c.PushRetryDelays = []time.Duration{time.Hour}
	})
	log := newLog(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := r.Run(ctx, pushJob(e, repo+":v1", "", ""), "", log)
		done <- err
	}()
	waitCtx, stop := context.WithTimeout(context.Background(), 2*time.Minute)
	defer stop()
	require.True(t, log.waitLine(waitCtx, "Retrying in 1h0m0s"), "the first attempt did not fail")
	cancel()
	require.ErrorIs(t, <-done, runners.ErrCancelled)
	requireUntagged(t, e, repo+":v1")
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
	require.NoError(t, err)
	require.Contains(t, log.text(), "Push attempt 1/2 failed", "the first attempt did not fail, so nothing was retried")
	assert.True(t, strings.HasPrefix(out, repo+"@sha256:"), "output %q", out)
	requireUntagged(t, e, repo+":v1")
}

// Only the registry's refusals of the credentials or of their access are
// final; the typed errors come from the client, the others as the engine
// writes them in a push's stream.
func TestPushRefusal(t *testing.T) {
	t.Parallel()
	const auth, denied = refusedAuthentication, refusedAccess
	for _, tc := range []struct {
		err  error
		want string
	}{
		{fmt.Errorf("push: %w", cerrdefs.ErrUnauthenticated), auth},
		{fmt.Errorf("push: %w", cerrdefs.ErrPermissionDenied), denied},
		{&jsonstream.Error{Code: 401, Message: "who are you"}, auth},
		{&jsonstream.Error{Code: 403, Message: "not you"}, denied},
		{errors.New("unauthorized: authentication required"), auth},
		{errors.New("Get \"https://r.example/v2/\": no basic auth credentials"), auth},
		{errors.New("unauthorized: incorrect username or password"), auth},
		{errors.New("denied: requested access to the resource is denied"), denied},
		{errors.New("errors:\ninsufficient_scope: authorization failed"), denied},
		{errors.New("received unexpected HTTP status: 403 Forbidden"), denied},
		{errors.New("Get \"http://127.0.0.1:1/v2/\": dial tcp 127.0.0.1:1: connect: connection refused"), ""},
		{errors.New("open /var/lib/docker/tmp/x: permission denied"), ""},
		{errors.New("received unexpected HTTP status: 500 Internal Server Error"), ""},
		{&jsonstream.Error{Code: 500, Message: "blob upload unknown"}, ""},
		{cerrdefs.ErrUnavailable, ""},
	} {
		assert.Equal(t, tc.want, pushRefusal(tc.err), "%v", tc.err)
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
