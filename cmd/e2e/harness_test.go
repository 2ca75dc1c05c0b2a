package e2e

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The end-to-end tests run the real commands as separate processes, as a
// user would: the production quick start of the README, a worker killed
// mid-job, and a scheduler killed and restarted with its state.

var bin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "ocluster-e2e")
	if err != nil {
		panic(err)
	}
	bin = dir
	for _, cmd := range []string{"ocluster-scheduler", "ocluster-worker", "ocluster-admin", "ocluster-client", "ocluster-stress", "ocluster-sim"} {
		out, err := exec.Command("go", "build", "-o", filepath.Join(dir, cmd), "../"+cmd).CombinedOutput()
		if err != nil {
			panic(fmt.Sprintf("building %s: %v\n%s", cmd, err, out))
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// process is a command running in the background, its output collected.
type process struct {
	cmd *exec.Cmd
	mu  sync.Mutex
	out bytes.Buffer
	// lines receives each output line as it comes.
	lines chan string
	done  chan struct{} // closed when the process has exited
}

func start(t *testing.T, dir, name string, args ...string) *process {
	t.Helper()
	cmd := exec.Command(filepath.Join(bin, name), args...)
	cmd.Dir = dir
	r, w := io.Pipe()
	cmd.Stdout, cmd.Stderr = w, w
	p := &process{cmd: cmd, lines: make(chan string, 1000), done: make(chan struct{})}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			p.mu.Lock()
			p.out.WriteString(sc.Text() + "\n")
			p.mu.Unlock()
			select {
			case p.lines <- sc.Text():
			default:
			}
		}
	}()
	go func() {
		cmd.Wait()
		w.Close()
		close(p.done)
	}()
	t.Cleanup(func() { p.kill() })
	return p
}

// wait waits for the process to exit and returns its exit code.
func (p *process) wait() int {
	<-p.done
	return p.cmd.ProcessState.ExitCode()
}

func (p *process) kill() {
	p.cmd.Process.Signal(syscall.SIGKILL)
}

func (p *process) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

// waitFor waits for an output line containing s.
func (p *process) waitFor(t *testing.T, s string) {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		if strings.Contains(p.output(), s) {
			return
		}
		select {
		case <-p.lines:
		case <-time.After(50 * time.Millisecond):
		case <-deadline:
			t.Fatalf("no %q in the output of %s:\n%s", s, p.cmd.Path, p.output())
		}
	}
}

// run runs a command to its end and returns its output and exit code.
func run(t *testing.T, dir, name string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(filepath.Join(bin, name), args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return string(out), ee.ExitCode()
	}
	if err != nil {
		t.Fatal(err)
	}
	return string(out), 0
}

func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func startScheduler(t *testing.T, dir string, port, metrics int, extra ...string) *process {
	t.Helper()
	args := append([]string{"--capnp-secret-key-file", "key.pem",
		"--capnp-listen-address", fmt.Sprintf("tcp:127.0.0.1:%d", port),
		"--state-dir", "var", "--pools", "linux-x86_64",
		"--listen-prometheus", fmt.Sprint(metrics)}, extra...)
	s := start(t, dir, "ocluster-scheduler", args...)
	s.waitFor(t, "scheduler running")
	return s
}
