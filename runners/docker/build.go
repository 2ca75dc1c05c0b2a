package docker

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/build"
	"github.com/moby/moby/api/types/jsonstream"
	"github.com/moby/moby/client"

	"github.com/ocluster-go/ocluster/runners"
)

// cancelGrace bounds how long a cancelled build may take to wind down
// (BuildKit to stop its step, the engine to remove a step container)
// before Run returns anyway.
const cancelGrace = 20 * time.Second

// cancelRepeat is how often a BuildKit build is told again to stop.
const cancelRepeat = 500 * time.Millisecond

// BuildError is a build that the engine ran and that failed.
type BuildError struct {
	Message  string   // the engine's own words
	ExitCode int      // of the failing command; -1 when no command failed
	Tail     []string // the last lines of the job's log
}

func (e *BuildError) Error() string {
	var b strings.Builder
	b.WriteString("Build failed: ")
	b.WriteString(e.Message)
	if len(e.Tail) > 0 {
		b.WriteString("\nLast lines of the log:")
		for _, l := range e.Tail {
			b.WriteString("\n  ")
			b.WriteString(l)
		}
	}
	return b.String()
}

// buildkitExit finds the exit code in BuildKit's failure message
// ("... did not complete successfully: exit code: 3"); the classic builder
// gives it as the error's code.
var buildkitExit = regexp.MustCompile(`exit code: (\d+)`)

func newBuildError(e *jsonstream.Error, jl *jobLog) *BuildError {
	msg := jl.redact(strings.TrimSpace(e.Message))
	code := -1
	if e.Code > 0 {
		code = e.Code
	} else if m := buildkitExit.FindStringSubmatch(msg); m != nil {
		code, _ = strconv.Atoi(m[1])
	}
	return &BuildError{Message: msg, ExitCode: code, Tail: jl.lastLines()}
}

// errBuildEnded stops the sending of a context the engine no longer reads.
var errBuildEnded = errors.New("the build has ended")

// build runs the build the plan describes and returns the image id.
func (r *Runner) build(ctx context.Context, p *plan, jl *jobLog) (string, error) {
	opts := client.ImageBuildOptions{
		Dockerfile: p.dockerfile,
		BuildArgs:  p.buildArgs,
		Squash:     p.squash,
		// The engine's default keeps the containers of failed steps, and
		// the client's zero value even those of successful ones.
		Remove:      true,
		ForceRemove: true,
		Version:     build.BuilderV1,
	}
	buildID := ""
	if p.buildKit {
		buildID = "ocluster-" + randomHex(10)
		opts.Version, opts.BuildID = build.BuilderBuildKit, buildID
	}
	// The connection lives until the build is over or the cancel watcher
	// closes it: cancelling ctx must not cut it before BuildKit has been
	// asked to stop.
	conn, closeConn := context.WithCancel(context.WithoutCancel(ctx))
	defer closeConn()
	var sess *secretSession
	if len(p.secrets) > 0 {
		var err error
		if sess, err = startSecretSession(r.cli, p.secrets, closeConn); err != nil {
			return "", err
		}
		defer sess.close()
		opts.SessionID = sess.id()
	}
	steps := &stepTracker{}
	watch := r.watchCancel(ctx, closeConn, buildID, steps, jl)
	defer watch.stop()

	pr, pw := io.Pipe()
	sent := make(chan error, 1)
	go func() {
		err := p.context.writeTo(pw)
		pw.CloseWithError(err)
		sent <- err
	}()
	var imageID string
	resp, err := r.cli.ImageBuild(conn, pr, opts)
	if err == nil {
		imageID, err = readBuild(resp.Body, jl, steps)
		resp.Body.Close()
	}
	pr.CloseWithError(errBuildEnded)
	sendErr := <-sent
	watch.stop()

	var buildErr *BuildError
	switch {
	case ctx.Err() != nil:
		return "", runners.ErrCancelled
	case sess != nil && sess.failure() != nil:
		return "", fmt.Errorf("the BuildKit session serving the job's secrets failed: %w", sess.failure())
	case err == nil:
		return imageID, nil
	case errors.As(err, &buildErr):
		return "", err
	case sendErr != nil && !errors.Is(sendErr, errBuildEnded) && !errors.Is(sendErr, io.ErrClosedPipe):
		return "", fmt.Errorf("sending the build context: %w", sendErr)
	case p.squash && strings.Contains(err.Error(), "experimental"):
		return "", fmt.Errorf("this worker's Docker engine cannot squash: --squash needs the engine in experimental mode (\"experimental\": true in its daemon.json); build without --squash, or on a pool whose workers allow it (the engine said: %v)", err)
	default:
		return "", fmt.Errorf("building the image: %w", err)
	}
}

