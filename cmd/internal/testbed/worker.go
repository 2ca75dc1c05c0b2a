package testbed

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ocluster-go/ocluster/runners"
	"github.com/ocluster-go/ocluster/runners/synthetic"
	"github.com/ocluster-go/ocluster/sim"
	"github.com/ocluster-go/ocluster/transport/client"
	"github.com/ocluster-go/ocluster/transport/worker"
)

// liveWorker is one worker of the scenario, played live: a synthetic worker
// agent whose jobs run as long as the simulator's ran, whose cache is
// bounded as the scenario's, and to which the scenario's events happen.
// A crash ends its agent (its process, as far as the scheduler can tell)
// and a restart makes a new one; the runner, its cache, lives on as a
// disk would.
type liveWorker struct {
	tb     *run
	model  *sim.WorkerModel
	runner *synthetic.Runner
	state  string // folder of the agent's job logs

	mu sync.Mutex
	// What the simulator tracks of a worker: its process is alive
	// (online), its connection is down (cut), it hangs.
	online, cut, hung bool
	link              *link
	stop              context.CancelFunc // ends the running agent
	done              chan struct{}      // closed when it has ended
}

func newWorker(tb *run, model *sim.WorkerModel, speed float64) *liveWorker {
	w := &liveWorker{tb: tb, model: model, state: filepath.Join(tb.stateDir, "workers", model.Name)}
	w.runner = &synthetic.Runner{CacheLimit: model.Spec.Cache, RunTime: func(job *runners.Job, cached bool) (time.Duration, error) {
		d, ok, err := synthetic.DrawOf(job)
		switch {
		case err != nil:
			return 0, err
		case !ok:
			return 0, errors.New("the job carries no simulated draw: this worker runs the jobs of ocluster-stress's load only")
		}
		tb.ran(d.Job, model.Name, cached)
		seconds, err := model.RunTime(d.Client, d.Stream, d.Size, cached)
		if err != nil {
			return 0, err
		}
		return time.Duration(seconds / speed * float64(time.Second)), nil
	}}
	return w
}

// start starts the worker's process: a new agent on a new link.
func (w *liveWorker) start() error {
	reg := prometheus.NewRegistry()
	if err := reg.Register(w.runner.Collector("ocluster_worker_cache")); err != nil {
		return err
	}
	l := newLink()
	agent, err := worker.New(worker.Config{
		Ref: w.tb.pools[w.model.Pool], Name: w.model.Name, Capacity: w.model.Spec.Capacity, StateDir: w.state,
		Runners: map[string]runners.Runner{"": w.runner}, Registry: reg, Dial: l.dial,
		// The link holds a reconnection back until it is up again, so
		// the worker is back the moment the scenario says.
		RetryDelay: time.Millisecond,
		Logger:     w.tb.agentLog.With("worker", w.model.Name),
	})
	if err != nil {
		return fmt.Errorf("worker %s: %w", w.model.Name, err)
	}
	ctx, stop := context.WithCancel(w.tb.ctx)
	done := make(chan struct{})
	w.mu.Lock()
	w.online, w.cut, w.hung, w.link, w.stop, w.done = true, false, false, l, stop, done
	w.mu.Unlock()
	go func() {
		defer close(done)
		if err := agent.Run(ctx); err != nil && ctx.Err() == nil {
			w.tb.log.Error("worker agent stopped", "worker", w.model.Name, "err", err)
		}
	}()
	return nil
}

// kill ends the worker's process at once, with its running jobs.
func (w *liveWorker) kill() {
	w.mu.Lock()
	l, stop, done := w.link, w.stop, w.done
	w.online, w.hung = false, false
	w.mu.Unlock()
	if l == nil {
		return
	}
	l.kill()
	stop()
	w.runner.Clock().Go()
	<-done
}

