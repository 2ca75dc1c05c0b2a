package obuilder

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ocluster-go/ocluster/runners"
	"github.com/ocluster-go/ocluster/runners/docker/dockertest"
)

func TestRebuildIsCachedAndChangesRebuildFromThere(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	spec := func(two string) string {
		return e.spec(`(run (shell "echo one > /one"))
 (run (shell "echo ` + two + ` > /two"))
 (run (shell "cat /one /two"))`)
	}
	first := e.mustBuild(t, spec("two"), "")
	if first.hits != 0 || first.misses != 3 {
		t.Fatalf("first build: %d hits and %d misses, want 0 and 3\n%s", first.hits, first.misses, first.log)
	}
	if got := stepOutput(t, first.log, `/: (run (shell "cat /one /two"))`); got != "one\ntwo\n" {
		t.Fatalf("the last step printed %q, want \"one\\ntwo\\n\"", got)
	}
	images, containers := e.images(t), e.r.containers.Load()

	again := e.mustBuild(t, spec("two"), "")
	if again.hits != 3 || again.misses != 0 {
		t.Fatalf("second build: %d hits and %d misses, want 3 and 0\n%s", again.hits, again.misses, again.log)
	}
	if again.out != first.out {
		t.Fatalf("second build gave %s, the first %s", again.out, first.out)
	}
	if n := e.r.containers.Load(); n != containers {
		t.Fatalf("the cached build created %d containers", n-containers)
	}
	if now := e.images(t); !reflect.DeepEqual(now, images) {
		t.Fatalf("the cached build changed the images from\n%v\nto\n%v", images, now)
	}
	if n := strings.Count(again.log, "from cache"); n != 3 {
		t.Fatalf("the cached build's log reports %d cached steps, want 3:\n%s", n, again.log)
	}

	changed := e.mustBuild(t, spec("TWO"), "")
	if changed.hits != 1 || changed.misses != 2 {
		t.Fatalf("build with step 2 changed: %d hits and %d misses, want 1 and 2\n%s", changed.hits, changed.misses, changed.log)
	}
	if got := stepOutput(t, changed.log, `/: (run (shell "cat /one /two"))`); got != "one\nTWO\n" {
		t.Fatalf("the last step printed %q after the change", got)
	}
	if !strings.HasPrefix(stepLog(t, changed.log, `/: (run (shell "echo one > /one"))`), "\x1b[01;35m---> using") {
		t.Fatalf("the unchanged first step was rebuilt:\n%s", changed.log)
	}
}

func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestCopyFromContextHonoursExclude(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"a.txt":      "A\n",
		"sub/b.txt":  "B\n",
		"sub/x.o":    "object",
		".git/HEAD":  "ref",
		"_build/out": "built",
	})
	if err := os.Symlink("a.txt", filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	// The workdir exists before the copy, owned by root as in OBuilder;
	// the copy creates tree/ and owns it, like everything it copies.
	spec := e.spec(`(user (uid 1000) (gid 1000))
 (workdir /src)
 (copy (src .) (dst tree/) (exclude .git _build *.o))
 (run (shell "cd tree; find . | sort; cat sub/b.txt; readlink link; stat -c '%u:%g %n' .. . a.txt"))`)
	first := e.mustBuild(t, spec, dir)
	out := stepOutput(t, first.log, "/src: (run")
	want := ".\n./a.txt\n./link\n./sub\n./sub/b.txt\nB\na.txt\n0:0 ..\n1000:1000 .\n1000:1000 a.txt\n"
	if out != want {
		t.Fatalf("the copy left\n%s\nwant\n%s", out, want)
	}

	// A change to an excluded file leaves the copy's key alone.
	writeFiles(t, dir, map[string]string{"sub/x.o": "changed", ".git/HEAD": "other"})
	if res := e.mustBuild(t, spec, dir); res.hits != 2 || res.misses != 0 {
		t.Fatalf("after changing excluded files: %d hits and %d misses, want 2 and 0", res.hits, res.misses)
	}
	// A change to a copied file rebuilds the copy and what follows.
	writeFiles(t, dir, map[string]string{"sub/b.txt": "B2\n"})
	res := e.mustBuild(t, spec, dir)
	if res.hits != 0 || res.misses != 2 {
		t.Fatalf("after changing a copied file: %d hits and %d misses, want 0 and 2", res.hits, res.misses)
	}
	if out := stepOutput(t, res.log, "/src: (run"); !strings.Contains(out, "B2\n") {
		t.Fatalf("the rebuilt copy has the old file:\n%s", out)
	}
}

