package obuilder

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/client"
)

// keyVersion changes whenever the meaning of a step's result changes, so
// that results built by older code are not reused.
const keyVersion = "ocluster-go obuilder step v1"

// keyHasher builds a cache key from length-prefixed fields, so that no two
// different field lists hash the same bytes.
type keyHasher struct{ h [][]byte }

func newKey(kind, parent string) *keyHasher {
	k := &keyHasher{}
	return k.str(keyVersion).str(kind).str(parent)
}

func (k *keyHasher) str(s string) *keyHasher {
	k.h = append(k.h, []byte(s))
	return k
}

func (k *keyHasher) strs(ss []string) *keyHasher {
	k.str(strconv.Itoa(len(ss)))
	for _, s := range ss {
		k.str(s)
	}
	return k
}

func (k *keyHasher) sum() string {
	h := sha256.New()
	var n [8]byte
	for _, f := range k.h {
		binary.BigEndian.PutUint64(n[:], uint64(len(f)))
		h.Write(n[:])
		h.Write(f)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// result is what a spec or a step leaves: an image, the key it is cached
// under, how many steps lie between it and its base, and the directory the
// spec ended in (a stage's relative copy sources start there).
type result struct {
	image   string
	key     string
	depth   int
	workdir string
}

// state is what the operations so far have set up for the next one.
type state struct {
	result
	user  User
	env   []string // NAME=VALUE, in the order first set
	shell []string
}

func (st *state) setEnv(name, value string) {
	kv := name + "=" + value
	for i, e := range st.env {
		if strings.HasPrefix(e, name+"=") {
			st.env[i] = kv
			return
		}
	}
	st.env = append(st.env, kv)
}

func (st *state) userSpec() string { return fmt.Sprintf("%d:%d", st.user.UID, st.user.GID) }

// builder runs one spec for one job.
type builder struct {
	r       *Runner
	log     *jobLog
	ctxDir  string            // the build context; "" when the job has none
	secrets map[string]string // by id
	now     time.Time         // the last-used time every touched entry gets

	// ephemeral builds (the health check) look nothing up, tag nothing and
	// remove the images they made.
	ephemeral bool
	made      []string
}

func (b *builder) buildSpec(ctx context.Context, spec Spec, prefix string) (result, error) {
	stages := map[string]result{}
	for _, s := range spec.Stages {
		res, err := b.buildSpec(ctx, s.Spec, prefix+"(build "+quoteAtom(s.Name)+") ")
		if err != nil {
			return result{}, err
		}
		stages[s.Name] = res
	}
	b.log.heading(prefix + "/: " + field("from", spec.From).String())
	img, err := b.r.cli.ImageInspect(ctx, spec.From)
	if cerrdefs.IsNotFound(err) {
		return result{}, fmt.Errorf("base image %q is not on this worker's Docker engine, and OBuilder builds never pull: load it on the worker first (docker load, docker import or docker pull)", spec.From)
	}
	if err != nil {
		return result{}, fmt.Errorf("looking up base image %q: %w", spec.From, err)
	}
	st := &state{
		result: result{image: img.ID, key: newKey("from", img.ID).sum(), workdir: "/"},
		shell:  b.r.shell,
	}
	if img.Config != nil {
		st.env = append(st.env, img.Config.Env...)
	}
	if b.r.isRsync() {
		if err := b.rsyncBase(ctx, img.ID, st.key, spec.From); err != nil {
			if ctx.Err() != nil {
				return result{}, ctx.Err()
			}
			return result{}, fmt.Errorf("base image %q: %w", spec.From, err)
		}
		st.image = b.r.resultDir(st.key)
	}
	for _, op := range spec.Ops {
		header := prefix + st.workdir + ": " + op.String()
		b.log.heading(header)
		var err error
		switch o := op.(type) {
		case *Comment:
		case *Workdir:
			st.workdir = resolve(st.workdir, o.Dir)
		case *User:
			st.user = *o
		case *Env:
			st.setEnv(o.Name, o.Value)
		case *Shell:
			st.shell = o.Args
		case *Run:
			err = b.run(ctx, st, o, header)
		case *Copy:
			if o.From != "" {
				err = b.copyFromStage(ctx, st, o, stages[o.From], header)
			} else {
				err = b.copyFromContext(ctx, st, o, header)
			}
		}
		if err != nil {
			if ctx.Err() != nil {
				return result{}, ctx.Err()
			}
			return result{}, fmt.Errorf("step %s failed: %w", header, err)
		}
	}
	return st.result, nil
}

// resolve gives the absolute, clean path p names when the current
// directory is dir.
func resolve(dir, p string) string {
	if path.IsAbs(p) {
		return path.Clean(p)
	}
	return path.Join(dir, p)
}

// step gives st the result cached under key, or makes it: build prepares a
// container (named name, which step removes whatever happens) whose file
// system, committed, is the result.
func (b *builder) step(ctx context.Context, st *state, key, header string, build func(ctx context.Context, name string) (string, error)) error {
	unlock, err := b.r.locks.lock(ctx, key)
	if err != nil {
		return err
	}
	defer unlock()
	tag := b.r.tag(key)
	if !b.ephemeral {
		img, err := b.r.cli.ImageInspect(ctx, tag)
		if err == nil {
			b.r.hits.Add(1)
			b.r.index.use(entry{Key: key, Image: img.ID, Parent: st.key, Depth: st.depth + 1, Step: header, Created: b.now, LastUsed: b.now})
			b.log.note("---> using %q from cache", key)
			st.image, st.key, st.depth = img.ID, key, st.depth+1
			return nil
		}
		if !cerrdefs.IsNotFound(err) {
			return fmt.Errorf("looking up the cached result %s: %w", tag, err)
		}
		b.r.misses.Add(1)
	}
	name := containerName(key)
	defer b.r.removeContainer(ctx, name)
	id, err := build(ctx, name)
	if err != nil {
		return err
	}
	ref := tag
	if b.ephemeral {
		ref = ""
	}
	res, err := b.r.cli.ContainerCommit(ctx, id, client.ContainerCommitOptions{Reference: ref, Comment: header, NoPause: true})
	if err != nil {
		return fmt.Errorf("committing the result: %w", err)
	}
	if b.ephemeral {
		b.made = append(b.made, res.ID)
	} else {
		b.r.index.add(entry{Key: key, Image: res.ID, Parent: st.key, Depth: st.depth + 1, Step: header, Created: b.now, LastUsed: b.now})
	}
	b.log.note("---> saved as %q", key)
	st.image, st.key, st.depth = res.ID, key, st.depth+1
	return nil
}

func containerName(key string) string {
	var r [4]byte
	rand.Read(r[:])
	return "obuilder-" + key[:16] + "-" + hex.EncodeToString(r[:])
}

// containerConfig is a step container's configuration: the state's user,
// environment, directory and shell, labelled, with the image's own
// health check off so that nothing but the step runs.
func (b *builder) containerConfig(st *state, key string, cmd string) *container.Config {
	labels := b.r.labelsFor(map[string]string{labelKey: key, labelStep: "1", labelStore: b.r.store.Path})
	return &container.Config{
		Image:        st.image,
		Entrypoint:   st.shell,
		Cmd:          []string{cmd},
		Env:          st.env,
		WorkingDir:   st.workdir,
		User:         st.userSpec(),
		Labels:       labels,
		AttachStdout: true,
		AttachStderr: true,
		Healthcheck:  &container.HealthConfig{Test: []string{"NONE"}},
	}
}

func (b *builder) run(ctx context.Context, st *state, o *Run, header string) error {
	k := newKey("run", st.key).strs(st.shell).str(o.Shell).strs(st.env).str(st.workdir).str(st.userSpec()).str(o.Network)
	k.str(strconv.Itoa(len(o.Caches)))
	for _, c := range o.Caches {
		k.str(c.ID).str(c.Target)
	}
	// Only where secrets appear counts: their values must never reach a
	// key, an image or a log.
	k.str(strconv.Itoa(len(o.Secrets)))
	for _, s := range o.Secrets {
		k.str(s.ID).str(s.Target)
	}
	key := k.sum()
	if b.r.isRsync() {
		return b.rsyncStep(ctx, st, key, header, func(ctx context.Context, bundle string) error {
			return b.rsyncRun(ctx, st, o, key, bundle)
		})
	}
	return b.step(ctx, st, key, header, func(ctx context.Context, name string) (string, error) {
		var mounts []mount.Mount
		var fresh []Mount
		for _, c := range o.Caches {
			vol, isNew, err := b.r.cacheVolume(ctx, c.ID)
			if err != nil {
				return "", err
			}
			mounts = append(mounts, mount.Mount{Type: mount.TypeVolume, Source: vol, Target: c.Target,
				VolumeOptions: &mount.VolumeOptions{NoCopy: true}})
			if isNew {
				fresh = append(fresh, c)
			}
		}
		if len(o.Secrets) > 0 {
			dir, err := os.MkdirTemp("", "obuilder-secrets-")
			if err != nil {
				return "", fmt.Errorf("making a directory for the secrets: %w", err)
			}
			defer os.RemoveAll(dir)
			for i, s := range o.Secrets {
				// The directory keeps other local users out; inside the
				// container the step's user, whoever it is, must read it.
				file := filepath.Join(dir, strconv.Itoa(i))
				if err := os.WriteFile(file, []byte(b.secrets[s.ID]), 0o444); err != nil {
					return "", fmt.Errorf("writing secret %q for the container: %w", s.ID, err)
				}
				mounts = append(mounts, mount.Mount{Type: mount.TypeBind, Source: file, Target: s.Target, ReadOnly: true})
			}
		}
		network := container.NetworkMode("none")
		if o.Network == "host" {
			network = "host"
		}
		cfg := b.containerConfig(st, key, o.Shell)
		cfg.NetworkDisabled = network == "none"
		created, err := b.r.cli.ContainerCreate(ctx, client.ContainerCreateOptions{
			Name:       name,
			Config:     cfg,
			HostConfig: &container.HostConfig{NetworkMode: network, Mounts: mounts},
		})
		if err != nil {
			return "", fmt.Errorf("creating the container: %w", err)
		}
		b.r.containers.Add(1)
		id := created.ID
		if st.user.UID != 0 || st.user.GID != 0 {
			for _, c := range fresh {
				if err := b.chownCache(ctx, id, c.Target, st.user); err != nil {
					return "", err
				}
			}
		}
		return id, b.runContainer(ctx, id)
	})
}

// chownCache gives a new cache to the step's user, as OBuilder does, so
// that a build running as a user can fill the cache it asked for. Copying
// a directory entry into the stopped container reaches the mounted volume.
func (b *builder) chownCache(ctx context.Context, id, target string, u User) error {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: strings.TrimPrefix(path.Clean(target), "/") + "/",
		Mode: 0o755, Uid: int(u.UID), Gid: int(u.GID), ModTime: time.Unix(0, 0), Format: tar.FormatPAX})
	tw.Close()
	if _, err := b.r.cli.CopyToContainer(ctx, id, client.CopyToContainerOptions{DestinationPath: "/", Content: &buf}); err != nil {
		return fmt.Errorf("giving cache %s to user %d:%d: %w", target, u.UID, u.GID, err)
	}
	return nil
}