// play does to the worker what the scenario says, at its times, until
// ctx ends.
func (w *liveWorker) play(ctx context.Context, seed uint64) {
	var pending sync.WaitGroup
	defer pending.Wait()
	later := func(at float64, f func()) {
		pending.Go(func() {
			if w.tb.sleepUntil(ctx, at) {
				f()
			}
		})
	}
	for a := range w.model.WorkerPlan(seed) {
		if !w.tb.sleepUntil(ctx, a.At) {
			return
		}
		w.act(a, later)
	}
}

// act does one thing the plan says, as the simulator does it to its
// worker (sim.workerEvent): what cannot happen in the worker's state is
// skipped.
func (w *liveWorker) act(a sim.WorkerAction, later func(float64, func())) {
	w.mu.Lock()
	online, cut, hung := w.online, w.cut, w.hung
	w.mu.Unlock()
	log := w.tb.log.With("worker", w.model.Name, "at", sim.Duration(a.At).String())
	switch a.Kind {
	case "join":
		if online {
			return // started before the load, to be there at time 0
		}
		if err := w.start(); err != nil {
			log.Error("cannot start the worker", "err", err)
		}
	case "disconnect":
		if !online || cut {
			return
		}
		log.Info("disconnecting", "for", sim.Duration(a.For).String())
		w.disconnect()
		if a.For > 0 {
			later(a.At+a.For, w.reconnect)
		}
	case "crash":
		if !online {
			return
		}
		log.Info("crashing", "for", sim.Duration(a.For).String())
		w.kill()
		if a.For > 0 {
			later(a.At+a.For, func() {
				if err := w.start(); err != nil {
					log.Error("cannot restart the worker", "err", err)
				}
			})
		}
	case "pause", "force-pause":
		w.tb.admin(w.model.Pool, log, func(ctx context.Context, p *client.Pool) error {
			if a.Kind == "force-pause" {
				return p.ForcePause(ctx, w.model.Name)
			}
			return p.SetActive(ctx, w.model.Name, false, true)
		})
		if a.For > 0 {
			later(a.At+a.For, w.unpause)
		}
	case "drain":
		// Once drained it leaves, and comes back unpaused after For; the
		// rest of the plan goes on meanwhile.
		later(a.At, func() {
			w.tb.admin(w.model.Pool, log, func(ctx context.Context, p *client.Pool) error {
				return p.Drain(ctx, w.model.Name, func(string) {})
			})
			w.disconnect()
			if a.For > 0 {
				// Unpaused and back at once: the admin's call returns only
				// once the scheduler has stored the pause, which the
				// simulator does not wait for.
				at := w.tb.scenarioNow() + a.For
				later(at, w.unpause)
				later(at, w.reconnect)
			}
		})
	case "hang":
		if !online || hung {
			return
		}
		log.Info("hanging", "for", sim.Duration(a.For).String())
		w.mu.Lock()
		w.hung = true
		l := w.link
		w.mu.Unlock()
		l.stop()
		w.runner.Clock().Stop()
		later(a.At+a.For, func() {
			w.mu.Lock()
			if !w.hung || w.link != l {
				w.mu.Unlock()
				return
			}
			w.hung = false
			w.mu.Unlock()
			w.runner.Clock().Go()
			l.resume()
		})
	case "prune":
		if !online || cut {
			return
		}
		log.Info("pruning its cache")
		w.runner.Prune()
	}
}

func (w *liveWorker) disconnect() {
	w.mu.Lock()
	l := w.link
	w.cut = true
	w.mu.Unlock()
	if l != nil {
		l.cut()
	}
}

func (w *liveWorker) reconnect() {
	w.mu.Lock()
	l, online, hung := w.link, w.online, w.hung
	if online && !hung {
		w.cut = false
	}
	w.mu.Unlock()
	if online && !hung {
		l.restore()
	}
}

func (w *liveWorker) unpause() {
	w.tb.admin(w.model.Pool, w.tb.log.With("worker", w.model.Name), func(ctx context.Context, p *client.Pool) error {
		return p.SetActive(ctx, w.model.Name, true, true)
	})
}
