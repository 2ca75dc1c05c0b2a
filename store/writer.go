package store

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/ocluster-go/ocluster/core"
)

// DefaultInterval is how often a Writer commits, unless told otherwise.
const DefaultInterval = 100 * time.Millisecond

const (
	// maxBackoff bounds the wait between retries of a failing commit.
	maxBackoff = 5 * time.Second
	// warnBacklog is how many uncommitted changes make a Writer log a
	// warning (once): the queue has no bound, since the core reports few
	// durable changes, so a backlog this long means commits are stuck.
	warnBacklog = 100_000
)

// applier commits a batch of changes: a Store, or a fake in tests.
type applier interface {
	Apply(changes []core.Change) error
}

// Writer commits changes to a Store in the background, in batches, so that
// the scheduler never waits on the disk while it holds its lock. Its
// methods are safe for concurrent use.
type Writer struct {
	store       applier
	interval    time.Duration
	logger      *slog.Logger
	warnBacklog uint64

	kick chan struct{} // asks the goroutine to commit now
	stop chan struct{} // closed by Close
	done chan struct{} // closed when the goroutine has returned

	closeOnce sync.Once
	closeErr  error

	mu        sync.Mutex
	queue     []core.Change // enqueued, not yet taken by the goroutine
	pending   []core.Change // taken, not yet committed; the goroutine's own
	enqueued  uint64        // changes enqueued since the start
	committed uint64        // changes committed since the start
	attempts  uint64        // commits tried
	lastErr   error         // error of the last commit tried, nil after a success
	warned    bool
	closed    bool          // Enqueue refuses
	stopped   bool          // the goroutine has returned
	changed   chan struct{} // closed and replaced when a commit was tried
}

// NewWriter starts a Writer that commits to s every interval (a
// non-positive interval means DefaultInterval) and logs to logger (nil
// means slog.Default()). Close it before closing s.
func NewWriter(s *Store, interval time.Duration, logger *slog.Logger) *Writer {
	return newWriter(s, interval, logger)
}

func newWriter(s applier, interval time.Duration, logger *slog.Logger) *Writer {
	if interval <= 0 {
		interval = DefaultInterval
	}
	if logger == nil {
		logger = slog.Default()
	}
	w := &Writer{
		store:       s,
		interval:    interval,
		logger:      logger,
		warnBacklog: warnBacklog,
		kick:        make(chan struct{}, 1),
		stop:        make(chan struct{}),
		done:        make(chan struct{}),
		changed:     make(chan struct{}),
	}
	go w.run()
	return w
}

// Enqueue copies the changes into the queue of the next commit. It never
// waits on the disk. After Close, it logs an error and drops the changes.
func (w *Writer) Enqueue(changes []core.Change) {
	if len(changes) == 0 {
		return
	}
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		w.logger.Error("store writer is closed: durable changes not stored", "changes", len(changes))
		return
	}
	w.queue = append(w.queue, changes...)
	w.enqueued += uint64(len(changes))
	backlog := w.enqueued - w.committed
	warn := !w.warned && backlog > w.warnBacklog
	if warn {
		w.warned = true
	}
	w.mu.Unlock()
	if warn {
		w.logger.Warn("store writer is falling behind: durable changes are piling up in memory (logged once)",
			"uncommitted", backlog)
	}
}

// Flush waits until every change enqueued before the call is committed
// (durable as Open says). It returns the error of a commit tried meanwhile
// that failed (the Writer keeps the changes and retries), the context's
// error, or an error if the Writer was closed with changes uncommitted.
func (w *Writer) Flush(ctx context.Context) error {
	w.mu.Lock()
	target, attempts := w.enqueued, w.attempts
	for w.committed < target {
		switch {
		case w.attempts > attempts && w.lastErr != nil:
			err := w.lastErr
			w.mu.Unlock()
			return fmt.Errorf("flush durable changes: %w", err)
		case w.stopped:
			n := w.enqueued - w.committed
			w.mu.Unlock()
			return fmt.Errorf("flush durable changes: the writer is closed with %d changes not stored", n)
		}
		changed := w.changed
		w.mu.Unlock()
		select {
		case w.kick <- struct{}{}:
		default:
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return fmt.Errorf("flush durable changes: %w", ctx.Err())
		}
		w.mu.Lock()
	}
	w.mu.Unlock()
	return nil
}

// Close commits what is queued, stops the Writer and reports what it could
// not commit. It does not close the Store. Later calls return the same.
func (w *Writer) Close() error {
	w.closeOnce.Do(func() {
		w.mu.Lock()
		w.closed = true
		w.mu.Unlock()
		close(w.stop)
		<-w.done
		w.mu.Lock()
		defer w.mu.Unlock()
		if n := w.enqueued - w.committed; n > 0 {
			w.closeErr = fmt.Errorf("close store writer: %d durable changes not stored: %w", n, w.lastErr)
		}
	})
	return w.closeErr
}

// run commits every interval, or at once when kicked; after a failure it
// waits longer each time, up to maxBackoff.
func (w *Writer) run() {
	defer func() {
		w.mu.Lock()
		w.stopped = true
		w.broadcast()
		w.mu.Unlock()
		close(w.done)
	}()
	timer := time.NewTimer(w.interval)
	defer timer.Stop()
	var backoff time.Duration
	for {
		select {
		case <-timer.C:
		case <-w.kick:
		case <-w.stop:
			if n, err := w.commit(); err != nil {
				w.logger.Error("store writer: last commit failed", "changes", n, "err", err)
			}
			return
		}
		n, err := w.commit()
		delay := w.interval
		if err != nil {
			backoff = min(max(2*backoff, w.interval), maxBackoff)
			delay = backoff
			w.logger.Error("store writer: commit failed; keeping the changes and retrying",
				"changes", n, "retry_in", delay, "err", err)
		} else {
			backoff = 0
		}
		timer.Reset(delay)
	}
}

// commit tries once to commit the pending changes and those queued, and
// says how many it tried.
func (w *Writer) commit() (int, error) {
	w.mu.Lock()
	if len(w.pending) == 0 {
		w.pending, w.queue = w.queue, w.pending
	} else {
		w.pending = append(w.pending, w.queue...)
		clear(w.queue)
		w.queue = w.queue[:0]
	}
	batch := w.pending
	w.mu.Unlock()
	if len(batch) == 0 {
		return 0, nil
	}
	err := w.store.Apply(batch)
	w.mu.Lock()
	defer w.mu.Unlock()
	w.attempts++
	w.lastErr = err
	if err == nil {
		w.committed += uint64(len(batch))
		clear(batch)
		w.pending = batch[:0]
	}
	w.broadcast()
	return len(batch), err
}

// broadcast wakes the Flush calls that wait; w.mu is held.
func (w *Writer) broadcast() {
	close(w.changed)
	w.changed = make(chan struct{})
}
