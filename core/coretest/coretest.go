// Package coretest tests scheduling policies against the core's
// mechanism: RandomOperations drives a scheduler under a policy with
// random operations, as a driver would, and checks the core's invariants
// after every step. A policy of one's own gets it from one line in its
// tests. It is for tests only; nothing else imports it.
package coretest

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	"github.com/ocluster-go/ocluster/core"
)

// RandomOperations runs seeds random sequences of steps operations each
// (register, pause, pop, finish, submit, cancel, re-queue, prune, lease
// expiry, restart over the stored state, ...) on a two-pool scheduler
// under policy, and fails t at the first step after which the core's
// invariants do not hold, a job is taken twice or lost, the stored changes
// do not add up to the core's state, a woken pop is left waiting, the
// policy gave an answer the core had to refuse, or two runs of the same
// seed differ (the policy is not deterministic).
func RandomOperations(t testing.TB, policy string, override core.Override, seeds, steps int) {
	t.Helper()
	for seed := uint64(0); seed < uint64(seeds); seed++ {
		first := NewWorld(t, policy, override, seed)
		log := first.Run(steps)
		if err := first.Scheduler().PolicyError(); err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		if again := NewWorld(t, policy, override, seed).Run(steps); again != log {
			t.Fatalf("seed %d: two runs differ:\n%s", seed, firstDifference(log, again))
		}
	}
}

// World drives a scheduler with random operations, the way a driver would,
// and keeps its own account of every job to check the core against.
type World struct {
	t        testing.TB
	policy   string
	override core.Override
	rng      *rand.Rand
	clock    float64
	s        *core.Scheduler
	stored   core.Snapshot
	pools    []string
	workers  map[string]*core.Worker // latest connection per pool/name
	tickets  []*core.Ticket
	taken    map[*core.Ticket]int
	log      strings.Builder // everything observable, for the determinism check
}

var (
	propWorkers = []string{"w1", "w2", "w3", "w4", "worker-10", "worker-9"}
	propClients = []string{"alice", "bob", "carol"}
	propHints   = []string{"", "a", "b", "c", "d"}
)

func NewWorld(t testing.TB, policy string, override core.Override, seed uint64) *World {
	w := &World{
		t:        t,
		policy:   policy,
		override: override,
		rng:      rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		clock:    1,
		pools:    []string{"x", "y"},
		workers:  map[string]*core.Worker{},
		taken:    map[*core.Ticket]int{},
	}
	w.restart()
	return w
}

func (w *World) restart() {
	s, err := core.New(core.Config{Pools: w.pools, Policy: w.policy, Costs: core.Costs{Cached: 2, Uncached: 10}, Clock: func() float64 { return w.clock }, Oracle: oracle{}, Override: w.override}, &w.stored)
	if err != nil {
		w.t.Fatal(err)
	}
	w.s = s
	clear(w.workers)
	// Jobs of the old instance are gone with it.
	w.tickets = nil
	clear(w.taken)
}

func (w *World) pick(xs []string) string { return xs[w.rng.IntN(len(xs))] }

func (w *World) pool() *core.Pool {
	p, err := w.s.Pool(w.pick(w.pools))
	if err != nil {
		w.t.Fatal(err)
	}
	return p
}

