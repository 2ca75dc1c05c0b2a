package transport

import (
	"context"
	"errors"
	"io"
	"os"
	"sync"
)

// MaxLogChunk is the most a single log call returns.
const MaxLogChunk = 10 << 10

// jobLog is a job's log, spooled to a file so that a huge log costs
// memory for one chunk at a time. Writers append; readers block until
// there is data past their offset or the log is closed.
type jobLog struct {
	mu      sync.Mutex
	f       *os.File
	size    int64
	closed  bool
	changed chan struct{} // closed and replaced on every write and on close
}

func newJobLog(dir string) (*jobLog, error) {
	f, err := os.CreateTemp(dir, "job-*.log")
	if err != nil {
		return nil, err
	}
	// The file is only reached through f: unlinked now, it goes when
	// closed, even after a crash.
	os.Remove(f.Name())
	return &jobLog{f: f, changed: make(chan struct{})}, nil
}

// Write appends to the log.
func (l *jobLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return 0, errors.New("log closed")
	}
	n, err := l.f.WriteAt(p, l.size)
	l.size += int64(n)
	close(l.changed)
	l.changed = make(chan struct{})
	return n, err
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
}

// read returns up to MaxLogChunk bytes from start (negative: from the end),
// waiting for them; an empty chunk means the log is complete.
func (l *jobLog) read(ctx context.Context, start int64) ([]byte, int64, error) {
	for {
		l.mu.Lock()
		size, closed, changed, f := l.size, l.closed, l.changed, l.f
		l.mu.Unlock()
		if start < 0 {
			start = max(0, size+start)
		}
		if start > size {
			start = size
		}
		if start < size {
			if f == nil {
				return nil, start, errors.New("the log is gone")
			}
			buf := make([]byte, min(MaxLogChunk, size-start))
			n, err := f.ReadAt(buf, start)
			if err != nil && !errors.Is(err, io.EOF) {
				return nil, start, err
			}
			return buf[:n], start + int64(n), nil
		}
		if closed {
			return nil, start, nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return nil, start, ctx.Err()
		}
	}
}
