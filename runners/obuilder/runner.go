package obuilder

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"maps"
	"os/exec"
	"regexp"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/client"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ocluster-go/ocluster/runners"
)

// DefaultPruneThreshold is the worker's default --obuilder-prune-threshold.
const DefaultPruneThreshold = 30

// DefaultHealthCheckImage is the image the health check builds on unless
// told otherwise (the worker's --obuilder-healthcheck-image). It is never
// pulled.
const DefaultHealthCheckImage = "busybox:latest"

// Labels the runner puts on what it creates, besides Config.Labels.
const (
	labelKey   = "org.ocluster-go.obuilder.key"   // images and step containers: the step's cache key
	labelStep  = "org.ocluster-go.obuilder.step"  // step containers
	labelStore = "org.ocluster-go.obuilder.store" // cache volumes and step containers: the store's path (see StoreLabel)
	labelCache = "org.ocluster-go.obuilder.cache" // cache volumes: the cache id
)

// Config configures a Runner.
type Config struct {
	Client *client.Client // required; the engine's host must be this machine (secrets are bind-mounted files)
	Store  Store          // required: from ParseStore

	// PruneThreshold is the percentage of free space (blocks or inodes) on
	// Docker's data file system or the store's, below which PruneNeeded
	// asks for a prune. 0 never prunes; the worker's default is
	// DefaultPruneThreshold.
	PruneThreshold float64

	Logger *slog.Logger      // nil: slog.Default()
	Labels map[string]string // put on every container, image and volume the runner creates

	// DefaultShell runs (run (shell CMD)) until a spec says (shell ...).
	// nil means /bin/sh -c, present in every Linux image. OBuilder's own
	// default is /bin/bash -c: specs that rely on bash should say so.
	DefaultShell []string

	// HealthCheckImage is the local image the health check builds on;
	// "" means DefaultHealthCheckImage.
	HealthCheckImage string

	// CacheRepository is the repository step results are tagged in, as
	// REPOSITORY:KEY; "" means obuilder-cache. docker: stores only.
	CacheRepository string

	// RsyncMode is how an rsync: store copies a parent step's files:
	// RsyncCopy ("" too) copies them, RsyncHardlink links unchanged files
	// to the parent's (less space and time, but a step that changes a file
	// in place changes its parent's copy too, as with OBuilder's mode).
	RsyncMode string

	// Runc is the runc command an rsync: store runs steps with; "" means
	// runc, found on PATH.
	Runc string
}

// Runner runs OBuilder jobs, caching every step: as an image on a Docker
// engine (docker: stores) or as a directory run with runc (rsync: stores).
// It implements runners.Runner, runners.Pruner,
// runners.HealthChecker and prometheus.Collector.
type Runner struct {
	cli         *client.Client
	store       Store
	storeID     string
	threshold   float64
	logger      *slog.Logger
	labels      map[string]string
	shell       []string
	healthImage string
	repo        string
	rsyncMode   string
	sandbox     runcSandbox

	index *index
	locks keyLocks

	hits, misses atomic.Uint64
	containers   atomic.Uint64 // containers created
	sweep        sync.Once     // of the containers an earlier run left

	rootMu     sync.Mutex
	dockerRoot string // Docker's data directory, once known

	// free measures free space; tests replace it.
	free func(ctx context.Context) (percent float64, where string, err error)

	hitsDesc, missesDesc, freeDesc *prometheus.Desc
}

var (
	_ runners.Runner        = (*Runner)(nil)
	_ runners.Pruner        = (*Runner)(nil)
	_ runners.HealthChecker = (*Runner)(nil)
	_ prometheus.Collector  = (*Runner)(nil)
)

// StoreLabel is the label, KEY=VALUE, of the images, containers and
// volumes the runner makes for the store at path, so that whoever removes
// a store removes them with it.
func StoreLabel(path string) string { return labelStore + "=" + path }

