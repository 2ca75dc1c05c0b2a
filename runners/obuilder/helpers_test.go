package obuilder

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moby/moby/client"

	"github.com/ocluster-go/ocluster/runners"
	"github.com/ocluster-go/ocluster/runners/docker/dockertest"
)

// testLabel marks everything a test creates; its value is unique to the
// test, so that checks and clean-up see only that test's objects while
// others use the same engine.
const testLabel = "org.ocluster-go.test.obuilder"

type testEnv struct {
	cli   *client.Client
	r     *Runner
	nonce string
	store string
}

func nonce() string {
	var b [6]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// newTestEnv gives a test its own runner, store and label, and removes
// what the test made when it ends.
func newTestEnv(t testing.TB) *testEnv {
	t.Helper()
	cli := dockertest.Engine(t)
	dockertest.Base(t, cli)
	e := &testEnv{cli: cli, nonce: nonce(), store: t.TempDir()}
	store, err := ParseStore("docker:" + e.store)
	if err != nil {
		t.Fatal(err)
	}
	e.r, err = New(Config{
		Client: cli, Store: store, PruneThreshold: DefaultPruneThreshold,
		HealthCheckImage: dockertest.BaseImage,
		Labels:           map[string]string{testLabel: e.nonce},
		Logger:           slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.cleanup(t) })
	return e
}

func (e *testEnv) filter() client.Filters {
	return make(client.Filters).Add("label", testLabel+"="+e.nonce)
}

func (e *testEnv) cleanup(t testing.TB) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := dockertest.RemoveLabelled(ctx, e.cli, testLabel+"="+e.nonce); err != nil {
		t.Log(err)
	}
}

// containers describes this test's containers, running ones or all, as
// "ID (state)".
func (e *testEnv) containers(t testing.TB, all bool) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := e.cli.ContainerList(ctx, client.ContainerListOptions{All: all, Filters: e.filter()})
	if err != nil {
		t.Fatalf("listing containers: %v", err)
	}
	var ids []string
	for _, c := range res.Items {
		ids = append(ids, c.ID+" ("+string(c.State)+")")
	}
	return ids
}

// images lists the ids of this test's images, sorted.
func (e *testEnv) images(t testing.TB) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := e.cli.ImageList(ctx, client.ImageListOptions{All: true, Filters: e.filter()})
	if err != nil {
		t.Fatalf("listing images: %v", err)
	}
	var ids []string
	for _, im := range res.Items {
		ids = append(ids, im.ID)
	}
	slices.Sort(ids)
	return ids
}

// spec makes a spec on the base image whose every step key is unique to
// the test, so that no other test (or run) has it cached.
func (e *testEnv) spec(ops string) string {
	return "((from " + dockertest.BaseImage + ")\n (env TEST_RUN " + e.nonce + ")\n" + ops + ")"
}

func jobOf(spec string) *runners.Job {
	return &runners.Job{OBuilder: &runners.OBuilderBuild{Spec: spec}}
}

type buildResult struct {
	out          string
	log          string
	err          error
	hits, misses uint64
}

func (e *testEnv) build(t testing.TB, spec, contextDir string, secrets ...runners.Secret) buildResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	return e.buildCtx(ctx, t, spec, contextDir, io.Discard, secrets...)
}

func (e *testEnv) buildCtx(ctx context.Context, t testing.TB, spec, contextDir string, tee io.Writer, secrets ...runners.Secret) buildResult {
	t.Helper()
	h0, m0 := e.r.Stats()
	var log syncBuffer
	job := jobOf(spec)
	job.Secrets = secrets
	out, err := e.r.Run(ctx, job, contextDir, io.MultiWriter(&log, tee))
	h1, m1 := e.r.Stats()
	return buildResult{out: out, log: log.String(), err: err, hits: h1 - h0, misses: m1 - m0}
}

func (e *testEnv) mustBuild(t testing.TB, spec, contextDir string, secrets ...runners.Secret) buildResult {
	t.Helper()
	res := e.build(t, spec, contextDir, secrets...)
	if res.err != nil {
		t.Fatalf("build failed: %v\nlog:\n%s", res.err, res.log)
	}
	return res
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// stepLog is the log of a step after its heading, up to the next heading.
func stepLog(t testing.TB, log, heading string) string {
	t.Helper()
	return stepUntil(t, log, heading, "\x1b[01;34m")
}

// stepOutput is what a step printed: the log between its heading and the
// note that ends it.
func stepOutput(t testing.TB, log, heading string) string {
	t.Helper()
	return stepUntil(t, log, heading, "\x1b[01;35m")
}

// stepUntil is the log after heading's line, up to the colour code stop.
func stepUntil(t testing.TB, log, heading, stop string) string {
	t.Helper()
	i := strings.Index(log, heading)
	if i < 0 {
		t.Fatalf("no heading %q in the log:\n%s", heading, log)
	}
	rest := log[i+len(heading):]
	rest = rest[strings.Index(rest, "\n")+1:]
	if j := strings.Index(rest, stop); j >= 0 {
		rest = rest[:j]
	}
	return rest
}
