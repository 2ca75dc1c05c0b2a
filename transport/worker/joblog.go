package worker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
)

// maxLogChunk is the most a single log call returns.
const maxLogChunk = 10 << 10

// logSpillSize is how much of a log stays in memory: most build logs
// fit, and cost no file; a longer one moves to a file, so that a huge log
// costs memory for one chunk at a time.
const logSpillSize = 256 << 10

// jobLog is a job's log. Writers append; readers block until there is
// data past their offset or the log is closed.
type jobLog struct {
	dir     string // where a long log spills to
	mu      sync.Mutex
	mem     []byte   // the log, until it spills
	f       *os.File // the log, once it has spilled
	size    int64
	closed  bool
	gone    bool          // discarded
	changed chan struct{} // closed and replaced on every write and on close
}

func newJobLog(dir string) *jobLog {
	return &jobLog{dir: dir, changed: make(chan struct{})}
}

// Write appends to the log.
func (l *jobLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return 0, errors.New("log closed")
	}
	if l.f == nil && len(l.mem)+len(p) > logSpillSize {
		if err := l.spill(); err != nil {
			return 0, err
		}
	}
	var n int
	var err error
	if l.f != nil {
		n, err = l.f.WriteAt(p, l.size)
	} else {
		l.mem = append(l.mem, p...)
		n = len(p)
	}
	l.size += int64(n)
	close(l.changed)
	l.changed = make(chan struct{})
	return n, err
}

// spill moves the log to a file. Called with the lock held.
func (l *jobLog) spill() error {
	f, err := os.CreateTemp(l.dir, "job-*.log")
	if err != nil {
		return fmt.Errorf("spooling a long log to disk: %w", err)
	}
	// The file is only reached through f: unlinked now, it goes when
	// closed, even after a crash.
	os.Remove(f.Name())
	if _, err := f.Write(l.mem); err != nil {
		f.Close()
		return fmt.Errorf("spooling a long log to disk: %w", err)
	}
	l.f, l.mem = f, nil
	return nil
}

// finish marks the log complete: readers at its end get an empty chunk.
func (l *jobLog) finish() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.closed {
		l.closed = true
		close(l.changed)
		l.changed = make(chan struct{})
	}
}

// discard frees the log's file.
func (l *jobLog) discard() {
	l.finish()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f != nil {
		l.f.Close()
		l.f = nil
	}
	l.mem, l.gone = nil, true
}

// read returns up to maxLogChunk bytes from start (negative: from the end),
// waiting for them; an empty chunk means the log is complete. A start past
// what has been written waits for the log to get there. The chunk is only
// to be read.
func (l *jobLog) read(ctx context.Context, start int64) ([]byte, int64, error) {
	for {
		l.mu.Lock()
		size, closed, changed, f, mem, gone := l.size, l.closed, l.changed, l.f, l.mem, l.gone
		l.mu.Unlock()
		if start < 0 {
			start = max(0, size+start)
		}
		if start < size {
			if gone {
				return nil, start, errors.New("the log is gone")
			}
			if f == nil {
				// Appends never change what mem already holds, so the
				// chunk can share it.
				end := min(size, start+maxLogChunk)
				return mem[start:end:end], end, nil
			}
			buf := make([]byte, min(maxLogChunk, size-start))
			n, err := f.ReadAt(buf, start)
			if err != nil && !errors.Is(err, io.EOF) {
				return nil, start, err
			}
			return buf[:n], start + int64(n), nil
		}
		if closed {
			if start > size {
				return nil, size, fmt.Errorf("start %d is past the end of the log (%d bytes)", start, size)
			}
			return nil, start, nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return nil, start, ctx.Err()
		}
	}
}