func (w *World) got(op string, t *core.Ticket, err error) {
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

func (w *World) yield() {
	for rd := w.s.Ready(); len(rd.Woken) > 0; rd = w.s.Ready() {
		for _, wk := range rd.Woken {
			t, err := wk.Resume()
			w.got("resume "+wk.Name(), t, err)
		}
		w.s.Advance(core.Ready{Woken: rd.Woken})
	}
	if err := w.s.CheckSettled(); err != nil {
		w.t.Fatalf("after resuming every woken pop: %v", err)
	}
}

func (w *World) step() {
	p := w.pool()
	name := w.pick(propWorkers)
	key := p.Name() + "/" + name
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
		if wk != nil && len(wk.Running()) > 0 {
			t := wk.Running()[w.rng.IntN(len(wk.Running()))]
			fmt.Fprintf(&w.log, "finish %s %d: %v\n", key, t.ID(), wk.Finish(t))
		}
	case op < 70:
		t, err := p.Submit(w.pick(propClients), core.Job{Label: fmt.Sprint(len(w.tickets)), Hint: w.pick(propHints)}, w.rng.IntN(5) == 0)
		if err != nil {
			w.t.Fatal(err)
		}
		w.tickets = append(w.tickets, t)
		fmt.Fprintf(&w.log, "submit %d fair=%v\n", t.ID(), t.FairStart())
	case op < 76:
		if len(w.tickets) > 0 {
			t := w.tickets[w.rng.IntN(len(w.tickets))]
			p, _ := w.s.Pool(t.Pool())
			err := p.Cancel(t)
			if err != nil && !errors.Is(err, core.ErrNotQueued) {
				w.t.Fatalf("cancel: %v", err)
			}
			fmt.Fprintf(&w.log, "cancel %d: %v\n", t.ID(), err)
		}
	case op < 79:
		fmt.Fprintf(&w.log, "rate: %v\n", p.SetRate(w.pick(propClients), float64(1+w.rng.IntN(4))/2))
	case op < 82:
		w.clock += float64(w.rng.IntN(20))
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
		if wk != nil && len(wk.Running()) > 0 {
			t := wk.Running()[w.rng.IntN(len(wk.Running()))]
			counted := w.rng.IntN(4) > 0
			attempts := t.Attempts()
			err := wk.Requeue(t, counted)
			fmt.Fprintf(&w.log, "requeue %s %d counted=%v: %v\n", key, t.ID(), counted, err)
			switch {
			case err == nil:
				w.taken[t]--
				if t.State() != core.TicketQueued && t.State() != core.TicketRunning {
					w.t.Fatalf("re-queued job %d is %s", t.ID(), t.State())
				}
			case !counted || attempts < w.s.Settings().MaxAttempts || !errors.Is(err, core.ErrNoAttemptsLeft):
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
			wk.Heartbeat(w.clock)
		}
		w.s.CheckLeases()
		rd := w.s.Ready()
		for _, x := range rd.Expired {
			fmt.Fprintf(&w.log, "expired %s/%s: %d running\n", x.Pool(), x.Name(), len(x.Release()))
		}
		w.s.Advance(core.Ready{Expired: rd.Expired})
	default:
		w.yield()
	}
}

// settle stores the reported changes, and checks the core.
func (w *World) settle() {
	rd := w.s.Ready()
	for _, c := range rd.Changes {
		w.stored.Apply(c)
		fmt.Fprintf(&w.log, "change %+v\n", c)
	}
	w.s.Advance(core.Ready{Changes: rd.Changes})
	if err := w.s.CheckInvariants(); err != nil {
		w.t.Fatal(err)
	}
	if snap := w.s.Snapshot(); !reflect.DeepEqual(snap, w.stored) {
		w.t.Fatalf("changes add up to %+v but the core holds %+v", w.stored, snap)
	}
	for _, t := range w.tickets {
		taken := w.taken[t] > 0
		switch t.State() {
		case core.TicketQueued, core.TicketCancelled:
			if taken {
				w.t.Fatalf("job %d was taken but is %s", t.ID(), t.State())
			}
		case core.TicketRunning, core.TicketFinished:
			if !taken {
				w.t.Fatalf("job %d is %s but no pop returned it", t.ID(), t.State())
			}
		}
	}
}

// Scheduler is the scheduler the world drives (a new one after each
// restart).
func (w *World) Scheduler() *core.Scheduler { return w.s }

// Run takes steps random steps, checking the core after each, and returns
// the log of everything observable that happened.
func (w *World) Run(steps int) string {
	for i := 0; i < steps; i++ {
		w.step()
		w.settle()
	}
	w.yield()
	w.settle()
	for _, pn := range w.pools {
		p, _ := w.s.Pool(pn)
		w.log.WriteString(p.Show(core.ShowOptions{Cached: true, Running: true}))
	}
	return w.log.String()
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

// oracle gives each job a run time that depends on the job and the
// worker, as the simulator's would.
type oracle struct{}

func (oracle) Duration(t *core.Ticket, worker string) float64 {
	return float64(1 + (int(t.ID())*7+len(worker))%13)
}
