package obuilder

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
)

// The rsync: store keeps each step's result as a directory:
//
//	PATH/result/KEY/rootfs     a finished step's file system
//	PATH/result-tmp/KEY-RAND/  a step being built: its rootfs and config.json
//	PATH/cache/NAME            cache mounts, one directory per cache id
//
// A step starts from a copy of its parent's rootfs (rsync -a, or with
// --rsync-mode hardlink, rsync --link-dest, which links unchanged files to
// the parent's), runs in it with runc or receives its copied files, and is
// renamed into result/ only when it succeeded: a result directory is
// always complete, and a failed or cancelled step leaves nothing. Base
// images come from the Docker engine, exported once into result/.

// Rsync modes, as OBuilder's --rsync-mode.
const (
	RsyncCopy     = "copy"
	RsyncHardlink = "hardlink"
)

func (r *Runner) isRsync() bool { return r.store.Kind == "rsync" }

func (r *Runner) resultDir(key string) string { return filepath.Join(r.store.Path, "result", key) }

func (r *Runner) rootfs(key string) string { return filepath.Join(r.resultDir(key), "rootfs") }

func (r *Runner) tmpRoot() string { return filepath.Join(r.store.Path, "result-tmp") }

func (r *Runner) cacheRoot() string { return filepath.Join(r.store.Path, "cache") }

func (r *Runner) initRsyncStore() error {
	for _, d := range []string{filepath.Dir(r.resultDir("x")), r.tmpRoot(), r.cacheRoot()} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return fmt.Errorf("creating the obuilder store: %w", err)
		}
	}
	return nil
}

func exists(p string) (bool, error) {
	_, err := os.Lstat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	return err == nil, err
}

// newTmp makes a directory for a step being built.
func (r *Runner) newTmp(key string) (string, error) {
	var n [4]byte
	rand.Read(n[:])
	dir := filepath.Join(r.tmpRoot(), key[:16]+"-"+hex.EncodeToString(n[:]))
	if err := os.Mkdir(dir, 0o700); err != nil {
		return "", fmt.Errorf("making the step's directory: %w", err)
	}
	return dir, nil
}

// rsyncBase makes sure the base image's file system is in the store
// under key, exporting it from the Docker engine the first time.
func (b *builder) rsyncBase(ctx context.Context, imageID, key, from string) error {
	unlock, err := b.r.locks.lock(ctx, key)
	if err != nil {
		return err
	}
	defer unlock()
	if ok, err := exists(b.r.resultDir(key)); err != nil || ok {
		return err
	}
	b.log.note("---> exporting %s from Docker into the store", from)
	tmp, err := b.r.newTmp(key)
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	name := containerName(key)
	defer b.r.removeContainer(ctx, name)
	created, err := b.r.cli.ContainerCreate(ctx, client.ContainerCreateOptions{Name: name,
		Config: &container.Config{Image: imageID, Cmd: []string{"# export"}, Entrypoint: []string{""},
			Labels: b.r.labelsFor(map[string]string{labelKey: key, labelStep: "1", labelStore: b.r.store.Path})},
		HostConfig: &container.HostConfig{NetworkMode: "none"}})
	if err != nil {
		return fmt.Errorf("creating a container to export %s: %w", from, err)
	}
	b.r.containers.Add(1)
	exp, err := b.r.cli.ContainerExport(ctx, created.ID, client.ContainerExportOptions{})
	if err != nil {
		return fmt.Errorf("exporting %s: %w", from, err)
	}
	defer exp.Close()
	rootfs := filepath.Join(tmp, "rootfs")
	if err := os.Mkdir(rootfs, 0o755); err != nil {
		return err
	}
	var errb bytes.Buffer
	untar := exec.CommandContext(ctx, "tar", "-x", "-p", "--numeric-owner", "-C", rootfs)
	untar.Stdin, untar.Stderr = exp, &errb
	if err := untar.Run(); err != nil {
		return fmt.Errorf("unpacking %s into the store: %w: %s", from, err, tail(strings.TrimSpace(errb.String()), 500))
	}
	if err := os.Rename(tmp, b.r.resultDir(key)); err != nil {
		return fmt.Errorf("saving %s in the store: %w", from, err)
	}
	return nil
}

