package wire

import (
	"bytes"
	"context"
	"crypto/tls"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"

	capnp "capnproto.org/go/capnp/v3"
	"capnproto.org/go/capnp/v3/rpc"
)

// MaxMessage bounds one incoming RPC frame: a bigger one aborts the
// connection. Job descriptions are held to a smaller limit by the
// scheduler, which refuses them with an error instead.
const MaxMessage = 8 << 20

// codec frames messages with a size limit, writes each frame in one Write
// (the library's stream transport makes one TLS record per segment), and
// runs the guard on what it reads.
type codec struct {
	dec    *capnp.Decoder
	closer io.Closer
	guard  *guard

	wmu sync.Mutex
	w   io.Writer
	buf bytes.Buffer
	enc *capnp.Encoder
}

func NewTransport(rwc io.ReadWriteCloser, guarded bool) rpc.Transport {
	d := capnp.NewDecoder(rwc)
	d.MaxMessageSize = MaxMessage
	c := &codec{dec: d, closer: rwc, w: rwc}
	if guarded {
		c.guard = &guard{answers: map[uint32]methodKey{}}
	}
	c.enc = capnp.NewEncoder(&c.buf)
	return rpc.NewTransport(c)
}

func (c *codec) Encode(m *capnp.Message) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.buf.Reset()
	if err := c.enc.Encode(m); err != nil {
		return err
	}
	_, err := c.w.Write(c.buf.Bytes())
	if c.buf.Cap() > 1<<20 {
		// Do not keep a big buffer after one big message.
		c.buf = bytes.Buffer{}
		c.enc = capnp.NewEncoder(&c.buf)
	}
	return err
}

func (c *codec) Close() error { return c.closer.Close() }

func (c *codec) Decode() (*capnp.Message, error) {
	m, err := c.dec.Decode()
	if err != nil {
		return nil, err
	}
	if c.guard != nil {
		if err := c.guard.check(m); err != nil {
			return nil, err
		}
	}
	// Bound what reading one message may traverse (pointer amplification).
	m.ResetReadLimit(4 * MaxMessage)
	return m, nil
}

// Peer is one accepted connection, as the objects made for it see it.
type Peer struct {
	remote   net.Addr
	done     chan struct{} // closed once the connection has shut down
	drop     chan struct{} // closed to drop the connection
	dropOnce sync.Once
	authed   chan struct{} // closed once it has presented a valid secret
	authOnce sync.Once
}

// Close drops the connection.
func (p *Peer) Close() { p.dropOnce.Do(func() { close(p.drop) }) }

// Authenticated records that the connection presented a valid secret.
func (p *Peer) Authenticated() { p.authOnce.Do(func() { close(p.authed) }) }

// Remote is the address the connection came from.
func (p *Peer) Remote() net.Addr { return p.remote }

// Done is closed once the connection has shut down.
func (p *Peer) Done() <-chan struct{} { return p.done }

// Server accepts TLS connections and gives each its own bootstrap.
type Server struct {
	Listener     net.Listener
	TLS          *tls.Config
	Logger       *slog.Logger
	NewBootstrap func(*Peer) capnp.Client
	// AuthTimeout is how long a connection may go without presenting a
	// valid secret, and MaxUnauthenticated how many such connections one
	// host may hold: a peer that only connects must not hold the
	// scheduler's sockets and memory for ever.
	AuthTimeout        time.Duration
	MaxUnauthenticated int

	mu     sync.Mutex
	conns  map[*rpc.Conn]struct{}
	closed bool
	wg     sync.WaitGroup
	// unauthenticated counts, per host, the connections that have not
	// presented a valid secret yet.
	unauthenticated map[string]int
}

func (s *Server) Serve() error {
	s.mu.Lock()
	if s.conns == nil {
		s.conns = map[*rpc.Conn]struct{}{}
	}
	if s.unauthenticated == nil {
		s.unauthenticated = map[string]int{}
	}
	s.mu.Unlock()
	for {
		raw, err := s.Listener.Accept()
		if err != nil {
			return err
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.handle(raw)
		}()
	}
}

// admit counts a new connection from host as unauthenticated, unless the
// host holds too many such connections already.
func (s *Server) admit(host string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.unauthenticated[host] >= s.MaxUnauthenticated {
		return false
	}
	s.unauthenticated[host]++
	return true
}

// admitted stops counting a connection from host as unauthenticated.
func (s *Server) admitted(host string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.unauthenticated[host]--; s.unauthenticated[host] <= 0 {
		delete(s.unauthenticated, host)
	}
}

