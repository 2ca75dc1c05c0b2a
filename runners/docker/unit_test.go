package docker

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	controlapi "github.com/moby/buildkit/api/services/control"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/ocluster-go/ocluster/runners"
)

// Jobs that cannot be run are refused with a reason, before the engine
// is contacted (the runner's client leads nowhere).
func TestRunRefusesBadJobs(t *testing.T) {
	t.Parallel()
	ctxDir := t.TempDir()
	outside := t.TempDir()
	writeFiles(t, ctxDir, map[string]string{"Dockerfile": "FROM busybox\n", "sub/Dockerfile": "FROM busybox\n"})
	writeFiles(t, outside, map[string]string{"Dockerfile": "FROM busybox\n"})
	for name, target := range map[string]string{
		"abs-link":      filepath.Join(outside, "Dockerfile"),
		"rel-link":      filepath.Join("..", filepath.Base(outside), "Dockerfile"),
		"sub/up-link":   "../../" + filepath.Base(outside) + "/Dockerfile",
		"dir-link":      outside,
		"etc-link":      "/etc/passwd",
		"dangling-link": "nowhere",
	} {
		if err := os.Symlink(target, filepath.Join(ctxDir, name)); err != nil {
			t.Fatal(err)
		}
	}
	r, err := New(Config{Client: unreachableClient(t), AllowPush: []string{"127.0.0.1:5000/ok"}})
	if err != nil {
		t.Fatal(err)
	}
	path := func(p string) *runners.Job { return &runners.Job{Docker: &runners.DockerBuild{DockerfilePath: p}} }
	for _, tc := range []struct {
		name string
		job  *runners.Job
		dir  string
		want string
	}{
		{"absolute path", path("/etc/passwd"), ctxDir, "is absolute"},
		{"absolute path into the context", path(filepath.Join(ctxDir, "Dockerfile")), ctxDir, "is absolute"},
		{"dot dot", path("../Dockerfile"), ctxDir, "leaves the build context"},
		{"dot dot inside", path("sub/../../Dockerfile"), ctxDir, "leaves the build context"},
		{"link to an absolute path", path("abs-link"), ctxDir, "symbolic link that leaves"},
		{"link up", path("rel-link"), ctxDir, "symbolic link that leaves"},
		{"link up from a subdirectory", path("sub/up-link"), ctxDir, "symbolic link that leaves"},
		{"through a linked directory", path("dir-link/Dockerfile"), ctxDir, "symbolic link that leaves"},
		{"link to /etc", path("etc-link"), ctxDir, "symbolic link that leaves"},
		{"dangling link", path("dangling-link"), ctxDir, "no Dockerfile"},
		{"missing", path("nope/Dockerfile"), ctxDir, "no Dockerfile \"nope/Dockerfile\""},
		{"directory", path("sub"), ctxDir, "not a regular file"},
		{"path without context", path("Dockerfile"), "", "no build context"},
		{"nothing", &runners.Job{Docker: &runners.DockerBuild{}}, "", "gives no Dockerfile"},
		{"both", &runners.Job{Docker: &runners.DockerBuild{DockerfilePath: "Dockerfile", DockerfileContents: "FROM busybox"}}, ctxDir, "one or the other"},
		{"build arg without name", &runners.Job{Docker: &runners.DockerBuild{DockerfileContents: "FROM busybox", BuildArgs: []string{"=x"}}}, "", "NAME=VALUE"},
		{"secret without id", &runners.Job{Docker: &runners.DockerBuild{DockerfileContents: "FROM busybox"}, Secrets: []runners.Secret{{Value: "x"}}}, "", "has no id"},
		{"secret twice", &runners.Job{Docker: &runners.DockerBuild{DockerfileContents: "FROM busybox"}, Secrets: []runners.Secret{{ID: "a"}, {ID: "a"}}}, "", "twice"},
		{"credentials without target", &runners.Job{Docker: &runners.DockerBuild{DockerfileContents: "FROM busybox", PushUser: "u"}}, "", "no push target"},
		{"push to a digest", &runners.Job{Docker: &runners.DockerBuild{DockerfileContents: "FROM busybox", PushTarget: "127.0.0.1:5000/ok@sha256:" + strings.Repeat("a", 64)}}, "", "names a digest"},
		{"bad push target", &runners.Job{Docker: &runners.DockerBuild{DockerfileContents: "FROM busybox", PushTarget: "Not A Repo"}}, "", "REPOSITORY:TAG"},
		{"not docker", &runners.Job{OBuilder: &runners.OBuilderBuild{}}, "", "cannot run a \"obuilder\" job"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := r.Run(context.Background(), tc.job, tc.dir, io.Discard)
			errorContains(t, err, tc.want)
			if err != nil && strings.Contains(err.Error(), "no-engine.sock") {
				t.Errorf("the runner contacted the engine: %v", err)
			}
		})
	}
}