func TestCopyFromContextRefusesEscapes(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"a": "a", "b": "b"})
	if err := os.Symlink("/etc", filepath.Join(dir, "etc")); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ copy, dir, want string }{
		{`(copy (src ../x) (dst /x))`, dir, `copy source "../x" must be a relative path inside the build context`},
		{`(copy (src /etc/passwd) (dst /x))`, dir, `copy source "/etc/passwd" must be a relative path inside the build context`},
		{`(copy (src etc/passwd) (dst /x))`, dir, `path escapes from parent`},
		{`(copy (src missing) (dst /x))`, dir, `copy source "missing" is not in the build context`},
		{`(copy (src a b) (dst /x))`, dir, `copying several sources needs a destination ending in /, such as (dst /x/)`},
		{`(copy (src a) (dst /x))`, "", `the job has no build context to copy a from`},
	} {
		res := e.build(t, e.spec(tc.copy), tc.dir)
		if res.err == nil || !strings.Contains(res.err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one containing %q", tc.copy, res.err, tc.want)
		}
	}
	if n := e.r.containers.Load(); n != 0 {
		t.Fatalf("refused copies created %d containers", n)
	}
}

func TestCopyFromBuildStage(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	spec := `((build tools
   ((from ` + dockertest.BaseImage + `)
    (env TEST_RUN ` + e.nonce + `)
    (workdir /b)
    (run (shell "mkdir -p out/deep && echo built > out/f && echo junk > out/j.tmp && echo deep > out/deep/d"))))
 (from ` + dockertest.BaseImage + `)
 (env TEST_RUN ` + e.nonce + `)
 (copy (from (build tools)) (src out) (dst /got/) (exclude *.tmp))
 (copy (from (build tools)) (src /b/out/f) (dst /single))
 (run (shell "find /got | sort; cat /got/f /single")))`
	res := e.mustBuild(t, spec, "")
	out := stepOutput(t, res.log, `/: (run (shell "find /got`)
	want := "/got\n/got/deep\n/got/deep/d\n/got/f\nbuilt\nbuilt\n"
	if out != want {
		t.Fatalf("the copy from the stage left\n%s\nwant\n%s", out, want)
	}
	if !strings.Contains(res.log, `(build tools) /b: (run`) {
		t.Fatalf("the stage's steps are not in the log:\n%s", res.log)
	}
}

func TestStateReachesLaterRuns(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	res := e.mustBuild(t, e.spec(`(env FOO bar)
 (env FOO baz)
 (workdir /w)
 (workdir sub)
 (user (uid 1234) (gid 5678))
 (shell /bin/sh -ec)
 (comment "nothing")
 (run (shell "echo foo=$FOO; pwd; id -u; id -g; echo $0"))`), "")
	out := stepOutput(t, res.log, "/w/sub: (run")
	if want := "foo=baz\n/w/sub\n1234\n5678\n/bin/sh\n"; out != want {
		t.Fatalf("the run saw\n%s\nwant\n%s", out, want)
	}
	if res.misses != 1 {
		t.Fatalf("%d misses, want 1: only run and copy are steps", res.misses)
	}
}

func TestCacheMountPersists(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	cache := "c-" + e.nonce
	e.mustBuild(t, e.spec(`(user (uid 1000) (gid 1000))
 (run (cache (`+cache+` (target /home/cache))) (shell "echo kept > /home/cache/f"))`), "")
	res := e.mustBuild(t, e.spec(`(user (uid 1000) (gid 1000))
 (run (cache (`+cache+` (target /mnt/c))) (shell "cat /mnt/c/f"))`), "")
	if out := stepOutput(t, res.log, `/: (run (cache`); out != "kept\n" {
		t.Fatalf("the second build saw %q in the cache, want \"kept\\n\"", out)
	}
	ctx := context.Background()
	vols, err := e.cli.VolumeList(ctx, client.VolumeListOptions{Filters: e.filter()})
	if err != nil {
		t.Fatal(err)
	}
	if len(vols.Items) != 1 || vols.Items[0].Labels[labelCache] != cache {
		t.Fatalf("cache volumes %+v, want one labelled with cache %q", vols.Items, cache)
	}
}