// New makes a Runner, creating the store's directory if needed.
func New(cfg Config) (*Runner, error) {
	if cfg.Client == nil {
		return nil, errors.New("obuilder runner: no Docker client given")
	}
	if (cfg.Store.Kind != "docker" && cfg.Store.Kind != "rsync") || cfg.Store.Path == "" {
		return nil, fmt.Errorf("obuilder runner: store %q is not usable: make it with ParseStore(\"docker:PATH\") or ParseStore(\"rsync:PATH\")", cfg.Store)
	}
	switch cfg.RsyncMode {
	case "", RsyncCopy, RsyncHardlink:
	default:
		return nil, fmt.Errorf("obuilder runner: rsync mode %q: give %s or %s", cfg.RsyncMode, RsyncCopy, RsyncHardlink)
	}
	if cfg.RsyncMode != "" && cfg.Store.Kind != "rsync" {
		return nil, fmt.Errorf("obuilder runner: rsync mode %q applies to rsync: stores only, not %s", cfg.RsyncMode, cfg.Store)
	}
	if cfg.PruneThreshold < 0 || cfg.PruneThreshold > 100 {
		return nil, fmt.Errorf("obuilder runner: prune threshold %g%% is not a percentage from 0 to 100", cfg.PruneThreshold)
	}
	ix, err := openIndex(cfg.Store.Path)
	if err != nil {
		return nil, fmt.Errorf("obuilder store %s: %w", cfg.Store, err)
	}
	sum := sha256.Sum256([]byte(cfg.Store.Path))
	r := &Runner{
		cli:         cfg.Client,
		store:       cfg.Store,
		storeID:     hex.EncodeToString(sum[:6]),
		threshold:   cfg.PruneThreshold,
		logger:      cfg.Logger,
		labels:      maps.Clone(cfg.Labels),
		shell:       slices.Clone(cfg.DefaultShell),
		healthImage: cfg.HealthCheckImage,
		repo:        cfg.CacheRepository,
		rsyncMode:   cmp.Or(cfg.RsyncMode, RsyncCopy),
		sandbox:     runcSandbox{binary: cmp.Or(cfg.Runc, "runc")},
		index:       ix,
		hitsDesc:    prometheus.NewDesc("ocluster_worker_cache_hits", "OBuilder steps whose result was already cached", nil, nil),
		missesDesc:  prometheus.NewDesc("ocluster_worker_cache_misses", "OBuilder steps that had to be built", nil, nil),
		freeDesc:    prometheus.NewDesc("ocluster_worker_obuilder_space_free", "Percentage of space free on the OBuilder store's file systems", nil, nil),
	}
	if r.logger == nil {
		r.logger = slog.Default()
	}
	if len(r.shell) == 0 {
		r.shell = []string{"/bin/sh", "-c"}
	}
	if r.healthImage == "" {
		r.healthImage = DefaultHealthCheckImage
	}
	if r.repo == "" {
		r.repo = "obuilder-cache"
	}
	r.free = r.measureFree
	if r.isRsync() {
		if err := r.initRsyncStore(); err != nil {
			return nil, fmt.Errorf("obuilder store %s: %w", cfg.Store, err)
		}
		for _, tool := range []string{r.sandbox.binary, "rsync", "tar"} {
			if _, err := exec.LookPath(tool); err != nil {
				return nil, fmt.Errorf("obuilder store %s needs %s: %w (on Debian: apt-get install runc rsync tar)", cfg.Store, tool, err)
			}
		}
	}
	return r, nil
}

// Stats returns how many steps were found cached and how many were built.
func (r *Runner) Stats() (hits, misses uint64) { return r.hits.Load(), r.misses.Load() }

func (r *Runner) tag(key string) string { return r.repo + ":" + key }

func (r *Runner) labelsFor(extra map[string]string) map[string]string {
	l := maps.Clone(r.labels)
	if l == nil {
		l = map[string]string{}
	}
	maps.Copy(l, extra)
	return l
}