// runContainer starts a created container, streams its output to the log
// while it runs, and waits for it to exit successfully. When ctx ends it
// returns at once; the caller's removal kills the container.
func (b *builder) runContainer(ctx context.Context, id string) error {
	att, err := b.r.cli.ContainerAttach(ctx, id, client.ContainerAttachOptions{Stream: true, Stdout: true, Stderr: true})
	if err != nil {
		return fmt.Errorf("attaching to the container: %w", err)
	}
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		stdcopy.StdCopy(b.log, b.log, att.Reader) //nolint:errcheck // the stream ends with the container or with att.Close
	}()
	finished := false
	defer func() {
		if !finished {
			att.Close()
			<-copied
		}
	}()
	if _, err := b.r.cli.ContainerStart(ctx, id, client.ContainerStartOptions{}); err != nil {
		return fmt.Errorf("starting the container: %w", err)
	}
	wait := b.r.cli.ContainerWait(ctx, id, client.ContainerWaitOptions{Condition: container.WaitConditionNotRunning})
	var code int64
	select {
	case res := <-wait.Result:
		if res.Error != nil && res.Error.Message != "" {
			return fmt.Errorf("waiting for the container: %s", res.Error.Message)
		}
		code = res.StatusCode
	case err := <-wait.Error:
		return fmt.Errorf("waiting for the container: %w", err)
	}
	// The attach stream ends once the daemon has sent all the output.
	select {
	case <-copied:
	case <-ctx.Done():
		return ctx.Err()
	}
	finished = true
	att.Close()
	b.log.flush()
	if code != 0 {
		return fmt.Errorf("the command exited with exit code %d", code)
	}
	return nil
}

