package results

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Kinds of runs.
const (
	// KindResult is a result.json, or one run of a comparison.json.
	KindResult = "result"
	// KindTrace is a trace file.
	KindTrace = "trace"
)

// Run is one run the folder holds, under a name unique in the folder.
type Run struct {
	Name     string
	Kind     string
	File     string // the file it was read from, relative to the folder
	Scenario string
	Policy   string
	// Sample is the seed of a simulated run, or the trace a comparison
	// replayed.
	Sample string
	Result *Result // for KindResult
	Trace  *Trace  // for KindTrace
}

// Problem is a file that looked like one of ours but did not read.
type Problem struct {
	File string // relative to the folder
	Err  error
}

func (p Problem) Error() string { return p.File + ": " + p.Err.Error() }

// Catalog is what a folder held when it was scanned.
type Catalog struct {
	Root        string
	Runs        []*Run
	Comparisons []*Comparison
	Problems    []Problem
	byName      map[string]*Run
}

// Folder reads a folder of results and traces. It keeps what it read,
// and reads a file again only once its size or modification time changed,
// so that a scan per query stays cheap while traces are being written.
type Folder struct {
	root  string
	mu    sync.Mutex
	files map[string]*file // by path relative to root
}

// file is what a file read as: one of the three, an error, or nothing
// when it is not one of ours.
type file struct {
	size       int64
	modified   time.Time
	result     *Result
	comparison *Comparison
	trace      *Trace
	err        error
}

// NewFolder returns a reader of root; nothing is read until Scan.
func NewFolder(root string) *Folder {
	return &Folder{root: root, files: map[string]*file{}}
}

// Scan lists the runs, comparisons and traces under the folder, at any
// depth (hidden files and folders aside). It fails only when the folder
// itself cannot be read; files that do not read are listed as Problems.
func (f *Folder) Scan() (*Catalog, error) {
	if f.root == "" {
		return nil, errors.New("no folder is set: set Path in the data source's settings (jsonData.path) to the folder that ocluster-sim writes into")
	}
	info, err := os.Stat(f.root)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("folder %s does not exist: create it, or set Path to the folder that `ocluster-sim run --out` and `--trace` write into", f.root)
	case err != nil:
		return nil, fmt.Errorf("folder %s cannot be read: %w (Grafana's user needs read access)", f.root, err)
	case !info.IsDir():
		return nil, fmt.Errorf("%s is a file, not a folder: set Path to the folder that holds it", f.root)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	c := &Catalog{Root: f.root, byName: map[string]*Run{}}
	seen := map[string]bool{}
	err = filepath.WalkDir(f.root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p == f.root {
				return fmt.Errorf("folder %s cannot be read: %w (Grafana's user needs read access)", f.root, err)
			}
			c.Problems = append(c.Problems, Problem{File: f.rel(p), Err: err})
			return nil
		}
		if p != f.root && strings.HasPrefix(d.Name(), ".") {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			return nil
		}
		info, err := os.Stat(p) // follows a symbolic link
		if err != nil {
			c.Problems = append(c.Problems, Problem{File: f.rel(p), Err: err})
			return nil
		}
		if !info.Mode().IsRegular() {
			return nil
		}
		rel := f.rel(p)
		seen[rel] = true
		read := f.files[rel]
		if read == nil || read.size != info.Size() || !read.modified.Equal(info.ModTime()) {
			read = readFile(p, d.Name())
			read.size, read.modified = info.Size(), info.ModTime()
			f.files[rel] = read
		}
		c.add(f.root, rel, read)
		return nil
	})
	if err != nil {
		return nil, err
	}
	for rel := range f.files {
		if !seen[rel] {
			delete(f.files, rel)
		}
	}
	return c, nil
}

func (f *Folder) rel(p string) string {
	rel, err := filepath.Rel(f.root, p)
	if err != nil {
		return p
	}
	return filepath.ToSlash(rel)
}

// readFile reads a result.json or comparison.json by its name, and any
// other file whose first line is a trace header as a trace.
func readFile(p, name string) *file {
	fh, err := os.Open(p)
	if err != nil {
		return &file{err: err}
	}
	defer fh.Close()
	switch name {
	case "result.json":
		b, err := io.ReadAll(fh)
		if err != nil {
			return &file{err: err}
		}
		var r Result
		if err := json.Unmarshal(b, &r); err != nil {
			return &file{err: fmt.Errorf("not a result of ocluster-sim: %w", err)}
		}
		return &file{result: &r}
	case "comparison.json":
		b, err := io.ReadAll(fh)
		if err != nil {
			return &file{err: err}
		}
		cmp, err := readComparison(b)
		if err != nil {
			return &file{err: fmt.Errorf("not a comparison of ocluster-sim: %w", err)}
		}
		return &file{comparison: cmp}
	}
	br := bufio.NewReaderSize(fh, 64<<10)
	// A file shorter than the peek comes back whole, with io.EOF.
	first, _ := br.Peek(64 << 10)
	if i := strings.IndexByte(string(first), '\n'); i >= 0 {
		first = first[:i]
	}
	if !sniffTrace(first) {
		return &file{}
	}
	t, err := readTrace(br)
	if err != nil {
		return &file{err: err}
	}
	return &file{trace: t}
}

// add puts what a file read as into the catalogue, naming its runs.
func (c *Catalog) add(root, rel string, f *file) {
	switch {
	case f.err != nil:
		c.Problems = append(c.Problems, Problem{File: rel, Err: f.err})
	case f.result != nil:
		r := f.result
		c.addRun(&Run{Name: dirName(root, rel), Kind: KindResult, File: rel, Scenario: r.Scenario,
			Policy: r.Policy, Sample: strconv.FormatUint(r.Seed, 10), Result: r})
	case f.comparison != nil:
		cmp := *f.comparison
		cmp.Name, cmp.File = dirName(root, rel), rel
		c.Comparisons = append(c.Comparisons, &cmp)
		for i, policy := range cmp.Policies {
			for j, sample := range cmp.Samples {
				c.addRun(&Run{Name: cmp.Name + "/" + policy + "/" + sampleName(sample), Kind: KindResult, File: rel,
					Scenario: cmp.Scenario, Policy: policy, Sample: sample, Result: cmp.Runs[i][j]})
			}
		}
	case f.trace != nil:
		h := f.trace.Header
		sample := ""
		if h.Seed != 0 {
			sample = strconv.FormatUint(h.Seed, 10)
		}
		c.addRun(&Run{Name: rel, Kind: KindTrace, File: rel, Scenario: h.Scenario, Policy: h.Policy,
			Sample: sample, Trace: f.trace})
	}
}

func (c *Catalog) addRun(r *Run) {
	if other := c.byName[r.Name]; other != nil {
		c.Problems = append(c.Problems, Problem{File: r.File,
			Err: fmt.Errorf("its run is named %s, as one in %s: rename one of their folders", r.Name, other.File)})
		return
	}
	c.byName[r.Name] = r
	c.Runs = append(c.Runs, r)
}

// dirName names a result or comparison after its folder, or after the
// data source's folder when it lies at the top.
func dirName(root, rel string) string {
	if d := path.Dir(rel); d != "." {
		return d
	}
	return filepath.Base(root)
}

// sampleName is a comparison's sample as part of a run's name: seed-N for
// a seed, the file's name for a trace.
func sampleName(sample string) string {
	if _, err := strconv.ParseUint(sample, 10, 64); err == nil {
		return "seed-" + sample
	}
	return path.Base(filepath.ToSlash(sample))
}
