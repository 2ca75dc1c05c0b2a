package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"

	"github.com/ocluster-go/ocluster/runners"
	"github.com/ocluster-go/ocluster/transport/schema"
	"github.com/ocluster-go/ocluster/transport/wire"
)

// Conn is a client's connection to a scheduler, opened with a capability.
type Conn struct{ *wire.Conn }

// Connect opens a connection to the scheduler a capability names.
func Connect(ctx context.Context, ref wire.SturdyRef, logger *slog.Logger) (*Conn, error) {
	c, err := wire.Connect(ctx, ref, logger)
	if err != nil {
		return nil, err
	}
	return &Conn{c}, nil
}

// Submission returns the client's submission capability.
func (c *Conn) Submission(ctx context.Context) (*Submission, error) {
	cl, err := c.Restore(ctx, schema.Bootstrap_Kind_submission)
	if err != nil {
		return nil, err
	}
	return &Submission{sub: schema.Submission(cl)}, nil
}

// Admin returns the admin capability.
func (c *Conn) Admin(ctx context.Context) (*Admin, error) {
	cl, err := c.Restore(ctx, schema.Bootstrap_Kind_admin)
	if err != nil {
		return nil, err
	}
	return &Admin{admin: schema.Admin(cl)}, nil
}

// Submission wraps a client's submission capability.
type Submission struct {
	sub schema.Submission
}

// Release drops the capability.
func (s *Submission) Release() { s.sub.Release() }

// Submit queues a job on a pool.
func (s *Submission) Submit(ctx context.Context, pool string, job *runners.Job, urgent bool) (*Job, error) {
	return s.send(ctx, pool, job, urgent)()
}

// maxDescrSent is the largest submission a client sends: a frame's limit
// less room for the RPC's own fields.
const maxDescrSent = wire.MaxMessage - 64<<10

// send sends a submission at once and returns what waits for its ticket:
// submissions sent one after the other on a connection reach the
// scheduler in that order.
func (s *Submission) send(ctx context.Context, pool string, job *runners.Job, urgent bool) func() (*Job, error) {
	f, release := s.sub.Submit(ctx, func(p schema.Submission_submit_Params) error {
		p.SetUrgent(urgent)
		if err := p.SetPool(pool); err != nil {
			return err
		}
		d, err := p.NewDescr()
		if err != nil {
			return err
		}
		if err := wire.FillDescr(d, job); err != nil {
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
			return nil, errors.New(wire.RemoteText(err))
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
		return schema.Job{}, errors.New(wire.RemoteText(err))
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
		return errors.New(wire.RemoteText(err))
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
			return fmt.Errorf("tailing the log: %s", wire.RemoteText(err))
		}
		data, err := res.Log()
		next, complete := res.Next(), res.Complete()
		if err == nil && len(data) > 0 {
			_, err = w.Write(data)
		}
		release()
		if err != nil {
			return err
		}
		// Schedulers before complete answer the read at the end with
		// empty data instead.
		if len(data) == 0 || complete {
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
		return "", errors.New(wire.RemoteText(err))
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
