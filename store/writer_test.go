package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/ocluster-go/ocluster/core"
)

var errBoom = errors.New("disk on fire")

// fakeStore records what a Writer commits; it can fail or hold commits.
type fakeStore struct {
	mu       sync.Mutex
	failNext int           // fail this many commits
	failAll  bool          // fail every commit
	hold     chan struct{} // if set, a commit waits until it is closed
	attempts []time.Time
	commits  [][]core.Change
}

func (f *fakeStore) Apply(changes []core.Change) error {
	if f.hold != nil {
		<-f.hold
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.attempts = append(f.attempts, time.Now())
	if f.failAll || f.failNext > 0 {
		f.failNext--
		return errBoom
	}
	f.commits = append(f.commits, slices.Clone(changes))
	return nil
}

func (f *fakeStore) committed() [][]core.Change {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.commits)
}

// logRecorder is a slog.Handler that keeps the records.
type logRecorder struct {
	mu      sync.Mutex
	records []slog.Record
}

func (r *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (r *logRecorder) WithAttrs([]slog.Attr) slog.Handler       { return r }
func (r *logRecorder) WithGroup(string) slog.Handler            { return r }

func (r *logRecorder) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.records = append(r.records, rec.Clone())
	return nil
}

func (r *logRecorder) count(level slog.Level) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, rec := range r.records {
		if rec.Level == level {
			n++
		}
	}
	return n
}

// cacheChanges returns changes numbered from to to-1, each a cache entry.
func cacheChanges(from, to int) []core.Change {
	var out []core.Change
	for i := from; i < to; i++ {
		out = append(out, core.Change{Kind: core.CacheAdded, Pool: "p", Hint: fmt.Sprintf("h%05d", i), Worker: "w", At: float64(i)})
	}
	return out
}

const never = time.Hour // an interval that does not pass during a test

// bounded is a context for a Flush that should return at once, so that a
// Flush that waits forever fails the test instead of hanging it.
func bounded(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func TestWriterCommitsEveryInterval(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &fakeStore{}
		w := newWriter(f, 100*time.Millisecond, slog.New(&logRecorder{}))
		defer w.Close() // on failure: the bubble's goroutines must end
		a, b, c := cacheChanges(0, 2), cacheChanges(2, 3), cacheChanges(3, 5)
		w.Enqueue(a)
		time.Sleep(99 * time.Millisecond)
		synctest.Wait()
		if got := f.committed(); got != nil {
			t.Fatalf("committed before the interval passed: %v", got)
		}
		time.Sleep(time.Millisecond)
		synctest.Wait()
		if got := f.committed(); !reflect.DeepEqual(got, [][]core.Change{a}) {
			t.Fatalf("after one interval, committed %v", got)
		}
		w.Enqueue(b)
		w.Enqueue(c)
		time.Sleep(100 * time.Millisecond)
		synctest.Wait()
		if got, want := f.committed(), [][]core.Change{a, append(slices.Clone(b), c...)}; !reflect.DeepEqual(got, want) {
			t.Fatalf("after two intervals, committed %v, want %v", got, want)
		}
		time.Sleep(time.Second) // nothing queued: nothing to commit
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if n := len(f.attempts); n != 2 {
			t.Fatalf("%d commits, want 2 (none empty)", n)
		}
	})
}

func TestWriterRetriesWithBackoff(t *testing.T) {
	ms := func(xs ...int) []time.Duration {
		var out []time.Duration
		for _, x := range xs {
			out = append(out, time.Duration(x)*time.Millisecond)
		}
		return out
	}
	for _, tc := range []struct {
		failures int
		want     []time.Duration // when each commit is tried
	}{
		{0, ms(100, 200)},
		{1, ms(100, 200)},
		{3, ms(100, 200, 400, 800)},
		{8, ms(100, 200, 400, 800, 1600, 3200, 6400, 11400, 16400)}, // at most maxBackoff apart
	} {
		t.Run(fmt.Sprint(tc.failures, " failures"), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				start := time.Now()
				f := &fakeStore{failNext: tc.failures}
				logs := &logRecorder{}
				w := newWriter(f, 100*time.Millisecond, slog.New(logs))
				defer w.Close() // on failure: the bubble's goroutines must end
				a, b := cacheChanges(0, 3), cacheChanges(3, 4)
				w.Enqueue(a)
				time.Sleep(150 * time.Millisecond)
				w.Enqueue(b) // joins the retried batch, after it
				time.Sleep(20 * time.Second)
				synctest.Wait()
				var got []time.Duration
				for _, at := range f.attempts {
					got = append(got, at.Sub(start))
				}
				if !reflect.DeepEqual(got, tc.want) {
					t.Errorf("commits tried at %v, want %v", got, tc.want)
				}
				want := [][]core.Change{a, b}
				if tc.failures > 0 {
					want = [][]core.Change{append(slices.Clone(a), b...)}
				}
				if got := f.committed(); !reflect.DeepEqual(got, want) {
					t.Errorf("committed %v, want %v", got, want)
				}
				if n := logs.count(slog.LevelError); n != tc.failures {
					t.Errorf("%d errors logged, want %d", n, tc.failures)
				}
				if err := w.Close(); err != nil {
					t.Fatal(err)
				}
			})
		})
	}
}

