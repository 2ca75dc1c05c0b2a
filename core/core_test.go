package core

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type fakeClock struct{ t float64 }

func (c *fakeClock) now() float64 { return c.t }

func newTestScheduler(t *testing.T, pools ...string) (*Scheduler, *fakeClock) {
	t.Helper()
	clock := &fakeClock{t: 1}
	s, err := New(Config{Pools: pools, Costs: Costs{Cached: 2, Uncached: 10}, Clock: clock.now}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s, clock
}

func mustPool(t *testing.T, s *Scheduler, name string) *Pool {
	t.Helper()
	p, err := s.Pool(name)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

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

func ptr[T any](v T) *T { return &v }

func TestNewRefusesBadConfig(t *testing.T) {
	clock := func() float64 { return 0 }
	for _, tc := range []struct {
		name string
		cfg  Config
		want error
	}{
		{"no pools", Config{Clock: clock}, ErrInvalidPool},
		{"empty pool name", Config{Pools: []string{""}, Clock: clock}, ErrInvalidPool},
		{"pool twice", Config{Pools: []string{"a", "a"}, Clock: clock}, ErrInvalidPool},
		{"unknown policy", Config{Pools: []string{"a"}, Policy: "magic", Clock: clock}, ErrUnknownPolicy},
		{"negative cost", Config{Pools: []string{"a"}, Costs: Costs{-1, 10}, Clock: clock}, ErrInvalidCosts},
		{"NaN cost", Config{Pools: []string{"a"}, Costs: Costs{2, math.NaN()}, Clock: clock}, ErrInvalidCosts},
		{"lease too short", Config{Pools: []string{"a"}, Override: Override{Lease: ptr(0.5)}, Clock: clock}, ErrInvalidSetting},
		{"no attempts", Config{Pools: []string{"a"}, Override: Override{MaxAttempts: ptr(0)}, Clock: clock}, ErrInvalidSetting},
		{"negative cache limit", Config{Pools: []string{"a"}, Override: Override{CacheLimit: ptr(-1)}, Clock: clock}, ErrInvalidSetting},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := New(tc.cfg, nil); !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
	if _, err := New(Config{Pools: []string{"a"}}, nil); err == nil {
		t.Fatal("a scheduler without a clock was built")
	}
	// A user names the policy: the error speaks to them, not in Go.
	_, err := New(Config{Pools: []string{"a"}, Policy: "magic", Clock: clock}, nil)
	if want := `unknown policy "magic": choose one of ocluster, combined`; err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Fatalf("got %v, want %s...", err, want)
	}
	if _, err := New(Config{Pools: []string{"a"}, Policy: "ideal", Clock: clock}, nil); err == nil {
		t.Fatal("the ideal policy was built without an oracle")
	}
}

func TestBadInputIsAnErrorValue(t *testing.T) {
	s, _ := newTestScheduler(t, "a", "b")
	p := mustPool(t, s, "a")
	other := mustPool(t, s, "b")
	w, err := p.Register("w", 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.SetActive(true); err != nil {
		t.Fatal(err)
	}
	queued, _ := p.Submit("c", Job{Label: "queued"}, false)
	elsewhere, _ := other.Submit("c", Job{Label: "elsewhere"}, false)

	check := func(name string, err, want error) {
		t.Helper()
		if !errors.Is(err, want) {
			t.Errorf("%s: got %v, want %v", name, err, want)
		}
	}
	_, err = s.Pool("")
	check("empty pool", err, ErrInvalidPool)
	_, err = s.Pool("nope")
	check("unknown pool", err, ErrUnknownPool)
	_, err = p.Register("", 1)
	check("empty worker name", err, ErrEmptyWorkerName)
	_, err = p.Register("w", 1)
	check("second register", err, ErrNameTaken)
	if err.Error() != `register "w" in pool "a": worker already registered` {
		t.Errorf("name-taken message is %q", err)
	}
	_, err = p.Register("x", -1)
	check("negative capacity", err, ErrInvalidCapacity)
	_, err = p.Register("x", MaxCapacity+1)
	check("capacity past the bound", err, ErrInvalidCapacity)
	for _, rate := range []float64{0, -1, math.NaN(), math.Inf(1), math.Inf(-1), 1e-320, MinRate / 2, MaxRate * 2} {
		check("rate", p.SetRate("c", rate), ErrInvalidRate)
	}
	check("rate for no client", p.SetRate("", 1), ErrEmptyClientID)
	_, err = p.Submit("", Job{}, false)
	check("submit without client", err, ErrEmptyClientID)
	check("finish with nothing running", w.Finish(queued), ErrNothingRunning)
	check("cancel nil", p.Cancel(nil), ErrUnknownTicket)
	check("cancel another pool's ticket", p.Cancel(elsewhere), ErrUnknownTicket)
	check("forget connected", p.Forget("w"), ErrStillConnected)
	check("forget unknown", p.Forget("ghost"), ErrUnknownWorker)
	check("pause unknown", p.SetAdminPause("ghost", true, false), ErrUnknownWorker)
	check("costs", s.SetCosts(Costs{Cached: math.Inf(1)}), ErrInvalidCosts)
	check("remove unknown client", s.RemoveClient("ghost"), ErrUnknownClient)
	check("add empty client", s.AddClient(""), ErrEmptyClientID)
	if err := s.AddClient("c"); err != nil {
		t.Fatal(err)
	}
	check("add client twice", s.AddClient("c"), ErrClientExists)

	got, err := w.Pop()
	if err != nil || got != queued {
		t.Fatalf("pop = %v, %v", got, err)
	}
	check("cancel running", p.Cancel(queued), ErrNotQueued)
	if _, err := w.Pop(); err != nil {
		t.Fatal(err)
	}
	_, err = w.Pop()
	check("second pop while one waits", err, ErrPopPending)
	check("finish a job the worker does not run", w.Finish(elsewhere), ErrNotRunning)
	if err := w.Finish(queued); err != nil {
		t.Fatal(err)
	}
	check("cancel finished", p.Cancel(queued), ErrNotQueued)

	w.Release()
	w.Release() // twice is harmless
	check("shutdown released", w.Shutdown(), ErrWorkerReleased)
	check("activate released", w.SetActive(true), ErrWorkerReleased)
	if err := s.CheckInvariants(); err != nil {
		t.Fatal(err)
	}
}

func TestReleasedWorkerKeepsRunningJobsUntilFinished(t *testing.T) {
	s, _ := newTestScheduler(t, "p")
	p := mustPool(t, s, "p")
	w, _ := p.Register("w", 2)
	_ = w.SetActive(true)
	a, _ := p.Submit("c", Job{Label: "a"}, false)
	b, _ := p.Submit("c", Job{Label: "b"}, false)
	if got, _ := w.Pop(); got != a {
		t.Fatalf("first pop took %v", got)
	}
	if got, _ := w.Pop(); got != b {
		t.Fatalf("second pop took %v", got)
	}
	lost := w.Release()
	if len(lost) != 2 || lost[0] != a || lost[1] != b {
		t.Fatalf("release returned %v", lost)
	}
	if err := w.Finish(a); err != nil {
		t.Fatal(err)
	}
	if got := w.Running(); len(got) != 1 || got[0] != b {
		t.Fatalf("still running: %v", got)
	}
	if a.State() != TicketFinished || b.State() != TicketRunning {
		t.Fatalf("states %v %v", a.State(), b.State())
	}
}

func TestRemoveClientRevokesAndDropsRates(t *testing.T) {
	s, _ := newTestScheduler(t, "a", "b")
	_ = s.AddClient("c")
	pa, pb := mustPool(t, s, "a"), mustPool(t, s, "b")
	_ = pa.SetRate("c", 4)
	_ = pb.SetRate("c", 2)
	takeChanges(s)
	if err := s.RemoveClient("c"); err != nil {
		t.Fatal(err)
	}
	if s.HasClient("c") || pa.Rate("c") != 1 || pb.Rate("c") != 1 {
		t.Fatal("client or its rates survived removal")
	}
	changes := takeChanges(s)
	want := []Change{
		{Kind: ClientRemoved, Client: "c"},
		{Kind: RateRemoved, Pool: "a", Client: "c"},
		{Kind: RateRemoved, Pool: "b", Client: "c"},
	}
	if len(changes) != len(want) {
		t.Fatalf("changes %+v", changes)
	}
	for i := range want {
		if changes[i] != want[i] {
			t.Fatalf("change %d is %+v, want %+v", i, changes[i], want[i])
		}
	}
}

func TestAdminPauseOfOfflineWorker(t *testing.T) {
	s, _ := newTestScheduler(t, "p")
	p := mustPool(t, s, "p")
	if err := p.SetAdminPause("new", true, true); err != nil {
		t.Fatal(err)
	}
	if got := p.KnownWorkers(); len(got) != 1 || got[0] != (WorkerInfo{Name: "new"}) {
		t.Fatalf("known workers %+v", got)
	}
	w, _ := p.Register("new", 1)
	_ = w.SetActive(true)
	if w.Active() || w.Reasons() != ReasonAdmin {
		t.Fatalf("reasons %v", w.Reasons())
	}
	_ = p.SetAdminPause("new", false, false)
	if !w.Active() {
		t.Fatal("unpause left the worker inactive")
	}
	if got := p.KnownWorkers(); got[0] != (WorkerInfo{Name: "new", Active: true, Connected: true}) {
		t.Fatalf("known workers %+v", got)
	}
}

func TestShowRunning(t *testing.T) {
	s, _ := newTestScheduler(t, "p")
	p := mustPool(t, s, "p")
	w, _ := p.Register("w", 2)
	_ = w.SetActive(true)
	_, _ = p.Submit("alice", Job{Label: "build-1", Hint: "h"}, false)
	_, _ = p.Submit("bob", Job{Label: "build-2"}, true)
	_, _ = w.Pop()
	_, _ = w.Pop()
	want := "  w (0): [] (2 running: bob:build-2 alice:build-1)"
	if got := p.Show(ShowOptions{Running: true}); !containsLine(got, want) {
		t.Fatalf("show lacks %q:\n%s", want, got)
	}
}

// A long queue is shown as the jobs served next, in the order of the whole
// queue, after a count per client of the others, the client with the most
// first.
func TestShowBoundsTheQueue(t *testing.T) {
	s, _ := newTestScheduler(t, "p")
	p := mustPool(t, s, "p")
	for i := range 30 {
		client := "zed"
		if i%3 == 0 {
			client = "alice"
		}
		_, err := p.Submit(client, Job{Label: fmt.Sprintf("job%d", i)}, false)
		require.NoError(t, err)
	}
	whole := p.Show(ShowOptions{})
	assert.Equal(t, 30, strings.Count(whole, ":job"), whole)
	bounded := p.Show(ShowOptions{Queue: 5})
	assert.Equal(t, 5, strings.Count(bounded, ":job"), bounded)
	assert.Contains(t, bounded, "queue: (backlog) [… 25 more (zed ")
	queueLine := func(text string) string {
		for line := range strings.SplitSeq(text, "\n") {
			if strings.HasPrefix(line, "queue:") {
				return line
			}
		}
		return ""
	}
	items := strings.Fields(strings.TrimSuffix(queueLine(whole), "]"))
	// The queue is listed with the next served last.
	next := strings.Join(items[len(items)-5:], " ")
	assert.True(t, strings.HasSuffix(queueLine(bounded), " "+next+"]"), "the five jobs served next, in order: %s", queueLine(bounded))
}

func containsLine(text, line string) bool {
	for len(text) > 0 {
		i := 0
		for i < len(text) && text[i] != '\n' {
			i++
		}
		if text[:i] == line {
			return true
		}
		if i == len(text) {
			break
		}
		text = text[i+1:]
	}
	return false
}

func TestQueueCompactsCancelledTickets(t *testing.T) {
	s, _ := newTestScheduler(t, "p")
	p := mustPool(t, s, "p")
	var ts []*Ticket
	for i := 0; i < 1000; i++ {
		tk, _ := p.Submit("c", Job{}, i%3 == 0)
		ts = append(ts, tk)
	}
	for i, tk := range ts {
		if i%10 != 0 {
			if err := p.Cancel(tk); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := s.CheckInvariants(); err != nil {
		t.Fatal(err)
	}
	if n, _ := p.Backlog(); n != 100 {
		t.Fatalf("backlog holds %d live jobs", n)
	}
	if len(p.backlog.entries) > 2*100+32 {
		t.Fatalf("backlog keeps %d entries for 100 live jobs", len(p.backlog.entries))
	}
	w, _ := p.Register("w", 1)
	_ = w.SetActive(true)
	var prev *Ticket
	for i := 0; i < 100; i++ {
		got, err := w.Pop()
		if err != nil || got == nil {
			t.Fatalf("pop %d: %v %v", i, got, err)
		}
		if got.State() != TicketRunning || (prev != nil && prev.urgent == got.urgent && prev.fairStart > got.fairStart) {
			t.Fatalf("pop %d took %+v after %+v", i, got, prev)
		}
		prev = got
		_ = w.Finish(got)
	}
}

// A queued ticket's position is its place in the order the queue serves:
// urgent first, then by fair start, then by submission.
func TestQueuePositionFollowsTheServingOrder(t *testing.T) {
	s, clock := newTestScheduler(t, "p")
	p := mustPool(t, s, "p")
	var tickets []*Ticket
	for i, c := range []struct {
		client string
		urgent bool
	}{{"alice", false}, {"alice", false}, {"bob", false}, {"carol", true}, {"alice", false}} {
		clock.t = float64(i)
		tk, err := p.Submit(c.client, Job{Label: fmt.Sprintf("job%d", i)}, c.urgent)
		require.NoError(t, err)
		tickets = append(tickets, tk)
	}
	order, _ := p.backlog.best(0)
	for i, tk := range order {
		pos, n := tk.QueuePosition()
		assert.Equal(t, i+1, pos, "ticket %d", tk.ID())
		assert.Equal(t, len(tickets), n)
	}
	assert.Equal(t, tickets[3], order[0], "the urgent job is served first")
	w, _ := p.Register("w", 1)
	_ = w.SetActive(true)
	running, err := w.Pop()
	require.NoError(t, err)
	pos, n := running.QueuePosition()
	assert.Zero(t, pos+n, "a running job has no place in a queue")
	_, n = order[1].QueuePosition()
	assert.Equal(t, len(tickets)-1, n)
}

// best picks the same first tickets, in the same order, as a sort of the
// whole queue, and leaves out exactly the others.
func TestQueueBestIsTheSortedPrefix(t *testing.T) {
	s, clock := newTestScheduler(t, "p")
	p := mustPool(t, s, "p")
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 200 {
		clock.t = rng.Float64() * 10
		_, err := p.Submit(fmt.Sprintf("c%d", rng.IntN(7)), Job{Label: fmt.Sprint(i)}, rng.IntN(10) == 0)
		require.NoError(t, err)
	}
	all, rest := p.backlog.best(0)
	require.Len(t, all, 200)
	require.Empty(t, rest)
	for _, n := range []int{1, 2, 5, 20, 199, 200, 500} {
		first, rest := p.backlog.best(n)
		want := all[:min(n, len(all))]
		assert.Equal(t, want, first, "best(%d)", n)
		assert.ElementsMatch(t, all[len(want):], rest, "best(%d) leaves out the others", n)
	}
}
