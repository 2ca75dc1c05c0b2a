package worker

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// A step of an agentState test: an event and, after it, the word to send
// (nil: none), the session loop's step and the update's.
type agentEvent struct {
	name   string
	apply  func(s *agentState, last activeWord) activeWord
	word   *bool // nil: nothing to send; else the activity to tell
	step   agentStep
	update updateStep
}

func jobEventOf(name string, event func(*agentState)) agentEvent {
	return agentEvent{name: name, apply: func(s *agentState, _ activeWord) activeWord { event(s); return activeWord{} }}
}

func pauseFor(cause string) agentEvent {
	return agentEvent{name: "pause " + cause, apply: func(s *agentState, _ activeWord) activeWord { return s.pause(cause, "because") }}
}

func resumeFrom(cause string) agentEvent {
	return agentEvent{name: "resume " + cause, apply: func(s *agentState, _ activeWord) activeWord { w, _ := s.resume(cause); return w }}
}

var (
	onTaken        = jobEventOf("taken", (*agentState).taken)
	onEnded        = jobEventOf("ended", (*agentState).ended)
	onReleased     = jobEventOf("released", (*agentState).released)
	onUpdate       = jobEventOf("update requested", (*agentState).updateRequested)
	onDisconnected = jobEventOf("disconnected", (*agentState).disconnected)
	onRegistered   = agentEvent{name: "registered", apply: func(s *agentState, _ activeWord) activeWord { return s.registered() }}
	onDelivered    = agentEvent{name: "delivered", apply: func(s *agentState, last activeWord) activeWord { return s.sent(last, true) }}
	onFailed       = agentEvent{name: "failed", apply: func(s *agentState, last activeWord) activeWord { return s.sent(last, false) }}
)

// with sets what is expected after an event.
func (e agentEvent) with(word *bool, step agentStep, update updateStep) agentEvent {
	e.word, e.step, e.update = word, step, update
	return e
}

func wordOf(b bool) *bool { return &b }

var (
	tellActive = wordOf(true)
	tellPaused = wordOf(false)
)

