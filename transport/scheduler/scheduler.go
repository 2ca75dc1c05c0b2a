package scheduler

import (
	"context"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	capnp "capnproto.org/go/capnp/v3"
	"capnproto.org/go/capnp/v3/exc"

	"github.com/ocluster-go/ocluster/core"
	"github.com/ocluster-go/ocluster/store"
	"github.com/ocluster-go/ocluster/trace"
	"github.com/ocluster-go/ocluster/transport/schema"
	"github.com/ocluster-go/ocluster/transport/wire"
)

// Config says how to run a scheduler.
type Config struct {
	Pools  []string
	Policy string // empty: the core's default
	// Override replaces some of the policy's settings (see core.Settings).
	Override core.Override
	Costs    core.Costs // zero: the core's default
	// Identity is the scheduler's key (see wire.LoadOrCreateIdentity).
	Identity *wire.Identity
	// PublicAddr is the host:port that capability files name.
	PublicAddr string
	// Store keeps what must survive a restart; nil keeps nothing.
	Store *store.Store
	// Trace, when set, records every job and worker event for replay;
	// Close ends it with its end record (the underlying file stays open).
	Trace *trace.Writer
	// MaxDescr bounds a submitted job description, in bytes (0: 1 MiB).
	MaxDescr uint64
	// PingTimeout bounds how long a registered worker has to answer when
	// another connection registers its name (0: 5 s). One that does not
	// answer is taken for a dead connection and dropped for the new one.
	PingTimeout time.Duration
	// AuthTimeout is how long a connection may go without presenting a
	// valid secret before it is dropped (0: 20 s).
	AuthTimeout time.Duration
	// MaxUnauthenticated bounds the connections one host may hold that
	// have not presented a valid secret yet (0: 128).
	MaxUnauthenticated int
	// TimeScale makes time go this many times faster for the policy than
	// on the wall clock (0: 1). A testbed that plays a scenario at
	// --speed X runs its scheduler at X, so that the policy's costs,
	// learned run times, fair-start clocks and leases are in scenario
	// seconds, as in the simulator. Traces and metrics stay in wall-clock
	// time.
	TimeScale float64
	// Origin is the instant of the trace's t = 0 (zero: when the
	// scheduler is made); what happens before it is traced as at it. A
	// testbed sets it a moment ahead, to when its workload starts.
	Origin time.Time
	Logger *slog.Logger
}

// Scheduler is the production scheduler: the core behind Cap'n Proto
// services.
type Scheduler struct {
	cfg    Config
	log    *slog.Logger
	writer *store.Writer
	origin time.Time

	adminSecret string
	poolSecrets map[string]string // pool name -> secret

	// pools are fixed at the start; what changes in them (connected
	// workers, their jobs) belongs to the owner, as the core does.
	pools    map[string]*pool
	poolList []string // the pool names, sorted

	mu sync.Mutex
	// own is touched only in a function locked hands it to.
	own owned

	departures sync.WaitGroup
	// lease is how long a worker may give no sign of life, in wall-clock
	// time; zero when the policy keeps no leases.
	lease time.Duration
	// ctx is cancelled by Close: it ends the lease keeper and its pings.
	ctx    context.Context
	cancel context.CancelFunc
}

// owned is the core and everything that changes with it. Scheduler.locked
// is the only way to it: it hands it to a function while holding the lock,
// and a function that must run with the lock takes the *owned it was
// handed, so that the compiler, not a comment, says that it holds the lock.
type owned struct {
	core    *core.Scheduler
	clients map[string]string // hex(secret hash) -> client id
	revoked map[string]string // hex(secret hash) -> client id
	queued  map[clientKey]int // jobs queued per client, for metrics
	trace   *trace.Writer     // nil once writing it failed
	server  *wire.Server
	// shutting refuses new workers once Close has begun, so that Close
	// can wait for every registered worker's departure to be handled
	// (jobs settled, release traced) before it flushes the trace.
	shutting bool
	// policyErrorLogged is set once the core's first policy error is
	// logged.
	policyErrorLogged bool
}

type clientKey struct {
	client, pool string
	urgent       bool
}

// pool is one pool's connections and jobs.
type pool struct {
	name    string
	core    *core.Pool
	workers map[string]*workerConn // connected
	// changed is closed (and replaced) when a worker connects, leaves or
	// finishes a job, to wake admin requests that wait on workers.
	changed chan struct{}
	stats   poolMetrics
}

