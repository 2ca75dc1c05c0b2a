package obuilder

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ocluster-go/ocluster/runners"
	"github.com/ocluster-go/ocluster/runners/docker/dockertest"
)

// requireRunc skips the test when runc cannot run here, unless the
// Docker tests are required (OCLUSTER_REQUIRE_DOCKER), when it fails.
func requireRunc(t testing.TB) {
	t.Helper()
	why := ""
	if _, err := exec.LookPath("runc"); err != nil {
		why = "runc is not installed (apt-get install runc)"
	} else if _, err := exec.LookPath("rsync"); err != nil {
		why = "rsync is not installed (apt-get install rsync)"
	} else if os.Geteuid() != 0 {
		why = "the rsync: store runs runc as root, and the tests do not run as root"
	}
	if why == "" {
		return
	}
	if os.Getenv("OCLUSTER_REQUIRE_DOCKER") != "" {
		t.Fatalf("OCLUSTER_REQUIRE_DOCKER is set, but %s", why)
	}
	t.Skip(why)
}

// newRsyncEnv is newTestEnv with an rsync: store.
func newRsyncEnv(t testing.TB, mode string) *testEnv {
	t.Helper()
	requireRunc(t)
	cli := dockertest.Engine(t)
	dockertest.Base(t, cli)
	e := &testEnv{cli: cli, nonce: nonce(), store: t.TempDir()}
	store, err := ParseStore("rsync:" + e.store)
	require.NoError(t, err)
	e.r, err = New(Config{
		Client: cli, Store: store, PruneThreshold: DefaultPruneThreshold, RsyncMode: mode,
		HealthCheckImage: dockertest.BaseImage,
		Labels:           map[string]string{testLabel: e.nonce},
		Logger:           slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	require.NoError(t, err)
	t.Cleanup(func() { e.cleanup(t) })
	return e
}

// leftovers lists what a build must not leave: this store's runc
// containers, mounts under the store, unfinished steps, and processes
// whose command line holds marker.
func (e *testEnv) leftovers(t testing.TB, marker string) []string {
	t.Helper()
	var left []string
	list, err := e.r.sandbox.list(context.Background())
	require.NoError(t, err)
	for _, c := range list {
		if strings.HasPrefix(c.ID, e.r.runcPrefix()) {
			left = append(left, "runc container "+c.ID+" ("+c.Status+")")
		}
	}
	mounts, err := os.ReadFile("/proc/mounts")
	require.NoError(t, err)
	for _, l := range strings.Split(string(mounts), "\n") {
		if strings.Contains(l, e.store) {
			left = append(left, "mount "+l)
		}
	}
	tmps, err := os.ReadDir(e.r.tmpRoot())
	require.NoError(t, err)
	for _, d := range tmps {
		left = append(left, "unfinished step "+d.Name())
	}
	if marker != "" {
		procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
		for _, p := range procs {
			if b, err := os.ReadFile(p); err == nil && bytes.Contains(b, []byte(marker)) {
				left = append(left, "process "+p+": "+strings.ReplaceAll(string(b), "\x00", " "))
			}
		}
	}
	return left
}

func TestRsyncBuiltTwiceSecondTimeFromCache(t *testing.T) {
	for _, mode := range []string{RsyncCopy, RsyncHardlink} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			e := newRsyncEnv(t, mode)
			ctxDir := t.TempDir()
			writeFiles(t, ctxDir, map[string]string{"src/a.txt": "from the context\n", "src/skip.tmp": "no\n"})
			spec := e.spec(`(workdir /src)
 (run (shell "echo first > one.txt"))
 (copy (src src/) (dst ./) (exclude *.tmp))
 (run (shell "cat one.txt a.txt; ls"))`)
			first := e.mustBuild(t, spec, ctxDir)
			assert.Equal(t, uint64(0), first.hits)
			assert.Equal(t, uint64(3), first.misses)
			assert.Equal(t, "first\nfrom the context\na.txt\none.txt\n", stepOutput(t, first.log, `/src: (run (shell "cat one.txt`))
			require.Len(t, first.out, 64, "the result is the final step's key")
			got, err := os.ReadFile(filepath.Join(e.store, "result", first.out, "rootfs", "src", "one.txt"))
			require.NoError(t, err)
			assert.Equal(t, "first\n", string(got))
			ran := e.r.containers.Load()

			again := e.mustBuild(t, spec, ctxDir)
			assert.Equal(t, first.out, again.out)
			assert.Equal(t, uint64(3), again.hits)
			assert.Equal(t, uint64(0), again.misses)
			assert.Equal(t, 3, strings.Count(again.log, "from cache"), again.log)
			assert.NotContains(t, again.log, "first\n", "a cached step ran again")
			assert.Equal(t, ran, e.r.containers.Load(), "the cached build ran runc")
			assert.Empty(t, e.leftovers(t, ""))

			if mode == RsyncHardlink {
				// The unchanged base files are shared with the parent step.
				var parent, child syscall.Stat_t
				require.NoError(t, syscall.Stat(filepath.Join(e.store, "result", first.out, "rootfs", "bin", "busybox"), &child))
				require.NoError(t, syscall.Stat(e.r.rootfs(e.r.index.entries[first.out].Parent)+"/bin/busybox", &parent))
				assert.Equal(t, parent.Ino, child.Ino)
			}
		})
	}
}

