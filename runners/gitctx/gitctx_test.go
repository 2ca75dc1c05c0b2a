package gitctx

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ocluster-go/ocluster/runners"
)

// TestMain doubles as a helper process that holds a clone's flock until
// it is killed: a worker that died holding the lock.
func TestMain(m *testing.M) {
	if p := os.Getenv("GITCTX_TEST_HOLD_LOCK"); p != "" {
		f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			os.Exit(2)
		}
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
			os.Exit(2)
		}
		os.Stdout.WriteString("locked\n")
		time.Sleep(time.Hour)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func TestCheckout(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	for _, format := range []string{formatSHA1, formatSHA256} {
		t.Run(format, func(t *testing.T) {
			f := srv.repo("project-" + format)
			if format == formatSHA256 {
				// Re-made with the other hash: git init cannot convert.
				if err := os.RemoveAll(filepath.Join(f.dir, ".git")); err != nil {
					t.Fatal(err)
				}
				f.git("init", "-q", "--object-format=sha256")
			}
			f.commit("first", map[string]string{
				"README.md":     "hello\n",
				"src/main.go":   "package main\n",
				"build.sh":      "#!/bin/sh\necho build\n",
				"docs/a/b/c.md": "deep\n",
			})
			f.git("update-index", "--chmod=+x", "build.sh")
			if err := os.Symlink("README.md", filepath.Join(f.dir, "link")); err != nil {
				t.Fatal(err)
			}
			f.git("add", "link")
			f.git("commit", "-q", "-m", "exec bit and link")
			commit := f.git("rev-parse", "HEAD")
			if len(commit) != map[string]int{formatSHA1: 40, formatSHA256: 64}[format] {
				t.Fatalf("fixture commit %s is not a %s name", commit, format)
			}

			c := newContexts(t, Options{})
			p := mustPrepare(t, c, gitJob(f.url, false, commit))

			want := []string{"README.md", "build.sh", "docs/a/b/c.md", "link", "src/main.go"}
			if got := listTree(t, p.dir); !slices.Equal(got, want) {
				t.Errorf("files = %v, want %v", got, want)
			}
			if got := readFile(t, p.dir, "src/main.go"); got != "package main\n" {
				t.Errorf("src/main.go = %q", got)
			}
			if fi, err := os.Stat(filepath.Join(p.dir, "build.sh")); err != nil || fi.Mode()&0o100 == 0 {
				t.Errorf("build.sh lost its exec bit: %v %v", fi.Mode(), err)
			}
			if target, err := os.Readlink(filepath.Join(p.dir, "link")); err != nil || target != "README.md" {
				t.Errorf("link = %q, %v; want a symlink to README.md", target, err)
			}
			if !strings.Contains(p.log, "Fetching "+f.url+" (first use on this worker)") {
				t.Errorf("log does not say it fetched:\n%s", p.log)
			}
		})
	}
}

func TestCachedCommitIsNotFetched(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	f := srv.repo("cached")
	c1 := f.commit("one", map[string]string{"a.txt": "1\n"})
	c := newContexts(t, Options{})

	p := mustPrepare(t, c, gitJob(f.url, false, c1))
	p.release()
	if n := c.fetches.Load(); n != 1 {
		t.Fatalf("first prepare fetched %d times, want 1", n)
	}

	c2 := f.commit("two", map[string]string{"a.txt": "2\n"}) // pushed later
	p = mustPrepare(t, c, gitJob(f.url, false, c1))
	p.release()
	if n := c.fetches.Load(); n != 1 {
		t.Errorf("prepare of a cached commit fetched (%d fetches in all)", n)
	}
	if !strings.Contains(p.log, "already in the cache") {
		t.Errorf("log does not say the commit was cached:\n%s", p.log)
	}

	p = mustPrepare(t, c, gitJob(f.url, false, c2))
	if n := c.fetches.Load(); n != 2 {
		t.Errorf("prepare of a new commit made %d fetches in all, want 2", n)
	}
	if want := "Fetching " + f.url + " (commit " + c2[:12] + " not in the cache)"; !strings.Contains(p.log, want) {
		t.Errorf("log lacks %q:\n%s", want, p.log)
	}
	if got := readFile(t, p.dir, "a.txt"); got != "2\n" {
		t.Errorf("a.txt = %q, want the new commit's", got)
	}
	p.release()

	// With the server gone, cached commits still prepare.
	srv.stop()
	for _, commit := range []string{c1, c2} {
		p := mustPrepare(t, c, gitJob(f.url, false, commit))
		p.release()
	}
	if n := c.fetches.Load(); n != 2 {
		t.Errorf("cached prepares with the server down fetched (%d fetches in all)", n)
	}
}

