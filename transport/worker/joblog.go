package worker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"
)

// maxLogChunk is the most a single log call returns.
const maxLogChunk = 64 << 10

// logLinger is how long a reader that waited for the log lets more of it
// come before answering with a part of a chunk.
const logLinger = 2 * time.Millisecond

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
// waiting for them, and whether the log is complete at the chunk's end; an
// empty chunk means the log is complete. A start past what has been
// written waits for the log to get there. A reader that had to wait lets
// more of the log come, for up to logLinger, before it answers with less
// than a full chunk of a log that goes on: a build writes its lines in
// bursts, and a burst in one answer saves the reader a call per line. The
// chunk is only to be read.
func (l *jobLog) read(ctx context.Context, start int64) ([]byte, int64, bool, error) {
	waited := false
	var linger *time.Timer
	defer func() {
		if linger != nil {
			linger.Stop()
		}
	}()
	lingered := false
	for {
		l.mu.Lock()
		size, closed, changed, f, mem, gone := l.size, l.closed, l.changed, l.f, l.mem, l.gone
		l.mu.Unlock()
		if start < 0 {
			start = max(0, size+start)
		}
		if start < size && waited && !closed && !lingered && size-start < maxLogChunk {
			if linger == nil {
				linger = time.NewTimer(logLinger)
			}
			select {
			case <-changed:
			case <-linger.C:
				lingered = true
			case <-ctx.Done():
				return nil, start, false, ctx.Err()
			}
			continue
		}
		if start < size {
			if gone {
				return nil, start, false, errors.New("the log is gone")
			}
			if f == nil {
				// Appends never change what mem already holds, so the
				// chunk can share it.
				end := min(size, start+maxLogChunk)
				return mem[start:end:end], end, closed && end == size, nil
			}
			buf := make([]byte, min(maxLogChunk, size-start))
			n, err := f.ReadAt(buf, start)
			if err != nil && !errors.Is(err, io.EOF) {
				return nil, start, false, err
			}
			next := start + int64(n)
			return buf[:n], next, closed && next == size, nil
		}
		if closed {
			if start > size {
				return nil, size, false, fmt.Errorf("start %d is past the end of the log (%d bytes)", start, size)
			}
			return nil, start, true, nil
		}
		select {
		case <-changed:
			waited = true
		case <-ctx.Done():
			return nil, start, false, ctx.Err()
		}
	}
}
