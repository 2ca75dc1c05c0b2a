package core

import (
	"errors"
	"fmt"
)

// Errors returned by the core. They are wrapped with context (which pool,
// which worker), so compare them with errors.Is.
var (
	ErrUnknownPool     = errors.New("unknown pool")
	ErrInvalidPool     = errors.New("invalid pool name")
	ErrEmptyWorkerName = errors.New("empty worker name")
	ErrEmptyClientID   = errors.New("empty client id")
	ErrNameTaken       = errors.New("worker already registered")
	ErrInvalidCapacity = fmt.Errorf("invalid capacity: must be from 0 to %d jobs", MaxCapacity)
	ErrInvalidRate     = fmt.Errorf("invalid rate: must be a number from %g to %g (rates are relative shares: 1 and 2 give one client twice the other's share)", MinRate, MaxRate)
	ErrInvalidCosts    = errors.New("invalid costs: both must be finite and 0 or more")
	ErrPopPending      = errors.New("pop already pending")
	ErrNothingRunning  = errors.New("nothing running")
	ErrNotRunning      = errors.New("job is not running on this worker")
	ErrNotQueued       = errors.New("not queued")
	ErrUnknownTicket   = errors.New("unknown ticket")
	ErrStillConnected  = errors.New("still connected")
	ErrUnknownWorker   = errors.New("unknown worker")
	ErrNotConnected    = errors.New("worker not connected")
	// ErrWorkerReleased is the error of a released worker's pop; its text is
	// the word OCluster's scenarios print for such a pop.
	ErrWorkerReleased = errors.New("finished")
	ErrUnknownClient  = errors.New("unknown client")
	ErrClientExists   = errors.New("client already exists")
	ErrUnknownPolicy  = errors.New("unknown policy")
	ErrNoAttemptsLeft = errors.New("no attempts left")
	ErrInvalidSetting = errors.New("invalid setting")
	ErrPolicyExists   = errors.New("a policy of that name is already registered")
	ErrInvalidPolicy  = errors.New("invalid policy")
	// ErrPolicyAnswer: a policy answered something the pool could not
	// apply (see Policy).
	ErrPolicyAnswer = errors.New("policy answer not applied")
)
