package testbed

import (
	"context"
	"errors"
	"net"
	"sync"
)

// link is a worker's network: what the scheduler sees of a worker is
// its connection, so cutting a link is, for the scheduler, a pulled cable
// or a killed process (the connection closes), and stopping it is a
// process stopped with SIGSTOP (the connection stays open, nothing comes
// or goes, and what the scheduler sends waits in the buffers).
type link struct {
	mu      sync.Mutex
	down    bool // no connection gets through: cut, until restored
	stopped bool
	dead    bool // the process is gone: never again
	conns   map[*linkConn]struct{}
	changed chan struct{} // closed and replaced at every change
}

var errProcessGone = errors.New("the worker's process is gone")

func newLink() *link {
	return &link{conns: map[*linkConn]struct{}{}, changed: make(chan struct{})}
}

func (l *link) signalLocked() {
	close(l.changed)
	l.changed = make(chan struct{})
}

// passable waits while the link is stopped (and, for a new connection,
// down), then says whether it may go on.
func (l *link) passable(ctx context.Context, dialing bool) error {
	l.mu.Lock()
	for {
		switch {
		case l.dead:
			l.mu.Unlock()
			return errProcessGone
		case !l.stopped && !(dialing && l.down):
			l.mu.Unlock()
			return nil
		}
		changed := l.changed
		l.mu.Unlock()
		select {
		case <-changed:
		case <-ctx.Done():
			return ctx.Err()
		}
		l.mu.Lock()
	}
}

// dial waits until the link is up, then connects.
func (l *link) dial(ctx context.Context, addr string) (net.Conn, error) {
	if err := l.passable(ctx, true); err != nil {
		return nil, err
	}
	var d net.Dialer
	raw, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	c := &linkConn{Conn: raw, l: l, closed: make(chan struct{})}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.down || l.dead {
		raw.Close()
		return nil, errors.New("the link went down while connecting")
	}
	l.conns[c] = struct{}{}
	return c, nil
}

// cut closes every connection and lets none through until restore.
func (l *link) cut() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.down = true
	for c := range l.conns {
		c.close()
		delete(l.conns, c)
	}
	l.signalLocked()
}

// kill cuts the link for ever: the process behind it is gone.
func (l *link) kill() {
	l.mu.Lock()
	l.dead = true
	l.mu.Unlock()
	l.cut()
}

func (l *link) restore() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.down = false
	l.signalLocked()
}

func (l *link) stop() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.stopped = true
	l.signalLocked()
}

func (l *link) resume() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.stopped = false
	l.signalLocked()
}

// linkConn is a connection through a link. While the link is stopped,
// what arrives is held back and nothing is sent.
type linkConn struct {
	net.Conn
	l         *link
	closeOnce sync.Once
	closed    chan struct{}
}

func (c *linkConn) close() {
	c.closeOnce.Do(func() {
		close(c.closed)
		c.Conn.Close()
	})
}

// wait waits while the link is stopped, or until the connection closes.
func (c *linkConn) wait() error {
	l := c.l
	l.mu.Lock()
	for l.stopped && !l.dead {
		changed := l.changed
		l.mu.Unlock()
		select {
		case <-changed:
		case <-c.closed:
			return net.ErrClosed
		}
		l.mu.Lock()
	}
	l.mu.Unlock()
	select {
	case <-c.closed:
		return net.ErrClosed
	default:
		return nil
	}
}

func (c *linkConn) Read(b []byte) (int, error) {
	if err := c.wait(); err != nil {
		return 0, err
	}
	n, err := c.Conn.Read(b)
	// Bytes that came while the link stopped are held until it goes on.
	if werr := c.wait(); werr != nil {
		return 0, werr
	}
	return n, err
}

func (c *linkConn) Write(b []byte) (int, error) {
	if err := c.wait(); err != nil {
		return 0, err
	}
	return c.Conn.Write(b)
}

func (c *linkConn) Close() error {
	c.l.mu.Lock()
	delete(c.l.conns, c)
	c.l.mu.Unlock()
	c.close()
	return nil
}
