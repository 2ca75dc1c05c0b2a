package core

import (
	"strings"
	"testing"
)

// Client a queues ten jobs on an idle pool of two workers; after six of
// them, client b comes with three. Under OCluster's VirtualClock a's tags
// ran ahead of real time while it had both workers, so b takes every
// dispatch until its own tags catch up; under start-time fair queuing b
// starts level with the latest dispatch and the two alternate.
func TestSFQDoesNotMakeAClientPayForIdleCapacity(t *testing.T) {
	for _, tc := range []struct{ policy, want string }{
		{"ocluster", "bbba"},
		{"sfq", "baba"},
	} {
		t.Run(tc.policy, func(t *testing.T) {
			clock := &fakeClock{t: 1}
			s, err := New(Config{Pools: []string{"p"}, Policy: tc.policy, Costs: Costs{Cached: 10, Uncached: 10}, Clock: clock.now}, nil)
			if err != nil {
				t.Fatal(err)
			}
			p := mustPool(t, s, "p")
			owner := map[*Ticket]string{}
			submit := func(client string, n int) {
				for range n {
					tk, err := p.Submit(client, Job{}, false)
					if err != nil {
						t.Fatal(err)
					}
					owner[tk] = client
				}
			}
			submit("a", 10)
			var workers []*Worker
			for _, name := range []string{"w1", "w2"} {
				w, _ := p.Register(name, 1)
				_ = w.SetActive(true)
				workers = append(workers, w)
			}
			var order strings.Builder
			round := func() {
				var running []*Ticket
				for _, w := range workers {
					tk, err := w.Pop()
					if err != nil || tk == nil {
						t.Fatalf("%s took %v (%v)", w.Name(), tk, err)
					}
					running = append(running, tk)
					order.WriteString(owner[tk])
				}
				clock.t += 10
				for i, w := range workers {
					if err := w.Finish(running[i]); err != nil {
						t.Fatal(err)
					}
				}
			}
			for range 3 {
				round()
			}
			if got := order.String(); got != "aaaaaa" {
				t.Fatalf("the first dispatches went to %q", got)
			}
			order.Reset()
			submit("b", 3)
			round()
			round()
			if got := order.String(); got != tc.want {
				t.Fatalf("after b came, the dispatches went to %q, want %q", got, tc.want)
			}
			if err := s.CheckInvariants(); err != nil {
				t.Fatal(err)
			}
		})
	}
}