func TestRsyncFailingStep(t *testing.T) {
	t.Parallel()
	e := newRsyncEnv(t, "")
	res := e.build(t, e.spec(`(run (shell "echo before; exit 3"))`), "")
	require.Error(t, res.err)
	assert.Equal(t, `step /: (run (shell "echo before; exit 3")) failed: the command exited with exit code 3`, res.err.Error())
	assert.Contains(t, res.log, "before\n")
	assert.Empty(t, e.leftovers(t, ""))
	results, err := os.ReadDir(filepath.Join(e.store, "result"))
	require.NoError(t, err)
	assert.Len(t, results, 1, "only the base image is stored")
}

func TestRsyncCancelLeavesNothing(t *testing.T) {
	t.Parallel()
	e := newRsyncEnv(t, "")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	marker := "marker-" + e.nonce
	sig := &lineSignal{text: marker + "\n", seen: make(chan struct{})}
	done := make(chan buildResult, 1)
	go func() {
		done <- e.buildCtx(ctx, t, e.spec(`(run (shell "echo `+marker+`; sleep 300; echo `+marker+`"))`), "", sig)
	}()
	select {
	case <-sig.seen:
	case res := <-done:
		t.Fatalf("the build ended before it was cancelled: %v\n%s", res.err, res.log)
	case <-time.After(time.Minute):
		t.Fatal("the step's output never reached the log")
	}
	require.NotEmpty(t, e.leftovers(t, marker), "the step should be running")
	cancel()
	var res buildResult
	select {
	case res = <-done:
	case <-time.After(time.Minute):
		t.Fatal("the build did not stop after its context was cancelled")
	}
	require.ErrorIs(t, res.err, runners.ErrCancelled)
	assert.Empty(t, e.leftovers(t, marker))
}

func TestRsyncStateCachesNetworkSecrets(t *testing.T) {
	t.Parallel()
	e := newRsyncEnv(t, "")
	cache := "c-" + e.nonce
	value := "s3cret-" + e.nonce
	res := e.mustBuild(t, e.spec(`(env FOO baz)
 (workdir /w)
 (user (uid 1234) (gid 5678))
 (run (shell "echo foo=$FOO; pwd; id -u; id -g"))
 (run (cache (`+cache+` (target /home/cache))) (shell "echo kept > /home/cache/f"))
 (run (shell "ls /sys/class/net; grep -q '127.0.0.1.*localhost' /etc/hosts && echo hosts"))
 (run (network host) (shell "ls /sys/class/net"))
 (run (secrets (tok (target /run/secrets/tok))) (shell "cat /run/secrets/tok; echo"))`), "", runners.Secret{ID: "tok", Value: value})
	assert.Equal(t, "foo=baz\n/w\n1234\n5678\n", stepOutput(t, res.log, `/w: (run (shell "echo foo`))
	assert.Equal(t, "lo\nhosts\n", stepOutput(t, res.log, `/w: (run (shell "ls /sys/class/net;`), "without (network host) only loopback; /etc/hosts names localhost")
	assert.Greater(t, len(strings.Fields(stepOutput(t, res.log, `/w: (run (network host)`))), 1, "with (network host) the host's interfaces")
	assert.Contains(t, stepOutput(t, res.log, `/w: (run (secrets`), redacted)
	assert.NotContains(t, res.log, value)

	again := e.mustBuild(t, e.spec(`(user (uid 1000) (gid 1000))
 (run (cache (`+cache+` (target /mnt/c))) (shell "cat /mnt/c/f"))`), "")
	assert.Equal(t, "kept\n", stepOutput(t, again.log, `/: (run (cache`))

	// The sandbox's /etc/hosts is not kept, as in Docker.
	hosts, _ := os.ReadFile(filepath.Join(e.r.rootfs(res.out), "etc", "hosts"))
	assert.NotContains(t, string(hosts), "builder")
	// The secret is in no result.
	out, err := exec.Command("grep", "-rl", value, filepath.Join(e.store, "result")).CombinedOutput()
	assert.Error(t, err, "grep found the secret: %s", out)
	assert.Empty(t, e.leftovers(t, ""))
}