func TestNetworkOnlyWhenAsked(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	res := e.mustBuild(t, e.spec(`(run (shell "ls /sys/class/net"))
 (run (network host) (shell "ls /sys/class/net"))`), "")
	if out := stepOutput(t, res.log, `/: (run (shell "ls /sys/class/net"))`); out != "lo\n" {
		t.Fatalf("without (network host) the step saw interfaces %q, want only lo", out)
	}
	host := strings.Fields(stepOutput(t, res.log, `/: (run (network host)`))
	if len(host) < 2 {
		t.Fatalf("with (network host) the step saw interfaces %q, want the host's", host)
	}
}

func TestSecretsStayOutOfImagesKeysAndLogs(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	value := "s3cret-" + e.nonce
	sum := sha256.Sum256([]byte(value))
	spec := e.spec(`(run (secrets (tok (target /run/secrets/tok))) (shell "sha256sum /run/secrets/tok; cat /run/secrets/tok; echo; wc -c < /run/secrets/tok"))`)
	res := e.mustBuild(t, spec, "", runners.Secret{ID: "tok", Value: value})
	out := stepOutput(t, res.log, "/: (run (secrets")
	if !strings.Contains(out, hex.EncodeToString(sum[:])+"  /run/secrets/tok") {
		t.Fatalf("the run did not read the secret:\n%s", out)
	}
	if strings.Contains(res.log, value) {
		t.Fatalf("the log shows the secret:\n%s", res.log)
	}
	if !strings.Contains(out, redacted) {
		t.Fatalf("the secret printed by the step is not masked:\n%s", out)
	}

	rc, err := e.cli.ImageSave(context.Background(), []string{e.r.ResultImage(res.out)})
	if err != nil {
		t.Fatal(err)
	}
	saved, err := io.ReadAll(rc)
	rc.Close()
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(saved, []byte(value)) {
		t.Fatal("the saved image contains the secret")
	}
	if !bytes.Contains(saved, []byte("TEST_RUN="+e.nonce)) {
		t.Fatal("the saved image does not hold the build's environment: the search proves nothing")
	}
	filepath.WalkDir(e.store, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if data, _ := os.ReadFile(p); bytes.Contains(data, []byte(value)) {
				t.Errorf("store file %s contains the secret", p)
			}
		}
		return nil
	})

	// Keys hold where secrets go, not their values.
	other := e.mustBuild(t, spec, "", runners.Secret{ID: "tok", Value: "another value"})
	if other.hits != 1 || other.misses != 0 {
		t.Fatalf("a different secret value: %d hits and %d misses, want the cached step", other.hits, other.misses)
	}

	missing := e.build(t, spec, "")
	if missing.err == nil || !strings.Contains(missing.err.Error(), `secrets ["tok"] that the job does not provide`) {
		t.Fatalf("a build without the secret: %v", missing.err)
	}
}

func TestFailingRunNamesStepAndExitCode(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	res := e.build(t, e.spec(`(run (shell "echo before; exit 3"))`), "")
	want := `step /: (run (shell "echo before; exit 3")) failed: the command exited with exit code 3`
	if res.err == nil || res.err.Error() != want {
		t.Fatalf("error %v, want %q", res.err, want)
	}
	if !strings.Contains(res.log, "before\n") {
		t.Fatalf("the failing step's output is not in the log:\n%s", res.log)
	}
	if left := e.containers(t, true); len(left) > 0 {
		t.Fatalf("containers left behind: %v", left)
	}
	if imgs := e.images(t); len(imgs) > 0 {
		t.Fatalf("a failed step left images: %v", imgs)
	}
}

// lineSignal closes seen when a line with the text reaches the log.
type lineSignal struct {
	buf  syncBuffer
	text string
	seen chan struct{}
	once bool
}

func (s *lineSignal) Write(p []byte) (int, error) {
	s.buf.Write(p)
	if !s.once && strings.Contains(s.buf.String(), s.text) {
		s.once = true
		close(s.seen)
	}
	return len(p), nil
}