// readBuild logs the engine's build output as it arrives and returns the
// image id. The classic builder sends text ("stream") and the image id
// as {"aux":{"ID":...}}; BuildKit sends its progress as base64 protobuf
// ("moby.buildkit.trace") and the id as "moby.image.id". Failures come in
// the stream too, since the HTTP status was sent before the build began.
func readBuild(body io.Reader, jl *jobLog, steps *stepTracker) (string, error) {
	text := &lineSplitter{emit: func(l string) {
		steps.see(l)
		jl.line(l)
	}}
	trace := newTraceLog(jl.line)
	flush := func() {
		text.flush()
		trace.close()
	}
	var imageID string
	dec := json.NewDecoder(body)
	for {
		var m jsonstream.Message
		if err := dec.Decode(&m); errors.Is(err, io.EOF) {
			flush()
			if imageID == "" {
				return "", errors.New("the engine ended the build without giving an image id")
			}
			return imageID, nil
		} else if err != nil {
			flush()
			return "", fmt.Errorf("reading the build's output: %w", err)
		}
		if m.Error != nil {
			flush()
			return "", newBuildError(m.Error, jl)
		}
		if m.Stream != "" {
			text.write([]byte(m.Stream))
		}
		if m.Status != "" && !inProgress(m.Progress) {
			text.flush()
			jl.line(statusLine(m))
		}
		if m.Aux == nil {
			continue
		}
		if m.ID == "moby.buildkit.trace" {
			var raw []byte // a JSON string of base64, which json decodes
			if err := json.Unmarshal(*m.Aux, &raw); err != nil {
				return "", fmt.Errorf("reading BuildKit's progress: %w", err)
			}
			if err := trace.handle(raw); err != nil {
				return "", err
			}
			continue
		}
		var res build.Result
		if json.Unmarshal(*m.Aux, &res) == nil && res.ID != "" {
			imageID = res.ID
		}
	}
}

// inProgress says whether a status message is a progress bar's update,
// which a plain log leaves out.
func inProgress(p *jsonstream.Progress) bool {
	return p != nil && (p.Current != 0 || p.Total != 0)
}

func statusLine(m jsonstream.Message) string {
	if m.ID != "" {
		return m.ID + ": " + m.Status
	}
	return m.Status
}

// stepTracker follows which container the classic builder is running a
// step in, so that a cancelled build can make sure it is gone.
type stepTracker struct {
	mu sync.Mutex
	id string
}

var (
	runningIn = regexp.MustCompile(`^ ---> Running in ([0-9a-f]{12,64})$`)
	removedIn = regexp.MustCompile(`^Removing intermediate container ([0-9a-f]{12,64})$`)
)

func (s *stepTracker) see(line string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if m := runningIn.FindStringSubmatch(line); m != nil {
		s.id = m[1]
	} else if m := removedIn.FindStringSubmatch(line); m != nil && m[1] == s.id {
		s.id = ""
	}
}

func (s *stepTracker) current() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.id
}

// cancelWatch stops a build when its job is cancelled.
type cancelWatch struct {
	ended    chan struct{}
	once     sync.Once
	finished chan struct{}
}

// watchCancel waits for ctx to be cancelled, then stops the build:
// BuildKit is asked to cancel it (and given time to end its stream, which
// it does once the step's processes are gone), then the connection is
// closed, which makes the engine abandon a classic build, and the step
// container is removed and waited for, so that nothing of the build runs
// once Run returns.
func (r *Runner) watchCancel(ctx context.Context, closeConn func(), buildID string, steps *stepTracker, jl *jobLog) *cancelWatch {
	w := &cancelWatch{ended: make(chan struct{}), finished: make(chan struct{})}
	go func() {
		defer close(w.finished)
		select {
		case <-w.ended:
			return
		case <-ctx.Done():
		}
		jl.line("Cancelling the build")
		cleanup, cancel := context.WithTimeout(context.Background(), cancelGrace)
		defer cancel()
		if buildID != "" {
			r.cancelBuildKit(cleanup, buildID, w.ended)
		}
		closeConn()
		if id := steps.current(); id != "" {
			r.removeStepContainer(cleanup, id)
		}
	}()
	return w
}

// cancelBuildKit asks the engine to cancel a BuildKit build until its
// output ends. The engine accepts the cancel of a build it does not know
// yet (one still receiving its context) and forgets it, hence the
// repeats.
func (r *Runner) cancelBuildKit(ctx context.Context, buildID string, ended <-chan struct{}) {
	tick := time.NewTicker(cancelRepeat)
	defer tick.Stop()
	for {
		if _, err := r.cli.BuildCancel(ctx, buildID, client.BuildCancelOptions{}); err != nil {
			r.log.Warn("cancelling a BuildKit build", "build", buildID, "err", err)
			return
		}
		select {
		case <-ended:
			return
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// stop tells the watcher the build is over and waits for it to finish
// any cancelling it began.
func (w *cancelWatch) stop() {
	w.once.Do(func() { close(w.ended) })
	<-w.finished
}

// removeStepContainer removes a cancelled classic build's step container
// and waits until it is gone: the engine removes it too when it notices
// the closed connection, and whichever comes second gets an error that
// does not matter.
func (r *Runner) removeStepContainer(ctx context.Context, id string) {
	if _, err := r.cli.ContainerRemove(ctx, id, client.ContainerRemoveOptions{Force: true}); err != nil && !cerrdefs.IsNotFound(err) {
		r.log.Debug("removing a cancelled build's step container", "container", id, "err", err)
	}
	for {
		_, err := r.cli.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
		if cerrdefs.IsNotFound(err) {
			return
		}
		select {
		case <-ctx.Done():
			r.log.Warn("a cancelled build's step container is still there", "container", id)
			return
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
