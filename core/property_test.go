package core

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
)

// world drives a scheduler with random operations, the way a driver would,
// and keeps its own account of every job to check the core against.
type world struct {
	t        *testing.T
	policy   string
	override Override
	rng      *rand.Rand
	clock    fakeClock
	s        *Scheduler
	stored   Snapshot
	pools    []string
	workers  map[string]*Worker // latest connection per pool/name
	tickets  []*Ticket
	taken    map[*Ticket]int
	log      strings.Builder // everything observable, for the determinism check
}

var (
	propWorkers = []string{"w1", "w2", "w3", "w4", "worker-10", "worker-9"}
	propClients = []string{"alice", "bob", "carol"}
	propHints   = []string{"", "a", "b", "c", "d"}
)

func newWorld(t *testing.T, policy string, override Override, seed uint64) *world {
	w := &world{
		t:        t,
		policy:   policy,
		override: override,
		rng:      rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		clock:    fakeClock{t: 1},
		pools:    []string{"x", "y"},
		workers:  map[string]*Worker{},
		taken:    map[*Ticket]int{},
	}
	w.restart()
	return w
}

func (w *world) restart() {
	s, err := New(Config{Pools: w.pools, Policy: w.policy, Costs: Costs{Cached: 2, Uncached: 10}, Clock: w.clock.now, Oracle: propOracle{}, Override: w.override}, &w.stored)
	if err != nil {
		w.t.Fatal(err)
	}
	w.s = s
	clear(w.workers)
	// Jobs of the old instance are gone with it.
	w.tickets = nil
	clear(w.taken)
}

func (w *world) pick(xs []string) string { return xs[w.rng.IntN(len(xs))] }

func (w *world) pool() *Pool {
	p, err := w.s.Pool(w.pick(w.pools))
	if err != nil {
		w.t.Fatal(err)
	}
	return p
}

func (w *world) got(op string, t *Ticket, err error) {
	switch {
	case err != nil:
		fmt.Fprintf(&w.log, "%s: %v\n", op, err)
	case t == nil:
		fmt.Fprintf(&w.log, "%s: waits\n", op)
	default:
		w.taken[t]++
		if w.taken[t] > 1 {
			w.t.Fatalf("%s: job %d was taken twice", op, t.ID())
		}
		fmt.Fprintf(&w.log, "%s: takes %d\n", op, t.ID())
	}
}

func (w *world) yield() {
	for wk := w.s.NextWoken(); wk != nil; wk = w.s.NextWoken() {
		t, err := wk.Resume()
		w.got("resume "+wk.Name(), t, err)
	}
	// After a yield no active worker waits while work is queued for it.
	for _, pn := range w.pools {
		p, _ := w.s.Pool(pn)
		for _, wk := range p.Workers() {
			if wk.PopPending() && wk.Active() && (!wk.listed || wk.local.Len() > 0) {
				w.t.Fatalf("after yield, active %q waits (listed=%v, queued=%d)", wk.name, wk.listed, wk.local.Len())
			}
			if wk.PopPending() && !wk.Active() && wk.listed {
				w.t.Fatalf("after yield, inactive %q is still listed as ready", wk.name)
			}
		}
		if n, _ := p.Backlog(); n > 0 && p.ready.n > 0 {
			w.t.Fatalf("after yield, pool %q has %d jobs in the backlog and %d workers ready", pn, n, p.ready.n)
		}
	}
}

