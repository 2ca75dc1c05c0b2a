package docker

import (
	"context"
	"errors"
	"fmt"

	"github.com/distribution/reference"
	"github.com/moby/moby/client"

	"github.com/ocluster-go/ocluster/runners"
)

// pullBases gives each base image the chance to be refreshed before the
// build, which is what OCluster's `docker build --pull` is for. The
// engine's own --pull will not do: when the registry cannot be reached it
// fails the build even though the image is right there, and many workers
// (this one's tests included) build from images that exist only locally.
// So a failed pull of an image the engine has is a warning, and only an
// image that can be neither pulled nor found fails the job, as it would
// fail the build.
func (r *Runner) pullBases(ctx context.Context, bases []string, jl *jobLog) error {
	for _, ref := range bases {
		named, err := reference.ParseNormalizedNamed(ref)
		if err != nil {
			continue
		}
		// An image named by digest cannot have changed.
		if _, pinned := named.(reference.Digested); pinned && r.haveImage(ctx, ref) {
			continue
		}
		jl.linef("Pulling %s", ref)
		err = r.pull(ctx, ref, jl)
		if ctx.Err() != nil {
			return runners.ErrCancelled
		}
		if err == nil {
			continue
		}
		if r.haveImage(ctx, ref) {
			jl.linef("Warning: could not pull %s (%v); building from the copy this worker has", ref, err)
			continue
		}
		return fmt.Errorf("pulling the base image %s: %w (this worker has no copy of it either: check the image's name, and that its registry is reachable from the worker)", ref, err)
	}
	return nil
}

func (r *Runner) pull(ctx context.Context, ref string, jl *jobLog) error {
	resp, err := r.cli.ImagePull(ctx, ref, client.ImagePullOptions{})
	if err != nil {
		return err
	}
	for m, err := range resp.JSONMessages(ctx) {
		if err != nil {
			return err
		}
		if m.Error != nil {
			return errors.New(m.Error.Message)
		}
		switch m.Status {
		case "", "Waiting", "Pulling fs layer", "Verifying Checksum", "Download complete":
			continue
		}
		if !inProgress(m.Progress) {
			jl.line(statusLine(m))
		}
	}
	return nil
}

func (r *Runner) haveImage(ctx context.Context, ref string) bool {
	_, err := r.cli.ImageInspect(ctx, ref)
	return err == nil
}