func TestLocateDockerfile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"Dockerfile": "FROM a\n", "ci/Dockerfile": "FROM b\n"})
	if err := os.Symlink("../Dockerfile", filepath.Join(dir, "ci", "up")); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ path, want, contents string }{
		{"", "Dockerfile", "FROM a\n"},
		{"ci/Dockerfile", "ci/Dockerfile", "FROM b\n"},
		{"ci/../Dockerfile", "Dockerfile", "FROM a\n"},
		{"ci/up", "Dockerfile", "FROM a\n"},
	} {
		got, data, err := locateDockerfile(dir, tc.path)
		if err != nil || got != tc.want || string(data) != tc.contents {
			t.Errorf("locateDockerfile(%q) = %q, %q, %v; want %q, %q", tc.path, got, data, err, tc.want, tc.contents)
		}
	}
}

func TestNewChecksConfig(t *testing.T) {
	t.Parallel()
	cli := unreachableClient(t)
	for _, tc := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"no client", Config{}, "needs a Docker client"},
		{"threshold", Config{Client: cli, PruneThreshold: 101}, "percentage"},
		{"negative size", Config{Client: cli, MaxDFSize: -1}, "size in bytes"},
		{"tagged allow-push", Config{Client: cli, AllowPush: []string{"repo:tag"}}, "--allow-push \"repo:tag\""},
		{"bad allow-push", Config{Client: cli, AllowPush: []string{"Bad Repo"}}, "--allow-push \"Bad Repo\""},
	} {
		_, err := New(tc.cfg)
		errorContains(t, err, tc.want)
	}
}

func TestAllowPushNormalises(t *testing.T) {
	t.Parallel()
	r, err := New(Config{Client: unreachableClient(t), AllowPush: []string{"busybox", "docker.io/ocurrent/worker", "localhost:5000/x"}})
	if err != nil {
		t.Fatal(err)
	}
	for target, ok := range map[string]bool{
		"busybox:1":                                true,
		"docker.io/library/busybox":                true,
		"ocurrent/worker:live":                     true,
		"index.docker.io/ocurrent/worker:live":     true,
		"localhost:5000/x:v1":                      true,
		"localhost:5001/x:v1":                      false,
		"ocurrent/other:live":                      false,
		"registry.example.org/library/busybox:1.0": false,
	} {
		_, err := r.checkPush(&runners.DockerBuild{PushTarget: target})
		if ok != (err == nil) {
			t.Errorf("push to %s: %v, want allowed=%v", target, err, ok)
		}
	}
}

func TestBaseImages(t *testing.T) {
	t.Parallel()
	v := func(s string) *string { return &s }
	for _, tc := range []struct {
		name       string
		dockerfile string
		args       map[string]*string
		want       []string
	}{
		{"simple", "FROM busybox\nRUN date\n", nil, []string{"busybox:latest"}},
		{"tag and registry", "from 127.0.0.1:5000/a/b:v1 AS x\n", nil, []string{"127.0.0.1:5000/a/b:v1"}},
		{"digest", "FROM busybox@sha256:" + strings.Repeat("0", 64), nil, []string{"busybox@sha256:" + strings.Repeat("0", 64)}},
		{"stages and scratch", "FROM alpine AS build\nFROM build\nFROM scratch\nFROM Build AS again\nFROM alpine:latest\n", nil, []string{"alpine:latest"}},
		{"a stage cannot name itself", "FROM base AS base\n", nil, []string{"base:latest"}},
		{"platform flag", "FROM --platform=linux/amd64 debian:12\n", nil, []string{"debian:12"}},
		{"arg default", "ARG TAG=1.36\nFROM busybox:${TAG}\n", nil, []string{"busybox:1.36"}},
		{"arg from build args", "ARG TAG=1.36\nFROM busybox:$TAG\n", map[string]*string{"TAG": v("1.37")}, []string{"busybox:1.37"}},
		{"bare build arg keeps the default", "ARG TAG=1.36\nFROM busybox:$TAG\n", map[string]*string{"TAG": nil}, []string{"busybox:1.36"}},
		{"undeclared build arg", "FROM busybox:$TAG\n", map[string]*string{"TAG": v("1.37")}, nil},
		{"args after FROM do not count", "FROM a\nARG X=b\nFROM $X\n", nil, []string{"a:latest"}},
		{"quoted default", "ARG IMG=\"alpine:3\"\nFROM $IMG\n", nil, []string{"alpine:3"}},
		{"continuation and comments", "# c\nFROM \\\n  alpine\n", nil, []string{"alpine:latest"}},
		{"invalid reference", "FROM Not_Valid\n", nil, nil},
		{"duplicates", "FROM a\nFROM a:latest\nFROM docker.io/library/a\n", nil, []string{"a:latest"}},
	} {
		got, err := baseImages([]byte(tc.dockerfile), tc.args)
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("%s: baseImages = %q, %v; want %q", tc.name, got, err, tc.want)
		}
	}
}

