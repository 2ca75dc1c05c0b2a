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
// it asks after poll (so that a job a worker takes at once says nothing)
// and calls report when the answer differs from the last one. While the
// answer stays the same it asks less and less often, down to once every
// 16 polls: a scheduler with a long queue goes through it to answer, and
// many clients wait at once.
func (j *Job) AwaitStart(ctx context.Context, poll time.Duration, report func(wire.QueueStatus)) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	started := make(chan error, 1)
	go func() {
		_, err := j.started(ctx)
		started <- err
	}()
	wait := poll
	timer := time.NewTimer(wait)
	defer timer.Stop()
	var last wire.QueueStatus
	for {
		select {
		case err := <-started:
			return err
		case <-timer.C:
		}
		q, err := j.Status(ctx)
		if err != nil {
			// Too old a scheduler, or a failure that the wait for the
			// start will report: just wait.
			return <-started
		}
		if q.Queued && q != last {
			report(q)
			wait = poll
		} else {
			wait = min(2*wait, maxPollBackOff*poll)
		}
		last = q
		timer.Reset(wait)
	}
}

// maxPollBackOff bounds how far AwaitStart spaces its questions out, in
// polls.
const maxPollBackOff = 16
