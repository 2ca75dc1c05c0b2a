package transport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"syscall"

	capnp "capnproto.org/go/capnp/v3"
	"capnproto.org/go/capnp/v3/rpc"

	"github.com/ocluster-go/ocluster/runners"
	"github.com/ocluster-go/ocluster/transport/schema"
)

// Conn is a client's connection to a scheduler, opened with a capability.
type Conn struct {
	rpc *rpc.Conn
	ref SturdyRef
}

// Connect opens a connection to the scheduler a capability names.
func Connect(ctx context.Context, ref SturdyRef, logger *slog.Logger) (*Conn, error) {
	return connect(ctx, ref, dialTCP, logger)
}

func connect(ctx context.Context, ref SturdyRef, dialNet DialFunc, logger *slog.Logger) (*Conn, error) {
	c, err := dial(ctx, ref, dialNet, logger)
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

// restore exchanges the capability's secret for the capability, checking
// that it is of the kind wanted.
func (c *Conn) restore(ctx context.Context, want schema.Bootstrap_Kind) (capnp.Client, error) {
	boot := schema.Bootstrap(c.rpc.Bootstrap(ctx))
	defer boot.Release()
	f, release := boot.Restore(ctx, func(p schema.Bootstrap_restore_Params) error { return p.SetSecret(c.ref.Secret) })
	defer release()
	res, err := f.Struct()
	if err != nil {
		return capnp.Client{}, fmt.Errorf("the scheduler refused the capability: %s", remoteMessage(err))
	}
	if res.Kind() != want {
		return capnp.Client{}, fmt.Errorf("%w: this is an %s capability, but a %s one is needed", ErrWrongKind, kindNames[res.Kind()], kindNames[want])
	}
	return res.Cap().AddRef(), nil
}

// Submission returns the client capability.
func (c *Conn) Submission(ctx context.Context) (schema.Submission, error) {
	cl, err := c.restore(ctx, schema.Bootstrap_Kind_submission)
	return schema.Submission(cl), err
}

// Admin returns the admin capability.
func (c *Conn) Admin(ctx context.Context) (schema.Admin, error) {
	cl, err := c.restore(ctx, schema.Bootstrap_Kind_admin)
	return schema.Admin(cl), err
}

// Registration returns a pool's worker registration capability.
func (c *Conn) Registration(ctx context.Context) (schema.Registration, error) {
	cl, err := c.restore(ctx, schema.Bootstrap_Kind_registration)
	return schema.Registration(cl), err
}

// Submit queues a job on a pool and returns its ticket.
func Submit(ctx context.Context, sub schema.Submission, pool string, job *runners.Job, urgent bool) (schema.Ticket, error) {
	return sendSubmit(ctx, sub, pool, job, urgent)()
}

// sendSubmit sends a submission at once and returns what waits for its
// ticket: submissions sent one after the other on a connection reach the
// scheduler in that order.
func sendSubmit(ctx context.Context, sub schema.Submission, pool string, job *runners.Job, urgent bool) func() (schema.Ticket, error) {
	f, release := sub.Submit(ctx, func(p schema.Submission_submit_Params) error {
		p.SetUrgent(urgent)
		if err := p.SetPool(pool); err != nil {
			return err
		}
		d, err := p.NewDescr()
		if err != nil {
			return err
		}
		return fillDescr(d, job)
	})
	return func() (schema.Ticket, error) {
		defer release()
		res, err := f.Struct()
		if err != nil {
			return schema.Ticket{}, errors.New(remoteMessage(err))
		}
		return res.Ticket().AddRef(), nil
	}
}

// TicketJob waits until a worker takes the ticket's job, and returns it.
func TicketJob(ctx context.Context, ticket schema.Ticket) (schema.Job, error) {
	f, release := ticket.Job(ctx, nil)
	defer release()
	res, err := f.Struct()
	if err != nil {
		return schema.Job{}, errors.New(remoteMessage(err))
	}
	return res.Job().AddRef(), nil
}

// CancelTicket cancels a queued job, or a running build.
func CancelTicket(ctx context.Context, ticket schema.Ticket) error {
	f, release := ticket.Cancel(ctx, nil)
	defer release()
	if _, err := f.Struct(); err != nil {
		return errors.New(remoteMessage(err))
	}
	return nil
}

// Tail copies a job's log to w as it arrives, until the log is complete.
func Tail(ctx context.Context, job schema.Job, w io.Writer) error {
	var start int64
	for {
		f, release := job.Log(ctx, func(p schema.Job_log_Params) error { p.SetStart(start); return nil })
		res, err := f.Struct()
		if err != nil {
			release()
			return fmt.Errorf("tailing the log: %s", remoteMessage(err))
		}
		data, err := res.Log()
		next := res.Next()
		if err == nil && len(data) > 0 {
			_, err = w.Write(data)
		}
		release()
		if err != nil {
			return err
		}
		if len(data) == 0 {
			return nil
		}
		start = next
	}
}

// Result waits for a job's end: its output, or the reason it failed.
func Result(ctx context.Context, job schema.Job) (string, error) {
	f, release := job.Result(ctx, nil)
	defer release()
	res, err := f.Struct()
	if err != nil {
		return "", errors.New(remoteMessage(err))
	}
	return res.Output()
}