func (w *world) step() {
	p := w.pool()
	name := w.pick(propWorkers)
	key := p.name + "/" + name
	wk := w.workers[key]
	switch op := w.rng.IntN(100); {
	case op < 8:
		nw, err := p.Register(name, w.rng.IntN(4))
		fmt.Fprintf(&w.log, "register %s: %v\n", key, err)
		if err == nil {
			w.workers[key] = nw
		}
	case op < 16:
		if wk != nil {
			fmt.Fprintf(&w.log, "activate %s: %v\n", key, wk.SetActive(true))
		}
	case op < 19:
		if wk != nil {
			fmt.Fprintf(&w.log, "deactivate %s: %v\n", key, wk.SetActive(false))
		}
	case op < 22:
		paused := w.rng.IntN(2) == 0
		fmt.Fprintf(&w.log, "admin pause %s %v: %v\n", key, paused, p.SetAdminPause(name, paused, w.rng.IntN(2) == 0))
	case op < 23:
		if wk != nil {
			fmt.Fprintf(&w.log, "shutdown %s: %v\n", key, wk.Shutdown())
		}
	case op < 27:
		if wk != nil {
			lost := wk.Release()
			fmt.Fprintf(&w.log, "release %s: %d running\n", key, len(lost))
		}
	case op < 40:
		if wk != nil {
			t, err := wk.Pop()
			w.got("pop "+key, t, err)
		}
	case op < 52:
		if wk != nil && len(wk.running) > 0 {
			t := wk.running[w.rng.IntN(len(wk.running))]
			fmt.Fprintf(&w.log, "finish %s %d: %v\n", key, t.ID(), wk.Finish(t))
		}
	case op < 70:
		t, err := p.Submit(w.pick(propClients), Job{Label: fmt.Sprint(len(w.tickets)), Hint: w.pick(propHints)}, w.rng.IntN(5) == 0)
		if err != nil {
			w.t.Fatal(err)
		}
		w.tickets = append(w.tickets, t)
		fmt.Fprintf(&w.log, "submit %d fair=%v\n", t.ID(), t.FairStart())
	case op < 76:
		if len(w.tickets) > 0 {
			t := w.tickets[w.rng.IntN(len(w.tickets))]
			err := t.pool.Cancel(t)
			if err != nil && !errors.Is(err, ErrNotQueued) {
				w.t.Fatalf("cancel: %v", err)
			}
			fmt.Fprintf(&w.log, "cancel %d: %v\n", t.ID(), err)
		}
	case op < 79:
		fmt.Fprintf(&w.log, "rate: %v\n", p.SetRate(w.pick(propClients), float64(1+w.rng.IntN(4))/2))
	case op < 82:
		w.clock.t += float64(w.rng.IntN(20))
	case op < 84:
		fmt.Fprintf(&w.log, "forget %s: %v\n", key, p.Forget(name))
	case op < 86:
		c := w.pick(propClients)
		if w.s.HasClient(c) {
			fmt.Fprintf(&w.log, "remove client: %v\n", w.s.RemoveClient(c))
		} else {
			fmt.Fprintf(&w.log, "add client: %v\n", w.s.AddClient(c))
		}
	case op < 87:
		w.settle()
		w.restart()
		fmt.Fprintf(&w.log, "restart\n")
	case op < 91:
		if wk != nil && len(wk.running) > 0 {
			t := wk.running[w.rng.IntN(len(wk.running))]
			counted := w.rng.IntN(4) > 0
			attempts := t.Attempts()
			err := wk.Requeue(t, counted)
			fmt.Fprintf(&w.log, "requeue %s %d counted=%v: %v\n", key, t.ID(), counted, err)
			switch {
			case err == nil:
				w.taken[t]--
				if t.State() != TicketQueued && t.State() != TicketRunning {
					w.t.Fatalf("re-queued job %d is %s", t.ID(), t.State())
				}
			case !counted || attempts < w.s.Settings().MaxAttempts || !errors.Is(err, ErrNoAttemptsLeft):
				w.t.Fatalf("requeue of job %d (attempts %d, counted %v): %v", t.ID(), attempts, counted, err)
			}
		}
	case op < 94:
		if wk != nil {
			var hints []string
			if w.rng.IntN(2) == 0 {
				hints = []string{w.pick(propHints), w.pick(propHints)}
			}
			fmt.Fprintf(&w.log, "pruned %s %v: forgot %d\n", key, hints, wk.Pruned(hints))
		}
	case op < 96:
		if wk != nil && w.rng.IntN(2) == 0 {
			wk.Heartbeat(w.s.now())
		}
		for _, x := range w.s.Expired(nil) {
			fmt.Fprintf(&w.log, "expired %s/%s: %d running\n", x.Pool(), x.Name(), len(x.Release()))
		}
	default:
		w.yield()
	}
}

// settle stores the reported changes, and checks the core.
func (w *world) settle() {
	for _, c := range w.s.TakeChanges(nil) {
		w.stored.Apply(c)
		fmt.Fprintf(&w.log, "change %+v\n", c)
	}
	if err := w.s.CheckInvariants(); err != nil {
		w.t.Fatal(err)
	}
	if snap := w.s.Snapshot(); !reflect.DeepEqual(snap, w.stored) {
		w.t.Fatalf("changes add up to %+v but the core holds %+v", w.stored, snap)
	}
	for _, t := range w.tickets {
		taken := w.taken[t] > 0
		switch t.State() {
		case TicketQueued, TicketCancelled:
			if taken {
				w.t.Fatalf("job %d was taken but is %s", t.ID(), t.State())
			}
		case TicketRunning, TicketFinished:
			if !taken {
				w.t.Fatalf("job %d is %s but no pop returned it", t.ID(), t.State())
			}
		}
	}
}

func (w *world) run(steps int) string {
	for i := 0; i < steps; i++ {
		w.step()
		w.settle()
	}
	w.yield()
	w.settle()
	for _, pn := range w.pools {
		p, _ := w.s.Pool(pn)
		w.log.WriteString(p.Show(ShowOptions{Cached: true, Running: true}))
	}
	return w.log.String()
}

func TestRandomOperationsKeepInvariants(t *testing.T) {
	seeds := 3000
	if testing.Short() {
		seeds = 300
	}
	type variant struct {
		name, policy string
		override     Override
	}
	var variants []variant
	for _, policy := range Policies() {
		if strings.HasSuffix(policy.Name, "-test") {
			continue // registered by a test of registration, which it tests
		}
		variants = append(variants, variant{policy.Name, policy.Name, Override{}})
	}
	// The cache index's bound and age limit, which no policy sets itself.
	variants = append(variants, variant{"combined-bounded-cache", "combined", Override{CacheLimit: ptr(2), CacheAge: ptr(30.0)}})
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			for seed := uint64(0); seed < uint64(seeds); seed++ {
				first := newWorld(t, v.policy, v.override, seed).run(300)
				second := newWorld(t, v.policy, v.override, seed).run(300)
				if first != second {
					t.Fatalf("seed %d: two runs differ:\n%s", seed, firstDifference(first, second))
				}
			}
		})
	}
}

func firstDifference(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := range min(len(al), len(bl)) {
		if al[i] != bl[i] {
			return fmt.Sprintf("line %d:\n  %s\n  %s", i+1, al[i], bl[i])
		}
	}
	return fmt.Sprintf("lengths %d and %d", len(al), len(bl))
}

// propOracle gives each job a run time that depends on the job and the
// worker, as the simulator's would.
type propOracle struct{}

func (propOracle) Duration(t *Ticket, worker string) float64 {
	return float64(1 + (int(t.ID())*7+len(worker))%13)
}