// A commit reachable only from a pull or merge request, or (when the
// server allows it) from no ref at all, is found.
func TestCommitOutsideBranches(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	cases := []struct {
		name    string
		ref     string // where the commit is published; "" for nowhere
		byName  bool   // the server hands out unadvertised commits
		wantLog string
	}{
		{name: "github-pull", ref: "refs/pull/1/head"},
		{name: "gitlab-merge-request", ref: "refs/merge-requests/7/head"},
		{name: "tag", ref: "refs/tags/v1.0"},
		{name: "by-name", byName: true, wantLog: "asking for it by name"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := srv.repo(tc.name)
			base := f.commit("base", map[string]string{"base.txt": "base\n"})
			c := newContexts(t, Options{})
			// The clone exists and is up to date before the change appears.
			mustPrepare(t, c, gitJob(f.url, false, base)).release()

			f.git("checkout", "-q", "-b", "proposed")
			change := f.commit("change", map[string]string{"change.txt": "change\n"})
			f.git("checkout", "-q", "main")
			if tc.ref != "" {
				f.git("update-ref", tc.ref, change)
			}
			f.git("branch", "-q", "-D", "proposed")
			if tc.byName {
				f.git("config", "uploadpack.allowAnySHA1InWant", "true")
			}

			p := mustPrepare(t, c, gitJob(f.url, false, change))
			if got := readFile(t, p.dir, "change.txt"); got != "change\n" {
				t.Errorf("change.txt = %q", got)
			}
			if tc.wantLog != "" && !strings.Contains(p.log, tc.wantLog) {
				t.Errorf("log lacks %q:\n%s", tc.wantLog, p.log)
			}
		})
	}
}

func TestMissingCommit(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	f := srv.repo("missing")
	f.commit("one", map[string]string{"a.txt": "1\n"})
	blob := f.git("rev-parse", "HEAD:a.txt")
	absent := strings.Repeat("0123456789", 4)
	c := newContexts(t, Options{})
	cases := []struct {
		name   string
		commit string
		want   []string
	}{
		{"absent", absent, []string{"commit " + absent + " not found in " + f.url, "check that it was pushed"}},
		{"blob", blob, []string{blob + " in " + f.url + " is a blob, not a commit"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err, _ := prepareErr(t, c, gitJob(f.url, false, tc.commit))
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

func TestUnreachableServer(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	f := srv.repo("gone")
	commit := f.commit("one", map[string]string{"a.txt": "1\n"})
	srv.stop()
	c := newContexts(t, Options{})
	err, _ := prepareErr(t, c, gitJob(f.url, false, commit))
	for _, w := range []string{"fetching " + f.url + ": ", "check that the URL is right"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q lacks %q", err, w)
		}
	}
}

func TestMerge(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	f := srv.repo("merge")
	base := f.commit("base", map[string]string{"base.txt": "base\n", "shared.txt": "1\n2\n3\n4\n5\n"})
	f.git("checkout", "-q", "-b", "a")
	a := f.commit("a", map[string]string{"a.txt": "a\n", "shared.txt": "1 from a\n2\n3\n4\n5\n"})
	a2 := f.commit("a2", map[string]string{"a2.txt": "a2\n"})
	f.git("checkout", "-q", "-b", "b", base)
	b := f.commit("b", map[string]string{"b.txt": "b\n", "shared.txt": "1\n2\n3\n4\n5 from b\n"})
	f.git("checkout", "-q", "-b", "c", base)
	cc := f.commit("c", map[string]string{"c.txt": "c\n", "base.txt": ""})

	cases := []struct {
		name    string
		commits []string
		files   []string
		shared  string
		wantLog string
	}{
		{"two", []string{a, b}, []string{"a.txt", "b.txt", "base.txt", "shared.txt"}, "1 from a\n2\n3\n4\n5 from b\n", "Merging " + b[:12] + " into " + a[:12]},
		{"three", []string{a, b, cc}, []string{"a.txt", "b.txt", "c.txt", "shared.txt"}, "1 from a\n2\n3\n4\n5 from b\n", "Merging " + cc[:12]},
		{"fast-forward", []string{a, a2}, []string{"a.txt", "a2.txt", "base.txt", "shared.txt"}, "1 from a\n2\n3\n4\n5\n", "fast-forward"},
		{"already-contained", []string{a2, a}, []string{"a.txt", "a2.txt", "base.txt", "shared.txt"}, "1 from a\n2\n3\n4\n5\n", "already contained"},
	}
	c := newContexts(t, Options{})
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := mustPrepare(t, c, gitJob(f.url, false, tc.commits...))
			if got := listTree(t, p.dir); !slices.Equal(got, tc.files) {
				t.Errorf("files = %v, want %v", got, tc.files)
			}
			if got := readFile(t, p.dir, "shared.txt"); got != tc.shared {
				t.Errorf("shared.txt = %q, want %q", got, tc.shared)
			}
			if !strings.Contains(p.log, tc.wantLog) {
				t.Errorf("log lacks %q:\n%s", tc.wantLog, p.log)
			}
		})
	}
}

