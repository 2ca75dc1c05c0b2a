package main

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// show POOL WORKER finds the worker's reason in the pool's show text.
func TestInactiveReason(t *testing.T) {
	state := "capacity: 1\nqueue: (backlog) []\nregistered:\n  worker-1 (0): (inactive: worker pause) (0 running)\n" +
		"disconnected:\nclients:\ninactive:\n  worker-1: paused by the worker: only 12.0% free\n  worker-10: paused by the admin"
	assert.Equal(t, "paused by the worker: only 12.0% free", inactiveReason(state, "worker-1"))
	assert.Equal(t, "paused by the admin", inactiveReason(state, "worker-10"))
	assert.Equal(t, "", inactiveReason(state, "worker-2"))
	assert.Equal(t, "", inactiveReason("capacity: 1\n", "worker-1"))
}
