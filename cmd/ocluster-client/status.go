package main

import (
	"fmt"
	"io"
	"time"

	"github.com/ocluster-go/ocluster/transport/wire"
)

// positionEvery is the least time between two lines that say only that
// the job moved up its queue.
const positionEvery = 30 * time.Second

// statusLines tells the user where a queued job stands: a line when why
// it waits changes, and one for a new position at most every
// positionEvery.
type statusLines struct {
	out     io.Writer
	now     func() time.Time
	last    wire.QueueStatus
	printed time.Time
}

func (s *statusLines) report(q wire.QueueStatus) {
	now := s.now()
	changed := q.Queue != s.last.Queue || q.Waiting != s.last.Waiting || s.printed.IsZero()
	if !changed && now.Sub(s.printed) < positionEvery {
		return
	}
	fmt.Fprintf(s.out, "Waiting for a worker: %s\n", q)
	s.last, s.printed = q, now
}