func TestMergeConflict(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	f := srv.repo("conflict")
	base := f.commit("base", map[string]string{"a.txt": "base\n", "b.txt": "base\n", "ok.txt": "ok\n"})
	f.git("checkout", "-q", "-b", "x")
	x := f.commit("x", map[string]string{"a.txt": "x\n", "b.txt": "x\n"})
	f.git("checkout", "-q", "-b", "y", base)
	y := f.commit("y", map[string]string{"a.txt": "y\n", "b.txt": "y\n", "ok.txt": "still ok\n"})

	c := newContexts(t, Options{})
	err, _ := prepareErr(t, c, gitJob(f.url, false, x, y))
	want := "merging " + y + " into " + x + ": conflict in a.txt, b.txt;"
	if !strings.Contains(err.Error(), want) {
		t.Errorf("error %q lacks %q", err, want)
	}
	// The failed merge leaves the clone usable.
	p := mustPrepare(t, c, gitJob(f.url, false, y))
	if got := readFile(t, p.dir, "a.txt"); got != "y\n" {
		t.Errorf("after the conflict, a.txt = %q", got)
	}
}

// submoduleFixture makes top -> lib/mid (absolute URL) -> deps/leaf
// (relative URL), returning top and the commits the gitlinks name.
func submoduleFixture(t *testing.T, srv *server, prefix string) (top *fixture, topCommit, midCommit, leafCommit string) {
	t.Helper()
	leaf := srv.repo(prefix + "leaf")
	leafCommit = leaf.commit("leaf", map[string]string{"leaf.txt": "leaf\n"})
	mid := srv.repo(prefix + "mid")
	mid.commit("mid", map[string]string{"mid.txt": "mid\n"})
	mid.git("submodule", "add", "-q", leaf.url, "deps/leaf")
	mid.git("config", "-f", ".gitmodules", "submodule.deps/leaf.url", "../"+prefix+"leaf")
	mid.git("add", ".gitmodules")
	midCommit = mid.commit("add leaf", nil)
	top = srv.repo(prefix + "top")
	top.commit("top", map[string]string{"top.txt": "top\n"})
	top.git("submodule", "add", "-q", mid.url, "lib/mid")
	topCommit = top.commit("add mid", nil)
	return top, topCommit, midCommit, leafCommit
}