// Run implements runners.Runner: it builds job.OBuilder.Spec, with
// contextDir as the build context, and returns the final step's key (the
// hash the store keeps its result under), as OCluster returns OBuilder's
// snapshot id. In a docker: store the result is the image
// obuilder-cache:KEY (see ResultImage); in an rsync: store, the directory
// PATH/result/KEY/rootfs.
func (r *Runner) Run(ctx context.Context, job *runners.Job, contextDir string, log io.Writer) (string, error) {
	if job == nil || job.OBuilder == nil {
		kind := ""
		if job != nil {
			kind = job.Kind()
		}
		return "", fmt.Errorf("the obuilder runner runs OBuilder jobs only, not %q jobs", kind)
	}
	spec, err := Parse(job.OBuilder.Spec)
	if err != nil {
		return "", fmt.Errorf("invalid OBuilder spec: %w", err)
	}
	secrets, err := jobSecrets(spec, job.Secrets)
	if err != nil {
		return "", err
	}
	values := make([]string, 0, len(job.Secrets))
	for _, s := range job.Secrets {
		values = append(values, s.Value)
	}
	b := &builder{r: r, log: newJobLog(log, values), ctxDir: contextDir, secrets: secrets, now: time.Now()}
	res, err := b.buildSpec(ctx, spec, "")
	b.log.flush()
	if serr := r.index.save(false); serr != nil {
		r.logger.Warn("saving the obuilder store index", "err", serr)
	}
	if err != nil {
		if ctx.Err() != nil {
			return "", runners.ErrCancelled
		}
		return "", err
	}
	return res.key, nil
}

// ResultImage is the image a docker: store keeps the result key of Run
// in.
func (r *Runner) ResultImage(key string) string { return r.tag(key) }

// jobSecrets checks, before anything runs, that the job provides every
// secret the spec mounts.
func jobSecrets(spec Spec, provided []runners.Secret) (map[string]string, error) {
	have := map[string]string{}
	for _, s := range provided {
		have[s.ID] = s.Value
	}
	var missing []string
	var walk func(Spec)
	walk = func(s Spec) {
		for _, st := range s.Stages {
			walk(st.Spec)
		}
		for _, op := range s.Ops {
			if run, ok := op.(*Run); ok {
				for _, m := range run.Secrets {
					if _, ok := have[m.ID]; !ok && !slices.Contains(missing, m.ID) {
						missing = append(missing, m.ID)
					}
				}
			}
		}
	}
	walk(spec)
	if len(missing) > 0 {
		ids := slices.Sorted(maps.Keys(have))
		return nil, fmt.Errorf("the spec mounts secrets %q that the job does not provide (it provides %q): submit them with --secret ID:FILE", missing, ids)
	}
	return have, nil
}

// removeLeftovers removes the step containers of this store that a worker
// killed mid-build left behind (its deferred removals never ran). It runs
// once, at the first health check, which the worker makes before it takes
// a job; if this runner has already made containers, their builds may be
// going on and nothing is touched.
func (r *Runner) removeLeftovers(ctx context.Context) {
	if r.containers.Load() > 0 {
		return
	}
	if r.isRsync() {
		r.removeRsyncLeftovers(ctx)
	}
	list, err := r.cli.ContainerList(ctx, client.ContainerListOptions{All: true,
		Filters: make(client.Filters).Add("label", StoreLabel(r.store.Path))})
	if err != nil {
		r.logger.Warn("listing leftover obuilder step containers", "err", err)
		return
	}
	for _, c := range list.Items {
		r.removeContainer(ctx, c.ID)
	}
	if n := len(list.Items); n > 0 {
		r.logger.Info("removed obuilder step containers left by an earlier run", "store", r.store.Path, "containers", n)
	}
}

// removeContainer removes a step's container, killing it if it still
// runs. It uses its own deadline: a cancelled build must still clean up.
func (r *Runner) removeContainer(ctx context.Context, name string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	_, err := r.cli.ContainerRemove(ctx, name, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true})
	if err != nil && !cerrdefs.IsNotFound(err) {
		r.logger.Warn("removing an obuilder step container", "container", name, "err", err)
	}
}

var volumeUnsafe = regexp.MustCompile(`[^a-zA-Z0-9_.-]+`)

// cacheVolume returns the volume holding cache id in this store, and
// whether it was just created.
func (r *Runner) cacheVolume(ctx context.Context, id string) (string, bool, error) {
	sum := sha256.Sum256([]byte(id))
	safe := volumeUnsafe.ReplaceAllString(id, "_")
	if len(safe) > 40 {
		safe = safe[:40]
	}
	name := "obuilder-cache-" + r.storeID + "-" + hex.EncodeToString(sum[:4]) + "-" + safe
	if _, err := r.cli.VolumeInspect(ctx, name, client.VolumeInspectOptions{}); err == nil {
		return name, false, nil
	} else if !cerrdefs.IsNotFound(err) {
		return "", false, fmt.Errorf("looking up cache %q: %w", id, err)
	}
	_, err := r.cli.VolumeCreate(ctx, client.VolumeCreateOptions{Name: name,
		Labels: r.labelsFor(map[string]string{labelStore: r.store.Path, labelCache: id})})
	if err != nil {
		return "", false, fmt.Errorf("creating cache %q: %w", id, err)
	}
	return name, true, nil
}

