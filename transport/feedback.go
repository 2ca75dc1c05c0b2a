package transport

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"capnproto.org/go/capnp/v3/exc"

	"github.com/ocluster-go/ocluster/core"
	"github.com/ocluster-go/ocluster/transport/schema"
)

// What the scheduler tells a client whose job waits, and an admin who
// asks why a pool takes no jobs: a worker that refuses every job (it
// paused itself for low disk, say) must not look like a quiet queue.

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

func (t *ticketServer) Status(ctx context.Context, call schema.Ticket_status) error {
	var q QueueStatus
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
func (j *job) queueStatus(*owned) QueueStatus {
	if j.ended || j.ticket.State() != core.TicketQueued {
		return QueueStatus{}
	}
	p := j.pool
	holder := j.ticket.Worker() // empty: in the pool's backlog
	q := QueueStatus{Queued: true, Queue: "pool " + p.name}
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

// Status asks the scheduler where the job stands. A scheduler too old to
// tell answers with an error that ErrNoStatus matches.
func (j *Job) Status(ctx context.Context) (QueueStatus, error) {
	f, release := j.ticket.Status(ctx, nil)
	defer release()
	res, err := f.Struct()
	if err != nil {
		if exc.TypeOf(err) == exc.Unimplemented {
			return QueueStatus{}, ErrNoStatus
		}
		return QueueStatus{}, errors.New(remoteMessage(err))
	}
	s, err := res.Status()
	if err != nil {
		return QueueStatus{}, err
	}
	q := QueueStatus{Queued: s.Queued(), Position: int(s.Position()), Length: int(s.Length())}
	if q.Queue, err = s.Queue(); err != nil {
		return QueueStatus{}, err
	}
	if q.Waiting, err = s.Waiting(); err != nil {
		return QueueStatus{}, err
	}
	return q, nil
}

// ErrNoStatus is the error of Status from a scheduler that cannot tell.
var ErrNoStatus = errors.New("the scheduler cannot tell where a queued job stands (it is older than this client)")

// AwaitStart is Started that tells, while the job waits, where it stands:
// it asks every poll (the first time after one poll, so that a job a
// worker takes at once says nothing) and calls report when the answer
// differs from the last one.
func (j *Job) AwaitStart(ctx context.Context, poll time.Duration, report func(QueueStatus)) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	started := make(chan error, 1)
	go func() {
		_, err := j.started(ctx)
		started <- err
	}()
	tick := time.NewTicker(poll)
	defer tick.Stop()
	var last QueueStatus
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
