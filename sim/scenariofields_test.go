package sim

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestNearestField(t *testing.T) {
	fields := []string{"name", "count", "capacity", "speed", "cache", "at"}
	for s, want := range map[string]string{
		"capacty":  "capacity",
		"Capacity": "capacity",
		"cahce":    "cache",
		"nmae":     "name",
		"colour":   "",
		"to":       "", // "at" is two edits away, but all of it
		"speeds":   "speed",
	} {
		assert.Equal(t, want, nearest(s, fields), s)
	}
	assert.Equal(t, 3, editDistance("kitten", "sitting"))
	assert.Equal(t, 0, editDistance("", ""))
	assert.Equal(t, 4, editDistance("", "name"))
}