func TestRsyncCopyFromBuildStage(t *testing.T) {
	t.Parallel()
	e := newRsyncEnv(t, "")
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
	assert.Equal(t, "/got\n/got/deep\n/got/deep/d\n/got/f\nbuilt\nbuilt\n", stepOutput(t, res.log, `/: (run (shell "find /got`))
}

func TestRsyncHealthCheckAndPrune(t *testing.T) {
	t.Parallel()
	e := newRsyncEnv(t, "")
	ctx := context.Background()
	// A worker killed mid-step leaves an unfinished step.
	require.NoError(t, os.Mkdir(filepath.Join(e.r.tmpRoot(), "leftover"), 0o700))
	require.NoError(t, e.r.HealthCheck(ctx))
	h, m := e.r.Stats()
	assert.Zero(t, h+m, "the health check counts no cache use")
	assert.NotZero(t, e.r.containers.Load(), "the health check ran nothing")
	results, err := os.ReadDir(filepath.Join(e.store, "result"))
	require.NoError(t, err)
	assert.Len(t, results, 1, "the health check keeps only its base image")
	assert.Empty(t, e.leftovers(t, ""))

	a := e.mustBuild(t, e.spec(`(run (shell "echo a > /a"))`), "")
	b := e.mustBuild(t, e.spec(`(run (shell "echo b > /b"))`), "")
	e.mustBuild(t, e.spec(`(run (shell "echo a > /a"))`), "") // B is now the least recently used
	e.r.free = func(context.Context) (float64, string, error) {
		if _, err := os.Stat(e.r.resultDir(b.out)); err == nil {
			return 1, e.store, nil
		}
		return 99, e.store, nil
	}
	var log bytes.Buffer
	require.NoError(t, e.r.Prune(ctx, &log))
	assert.NoDirExists(t, e.r.resultDir(b.out))
	assert.DirExists(t, e.r.resultDir(a.out))
	assert.Contains(t, log.String(), "removed "+e.r.resultDir(b.out))
}

func TestOCIConfig(t *testing.T) {
	s := ociConfig(sandboxStep{Args: []string{"/bin/sh", "-c", "true"}, Cwd: "/w", User: User{UID: 1, GID: 2},
		Env:   []string{"A=b"},
		Binds: []bindMount{{Source: "/store/cache/x", Target: "/c"}, {Source: "/tmp/s/0", Target: "/run/secrets/tok", ReadOnly: true}}})
	assert.Equal(t, "rootfs", s.Root.Path)
	assert.Equal(t, []string{"/bin/sh", "-c", "true"}, s.Process.Args)
	assert.Equal(t, ociUser{UID: 1, GID: 2}, s.Process.User)
	assert.Equal(t, "/w", s.Process.Cwd)
	assert.Equal(t, []string{defaultPath, "A=b", "HOME=/"}, s.Process.Env)
	assert.Contains(t, s.Linux.Namespaces, ociNamespace{Type: "network"}, "no network unless asked")
	assert.Contains(t, s.Mounts, ociMount{Destination: "/c", Type: "bind", Source: "/store/cache/x", Options: []string{"rbind", "nosuid", "nodev"}})
	assert.Contains(t, s.Mounts, ociMount{Destination: "/run/secrets/tok", Type: "bind", Source: "/tmp/s/0", Options: []string{"rbind", "nosuid", "nodev", "ro"}})
	assert.Contains(t, s.Mounts, ociMount{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: []string{"nosuid", "noexec", "nodev", "ro"}})
	assert.Empty(t, s.Process.Capabilities.Effective, "a non-root step has no effective capabilities")

	host := ociConfig(sandboxStep{Args: []string{"true"}, Cwd: "/", Network: true, Env: []string{"PATH=/bin"}, Hosts: "/b/hosts"})
	assert.Contains(t, host.Mounts, ociMount{Destination: "/etc/hosts", Type: "bind", Source: "/b/hosts", Options: []string{"rbind", "nosuid", "nodev"}})
	assert.NotContains(t, host.Linux.Namespaces, ociNamespace{Type: "network"}, "(network host) shares the host's")
	assert.Equal(t, []string{"PATH=/bin", "HOME=/root"}, host.Process.Env)
	assert.Contains(t, host.Process.Capabilities.Effective, "CAP_CHOWN")
}