func TestAgentState(t *testing.T) {
	for _, tc := range []struct {
		name     string
		capacity int
		events   []agentEvent
	}{
		{"jobs fill the capacity and make room as they end", 2, []agentEvent{
			onTaken.with(nil, stepPop, updateWait),
			onTaken.with(nil, stepWait, updateWait),
			onReleased.with(nil, stepWait, updateWait), // the scheduler let go, the build goes on
			onEnded.with(nil, stepPop, updateWait),
			onEnded.with(nil, stepPop, updateGrace), // one object still held
			onReleased.with(nil, stepPop, updateExit),
		}},
		{"an update stops the taking of jobs and waits for them and their objects", 1, []agentEvent{
			onTaken.with(nil, stepWait, updateWait),
			onUpdate.with(nil, stepUpdate, updateWait),
			onEnded.with(nil, stepUpdate, updateGrace),
			onReleased.with(nil, stepUpdate, updateExit),
		}},
		{"an idle worker updates at once", 1, []agentEvent{
			onUpdate.with(nil, stepUpdate, updateExit),
		}},
		{"a pause is told once connected, and only a change is told", 1, []agentEvent{
			pauseFor("health").with(nil, stepPop, updateExit),  // no connection yet
			onRegistered.with(tellPaused, stepPop, updateExit), // registering made it active
			onDelivered.with(nil, stepPop, updateExit),
			pauseFor("prune").with(tellPaused, stepPop, updateExit), // still paused, with a new reason
			onDelivered.with(nil, stepPop, updateExit),
			pauseFor("prune").with(nil, stepPop, updateExit), // nothing new
			resumeFrom("health").with(tellPaused, stepPop, updateExit),
			onDelivered.with(nil, stepPop, updateExit),
			resumeFrom("prune").with(tellActive, stepPop, updateExit),
			onDelivered.with(nil, stepPop, updateExit),
			resumeFrom("prune").with(nil, stepPop, updateExit), // not paused for it
		}},
		{"an active worker registers with nothing to tell", 1, []agentEvent{
			onRegistered.with(nil, stepPop, updateExit),
		}},
		{"one word at a time; the last one sent is the current state", 1, []agentEvent{
			onRegistered.with(nil, stepPop, updateExit),
			pauseFor("health").with(tellPaused, stepPop, updateExit),
			resumeFrom("health").with(nil, stepPop, updateExit), // the pause is on its way
			pauseFor("health").with(nil, stepPop, updateExit),
			resumeFrom("health").with(nil, stepPop, updateExit),
			onDelivered.with(tellActive, stepPop, updateExit), // the scheduler heard paused; it is active
			onDelivered.with(nil, stepPop, updateExit),
		}},
		{"a word the state caught up with is not sent again", 1, []agentEvent{
			onRegistered.with(nil, stepPop, updateExit),
			pauseFor("health").with(tellPaused, stepPop, updateExit),
			resumeFrom("health").with(nil, stepPop, updateExit),
			pauseFor("health").with(nil, stepPop, updateExit),
			onDelivered.with(nil, stepPop, updateExit), // paused, as told
		}},
		{"a failed word is sent again at the next event", 1, []agentEvent{
			onRegistered.with(nil, stepPop, updateExit),
			pauseFor("health").with(tellPaused, stepPop, updateExit),
			onFailed.with(nil, stepPop, updateExit),
			pauseFor("prune").with(tellPaused, stepPop, updateExit),
			onDelivered.with(nil, stepPop, updateExit),
		}},
		{"nothing is told without a connection; the next registration tells", 1, []agentEvent{
			onRegistered.with(nil, stepPop, updateExit),
			onDisconnected.with(nil, stepPop, updateExit),
			pauseFor("prune").with(nil, stepPop, updateExit),
			onRegistered.with(tellPaused, stepPop, updateExit),
		}},
		{"the answer to a word of an old connection is ignored", 1, []agentEvent{
			onRegistered.with(nil, stepPop, updateExit),
			pauseFor("prune").with(tellPaused, stepPop, updateExit),
			onDisconnected.with(nil, stepPop, updateExit),
			resumeFrom("prune").with(nil, stepPop, updateExit),
			pauseFor("prune").with(nil, stepPop, updateExit),
			onRegistered.with(tellPaused, stepPop, updateExit), // a new word, the old one in flight
			// The old connection's answer comes late: the new word stays
			// the one on its way, and the scheduler's view is unchanged.
			{name: "old delivered", apply: func(s *agentState, _ activeWord) activeWord {
				return s.sent(activeWord{send: true, active: false, session: 1}, true)
			}, step: stepPop, update: updateExit},
			resumeFrom("prune").with(nil, stepPop, updateExit),
		}},
		{"jobs of a lost connection still count against the capacity", 1, []agentEvent{
			onRegistered.with(nil, stepPop, updateExit),
			onTaken.with(nil, stepWait, updateWait),
			onDisconnected.with(nil, stepWait, updateWait),
			onRegistered.with(nil, stepWait, updateWait),
			onEnded.with(nil, stepPop, updateGrace),
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newAgentState(tc.capacity)
			var last activeWord
			for i, e := range tc.events {
				w := e.apply(&s, last)
				if w.send {
					last = w
				}
				if e.word == nil {
					assert.False(t, w.send, "event %d (%s): a word to send: %+v", i, e.name, w)
				} else if assert.True(t, w.send, "event %d (%s): no word to send", i, e.name) {
					assert.Equal(t, *e.word, w.active, "event %d (%s): the word", i, e.name)
				}
				assert.Equal(t, e.step, s.next(), "event %d (%s): the next step", i, e.name)
				assert.Equal(t, e.update, s.updateNext(), "event %d (%s): the update", i, e.name)
			}
		})
	}
}

func TestAgentStateResumeSaysWhetherPaused(t *testing.T) {
	s := newAgentState(1)
	s.pause("prune", "disk full")
	_, was := s.resume("prune")
	assert.True(t, was)
	_, was = s.resume("prune")
	assert.False(t, was)
}
