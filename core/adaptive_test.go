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
