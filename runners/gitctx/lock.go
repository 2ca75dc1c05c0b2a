package gitctx

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// The lock on a cached clone has two layers. Inside the process, a
// one-slot channel per clone: waiting on it can be abandoned when the job
// is cancelled, and a release hands the clone straight to the next waiter.
// Across processes (two workers wrongly sharing a state directory, or a
// worker restarted while an old one is still exiting), a flock on the
// clone's lock file: the kernel drops it when its holder dies, so a
// crashed worker never leaves a lock that someone must clean by hand.

// lockFile is the flock target in a clone's directory. Its name does not
// end in ".lock", so the sweep of git's lock files leaves it alone.
const lockFile = "lock"

func (c *Contexts) slot(dir string) chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := c.slots[dir]
	if ch == nil {
		ch = make(chan struct{}, 1)
		c.slots[dir] = ch
	}
	return ch
}

// lock takes r's clone for this preparation, waiting (until ctx ends) for
// any other to finish with it. waiting is called once if it has to wait.
func (c *Contexts) lock(ctx context.Context, r *repo, waiting func()) (unlock func(), err error) {
	waited := false
	wait := func() {
		if !waited {
			waited = true
			waiting()
		}
	}
	ch := c.slot(r.dir)
	select {
	case ch <- struct{}{}:
	default:
		wait()
		select {
		case ch <- struct{}{}:
		case <-ctx.Done():
			return nil, fmt.Errorf("waiting for the cached clone of %s: %w", display(r.url), ctx.Err())
		}
	}
	if err := os.MkdirAll(r.dir, 0o700); err != nil {
		<-ch
		return nil, fmt.Errorf("making the cache directory of %s: %w", display(r.url), err)
	}
	f, err := flock(ctx, filepath.Join(r.dir, lockFile), wait)
	if err != nil {
		<-ch
		if ctx.Err() != nil {
			return nil, fmt.Errorf("waiting for the cached clone of %s: %w", display(r.url), ctx.Err())
		}
		return nil, fmt.Errorf("locking the cached clone of %s: %w", display(r.url), err)
	}
	return func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		_ = f.Close()
		<-ch
	}, nil
}

// flock opens path and takes an exclusive flock on it, polling (flock
// itself cannot be interrupted by ctx) and calling waiting before the
// first wait.
func flock(ctx context.Context, path string, waiting func()) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	delay := 5 * time.Millisecond
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return f, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, syscall.EINTR) {
			_ = f.Close()
			return nil, err
		}
		if waiting != nil {
			waiting()
		}
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			_ = f.Close()
			return nil, ctx.Err()
		}
		delay = min(2*delay, 250*time.Millisecond)
	}
}

// tryFlock takes path's flock if nobody holds it; ok is false if someone
// does.
func tryFlock(path string) (f *os.File, ok bool, err error) {
	f, err = os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, false, err
	}
	err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	if err == nil {
		return f, true, nil
	}
	_ = f.Close()
	if errors.Is(err, syscall.EWOULDBLOCK) {
		return nil, false, nil
	}
	return nil, false, err
}

// sweepStaleLocks removes the lock files a git process killed mid-way left
// in gitDir (index.lock, HEAD.lock, config.lock, packed-refs.lock,
// shallow.lock, refs/.../*.lock, ...) and the temporary packs of an
// interrupted fetch. It is only called with the clone's flock held, when
// no git process of ours runs on the clone, so every such file is stale;
// left in place it would make every later fetch fail.
//
// It looks where git puts lock files rather than walking objects/ (large):
// refs stay packed after each fetch, so this costs a handful of syscalls.
func sweepStaleLocks(gitDir string) (removed []string) {
	remove := func(p string) {
		if os.Remove(p) == nil {
			rel, _ := filepath.Rel(gitDir, p)
			removed = append(removed, rel)
		}
	}
	isLock := func(name string) bool { return strings.HasSuffix(name, ".lock") }
	for _, dir := range []string{gitDir, filepath.Join(gitDir, "objects", "info")} {
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			if !e.IsDir() && isLock(e.Name()) {
				remove(filepath.Join(dir, e.Name()))
			}
		}
	}
	pack := filepath.Join(gitDir, "objects", "pack")
	entries, _ := os.ReadDir(pack)
	for _, e := range entries {
		if !e.IsDir() && (isLock(e.Name()) || strings.HasPrefix(e.Name(), "tmp_")) {
			remove(filepath.Join(pack, e.Name()))
		}
	}
	for _, sub := range []string{"refs", "logs"} {
		_ = filepath.WalkDir(filepath.Join(gitDir, sub), func(p string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() && isLock(d.Name()) {
				remove(p)
			}
			return nil
		})
	}
	return removed
}
