package docker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/distribution/reference"
	"github.com/moby/moby/client"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ocluster-go/ocluster/runners"
)

// Config says how a Runner builds, pushes and prunes.
type Config struct {
	// Client talks to the engine; client.New(client.FromEnv) makes one.
	Client *client.Client
	// AllowPush lists the repositories jobs may push to (the worker's
	// --allow-push), as in a push target without its tag:
	// "registry.example.org/team/app", or "user/app" on Docker Hub.
	AllowPush []string
	// PushRetryDelays are the waits between push attempts. Nil means
	// DefaultPushRetryDelays; an empty, non-nil slice means a single
	// attempt.
	PushRetryDelays []time.Duration
	// PruneThreshold is the percentage of free blocks or free inodes on
	// the file system of the engine's root directory below which the
	// worker should prune (--prune-threshold); 0 turns the check off.
	PruneThreshold float64
	// MaxDFSize is the space in bytes that the engine's images and build
	// cache may take before the worker should prune
	// (--docker-max-df-size); 0 turns the check off.
	MaxDFSize int64
	// PruneLabel, when set ("key" or "key=value"), limits Prune to the
	// images and stopped containers with that label, for an engine the
	// worker shares with others; see Prune.
	PruneLabel string
	// SkipPull builds from whatever base images the engine has, without
	// first trying to pull newer ones (see pullBases). For workers that
	// can reach no registry, to save the failed attempt.
	SkipPull bool
	// Logger receives the runner's own events; nil means slog.Default().
	Logger *slog.Logger
}

// Runner runs Docker build jobs on one engine. It implements
// runners.Runner, runners.Pruner, runners.HealthChecker and
// prometheus.Collector, and is safe for concurrent use.
type Runner struct {
	cfg         Config
	cli         *client.Client
	log         *slog.Logger
	allowPush   map[string]bool // normalised repository names
	retryDelays []time.Duration
	pushLocks   keyedLock
	pushTime    prometheus.Summary
	pruneTime   prometheus.Summary

	rootUnreadable sync.Once
	mu             sync.Mutex
	pendingNote    string // to add to the next prune reason

	// dockerRoot, when set, replaces the engine's root directory (tests).
	dockerRoot string
}

var (
	_ runners.Runner        = (*Runner)(nil)
	_ runners.Pruner        = (*Runner)(nil)
	_ runners.HealthChecker = (*Runner)(nil)
	_ prometheus.Collector  = (*Runner)(nil)
)

// New checks the configuration and returns a runner. It does not contact
// the engine: HealthCheck does.
func New(cfg Config) (*Runner, error) {
	if cfg.Client == nil {
		return nil, errors.New("the Docker runner needs a Docker client")
	}
	if cfg.PruneThreshold < 0 || cfg.PruneThreshold > 100 {
		return nil, fmt.Errorf("prune threshold %g: it is a percentage, from 0 (off) to 100", cfg.PruneThreshold)
	}
	if cfg.MaxDFSize < 0 {
		return nil, fmt.Errorf("maximum Docker disk usage %d: give a size in bytes, or 0 for no limit", cfg.MaxDFSize)
	}
	r := &Runner{
		cfg:         cfg,
		cli:         cfg.Client,
		log:         cfg.Logger,
		allowPush:   map[string]bool{},
		retryDelays: cfg.PushRetryDelays,
		pushTime:    newPushTime(),
		pruneTime:   newPruneTime(),
	}
	if r.log == nil {
		r.log = slog.Default()
	}
	if r.retryDelays == nil {
		r.retryDelays = DefaultPushRetryDelays
	}
	for _, repo := range cfg.AllowPush {
		named, err := reference.ParseNormalizedNamed(repo)
		if err != nil {
			return nil, fmt.Errorf("--allow-push %q: %w", repo, err)
		}
		if !reference.IsNameOnly(named) {
			return nil, fmt.Errorf("--allow-push %q: give a repository without a tag or digest", repo)
		}
		r.allowPush[named.Name()] = true
	}
	return r, nil
}

// HealthCheck implements runners.HealthChecker: the engine must answer.
func (r *Runner) HealthCheck(ctx context.Context) error {
	if _, err := r.cli.Ping(ctx, client.PingOptions{NegotiateAPIVersion: true}); err != nil {
		return fmt.Errorf("the Docker engine does not answer (%w): check that dockerd runs and that DOCKER_HOST names it", err)
	}
	return nil
}

