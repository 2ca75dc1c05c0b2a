package obuilder

import (
	"archive/tar"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/client"
)

// epoch is the modification time of files copied from a context: their
// checkout time says nothing about them, and a fixed time keeps the layer
// the same for the same files.
var epoch = time.Unix(0, 0)

// copyItem is one file, directory or symbolic link a copy puts in the
// image.
type copyItem struct {
	rel  string // path inside the build context
	dst  string // absolute path in the image
	mode fs.FileMode
	size int64
	link string
	sum  string
}

func (it copyItem) kind() string {
	switch {
	case it.mode.IsDir():
		return "d"
	case it.mode&fs.ModeSymlink != 0:
		return "l"
	}
	return "f"
}

func (b *builder) copyFromContext(ctx context.Context, st *state, o *Copy, header string) error {
	dst, dstDir, err := copyDest(st, o)
	if err != nil {
		return err
	}
	if b.ctxDir == "" {
		return fmt.Errorf("the job has no build context to copy %s from", strings.Join(o.Src, " "))
	}
	root, err := os.OpenRoot(b.ctxDir)
	if err != nil {
		return fmt.Errorf("opening the build context: %w", err)
	}
	defer root.Close()
	items, intoDir, err := planContextCopy(ctx, root, o, dst, dstDir)
	if err != nil {
		return err
	}
	// The key holds what lands in the image, so a change to an excluded
	// file, or to a file outside the sources, reuses the cached result.
	k := newKey("copy-context", st.key).str(st.userSpec()).str(dst).str(strconv.FormatBool(intoDir))
	k.str(strconv.Itoa(len(items)))
	for _, it := range items {
		k.str(it.kind()).str(it.dst).str(strconv.FormatUint(uint64(it.mode.Perm()), 8)).str(it.link).str(it.sum)
	}
	key := k.sum()
	if b.r.isRsync() {
		return b.rsyncStep(ctx, st, key, header, func(ctx context.Context, bundle string) error {
			return b.rsyncCopy(bundle, dst, intoDir, st.user, func(tw *tar.Writer) error {
				for _, it := range items {
					if err := writeContextItem(root, tw, it, st.user); err != nil {
						return err
					}
				}
				return nil
			})
		})
	}
	return b.step(ctx, st, key, header, func(ctx context.Context, name string) (string, error) {
		return b.copyStep(ctx, st, key, name, header, dst, intoDir, func(tw *tar.Writer) error {
			for _, it := range items {
				if err := writeContextItem(root, tw, it, st.user); err != nil {
					return err
				}
			}
			return nil
		})
	})
}

func dirHeader(p string, mode int64, u User) *tar.Header {
	return &tar.Header{Typeflag: tar.TypeDir, Name: strings.TrimPrefix(p, "/") + "/", Mode: mode,
		Uid: int(u.UID), Gid: int(u.GID), ModTime: epoch, Format: tar.FormatPAX}
}

// planContextCopy lists what a copy from the context puts where, with the
// contents' hashes. intoDir reports that dst is a directory the items go
// into. os.Root keeps every access inside the context, whatever its
// symbolic links point at.
func planContextCopy(ctx context.Context, root *os.Root, o *Copy, dst string, dstDir bool) (items []copyItem, intoDir bool, err error) {
	intoDir = dstDir
	for _, src := range o.Src {
		rel := path.Clean(src)
		if path.IsAbs(rel) || rel == ".." || strings.HasPrefix(rel, "../") {
			return nil, false, fmt.Errorf("copy source %q must be a relative path inside the build context", src)
		}
		if rel != "." && excluded(o.Exclude, path.Base(rel)) {
			continue
		}
		fi, err := root.Lstat(rel)
		if errors.Is(err, fs.ErrNotExist) {
			return nil, false, fmt.Errorf("copy source %q is not in the build context", src)
		}
		if err != nil {
			return nil, false, fmt.Errorf("copy source %q: %w", src, err)
		}
		if fi.IsDir() {
			intoDir = true
			if items, err = walkContext(ctx, root, rel, "", dst, o.Exclude, items); err != nil {
				return nil, false, err
			}
			continue
		}
		target := dst
		if dstDir {
			target = path.Join(dst, path.Base(rel))
		}
		it, err := contextItem(root, rel, target, fi)
		if err != nil {
			return nil, false, err
		}
		items = append(items, it)
	}
	return items, intoDir, nil
}

