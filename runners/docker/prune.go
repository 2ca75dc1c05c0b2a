package docker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/go-units"
	"github.com/moby/moby/client"

	"github.com/ocluster-go/ocluster/runners/internal/diskspace"
)

// PruneNeeded implements runners.Pruner. It gives a reason to prune when
// the file system of the engine's root directory has less than
// PruneThreshold percent of its blocks or of its inodes free, or when the
// engine's images and build cache take more than MaxDFSize bytes.
//
// The free space can only be measured when the engine's root directory
// is visible to this process (a worker beside its engine, not one talking
// to a remote engine or from another container): when it is not, the
// runner says so, in its log and in the first reason it gives, and relies
// on MaxDFSize alone.
func (r *Runner) PruneNeeded(ctx context.Context) (string, error) {
	var reasons []string
	if r.cfg.PruneThreshold > 0 {
		dir, err := r.rootDir(ctx)
		if err != nil {
			return "", err
		}
		blocks, inodes, err := diskspace.Free(dir)
		switch {
		case err != nil:
			r.rootUnreadable.Do(func() {
				note := fmt.Sprintf("the engine's root directory %s cannot be examined from this worker (%v), so --prune-threshold is not applied; only --docker-max-df-size is", dir, err)
				r.log.Warn(note)
				r.mu.Lock()
				r.pendingNote = note
				r.mu.Unlock()
			})
		case min(blocks, inodes) < r.cfg.PruneThreshold:
			reasons = append(reasons, fmt.Sprintf("%s has %.1f%% of its blocks and %.1f%% of its inodes free, below the prune threshold of %g%% (the worker's --prune-threshold)",
				dir, blocks, inodes, r.cfg.PruneThreshold))
		}
	}
	if r.cfg.MaxDFSize > 0 {
		du, err := whenEngineFree(ctx, func() (client.DiskUsageResult, error) {
			return r.cli.DiskUsage(ctx, client.DiskUsageOptions{Images: true, BuildCache: true})
		})
		if err != nil {
			return "", fmt.Errorf("asking the engine for its disk usage: %w", err)
		}
		if used := du.Images.TotalSize + du.BuildCache.TotalSize; used > r.cfg.MaxDFSize {
			reasons = append(reasons, fmt.Sprintf("Docker's images and build cache take %s, more than the limit of %s",
				units.HumanSize(float64(used)), units.HumanSize(float64(r.cfg.MaxDFSize))))
		}
	}
	if len(reasons) == 0 {
		return "", nil
	}
	reason := strings.Join(reasons, "; ")
	r.mu.Lock()
	if r.pendingNote != "" {
		reason += " (note: " + r.pendingNote + ")"
		r.pendingNote = ""
	}
	r.mu.Unlock()
	return reason, nil
}

func (r *Runner) rootDir(ctx context.Context) (string, error) {
	if r.dockerRoot != "" {
		return r.dockerRoot, nil
	}
	info, err := r.cli.Info(ctx, client.InfoOptions{})
	if err != nil {
		return "", fmt.Errorf("asking the engine where it keeps its data: %w", err)
	}
	return info.Info.DockerRootDir, nil
}

// Prune implements runners.Pruner: it removes the engine's unused images
// (tagged or not) and its whole build cache, as OCluster's `docker system
// prune -af` and `docker builder prune -af` do, and the stopped
// containers the runner is responsible for, and logs what it freed. With
// PruneLabel set, it removes only the images and stopped containers with
// that label and leaves the build cache alone, since its records have no
// labels to tell whose they are.
//
// It holds no lock of the runner's: builds, pushes and metrics go on
// while the engine works.
func (r *Runner) Prune(ctx context.Context, log io.Writer) error {
	start := time.Now()
	defer func() { r.pruneTime.Observe(time.Since(start).Seconds()) }()
	jl := newJobLog(log, nil)
	label := r.cfg.PruneLabel
	var errs []error
	var freed uint64

	// Stopped containers go first: an image a container uses cannot be
	// removed. The runner's build steps leave none behind (they are
	// force-removed), so the only ones it can vouch for are those with its
	// label; the others belong to someone else.
	if label != "" {
		res, err := whenEngineFree(ctx, func() (client.ContainerPruneResult, error) {
			return r.cli.ContainerPrune(ctx, client.ContainerPruneOptions{Filters: make(client.Filters).Add("label", label)})
		})
		if err != nil {
			errs = append(errs, fmt.Errorf("removing stopped containers: %w", err))
		} else {
			freed += res.Report.SpaceReclaimed
			jl.linef("Removed %d stopped containers labelled %s", len(res.Report.ContainersDeleted), label)
		}
	}

	filters := make(client.Filters).Add("dangling", "false")
	if label != "" {
		filters.Add("label", label)
	}
	res, err := whenEngineFree(ctx, func() (client.ImagePruneResult, error) {
		return r.cli.ImagePrune(ctx, client.ImagePruneOptions{Filters: filters})
	})
	if err != nil {
		errs = append(errs, fmt.Errorf("removing unused images: %w", err))
	} else {
		deleted := 0
		for _, d := range res.Report.ImagesDeleted {
			if d.Untagged != "" {
				jl.linef("Untagged %s", d.Untagged)
			}
			if d.Deleted != "" {
				jl.linef("Deleted %s", d.Deleted)
				deleted++
			}
		}
		freed += res.Report.SpaceReclaimed
		jl.linef("Removed %d images, freeing %s", deleted, units.HumanSize(float64(res.Report.SpaceReclaimed)))
	}

	if label == "" {
		res, err := whenEngineFree(ctx, func() (client.BuildCachePruneResult, error) {
			return r.cli.BuildCachePrune(ctx, client.BuildCachePruneOptions{All: true})
		})
		if err != nil {
			errs = append(errs, fmt.Errorf("removing the build cache: %w", err))
		} else {
			freed += res.Report.SpaceReclaimed
			jl.linef("Removed %d build cache records, freeing %s", len(res.Report.CachesDeleted), units.HumanSize(float64(res.Report.SpaceReclaimed)))
		}
	} else {
		jl.linef("Left the build cache alone: pruning is limited to %s", label)
	}

	err = errors.Join(errs...)
	if ctx.Err() != nil {
		err = fmt.Errorf("prune interrupted: %w", ctx.Err())
	}
	r.log.Info("pruned Docker", "freed", units.HumanSize(float64(freed)), "took", time.Since(start).Round(time.Millisecond), "err", err)
	return err
}

// otherPruneWait is how long a prune or a disk-usage query waits before
// trying again when the engine is busy with someone else's.
const otherPruneWait = time.Second

// whenEngineFree calls op, again and again while the engine answers that
// another operation of the same kind is running (it runs one prune of a
// kind, and one disk-usage query, at a time and refuses the others, which
// happens when workers or tools share an engine), until ctx ends.
func whenEngineFree[T any](ctx context.Context, op func() (T, error)) (T, error) {
	for {
		res, err := op()
		// Engines before 23.0 refuse a second disk-usage query with an
		// internal error that only its text tells apart.
		busy := cerrdefs.IsConflict(err) || err != nil && strings.Contains(err.Error(), "operation is already running")
		if !busy {
			return res, err
		}
		select {
		case <-ctx.Done():
			return res, err
		case <-time.After(otherPruneWait):
		}
	}
}