// New builds a scheduler, resuming the durable state in the store.
func New(cfg Config) (*Scheduler, error) {
	if cfg.Identity == nil {
		return nil, errors.New("scheduler: no identity (secret key) given")
	}
	for _, p := range cfg.Pools {
		if err := CheckPoolName(p); err != nil {
			return nil, fmt.Errorf("scheduler: %w", err)
		}
	}
	if cfg.PingTimeout == 0 {
		cfg.PingTimeout = 5 * time.Second
	}
	if cfg.MaxDescr == 0 {
		cfg.MaxDescr = 1 << 20
	}
	if cfg.AuthTimeout == 0 {
		cfg.AuthTimeout = 20 * time.Second
	}
	if cfg.MaxUnauthenticated == 0 {
		cfg.MaxUnauthenticated = 128
	}
	if cfg.Origin.IsZero() {
		cfg.Origin = time.Now()
	}
	if cfg.TimeScale == 0 {
		cfg.TimeScale = 1
	}
	if !(cfg.TimeScale > 0) || math.IsInf(cfg.TimeScale, 0) {
		return nil, fmt.Errorf("scheduler: time scale %v: must be a finite number more than 0", cfg.TimeScale)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	var snap *core.Snapshot
	s := &Scheduler{
		cfg:         cfg,
		log:         log,
		origin:      cfg.Origin,
		adminSecret: cfg.Identity.Derive("admin"),
		poolSecrets: map[string]string{},
		pools:       map[string]*pool{},
		own: owned{
			clients: map[string]string{},
			revoked: map[string]string{},
			queued:  map[clientKey]int{},
			trace:   cfg.Trace,
		},
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	if cfg.Store != nil {
		sn, err := cfg.Store.Snapshot()
		if err != nil {
			return nil, fmt.Errorf("loading the scheduler's state: %w", err)
		}
		snap = &sn
		clients, err := cfg.Store.Clients()
		if err != nil {
			return nil, fmt.Errorf("loading the clients: %w", err)
		}
		for _, c := range clients {
			s.own.clients[fmtHash(c.SecretHash)] = c.ID
		}
		s.writer = store.NewWriter(cfg.Store, 100*time.Millisecond, log)
	}
	c, err := core.New(core.Config{
		Pools:    cfg.Pools,
		Policy:   cfg.Policy,
		Override: cfg.Override,
		Costs:    cfg.Costs,
		Clock:    s.policyClock,
	}, snap)
	if err != nil {
		return nil, err
	}
	s.own.core = c
	s.poolList = c.Pools()
	for _, name := range c.Pools() {
		cp, _ := c.Pool(name)
		s.pools[name] = &pool{name: name, core: cp, workers: map[string]*workerConn{}, changed: make(chan struct{})}
		s.poolSecrets[name] = cfg.Identity.Derive("pool " + name)
	}
	if lease := c.Settings().Lease; lease > 0 {
		s.lease = time.Duration(lease / cfg.TimeScale * float64(time.Second))
		go s.keepLeases()
	}
	return s, nil
}

// Serve accepts connections on l until Close.
func (s *Scheduler) Serve(l net.Listener) error {
	srv := &wire.Server{
		Listener:           l,
		TLS:                s.cfg.Identity.ServerTLS(),
		Logger:             s.log,
		NewBootstrap:       s.newBootstrap,
		AuthTimeout:        s.cfg.AuthTimeout,
		MaxUnauthenticated: s.cfg.MaxUnauthenticated,
	}
	s.locked(func(st *owned) { st.server = srv })
	return srv.Serve()
}

// Close stops the scheduler: closes every connection and flushes what is
// still to be stored or traced.
func (s *Scheduler) Close() error {
	s.cancel()
	var srv *wire.Server
	s.locked(func(st *owned) {
		st.shutting = true
		srv = st.server
	})
	if srv != nil {
		srv.Close()
	}
	s.departures.Wait()
	var errs []error
	if s.writer != nil {
		errs = append(errs, s.writer.Close())
	}
	s.locked(func(st *owned) {
		if st.trace != nil {
			errs = append(errs, st.trace.Close())
		}
	})
	return errors.Join(errs...)
}

// Flush waits until every durable change so far is stored.
func (s *Scheduler) Flush(ctx context.Context) error {
	if s.writer == nil {
		return nil
	}
	return s.writer.Flush(ctx)
}

// locked runs f with the core locked, then does what the core asks: its
// durable changes are queued for the store, the jobs of the pops it woke
// go to their waiting calls, and the workers whose lease ran out are
// dropped as lost, once the lock is released (closing a connection must
// not hold up the core).
func (s *Scheduler) locked(f func(st *owned)) {
	var expired []*workerConn
	func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		st := &s.own
		f(st)
		for rd := st.core.Ready(); !rd.Empty(); rd = st.core.Ready() {
			if s.writer != nil {
				s.writer.Enqueue(rd.Changes)
			}
			for _, cw := range rd.Woken {
				t, err := cw.Resume()
				if t != nil || err != nil {
					cw.Payload().(*workerConn).deliver(st, outcomeOf(st, t, err))
				}
			}
			for _, cw := range rd.Expired {
				expired = append(expired, cw.Payload().(*workerConn))
			}
			st.core.Advance(rd)
		}
		if err := st.core.PolicyError(); err != nil && !st.policyErrorLogged {
			st.policyErrorLogged = true
			s.log.Error("the scheduling policy gave an answer the pool could not apply; the pool stays consistent and goes on as if the policy had no opinion, but the policy has a bug", "err", err)
		}
	}()
	for _, wc := range expired {
		s.log.Warn("Worker gave no sign of life for a lease: dropping it", "worker", wc.name, "pool", wc.pool.name, "lease", s.lease)
		wc.peer.Close()
		s.workerLost(wc)
	}
}

// now is the time since the scheduler started, for traces.
func (s *Scheduler) now() float64 { return time.Since(s.origin).Seconds() }

// policyClock is the core's clock: Unix time, going TimeScale times as
// fast as the wall clock from the scheduler's start.
func (s *Scheduler) policyClock() float64 { return s.policyTime(time.Now()) }

// policyTime is the core's clock at wall-clock instant t.
func (s *Scheduler) policyTime(t time.Time) float64 {
	return float64(s.origin.UnixNano())/1e9 + t.Sub(s.origin).Seconds()*s.cfg.TimeScale
}

// record appends an event to the trace, with the lock held so that events
// are in order.
func (s *Scheduler) record(st *owned, e trace.Event) {
	if st.trace == nil {
		return
	}
	e.T = max(0, s.now())
	if err := st.trace.Write(e); err != nil {
		s.log.Error("writing the trace failed; recording stops", "err", err)
		st.trace = nil
	}
}

// FlushTraceEvery writes out the trace every second until ctx ends, so
// that a crash loses little of it.
func (s *Scheduler) FlushTraceEvery(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.locked(func(st *owned) {
				if st.trace != nil {
					st.trace.Flush()
				}
			})
		}
	}
}