// walkContext adds the contents of directory rel (at inSrc below the copy's
// source) to items, in name order so that the key does not depend on the
// order the file system lists them in.
func walkContext(ctx context.Context, root *os.Root, rel, inSrc, dst string, exclude []string, items []copyItem) ([]copyItem, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	f, err := root.Open(rel)
	if err != nil {
		return nil, fmt.Errorf("reading the build context: %w", err)
	}
	ents, err := f.ReadDir(-1)
	f.Close()
	if err != nil {
		return nil, fmt.Errorf("reading the build context: %w", err)
	}
	slices.SortFunc(ents, func(a, b fs.DirEntry) int { return cmp.Compare(a.Name(), b.Name()) })
	for _, e := range ents {
		crel, cin, cdst := path.Join(rel, e.Name()), path.Join(inSrc, e.Name()), path.Join(dst, e.Name())
		if excluded(exclude, cin) {
			continue
		}
		fi, err := e.Info()
		if err != nil {
			return nil, fmt.Errorf("reading the build context: %w", err)
		}
		if fi.IsDir() {
			items = append(items, copyItem{rel: crel, dst: cdst, mode: fi.Mode()})
			if items, err = walkContext(ctx, root, crel, cin, cdst, exclude, items); err != nil {
				return nil, err
			}
			continue
		}
		it, err := contextItem(root, crel, cdst, fi)
		if err != nil {
			return nil, err
		}
		items = append(items, it)
	}
	return items, nil
}

func contextItem(root *os.Root, rel, dst string, fi fs.FileInfo) (copyItem, error) {
	it := copyItem{rel: rel, dst: dst, mode: fi.Mode()}
	switch {
	case fi.Mode().IsRegular():
		f, err := root.Open(rel)
		if err != nil {
			return it, fmt.Errorf("reading the build context: %w", err)
		}
		defer f.Close()
		h := sha256.New()
		n, err := io.Copy(h, f)
		if err != nil {
			return it, fmt.Errorf("reading %s in the build context: %w", rel, err)
		}
		it.size, it.sum = n, hex.EncodeToString(h.Sum(nil))
	case fi.Mode()&fs.ModeSymlink != 0:
		link, err := root.Readlink(rel)
		if err != nil {
			return it, fmt.Errorf("reading the build context: %w", err)
		}
		it.link = link
	default:
		return it, fmt.Errorf("%s in the build context is a %s: only files, directories and symbolic links can be copied", rel, fi.Mode().Type())
	}
	return it, nil
}

func writeContextItem(root *os.Root, tw *tar.Writer, it copyItem, u User) error {
	hdr := &tar.Header{Name: strings.TrimPrefix(it.dst, "/"), Mode: int64(it.mode.Perm()),
		Uid: int(u.UID), Gid: int(u.GID), ModTime: epoch, Format: tar.FormatPAX}
	switch it.kind() {
	case "d":
		return tw.WriteHeader(dirHeader(it.dst, int64(it.mode.Perm()), u))
	case "l":
		hdr.Typeflag, hdr.Linkname = tar.TypeSymlink, it.link
		return tw.WriteHeader(hdr)
	}
	hdr.Typeflag, hdr.Size = tar.TypeReg, it.size
	if err := tw.WriteHeader(hdr); err != nil {
		return err
	}
	f, err := root.Open(it.rel)
	if err != nil {
		return fmt.Errorf("reading the build context: %w", err)
	}
	defer f.Close()
	if _, err := io.CopyN(tw, f, it.size); err != nil {
		return fmt.Errorf("copying %s from the build context (did it change during the build?): %w", it.rel, err)
	}
	return nil
}