func TestSubmodules(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	top, topCommit, midCommit, leafCommit := submoduleFixture(t, srv, "sub-")
	c := newContexts(t, Options{})

	p := mustPrepare(t, c, gitJob(top.url, false, topCommit))
	want := []string{".gitmodules", "lib/mid/.gitmodules", "lib/mid/deps/leaf/leaf.txt", "lib/mid/mid.txt", "top.txt"}
	if got := listTree(t, p.dir); !slices.Equal(got, want) {
		t.Errorf("files = %v, want %v", got, want)
	}
	for _, w := range []string{"Submodule lib/mid: " + srv.repo0URL("sub-mid"), "Submodule deps/leaf: " + srv.repo0URL("sub-leaf")} {
		if !strings.Contains(p.log, w) {
			t.Errorf("log lacks %q:\n%s", w, p.log)
		}
	}
	p.release()

	// With .git: every repository is usable, at the commit its parent names.
	before := c.fetches.Load()
	p = mustPrepare(t, c, gitJob(top.url, true, topCommit))
	if n := c.fetches.Load(); n != before {
		t.Errorf("cached submodules were fetched again")
	}
	for dir, commit := range map[string]string{"": topCommit, "lib/mid": midCommit, "lib/mid/deps/leaf": leafCommit} {
		if got := runGit(t, filepath.Join(p.dir, dir), "rev-parse", "HEAD"); got != commit {
			t.Errorf("HEAD of %q = %s, want %s", dir, got, commit)
		}
	}
	if got := runGit(t, p.dir, "status", "--porcelain", "--ignore-submodules=none"); got != "" {
		t.Errorf("git status in the context is not clean:\n%s", got)
	}
}

// repo0URL is the URL a repository of the server has (made or not).
func (s *server) repo0URL(name string) string {
	return "git://127.0.0.1:" + strconv.Itoa(s.port) + "/" + name
}

