package scenario

import (
	"errors"
	"fmt"
	"math"
	"strconv"

	"github.com/ocluster-go/ocluster/core"
)

// The commands of the mechanisms the default policy adds to OCluster's:
// leases, re-queueing of lost jobs, prune reports, and what shows them.

func (r *runner) heartbeat(a *args) ([]string, error) {
	w := r.p.Worker(a.pos[0])
	if w == nil {
		return r.missing(a.pos[0]), nil
	}
	w.Heartbeat(r.now)
	return nil, nil
}

// expire checks the leases and, as a driver does, loses each worker whose
// lease ran out.
func (r *runner) expire(*args) ([]string, error) {
	r.sched.CheckLeases()
	rd := r.sched.Ready()
	var out []string
	for _, w := range rd.Expired {
		out = append(out, "expired "+w.Name())
		lost, err := r.loseWorker(w)
		if err != nil {
			return nil, err
		}
		out = append(out, lost...)
	}
	r.sched.Advance(core.Ready{Expired: rd.Expired})
	return out, nil
}

func (r *runner) lose(a *args) ([]string, error) {
	w := r.p.Worker(a.pos[0])
	if w == nil {
		return r.missing(a.pos[0]), nil
	}
	return r.loseWorker(w)
}

// loseWorker releases w as a driver does a worker it lost: each job w was
// running goes back to the pool, or fails once it has no attempts left.
func (r *runner) loseWorker(w *core.Worker) ([]string, error) {
	var out []string
	for _, t := range w.Release() {
		err := w.Requeue(t, true)
		switch {
		case err == nil:
			out = append(out, "requeued "+label(t))
		case errors.Is(err, core.ErrNoAttemptsLeft):
			if err := w.Finish(t); err != nil {
				return nil, err
			}
			out = append(out, "failed "+label(t))
		default:
			return nil, err
		}
	}
	return out, nil
}

// requeue puts W's oldest running job back: lost with the worker (counted
// against its attempts) or, with forced, moved off a worker that is fine.
func (r *runner) requeue(a *args) ([]string, error) {
	w, t, why := r.oldestRunning(a.pos[0])
	if why != nil {
		return why, nil
	}
	switch err := w.Requeue(t, !a.flags["forced"]); {
	case err == nil:
		return []string{"requeued " + label(t)}, nil
	case errors.Is(err, core.ErrNoAttemptsLeft):
		return errorLine("no attempts left"), nil
	default:
		return nil, fmt.Errorf("line %d: %w", a.line, err)
	}
}

func (r *runner) prune(a *args) ([]string, error) {
	w := r.p.Worker(a.pos[0])
	if w == nil {
		return r.missing(a.pos[0]), nil
	}
	return []string{"forgot " + strconv.Itoa(w.Pruned(a.pos[1:]))}, nil
}

// job prints what the pool knows of one job: its state, its worker, how
// many times a worker took it, whether it ran with its hint cached, and
// its fair start.
func (r *runner) job(a *args) ([]string, error) {
	t := r.jobs[[2]string{a.pos[0], a.pos[1]}]
	if t == nil {
		return errorLine("unknown job"), nil
	}
	text := t.State().String()
	if w := t.Worker(); w != "" {
		text += " worker=" + w
	}
	text += " attempts=" + strconv.Itoa(t.Attempts())
	if t.State() == core.TicketRunning || t.State() == core.TicketFinished {
		text += " cached=" + strconv.FormatBool(t.WasCached())
	}
	text += " fair-start=" + number(t.FairStart())
	return []string{text}, nil
}

func (r *runner) stats(*args) ([]string, error) {
	s := r.p.Stats()
	return []string{fmt.Sprintf("submitted=%d cancelled=%d accepted=%d requeued=%d stolen=%d",
		s.Submitted, s.Cancelled, s.Accepted, s.Requeued, s.Stolen)}, nil
}

func label(t *core.Ticket) string { return t.Client() + ":" + t.Job().Label }

// number prints x to the thousandth, so that float noise does not show.
func number(x float64) string {
	return strconv.FormatFloat(math.Round(x*1000)/1000, 'f', -1, 64)
}