// HealthCheck implements runners.HealthChecker: it checks that the store's
// index can be written and builds a one-step spec on HealthCheckImage
// without using or filling the cache.
func (r *Runner) HealthCheck(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	r.sweep.Do(func() { r.removeLeftovers(ctx) })
	if err := r.index.save(true); err != nil {
		return fmt.Errorf("obuilder store %s: %w", r.store, err)
	}
	spec := Spec{From: r.healthImage, Ops: []Op{&Shell{Args: []string{"/bin/sh", "-c"}}, &Run{Shell: "echo healthcheck"}}}
	var out bytes.Buffer
	b := &builder{r: r, log: newJobLog(&out, nil), ephemeral: true, now: time.Now()}
	_, err := b.buildSpec(ctx, spec, "")
	for _, id := range slices.Backward(b.made) {
		rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		if _, rerr := r.cli.ImageRemove(rctx, id, client.ImageRemoveOptions{PruneChildren: true}); rerr != nil && !cerrdefs.IsNotFound(rerr) {
			r.logger.Warn("removing the obuilder health check's image", "image", id, "err", rerr)
		}
		rcancel()
	}
	if err != nil {
		return fmt.Errorf("obuilder health check (building a one-step spec on %s, the worker's --obuilder-healthcheck-image) failed: %w; its log:\n%s", r.healthImage, err, tail(out.String(), 2000))
	}
	return nil
}

func shorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "..." + s[len(s)-n:]
}

// measureFree is the free percentage of the scarcer of Docker's data file
// system and the store's. Docker's is skipped when it is not visible here
// (an engine on another host, or in another mount namespace).
func (r *Runner) measureFree(ctx context.Context) (float64, string, error) {
	free, err := freePercent(r.store.Path)
	if err != nil {
		return 0, "", err
	}
	where := r.store.Path
	if root := r.dockerRootDir(ctx); root != "" {
		dfree, err := freePercent(root)
		switch {
		case errors.Is(err, fs.ErrNotExist):
		case err != nil:
			return 0, "", err
		case dfree < free:
			free, where = dfree, root
		}
	}
	return free, where, nil
}

// dockerRootDir asks the engine once where it keeps its data.
func (r *Runner) dockerRootDir(ctx context.Context) string {
	r.rootMu.Lock()
	defer r.rootMu.Unlock()
	if r.dockerRoot == "" {
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		info, err := r.cli.Info(ctx, client.InfoOptions{})
		if err != nil {
			r.logger.Warn("asking Docker for its data directory; judging free space on the obuilder store alone", "err", err)
			return ""
		}
		r.dockerRoot = info.Info.DockerRootDir
	}
	return r.dockerRoot
}

// PruneNeeded implements runners.Pruner: it gives a reason when free space
// is below the threshold.
func (r *Runner) PruneNeeded(ctx context.Context) (string, error) {
	free, where, err := r.free(ctx)
	if err != nil {
		return "", fmt.Errorf("obuilder store: %w", err)
	}
	if free < r.threshold {
		return fmt.Sprintf("obuilder store: only %.1f%% free on %s, below the %g%% threshold (the worker's --obuilder-prune-threshold): free space there or lower the threshold", free, where, r.threshold), nil
	}
	return "", nil
}

