package core

// Job is what a client submits: the core needs only its cache hint; the rest
// rides along for the driver.
type Job struct {
	// Label names the job in the pool's show text.
	Label string
	// Hint is the cache hint: jobs with the same hint run faster on a worker
	// that has run one before. Empty means no hint.
	Hint string
	// Estimate is the client's own estimate of the run time, in seconds;
	// 0 means none. Policies that learn run times use it in place of
	// their own estimate for this job.
	Estimate float64
	// Payload is the driver's own description of the job; the core never
	// looks at it.
	Payload any
}

// TicketState is where a ticket is in its life.
type TicketState uint8

const (
	// TicketQueued: waiting in the backlog or in a worker's local queue.
	TicketQueued TicketState = iota
	// TicketRunning: taken by a worker's pop and not yet finished.
	TicketRunning
	// TicketFinished: the worker reported it finished.
	TicketFinished
	// TicketCancelled: cancelled while it was queued.
	TicketCancelled
)

func (s TicketState) String() string {
	switch s {
	case TicketQueued:
		return "queued"
	case TicketRunning:
		return "running"
	case TicketFinished:
		return "finished"
	case TicketCancelled:
		return "cancelled"
	}
	return "invalid"
}

// unassigned is the cost of a ticket that sits in no worker's local queue.
const unassigned = -1

// Ticket is one submitted job as the pool tracks it.
type Ticket struct {
	job       Job
	pool      *Pool
	client    *clientRecord
	hint      *hintEntry
	seq       uint64
	urgent    bool
	state     TicketState
	fairStart float64
	// cost is the estimate charged to the workload of the worker whose
	// local queue holds the ticket, or unassigned.
	cost      float64
	worker    *Worker // whose local queue holds it, or who runs or ran it
	submitted float64
	started   float64
	wasCached bool
	// attempts counts the times a worker took the job.
	attempts int
	// trueEnd is when its run ends, for the ideal policy, which knows.
	trueEnd float64
}

// ID is the ticket's submission sequence number, unique within a Scheduler.
func (t *Ticket) ID() uint64 { return t.seq }

// Job returns the job as submitted.
func (t *Ticket) Job() Job { return t.job }

// Client is the id of the client that submitted the job.
func (t *Ticket) Client() string { return t.client.id }

// Pool is the name of the pool the job was submitted to.
func (t *Ticket) Pool() string { return t.pool.name }

// Urgent reports whether the job was submitted as urgent.
func (t *Ticket) Urgent() bool { return t.urgent }

// State says whether the ticket is queued, running, finished or cancelled.
func (t *Ticket) State() TicketState { return t.state }

// FairStart is the fair start time the policy gave the job at submission.
func (t *Ticket) FairStart() float64 { return t.fairStart }

// Worker is the name of the worker that runs or ran the job, or whose local
// queue holds it; empty while it waits in the backlog.
func (t *Ticket) Worker() string {
	if t.worker == nil {
		return ""
	}
	return t.worker.name
}

// QueuePosition says where a queued ticket stands in the queue that holds
// it (its pool's backlog, or a worker's local queue), in the order the
// queue serves: position 1 is next. It goes through that queue, for a
// client that asks now and then, not for a decision.
func (t *Ticket) QueuePosition() (position, length int) {
	if t.state != TicketQueued {
		return 0, 0
	}
	q := &t.pool.backlog
	if t.worker != nil {
		q = &t.worker.local
	}
	me := entryFor(t)
	position = 1
	for i := range q.entries {
		e := &q.entries[i]
		if e.t.state != TicketQueued {
			continue
		}
		length++
		if e.t != t && e.before(&me) {
			position++
		}
	}
	return position, length
}

// SubmittedAt is the clock reading when the job was submitted.
func (t *Ticket) SubmittedAt() float64 { return t.submitted }

// StartedAt is the clock reading when a worker took the job (0 before).
func (t *Ticket) StartedAt() float64 { return t.started }

// Attempts is how many times a worker has taken the job: more than one
// when it was re-queued after losing a worker.
func (t *Ticket) Attempts() int { return t.attempts }

// WasCached reports whether the worker that took the job was stored as
// having the job's hint cached when it took it.
func (t *Ticket) WasCached() bool { return t.wasCached }