func TestCancelStopsTheContainer(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sig := &lineSignal{text: "started\n", seen: make(chan struct{})}
	done := make(chan buildResult, 1)
	go func() {
		done <- e.buildCtx(ctx, t, e.spec(`(run (shell "echo started; sleep 300"))`), "", sig)
	}()
	select {
	case <-sig.seen:
	case res := <-done:
		t.Fatalf("the build ended before it was cancelled: %v\n%s", res.err, res.log)
	case <-time.After(time.Minute):
		t.Fatal("the step's output never reached the log")
	}
	// Output can arrive before the engine lists the container as running.
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(20 * time.Millisecond) {
		running := e.containers(t, false)
		if len(running) == 1 {
			break
		}
		if len(running) > 1 || time.Now().After(deadline) {
			t.Fatalf("running containers while the step runs: %v, want one; all: %v", running, e.containers(t, true))
		}
	}
	cancel()
	var res buildResult
	select {
	case res = <-done:
	case <-time.After(time.Minute):
		t.Fatal("the build did not stop after its context was cancelled")
	}
	if !errors.Is(res.err, runners.ErrCancelled) {
		t.Fatalf("error %v, want runners.ErrCancelled", res.err)
	}
	if left := e.containers(t, true); len(left) > 0 {
		t.Fatalf("containers left after the cancel: %v", left)
	}

	// A build cancelled before it starts creates nothing.
	before := e.r.containers.Load()
	res = e.buildCtx(ctx, t, e.spec(`(run (shell "true"))`), "", io.Discard)
	if !errors.Is(res.err, runners.ErrCancelled) || e.r.containers.Load() != before {
		t.Fatalf("a build with a cancelled context: %v, %d containers", res.err, e.r.containers.Load()-before)
	}
}

func TestMalformedSpecCreatesNothing(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	res := e.build(t, "((from "+dockertest.BaseImage+")\n (run (shell \"true\") (netwrk host)))", "")
	want := `invalid OBuilder spec: 2:22: expected (cache ...), (network host), (secrets ...) or (shell COMMAND) in (run ...), found (netwrk ...)`
	if res.err == nil || res.err.Error() != want {
		t.Fatalf("error %v, want %q", res.err, want)
	}
	var pe *ParseError
	if !errors.As(res.err, &pe) || pe.Line != 2 || pe.Col != 22 {
		t.Fatalf("error %#v does not wrap a *ParseError at 2:22", res.err)
	}
	if n := e.r.containers.Load(); n != 0 {
		t.Fatalf("a malformed spec created %d containers", n)
	}
	if res.log != "" {
		t.Fatalf("a malformed spec logged steps:\n%s", res.log)
	}
}

func TestMissingBaseImageFailsClearly(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	img := "obuilder-missing-" + e.nonce + ":latest"
	res := e.build(t, "((from "+img+") (run (shell true)))", "")
	if res.err == nil || !strings.Contains(res.err.Error(), `base image "`+img+`" is not on this worker's Docker engine, and OBuilder builds never pull`) {
		t.Fatalf("error %v, want one saying the base image is missing and is never pulled", res.err)
	}
	if n := e.r.containers.Load(); n != 0 {
		t.Fatalf("a build on a missing base created %d containers", n)
	}
	if _, err := e.cli.ImageInspect(context.Background(), img); !cerrdefs.IsNotFound(err) {
		t.Fatalf("the missing image appeared (pulled?): %v", err)
	}
}

func TestHealthCheck(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	ctx := context.Background()
	if err := e.r.HealthCheck(ctx); err != nil {
		t.Fatal(err)
	}
	if imgs := e.images(t); len(imgs) > 0 {
		t.Fatalf("the health check left images: %v", imgs)
	}
	if left := e.containers(t, true); len(left) > 0 {
		t.Fatalf("the health check left containers: %v", left)
	}
	if h, m := e.r.Stats(); h+m != 0 {
		t.Fatalf("the health check counted %d hits and %d misses", h, m)
	}
	if e.r.containers.Load() == 0 {
		t.Fatal("the health check ran no container")
	}

	e.r.healthImage = "obuilder-missing-" + e.nonce + ":latest"
	if err := e.r.HealthCheck(ctx); err == nil || !strings.Contains(err.Error(), "never pull") {
		t.Fatalf("a health check without its image: %v", err)
	}
}