// plan is a job checked and turned into what the engine needs.
type plan struct {
	context    buildContext
	dockerfile string // in the context
	bases      []string
	buildArgs  map[string]*string
	secrets    map[string][]byte
	buildKit   bool
	squash     bool
	push       *pushPlan
}

// Run implements runners.Runner for jobs with job.Docker set: it builds
// the image (pulling its bases first), pushes it when the job asks, and
// returns the image id, or the pushed repo@sha256:... reference.
func (r *Runner) Run(ctx context.Context, job *runners.Job, contextDir string, log io.Writer) (string, error) {
	if job == nil || job.Docker == nil {
		kind := ""
		if job != nil {
			kind = job.Kind()
		}
		return "", fmt.Errorf("the Docker runner cannot run a %q job", kind)
	}
	p, err := r.plan(job, contextDir)
	if err != nil {
		return "", err
	}
	jl := newJobLog(log, p.secrets)
	if ctx.Err() != nil {
		return "", runners.ErrCancelled
	}
	if p.buildKit && !job.Docker.BuildKit {
		jl.line("Building with BuildKit, which the job's secrets need")
	}
	if !r.cfg.SkipPull {
		if err := r.pullBases(ctx, p.bases, jl); err != nil {
			return "", err
		}
	}
	imageID, err := r.build(ctx, p, jl)
	if err != nil {
		return "", err
	}
	if p.push == nil {
		return imageID, nil
	}
	return r.push(ctx, imageID, p.push, jl)
}

// plan checks everything about the job that can be checked without the
// engine, so that a bad job fails at once and says why.
func (r *Runner) plan(job *runners.Job, contextDir string) (*plan, error) {
	d := job.Docker
	p := &plan{
		squash:   d.Squash,
		buildKit: d.BuildKit || len(job.Secrets) > 0,
	}
	if d.DockerfileContents != "" && d.DockerfilePath != "" {
		return nil, errors.New("the job gives both a Dockerfile's contents and a path to one: give one or the other")
	}
	if d.DockerfileContents == "" && d.DockerfilePath == "" && contextDir == "" {
		return nil, errors.New("the job gives no Dockerfile: give its contents, or a build context with a Dockerfile in it")
	}
	var text []byte
	if d.DockerfileContents != "" {
		text = []byte(d.DockerfileContents)
		// The name `docker build -f -` gives a Dockerfile from stdin,
		// which cannot clash with a file of the context.
		p.dockerfile = ".dockerfile." + randomHex(10)
		p.context.inline, p.context.inlineName = text, p.dockerfile
	} else {
		path, data, err := locateDockerfile(contextDir, d.DockerfilePath)
		if err != nil {
			return nil, err
		}
		p.dockerfile, text = path, data
	}
	if contextDir != "" {
		keep := ""
		if p.context.inline == nil {
			keep = p.dockerfile
		}
		excludes, err := ignorePatterns(contextDir, keep, d.IncludeGit)
		if err != nil {
			return nil, err
		}
		p.context.dir, p.context.excludes = contextDir, excludes
	}

	p.buildArgs = make(map[string]*string, len(d.BuildArgs))
	for _, a := range d.BuildArgs {
		name, value, ok := strings.Cut(a, "=")
		if name == "" || strings.ContainsAny(name, " \t\n") {
			return nil, fmt.Errorf("build arg %q: write it NAME=VALUE, or NAME alone for no value", a)
		}
		if ok {
			p.buildArgs[name] = &value
		} else {
			p.buildArgs[name] = nil
		}
	}

	if len(job.Secrets) > 0 {
		p.secrets = make(map[string][]byte, len(job.Secrets))
		for _, s := range job.Secrets {
			if s.ID == "" {
				return nil, errors.New("a secret of the job has no id: give each an id, which the Dockerfile mounts with RUN --mount=type=secret,id=ID")
			}
			if _, dup := p.secrets[s.ID]; dup {
				return nil, fmt.Errorf("the job gives the secret %q twice", s.ID)
			}
			p.secrets[s.ID] = []byte(s.Value)
		}
	}

	if d.PushTarget != "" {
		push, err := r.checkPush(d)
		if err != nil {
			return nil, err
		}
		p.push = push
	} else if d.PushUser != "" || d.PushPassword != "" {
		return nil, errors.New("the job gives push credentials but no push target")
	}

	if !r.cfg.SkipPull {
		bases, err := baseImages(text, p.buildArgs)
		if err != nil {
			// The engine will say what is wrong, better than a guess.
			r.log.Debug("cannot find the Dockerfile's base images", "err", err)
		}
		p.bases = bases
	}
	return p, nil
}
