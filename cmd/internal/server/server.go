package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/ocluster-go/ocluster/core"
	"github.com/ocluster-go/ocluster/store"
	"github.com/ocluster-go/ocluster/trace"
	"github.com/ocluster-go/ocluster/transport/scheduler"
	"github.com/ocluster-go/ocluster/transport/wire"
)

// Config is what a scheduler is started with.
type Config struct {
	// KeyFile is the scheduler's secret key, created if missing.
	KeyFile string
	// Listen is the host:port to listen on (port 0: any free port).
	Listen string
	// PublicAddr is the host:port the .cap files name; empty: the address
	// listened on, or 127.0.0.1 and its port when that is every address.
	PublicAddr string
	// StateDir holds the scheduler's database; SecretsDir its .cap files.
	// Both are made if missing.
	StateDir, SecretsDir string
	// Clients are created, with their <id>.cap, if missing.
	Clients []string
	Pools   []string
	// Policy, Override, Costs, TimeScale and Origin are as in
	// scheduler.Config.
	Policy    string
	Override  core.Override
	Costs     core.Costs
	TimeScale float64
	Origin    time.Time
	// Trace, when set, is a file to record every job and worker event in,
	// under TraceHeader; an existing trace is never overwritten.
	// TraceCopy, when set, is also given everything written there.
	Trace       string
	TraceHeader trace.Header
	TraceCopy   io.Writer
	// Metrics, when set, is where the scheduler's metrics are served: a
	// port (on every interface, as OCluster) or HOST:PORT, e.g. to keep
	// them on 127.0.0.1.
	Metrics string
	Logger  *slog.Logger
}

// Server is a running scheduler.
type Server struct {
	*scheduler.Scheduler
	// Addr is the address listened on; PublicAddr the one the .cap files
	// name; MetricsAddr the one metrics are served on (empty: none).
	Addr, PublicAddr, MetricsAddr string

	listener net.Listener
	metrics  net.Listener       // nil when metrics are not served
	stop     context.CancelFunc // ends the trace's flushing
	store    *store.Store
	trace    *os.File
	served   chan error
}

// Start starts a scheduler serving until Close; its trace is flushed every
// second until ctx ends.
func Start(ctx context.Context, cfg Config) (*Server, error) {
	for _, p := range cfg.Pools {
		if err := scheduler.CheckPoolName(p); err != nil {
			return nil, fmt.Errorf("--pools: %w", err)
		}
	}
	metrics := ""
	if cfg.Metrics != "" {
		var err error
		if metrics, err = metricsAddress(cfg.Metrics); err != nil {
			return nil, err
		}
	}
	for _, dir := range []string{cfg.StateDir, cfg.SecretsDir} {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, err
		}
	}
	id, err := wire.LoadOrCreateIdentity(cfg.KeyFile)
	if err != nil {
		return nil, err
	}
	srv := &Server{served: make(chan error, 1)}
	// Until the scheduler serves, fail closes what is open so far; a
	// running one closes them in Close.
	var l net.Listener
	fail := func(err error) (*Server, error) {
		if l != nil {
			l.Close()
		}
		srv.closeFiles()
		return nil, err
	}
	if srv.store, err = store.Open(filepath.Join(cfg.StateDir, "scheduler.db")); err != nil {
		return nil, err
	}
	if l, err = net.Listen("tcp", cfg.Listen); err != nil {
		return fail(err)
	}
	srv.Addr = l.Addr().String()
	srv.PublicAddr = cfg.PublicAddr
	if srv.PublicAddr == "" {
		srv.PublicAddr = srv.Addr
		if host, _, _ := net.SplitHostPort(cfg.Listen); host == "" || net.ParseIP(host).IsUnspecified() {
			_, port, _ := net.SplitHostPort(srv.Addr)
			srv.PublicAddr = net.JoinHostPort("127.0.0.1", port)
			cfg.Logger.Warn("listening on every address without --capnp-public-address: the .cap files name 127.0.0.1, which only this machine can reach", "address", srv.PublicAddr)
		}
	}
	var tw *trace.Writer
	if cfg.Trace != "" {
		if srv.trace, err = os.OpenFile(cfg.Trace, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644); err != nil {
			return fail(fmt.Errorf("--trace: %w (a trace is never overwritten: move the old one away)", err))
		}
		var w io.Writer = srv.trace
		if cfg.TraceCopy != nil {
			w = io.MultiWriter(srv.trace, cfg.TraceCopy)
		}
		if tw, err = trace.NewWriter(w, cfg.TraceHeader); err != nil {
			return fail(err)
		}
	}
	srv.Scheduler, err = scheduler.New(scheduler.Config{
		Pools:      cfg.Pools,
		Policy:     cfg.Policy,
		Override:   cfg.Override,
		Costs:      cfg.Costs,
		Identity:   id,
		PublicAddr: srv.PublicAddr,
		Store:      srv.store,
		Trace:      tw,
		TimeScale:  cfg.TimeScale,
		Origin:     cfg.Origin,
		Logger:     cfg.Logger,
	})
	if err != nil {
		return fail(err)
	}
	if err := srv.WriteCapFiles(cfg.SecretsDir, cfg.Clients); err != nil {
		srv.Scheduler.Close()
		return fail(err)
	}
	if metrics != "" {
		ml, err := net.Listen("tcp", metrics)
		if err != nil {
			srv.Scheduler.Close()
			return fail(fmt.Errorf("--listen-prometheus: %w", err))
		}
		go http.Serve(ml, srv.MetricsHandler())
		srv.metrics, srv.MetricsAddr = ml, ml.Addr().String()
	}
	srv.listener = l
	ctx, srv.stop = context.WithCancel(ctx)
	go srv.FlushTraceEvery(ctx)
	go func() { srv.served <- srv.Serve(l) }()
	return srv, nil
}

// Served ends with what stopped the scheduler serving.
func (s *Server) Served() <-chan error { return s.served }

// Close stops the scheduler and its metrics, then closes its trace and its
// store.
func (s *Server) Close() error {
	s.stop()
	err := s.Scheduler.Close()
	if s.metrics != nil {
		s.metrics.Close()
	}
	// The scheduler closes the listener only once Serve has begun: a
	// Close straight after Start would leave it open.
	if lerr := s.listener.Close(); !errors.Is(lerr, net.ErrClosed) {
		err = errors.Join(err, lerr)
	}
	return errors.Join(err, s.closeFiles())
}

func (s *Server) closeFiles() error {
	var errs []error
	if s.trace != nil {
		errs = append(errs, s.trace.Close())
	}
	if s.store != nil {
		errs = append(errs, s.store.Close())
	}
	return errors.Join(errs...)
}

// metricsAddress reads --listen-prometheus: a port, or HOST:PORT.
func metricsAddress(flag string) (string, error) {
	if port, err := strconv.Atoi(flag); err == nil {
		if port < 1 || port > 65535 {
			return "", fmt.Errorf("--listen-prometheus %d: a port goes from 1 to 65535", port)
		}
		return fmt.Sprintf(":%d", port), nil
	}
	if _, _, err := net.SplitHostPort(flag); err != nil {
		return "", fmt.Errorf("--listen-prometheus %q: give a port (9090) or HOST:PORT (127.0.0.1:9090)", flag)
	}
	return flag, nil
}
