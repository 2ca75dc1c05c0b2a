package gitctx

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/ocluster-go/ocluster/runners"
	"github.com/ocluster-go/ocluster/runners/gitctx/gittest"
)

func requireGit(tb testing.TB) {
	tb.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		tb.Skip("git is not installed: these tests need the git command line (apt-get install git)")
	}
	if err := checkGit(); err != nil {
		tb.Skipf("these tests need git 2.38 or later: %v", err)
	}
}

func runGit(tb testing.TB, dir string, args ...string) string {
	tb.Helper()
	return gittest.Run(tb, dir, args...)
}

// server and fixture give the tests gittest's servers and repositories
// under the short names they use throughout.
type server struct {
	*gittest.Server
	port int
}

func startServer(tb testing.TB) *server {
	tb.Helper()
	requireGit(tb)
	s := gittest.Start(tb)
	return &server{Server: s, port: s.Port}
}

func (s *server) repo(name string) *fixture { return newFixture(s.Repo(name)) }

func (s *server) stop() { s.Stop() }

type fixture struct {
	*gittest.Repo
	dir, url string
}

func newFixture(r *gittest.Repo) *fixture { return &fixture{Repo: r, dir: r.Dir, url: r.URL} }

func localFixture(tb testing.TB) *fixture {
	tb.Helper()
	requireGit(tb)
	return newFixture(gittest.Local(tb))
}

func (f *fixture) commit(msg string, files map[string]string) string { return f.Commit(msg, files) }

func (f *fixture) git(args ...string) string { return f.Git(args...) }

// newContexts makes a Contexts under a fresh state directory.
func newContexts(tb testing.TB, opts Options) *Contexts {
	tb.Helper()
	requireGit(tb)
	c, err := New(tb.TempDir(), opts)
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

func gitJob(url string, includeGit bool, commits ...string) *runners.Job {
	return &runners.Job{
		Docker:     &runners.DockerBuild{DockerfilePath: "Dockerfile", IncludeGit: includeGit},
		Repository: url,
		Commits:    commits,
	}
}

// prepared is a successful Prepare, released when the test ends.
type prepared struct {
	dir     string
	release func()
	log     string
}

func mustPrepare(tb testing.TB, c *Contexts, job *runners.Job) prepared {
	tb.Helper()
	var log bytes.Buffer
	dir, release, err := c.Prepare(context.Background(), job, &log)
	if err != nil {
		tb.Fatalf("Prepare: %v\nlog:\n%s", err, log.String())
	}
	tb.Cleanup(release)
	return prepared{dir: dir, release: release, log: log.String()}
}

func prepareErr(tb testing.TB, c *Contexts, job *runners.Job) (error, string) {
	tb.Helper()
	var log bytes.Buffer
	dir, release, err := c.Prepare(context.Background(), job, &log)
	if err == nil {
		release()
		tb.Fatalf("Prepare succeeded (dir %s), want an error\nlog:\n%s", dir, log.String())
	}
	return err, log.String()
}

func readFile(tb testing.TB, dir, name string) string {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(name)))
	if err != nil {
		tb.Fatalf("reading %s: %v", name, err)
	}
	return string(b)
}

// listTree lists the files (and symlinks) under dir, slash-separated.
func listTree(tb testing.TB, dir string) []string {
	tb.Helper()
	var files []string
	err := filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if !fi.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			files = append(files, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	return files
}

func exists(p string) bool {
	_, err := os.Lstat(p)
	return err == nil
}