func (b *builder) copyFromStage(ctx context.Context, st *state, o *Copy, stage result, header string) error {
	dst, dstDir, err := copyDest(st, o)
	if err != nil {
		return err
	}
	var srcs []string
	for _, s := range o.Src {
		p := resolve(stage.workdir, s)
		if p == "/" {
			return fmt.Errorf("copy source %q: copying a build stage's whole file system is not supported; name the directories to copy", s)
		}
		srcs = append(srcs, p)
	}
	// The stage's key stands for its contents: the same key, the same files.
	key := newKey("copy-build", st.key).str(stage.key).strs(srcs).str(dst).str(strconv.FormatBool(dstDir)).
		strs(o.Exclude).str(st.userSpec()).sum()
	if b.r.isRsync() {
		return b.rsyncStep(ctx, st, key, header, func(ctx context.Context, bundle string) error {
			return b.rsyncCopyFromStage(bundle, st, o, stage, srcs, dst, dstDir)
		})
	}
	return b.step(ctx, st, key, header, func(ctx context.Context, name string) (string, error) {
		srcName := name + "-src"
		defer b.r.removeContainer(ctx, srcName)
		from := &state{result: stage, shell: st.shell}
		srcID, err := b.newCopyContainer(ctx, from, key, srcName, header)
		if err != nil {
			return "", err
		}
		dirs := make([]bool, len(srcs))
		intoDir := dstDir
		for i, p := range srcs {
			stat, err := b.r.cli.ContainerStatPath(ctx, srcID, client.ContainerStatPathOptions{Path: p})
			if cerrdefs.IsNotFound(err) {
				return "", fmt.Errorf("copy source %q is not in the result of build stage %q", p, o.From)
			}
			if err != nil {
				return "", fmt.Errorf("copy source %q in build stage %q: %w", p, o.From, err)
			}
			dirs[i] = stat.Stat.Mode.IsDir()
			intoDir = intoDir || dirs[i]
		}
		return b.copyStep(ctx, st, key, name, header, dst, intoDir, func(tw *tar.Writer) error {
			for i, p := range srcs {
				target := dst
				if !dirs[i] && dstDir {
					target = path.Join(dst, path.Base(p))
				}
				res, err := b.r.cli.CopyFromContainer(ctx, srcID, client.CopyFromContainerOptions{SourcePath: p})
				if err != nil {
					return fmt.Errorf("reading %s from build stage %q: %w", p, o.From, err)
				}
				err = rebaseStageTar(tar.NewReader(res.Content), tw, p, dirs[i], target, o.Exclude, st.user)
				res.Content.Close()
				if err != nil {
					return fmt.Errorf("copying %s from build stage %q: %w", p, o.From, err)
				}
			}
			return nil
		})
	})
}

// rebaseStageTar moves the entries of Docker's archive of src (named from
// src's base name down) to target, leaving out excluded entries and giving
// everything to the step's user. A directory's contents go into target; a
// file becomes target.
func rebaseStageTar(tr *tar.Reader, tw *tar.Writer, src string, dir bool, target string, exclude []string, u User) error {
	base := path.Base(src)
	relOf := func(name string) (string, bool) {
		name = strings.TrimSuffix(strings.TrimPrefix(name, "./"), "/")
		switch {
		case name == base:
			return "", true
		case strings.HasPrefix(name, base+"/"):
			return name[len(base)+1:], true
		}
		return "", false
	}
	var skipped []string
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		rel, ok := relOf(hdr.Name)
		if !ok {
			return fmt.Errorf("unexpected entry %q in Docker's archive", hdr.Name)
		}
		out := target
		if dir {
			if rel == "" {
				continue
			}
			if slices.ContainsFunc(skipped, func(p string) bool { return strings.HasPrefix(rel, p) }) {
				continue
			}
			if excluded(exclude, rel) {
				skipped = append(skipped, rel+"/")
				continue
			}
			out = path.Join(target, rel)
		}
		nh := &tar.Header{
			Typeflag: hdr.Typeflag, Name: strings.TrimPrefix(out, "/"), Linkname: hdr.Linkname, Size: hdr.Size,
			Mode: hdr.Mode & 0o7777, ModTime: hdr.ModTime, Uid: int(u.UID), Gid: int(u.GID),
			Devmajor: hdr.Devmajor, Devminor: hdr.Devminor, Format: tar.FormatPAX,
		}
		if hdr.Typeflag == tar.TypeDir {
			nh.Name += "/"
		}
		if hdr.Typeflag == tar.TypeLink {
			lrel, ok := relOf(hdr.Linkname)
			if !ok {
				return fmt.Errorf("hard link %q points outside the copied directory", hdr.Name)
			}
			nh.Linkname = strings.TrimPrefix(path.Join(target, lrel), "/")
		}
		if err := tw.WriteHeader(nh); err != nil {
			return err
		}
		if hdr.Typeflag == tar.TypeReg {
			if _, err := io.Copy(tw, tr); err != nil {
				return err
			}
		}
	}
}

// copyStep makes the container of a copy step and streams into it what
// write produces; when the copy goes into the directory dst and the image
// lacks it, dst comes first, owned by the step's user rather than by root.
func (b *builder) copyStep(ctx context.Context, st *state, key, name, header, dst string, intoDir bool, write func(tw *tar.Writer) error) (string, error) {
	id, err := b.newCopyContainer(ctx, st, key, name, header)
	if err != nil {
		return "", err
	}
	makeDst := false
	if intoDir {
		if makeDst, err = b.missingDir(ctx, id, dst); err != nil {
			return "", err
		}
	}
	return id, b.copyInto(ctx, id, func(tw *tar.Writer) error {
		if makeDst {
			if err := tw.WriteHeader(dirHeader(dst, 0o755, st.user)); err != nil {
				return err
			}
		}
		return write(tw)
	})
}