func TestWriterFlushReportsFailures(t *testing.T) {
	f := &fakeStore{failNext: 2}
	w := newWriter(f, never, slog.New(&logRecorder{}))
	defer w.Close()
	a := cacheChanges(0, 3)
	w.Enqueue(a)
	for i := range 2 {
		if err := w.Flush(bounded(t)); !errors.Is(err, errBoom) {
			t.Fatalf("Flush %d = %v, want the commit's error", i+1, err)
		}
	}
	if err := w.Flush(bounded(t)); err != nil {
		t.Fatalf("Flush after the store recovered: %v", err)
	}
	if got := f.committed(); !reflect.DeepEqual(got, [][]core.Change{a}) {
		t.Fatalf("committed %v, want the batch once", got)
	}
}

func TestWriterFlush(t *testing.T) {
	s := openTemp(t)
	w := NewWriter(s, never, slog.New(&logRecorder{}))
	defer w.Close()
	if err := w.Flush(bounded(t)); err != nil {
		t.Fatalf("Flush with nothing queued: %v", err)
	}
	changes := cacheChanges(0, 10)
	w.Enqueue(changes)
	checkSnapshot(t, s, core.Snapshot{}) // not committed before the interval or a Flush
	if err := w.Flush(bounded(t)); err != nil {
		t.Fatal(err)
	}
	var want core.Snapshot
	for _, c := range changes {
		want.Apply(c)
	}
	checkSnapshot(t, s, want)
}

func TestWriterFlushCancelled(t *testing.T) {
	f := &fakeStore{hold: make(chan struct{})}
	w := newWriter(f, never, slog.New(&logRecorder{}))
	w.Enqueue(cacheChanges(0, 1))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- w.Flush(ctx) }()
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Flush with a cancelled context = %v", err)
	}
	close(f.hold)
	if err := w.Flush(bounded(t)); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestWriterClose(t *testing.T) {
	f := &fakeStore{}
	logs := &logRecorder{}
	w := newWriter(f, never, slog.New(logs))
	a := cacheChanges(0, 3)
	w.Enqueue(a)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if got := f.committed(); !reflect.DeepEqual(got, [][]core.Change{a}) {
		t.Fatalf("Close committed %v, want %v", got, a)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	w.Enqueue(cacheChanges(3, 4))
	if n := logs.count(slog.LevelError); n != 1 {
		t.Fatalf("Enqueue after Close logged %d errors, want 1", n)
	}
	if err := w.Flush(bounded(t)); err != nil {
		t.Fatalf("Flush after Close, with everything committed: %v", err)
	}
	if n := len(f.committed()); n != 1 {
		t.Fatalf("%d commits, want 1", n)
	}
}

func TestWriterCloseReportsUncommitted(t *testing.T) {
	f := &fakeStore{failAll: true}
	w := newWriter(f, never, slog.New(&logRecorder{}))
	w.Enqueue(cacheChanges(0, 3))
	err := w.Close()
	if !errors.Is(err, errBoom) || !strings.Contains(err.Error(), "3 durable changes not stored") {
		t.Fatalf("Close = %v, want the commit's error and the count", err)
	}
	err = w.Flush(bounded(t))
	if err == nil || !strings.Contains(err.Error(), "closed with 3 changes not stored") {
		t.Fatalf("Flush after Close = %v", err)
	}
}

// TestWriterDatabaseClosed: a Store closed underneath the Writer.
func TestWriterDatabaseClosed(t *testing.T) {
	s := openTemp(t)
	logs := &logRecorder{}
	w := NewWriter(s, never, slog.New(logs))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	w.Enqueue(cacheChanges(0, 2))
	if err := w.Flush(bounded(t)); err == nil || !strings.Contains(err.Error(), "closed") {
		t.Fatalf("Flush to a closed database = %v", err)
	}
	if err := w.Close(); err == nil {
		t.Fatal("Close succeeded with changes not stored")
	}
	if logs.count(slog.LevelError) == 0 {
		t.Fatal("the failed commits were not logged")
	}
}

func TestWriterWarnsOnceWhenBehind(t *testing.T) {
	f := &fakeStore{}
	logs := &logRecorder{}
	w := newWriter(f, never, slog.New(logs))
	defer w.Close()
	w.warnBacklog = 5
	for _, tc := range []struct {
		enqueue, warnings int
	}{{4, 0}, {1, 0}, {1, 1}, {10, 1}} {
		w.Enqueue(cacheChanges(0, tc.enqueue))
		if n := logs.count(slog.LevelWarn); n != tc.warnings {
			t.Fatalf("after %d more changes, %d warnings, want %d", tc.enqueue, n, tc.warnings)
		}
	}
	if err := w.Flush(bounded(t)); err != nil {
		t.Fatal(err)
	}
	w.Enqueue(cacheChanges(0, 10))
	if n := logs.count(slog.LevelWarn); n != 1 {
		t.Fatalf("%d warnings, want 1 at most", n)
	}
}

// TestWriterConcurrent enqueues and flushes from several goroutines; run it
// with the race detector.
func TestWriterConcurrent(t *testing.T) {
	s := openTemp(t)
	w := NewWriter(s, time.Millisecond, slog.New(&logRecorder{}))
	const goroutines, each = 8, 200
	ctx := bounded(t)
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range each {
				n := g*each + i
				w.Enqueue(cacheChanges(n, n+1))
				if i%50 == 0 {
					if err := w.Flush(ctx); err != nil {
						t.Error(err)
					}
				}
			}
		})
	}
	wg.Wait()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	snap := mustSnapshot(t, s)
	if len(snap.Pools) != 1 || len(snap.Pools[0].Cache) != goroutines*each {
		t.Fatalf("stored %d pools, want 1 with %d cache entries", len(snap.Pools), goroutines*each)
	}
}