func FuzzBaseImages(f *testing.F) {
	f.Add("FROM busybox\nRUN date\n", "TAG=1")
	f.Add("ARG A=b\nFROM ${A:-c} AS d\nFROM d\n", "A")
	f.Add("# escape=`\nFROM a `\n  AS b\n", "")
	f.Fuzz(func(t *testing.T, dockerfile, arg string) {
		name, value, ok := strings.Cut(arg, "=")
		args := map[string]*string{name: nil}
		if ok {
			args[name] = &value
		}
		images, err := baseImages([]byte(dockerfile), args)
		if err != nil {
			return
		}
		for _, img := range images {
			if img == "" || strings.EqualFold(img, "scratch") {
				t.Errorf("baseImages gave %q", img)
			}
		}
	})
}

func statusMessage(t testing.TB, sr *controlapi.StatusResponse) []byte {
	b, err := sr.MarshalVT()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestTraceLog(t *testing.T) {
	t.Parallel()
	t0 := time.Unix(1000, 0)
	ts := func(d time.Duration) *timestamppb.Timestamp { return timestamppb.New(t0.Add(d)) }
	var lines []string
	tl := newTraceLog(func(s string) { lines = append(lines, s) })
	for _, sr := range []*controlapi.StatusResponse{
		{Vertexes: []*controlapi.Vertex{{Digest: "a", Name: "[1/2] FROM busybox"}, {Digest: "b", Name: "[2/2] RUN x"}}},
		{Vertexes: []*controlapi.Vertex{{Digest: "a", Name: "[1/2] FROM busybox", Cached: true, Started: ts(0), Completed: ts(0)}}},
		// Started, output split mid-line, and more output in one message.
		{Vertexes: []*controlapi.Vertex{{Digest: "b", Name: "[2/2] RUN x", Started: ts(0)}},
			Logs: []*controlapi.VertexLog{{Vertex: "b", Msg: []byte("hel")}}},
		{Logs: []*controlapi.VertexLog{{Vertex: "b", Msg: []byte("lo\r\nwor")}}},
		// Done, and the end of its output, in one message.
		{Vertexes: []*controlapi.Vertex{{Digest: "b", Name: "[2/2] RUN x", Started: ts(0), Completed: ts(1500 * time.Millisecond)}},
			Logs: []*controlapi.VertexLog{{Vertex: "b", Msg: []byte("ld")}}},
		{Vertexes: []*controlapi.Vertex{{Digest: "c", Name: "[3/3] RUN false", Started: ts(0), Completed: ts(time.Second), Error: "exit code: 1"}},
			Warnings: []*controlapi.VertexWarning{{Vertex: "c", Short: []byte("careful")}}},
	} {
		if err := tl.handle(statusMessage(t, sr)); err != nil {
			t.Fatal(err)
		}
	}
	tl.close()
	want := []string{
		"#1 [1/2] FROM busybox", "#1 CACHED",
		"#2 [2/2] RUN x", "#2 hello", "#2 world", "#2 DONE 1.5s",
		"#3 [3/3] RUN false", "#3 WARNING: careful", "#3 ERROR: exit code: 1",
	}
	if !slices.Equal(lines, want) {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
	if err := tl.handle([]byte{0xff, 0xff}); err == nil {
		t.Error("garbage decoded")
	}
}

func FuzzTraceLog(f *testing.F) {
	f.Add(statusMessage(f, &controlapi.StatusResponse{Vertexes: []*controlapi.Vertex{{Digest: "a", Name: "x", Started: timestamppb.Now()}},
		Logs: []*controlapi.VertexLog{{Vertex: "a", Msg: []byte("out\n")}}}))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, raw []byte) {
		tl := newTraceLog(func(string) {})
		_ = tl.handle(raw)
		tl.close()
	})
}

