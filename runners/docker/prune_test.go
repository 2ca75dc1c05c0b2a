package docker

import (
	"context"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	cerrdefs "github.com/containerd/errdefs"

	"github.com/ocluster-go/ocluster/runners/docker/dockertest"
)

func TestPruneNeeded(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, tc := range []struct {
		name      string
		threshold float64
		maxDF     int64
		want      string // in the reason; "" for none
	}{
		{"off", 0, 0, ""},
		{"threshold 100%", 100, 0, "below the prune threshold of 100%"},
		{"max df 1 byte", 0, 1, "more than the limit of 1B"},
		{"both", 100, 1, "prune threshold of 100% (the worker's --prune-threshold); Docker's images"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.runner(func(c *Config) { c.PruneThreshold, c.MaxDFSize = tc.threshold, tc.maxDF })
			reason, err := r.PruneNeeded(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("reason: %q", reason)
			if tc.want == "" && reason != "" || !strings.Contains(reason, tc.want) {
				t.Errorf("reason %q, want one containing %q", reason, tc.want)
			}
		})
	}
}

// When the engine's root directory cannot be examined, the runner says so
// once, in its first reason, and goes by the disk usage alone.
func TestPruneNeededRootUnreadable(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := e.runner(func(c *Config) { c.PruneThreshold = 100 })
	r.dockerRoot = filepath.Join(t.TempDir(), "not-there")
	if reason, err := r.PruneNeeded(context.Background()); err != nil || reason != "" {
		t.Fatalf("PruneNeeded = %q, %v; want no reason without the free space", reason, err)
	}
	r.cfg.MaxDFSize = 1
	first, err := r.PruneNeeded(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	errorContains(t, errorf(first), "more than the limit", "cannot be examined", "not-there")
	second, err := r.PruneNeeded(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if second == "" || strings.Contains(second, "cannot be examined") {
		t.Errorf("second reason %q: want the limit, without the note", second)
	}
}

type errorf string

func (e errorf) Error() string { return string(e) }

func TestPrune(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := e.runner(nil)
	ctx := context.Background()
	// Untagged, so dangling as soon as it is built.
	id, err := r.Run(ctx, dockerJob(e.labelled("FROM "+dockertest.BaseImage+"\nRUN echo "+e.token+" > /f\n")), "", newLog(t))
	if err != nil {
		t.Fatal(err)
	}
	log := newLog(t)
	if err := r.Prune(ctx, log); err != nil {
		t.Fatal(err)
	}
	if !log.hasLine("Deleted " + id) {
		t.Errorf("the log does not report deleting %s", id)
	}
	if _, err := e.cli.ImageInspect(ctx, id); !cerrdefs.IsNotFound(err) {
		t.Errorf("the image is still there (%v)", err)
	}
	if !strings.Contains(log.text(), "Left the build cache alone") {
		t.Errorf("a prune limited by label touched the build cache")
	}
	if n := summaryCount(t, r, "ocluster_worker_docker_prune_time_seconds"); n != 1 {
		t.Errorf("the prune time summary has %d observations, want 1", n)
	}
}

// Workers sharing an engine ask for its disk usage at the same time; an
// engine that runs one such query at a time refuses the others, and the
// runner waits its turn instead of failing.
func TestPruneNeededWhileEngineBusy(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := e.runner(func(c *Config) { c.MaxDFSize = 1 })
	var wg sync.WaitGroup
	for range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if reason, err := r.PruneNeeded(context.Background()); err != nil || reason == "" {
				t.Errorf("PruneNeeded = %q, %v; want the limit's reason", reason, err)
			}
		}()
	}
	wg.Wait()
}