// rsyncStep gives st the result stored under key, or makes it: the
// parent's rootfs is copied into a new directory where build runs, and
// the directory becomes the result if build succeeds.
func (b *builder) rsyncStep(ctx context.Context, st *state, key, header string, build func(ctx context.Context, bundle string) error) error {
	unlock, err := b.r.locks.lock(ctx, key)
	if err != nil {
		return err
	}
	defer unlock()
	dir := b.r.resultDir(key)
	if !b.ephemeral {
		ok, err := exists(dir)
		if err != nil {
			return fmt.Errorf("looking up the cached result %s: %w", dir, err)
		}
		if ok {
			b.r.hits.Add(1)
			b.r.index.use(entry{Key: key, Image: dir, Parent: st.key, Depth: st.depth + 1, Step: header, Created: b.now, LastUsed: b.now})
			b.log.note("---> using %q from cache", key)
			st.image, st.key, st.depth = dir, key, st.depth+1
			return nil
		}
		b.r.misses.Add(1)
	}
	tmp, err := b.r.newTmp(key)
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp) // nothing left once renamed
	if err := b.r.copyRootfs(ctx, st.key, filepath.Join(tmp, "rootfs")); err != nil {
		return err
	}
	if err := build(ctx, tmp); err != nil {
		return err
	}
	for _, f := range bundleFiles {
		if err := os.Remove(filepath.Join(tmp, f)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	if b.ephemeral {
		return nil
	}
	if err := os.Rename(tmp, dir); err != nil {
		return fmt.Errorf("saving the result: %w", err)
	}
	b.r.index.add(entry{Key: key, Image: dir, Parent: st.key, Depth: st.depth + 1, Step: header, Created: b.now, LastUsed: b.now})
	b.log.note("---> saved as %q", key)
	st.image, st.key, st.depth = dir, key, st.depth+1
	return nil
}

// copyRootfs copies the rootfs of the result under parent to dst, or
// links its files there in hardlink mode.
func (r *Runner) copyRootfs(ctx context.Context, parent, dst string) error {
	src := r.rootfs(parent) + "/"
	args := []string{"-aH", "--numeric-ids"}
	if r.rsyncMode == RsyncHardlink {
		args = append(args, "--link-dest="+src)
	}
	args = append(args, src, dst+"/")
	var errb bytes.Buffer
	cmd := exec.CommandContext(ctx, "rsync", args...)
	cmd.Stderr = &errb
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("copying the parent step's file system (rsync %s): %w: %s", strings.Join(args, " "), err, tail(strings.TrimSpace(errb.String()), 500))
	}
	return nil
}

// rsyncRun runs a run step in bundle with runc.
func (b *builder) rsyncRun(ctx context.Context, st *state, o *Run, key, bundle string) error {
	s := sandboxStep{Args: append(append([]string{}, st.shell...), o.Shell), Env: st.env, Cwd: st.workdir,
		User: st.user, Network: o.Network == "host", Hosts: filepath.Join(bundle, "hosts")}
	if err := os.WriteFile(s.Hosts, []byte(hostsFile), 0o644); err != nil {
		return fmt.Errorf("writing the step's /etc/hosts: %w", err)
	}
	for _, c := range o.Caches {
		dir, err := b.r.cacheDir(c.ID, st.user)
		if err != nil {
			return err
		}
		s.Binds = append(s.Binds, bindMount{Source: dir, Target: c.Target})
	}
	if len(o.Secrets) > 0 {
		dir, err := os.MkdirTemp("", "obuilder-secrets-")
		if err != nil {
			return fmt.Errorf("making a directory for the secrets: %w", err)
		}
		defer os.RemoveAll(dir)
		for i, sec := range o.Secrets {
			file := filepath.Join(dir, strconv.Itoa(i))
			if err := os.WriteFile(file, []byte(b.secrets[sec.ID]), 0o444); err != nil {
				return fmt.Errorf("writing secret %q for the sandbox: %w", sec.ID, err)
			}
			s.Binds = append(s.Binds, bindMount{Source: file, Target: sec.Target, ReadOnly: true})
		}
	}
	if err := writeBundle(bundle, ociConfig(s)); err != nil {
		return fmt.Errorf("writing the step's runc configuration: %w", err)
	}
	b.r.containers.Add(1)
	err := b.r.sandbox.run(ctx, bundle, b.r.runcID(key), b.log)
	b.log.flush()
	return err
}

// runcID names a step's runc container: the store's prefix, the key, and
// a random part, as two builds may make the same step.
func (r *Runner) runcID(key string) string {
	var n [4]byte
	rand.Read(n[:])
	return r.runcPrefix() + key[:16] + "-" + hex.EncodeToString(n[:])
}

func (r *Runner) runcPrefix() string { return "obuilder-" + r.storeID + "-" }

// cacheDir is the directory of cache id, made for the step's user when new,
// as OBuilder does.
func (r *Runner) cacheDir(id string, u User) (string, error) {
	dir := filepath.Join(r.cacheRoot(), cacheDirName(id))
	err := os.Mkdir(dir, 0o755)
	switch {
	case errors.Is(err, fs.ErrExist):
		return dir, nil
	case err != nil:
		return "", fmt.Errorf("creating cache %q: %w", id, err)
	}
	if err := os.Chown(dir, int(u.UID), int(u.GID)); err != nil {
		return "", fmt.Errorf("giving cache %q to user %d:%d: %w", id, u.UID, u.GID, err)
	}
	return dir, nil
}