func hostOf(a net.Addr) string {
	if host, _, err := net.SplitHostPort(a.String()); err == nil {
		return host
	}
	return a.String()
}

func (s *Server) handle(raw net.Conn) {
	host := hostOf(raw.RemoteAddr())
	if !s.admit(host) {
		s.Logger.Warn("Too many connections without a valid secret from one host: refusing another", "remote", raw.RemoteAddr(), "limit", s.MaxUnauthenticated)
		raw.Close()
		return
	}
	// The slot is given back before the connection is closed, so that a
	// peer that sees the close may connect again at once.
	counted := true
	release := func() {
		if counted {
			s.admitted(host)
			counted = false
		}
	}
	defer release()
	if tc, ok := raw.(*net.TCPConn); ok {
		tc.SetKeepAlive(true)
		tc.SetKeepAlivePeriod(30 * time.Second)
	}
	conn := tls.Server(raw, s.TLS)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	err := conn.HandshakeContext(ctx)
	cancel()
	if err != nil {
		s.Logger.Debug("TLS handshake failed", "remote", raw.RemoteAddr(), "err", err)
		release()
		raw.Close()
		return
	}
	p := &Peer{remote: raw.RemoteAddr(), done: make(chan struct{}), drop: make(chan struct{}), authed: make(chan struct{})}
	rc := rpc.NewConn(NewTransport(conn, true), &rpc.Options{
		BootstrapClient: s.NewBootstrap(p),
		Logger:          quietLogger(s.Logger),
		AbortTimeout:    5 * time.Second,
	})
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		rc.Close()
	} else {
		s.conns[rc] = struct{}{}
		s.mu.Unlock()
	}
	authed := p.authed
	deadline := time.NewTimer(s.AuthTimeout)
	defer deadline.Stop()
wait:
	for {
		select {
		case <-rc.Done():
			break wait
		case <-p.drop:
			release()
			rc.Close()
			break wait
		case <-authed:
			release()
			authed = nil
			deadline.Stop()
		case <-deadline.C:
			s.Logger.Info("A connection presented no valid secret in time: dropping it", "remote", raw.RemoteAddr(), "timeout", s.AuthTimeout)
			release()
			rc.Close()
			break wait
		}
	}
	close(p.done)
	s.mu.Lock()
	delete(s.conns, rc)
	s.mu.Unlock()
}

// close stops accepting and closes every connection.
func (s *Server) Close() {
	s.mu.Lock()
	s.closed = true
	conns := make([]*rpc.Conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	s.Listener.Close()
	for _, c := range conns {
		c.Close()
	}
	s.wg.Wait()
}

// DialFunc opens the network connection to a scheduler's address.
type DialFunc func(ctx context.Context, addr string) (net.Conn, error)

// DialTCP is the DialFunc of production: a plain TCP connection.
func DialTCP(ctx context.Context, addr string) (net.Conn, error) {
	var d net.Dialer
	return d.DialContext(ctx, "tcp", addr)
}

// dialTLS connects to a capability's address over TLS, checking the server's
// key against the fingerprint the capability pins.
func dialTLS(ctx context.Context, ref SturdyRef, dialNet DialFunc, logger *slog.Logger) (*rpc.Conn, error) {
	raw, err := dialNet(ctx, ref.Addr)
	if err != nil {
		return nil, err
	}
	conn := tls.Client(raw, ClientTLS(ref.Fingerprint))
	if err := conn.HandshakeContext(ctx); err != nil {
		raw.Close()
		return nil, err
	}
	if logger == nil {
		logger = slog.Default()
	}
	opts := &rpc.Options{AbortTimeout: 5 * time.Second, Logger: quietLogger(logger)}
	return rpc.NewConn(NewTransport(conn, false), opts), nil
}

// quiet demotes the RPC library's messages to debug level: it reports
// every peer that hangs up as an error, which is routine for a scheduler.
type quiet struct{ h slog.Handler }

func quietLogger(l *slog.Logger) *slog.Logger { return slog.New(quiet{l.Handler()}) }

func (q quiet) Enabled(ctx context.Context, _ slog.Level) bool {
	return q.h.Enabled(ctx, slog.LevelDebug)
}

func (q quiet) Handle(ctx context.Context, r slog.Record) error {
	r.Level = slog.LevelDebug
	return q.h.Handle(ctx, r)
}

func (q quiet) WithAttrs(attrs []slog.Attr) slog.Handler { return quiet{q.h.WithAttrs(attrs)} }
func (q quiet) WithGroup(name string) slog.Handler       { return quiet{q.h.WithGroup(name)} }
