package core

import "testing"

// Estimates start at the configured costs and follow the observed run
// times: the first observation replaces the guess, later ones move the
// mean by a twentieth at most.
func TestEstimateLearns(t *testing.T) {
	var e estimate
	if e.value(600) != 600 {
		t.Fatalf("no observation: %v, want the configured 600", e.value(600))
	}
	e.observe(300)
	if e.value(600) != 300 {
		t.Fatalf("after one run of 300 s: %v", e.value(600))
	}
	for range 1000 {
		e.observe(100)
	}
	if v := e.value(600); v < 99.9 || v > 100.1 {
		t.Fatalf("after many runs of 100 s: %v", v)
	}
	e.observe(10100)
	if v := e.value(600); v > 100+0.05*10000+1e-9 {
		t.Fatalf("one slow run moved the mean to %v", v)
	}
}

// Run times are learned per hint, and each worker's pace against them: a
// worker whose runs take twice as long as another's is charged twice the
// work.
func TestRunTimesPerHintAndPace(t *testing.T) {
	_, p, clock := newPolicyScheduler(t, "adaptive", Override{})
	a := p.policy.(*adaptivePolicy)
	fast := activeWorker(t, p, "fast", 1)
	run := func(w *Worker, hint string, seconds float64) {
		t.Helper()
		j := submit(t, p, "c", hint)
		if got, _ := w.Pop(); got != j {
			t.Fatalf("%s took %v", w.Name(), got)
		}
		clock.t += seconds
		if err := w.Finish(j); err != nil {
			t.Fatal(err)
		}
	}
	near := func(what string, got, want float64) {
		t.Helper()
		if got < want*0.97 || got > want*1.03 {
			t.Errorf("%s: %v, want about %v", what, got, want)
		}
	}
	run(fast, "big", 1000) // uncached
	run(fast, "small", 100)
	for range 100 {
		run(fast, "big", 100) // cached from now on
		run(fast, "small", 10)
	}
	// Each hint's run times are mostly its own, drawn a fifth of the way
	// towards the pool's (about 55 s cached, 550 s uncached).
	costs := func(hint string) (cached, uncached float64) {
		return a.costs(PoolView{p}, &Ticket{pool: p, job: Job{Hint: hint}, hint: p.hints[hint]})
	}
	bigCached, bigUncached := costs("big")
	smallCached, smallUncached := costs("small")
	near("big cached", bigCached, (20*100+5*55)/25.0)
	near("big uncached", bigUncached, (1*1000+5*550)/6.0) // seen once
	near("small cached", smallCached, (20*10+5*55)/25.0)
	near("small uncached", smallUncached, (1*100+5*550)/6.0)
	if got, _ := costs(""); got < 50 || got > 60 {
		t.Errorf("the pool's cached run time is %v, want about 55", got)
	}
	near("the only worker's pace", pace(WorkerView{fast}), 1)

	// Jobs without a hint go to whichever worker pops: fast and slow take
	// turns, slow taking twice as long.
	slow := activeWorker(t, p, "slow", 1)
	for range 200 {
		run(fast, "", 50)
		run(slow, "", 100)
	}
	j := submit(t, p, "c", "")
	ratio := a.PlacementCost(PoolView{p}, j, WorkerView{slow}, false) / a.PlacementCost(PoolView{p}, j, WorkerView{fast}, false)
	near("slow's cost over fast's", ratio, 2)
}
