package main

import (
	"strings"
	"testing"
	"time"

	"github.com/ocluster-go/ocluster/transport/wire"
	"github.com/stretchr/testify/assert"
)

// A new reason is told at once; a new position alone at most every
// positionEvery.
func TestStatusLinesAreSparing(t *testing.T) {
	var out strings.Builder
	now := time.Unix(0, 0)
	s := &statusLines{out: &out, now: func() time.Time { return now }}
	q := wire.QueueStatus{Queued: true, Position: 3, Length: 3, Queue: "pool linux", Waiting: "no worker is connected to pool linux"}
	s.report(q)
	now = now.Add(time.Second)
	q.Position = 2
	s.report(q) // only the position: not yet
	q.Waiting = "every worker that takes jobs is busy (1 of 1 running)"
	s.report(q) // a new reason: at once
	now = now.Add(positionEvery)
	q.Position = 1
	s.report(q)
	assert.Equal(t, `Waiting for a worker: queued: position 3 of 3 in the queue of pool linux; no worker is connected to pool linux
Waiting for a worker: queued: position 2 of 3 in the queue of pool linux; every worker that takes jobs is busy (1 of 1 running)
Waiting for a worker: queued: position 1 of 3 in the queue of pool linux; every worker that takes jobs is busy (1 of 1 running)
`, out.String())
}
