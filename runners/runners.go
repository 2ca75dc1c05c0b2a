package runners

import (
	"context"
	"errors"
	"io"
)

// Job describes one job, whatever carried it to the worker.
type Job struct {
	// Exactly one of Docker, OBuilder and Custom is set.
	Docker   *DockerBuild
	OBuilder *OBuilderBuild
	Custom   *Custom

	Hint       string
	Repository string   // git URL of the build context, if any
	Commits    []string // none: no context; several: merged
	Secrets    []Secret
	// Estimate is the client's guess of the run time in seconds (0: none).
	Estimate float64
}

// Kind names the job's action: "docker", "obuilder" or the custom kind.
func (j *Job) Kind() string {
	switch {
	case j.Docker != nil:
		return "docker"
	case j.OBuilder != nil:
		return "obuilder"
	case j.Custom != nil:
		return j.Custom.Kind
	}
	return ""
}

// DockerBuild is a docker build, optionally pushed.
type DockerBuild struct {
	// Exactly one of DockerfileContents and DockerfilePath is set.
	DockerfileContents string
	DockerfilePath     string // inside the build context

	PushTarget   string // "repo:tag"; empty: no push
	PushUser     string
	PushPassword string
	BuildArgs    []string // "NAME=VALUE"
	Squash       bool
	BuildKit     bool
	IncludeGit   bool
}

// OBuilderBuild is an OBuilder spec.
type OBuilderBuild struct {
	Spec string
}

// Custom is a job of a kind the core project does not define.
type Custom struct {
	Kind    string
	Payload []byte
}

// Secret is made available to the build without entering its result.
type Secret struct {
	ID    string
	Value string
}

// Runner runs jobs. contextDir holds the job's git build context, and is
// empty when the job has none. Run returns the job's output (for a Docker
// build, the image id or pushed digest), or an error saying why it failed.
// It must stop promptly when ctx is cancelled, returning ErrCancelled, and
// leave nothing running.
type Runner interface {
	Run(ctx context.Context, job *Job, contextDir string, log io.Writer) (output string, err error)
}

// ErrCancelled is the error of a run stopped by its context.
var ErrCancelled = errors.New("Build cancelled")

// Pruner is a runner whose caches fill the worker's disk. Before taking
// each job the worker asks PruneNeeded; when it gives a reason, the worker
// stops taking jobs, waits for its running ones to end, calls Prune, asks
// again, and takes jobs again once the answer is "".
type Pruner interface {
	PruneNeeded(ctx context.Context) (reason string, err error)
	Prune(ctx context.Context, log io.Writer) error
}

// HealthChecker is a runner that can tell whether it is able to run jobs.
// The worker checks at start and periodically, and takes no jobs while
// HealthCheck returns an error (which says what is wrong).
type HealthChecker interface {
	HealthCheck(ctx context.Context) error
}

// CacheReporter is a runner that knows which cache hints left its cache:
// a bounded cache that evicts, a prune that empties it. The worker tells
// the scheduler, which then stops queueing jobs here for them.
type CacheReporter interface {
	// Dropped is signalled when something has left the cache since
	// TakeDropped was last called.
	Dropped() <-chan struct{}
	// TakeDropped returns what left the cache since the last call:
	// everything (all), then the hints that went after that.
	TakeDropped() (all bool, hints []string)
}
