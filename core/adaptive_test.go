package core

import "testing"

// A hot hint (OCluster #168): worker a has the hint and is busy, worker b
// idles. OCluster queues the hint's jobs behind a until a's queue is
// estimated at one uncached job (61 jobs at 10 s); adaptive learns that
// the jobs take 30 s cached and 300 s uncached and stops queueing behind
// a once the wait there is expected to exceed the 270 s the cache saves.
func TestAdaptiveStopsQueueingBehindABusyCachedWorker(t *testing.T) {
	for _, tc := range []struct {
		policy              string
		onA, onB, inBacklog int
	}{
		{"ocluster", 20, 0, 0},
		{"adaptive", 9, 1, 10}, // 30 s x 8 queued + 15 s left of the running job < 270 s
	} {
		t.Run(tc.policy, func(t *testing.T) {
			clock := &fakeClock{t: 1}
			s, err := New(Config{Pools: []string{"p"}, Policy: tc.policy, Costs: Costs{Cached: 10, Uncached: 600}, Clock: clock.now}, nil)
			if err != nil {
				t.Fatal(err)
			}
			p := mustPool(t, s, "p")
			a, _ := p.Register("a", 1)
			_ = a.SetActive(true)
			run := func(seconds float64) {
				t.Helper()
				j, err := p.Submit("c", Job{Hint: "hot"}, false)
				if err != nil {
					t.Fatal(err)
				}
				if got, _ := a.Pop(); got != j {
					t.Fatalf("a took %v, want the new job", got)
				}
				clock.t += seconds
				if err := a.Finish(j); err != nil {
					t.Fatal(err)
				}
			}
			run(300) // uncached: a did not have the hint yet
			run(30)  // cached
			busy, _ := p.Submit("c", Job{Hint: "hot"}, false)
			if got, _ := a.Pop(); got != busy {
				t.Fatalf("a took %v", got)
			}
			b, _ := p.Register("b", 1)
			_ = b.SetActive(true)
			if got, _ := b.Pop(); got != nil {
				t.Fatalf("b took %v from an empty pool", got)
			}
			for range 20 {
				if _, err := p.Submit("c", Job{Hint: "hot"}, false); err != nil {
					t.Fatal(err)
				}
			}
			onA, _ := a.Queued()
			onB, _ := b.Queued()
			backlog, _ := p.Backlog()
			if onA != tc.onA || onB != tc.onB || backlog != tc.inBacklog {
				t.Fatalf("queued on a %d, on b %d, in the backlog %d; want %d, %d, %d", onA, onB, backlog, tc.onA, tc.onB, tc.inBacklog)
			}
			if err := s.CheckInvariants(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

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

// A worker whose build has run far longer than an uncached run takes (it
// may be stuck while its agent still answers the lease's pings) is not
// worth waiting for: the hint's next job goes to an idle worker rather
// than behind it, where it went while the build was within its time.
func TestOverrunningWorkerIsNotWaitedFor(t *testing.T) {
	for _, policy := range []string{"adaptive", "combined"} {
		t.Run(policy, func(t *testing.T) {
			_, p, clock := newPolicyScheduler(t, policy, Override{})
			a := activeWorker(t, p, "a", 1)
			run := func(seconds float64) {
				t.Helper()
				j := submit(t, p, "c", "hot")
				if got, _ := a.Pop(); got != j {
					t.Fatalf("a took %v", got)
				}
				clock.t += seconds
				if err := a.Finish(j); err != nil {
					t.Fatal(err)
				}
			}
			run(10) // uncached
			run(2)  // cached
			stuck := submit(t, p, "c", "hot")
			if got, _ := a.Pop(); got != stuck {
				t.Fatalf("a took %v", got)
			}
			b := activeWorker(t, p, "b", 1)
			if got, _ := b.Pop(); got != nil {
				t.Fatalf("b took %v from an empty pool", got)
			}
			queued := func(wantA, wantB int) {
				t.Helper()
				onA, _ := a.Queued()
				onB, _ := b.Queued()
				if onA != wantA || onB != wantB {
					t.Fatalf("queued on a %d, on b %d; want %d, %d", onA, onB, wantA, wantB)
				}
			}
			clock.t += 5 // within a run: waiting 1 s for a beats 8 s more on b
			submit(t, p, "c", "hot")
			queued(1, 0)
			clock.t += 20 // 25 s into a run that should take 2 s, or 10 uncached
			submit(t, p, "c", "hot")
			queued(1, 1)
			if err := p.sched.CheckInvariants(); err != nil {
				t.Fatal(err)
			}
		})
	}
}
