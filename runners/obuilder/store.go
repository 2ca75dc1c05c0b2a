package obuilder

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
)

// Store says where step results are kept: Kind "docker" commits each step
// to a Docker image, Path holding the store's own state (its index of cache
// entries with their last-used times); Kind "rsync" keeps each step's file
// system as a directory under Path, and runs steps there with runc.
type Store struct {
	Kind string
	Path string
}

func (s Store) String() string { return s.Kind + ":" + s.Path }

const supported = "this worker supports docker:PATH (each step committed as a Docker image; PATH holds the store's index) and rsync:PATH (each step a directory under PATH, run with runc; needs root, runc and rsync)"

// ParseStore reads the worker's --obuilder-store value.
func ParseStore(s string) (Store, error) {
	kind, p, ok := strings.Cut(s, ":")
	if !ok {
		return Store{}, fmt.Errorf("obuilder store %q: expected KIND:PATH, e.g. docker:/var/lib/ocluster-worker/obuilder; %s", s, supported)
	}
	switch kind {
	case "docker", "rsync":
	case "btrfs", "zfs":
		return Store{}, fmt.Errorf("obuilder store %q: %s stores are not supported (their snapshots could not be tested here; an rsync: store on the same disk keeps the same results, at the cost of copying); %s", s, kind, supported)
	case "xfs", "overlayfs", "qemu":
		return Store{}, fmt.Errorf("obuilder store %q: %s stores are not supported; %s", s, kind, supported)
	default:
		return Store{}, fmt.Errorf("obuilder store %q: unknown store kind %q; %s", s, kind, supported)
	}
	if p == "" {
		return Store{}, fmt.Errorf("obuilder store %q: the path is empty: give a directory for the store, e.g. %s:/var/lib/ocluster-worker/obuilder", s, kind)
	}
	abs, err := filepath.Abs(p)
	if err != nil {
		return Store{}, fmt.Errorf("obuilder store %q: %w", s, err)
	}
	return Store{Kind: kind, Path: abs}, nil
}

// entry is one cached step result.
type entry struct {
	Key      string    `json:"key"`
	Image    string    `json:"image"`
	Parent   string    `json:"parent"` // the key of the step it was built on
	Depth    int       `json:"depth"`  // steps between it and its base image
	Step     string    `json:"step"`   // the operation, for logs
	Created  time.Time `json:"created"`
	LastUsed time.Time `json:"last_used"`
}

// index is the store's record of its entries. It is advisory: Docker's tags
// decide hits, so an entry whose image vanished is rebuilt, and the index
// only drives pruning.
type index struct {
	file   string
	saveMu sync.Mutex // orders whole saves, so an older snapshot never lands last

	mu      sync.Mutex
	entries map[string]*entry
	dirty   bool
}

type indexFile struct {
	Version int      `json:"version"`
	Entries []*entry `json:"entries"`
}

const indexName = "index.json"

func openIndex(dir string) (*index, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("creating the obuilder store directory: %w", err)
	}
	ix := &index{file: filepath.Join(dir, indexName), entries: map[string]*entry{}}
	data, err := os.ReadFile(ix.file)
	if errors.Is(err, fs.ErrNotExist) {
		return ix, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading the obuilder store index: %w", err)
	}
	var f indexFile
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("reading the obuilder store index %s: %w (move it away to start with an empty index; cached images are found again by their tags)", ix.file, err)
	}
	for _, e := range f.Entries {
		ix.entries[e.Key] = e
	}
	return ix, nil
}

// touch records a use at t, never moving a last-used time backwards: a
// build touches a parent whenever it touches a child, so parents are never
// older than their children and pruning removes children first.
func (ix *index) touch(key string, t time.Time) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if e := ix.entries[key]; e != nil && t.After(e.LastUsed) {
		e.LastUsed, ix.dirty = t, true
	}
}

// use records a cache hit, adding the entry when another store on the same
// engine made it, so that this store can prune it too.
func (ix *index) use(e entry) {
	ix.mu.Lock()
	if old := ix.entries[e.Key]; old != nil {
		ix.mu.Unlock()
		ix.touch(e.Key, e.LastUsed)
		return
	}
	ix.mu.Unlock()
	ix.add(e)
}

func (ix *index) add(e entry) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if old := ix.entries[e.Key]; old != nil && old.LastUsed.After(e.LastUsed) {
		e.LastUsed = old.LastUsed
	}
	ix.entries[e.Key] = &e
	ix.dirty = true
}

func (ix *index) remove(key string) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	delete(ix.entries, key)
	ix.dirty = true
}

// oldest is the least recently used entry, deepest first among equals.
func (ix *index) oldest() (entry, bool) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	var best *entry
	for _, e := range ix.entries {
		if best == nil || lruLess(e, best) {
			best = e
		}
	}
	if best == nil {
		return entry{}, false
	}
	return *best, true
}

func lruLess(a, b *entry) bool {
	if c := a.LastUsed.Compare(b.LastUsed); c != 0 {
		return c < 0
	}
	if a.Depth != b.Depth {
		return a.Depth > b.Depth
	}
	return a.Key < b.Key
}

// save writes the index if it changed, replacing the file atomically so
// that a crash leaves the old or the new index, never half of one.
func (ix *index) save(force bool) error {
	ix.saveMu.Lock()
	defer ix.saveMu.Unlock()
	ix.mu.Lock()
	if !ix.dirty && !force {
		ix.mu.Unlock()
		return nil
	}
	f := indexFile{Version: 1}
	for _, e := range ix.entries {
		c := *e
		f.Entries = append(f.Entries, &c)
	}
	ix.dirty = false
	ix.mu.Unlock()
	slices.SortFunc(f.Entries, func(a, b *entry) int { return cmp.Compare(a.Key, b.Key) })
	data, err := json.MarshalIndent(f, "", " ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(ix.file), indexName+".*")
	if err != nil {
		return fmt.Errorf("writing the obuilder store index: %w", err)
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return fmt.Errorf("writing the obuilder store index: %w", err)
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("writing the obuilder store index: %w", err)
	}
	if err := os.Rename(tmp.Name(), ix.file); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("writing the obuilder store index: %w", err)
	}
	return nil
}