func TestExtractTarStaysInsideTheRoot(t *testing.T) {
	dir := t.TempDir()
	outside := t.TempDir()
	require.NoError(t, os.Symlink(outside, filepath.Join(dir, "escape")))
	root, err := os.OpenRoot(dir)
	require.NoError(t, err)
	defer root.Close()
	tarOf := func(entries ...*tar.Header) *tar.Reader {
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		for _, h := range entries {
			require.NoError(t, tw.WriteHeader(h))
			if h.Size > 0 {
				_, err := tw.Write(bytes.Repeat([]byte("x"), int(h.Size)))
				require.NoError(t, err)
			}
		}
		require.NoError(t, tw.Close())
		return tar.NewReader(&buf)
	}
	require.NoError(t, extractTar(root, tarOf(
		&tar.Header{Typeflag: tar.TypeDir, Name: "d/", Mode: 0o750, Uid: os.Getuid(), Gid: os.Getgid()},
		&tar.Header{Typeflag: tar.TypeReg, Name: "d/f", Mode: 0o640, Size: 3, Uid: os.Getuid(), Gid: os.Getgid()},
		&tar.Header{Typeflag: tar.TypeSymlink, Name: "d/l", Linkname: "f", Uid: os.Getuid(), Gid: os.Getgid()},
		&tar.Header{Typeflag: tar.TypeReg, Name: "../up", Mode: 0o644, Size: 1, Uid: os.Getuid(), Gid: os.Getgid()},
	)))
	got, err := os.ReadFile(filepath.Join(dir, "d", "l"))
	require.NoError(t, err)
	assert.Equal(t, "xxx", string(got))
	fi, err := os.Stat(filepath.Join(dir, "d", "f"))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o640), fi.Mode().Perm())
	assert.FileExists(t, filepath.Join(dir, "up"), "../up lands at the root")

	err = extractTar(root, tarOf(&tar.Header{Typeflag: tar.TypeReg, Name: "escape/f", Mode: 0o644, Size: 1}))
	require.Error(t, err)
	entries, err := os.ReadDir(outside)
	require.NoError(t, err)
	assert.Empty(t, entries, "a write followed a symbolic link out of the root")
	assert.False(t, errors.Is(err, io.EOF))
}

// A worker killed mid-step leaves its runc container running and its
// unfinished step; the first health check removes both.
func TestRsyncFirstHealthCheckRemovesLeftovers(t *testing.T) {
	t.Parallel()
	e := newRsyncEnv(t, "")
	e.mustBuild(t, e.spec(`(run (shell "true"))`), "")
	base := ""
	for _, en := range e.r.index.entries {
		if en.Depth == 1 {
			base = en.Parent
		}
	}
	require.NotEmpty(t, base)
	bundle, err := e.r.newTmp(base)
	require.NoError(t, err)
	require.NoError(t, e.r.copyRootfs(context.Background(), base, filepath.Join(bundle, "rootfs")))
	marker := "leftover-" + e.nonce
	require.NoError(t, writeBundle(bundle, ociConfig(sandboxStep{Args: []string{"/bin/sh", "-c", "sleep 300; echo " + marker}, Cwd: "/"})))
	id := e.r.runcID(base)
	// The container keeps runc's output: a file, not a pipe to wait for.
	errFile, err := os.Create(filepath.Join(t.TempDir(), "runc.err"))
	require.NoError(t, err)
	defer errFile.Close()
	detached := exec.Command("runc", "run", "--detach", "--bundle", bundle, id)
	detached.Stdout, detached.Stderr = errFile, errFile
	err = detached.Run()
	out, _ := os.ReadFile(errFile.Name())
	require.NoError(t, err, "%s", out)
	t.Cleanup(func() { e.r.sandbox.delete(id) })
	require.NotEmpty(t, e.leftovers(t, marker))

	e.r.containers.Store(0) // as in a fresh worker
	require.NoError(t, e.r.HealthCheck(context.Background()))
	assert.Empty(t, e.leftovers(t, marker))
}
