// Package gittest serves repositories that tests create over git:// from a
// real git daemon on 127.0.0.1, so that build contexts are fetched the way
// a worker fetches them in production. Commits are made with a fixed
// identity and no system or global git configuration, whatever the
// machine's.
package gittest

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var fixtureEnv = []string{
	"GIT_AUTHOR_NAME=Test", "GIT_AUTHOR_EMAIL=test@example.com",
	"GIT_COMMITTER_NAME=Test", "GIT_COMMITTER_EMAIL=test@example.com",
	"GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null",
}

// Run runs git in dir for a test fixture and returns its trimmed output.
func Run(tb testing.TB, dir string, args ...string) string {
	tb.Helper()
	full := append([]string{"-c", "user.name=Test", "-c", "user.email=test@example.com",
		"-c", "init.defaultBranch=main", "-c", "protocol.file.allow=always"}, args...)
	cmd := exec.Command("git", full...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), fixtureEnv...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		tb.Fatalf("git %s in %s: %v\n%s", strings.Join(args, " "), dir, err, stderr.String())
	}
	return strings.TrimSpace(string(out))
}

func requireGit(tb testing.TB) {
	tb.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		tb.Skip("git is not installed: these tests need the git command line (apt-get install git)")
	}
}

// Server is a set of repositories served by a git daemon on 127.0.0.1.
type Server struct {
	// Port is where the daemon listens.
	Port int
	tb   testing.TB
	base string

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
}

// Start serves the repositories under a fresh directory over git:// until
// the test ends.
func Start(tb testing.TB) *Server {
	tb.Helper()
	requireGit(tb)
	s := &Server{tb: tb, base: tb.TempDir()}
	s.start()
	tb.Cleanup(s.Stop)
	return s
}

func (s *Server) start() {
	s.tb.Helper()
	var lastErr string
	for attempt := 0; attempt < 5; attempt++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			s.tb.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		_ = l.Close()
		var stderr bytes.Buffer
		cmd := exec.Command("git", "daemon", "--export-all", "--base-path="+s.base, "--reuseaddr",
			"--listen=127.0.0.1", "--port="+strconv.Itoa(port), s.base)
		cmd.Stderr = &stderr
		// The daemon forks a process per connection, which inherits its
		// stderr: kill the whole group, and do not wait on the pipe for
		// long, or stopping it hangs on a child still serving a fetch.
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
		cmd.WaitDelay = 2 * time.Second
		if err := cmd.Start(); err != nil {
			s.tb.Fatalf("starting git daemon: %v", err)
		}
		exited := make(chan struct{})
		go func() { _ = cmd.Wait(); close(exited) }()
		for i := 0; i < 200; i++ {
			conn, err := net.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
			if err == nil {
				_ = conn.Close()
				s.mu.Lock()
				s.Port, s.cmd, s.exited = port, cmd, exited
				s.mu.Unlock()
				return
			}
			select {
			case <-exited:
				i = 200
			case <-time.After(10 * time.Millisecond):
			}
		}
		killGroup(cmd)
		<-exited
		lastErr = stderr.String()
	}
	s.tb.Fatalf("git daemon did not start: %s", lastErr)
}

// Stop kills the daemon: later fetches from it fail.
func (s *Server) Stop() {
	s.mu.Lock()
	cmd, exited := s.cmd, s.exited
	s.cmd = nil
	s.mu.Unlock()
	if cmd != nil {
		killGroup(cmd)
		<-exited
	}
}

func killGroup(cmd *exec.Cmd) {
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
}

// Repo makes an empty repository served as git://127.0.0.1:PORT/NAME.
func (s *Server) Repo(name string) *Repo {
	s.tb.Helper()
	dir := filepath.Join(s.base, name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		s.tb.Fatal(err)
	}
	Run(s.tb, dir, "init", "-q")
	return &Repo{tb: s.tb, Dir: dir, URL: fmt.Sprintf("git://127.0.0.1:%d/%s", s.Port, name)}
}

// Repo is a repository the test writes commits into.
type Repo struct {
	// Dir is its working tree; URL is how a worker reaches it.
	Dir, URL string
	tb       testing.TB
}

// Local makes a repository reached by its path, for workers that allow
// local repositories.
func Local(tb testing.TB) *Repo {
	tb.Helper()
	requireGit(tb)
	dir := tb.TempDir()
	Run(tb, dir, "init", "-q")
	return &Repo{tb: tb, Dir: dir, URL: dir}
}

// Commit writes files (an empty content deletes the file) and commits
// them on the current branch, returning the commit's name.
func (r *Repo) Commit(msg string, files map[string]string) string {
	r.tb.Helper()
	for name, content := range files {
		p := filepath.Join(r.Dir, filepath.FromSlash(name))
		if content == "" {
			Run(r.tb, r.Dir, "rm", "-q", "--", name)
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			r.tb.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			r.tb.Fatal(err)
		}
		Run(r.tb, r.Dir, "add", "--", name)
	}
	Run(r.tb, r.Dir, "commit", "-q", "--allow-empty", "-m", msg)
	return Run(r.tb, r.Dir, "rev-parse", "HEAD")
}

// Git runs git in the repository and returns its trimmed output.
func (r *Repo) Git(args ...string) string {
	r.tb.Helper()
	return Run(r.tb, r.Dir, args...)
}
