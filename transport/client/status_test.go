package client

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ocluster-go/ocluster/transport/schema"
	"github.com/ocluster-go/ocluster/transport/wire"
)

// queuedTicket is a ticket whose job never starts: it is at position 1
// until moveAt, then at position 2. It notes when it was asked.
type queuedTicket struct {
	start  time.Time
	moveAt time.Duration
	asked  []time.Duration
}

func (q *queuedTicket) Job(ctx context.Context, call schema.Ticket_job) error {
	call.Go() // as the scheduler's: a waiting Job call holds up no other
	<-ctx.Done()
	return ctx.Err()
}

func (q *queuedTicket) Cancel(context.Context, schema.Ticket_cancel) error { return nil }

func (q *queuedTicket) Status(_ context.Context, call schema.Ticket_status) error {
	now := time.Since(q.start)
	q.asked = append(q.asked, now)
	res, err := call.AllocResults()
	if err != nil {
		return err
	}
	s, err := res.NewStatus()
	if err != nil {
		return err
	}
	s.SetQueued(true)
	s.SetPosition(1)
	if now >= q.moveAt {
		s.SetPosition(2)
	}
	s.SetLength(2)
	return s.SetQueue("pool p")
}

// While its job's place stays the same, a waiting client asks twice as
// long after each answer, up to 16 polls; a change brings it back to
// asking every poll.
func TestAwaitStartAsksLessWhileNothingChanges(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := &queuedTicket{start: time.Now(), moveAt: 40 * time.Second}
		j := &Job{ticket: schema.Ticket_ServerToClient(q)}
		defer j.Release()
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Second)
		defer cancel()
		var reported []int
		err := j.AwaitStart(ctx, time.Second, func(s wire.QueueStatus) { reported = append(reported, s.Position) })
		require.ErrorContains(t, err, "deadline exceeded")
		var asked []int
		for _, d := range q.asked {
			asked = append(asked, int(d/time.Second))
		}
		assert.Equal(t, []int{1, 2, 4, 8, 16, 32, 48, 49, 51, 55, 63, 79, 95}, asked)
		assert.Equal(t, []int{1, 2}, reported)
	})
}
