// Command ocluster-worker connects to a scheduler's pool and builds what it
// is given: Docker builds and OBuilder specs, with git build contexts.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/moby/moby/client"
	"github.com/spf13/cobra"

	"github.com/ocluster-go/ocluster/cmd/internal/cli"
	"github.com/ocluster-go/ocluster/runners"
	"github.com/ocluster-go/ocluster/runners/docker"
	"github.com/ocluster-go/ocluster/runners/gitctx"
	"github.com/ocluster-go/ocluster/runners/obuilder"
	"github.com/ocluster-go/ocluster/transport/wire"
	"github.com/ocluster-go/ocluster/transport/worker"
)

type options struct {
	capPath, name, stateDir  string
	capacity                 int
	allowPush                []string
	pruneThreshold, maxDFGB  float64
	obuilderStore, rsyncMode string
	obuilderPrune            float64
	obuilderHealthcheck      int
	obuilderHealthImage      string
	additionalMetrics        []string
	allowLocalRepos, verbose bool
	retryDelay               time.Duration
}

func main() {
	var o options
	cli.Execute(newCommand(&o))
}

// newCommand is the command line, its flags bound to o.
func newCommand(o *options) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "ocluster-worker -c pool-NAME.cap --name NAME --state-dir DIR [flags]",
		Short: "Build jobs from a scheduler's pool: Docker builds and OBuilder specs",
		Long: `Connects to a pool with its pool-<name>.cap file, registers under --name,
and runs up to --capacity jobs at a time. Docker jobs use the engine that
DOCKER_HOST names (or the local socket); OBuilder jobs need --obuilder-store.
When the scheduler asks it to update, it finishes its jobs and exits with
status 0, for its service manager to start the new version.`,
		Args:          cobra.NoArgs,
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE:          func(cmd *cobra.Command, _ []string) error { return run(*o) },
	}
	f := cmd.Flags()
	f.StringVarP(&o.capPath, "connect", "c", "", "the pool's .cap file (pool-<name>.cap)")
	f.StringVar(&o.name, "name", "", "the worker's name, unique in the pool")
	f.StringVar(&o.stateDir, "state-dir", "", "folder for the worker's state: git clones, job logs, the OBuilder index")
	f.IntVar(&o.capacity, "capacity", 10, "jobs run at once")
	f.StringSliceVar(&o.allowPush, "allow-push", nil, "repositories jobs may push images to (comma-separated, e.g. registry.example.org/team/app)")
	f.Float64Var(&o.pruneThreshold, "prune-threshold", 0, "prune Docker when free blocks or inodes on its root fall below this percentage (0: never)")
	f.Float64Var(&o.maxDFGB, "docker-max-df-size", 0, "prune Docker when its disk usage exceeds this many GB (0: no limit)")
	f.StringVar(&o.obuilderStore, "obuilder-store", "", "where OBuilder keeps its step cache: docker:PATH (each step an image) or rsync:PATH (each step a directory, run with runc; needs root, runc and rsync); without it, OBuilder jobs are refused")
	f.StringVar(&o.rsyncMode, "rsync-mode", "", "how an rsync: store copies a parent step's files: copy (the default) or hardlink (less space; a step that changes a file in place changes its parent's too)")
	f.Float64Var(&o.obuilderPrune, "obuilder-prune-threshold", obuilder.DefaultPruneThreshold, "prune the OBuilder cache when free space falls below this percentage")
	f.IntVar(&o.obuilderHealthcheck, "obuilder-healthcheck", 600, "seconds between OBuilder health checks (0: only at start)")
	f.StringVar(&o.obuilderHealthImage, "obuilder-healthcheck-image", obuilder.DefaultHealthCheckImage,
		"local image the OBuilder health check builds a one-step spec on; it is never pulled (docker load or docker import it first)")
	f.StringSliceVar(&o.additionalMetrics, "additional-metrics", nil, "other Prometheus endpoints to relay, as name:URL (comma-separated)")
	f.BoolVar(&o.allowLocalRepos, "allow-local-repos", false, "also accept file:// and local paths as job repositories (single-machine use only)")
	f.DurationVar(&o.retryDelay, "retry-delay", 10*time.Second, "least time between two attempts to reach the scheduler")
	f.BoolVarP(&o.verbose, "verbose", "v", false, "log more")
	for _, required := range []string{"connect", "name", "state-dir"} {
		cmd.MarkFlagRequired(required)
	}
	return cmd
}

