package client

import (
	"context"
	"errors"
	"time"

	"capnproto.org/go/capnp/v3/exc"

	"github.com/ocluster-go/ocluster/transport/wire"
)

// Status asks the scheduler where the job stands. A scheduler too old to
// tell answers with an error that ErrNoStatus matches.
func (j *Job) Status(ctx context.Context) (wire.QueueStatus, error) {
	f, release := j.ticket.Status(ctx, nil)
	defer release()
	res, err := f.Struct()
	if err != nil {
		if exc.TypeOf(err) == exc.Unimplemented {
			return wire.QueueStatus{}, ErrNoStatus
		}
		return wire.QueueStatus{}, errors.New(wire.RemoteText(err))
	}
	s, err := res.Status()
	if err != nil {
		return wire.QueueStatus{}, err
	}
	q := wire.QueueStatus{Queued: s.Queued(), Position: int(s.Position()), Length: int(s.Length())}
	if q.Queue, err = s.Queue(); err != nil {
		return wire.QueueStatus{}, err
	}
	if q.Waiting, err = s.Waiting(); err != nil {
		return wire.QueueStatus{}, err
	}
	return q, nil
}

// ErrNoStatus is the error of Status from a scheduler that cannot tell.
var ErrNoStatus = errors.New("the scheduler cannot tell where a queued job stands (it is older than this client)")

// AwaitStart is Started that tells, while the job waits, where it stands:
// it asks every poll (the first time after one poll, so that a job a
// worker takes at once says nothing) and calls report when the answer
// differs from the last one.
func (j *Job) AwaitStart(ctx context.Context, poll time.Duration, report func(wire.QueueStatus)) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	started := make(chan error, 1)
	go func() {
		_, err := j.started(ctx)
		started <- err
	}()
	tick := time.NewTicker(poll)
	defer tick.Stop()
	var last wire.QueueStatus
	for {
		select {
		case err := <-started:
			return err
		case <-tick.C:
		}
		q, err := j.Status(ctx)
		if err != nil {
			// Too old a scheduler, or a failure that the wait for the
			// start will report: just wait.
			return <-started
		}
		if q.Queued && q != last {
			report(q)
		}
		last = q
	}
}