// Submodule URLs obey the rules of job URLs: a .gitmodules cannot make
// the worker run ssh, a remote helper, or read its own disk.
func TestSubmoduleURLRefused(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	cases := []struct {
		name string
		url  string
		want string
	}{
		{"ssh", "ssh://git@example.com/x.git", `scheme "ssh" is not allowed`},
		{"ext", "ext::sh -c touch% /tmp/pwned", "remote helper"},
		{"path", "/etc", "local paths are not allowed"},
		{"file", "file:///etc", "file:// URLs are not allowed"},
		{"relative-escape-to-option", "../-oProxyCommand=x", ""},
	}
	c := newContexts(t, Options{})
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := srv.repo("evil-" + tc.name)
			f.commit("one", map[string]string{"a.txt": "a\n"})
			gitlink := f.git("rev-parse", "HEAD")
			f.git("config", "-f", ".gitmodules", "submodule.evil.path", "evil")
			f.git("config", "-f", ".gitmodules", "submodule.evil.url", tc.url)
			f.git("add", ".gitmodules")
			f.git("update-index", "--add", "--cacheinfo", "160000,"+gitlink+",evil")
			commit := f.commit("evil submodule", nil)
			err, _ := prepareErr(t, c, gitJob(f.url, false, commit))
			want := []string{"submodule evil of " + f.url, tc.want}
			if tc.want == "" {
				// Resolved against the server's URL it is a path on the
				// server, fetched as such, not an option of ssh.
				want = []string{"submodule evil", fmt.Sprintf("fetching git://127.0.0.1:%d/-oProxyCommand=x:", srv.port)}
			}
			for _, w := range want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

func TestCleanTree(t *testing.T) {
	t.Parallel()
	f := localFixture(t)
	commit := f.commit("one", map[string]string{"a.txt": "a\n", ".gitignore": "*.o\n"})
	c := newContexts(t, Options{AllowLocal: true})

	p := mustPrepare(t, c, gitJob(f.url, false, commit))
	// What a build might leave: a changed file, a new one, an ignored one.
	for name, content := range map[string]string{"a.txt": "changed\n", "new.txt": "new\n", "obj/x.o": "obj\n", "x.o": "obj\n"} {
		path := filepath.Join(p.dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	p.release()
	if exists(p.dir) {
		t.Errorf("release left %s", p.dir)
	}
	p.release() // twice is harmless

	q := mustPrepare(t, c, gitJob(f.url, false, commit))
	if got, want := listTree(t, q.dir), []string{".gitignore", "a.txt"}; !slices.Equal(got, want) {
		t.Errorf("files = %v, want %v", got, want)
	}
	if got := readFile(t, q.dir, "a.txt"); got != "a\n" {
		t.Errorf("a.txt = %q, want the commit's", got)
	}
}

func TestIncludeGit(t *testing.T) {
	t.Parallel()
	f := localFixture(t)
	base := f.commit("base", map[string]string{"a.txt": "a\n"})
	f.git("checkout", "-q", "-b", "other")
	other := f.commit("other", map[string]string{"b.txt": "b\n"})
	f.git("checkout", "-q", "main")
	c1 := f.commit("main", map[string]string{"c.txt": "c\n"})
	c := newContexts(t, Options{AllowLocal: true})

	cases := []struct {
		name    string
		job     *runners.Job
		wantGit bool
		parents []string // of HEAD, when wantGit
	}{
		{"docker-default", gitJob(f.url, false, c1), false, nil},
		{"obuilder", &runners.Job{OBuilder: &runners.OBuilderBuild{Spec: "((from x))"}, Repository: f.url, Commits: []string{c1}}, false, nil},
		{"include-git", gitJob(f.url, true, c1), true, []string{base}},
		{"include-git-merged", gitJob(f.url, true, c1, other), true, []string{c1, other}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := mustPrepare(t, c, tc.job)
			if got := exists(filepath.Join(p.dir, ".git")); got != tc.wantGit {
				t.Fatalf(".git present = %v, want %v", got, tc.wantGit)
			}
			if !tc.wantGit {
				return
			}
			parents := strings.Fields(runGit(t, p.dir, "log", "-1", "--format=%P"))
			if !slices.Equal(parents, tc.parents) {
				t.Errorf("HEAD's parents = %v, want %v", parents, tc.parents)
			}
			if got := runGit(t, p.dir, "status", "--porcelain"); got != "" {
				t.Errorf("git status in the context is not clean:\n%s", got)
			}
			if got := runGit(t, p.dir, "config", "remote.origin.url"); got != f.url {
				t.Errorf("remote.origin.url = %q, want %q", got, f.url)
			}
			if got := runGit(t, p.dir, "rev-parse", "--is-bare-repository"); got != "false" {
				t.Errorf("the context's .git is bare")
			}
			// What the build does to its .git stays there.
			runGit(t, p.dir, "commit", "-q", "--allow-empty", "-m", "build's own")
			runGit(t, p.dir, "gc", "-q", "--prune=now")
		})
	}
	// The cache survived the builds' commits and gc.
	p := mustPrepare(t, c, gitJob(f.url, true, c1, other))
	if got := runGit(t, p.dir, "log", "-1", "--format=%s"); got != "Merge "+other+" into "+c1 {
		t.Errorf("HEAD after the builds' gc = %q", got)
	}
}

// A merge gives the same commit each time, so a build reading .git sees
// the same history for the same job.
func TestMergeIsReproducible(t *testing.T) {
	t.Parallel()
	f := localFixture(t)
	f.commit("base", map[string]string{"a.txt": "a\n"})
	f.git("checkout", "-q", "-b", "other")
	other := f.commit("other", map[string]string{"b.txt": "b\n"})
	f.git("checkout", "-q", "main")
	c1 := f.commit("main", map[string]string{"c.txt": "c\n"})
	var heads []string
	for i := 0; i < 2; i++ {
		c := newContexts(t, Options{AllowLocal: true})
		p := mustPrepare(t, c, gitJob(f.url, true, c1, other))
		heads = append(heads, runGit(t, p.dir, "rev-parse", "HEAD"))
	}
	if heads[0] != heads[1] {
		t.Errorf("two preparations of one merge gave %s and %s", heads[0], heads[1])
	}
}

func TestPreparesOfOneRepositoryTakeTurns(t *testing.T) {
	t.Parallel()
	f := localFixture(t)
	commit := f.commit("one", map[string]string{"a.txt": "a\n"})
	g := localFixture(t)
	otherCommit := g.commit("one", map[string]string{"g.txt": "g\n"})
	c := newContexts(t, Options{AllowLocal: true})

	locked := make(chan string, 10)
	waiting := make(chan string, 10)
	gate := make(chan struct{})
	var calls atomic.Int32
	c.hooks.locked = func(url string) {
		locked <- url
		if calls.Add(1) == 1 {
			<-gate // the first preparation keeps the clone until told
		}
	}
	c.hooks.waiting = func(url string) { waiting <- url }

	type result struct {
		dir string
		err error
	}
	start := func(ctx context.Context, job *runners.Job) chan result {
		ch := make(chan result, 1)
		go func() {
			dir, release, err := c.Prepare(ctx, job, nil)
			if err == nil {
				t.Cleanup(release)
			}
			ch <- result{dir, err}
		}()
		return ch
	}
	// Only a guard against a hang, never a measure of speed.
	guard := func() <-chan time.Time { return time.After(30 * time.Second) }

	first := start(context.Background(), gitJob(f.url, false, commit))
	<-locked

	ctx, cancel := context.WithCancel(context.Background())
	cancelled := start(ctx, gitJob(f.url, false, commit))
	if got := <-waiting; got != f.url {
		t.Fatalf("waiting for %s, want %s", got, f.url)
	}
	cancel()
	select {
	case r := <-cancelled:
		if !errors.Is(r.err, context.Canceled) {
			t.Errorf("cancelled wait returned %v, want context.Canceled", r.err)
		}
	case <-guard():
		t.Fatal("a cancelled wait did not return")
	}

	second := start(context.Background(), gitJob(f.url, false, commit))
	<-waiting

	// Another repository is not held up.
	select {
	case r := <-start(context.Background(), gitJob(g.url, false, otherCommit)):
		if r.err != nil {
			t.Fatalf("another repository: %v", r.err)
		}
	case <-guard():
		t.Fatal("another repository waited for the held clone")
	}
	if got := <-locked; got != g.url {
		t.Fatalf("locked %s, want %s", got, g.url)
	}
	select {
	case url := <-locked:
		t.Fatalf("%s was locked while the first preparation held it", url)
	default:
	}

	close(gate)
	for _, ch := range []chan result{first, second} {
		select {
		case r := <-ch:
			if r.err != nil {
				t.Fatal(r.err)
			}
		case <-guard():
			t.Fatal("a preparation did not finish")
		}
	}
	if got := <-locked; got != f.url {
		t.Errorf("second preparation locked %s", got)
	}
}

func TestCrashLeftovers(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	f := srv.repo("crash")
	c1 := f.commit("one", map[string]string{"a.txt": "1\n"})
	c := newContexts(t, Options{})
	mustPrepare(t, c, gitJob(f.url, false, c1)).release()
	r := newRepo(c.repos, f.url, formatSHA1)

	// A worker died holding the clone's lock: a real process holding the
	// flock, killed while another prepare waits for it.
	holder := exec.Command(os.Args[0], "-test.run=^$")
	holder.Env = append(os.Environ(), "GITCTX_TEST_HOLD_LOCK="+filepath.Join(r.dir, lockFile))
	out, err := holder.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = holder.Process.Kill(); _ = holder.Wait() })
	if line, _ := bufio.NewReader(out).ReadString('\n'); line != "locked\n" {
		t.Fatalf("helper said %q", line)
	}
	// And git was killed mid-fetch, leaving its lock files.
	leftovers := []string{"index.lock", "packed-refs.lock", "refs/remotes/origin/main.lock", "objects/pack/tmp_pack_x"}
	for _, name := range leftovers {
		p := filepath.Join(r.gitDir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	c2 := f.commit("two", map[string]string{"a.txt": "2\n"})
	waiting := make(chan struct{}, 1)
	c.hooks.waiting = func(string) { waiting <- struct{}{} }
	done := make(chan error, 1)
	var log bytes.Buffer
	go func() {
		_, release, err := c.Prepare(context.Background(), gitJob(f.url, false, c2), &log)
		if err == nil {
			release()
		}
		done <- err
	}()
	<-waiting
	_ = holder.Process.Kill()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Prepare after the crash: %v\nlog:\n%s", err, log.String())
		}
	case <-time.After(60 * time.Second):
		t.Fatal("the lock of a dead process still blocks")
	}
	for _, name := range leftovers {
		if exists(filepath.Join(r.gitDir, filepath.FromSlash(name))) {
			t.Errorf("%s is still there", name)
		}
	}
	if !strings.Contains(log.String(), "Removed lock files") || !strings.Contains(log.String(), "refs/remotes/origin/main.lock") {
		t.Errorf("log does not tell about the removed lock files:\n%s", log.String())
	}
}