// ---------------------------------------------------------------- capability files

func (s *Scheduler) capFor(secret string) string {
	return wire.SturdyRef{Fingerprint: s.cfg.Identity.Fingerprint, Addr: s.cfg.PublicAddr, Secret: secret}.String() + "\n"
}

// WriteCapFiles writes admin.cap and pool-<name>.cap into dir, and an
// <id>.cap for each default client, as OCluster does (registering those
// that are not yet registered; an existing one keeps its secret and
// file). A client registered by an earlier version, which wrote
// submit-<id>.cap, gets its <id>.cap from that file.
func (s *Scheduler) WriteCapFiles(dir string, defaultClients []string) error {
	write := func(name, content string) error {
		path := filepath.Join(dir, name)
		if err := wire.WriteFileAtomic(path, []byte(content)); err != nil {
			return err
		}
		s.log.Info("Wrote capability reference to " + path)
		return nil
	}
	for _, id := range defaultClients {
		if err := s.checkClientCapName(id); err != nil {
			return err
		}
	}
	if err := write("admin.cap", s.capFor(s.adminSecret)); err != nil {
		return err
	}
	for _, name := range s.poolList {
		if err := write("pool-"+name+".cap", s.capFor(s.poolSecrets[name])); err != nil {
			return err
		}
	}
	for _, id := range defaultClients {
		var exists bool
		s.locked(func(st *owned) { exists = st.core.HasClient(id) })
		if exists {
			if err := s.carryOldCapFile(dir, id); err != nil {
				return err
			}
			continue
		}
		capFile, err := s.addClient(context.Background(), id)
		if err != nil {
			return err
		}
		if err := write(id+".cap", capFile); err != nil {
			return err
		}
	}
	return nil
}

