package scheduler

import (
	"bytes"
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"

	"github.com/stretchr/testify/require"

	"github.com/ocluster-go/ocluster/transport/schema"
)

// fixedLog is a worker's Job whose build has ended with log. An old one
// answers as workers before `complete` do: chunks of at most 10 KiB that
// never say the log is complete, then empty data at the end.
type fixedLog struct {
	log   []byte
	old   bool
	calls atomic.Int32
}

func (f *fixedLog) Log(ctx context.Context, call schema.Job_log) error {
	f.calls.Add(1)
	start := min(call.Args().Start(), int64(len(f.log)))
	end := int64(len(f.log))
	if f.old {
		end = min(end, start+10<<10)
	}
	res, err := call.AllocResults()
	if err != nil {
		return err
	}
	res.SetNext(end)
	res.SetComplete(!f.old && end == int64(len(f.log)))
	return res.SetLog(f.log[start:end])
}

func (f *fixedLog) Result(context.Context, schema.Job_result) error { return nil }
func (f *fixedLog) Cancel(context.Context, schema.Job_cancel) error { return nil }

// relay is a job proxy in front of worker, as a client reaches it.
func relay(t *testing.T, worker *fixedLog) schema.Job {
	c := startCluster(t, clusterOptions{noStore: true})
	j := &job{s: c.sched, assigned: make(chan struct{}), done: make(chan struct{})}
	p := schema.Job_ServerToClient(newJobProxy(j, schema.Job_ServerToClient(worker), 0))
	t.Cleanup(p.Release)
	return p
}

type logReply struct {
	data     []byte
	next     int64
	complete bool
}

func readFrom(t *testing.T, job schema.Job, start int64) logReply {
	t.Helper()
	f, release := job.Log(context.Background(), func(p schema.Job_log_Params) error { p.SetStart(start); return nil })
	defer release()
	res, err := f.Struct()
	require.NoError(t, err)
	data, err := res.Log()
	require.NoError(t, err)
	return logReply{bytes.Clone(data), res.Next(), res.Complete()}
}

// A short log whose job has ended comes whole in one reply that says it is
// complete, from one call to the worker; a reader that asks again anyway
// (a client before `complete`) gets the empty end without another call to
// the worker.
func TestLogOfEndedJobInOneReply(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		worker := &fixedLog{log: []byte("Building on worker-1\nDone\nJob succeeded\n")}
		job := relay(t, worker)
		got := readFrom(t, job, 0)
		require.Equal(t, logReply{worker.log, int64(len(worker.log)), true}, got)
		require.Equal(t, int32(1), worker.calls.Load())
		require.Equal(t, logReply{nil, int64(len(worker.log)), true}, readFrom(t, job, got.next))
		require.Equal(t, int32(1), worker.calls.Load())
	})
}

// A worker that never says its log is complete (one before `complete`)
// is read to its empty end, and the reader still learns where the log
// ends, whole and in order.
func TestLogFromOldWorker(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		worker := &fixedLog{log: []byte(strings.Repeat("0123456789abcde\n", 10000)), old: true}
		job := relay(t, worker)
		var got []byte
		for start := int64(0); ; {
			r := readFrom(t, job, start)
			require.LessOrEqual(t, len(r.data), maxLogReply)
			require.Equal(t, start+int64(len(r.data)), r.next)
			got, start = append(got, r.data...), r.next
			if r.complete || len(r.data) == 0 {
				require.True(t, r.complete, "an empty reply is the end, and says so")
				break
			}
		}
		require.Equal(t, worker.log, got)
		// Sixteen chunks of 10 KiB, and the empty read at the end.
		require.Equal(t, int32(len(worker.log)/(10<<10)+2), worker.calls.Load())
	})
}