// stream is a build's JSON output, as the engine sends it.
func stream(t *testing.T, msgs ...any) io.Reader {
	var b bytes.Buffer
	for _, m := range msgs {
		if err := json.NewEncoder(&b).Encode(m); err != nil {
			t.Fatal(err)
		}
	}
	return &b
}

type msg = map[string]any

func TestReadBuild(t *testing.T) {
	t.Parallel()
	t.Run("classic", func(t *testing.T) {
		log := newLog(nil)
		jl := newJobLog(log, nil)
		steps := &stepTracker{}
		id, err := readBuild(stream(t,
			msg{"stream": "Step 1/2 : FROM busybox\n ---> 9003"},
			msg{"stream": "227772f5\nStep 2/2 : RUN x\n"},
			msg{"stream": " ---> Running in 0123456789ab\n"},
			msg{"status": "Downloading", "id": "abc", "progressDetail": msg{"current": 1, "total": 2}},
			msg{"status": "Pull complete", "id": "abc", "progressDetail": msg{}},
			msg{"aux": msg{"ID": "sha256:feed"}},
			msg{"stream": "Successfully built feed\n"},
		), jl, steps)
		if err != nil || id != "sha256:feed" {
			t.Fatalf("readBuild = %q, %v", id, err)
		}
		want := "Step 1/2 : FROM busybox\n ---> 9003227772f5\nStep 2/2 : RUN x\n ---> Running in 0123456789ab\nabc: Pull complete\nSuccessfully built feed"
		if log.text() != want {
			t.Errorf("log\n%s\nwant\n%s", log.text(), want)
		}
		if steps.current() != "0123456789ab" {
			t.Errorf("step container %q", steps.current())
		}
	})
	t.Run("classic failure", func(t *testing.T) {
		jl := newJobLog(io.Discard, nil)
		_, err := readBuild(stream(t,
			msg{"stream": "oops\n"},
			msg{"errorDetail": msg{"code": 3, "message": "The command '/bin/sh -c exit 3' returned a non-zero code: 3"}, "error": "x"},
		), jl, &stepTracker{})
		var be *BuildError
		if !errors.As(err, &be) || be.ExitCode != 3 || !slices.Equal(be.Tail, []string{"oops"}) {
			t.Fatalf("readBuild error %#v", err)
		}
		if want := "Build failed: The command '/bin/sh -c exit 3' returned a non-zero code: 3\nLast lines of the log:\n  oops"; err.Error() != want {
			t.Errorf("error %q, want %q", err, want)
		}
	})
	t.Run("buildkit", func(t *testing.T) {
		log := newLog(nil)
		jl := newJobLog(log, nil)
		trace := base64.StdEncoding.EncodeToString(statusMessage(t, &controlapi.StatusResponse{
			Vertexes: []*controlapi.Vertex{{Digest: "a", Name: "[1/1] RUN x", Started: timestamppb.Now()}},
			Logs:     []*controlapi.VertexLog{{Vertex: "a", Msg: []byte("out\n")}},
		}))
		_, err := readBuild(stream(t,
			msg{"id": "moby.buildkit.trace", "aux": trace},
			msg{"errorDetail": msg{"message": "executor failed running [/bin/sh -c x]: exit code: 42"}},
		), jl, &stepTracker{})
		var be *BuildError
		if !errors.As(err, &be) || be.ExitCode != 42 {
			t.Fatalf("readBuild error %#v", err)
		}
		if log.text() != "#1 [1/1] RUN x\n#1 out" {
			t.Errorf("log %q", log.text())
		}
	})
	t.Run("no image id", func(t *testing.T) {
		_, err := readBuild(stream(t, msg{"stream": "hi\n"}), newJobLog(io.Discard, nil), &stepTracker{})
		errorContains(t, err, "without giving an image id")
	})
}

