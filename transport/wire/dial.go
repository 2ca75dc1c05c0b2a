package wire

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"syscall"

	capnp "capnproto.org/go/capnp/v3"
	"capnproto.org/go/capnp/v3/rpc"

	"github.com/ocluster-go/ocluster/transport/schema"
)

// Conn is a client's connection to a scheduler, opened with a capability.
type Conn struct {
	rpc *rpc.Conn
	ref SturdyRef
}

// Connect opens a connection to the scheduler a capability names.
func Connect(ctx context.Context, ref SturdyRef, logger *slog.Logger) (*Conn, error) {
	return ConnectVia(ctx, ref, DialTCP, logger)
}

// ConnectVia is Connect over another network than TCP.
func ConnectVia(ctx context.Context, ref SturdyRef, dialNet DialFunc, logger *slog.Logger) (*Conn, error) {
	c, err := dialTLS(ctx, ref, dialNet, logger)
	if err != nil {
		return nil, connectError(ref, err)
	}
	return &Conn{rpc: c, ref: ref}, nil
}

func connectError(ref SturdyRef, err error) error {
	switch {
	case errors.Is(err, ErrFingerprint):
		return fmt.Errorf("connecting to %s: %w", ref.Addr, err)
	case errors.Is(err, syscall.ECONNREFUSED):
		return fmt.Errorf("connecting to %s: nothing is listening there (is the scheduler running?)", ref.Addr)
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		return fmt.Errorf("connecting to %s: unknown host %q", ref.Addr, dnsErr.Name)
	}
	return fmt.Errorf("connecting to %s: %w", ref.Addr, err)
}

// Close closes the connection.
func (c *Conn) Close() error { return c.rpc.Close() }

// Done is closed when the connection has ended.
func (c *Conn) Done() <-chan struct{} { return c.rpc.Done() }

var kindNames = map[schema.Bootstrap_Kind]string{
	schema.Bootstrap_Kind_admin:        "admin",
	schema.Bootstrap_Kind_registration: "pool (worker registration)",
	schema.Bootstrap_Kind_submission:   "client (job submission)",
}

// ErrWrongKind is the error of a capability of another kind than needed.
var ErrWrongKind = errors.New("wrong kind of capability")

// Restore exchanges the capability's secret for the capability, checking
// that it is of the kind wanted.
func (c *Conn) Restore(ctx context.Context, want schema.Bootstrap_Kind) (capnp.Client, error) {
	boot := schema.Bootstrap(c.rpc.Bootstrap(ctx))
	defer boot.Release()
	f, release := boot.Restore(ctx, func(p schema.Bootstrap_restore_Params) error { return p.SetSecret(c.ref.Secret) })
	defer release()
	res, err := f.Struct()
	if err != nil {
		return capnp.Client{}, fmt.Errorf("the scheduler refused the capability: %s", RemoteText(err))
	}
	if res.Kind() != want {
		return capnp.Client{}, fmt.Errorf("%w: this is an %s capability, but a %s one is needed", ErrWrongKind, kindNames[res.Kind()], kindNames[want])
	}
	return res.Cap().AddRef(), nil
}

// Registration returns a pool's worker registration capability.
func (c *Conn) Registration(ctx context.Context) (schema.Registration, error) {
	cl, err := c.Restore(ctx, schema.Bootstrap_Kind_registration)
	return schema.Registration(cl), err
}