// obuilderConfig is the OBuilder runner's configuration the flags give.
func (o options) obuilderConfig(engine *client.Client, store obuilder.Store, log *slog.Logger) obuilder.Config {
	return obuilder.Config{Client: engine, Store: store, PruneThreshold: o.obuilderPrune,
		HealthCheckImage: o.obuilderHealthImage, RsyncMode: o.rsyncMode, Logger: log}
}

// checkRsyncMode refuses an --rsync-mode that is unknown or that has no
// rsync: store to apply to.
func (o options) checkRsyncMode() error {
	switch o.rsyncMode {
	case "":
		return nil
	case obuilder.RsyncCopy, obuilder.RsyncHardlink:
	default:
		return fmt.Errorf("--rsync-mode %s: give %s or %s", o.rsyncMode, obuilder.RsyncCopy, obuilder.RsyncHardlink)
	}
	if !strings.HasPrefix(o.obuilderStore, "rsync:") {
		return fmt.Errorf("--rsync-mode %s: it applies to rsync: OBuilder stores only (give --obuilder-store rsync:PATH)", o.rsyncMode)
	}
	return nil
}

func run(o options) error {
	ref, err := wire.ReadCapFile(o.capPath)
	if err != nil {
		return err
	}
	level := slog.LevelInfo
	if o.verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	metrics, err := parseMetrics(o.additionalMetrics)
	if err != nil {
		return err
	}
	if err := o.checkRsyncMode(); err != nil {
		return err
	}
	if o.maxDFGB < 0 {
		return fmt.Errorf("--docker-max-df-size %g: give a size in GB, or 0 for no limit", o.maxDFGB)
	}
	if o.obuilderHealthcheck < 0 {
		return fmt.Errorf("--obuilder-healthcheck %d: give seconds, or 0 to check only at start", o.obuilderHealthcheck)
	}

	engine, err := client.New(client.FromEnv)
	if err != nil {
		return fmt.Errorf("making a Docker client: %w", err)
	}
	defer engine.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	_, err = engine.Ping(ctx, client.PingOptions{NegotiateAPIVersion: true})
	cancel()
	if err != nil {
		return fmt.Errorf("cannot reach the Docker engine (%s): %w; start it, or point DOCKER_HOST at it", engine.DaemonHost(), err)
	}
	builders := map[string]runners.Runner{}
	builders["docker"], err = docker.New(docker.Config{Client: engine, AllowPush: o.allowPush,
		PruneThreshold: o.pruneThreshold, MaxDFSize: int64(o.maxDFGB * 1e9), Logger: log})
	if err != nil {
		return err
	}
	if o.obuilderStore != "" {
		store, err := obuilder.ParseStore(o.obuilderStore)
		if err != nil {
			return err
		}
		builders["obuilder"], err = obuilder.New(o.obuilderConfig(engine, store, log))
		if err != nil {
			return err
		}
	}
	contexts, err := gitctx.New(o.stateDir, gitctx.Options{AllowLocal: o.allowLocalRepos, Logger: log})
	if err != nil {
		return err
	}
	agent, err := worker.New(worker.Config{
		Ref:               ref,
		Name:              o.name,
		Capacity:          o.capacity,
		StateDir:          filepath.Clean(o.stateDir),
		Runners:           builders,
		Context:           contexts,
		AdditionalMetrics: metrics,
		HealthInterval:    time.Duration(o.obuilderHealthcheck) * time.Second,
		RetryDelay:        o.retryDelay,
		Logger:            log,
	})
	if err != nil {
		return err
	}
	return cli.UntilSignalled(agent.Run)
}

func parseMetrics(list []string) (map[string]string, error) {
	metrics := map[string]string{}
	for _, item := range list {
		name, url, ok := strings.Cut(item, ":")
		if !ok || name == "" || !strings.HasPrefix(url, "http://") && !strings.HasPrefix(url, "https://") {
			return nil, fmt.Errorf("--additional-metrics %q: expected NAME:URL, e.g. prometheus:http://127.0.0.1:9090/metrics", item)
		}
		metrics[name] = url
	}
	return metrics, nil
}
