package worker

import (
	"maps"
	"slices"
	"strings"
)

// agentState is what a worker agent decides from: its running jobs
// against its capacity, the job objects the scheduler still holds, an
// update asked for, the causes that keep it from taking jobs, and what the
// scheduler was told of that. It is pure (no I/O, no goroutines, no
// clock) so that every decision is tested apart from the RPCs; the agent
// applies each event under its one mutex and carries out what it returns.
type agentState struct {
	capacity int
	running  int // jobs running, those of lost connections included
	held     int // job objects the scheduler still holds
	updating bool
	// paused holds why the worker keeps itself from taking jobs, by cause
	// ("prune", "health"); it takes jobs when empty.
	paused map[string]string

	connected bool
	session   uint64 // counts registrations, so a late answer of an old connection is ignored
	told      bool   // whether the scheduler was last told the worker is active
	toldWhy   string // and, when not, the reason it was told
	telling   bool   // a word is on its way: one at a time keeps the last word sent the current state
}

func newAgentState(capacity int) agentState {
	return agentState{capacity: capacity, paused: map[string]string{}}
}

// activeWord is what the agent must tell the scheduler after an event:
// whether the worker takes jobs, and why not, when send is set. The agent
// reports the outcome with sent.
type activeWord struct {
	send    bool
	active  bool
	why     string
	session uint64
}

// agentStep is what the agent's session loop does next.
type agentStep int

const (
	stepPop    agentStep = iota // wait for a job and start it
	stepWait                    // at capacity: wait until a job ends
	stepUpdate                  // told to update: take no more jobs, await the running ones
)

// updateStep is how far an update has come.
type updateStep int

const (
	updateWait  updateStep = iota // jobs still run
	updateGrace                   // the jobs ended but the scheduler holds some: wait, at most the grace
	updateExit                    // nothing left: exit to be restarted on the new version
)

// taken: a job was popped; it runs, and the scheduler holds its object.
func (s *agentState) taken() {
	s.running++
	s.held++
}

// ended: a job's run ended.
func (s *agentState) ended() { s.running-- }

// released: the scheduler let go of a job's object.
func (s *agentState) released() { s.held-- }

// updateRequested: the scheduler asked the worker to update.
func (s *agentState) updateRequested() { s.updating = true }

func (s *agentState) next() agentStep {
	switch {
	case s.updating:
		return stepUpdate
	case s.running >= s.capacity:
		return stepWait
	}
	return stepPop
}

// updateNext says whether an update may exit: once the jobs ended and the
// scheduler let go of their objects (their clients have read the logs).
func (s *agentState) updateNext() updateStep {
	switch {
	case s.running > 0:
		return updateWait
	case s.held > 0:
		return updateGrace
	}
	return updateExit
}

// pause: the worker takes no jobs for a cause until it is resumed.
func (s *agentState) pause(cause, why string) activeWord {
	s.paused[cause] = why
	return s.word()
}

// resume lifts a cause's pause; was says whether it was paused for it.
func (s *agentState) resume(cause string) (w activeWord, was bool) {
	_, was = s.paused[cause]
	delete(s.paused, cause)
	return s.word(), was
}

// registered: a connection registered the worker, which the scheduler
// takes as active.
func (s *agentState) registered() activeWord {
	s.connected, s.told, s.toldWhy, s.telling = true, true, "", false
	s.session++
	return s.word()
}

// disconnected: the connection is gone; the next registration tells the
// scheduler again.
func (s *agentState) disconnected() { s.connected = false }

// sent reports the outcome of sending w; the state may have changed while
// it was on its way, and then there is another word to send. A failed
// word is not sent again at once (the connection is likely broken): the
// next event or registration tells the scheduler.
func (s *agentState) sent(w activeWord, delivered bool) activeWord {
	if w.session != s.session {
		return activeWord{} // of an old connection
	}
	s.telling = false
	if !delivered {
		return activeWord{}
	}
	s.told, s.toldWhy = w.active, w.why
	return s.word()
}

// word is what to tell the scheduler: a change of activity, or a new
// reason for a pause, so that the admin and waiting clients see the
// current one.
func (s *agentState) word() activeWord {
	active := len(s.paused) == 0
	why := s.why()
	if !s.connected || s.telling || active == s.told && why == s.toldWhy {
		return activeWord{}
	}
	s.telling = true
	return activeWord{send: true, active: active, why: why, session: s.session}
}

// why joins the reasons of the pauses, in the order of their causes.
func (s *agentState) why() string {
	causes := slices.Sorted(maps.Keys(s.paused))
	whys := make([]string, len(causes))
	for i, c := range causes {
		whys[i] = s.paused[c]
	}
	return strings.Join(whys, "; and ")
}