func TestPruneRemovesLeastRecentlyUsedFirst(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	specA := e.spec(`(run (shell "echo a > /a"))`)
	specB := e.spec(`(run (shell "echo b > /b"))`)
	a := e.mustBuild(t, specA, "")
	b := e.mustBuild(t, specB, "")
	// Reusing A makes B the least recently used, although A is older.
	if again := e.mustBuild(t, specA, ""); again.hits != 1 {
		t.Fatalf("rebuilding A: %d hits", again.hits)
	}
	tagA, tagB := e.r.ResultImage(a.out), e.r.ResultImage(b.out)
	ctx := context.Background()

	// Pretend the disk is full until one entry is gone.
	e.r.free = func(context.Context) (float64, string, error) {
		e.r.index.mu.Lock()
		n := len(e.r.index.entries)
		e.r.index.mu.Unlock()
		if n >= 2 {
			return 10, "/fake", nil
		}
		return 50, "/fake", nil
	}
	reason, err := e.r.PruneNeeded(ctx)
	if err != nil || reason != "obuilder store: only 10.0% free on /fake, below the 30% threshold (the worker's --obuilder-prune-threshold): free space there or lower the threshold" {
		t.Fatalf("PruneNeeded = %q, %v", reason, err)
	}
	var log bytes.Buffer
	if err := e.r.Prune(ctx, &log); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(log.String(), "removed "+tagB) || strings.Contains(log.String(), tagA) {
		t.Fatalf("the prune should remove only %s:\n%s", tagB, log.String())
	}
	if _, err := e.cli.ImageInspect(ctx, tagB); !cerrdefs.IsNotFound(err) {
		t.Fatalf("%s is still there: %v", tagB, err)
	}
	if _, err := e.cli.ImageInspect(ctx, tagA); err != nil {
		t.Fatalf("%s, used more recently, was removed: %v", tagA, err)
	}
	if reason, _ := e.r.PruneNeeded(ctx); reason != "" {
		t.Fatalf("PruneNeeded after the prune = %q", reason)
	}

	// Real free space never reaches 100%: everything goes.
	e.r.free, e.r.threshold = e.r.measureFree, 100
	if reason, err := e.r.PruneNeeded(ctx); err != nil || !strings.Contains(reason, "below the 100% threshold") {
		t.Fatalf("PruneNeeded at 100%% = %q, %v", reason, err)
	}
	log.Reset()
	if err := e.r.Prune(ctx, &log); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(log.String(), "removed "+tagA) || !strings.Contains(log.String(), "no cache entries left") {
		t.Fatalf("the prune at 100%% should remove %s and say nothing is left:\n%s", tagA, log.String())
	}
	if imgs := e.images(t); len(imgs) > 0 {
		t.Fatalf("images left after pruning everything: %v", imgs)
	}
	// The index on disk agrees, for the next worker start.
	ix, err := openIndex(e.store)
	if err != nil || len(ix.entries) != 0 {
		t.Fatalf("the saved index has %d entries (%v)", len(ix.entries), err)
	}
	if rebuilt := e.mustBuild(t, specB, ""); rebuilt.misses != 1 {
		t.Fatalf("rebuilding a pruned spec: %d misses, want 1", rebuilt.misses)
	}
}

func TestIndexSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	ix, err := openIndex(dir)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	ix.add(entry{Key: "p", Depth: 1, LastUsed: t0})
	ix.add(entry{Key: "c", Parent: "p", Depth: 2, LastUsed: t0})
	ix.touch("p", t0.Add(-time.Hour)) // never backwards
	if err := ix.save(false); err != nil {
		t.Fatal(err)
	}
	again, err := openIndex(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := again.entries["p"].LastUsed; !got.Equal(t0) {
		t.Fatalf("p last used %v, want %v", got, t0)
	}
	// Same time: the child goes first, so that its parent can go too.
	if e, _ := again.oldest(); e.Key != "c" {
		t.Fatalf("oldest = %q, want the child c", e.Key)
	}
	os.WriteFile(filepath.Join(dir, indexName), []byte("{"), 0o600)
	if _, err := openIndex(dir); err == nil || !strings.Contains(err.Error(), "move it away") {
		t.Fatalf("a corrupt index: %v", err)
	}
}