// Prune implements runners.Pruner: it removes cache entries, least
// recently used first, until free space is at or above the threshold or
// no entry is left, and then the store's cache volumes that no container
// uses. The worker calls it with no job running.
func (r *Runner) Prune(ctx context.Context, log io.Writer) error {
	removed := 0
	defer func() {
		if err := r.index.save(false); err != nil {
			r.logger.Warn("saving the obuilder store index", "err", err)
		}
	}()
	for {
		free, where, err := r.free(ctx)
		if err != nil {
			return fmt.Errorf("obuilder store: %w", err)
		}
		if free >= r.threshold {
			fmt.Fprintf(log, "obuilder store: %.1f%% free on %s after removing %d cache entries\n", free, where, removed)
			r.logger.Info("pruned the obuilder store", "removed", removed, "free_percent", free)
			return nil
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		e, ok := r.index.oldest()
		if !ok {
			n := r.pruneVolumes(ctx, log)
			free, where, err = r.free(ctx)
			if err != nil {
				return fmt.Errorf("obuilder store: %w", err)
			}
			fmt.Fprintf(log, "obuilder store: no cache entries left after removing %d (and %d cache volumes); %.1f%% free on %s\n", removed, n, free, where)
			r.logger.Info("pruned the obuilder store", "removed", removed, "volumes", n, "free_percent", free)
			return nil
		}
		tag := r.tag(e.Key)
		if r.isRsync() {
			tag = r.resultDir(e.Key)
			err = r.removeResult(e.Key)
		} else {
			_, err = r.cli.ImageRemove(ctx, tag, client.ImageRemoveOptions{PruneChildren: true})
		}
		r.index.remove(e.Key)
		switch {
		case err == nil:
			removed++
			fmt.Fprintf(log, "removed %s (%s), last used %s\n", tag, shorten(e.Step, 200), e.LastUsed.Format(time.RFC3339))
		case cerrdefs.IsNotFound(err):
			fmt.Fprintf(log, "forgot %s (%s): its image was already gone\n", tag, shorten(e.Step, 200))
		case ctx.Err() != nil:
			return ctx.Err()
		default:
			fmt.Fprintf(log, "could not remove %s (%s), so forgot it: %v\n", tag, shorten(e.Step, 200), err)
		}
	}
}

// pruneVolumes removes this store's cache volumes, except those in use.
func (r *Runner) pruneVolumes(ctx context.Context, log io.Writer) int {
	if r.isRsync() {
		return r.pruneCacheDirs(log)
	}
	vols, err := r.cli.VolumeList(ctx, client.VolumeListOptions{Filters: make(client.Filters).Add("label", StoreLabel(r.store.Path))})
	if err != nil {
		fmt.Fprintf(log, "listing cache volumes: %v\n", err)
		return 0
	}
	n := 0
	for _, v := range vols.Items {
		if _, err := r.cli.VolumeRemove(ctx, v.Name, client.VolumeRemoveOptions{}); err != nil {
			fmt.Fprintf(log, "could not remove cache volume %s (cache %q): %v\n", v.Name, v.Labels[labelCache], err)
			continue
		}
		n++
		fmt.Fprintf(log, "removed cache volume %s (cache %q)\n", v.Name, v.Labels[labelCache])
	}
	return n
}

// Describe implements prometheus.Collector.
func (r *Runner) Describe(ch chan<- *prometheus.Desc) {
	ch <- r.hitsDesc
	ch <- r.missesDesc
	ch <- r.freeDesc
}

// Collect implements prometheus.Collector. Free space is measured now;
// when it cannot be, the gauge is left out rather than reported as zero.
func (r *Runner) Collect(ch chan<- prometheus.Metric) {
	hits, misses := r.Stats()
	ch <- prometheus.MustNewConstMetric(r.hitsDesc, prometheus.CounterValue, float64(hits))
	ch <- prometheus.MustNewConstMetric(r.missesDesc, prometheus.CounterValue, float64(misses))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if free, _, err := r.free(ctx); err == nil {
		ch <- prometheus.MustNewConstMetric(r.freeDesc, prometheus.GaugeValue, free)
	}
}

// keyLocks lets one build at a time make a given step, so that concurrent
// jobs sharing a step build it once and the others find it cached.
type keyLocks struct {
	mu sync.Mutex
	m  map[string]chan struct{}
}

func (k *keyLocks) lock(ctx context.Context, key string) (unlock func(), err error) {
	for {
		k.mu.Lock()
		if k.m == nil {
			k.m = map[string]chan struct{}{}
		}
		held, busy := k.m[key]
		if !busy {
			ch := make(chan struct{})
			k.m[key] = ch
			k.mu.Unlock()
			return func() {
				k.mu.Lock()
				delete(k.m, key)
				k.mu.Unlock()
				close(ch)
			}, nil
		}
		k.mu.Unlock()
		select {
		case <-held:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}
