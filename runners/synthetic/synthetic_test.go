package synthetic

import (
	"context"
	"errors"
	"io"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ocluster-go/ocluster/runners"
)

func job(hint string) *runners.Job {
	return &runners.Job{Hint: hint, Docker: &runners.DockerBuild{DockerfileContents: "FROM busybox\n"}}
}

// A bounded cache drops the least recently used hint, and says so; a
// prune empties it and says so, and what goes after a prune is said
// after it.
func TestCacheBoundAndPrune(t *testing.T) {
	var ran []bool
	r := &Runner{CacheLimit: 2, RunTime: func(_ *runners.Job, cached bool) (time.Duration, error) {
		ran = append(ran, cached)
		return 0, nil
	}}
	run := func(hint string) {
		_, err := r.Run(context.Background(), job(hint), "", io.Discard)
		require.NoError(t, err)
	}
	select {
	case <-r.Dropped():
		t.Fatal("signalled before anything was dropped")
	default:
	}
	run("a")
	run("b")
	run("a") // a is now the most recent
	run("c") // drops b
	run("")  // no hint: never cached, never kept
	assert.Equal(t, []bool{false, false, true, false, false}, ran)
	assert.Equal(t, []string{"c", "a"}, r.Cached())
	<-r.Dropped()
	all, hints := r.TakeDropped()
	assert.False(t, all)
	assert.Equal(t, []string{"b"}, hints)

	run("d") // drops a
	r.Prune()
	run("e")
	run("f")
	run("g") // drops e
	<-r.Dropped()
	all, hints = r.TakeDropped()
	assert.True(t, all, "the prune")
	assert.Equal(t, []string{"e"}, hints, "only what went after the prune")
	assert.Equal(t, []string{"g", "f"}, r.Cached())
	hits, misses := r.Stats()
	assert.Equal(t, uint64(1), hits)
	assert.Equal(t, uint64(8), misses)
}

// A run sleeps its time on the runner's clock: stopped for a while, it
// ends that much later.
func TestStoppedClockHoldsRuns(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := &Runner{RunTime: Fixed(10*time.Second, time.Minute, 1)}
		start := time.Now()
		ended := make(chan time.Duration, 2)
		go func() {
			_, err := r.Run(context.Background(), job("h"), "", io.Discard)
			assert.NoError(t, err)
			ended <- time.Since(start)
		}()
		time.Sleep(20 * time.Second)
		r.Clock().Stop()
		r.Clock().Stop() // twice is once
		time.Sleep(30 * time.Second)
		synctest.Wait()
		assert.Empty(t, ended, "a run ended while the clock stood")
		r.Clock().Go()
		assert.Equal(t, 90*time.Second, <-ended, "60 s of run and 30 s stopped")

		// A run that starts while the clock stands waits for it too.
		r.Clock().Stop()
		start = time.Now()
		go func() {
			_, err := r.Run(context.Background(), job("h"), "", io.Discard)
			assert.NoError(t, err)
			ended <- time.Since(start)
		}()
		time.Sleep(5 * time.Second)
		r.Clock().Go()
		assert.Equal(t, 15*time.Second, <-ended, "cached: 10 s after 5 s stopped")
	})
}

func TestRunCancelledAndFailing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := &Runner{RunTime: Fixed(time.Hour, time.Hour, 1)}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error)
		go func() {
			_, err := r.Run(ctx, job("h"), "", io.Discard)
			done <- err
		}()
		time.Sleep(time.Minute)
		cancel()
		assert.ErrorIs(t, <-done, runners.ErrCancelled)
	})
	bad := errors.New("no run time for this job")
	r := &Runner{RunTime: func(*runners.Job, bool) (time.Duration, error) { return 0, bad }}
	_, err := r.Run(context.Background(), job("h"), "", io.Discard)
	assert.ErrorIs(t, err, bad)
}

func TestDrawRoundTrip(t *testing.T) {
	d := Draw{Job: 7, Client: "ci", Stream: 2, Size: 0.12345678901234567}
	j := NewJob("ci job 7", "h1", d)
	assert.Equal(t, "h1", j.Hint)
	assert.Contains(t, j.Docker.DockerfileContents, "ci job 7")
	got, ok, err := DrawOf(j)
	require.NoError(t, err)
	assert.True(t, ok)
	assert.Equal(t, d, got)

	_, ok, err = DrawOf(job("h"))
	assert.NoError(t, err)
	assert.False(t, ok, "a job without a draw")
	_, ok, err = DrawOf(&runners.Job{OBuilder: &runners.OBuilderBuild{Spec: "()"}})
	assert.NoError(t, err)
	assert.False(t, ok)

	for _, tc := range []struct{ args []string }{
		{[]string{"SYNTHETIC_JOB=1", "SYNTHETIC_CLIENT=c", "SYNTHETIC_STREAM=x", "SYNTHETIC_SIZE=0.5"}},
		{[]string{"SYNTHETIC_JOB=1", "SYNTHETIC_CLIENT=c", "SYNTHETIC_STREAM=-1", "SYNTHETIC_SIZE=0.5"}},
		{[]string{"SYNTHETIC_JOB=1", "SYNTHETIC_CLIENT=c", "SYNTHETIC_STREAM=0", "SYNTHETIC_SIZE=1"}},
		{[]string{"SYNTHETIC_JOB=1", "SYNTHETIC_CLIENT=c", "SYNTHETIC_STREAM=0", "SYNTHETIC_SIZE=NaN"}},
		{[]string{"SYNTHETIC_JOB=1", "SYNTHETIC_CLIENT=c", "SYNTHETIC_STREAM=0"}},
		{[]string{"SYNTHETIC_JOB=x", "SYNTHETIC_CLIENT=c", "SYNTHETIC_STREAM=0", "SYNTHETIC_SIZE=0.5"}},
	} {
		j := job("h")
		j.Docker.BuildArgs = tc.args
		_, ok, err := DrawOf(j)
		assert.True(t, ok, "%v", tc.args)
		assert.Error(t, err, "%v", tc.args)
	}
}
