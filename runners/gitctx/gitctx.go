package gitctx

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ocluster-go/ocluster/runners"
)

// Options say what a worker lets jobs fetch, and where it logs.
type Options struct {
	// AllowLocal also accepts file:// URLs and absolute local paths, for
	// running a cluster on one machine and for tests. Off by default: a
	// job could otherwise read any repository the worker can read.
	AllowLocal bool
	// Logger gets the worker's own records (the job's log gets the rest);
	// slog.Default() when nil.
	Logger *slog.Logger
}

// Contexts prepares jobs' git build contexts from clones cached on disk.
// It is safe for concurrent use.
//
// Where the tree is built: in a fresh directory per build, checked out
// from a bare cached clone through a private index file. Merges are done
// by merge-tree, without a work tree. The alternative, building in the
// clone's work tree and holding its lock until the build ends, was
// measured slower (reset --hard, clean -ffdx and submodule update cost
// about 45 ms on a 400-file tree with nothing to change, against 25 ms for
// a full checkout into an empty directory) and it would run the builds of
// one repository one at a time, which hurts the common case of many jobs
// on the same repository (one commit, many platforms). A fresh directory
// also makes a clean tree certain rather than something to restore, and
// a crash can only leave whole directories behind, which New sweeps.
// So the clone's lock is held while the context is prepared, not while
// the build runs.
type Contexts struct {
	root   string // <dir>/gitctx; git runs here
	repos  string // cached clones, one directory per URL
	area   string // this instance's build contexts
	opts   Options
	logger *slog.Logger
	env    []string

	mu    sync.Mutex
	slots map[string]chan struct{} // per clone directory: see lock.go

	areaLock *os.File // held for the instance's life: see sweepAreas

	fetches atomic.Int64 // fetches run, for tests
	hooks   hooks
}

// hooks let tests observe the lock; nil in production.
type hooks struct {
	waiting func(url string) // a preparation starts waiting for a clone
	locked  func(url string) // a preparation has a clone
}

// New prepares contexts under dir (the worker's state directory), in
// dir/gitctx: clones in repos/, build contexts in builds/. Build contexts
// left there by a worker that crashed are removed.
func New(dir string, opts Options) (*Contexts, error) {
	if dir == "" {
		return nil, errors.New("gitctx: no state directory given")
	}
	if err := checkGit(); err != nil {
		return nil, fmt.Errorf("git build contexts: %w", err)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("git build contexts: state directory %q: %w", dir, err)
	}
	c := &Contexts{
		root:   filepath.Join(abs, "gitctx"),
		opts:   opts,
		logger: opts.Logger,
		env:    gitEnv(opts.AllowLocal),
		slots:  map[string]chan struct{}{},
	}
	if c.logger == nil {
		c.logger = slog.Default()
	}
	c.repos = filepath.Join(c.root, "repos")
	builds := filepath.Join(c.root, "builds")
	for _, d := range []string{c.repos, builds} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("git build contexts: %w", err)
		}
	}
	c.sweepAreas(builds)
	if c.area, c.areaLock, err = newArea(builds); err != nil {
		return nil, fmt.Errorf("git build contexts: %w", err)
	}
	return c, nil
}

// Each Contexts keeps its build contexts in an area of its own, builds/<x>,
// and holds a flock on builds/<x>.lock for its whole life. An area whose
// lock anyone can take belongs to a dead process: its contexts are
// leftovers of builds that will never release them.
func newArea(builds string) (string, *os.File, error) {
	f, err := os.CreateTemp(builds, "area-*.lock")
	if err != nil {
		return "", nil, err
	}
	lock := f.Name()
	_ = f.Close()
	lf, ok, err := tryFlock(lock)
	if err != nil || !ok {
		_ = os.Remove(lock)
		return "", nil, fmt.Errorf("locking %s: %v", lock, err)
	}
	area := strings.TrimSuffix(lock, ".lock")
	if err := os.Mkdir(area, 0o700); err != nil {
		_ = lf.Close()
		return "", nil, err
	}
	return area, lf, nil
}

func (c *Contexts) sweepAreas(builds string) {
	locks, _ := filepath.Glob(filepath.Join(builds, "area-*.lock"))
	for _, lock := range locks {
		f, ok, err := tryFlock(lock)
		if err != nil || !ok {
			continue
		}
		area := strings.TrimSuffix(lock, ".lock")
		if err := os.RemoveAll(area); err != nil {
			c.logger.Warn("cannot remove build contexts left by a dead worker", "dir", area, "err", err)
		} else if err := os.Remove(lock); err == nil {
			c.logger.Info("removed build contexts left by a dead worker", "dir", area)
		}
		_ = f.Close()
	}
}

// Prepare makes job's build context: a directory holding the tree of its
// first commit with the others merged in and submodules checked out, with
// a .git only if the job is a Docker build asking for it. release removes
// the directory; call it once the build is done with it. While waiting for
// another preparation to finish with the same clone, Prepare returns when
// ctx ends, with an error wrapping ctx.Err().
func (c *Contexts) Prepare(ctx context.Context, job *runners.Job, log io.Writer) (dir string, release func(), err error) {
	noop := func() {}
	if log == nil {
		log = io.Discard
	}
	if job == nil {
		return "", noop, errors.New("no job to prepare a build context for")
	}
	if job.Repository == "" {
		return "", noop, fmt.Errorf("the job lists %d commit(s) but no repository; give the repository's %s URL", len(job.Commits), allowedSchemesText)
	}
	if err := checkURL(job.Repository, c.opts.AllowLocal); err != nil {
		return "", noop, err
	}
	commits, format, err := checkCommits(job.Commits)
	if err != nil {
		return "", noop, err
	}
	dest, err := os.MkdirTemp(c.area, "ctx-")
	if err != nil {
		return "", noop, fmt.Errorf("making a build context directory: %w", err)
	}
	var once sync.Once
	release = func() {
		once.Do(func() {
			if err := os.RemoveAll(dest); err != nil {
				c.logger.Warn("cannot remove a build context", "dir", dest, "err", err)
			}
		})
	}
	if len(commits) == 0 {
		fmt.Fprintf(log, "No commits given for %s: the build context is empty\n", display(job.Repository))
		return dest, release, nil
	}
	start := time.Now()
	s := &session{
		c:          c,
		ctx:        ctx,
		log:        log,
		includeGit: job.Docker != nil && job.Docker.IncludeGit,
		dest:       dest,
		times:      map[string]int64{},
	}
	if err := s.prepare(job.Repository, commits, format); err != nil {
		release()
		return "", noop, err
	}
	c.logger.Debug("git build context ready", "repository", display(job.Repository),
		"commits", len(commits), "duration", time.Since(start))
	return dest, release, nil
}
