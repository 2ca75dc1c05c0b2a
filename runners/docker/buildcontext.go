package docker

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
)

// buildContext is what goes into the tar the engine builds from.
type buildContext struct {
	dir      string   // "" for a job without a git context
	excludes []string // .dockerignore patterns, .git, and the files always kept
	// inline, when set, is a Dockerfile given by contents, added to the
	// context under inlineName.
	inline     []byte
	inlineName string
}

// ignorePatterns reads the patterns excluding files from the context of
// dir, as the docker CLI does: <Dockerfile>.dockerignore next to the
// Dockerfile if there is one, else .dockerignore at the root. .git is
// excluded unless the job wants it. The Dockerfile and the ignore file
// are always sent (the engine reads them, and removes them itself when
// they are excluded).
func ignorePatterns(dir, dockerfile string, includeGit bool) ([]string, error) {
	var patterns []string
	candidates := []string{".dockerignore"}
	if dockerfile != "" {
		candidates = []string{dockerfile + ".dockerignore", ".dockerignore"}
	}
	for _, name := range candidates {
		f, err := os.Open(filepath.Join(dir, filepath.FromSlash(name)))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", name, err)
		}
		patterns, err = ignorefile.ReadAll(f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", name, err)
		}
		break
	}
	if !includeGit {
		patterns = append(patterns, ".git")
	}
	patterns = append(patterns, "!.dockerignore")
	if dockerfile != "" {
		patterns = append(patterns, "!"+dockerfile)
	}
	if _, err := patternmatcher.New(patterns); err != nil {
		return nil, fmt.Errorf("the .dockerignore file has a bad pattern: %w", err)
	}
	return patterns, nil
}

// writeTo writes the context as a tar stream. Files keep their modes and
// times but belong to root, as with the docker CLI; symbolic links are
// sent as links, never followed; sockets, pipes and devices are left out.
func (c *buildContext) writeTo(w io.Writer) error {
	tw := tar.NewWriter(w)
	if c.dir != "" {
		if err := c.walk(tw); err != nil {
			return err
		}
	}
	if c.inline != nil {
		hdr := &tar.Header{
			Typeflag: tar.TypeReg,
			Name:     c.inlineName,
			Mode:     0o644,
			Size:     int64(len(c.inline)),
			ModTime:  time.Unix(0, 0),
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if _, err := tw.Write(c.inline); err != nil {
			return err
		}
	}
	return tw.Close()
}

func (c *buildContext) walk(tw *tar.Writer) error {
	pm, err := patternmatcher.New(c.excludes)
	if err != nil {
		return err
	}
	// Each directory's match state, so that a file is matched against
	// the patterns once rather than once per ancestor.
	parents := map[string]patternmatcher.MatchInfo{}
	return filepath.WalkDir(c.dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("build context: %w", err)
		}
		rel, err := filepath.Rel(c.dir, p)
		if err != nil {
			return err
		}
		if rel == "." {
			return nil
		}
		rel = filepath.ToSlash(rel)
		parent := parents[pathDir(rel)]
		excluded, info, err := pm.MatchesUsingParentResults(rel, parent)
		if err != nil {
			return fmt.Errorf("matching .dockerignore against %s: %w", rel, err)
		}
		if d.IsDir() {
			parents[rel] = info
		}
		if excluded {
			if d.IsDir() && !reincludesBelow(pm, rel) {
				return filepath.SkipDir
			}
			return nil
		}
		return addFile(tw, p, rel, d)
	})
}

func pathDir(rel string) string {
	if i := strings.LastIndexByte(rel, '/'); i >= 0 {
		return rel[:i]
	}
	return "."
}

// reincludesBelow says whether an exception ("!dir/file") may bring back
// something under the excluded directory dir, in which case the walk must
// go into it. Like the docker CLI, only exceptions that spell out the
// directory as a prefix count.
func reincludesBelow(pm *patternmatcher.PatternMatcher, dir string) bool {
	if !pm.Exclusions() {
		return false
	}
	for _, pat := range pm.Patterns() {
		if pat.Exclusion() && strings.HasPrefix(pat.String()+"/", dir+"/") {
			return true
		}
	}
	return false
}

func addFile(tw *tar.Writer, p, rel string, d fs.DirEntry) error {
	info, err := d.Info()
	if err != nil {
		return fmt.Errorf("build context: %w", err)
	}
	mode := info.Mode()
	link := ""
	switch {
	case mode.IsRegular(), mode.IsDir():
	case mode&fs.ModeSymlink != 0:
		if link, err = os.Readlink(p); err != nil {
			return fmt.Errorf("build context: %w", err)
		}
	default:
		return nil
	}
	hdr, err := tar.FileInfoHeader(info, link)
	if err != nil {
		return fmt.Errorf("build context: %s: %w", rel, err)
	}
	hdr.Name = rel
	if mode.IsDir() {
		hdr.Name += "/"
	}
	hdr.Uid, hdr.Gid, hdr.Uname, hdr.Gname = 0, 0, "", ""
	hdr.AccessTime, hdr.ChangeTime = time.Time{}, time.Time{}
	if err := tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("build context: %s: %w", rel, err)
	}
	if !mode.IsRegular() {
		return nil
	}
	f, err := os.Open(p)
	if err != nil {
		return fmt.Errorf("build context: %w", err)
	}
	defer f.Close()
	// Exactly the size announced: a file growing under the walk must not
	// corrupt the archive.
	if _, err := io.CopyN(tw, f, hdr.Size); err != nil {
		return fmt.Errorf("build context: reading %s: %w", rel, err)
	}
	return nil
}
