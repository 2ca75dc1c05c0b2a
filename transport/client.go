package transport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
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

// Submission returns the client's submission capability.
func (c *Conn) Submission(ctx context.Context) (*SubmissionClient, error) {
	cl, err := c.restore(ctx, schema.Bootstrap_Kind_submission)
	if err != nil {
		return nil, err
	}
	return &SubmissionClient{sub: schema.Submission(cl)}, nil
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

// SubmissionClient wraps a client's submission capability.
type SubmissionClient struct {
	sub schema.Submission
}

// Release drops the capability.
func (s *SubmissionClient) Release() { s.sub.Release() }

// Submit queues a job on a pool.
func (s *SubmissionClient) Submit(ctx context.Context, pool string, job *runners.Job, urgent bool) (*Job, error) {
	return s.send(ctx, pool, job, urgent)()
}

// maxDescrSent is the largest submission a client sends: a frame's limit
// less room for the RPC's own fields.
const maxDescrSent = MaxMessage - 64<<10

// send sends a submission at once and returns what waits for its ticket:
// submissions sent one after the other on a connection reach the
// scheduler in that order.
func (s *SubmissionClient) send(ctx context.Context, pool string, job *runners.Job, urgent bool) func() (*Job, error) {
	f, release := s.sub.Submit(ctx, func(p schema.Submission_submit_Params) error {
		p.SetUrgent(urgent)
		if err := p.SetPool(pool); err != nil {
			return err
		}
		d, err := p.NewDescr()
		if err != nil {
			return err
		}
		if err := fillDescr(d, job); err != nil {
			return err
		}
		// A message past the frame limit makes the scheduler drop the
		// connection, which the client would see as a broken pipe.
		if size, err := p.Message().TotalSize(); err != nil || size > maxDescrSent {
			return fmt.Errorf("the job description is too large to send (%d bytes; the limit is %d, and the scheduler's own, 1 MiB unless set, may be lower): put large files in the build context, not in the description", size, maxDescrSent)
		}
		return nil
	})
	return func() (*Job, error) {
		defer release()
		res, err := f.Struct()
		if err != nil {
			return nil, errors.New(remoteMessage(err))
		}
		return &Job{ticket: res.Ticket().AddRef()}, nil
	}
}

// Job is a submitted job, held through its ticket. Cancel may be called
// while another call waits; Release comes after the others.
type Job struct {
	ticket schema.Ticket

	mu      sync.Mutex
	running schema.Job // the job on its worker, once Started
}

// Started waits until a worker takes the job (a job queued again after
// its worker was lost stays the same job).
func (j *Job) Started(ctx context.Context) error {
	_, err := j.started(ctx)
	return err
}

func (j *Job) started(ctx context.Context) (schema.Job, error) {
	j.mu.Lock()
	running := j.running
	j.mu.Unlock()
	if running.IsValid() {
		return running, nil
	}
	f, release := j.ticket.Job(ctx, nil)
	defer release()
	res, err := f.Struct()
	if err != nil {
		return schema.Job{}, errors.New(remoteMessage(err))
	}
	running = res.Job().AddRef()
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.running.IsValid() { // a concurrent call got there first
		running.Release()
	} else {
		j.running = running
	}
	return j.running, nil
}

// Cancel cancels the job: a queued one leaves the queue, a running build
// is stopped.
func (j *Job) Cancel(ctx context.Context) error {
	f, release := j.ticket.Cancel(ctx, nil)
	defer release()
	if _, err := f.Struct(); err != nil {
		return errors.New(remoteMessage(err))
	}
	return nil
}

// Tail copies the job's log to w as it arrives, until the log is
// complete, waiting first for the job to start.
func (j *Job) Tail(ctx context.Context, w io.Writer) error {
	running, err := j.started(ctx)
	if err != nil {
		return err
	}
	var start int64
	for {
		f, release := running.Log(ctx, func(p schema.Job_log_Params) error { p.SetStart(start); return nil })
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

// Result waits for the job's end: its output, or the reason it failed.
func (j *Job) Result(ctx context.Context) (string, error) {
	running, err := j.started(ctx)
	if err != nil {
		return "", err
	}
	f, release := running.Result(ctx, nil)
	defer release()
	res, err := f.Struct()
	if err != nil {
		return "", errors.New(remoteMessage(err))
	}
	return res.Output()
}

// Release lets go of the job; as in OCluster, the scheduler then cancels
// it if it has not ended.
func (j *Job) Release() {
	j.mu.Lock()
	j.running.Release()
	j.running = schema.Job{}
	j.mu.Unlock()
	j.ticket.Release()
}