func cacheDirName(id string) string {
	safe := volumeUnsafe.ReplaceAllString(id, "_")
	if len(safe) > 40 {
		safe = safe[:40]
	}
	sum := sha256.Sum256([]byte(id))
	return hex.EncodeToString(sum[:4]) + "-" + safe
}

// rsyncCopy puts what write produces (a tar stream) into the rootfs of
// bundle; when the copy goes into the directory dst and the rootfs lacks
// it, dst comes first, owned by the step's user.
func (b *builder) rsyncCopy(bundle, dst string, intoDir bool, u User, write func(tw *tar.Writer) error) error {
	root, err := os.OpenRoot(filepath.Join(bundle, "rootfs"))
	if err != nil {
		return err
	}
	defer root.Close()
	rel := strings.TrimPrefix(path.Clean(dst), "/")
	makeDst := false
	if intoDir && rel != "" {
		if _, err := root.Stat(rel); errors.Is(err, fs.ErrNotExist) {
			makeDst = true
		}
	}
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		tw := tar.NewWriter(pw)
		err := func() error {
			if makeDst {
				if err := tw.WriteHeader(dirHeader(dst, 0o755, u)); err != nil {
					return err
				}
			}
			if err := write(tw); err != nil {
				return err
			}
			return tw.Close()
		}()
		pw.CloseWithError(err)
		done <- err
	}()
	err = extractTar(root, tar.NewReader(pr))
	pr.CloseWithError(errCopyEnded)
	if werr := <-done; werr != nil && !errors.Is(werr, errCopyEnded) {
		return werr
	}
	if err != nil {
		return fmt.Errorf("copying into the step's file system: %w", err)
	}
	return nil
}

// extractTar writes a tar stream's entries into root, replacing what is
// there except directories, which keep their contents. os.Root keeps every
// write inside the rootfs, whatever its symbolic links point at.
func extractTar(root *os.Root, tr *tar.Reader) error {
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		name := strings.TrimPrefix(path.Clean("/"+hdr.Name), "/")
		if name == "" {
			continue
		}
		if d := path.Dir(name); d != "." {
			if err := root.MkdirAll(d, 0o755); err != nil {
				return err
			}
		}
		mode := fs.FileMode(hdr.Mode) & fs.ModePerm
		fi, lerr := root.Lstat(name)
		if lerr == nil && !(hdr.Typeflag == tar.TypeDir && fi.IsDir()) {
			if err := root.RemoveAll(name); err != nil {
				return err
			}
		}
		switch hdr.Typeflag {
		case tar.TypeDir:
			if lerr != nil || !fi.IsDir() {
				if err := root.Mkdir(name, mode); err != nil {
					return err
				}
			}
		case tar.TypeReg:
			f, err := root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, mode)
			if err != nil {
				return err
			}
			_, err = io.Copy(f, tr)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return err
			}
		case tar.TypeSymlink:
			if err := root.Symlink(hdr.Linkname, name); err != nil {
				return err
			}
		case tar.TypeLink:
			if err := root.Link(strings.TrimPrefix(path.Clean("/"+hdr.Linkname), "/"), name); err != nil {
				return err
			}
			continue
		default:
			continue // devices and pipes are not copied
		}
		if err := root.Lchown(name, hdr.Uid, hdr.Gid); err != nil {
			return err
		}
		if hdr.Typeflag != tar.TypeSymlink {
			if err := root.Chmod(name, mode|specialBits(hdr.Mode)); err != nil {
				return err
			}
			if err := root.Chtimes(name, hdr.ModTime, hdr.ModTime); err != nil {
				return err
			}
		}
	}
}