// Build contexts of a worker that crashed before releasing them are
// removed by the next New; a live instance's are not.
func TestNewRemovesDeadWorkersContexts(t *testing.T) {
	t.Parallel()
	requireGit(t)
	f := localFixture(t)
	commit := f.commit("one", map[string]string{"a.txt": "a\n"})
	state := t.TempDir()
	live, err := New(state, Options{AllowLocal: true})
	if err != nil {
		t.Fatal(err)
	}
	kept := mustPrepare(t, live, gitJob(f.url, false, commit))

	builds := filepath.Join(state, "gitctx", "builds")
	dead := filepath.Join(builds, "area-dead")
	if err := os.MkdirAll(filepath.Join(dead, "ctx-1"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dead+".lock", nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := New(state, Options{}); err != nil {
		t.Fatal(err)
	}
	if exists(dead) || exists(dead+".lock") {
		t.Errorf("the dead worker's contexts are still there")
	}
	if !exists(filepath.Join(kept.dir, "a.txt")) {
		t.Errorf("a live worker's context was removed")
	}
}

func TestRefused(t *testing.T) {
	t.Parallel()
	good := strings.Repeat("ab", 20)
	cases := []struct {
		name       string
		url        string
		commits    []string
		allowLocal bool
		want       []string
	}{
		{"ssh", "ssh://git@example.com/x.git", []string{good}, false, []string{`scheme "ssh" is not allowed`, "git://, http:// or https://"}},
		{"scp-like", "git@github.com:x/y.git", []string{good}, true, []string{"ssh address"}},
		{"ext", "ext::sh -c touch% /tmp/pwned", []string{good}, true, []string{"remote helper"}},
		{"fd", "fd::17", []string{good}, true, []string{"remote helper"}},
		{"file-not-allowed", "file:///srv/repo.git", []string{good}, false, []string{"file:// URLs are not allowed", "--allow-local-repos"}},
		{"path-not-allowed", "/srv/repo.git", []string{good}, false, []string{"local paths are not allowed", "--allow-local-repos"}},
		{"relative-path", "repo.git", []string{good}, true, []string{"not a URL"}},
		{"option", "-oProxyCommand=touch /tmp/pwned", []string{good}, false, []string{`starts with "-"`}},
		{"empty", "", []string{good}, false, []string{"no repository"}},
		{"upper-case-scheme", "HTTPS://example.com/x.git", []string{good}, false, []string{"lower case"}},
		{"no-host", "https:///x.git", []string{good}, false, []string{"names no host"}},
		{"control", "https://example.com/x\n.git", []string{good}, false, []string{"control character"}},
		{"file-remote-host", "file://example.com/srv/x", []string{good}, true, []string{"must be local"}},
		{"commit-HEAD", "https://example.com/x.git", []string{"HEAD"}, false, []string{`commit "HEAD" is not a hex object name`, "40 hex digits"}},
		{"commit-option", "https://example.com/x.git", []string{"-x"}, false, []string{`starts with "-"`}},
		{"commit-short", "https://example.com/x.git", []string{"abc1234"}, false, []string{"has 7 hex digits, not 40 or 64"}},
		{"commit-39", "https://example.com/x.git", []string{good[:39]}, false, []string{"has 39 hex digits"}},
		{"commit-expression", "https://example.com/x.git", []string{good + "~1"}, false, []string{"not a hex object name"}},
		{"commit-empty", "https://example.com/x.git", []string{good, ""}, false, []string{"empty commit"}},
		{"commit-mixed-hashes", "https://example.com/x.git", []string{good, strings.Repeat("c", 64)}, false, []string{"different hash lengths"}},
	}
	c := newContexts(t, Options{})
	local := newContexts(t, Options{AllowLocal: true})
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cc := c
			if tc.allowLocal {
				cc = local
			}
			err, _ := prepareErr(t, cc, gitJob(tc.url, false, tc.commits...))
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
	if n := c.fetches.Load() + local.fetches.Load(); n != 0 {
		t.Errorf("refused jobs reached git fetch %d times", n)
	}
	entries, _ := os.ReadDir(c.repos)
	if len(entries) != 0 {
		t.Errorf("refused jobs made clones: %v", entries)
	}
}

func TestNoCommits(t *testing.T) {
	t.Parallel()
	c := newContexts(t, Options{})
	p := mustPrepare(t, c, gitJob("https://example.com/x.git", false))
	if got := listTree(t, p.dir); len(got) != 0 {
		t.Errorf("context of a job without commits holds %v", got)
	}
	err, _ := prepareErr(t, c, &runners.Job{Commits: []string{strings.Repeat("a", 40)}})
	if !strings.Contains(err.Error(), "no repository") {
		t.Errorf("error %q does not say the repository is missing", err)
	}
}
