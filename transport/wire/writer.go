package wire

import (
	"errors"
	"io"
	"runtime"
	"sync"
	"time"
)

// maxPending bounds what a connection holds unwritten: a sender past it
// waits for the peer to read, as it would on a direct write.
const maxPending = 256 << 10

// maxSpare is the largest buffer kept for reuse after a write: one big
// message must not pin its size for the connection's life.
const maxSpare = 1 << 20

var errWriterClosed = errors.New("the connection is closing")

// batchWriter writes from a goroutine of its own, so that messages sent
// close together leave in one write: one TLS record and one system call
// for the lot instead of one for each, here and in the peer's read. A
// write that fails is reported by the writes after it; the connection's
// reader sees the broken connection too, and shuts it down.
type batchWriter struct {
	w    io.Writer
	kick chan struct{} // holds a token while pending waits for the writer
	done chan struct{} // closed once the writer has stopped

	mu      sync.Mutex
	room    sync.Cond // broadcast when pending is taken or the writer stops
	pending []byte
	spare   []byte
	closing bool
	err     error // why writing stopped; set once the writer has stopped
}

func newBatchWriter(w io.Writer) *batchWriter {
	b := &batchWriter{w: w, kick: make(chan struct{}, 1), done: make(chan struct{})}
	b.room.L = &b.mu
	go b.run()
	return b
}

// Write queues p to be written, after what was queued before it.
func (b *batchWriter) Write(p []byte) (int, error) {
	b.mu.Lock()
	for len(b.pending) >= maxPending && b.err == nil && !b.closing {
		b.room.Wait()
	}
	switch {
	case b.err != nil:
		err := b.err
		b.mu.Unlock()
		return 0, err
	case b.closing:
		b.mu.Unlock()
		return 0, errWriterClosed
	}
	b.pending = append(b.pending, p...)
	b.mu.Unlock()
	select {
	case b.kick <- struct{}{}:
	default: // the writer has a token already
	}
	return len(p), nil
}

// Close writes what is pending, waiting at most timeout for it, and stops
// the writer; writes after Close fail.
func (b *batchWriter) Close(timeout time.Duration) {
	b.mu.Lock()
	b.closing = true
	b.room.Broadcast()
	b.mu.Unlock()
	select {
	case b.kick <- struct{}{}:
	default:
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-b.done:
	case <-t.C:
	}
}

func (b *batchWriter) run() {
	defer close(b.done)
	for range b.kick {
		// A sender that is about to queue another message gets to do so
		// first: a reply and the call after it then share a write.
		runtime.Gosched()
		b.mu.Lock()
		out := b.pending
		b.pending = b.spare[:0]
		closing := b.closing
		b.mu.Unlock()
		var err error
		if len(out) > 0 {
			_, err = b.w.Write(out)
		}
		b.mu.Lock()
		if cap(out) <= maxSpare {
			b.spare = out
		} else {
			b.spare = nil
		}
		if err == nil && closing && len(b.pending) == 0 {
			err = errWriterClosed
		}
		if err != nil {
			b.err = err
		}
		b.room.Broadcast()
		b.mu.Unlock()
		if err != nil {
			return
		}
	}
}