func TestJobLog(t *testing.T) {
	t.Parallel()
	log := newLog(nil)
	jl := newJobLog(log, map[string][]byte{"key": []byte("-----BEGIN KEY-----\r\nAAAAB3Nza\nxyz\n"), "pin": []byte("123"), "tok": []byte("tok-SECRET-tok")})
	jl.line("a -----BEGIN KEY----- b")
	jl.line("AAAAB3Nza")
	jl.line("xyz and 123 stay: too short to be told from output")
	jl.line("x tok-SECRET-tok y")
	want := "a *** b\n***\nxyz and 123 stay: too short to be told from output\nx *** y"
	if log.text() != want {
		t.Errorf("log\n%s\nwant\n%s", log.text(), want)
	}
	for i := range 2 * tailLines {
		jl.linef("line %d", i)
	}
	tail := jl.lastLines()
	if len(tail) != tailLines || tail[len(tail)-1] != "line 19" {
		t.Errorf("tail %q", tail)
	}
}

func tarNames(t *testing.T, c *buildContext) []string {
	t.Helper()
	var b bytes.Buffer
	if err := c.writeTo(&b); err != nil {
		t.Fatal(err)
	}
	var names []string
	tr := tar.NewReader(&b)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return names
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Uid != 0 || h.Gid != 0 || h.Uname != "" {
			t.Errorf("%s belongs to %d:%d %s", h.Name, h.Uid, h.Gid, h.Uname)
		}
		if h.Typeflag == tar.TypeSymlink {
			names = append(names, h.Name+" -> "+h.Linkname)
		} else {
			names = append(names, h.Name)
		}
	}
}

func TestContextTar(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		".dockerignore":              "*.log\nnode_modules\nbuild\n!build/keep\n",
		"ci/Dockerfile":              "FROM x\n",
		"ci/Dockerfile.dockerignore": "*\n!src\n",
		"a.log":                      "",
		"src/main.go":                "",
		"src/x.log":                  "",
		"node_modules/m/index.js":    "",
		"build/out":                  "",
		"build/keep":                 "",
		".git/HEAD":                  "",
	})
	if err := os.Symlink("/etc/passwd", filepath.Join(dir, "src", "link")); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("unix", filepath.Join(dir, "src", "sock"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()

	// Patterns are rooted at the context: *.log is a.log, not src/x.log. A
	// file brought back from an excluded directory comes without it.
	for _, tc := range []struct {
		name       string
		dockerfile string
		includeGit bool
		want       []string
	}{
		{"root .dockerignore", "", false, []string{".dockerignore", "build/keep", "ci/", "ci/Dockerfile", "ci/Dockerfile.dockerignore", "src/", "src/link -> /etc/passwd", "src/main.go", "src/x.log"}},
		{"with .git", "", true, []string{".dockerignore", ".git/", ".git/HEAD", "build/keep", "ci/", "ci/Dockerfile", "ci/Dockerfile.dockerignore", "src/", "src/link -> /etc/passwd", "src/main.go", "src/x.log"}},
		// The Dockerfile's own ignore file wins, and the Dockerfile is sent.
		{"Dockerfile's ignore file", "ci/Dockerfile", false, []string{".dockerignore", "ci/Dockerfile", "src/", "src/link -> /etc/passwd", "src/main.go", "src/x.log"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ex, err := ignorePatterns(dir, tc.dockerfile, tc.includeGit)
			if err != nil {
				t.Fatal(err)
			}
			got := tarNames(t, &buildContext{dir: dir, excludes: ex})
			if !slices.Equal(got, tc.want) {
				t.Errorf("context\n%q\nwant\n%q", got, tc.want)
			}
		})
	}
	t.Run("inline Dockerfile", func(t *testing.T) {
		got := tarNames(t, &buildContext{inline: []byte("FROM x\n"), inlineName: ".dockerfile.abc"})
		if !slices.Equal(got, []string{".dockerfile.abc"}) {
			t.Errorf("context %q", got)
		}
	})
}

func FuzzReadBuild(f *testing.F) {
	f.Add([]byte(`{"stream":"Step 1/1 : FROM x\n"}{"aux":{"ID":"sha256:a"}}`))
	f.Add([]byte(`{"id":"moby.buildkit.trace","aux":"CgA="}{"errorDetail":{"code":3,"message":"m"}}`))
	f.Add([]byte(`{"status":"s","progressDetail":{"current":1}}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		id, err := readBuild(bytes.NewReader(raw), newJobLog(io.Discard, nil), &stepTracker{})
		if err == nil && id == "" {
			t.Error("no error and no image id")
		}
	})
}

func TestHealthCheck(t *testing.T) {
	t.Parallel()
	r, err := New(Config{Client: unreachableClient(t)})
	if err != nil {
		t.Fatal(err)
	}
	errorContains(t, r.HealthCheck(context.Background()), "does not answer", "dockerd")
}
