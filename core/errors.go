package core

import "errors"

// Errors returned by the core. They are wrapped with context (which pool,
// which worker), so compare them with errors.Is.
var (
	ErrUnknownPool     = errors.New("unknown pool")
	ErrInvalidPool     = errors.New("invalid pool name")
	ErrEmptyWorkerName = errors.New("empty worker name")
	ErrEmptyClientID   = errors.New("empty client id")
	ErrNameTaken       = errors.New("worker already registered")
	ErrInvalidCapacity = errors.New("invalid capacity: must be from 0 to 1048576 jobs")
	ErrInvalidRate     = errors.New("invalid rate: must be a number from 1e-6 to 1e6 (rates are relative shares: 1 and 2 give one client twice the other's share)")
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