func TestParseStore(t *testing.T) {
	s, err := ParseStore("docker:/var/lib/obuilder")
	if err != nil || s != (Store{Kind: "docker", Path: "/var/lib/obuilder"}) {
		t.Fatalf("ParseStore(docker:...) = %v, %v", s, err)
	}
	s, err = ParseStore("rsync:/var/lib/obuilder")
	if err != nil || s != (Store{Kind: "rsync", Path: "/var/lib/obuilder"}) {
		t.Fatalf("ParseStore(rsync:...) = %v, %v", s, err)
	}
	for _, tc := range []struct{ in, want string }{
		{"rsync:", "the path is empty"},
		{"btrfs:/b", "btrfs stores are not supported (their snapshots could not be tested here"},
		{"zfs:pool", "zfs stores are not supported"},
		{"xfs:/x", "xfs stores are not supported"},
		{"overlayfs:/o", "overlayfs stores are not supported"},
		{"qemu:/q", "qemu stores are not supported"},
		{"nfs:/n", `unknown store kind "nfs"`},
		{"docker:", "the path is empty"},
		{"/just/a/path", "expected KIND:PATH"},
	} {
		_, err := ParseStore(tc.in)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "supports docker:PATH") && !strings.Contains(err.Error(), ":/var/lib/ocluster-worker/obuilder") {
			t.Errorf("ParseStore(%q) = %v, want an error saying %q and which store is supported", tc.in, err, tc.want)
		}
	}
}

func TestJobLogMasksSecretsAcrossWrites(t *testing.T) {
	var out bytes.Buffer
	l := newJobLog(&out, []string{"hunter22\n", "abc"})
	for _, chunk := range []string{"pass: hun", "ter", "22 and hunt", "er2", "2\nend hunte"} {
		l.Write([]byte(chunk))
		if strings.Contains(out.String(), "hunter22") {
			t.Fatalf("the secret leaked: %q", out.String())
		}
	}
	l.flush()
	if want := "pass: [secret] and [secret]end hunte"; out.String() != want {
		t.Fatalf("log %q, want %q (values shorter than %d bytes are not masked)", out.String(), want, minRedacted)
	}
	// Text that cannot begin a secret is not held back.
	out.Reset()
	l.Write([]byte("plain\n"))
	if out.String() != "plain\n" {
		t.Fatalf("plain text was held back: %q", out.String())
	}
}

// gather collects the runner's metrics by name.
func gather(t *testing.T, r *Runner) map[string]float64 {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(r); err != nil {
		t.Fatal(err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			switch {
			case m.GetCounter() != nil:
				got[mf.GetName()+" counter"] = m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				got[mf.GetName()+" gauge"] = m.GetGauge().GetValue()
			}
		}
	}
	return got
}

func TestMetrics(t *testing.T) {
	e := newTestEnv(t)
	e.r.hits.Add(3)
	e.r.misses.Add(2)
	e.r.free = func(context.Context) (float64, string, error) { return 42.5, "/fake", nil }
	want := map[string]float64{
		"ocluster_worker_cache_hits counter":        3,
		"ocluster_worker_cache_misses counter":      2,
		"ocluster_worker_obuilder_space_free gauge": 42.5,
	}
	if got := gather(t, e.r); !reflect.DeepEqual(got, want) {
		t.Fatalf("metrics %v, want %v", got, want)
	}
	e.r.free = e.r.measureFree
	free := gather(t, e.r)["ocluster_worker_obuilder_space_free gauge"]
	if free <= 0 || free > 100 {
		t.Fatalf("ocluster_worker_obuilder_space_free = %v, want a percentage", free)
	}
}

// A worker killed mid-build leaves its step containers behind; the next
// run's first health check removes those of its store, running or not,
// and leaves other stores' alone.
func TestFirstHealthCheckRemovesLeftovers(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	ctx := context.Background()
	leave := func(store string, start bool) string {
		t.Helper()
		created, err := e.cli.ContainerCreate(ctx, client.ContainerCreateOptions{
			Config: &container.Config{Image: dockertest.BaseImage, Cmd: []string{"sleep", "300"},
				Labels: map[string]string{testLabel: e.nonce, labelStore: store}},
			HostConfig: &container.HostConfig{NetworkMode: "none"},
		})
		if err != nil {
			t.Fatal(err)
		}
		if start {
			if _, err := e.cli.ContainerStart(ctx, created.ID, client.ContainerStartOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		return created.ID
	}
	leave(e.store, false)
	leave(e.store, true)
	other := leave(e.store+"-other", false)
	if err := e.r.HealthCheck(ctx); err != nil {
		t.Fatal(err)
	}
	left := e.containers(t, true)
	if len(left) != 1 || !strings.HasPrefix(left[0], other) {
		t.Fatalf("after the first health check: %v; want only the other store's %s", left, other)
	}
}
