package docker

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/distribution/reference"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/buildkit/frontend/dockerfile/shell"
)

// maxDockerfileSize bounds what the runner reads of a Dockerfile in the
// context (it reads it to find the base images): far above any real one.
const maxDockerfileSize = 4 << 20

// locateDockerfile checks that path names a regular file inside dir
// without leaving it (no absolute path, no "..", no symbolic link that
// points out), and returns its slash-separated path inside dir with any
// links resolved, and its contents. A job's Dockerfile path comes from
// the client, so this is what keeps a job from reading the worker's files.
func locateDockerfile(dir, path string) (string, []byte, error) {
	if path == "" {
		path = "Dockerfile"
	}
	if filepath.IsAbs(path) || strings.HasPrefix(path, "/") {
		return "", nil, fmt.Errorf("the Dockerfile path %q is absolute: give a path relative to the root of the build context", path)
	}
	if !filepath.IsLocal(path) {
		return "", nil, fmt.Errorf("the Dockerfile path %q leaves the build context: give a path inside it, without \"..\"", path)
	}
	if dir == "" {
		return "", nil, fmt.Errorf("the job names the Dockerfile %q but has no build context: give a repository and commit, or the Dockerfile's contents", path)
	}
	realDir, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return "", nil, fmt.Errorf("build context %s: %w", dir, err)
	}
	real, err := filepath.EvalSymlinks(filepath.Join(realDir, path))
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil, fmt.Errorf("there is no Dockerfile %q in the build context (is the path right, and the file committed?)", path)
	}
	if err != nil {
		return "", nil, fmt.Errorf("Dockerfile %q: %w", path, err)
	}
	rel, err := filepath.Rel(realDir, real)
	if err != nil || !filepath.IsLocal(rel) {
		return "", nil, fmt.Errorf("the Dockerfile path %q is a symbolic link that leaves the build context: the Dockerfile must be inside it", path)
	}
	f, err := os.Open(real)
	if err != nil {
		return "", nil, fmt.Errorf("Dockerfile %q: %w", path, err)
	}
	defer f.Close()
	if st, err := f.Stat(); err != nil {
		return "", nil, fmt.Errorf("Dockerfile %q: %w", path, err)
	} else if !st.Mode().IsRegular() {
		return "", nil, fmt.Errorf("the Dockerfile path %q is not a regular file", path)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxDockerfileSize+1))
	if err != nil {
		return "", nil, fmt.Errorf("reading Dockerfile %q: %w", path, err)
	}
	if len(data) > maxDockerfileSize {
		return "", nil, fmt.Errorf("the Dockerfile %q is larger than %d bytes", path, maxDockerfileSize)
	}
	return filepath.ToSlash(rel), data, nil
}

// argEnv is the environment FROM lines are expanded in: the ARGs
// declared before the first FROM.
type argEnv map[string]string

func (e argEnv) Get(k string) (string, bool) { v, ok := e[k]; return v, ok }

func (e argEnv) Keys() []string {
	keys := make([]string, 0, len(e))
	for k := range e {
		keys = append(keys, k)
	}
	return keys
}

// baseImages lists, in order and without repeats, the images the stages
// of a Dockerfile start from, resolved as the engine would: ARGs declared
// before the first FROM are expanded, with the job's build args
// overriding their defaults; "scratch", earlier stages' names and
// references that do not parse are left out (the engine will say what is
// wrong with the latter).
func baseImages(dockerfile []byte, buildArgs map[string]*string) ([]string, error) {
	res, err := parser.Parse(bytes.NewReader(dockerfile))
	if err != nil {
		return nil, err
	}
	lex := shell.NewLex(res.EscapeToken)
	env := argEnv{}
	stages := map[string]bool{}
	seen := map[string]bool{}
	var images []string
	sawFrom := false
	for _, node := range res.AST.Children {
		switch strings.ToLower(node.Value) {
		case "arg":
			if sawFrom {
				continue
			}
			for n := node.Next; n != nil; n = n.Next {
				name, def, hasDef := strings.Cut(n.Value, "=")
				if v, ok := buildArgs[name]; ok && v != nil {
					env[name] = *v
				} else if hasDef {
					if r, err := lex.ProcessWordWithMatches(def, env); err == nil {
						env[name] = r.Result
					}
				}
			}
		case "from":
			sawFrom = true
			if node.Next == nil {
				continue
			}
			if ref := fromImage(lex, env, stages, node.Next.Value); ref != "" && !seen[ref] {
				seen[ref] = true
				images = append(images, ref)
			}
			// A stage's own name is known only to the stages after it.
			if as := node.Next.Next; as != nil && strings.EqualFold(as.Value, "as") && as.Next != nil {
				stages[strings.ToLower(as.Next.Value)] = true
			}
		}
	}
	return images, nil
}

// fromImage is the image a FROM word names, normalised ("busybox" is
// "busybox:latest"), or "" when it names no image to pull.
func fromImage(lex *shell.Lex, env argEnv, stages map[string]bool, word string) string {
	r, err := lex.ProcessWordWithMatches(word, env)
	if err != nil {
		return ""
	}
	image := r.Result
	if image == "" || strings.EqualFold(image, "scratch") || stages[strings.ToLower(image)] {
		return ""
	}
	named, err := reference.ParseNormalizedNamed(image)
	if err != nil {
		return ""
	}
	return reference.FamiliarString(reference.TagNameOnly(named))
}
