package scheduler

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/ocluster-go/ocluster/core"
	"github.com/ocluster-go/ocluster/transport/schema"
	"github.com/ocluster-go/ocluster/transport/wire"
)

// What the scheduler tells a client whose job waits, and an admin who
// asks why a pool takes no jobs: a worker that refuses every job (it
// paused itself for low disk, say) must not look like a quiet queue.

func (t ticketServer) Status(ctx context.Context, call schema.Ticket_status) error {
	var q wire.QueueStatus
	t.j.s.locked(func(st *owned) { q = t.j.queueStatus(st) })
	res, err := call.AllocResults()
	if err != nil {
		return err
	}
	s, err := res.NewStatus()
	if err != nil {
		return err
	}
	s.SetQueued(q.Queued)
	s.SetPosition(uint32(q.Position))
	s.SetLength(uint32(q.Length))
	if err := s.SetQueue(q.Queue); err != nil {
		return err
	}
	return s.SetWaiting(q.Waiting)
}

// queueStatus says where j stands. It goes through the pool's queued jobs:
// a client asks now and then, not at every dispatch.
func (j *job) queueStatus(*owned) wire.QueueStatus {
	if j.ended || j.ticket.State() != core.TicketQueued {
		return wire.QueueStatus{}
	}
	p := j.pool
	holder := j.ticket.Worker() // empty: in the pool's backlog
	q := wire.QueueStatus{Queued: true, Queue: "pool " + p.name}
	if holder != "" {
		q.Queue = "worker " + holder
	}
	q.Position, q.Length = j.ticket.QueuePosition()
	if holder != "" {
		if wc := p.workers[holder]; wc != nil {
			q.Waiting = fmt.Sprintf("it waits for %s, which has its cache and runs %d of its %d jobs at once", holder,
				len(wc.core.Running()), wc.core.Capacity())
		}
		return q
	}
	q.Waiting = p.whyNoWorker()
	return q
}

// whyNoWorker says why no worker of the pool is ready to take a job, or
// nothing when one is.
func (p *pool) whyNoWorker() string {
	if len(p.workers) == 0 {
		return fmt.Sprintf("no worker is connected to pool %s: start one with ocluster-worker -c pool-%s.cap", p.name, p.name)
	}
	var paused []string
	active, running, capacity := 0, 0, 0
	for _, wc := range p.sortedWorkers() {
		if !wc.core.Active() {
			paused = append(paused, wc.name+" "+wc.whyInactive())
			continue
		}
		active++
		running += len(wc.core.Running())
		capacity += wc.core.Capacity()
		if len(wc.core.Running()) < wc.core.Capacity() {
			return ""
		}
	}
	if active == 0 {
		return "no worker takes jobs: " + strings.Join(paused, "; ")
	}
	why := fmt.Sprintf("every worker that takes jobs is busy (%d of %d running)", running, capacity)
	if len(paused) > 0 {
		why += "; the others take none: " + strings.Join(paused, "; ")
	}
	return why
}

func (p *pool) sortedWorkers() []*workerConn {
	list := make([]*workerConn, 0, len(p.workers))
	for _, wc := range p.workers {
		list = append(list, wc)
	}
	slices.SortFunc(list, func(a, b *workerConn) int { return strings.Compare(a.name, b.name) })
	return list
}

// whyInactive says why a connected worker takes no jobs: each of its
// reasons, with what the worker said of its own pause.
func (wc *workerConn) whyInactive() string {
	r := wc.core.Reasons()
	var whys []string
	if r&core.ReasonWorker != 0 {
		why := wc.pausedWhy
		if why == "" {
			why = "it gave no reason (an older ocluster-worker?); see its log"
		}
		whys = append(whys, "paused by the worker: "+why)
	}
	if r&core.ReasonAdmin != 0 {
		whys = append(whys, fmt.Sprintf("paused by the admin (ocluster-admin unpause %s %s)", wc.pool.name, wc.name))
	}
	if r&core.ReasonShutdown != 0 {
		whys = append(whys, "shutting down (updating, or told to stop)")
	}
	if len(whys) == 0 {
		return "takes no jobs"
	}
	return strings.Join(whys, "; and ")
}

// maxPauseReason bounds the reason a worker gives for a pause, as shown:
// a failed health check's carries the tail of a build log.
const maxPauseReason = 400

// oneLine makes a worker's words fit one line of show and of a waiting
// client's output: its lines joined, at most max bytes (and whole UTF-8
// characters).
func oneLine(s string, max int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "..."
}

// inactiveSection is what the pool's show text adds: why each connected
// worker that takes no jobs does not. Empty when all take jobs.
func (p *pool) inactiveSection() string {
	var b strings.Builder
	for _, wc := range p.sortedWorkers() {
		if !wc.core.Active() && !wc.core.Released() {
			if b.Len() == 0 {
				b.WriteString("\ninactive:")
			}
			fmt.Fprintf(&b, "\n  %s: %s", wc.name, wc.whyInactive())
		}
	}
	return b.String()
}
