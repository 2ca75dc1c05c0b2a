package scheduler

import (
	"context"
	"fmt"
	"net"
	"sync"
	"syscall"
)

// memNet is an in-memory network, as OCluster's tests use: a dial is one
// end of a net.Pipe and the listener's Accept returns the other, so TLS,
// the handshake's identity checks and the RPC run as over TCP, yet a
// goroutine waiting on a connection is durably blocked in the sense of
// testing/synctest, whose fake clock can then move on.
//
// Unlike TCP, a pipe holds no bytes: a write waits for the reader, and a
// write after the other end closed fails at once rather than into a
// buffer. A test that reads nothing must expect the scheduler's writes to
// wait for it; one that cuts a connection lets the traffic settle first
// (the proxy's cut does).
type memNet struct {
	mu        sync.Mutex
	listeners map[string]*memListener
}

func newMemNet() *memNet { return &memNet{listeners: map[string]*memListener{}} }

// listen opens a listener at a new address of the network.
func (n *memNet) listen() *memListener {
	n.mu.Lock()
	defer n.mu.Unlock()
	l := &memListener{net: n, addr: memAddr(fmt.Sprintf("memory-%d:1", len(n.listeners)+1)),
		conns: make(chan net.Conn), closed: make(chan struct{})}
	n.listeners[string(l.addr)] = l
	return l
}

// dial is a wire.DialFunc: it connects to the listener at addr, or fails as a
// refused TCP connection does when nothing listens there.
func (n *memNet) dial(ctx context.Context, addr string) (net.Conn, error) {
	n.mu.Lock()
	l := n.listeners[addr]
	n.mu.Unlock()
	refused := &net.OpError{Op: "dial", Net: "memory", Addr: memAddr(addr), Err: syscall.ECONNREFUSED}
	if l == nil {
		return nil, refused
	}
	near, far := net.Pipe()
	select {
	case l.conns <- far:
		return near, nil
	case <-l.closed:
	case <-ctx.Done():
		refused.Err = ctx.Err()
	}
	near.Close()
	far.Close()
	return nil, refused
}

// memListener is a net.Listener of a memNet.
type memListener struct {
	net    *memNet
	addr   memAddr
	conns  chan net.Conn
	closed chan struct{}
	once   sync.Once
}

func (l *memListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

func (l *memListener) Close() error {
	l.once.Do(func() {
		close(l.closed)
		l.net.mu.Lock()
		delete(l.net.listeners, string(l.addr))
		l.net.mu.Unlock()
	})
	return nil
}

func (l *memListener) Addr() net.Addr { return l.addr }

// memAddr is an address on a memNet, host:port as a capability needs.
type memAddr string

func (memAddr) Network() string  { return "memory" }
func (a memAddr) String() string { return string(a) }
