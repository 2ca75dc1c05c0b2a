package core

import (
	"errors"
	"math"
	"testing"
)

func newPolicyScheduler(t *testing.T, policy string, o Override) (*Scheduler, *Pool, *fakeClock) {
	t.Helper()
	clock := &fakeClock{t: 1}
	s, err := New(Config{Pools: []string{"p"}, Policy: policy, Costs: Costs{Cached: 2, Uncached: 10}, Override: o, Clock: clock.now}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s, mustPool(t, s, "p"), clock
}

func activeWorker(t *testing.T, p *Pool, name string, capacity int) *Worker {
	t.Helper()
	w, err := p.Register(name, capacity)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.SetActive(true); err != nil {
		t.Fatal(err)
	}
	return w
}

func submit(t *testing.T, p *Pool, client, hint string) *Ticket {
	t.Helper()
	j, err := p.Submit(client, Job{Hint: hint}, false)
	if err != nil {
		t.Fatal(err)
	}
	return j
}

// A job lost with its worker goes back ahead of the jobs submitted after
// it, and another worker takes it first (OCluster #167).
func TestRequeuedJobKeepsItsPlace(t *testing.T) {
	_, p, clock := newPolicyScheduler(t, "combined", Override{})
	a := activeWorker(t, p, "a", 1)
	first := submit(t, p, "c", "")
	if got, _ := a.Pop(); got != first {
		t.Fatalf("a took %v", got)
	}
	clock.t += 5
	later := submit(t, p, "c", "")
	lost := a.Release()
	if len(lost) != 1 || lost[0] != first {
		t.Fatalf("release returned %v", lost)
	}
	if err := a.Requeue(first, true); err != nil {
		t.Fatal(err)
	}
	if first.State() != TicketQueued || first.Worker() != "" {
		t.Fatalf("re-queued job is %s on %q", first.State(), first.Worker())
	}
	b := activeWorker(t, p, "b", 1)
	if got, _ := b.Pop(); got != first {
		t.Fatalf("b took job %d, want the re-queued job %d before %d", got.ID(), first.ID(), later.ID())
	}
	if first.Attempts() != 2 {
		t.Fatalf("attempts %d, want 2", first.Attempts())
	}
	if st := p.Stats(); st.Requeued != 1 || st.Accepted != 2 {
		t.Fatalf("stats %+v", st)
	}
}

// A job is taken at most MaxAttempts times; after that Requeue refuses and
// the job stays running for the driver to fail. Moves the admin forces do
// not count.
func TestRequeueStopsAfterMaxAttempts(t *testing.T) {
	for _, tc := range []struct {
		policy string
		o      Override
		want   int
	}{
		{"ocluster", Override{}, 1},
		{"combined", Override{}, 3},
		{"ocluster", Override{MaxAttempts: ptr(2)}, 2},
	} {
		t.Run(tc.policy, func(t *testing.T) {
			_, p, _ := newPolicyScheduler(t, tc.policy, tc.o)
			j := submit(t, p, "c", "h")
			for attempt := 1; ; attempt++ {
				w := activeWorker(t, p, "w", 1)
				if got, _ := w.Pop(); got != j {
					t.Fatalf("attempt %d: took %v", attempt, got)
				}
				// A forced move in between is free.
				if err := w.Requeue(j, false); err != nil {
					t.Fatal(err)
				}
				if got, _ := w.Pop(); got != j {
					t.Fatalf("attempt %d after a forced move: took %v", attempt, got)
				}
				w.Release()
				err := w.Requeue(j, true)
				if attempt == tc.want {
					if !errors.Is(err, ErrNoAttemptsLeft) || j.State() != TicketRunning {
						t.Fatalf("attempt %d of %d: %v, job %s", attempt, tc.want, err, j.State())
					}
					if err := w.Finish(j); err != nil {
						t.Fatal(err)
					}
					return
				}
				if err != nil {
					t.Fatalf("attempt %d of %d: %v", attempt, tc.want, err)
				}
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

// A worker that shows no sign of life for the lease is reported; one that
// pops, finishes or answers pings is not (OCluster #110).
func TestLeaseExpires(t *testing.T) {
	s, p, clock := newPolicyScheduler(t, "combined", Override{Lease: ptr(60.0)})
	stuck := activeWorker(t, p, "stuck", 1)
	pinged := activeWorker(t, p, "pinged", 1)
	busy := activeWorker(t, p, "busy", 1)
	j := submit(t, p, "c", "")
	if got, _ := busy.Pop(); got != j {
		t.Fatalf("busy took %v", got)
	}
	clock.t += 40
	pinged.Heartbeat(clock.t)
	if err := busy.Finish(j); err != nil {
		t.Fatal(err)
	}
	if got := checkLeases(s); len(got) != 0 {
		t.Fatalf("expired after 40 s: %v", got)
	}
	clock.t += 30
	got := checkLeases(s)
	if len(got) != 1 || got[0] != stuck {
		t.Fatalf("expired after 70 s: %v, want only the stuck worker", got)
	}
	_, p2, clock2 := newPolicyScheduler(t, "ocluster", Override{})
	activeWorker(t, p2, "w", 1)
	clock2.t += 1e6
	if got := checkLeases(p2.sched); len(got) != 0 {
		t.Fatalf("ocluster has no lease, yet %v expired", got)
	}
}

// An idle worker takes the next job of a worker whose queue would make it
// wait longer than running it without the cache costs.
func TestIdleWorkerSteals(t *testing.T) {
	for _, tc := range []struct {
		name, policy string
		override     Override
		onA, bTakes  int // -1: nothing
		stolen       bool
	}{
		// OCluster queues on a until its workload passes one uncached job;
		// the last job waits in the backlog, and b takes that one.
		{"ocluster", "ocluster", Override{}, 7, 7, false},
		{"combined", "combined", Override{}, 8, 0, true},
		{"combined without stealing", "combined", Override{Steal: ptr(false)}, 8, -1, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, p, _ := newPolicyScheduler(t, tc.policy, tc.override)
			a := activeWorker(t, p, "a", 2)
			first := submit(t, p, "c", "h")
			if got, _ := a.Pop(); got != first {
				t.Fatalf("a took %v", got)
			}
			if got, _ := a.Pop(); got != nil { // a waits, so jobs queue on it
				t.Fatalf("a took %v", got)
			}
			var queued []*Ticket
			for range 8 { // 8 x 2 s cached on a: more than the 8 s the cache saves
				queued = append(queued, submit(t, p, "c", "h"))
			}
			if n, _ := a.Queued(); n != tc.onA {
				t.Fatalf("a has %d queued, want %d", n, tc.onA)
			}
			b := activeWorker(t, p, "b", 1)
			var want *Ticket
			if tc.bTakes >= 0 {
				want = queued[tc.bTakes]
			}
			if got, _ := b.Pop(); got != want {
				t.Fatalf("b took %v, want %v", got, want)
			}
			if tc.stolen != (p.Stats().Stolen == 1) {
				t.Fatalf("stats %+v", p.Stats())
			}
			if err := p.sched.CheckInvariants(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// With a half-life, a client's lead in fair start fades while it waits;
// without, it stays (OCluster's VirtualClock).
func TestUsageDecay(t *testing.T) {
	for _, tc := range []struct {
		halfLife float64
		want     float64
	}{{0, 1001}, {100, 101 + (1001-101)/2}} {
		_, p, clock := newPolicyScheduler(t, "ocluster", Override{HalfLife: ptr(tc.halfLife)})
		for range 100 {
			submit(t, p, "heavy", "") // 10 s each from t=1: the next may start at 1001, a lead of 900 s at t=101
		}
		clock.t = 101
		got := submit(t, p, "heavy", "").FairStart()
		if math.Abs(got-tc.want) > 1e-9 {
			t.Errorf("half-life %v: fair start %v, want %v", tc.halfLife, got, tc.want)
		}
	}
}

// A client's estimate stands in for the learned run time of its job.
func TestClientEstimate(t *testing.T) {
	_, p, _ := newPolicyScheduler(t, "combined", Override{})
	a := activeWorker(t, p, "a", 2)
	busy := submit(t, p, "c", "")
	if got, _ := a.Pop(); got != busy {
		t.Fatal(got)
	}
	if got, _ := a.Pop(); got != nil {
		t.Fatal(got)
	}
	j, err := p.Submit("c", Job{Estimate: 42}, false)
	if err != nil {
		t.Fatal(err)
	}
	if a.Workload() != 42 {
		t.Fatalf("a's workload %v, want the client's 42 s", a.Workload())
	}
	if got, _ := a.Resume(); got != j {
		t.Fatal(got)
	}
}

// The ideal policy queues a job where it will finish first, knowing the
// true run times; without an oracle it cannot be built.
func TestIdealPlacesWhereTheJobFinishesFirst(t *testing.T) {
	if _, err := New(Config{Pools: []string{"p"}, Policy: "ideal", Clock: func() float64 { return 0 }}, nil); err == nil {
		t.Fatal("ideal without an oracle was built")
	}
	clock := &fakeClock{t: 1}
	s, err := New(Config{Pools: []string{"p"}, Policy: "ideal", Clock: clock.now, Oracle: slowOn{"slow": 100}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	p := mustPool(t, s, "p")
	slow := activeWorker(t, p, "slow", 1)
	fast := activeWorker(t, p, "fast", 1)
	if got, _ := slow.Pop(); got != nil {
		t.Fatal(got)
	}
	if got, _ := fast.Pop(); got != nil {
		t.Fatal(got)
	}
	j1 := submit(t, p, "c", "")
	j2 := submit(t, p, "c", "")
	j3 := submit(t, p, "c", "")
	// fast runs each in 10 s: j1 there at once, j2 behind it (20 s) rather
	// than on idle slow (100 s), j3 behind both (30 s).
	for _, j := range []*Ticket{j1, j2, j3} {
		if j.Worker() != "fast" {
			t.Fatalf("job %d queued on %q, want fast", j.ID(), j.Worker())
		}
	}
}

type slowOn map[string]float64

func (s slowOn) Duration(_ *Ticket, worker string) float64 {
	if d, ok := s[worker]; ok {
		return d
	}
	return 10
}
