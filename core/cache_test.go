package core

import (
	"reflect"
	"testing"
)

// runOn makes w take a job of each hint in turn, so that the index stores
// w as having them, the last the most recently used.
func runOn(t *testing.T, p *Pool, w *Worker, hints ...string) {
	t.Helper()
	for _, h := range hints {
		j := submit(t, p, "c", h)
		if got, _ := w.Pop(); got != j {
			t.Fatalf("%s took %v, want the job of %q", w.Name(), got, h)
		}
		if err := w.Finish(j); err != nil {
			t.Fatal(err)
		}
	}
}

func cachedOn(p *Pool, hint string) []string {
	h := p.hints[hint]
	if h == nil {
		return nil
	}
	var names []string
	for _, rec := range h.workers {
		names = append(names, rec.name)
	}
	return names
}

// A worker's prune report makes the index forget what it lost, under a
// policy that trusts reports; OCluster's never learns of it.
func TestPrunedHintsAreForgotten(t *testing.T) {
	for _, tc := range []struct {
		policy string
		forgot int
	}{{"ocluster", 0}, {"combined", 1}} {
		t.Run(tc.policy, func(t *testing.T) {
			s, p, _ := newPolicyScheduler(t, tc.policy, Override{})
			w := activeWorker(t, p, "w", 1)
			runOn(t, p, w, "a", "b")
			takeChanges(s)
			if got := w.Pruned([]string{"a", "unknown"}); got != tc.forgot {
				t.Fatalf("forgot %d, want %d", got, tc.forgot)
			}
			if got := len(cachedOn(p, "a")); got != 1-tc.forgot {
				t.Fatalf("a is stored on %d workers", got)
			}
			changes := takeChanges(s)
			if tc.forgot == 1 && (len(changes) != 1 || changes[0].Kind != CacheRemoved || changes[0].Hint != "a") {
				t.Fatalf("changes %+v, want one cache-removed of a", changes)
			}
			if tc.forgot == 1 {
				if got := w.Pruned(nil); got != 1 || cachedOn(p, "b") != nil {
					t.Fatalf("a full prune forgot %d; b on %v", got, cachedOn(p, "b"))
				}
			}
			if err := s.CheckInvariants(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// With a bound the index keeps a worker's most recently used hints; with
// an age limit it stops trusting hints the worker has not run for a while.
func TestCacheIndexBoundAndAge(t *testing.T) {
	_, p, clock := newPolicyScheduler(t, "combined", Override{CacheLimit: ptr(2), CacheAge: ptr(100.0)})
	w := activeWorker(t, p, "w", 1)
	runOn(t, p, w, "a", "b", "a", "c") // b is the least recently used of three
	for hint, want := range map[string]bool{"a": true, "b": false, "c": true} {
		if got := cachedOn(p, hint) != nil; got != want {
			t.Errorf("%s stored: %v, want %v", hint, got, want)
		}
	}
	clock.t += 150
	if p.hasCached(p.hints["a"], w.record) {
		t.Fatal("a is trusted 150 s after its last use, past the 100 s age limit")
	}
	j := submit(t, p, "c", "a")
	if got, _ := w.Pop(); got != j || j.WasCached() {
		t.Fatalf("took %v; a stale entry counted as cached: %v", got, j.WasCached())
	}
	if err := p.sched.CheckInvariants(); err != nil {
		t.Fatal(err)
	}
}

// Forgotten entries stay forgotten across a restart.
func TestCacheRemovalsAreDurable(t *testing.T) {
	s, p, _ := newPolicyScheduler(t, "combined", Override{})
	w := activeWorker(t, p, "w", 1)
	runOn(t, p, w, "a", "b")
	w.Pruned([]string{"a"})
	var snap Snapshot
	for _, c := range takeChanges(s) {
		snap.Apply(c)
	}
	if !reflect.DeepEqual(snap, s.Snapshot()) {
		t.Fatalf("changes add up to %+v, the core holds %+v", snap, s.Snapshot())
	}
	if got := snap.Pools[0].Cache; len(got) != 1 || got[0].Hint != "b" {
		t.Fatalf("stored cache %+v, want b only", got)
	}
}

// A scheduler restored with a tighter bound than the state it resumes
// trims each worker's entries to it, least recently used first.
func TestRestoreTrimsToTheBound(t *testing.T) {
	s, p, _ := newPolicyScheduler(t, "combined", Override{})
	w := activeWorker(t, p, "w", 1)
	runOn(t, p, w, "a", "b", "c")
	snap := s.Snapshot()
	clock := &fakeClock{t: 100}
	r, err := New(Config{Pools: []string{"p"}, Policy: "combined", Override: Override{CacheLimit: ptr(1)}, Clock: clock.now}, &snap)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.CheckInvariants(); err != nil {
		t.Fatal(err)
	}
	rp := mustPool(t, r, "p")
	if got := len(rp.cached); got != 1 || cachedOn(rp, "c") == nil {
		t.Fatalf("restored index holds %d entries (c: %v), want c alone", got, cachedOn(rp, "c"))
	}
}