// copyDest resolves a copy's destination, and whether it names a
// directory to copy into (a trailing slash, or ".").
func copyDest(st *state, o *Copy) (string, bool, error) {
	dir := strings.HasSuffix(o.Dst, "/") || path.Base(o.Dst) == "."
	if len(o.Src) > 1 && !dir {
		return "", false, fmt.Errorf("copying several sources needs a destination ending in /, such as (dst %s/)", quoteAtom(o.Dst))
	}
	return resolve(st.workdir, o.Dst), dir, nil
}

// excluded says whether an entry is left out: its name, or its path from
// the root of the copy, matches a pattern.
func excluded(patterns []string, rel string) bool {
	base := path.Base(rel)
	for _, p := range patterns {
		if ok, _ := path.Match(p, base); ok {
			return true
		}
		if ok, _ := path.Match(p, rel); ok {
			return true
		}
	}
	return false
}

// newCopyContainer creates the container a copy is committed from. It is
// never started.
func (b *builder) newCopyContainer(ctx context.Context, st *state, key, name, header string) (string, error) {
	cfg := b.containerConfig(st, key, "# "+header)
	cfg.NetworkDisabled = true
	created, err := b.r.cli.ContainerCreate(ctx, client.ContainerCreateOptions{
		Name: name, Config: cfg, HostConfig: &container.HostConfig{NetworkMode: "none"},
	})
	if err != nil {
		return "", fmt.Errorf("creating the container: %w", err)
	}
	b.r.containers.Add(1)
	return created.ID, nil
}

// missingDir says whether dir is absent from the container, in which case
// the copy creates it owned by the step's user rather than leaving Docker
// to create it owned by root.
func (b *builder) missingDir(ctx context.Context, id, dir string) (bool, error) {
	_, err := b.r.cli.ContainerStatPath(ctx, id, client.ContainerStatPathOptions{Path: dir})
	if cerrdefs.IsNotFound(err) {
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("looking for %s in the image: %w", dir, err)
	}
	return false, nil
}

var errCopyEnded = errors.New("the copy into the container ended early")

// copyInto streams the tar that write produces into the container's root.
func (b *builder) copyInto(ctx context.Context, id string, write func(tw *tar.Writer) error) error {
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		tw := tar.NewWriter(pw)
		err := write(tw)
		if err == nil {
			err = tw.Close()
		}
		pw.CloseWithError(err)
		done <- err
	}()
	_, err := b.r.cli.CopyToContainer(ctx, id, client.CopyToContainerOptions{DestinationPath: "/", Content: pr})
	pr.CloseWithError(errCopyEnded)
	if werr := <-done; werr != nil && !errors.Is(werr, errCopyEnded) {
		return werr
	}
	if err != nil {
		return fmt.Errorf("copying into the container: %w", err)
	}
	return nil
}
