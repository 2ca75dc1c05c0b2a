package wire

import (
	"fmt"
)

// QueueStatus is where a queued job stands.
type QueueStatus struct {
	// Queued is false once a worker has the job, or it has ended.
	Queued bool
	// Position is 1 for the next job its queue hands out.
	Position int
	// Queue names the queue: "pool NAME", or "worker NAME" when the job
	// waits for that worker (it has the job's cache).
	Queue string
	// Length is how many jobs wait in that queue.
	Length int
	// Waiting says why no worker takes the job now; empty when one is
	// ready to.
	Waiting string
}

// String is the line a client prints.
func (q QueueStatus) String() string {
	if !q.Queued {
		return "no longer queued"
	}
	line := fmt.Sprintf("queued: position %d of %d in the queue of %s", q.Position, q.Length, q.Queue)
	if q.Waiting != "" {
		line += "; " + q.Waiting
	}
	return line
}