// checkClientCapName refuses a default client whose <id>.cap would be
// the admin's or a pool's file.
func (s *Scheduler) checkClientCapName(id string) error {
	if id == "admin" {
		return fmt.Errorf("default client %q: its admin.cap would be the admin's capability file; choose another name", id)
	}
	if pool, ok := strings.CutPrefix(id, "pool-"); ok && slices.Contains(s.poolList, pool) {
		return fmt.Errorf("default client %q: its %s.cap would be pool %s's capability file; choose another name", id, id, pool)
	}
	return nil
}

// carryOldCapFile gives an existing client its <id>.cap from the
// submit-<id>.cap an earlier version wrote, when only that one is there:
// the secret is stored hashed, so the file is the only copy of it.
func (s *Scheduler) carryOldCapFile(dir, id string) error {
	path := filepath.Join(dir, id+".cap")
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	old := filepath.Join(dir, "submit-"+id+".cap")
	data, err := os.ReadFile(old)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := wire.WriteFileAtomic(path, data); err != nil {
		return err
	}
	s.log.Info("Copied an earlier version's capability file to its new name", "from", old, "to", path)
	return nil
}

// ---------------------------------------------------------------- bootstrap

func (s *Scheduler) newBootstrap(p *wire.Peer) capnp.Client {
	return capnp.Client(wire.Guarded[schema.Bootstrap](schema.Bootstrap_NewServer(&bootstrapServer{s: s, peer: p})))
}

type bootstrapServer struct {
	s    *Scheduler
	peer *wire.Peer
}

var (
	errRevoked = exc.New(exc.Failed, "", "Access has been revoked")
	errUnknown = exc.New(exc.Failed, "", "Unknown capability: its secret matches no admin, pool or client of this scheduler (a .cap file of another scheduler?)")
)

func sameSecret(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }

func (b *bootstrapServer) Restore(ctx context.Context, call schema.Bootstrap_restore) error {
	secret, err := call.Args().Secret()
	if err != nil {
		return err
	}
	s := b.s
	var c capnp.Client
	var kind schema.Bootstrap_Kind
	switch {
	case sameSecret(secret, s.adminSecret):
		c, kind = capnp.Client(wire.Guarded[schema.Admin](schema.Admin_NewServer(&adminServer{s: s}))), schema.Bootstrap_Kind_admin
	default:
		for _, name := range s.poolList {
			if sameSecret(secret, s.poolSecrets[name]) {
				c = capnp.Client(wire.Guarded[schema.Registration](schema.Registration_NewServer(&registrationServer{s: s, pool: s.pools[name], peer: b.peer})))
				kind = schema.Bootstrap_Kind_registration
			}
		}
		if c == (capnp.Client{}) {
			client, err := s.lookupClient(secret)
			if err != nil {
				return err
			}
			c, kind = capnp.Client(wire.Guarded[schema.Submission](schema.Submission_NewServer(&submissionServer{s: s, client: client}))), schema.Bootstrap_Kind_submission
		}
	}
	b.peer.Authenticated()
	res, err := call.AllocResults()
	if err != nil {
		c.Release()
		return err
	}
	res.SetKind(kind)
	return res.SetCap(c)
}

func (s *Scheduler) lookupClient(secret string) (string, error) {
	h := wire.HashSecret(secret)
	key := fmtHash(h)
	var id string
	var ok, revoked bool
	s.locked(func(st *owned) {
		id, ok = st.clients[key]
		_, revoked = st.revoked[key]
	})
	switch {
	case ok:
		return id, nil
	case revoked:
		return "", errRevoked
	}
	if s.cfg.Store != nil {
		// A client removed before this scheduler started is known as revoked.
		_, revoked, found, err := s.cfg.Store.LookupSecret(h)
		if err != nil {
			return "", err
		}
		if found && revoked {
			return "", errRevoked
		}
	}
	return "", errUnknown
}

// CheckPoolName refuses a pool name that could not name a .cap file
// (pool-NAME.cap) safely, for a command to check its flags before it
// creates anything.
func CheckPoolName(name string) error { return wire.CheckName("pool name", name) }

func (s *Scheduler) poolNames() string {
	return strings.Join(s.poolList, ", ")
}

func fmtHash(h []byte) string { return hex.EncodeToString(h) }
