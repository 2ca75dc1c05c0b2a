package docker

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moby/moby/client"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ocluster-go/ocluster/runners"
	"github.com/ocluster-go/ocluster/runners/docker/dockertest"
)

// testEnv is one test's view of the shared engine: a label of its own,
// which its Dockerfiles put on every image and step container they make
// (others build on the same engine at the same time), and a cleanup that
// removes what carries it.
type testEnv struct {
	t     *testing.T
	cli   *client.Client
	token string // unique to the test: in labels, echoed strings, names
	label string // key=value
}

const testLabelKey = "org.ocluster-go.test"

func newEnv(t *testing.T) *testEnv {
	t.Helper()
	cli := dockertest.Engine(t)
	dockertest.Base(t, cli)
	token := strings.ToLower(regexp.MustCompile(`[^A-Za-z0-9]+`).ReplaceAllString(t.Name(), "-")) + "-" + randomHex(4)
	e := &testEnv{t: t, cli: cli, token: token, label: testLabelKey + "=" + token}
	t.Cleanup(e.cleanup)
	return e
}

// labelled inserts the test's LABEL after the first FROM line, so that the
// classic builder's step containers carry it too.
func (e *testEnv) labelled(dockerfile string) string {
	first, rest, _ := strings.Cut(dockerfile, "\n")
	return first + "\nLABEL " + e.label + "\n" + rest
}

func (e *testEnv) runner(edit func(*Config)) *Runner {
	e.t.Helper()
	cfg := Config{Client: e.cli, SkipPull: true, PruneLabel: e.label, Logger: testLogger(e.t)}
	if edit != nil {
		edit(&cfg)
	}
	r, err := New(cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	return r
}

func (e *testEnv) cleanup() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := dockertest.RemoveLabelled(ctx, e.cli, e.label); err != nil {
		e.t.Log(err)
	}
}

// containers lists the test's containers, running or not.
func (e *testEnv) containers() []string {
	e.t.Helper()
	cs, err := e.cli.ContainerList(context.Background(), client.ContainerListOptions{All: true, Filters: make(client.Filters).Add("label", e.label)})
	if err != nil {
		e.t.Fatal(err)
	}
	var out []string
	for _, c := range cs.Items {
		out = append(out, fmt.Sprintf("%.12s %s %q", c.ID, c.State, c.Command))
	}
	return out
}

func dockerJob(dockerfile string) *runners.Job {
	return &runners.Job{Docker: &runners.DockerBuild{DockerfileContents: dockerfile}}
}

// logRecorder is a job log that tests can watch as it is written.
type logRecorder struct {
	t       testing.TB
	mu      sync.Mutex
	partial []byte
	lines   []string
	changed chan struct{}
	onLine  func(string) // called in the writer's goroutine
}

func newLog(t testing.TB) *logRecorder { return &logRecorder{t: t, changed: make(chan struct{})} }

func (l *logRecorder) Write(p []byte) (int, error) {
	l.mu.Lock()
	l.partial = append(l.partial, p...)
	var done []string
	for {
		i := bytes.IndexByte(l.partial, '\n')
		if i < 0 {
			break
		}
		done = append(done, string(l.partial[:i]))
		l.partial = l.partial[i+1:]
	}
	l.lines = append(l.lines, done...)
	if len(done) > 0 {
		close(l.changed)
		l.changed = make(chan struct{})
	}
	onLine := l.onLine
	l.mu.Unlock()
	for _, s := range done {
		if l.t != nil {
			l.t.Logf("| %s", s)
		}
		if onLine != nil {
			onLine(s)
		}
	}
	return len(p), nil
}

func (l *logRecorder) text() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

// waitLine waits for a line ending with suffix, and says whether one came
// before ctx ended.
func (l *logRecorder) waitLine(ctx context.Context, suffix string) bool {
	for {
		l.mu.Lock()
		for _, s := range l.lines {
			if strings.HasSuffix(s, suffix) {
				l.mu.Unlock()
				return true
			}
		}
		changed := l.changed
		l.mu.Unlock()
		select {
		case <-changed:
		case <-ctx.Done():
			return false
		}
	}
}

func (l *logRecorder) count(substr string) int {
	return strings.Count(l.text(), substr)
}

// hasLine says whether some line ends with suffix: the output of a step
// rather than the step's command echoing it.
func (l *logRecorder) hasLine(suffix string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, s := range l.lines {
		if strings.HasSuffix(s, suffix) {
			return true
		}
	}
	return false
}

// summaryCount is how many observations the runner's summary name holds.
func summaryCount(t *testing.T, r *Runner, name string) uint64 {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(r); err != nil {
		t.Fatal(err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetSummary().GetSampleCount()
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}

// errorContains fails the test unless err's text contains each of want.
func errorContains(t *testing.T, err error, want ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error; want one containing %q", want)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not contain %q", err, w)
		}
	}
}

// unreachableClient is a client of no engine: a test using it shows that
// the runner refused a job without contacting the engine.
func unreachableClient(t *testing.T) *client.Client {
	t.Helper()
	cli, err := client.New(client.WithHost("unix://" + filepath.Join(t.TempDir(), "no-engine.sock")))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}

// testLogger sends the runner's own log to the test's.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}
