package sim

import (
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ocluster-go/ocluster/trace"
)

// replaySWF imports an SWF log and replays it under the default policy.
func replaySWF(t *testing.T, log string) *Result {
	t.Helper()
	h, events, _, err := trace.ReadSWF(strings.NewReader(log), trace.SWFOptions{})
	require.NoError(t, err)
	r, err := Replay(h, events, ReplayOptions{Options: Options{Check: true}})
	require.NoError(t, err)
	return r
}

// An SWF job's fields: number, submit, wait, run, allocated processors,
// CPU time, memory, requested processors, requested time, requested
// memory, status, user, group, executable, queue, partition, preceding
// job, think time.
func TestReplayOfSWFJobs(t *testing.T) {
	t.Run("a job without a wait time runs its recorded time", func(t *testing.T) {
		for _, run := range []float64{2618, 99999} {
			line := strings.Replace("1 0 -1 RUN 4 -1 -1 4 -1 -1 1 1 1 1 1 1 -1 -1\n", "RUN", strconv.FormatFloat(run, 'f', -1, 64), 1)
			r := replaySWF(t, line)
			assert.Equal(t, 1, r.Finished)
			assert.InDelta(t, run, r.TurnaroundMeanS, 1e-6, "the replayed job ran for another time than the log's")
		}
	})
	t.Run("a failed job fails", func(t *testing.T) {
		for _, wait := range []string{"5", "-1"} {
			r := replaySWF(t, "1 0 "+wait+" 60 4 -1 -1 4 -1 -1 0 1 1 1 1 1 -1 -1\n")
			assert.Equal(t, 1, r.Failed, "wait %s", wait)
			assert.Equal(t, 0, r.Finished, "wait %s", wait)
		}
	})
	t.Run("a job cancelled while running is cancelled", func(t *testing.T) {
		// Alone on its worker, the job starts at its recorded time, so
		// its run would end at the very instant of its cancel.
		for _, wait := range []string{"0", "5", "-1"} {
			r := replaySWF(t, "1 0 "+wait+" 25 4 -1 -1 4 -1 -1 5 1 1 1 1 1 -1 -1\n")
			assert.Equal(t, 1, r.Cancelled, "wait %s", wait)
			assert.Equal(t, 0, r.Finished, "wait %s", wait)
		}
	})
	t.Run("the contention the log recorded", func(t *testing.T) {
		// Two 100-second jobs of half the machine's processors that ran
		// one after the other: the second waited for the first, and waits
		// again in the replay.
		r := replaySWF(t, "; MaxProcs: 128\n"+
			"1 0 0 100 64 -1 -1 64 -1 -1 1 1 1 1 1 1 -1 -1\n"+
			"2 10 91 100 64 -1 -1 64 -1 -1 1 1 1 1 1 1 -1 -1\n")
		assert.Equal(t, 2, r.Finished)
		assert.InDelta(t, 90, r.WaitMaxS, 1e-6)
	})
}