// stageTar writes p of a stage's rootfs as Docker's archive of it does:
// entries named from p's base name down.
func stageTar(root *os.Root, p string, tw *tar.Writer) error {
	rel := strings.TrimPrefix(p, "/")
	base := path.Base(p)
	return fs.WalkDir(root.FS(), rel, func(name string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		hdr, err := tar.FileInfoHeader(fi, "")
		if err != nil {
			return err
		}
		hdr.Name = base + strings.TrimPrefix(name, rel)
		hdr.Uname, hdr.Gname = "", ""
		if fi.Mode()&fs.ModeSymlink != 0 {
			if hdr.Linkname, err = root.Readlink(name); err != nil {
				return err
			}
		}
		switch hdr.Typeflag {
		case tar.TypeReg, tar.TypeDir, tar.TypeSymlink:
		default:
			return nil
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if hdr.Typeflag == tar.TypeReg {
			f, err := root.Open(name)
			if err != nil {
				return err
			}
			defer f.Close()
			if _, err := io.CopyN(tw, f, hdr.Size); err != nil {
				return err
			}
		}
		return nil
	})
}

func specialBits(m int64) fs.FileMode {
	var b fs.FileMode
	if m&0o4000 != 0 {
		b |= fs.ModeSetuid
	}
	if m&0o2000 != 0 {
		b |= fs.ModeSetgid
	}
	if m&0o1000 != 0 {
		b |= fs.ModeSticky
	}
	return b
}

// removeResult removes a step's result, first moving it out of result/ so
// that a half-removed result is never taken for a whole one.
func (r *Runner) removeResult(key string) error {
	dir := r.resultDir(key)
	if ok, err := exists(dir); err != nil || !ok {
		return err
	}
	var n [4]byte
	rand.Read(n[:])
	gone := filepath.Join(r.tmpRoot(), key[:16]+"-removed-"+hex.EncodeToString(n[:]))
	if err := os.Rename(dir, gone); err != nil {
		return err
	}
	return os.RemoveAll(gone)
}

// pruneCacheDirs removes the store's caches; the worker prunes with no job
// running, so none is in use.
func (r *Runner) pruneCacheDirs(log io.Writer) int {
	entries, err := os.ReadDir(r.cacheRoot())
	if err != nil {
		fmt.Fprintf(log, "listing caches: %v\n", err)
		return 0
	}
	n := 0
	for _, e := range entries {
		if err := os.RemoveAll(filepath.Join(r.cacheRoot(), e.Name())); err != nil {
			fmt.Fprintf(log, "could not remove cache %s: %v\n", e.Name(), err)
			continue
		}
		n++
		fmt.Fprintf(log, "removed cache %s\n", e.Name())
	}
	return n
}

// removeRsyncLeftovers removes the runc containers of this store and the
// unfinished steps that a worker killed mid-build left behind.
func (r *Runner) removeRsyncLeftovers(ctx context.Context) {
	list, err := r.sandbox.list(ctx)
	if err != nil {
		r.logger.Warn("listing leftover obuilder runc containers", "err", err)
	}
	for _, c := range list {
		if strings.HasPrefix(c.ID, r.runcPrefix()) {
			r.sandbox.delete(c.ID)
			r.logger.Info("removed an obuilder runc container left by an earlier run", "container", c.ID)
		}
	}
	entries, err := os.ReadDir(r.tmpRoot())
	if err != nil {
		r.logger.Warn("listing leftover obuilder steps", "err", err)
		return
	}
	for _, e := range entries {
		if err := os.RemoveAll(filepath.Join(r.tmpRoot(), e.Name())); err != nil {
			r.logger.Warn("removing a leftover obuilder step", "dir", e.Name(), "err", err)
		}
	}
	if len(entries) > 0 {
		r.logger.Info("removed unfinished obuilder steps left by an earlier run", "store", r.store.Path, "steps", len(entries))
	}
}

// rsyncCopyFromStage copies srcs from a build stage's result into the
// rootfs of bundle.
func (b *builder) rsyncCopyFromStage(bundle string, st *state, o *Copy, stage result, srcs []string, dst string, dstDir bool) error {
	from, err := os.OpenRoot(b.r.rootfs(stage.key))
	if err != nil {
		return fmt.Errorf("opening the result of build stage %q: %w", o.From, err)
	}
	defer from.Close()
	dirs := make([]bool, len(srcs))
	intoDir := dstDir
	for i, p := range srcs {
		fi, err := from.Stat(strings.TrimPrefix(p, "/"))
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("copy source %q is not in the result of build stage %q", p, o.From)
		}
		if err != nil {
			return fmt.Errorf("copy source %q in build stage %q: %w", p, o.From, err)
		}
		dirs[i] = fi.IsDir()
		intoDir = intoDir || dirs[i]
	}
	return b.rsyncCopy(bundle, dst, intoDir, st.user, func(tw *tar.Writer) error {
		for i, p := range srcs {
			target := dst
			if !dirs[i] && dstDir {
				target = path.Join(dst, path.Base(p))
			}
			pr, pw := io.Pipe()
			go func() {
				stw := tar.NewWriter(pw)
				err := stageTar(from, p, stw)
				if err == nil {
					err = stw.Close()
				}
				pw.CloseWithError(err)
			}()
			err := rebaseStageTar(tar.NewReader(pr), tw, p, dirs[i], target, o.Exclude, st.user)
			pr.CloseWithError(errCopyEnded)
			if err != nil {
				return fmt.Errorf("copying %s from build stage %q: %w", p, o.From, err)
			}
		}
		return nil
	})
}
