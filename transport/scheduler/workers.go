package scheduler

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"capnproto.org/go/capnp/v3/exc"

	"github.com/ocluster-go/ocluster/core"
	"github.com/ocluster-go/ocluster/trace"
	"github.com/ocluster-go/ocluster/transport/schema"
	"github.com/ocluster-go/ocluster/transport/wire"
)

// workerConn is one connection of a worker. Fields are guarded by the
// scheduler's lock.
type workerConn struct {
	pool *pool
	name string
	core *core.Worker
	cap  schema.Worker // the worker's own capability
	peer *wire.Peer
	jobs map[uint64]*job // running

	// waiter is the pop call waiting for a job, if any; delivered holds an
	// outcome that came when no call was waiting (its call was cancelled),
	// for the next pop to take.
	waiter    chan popOutcome
	delivered *popOutcome
	gone      bool
	// pausedWhy is what the worker last said of why it takes no jobs.
	pausedWhy string
	lostOnce  sync.Once
	pinging   bool // a ping that renews the lease is in flight
}

type popOutcome struct {
	t   *core.Ticket
	err error
	// attempt is the job's attempt when the core handed it over: if it
	// differs by the time the worker has it, the job has left this worker.
	attempt int
}

// outcomeOf is a pop's outcome, read with the lock held.
func outcomeOf(_ *owned, t *core.Ticket, err error) popOutcome {
	o := popOutcome{t: t, err: err}
	if t != nil {
		o.attempt = t.Job().Payload.(*job).attempt
	}
	return o
}

// deliver gives a resumed pop's outcome to its call.
func (wc *workerConn) deliver(_ *owned, o popOutcome) {
	if wc.waiter != nil {
		wc.waiter <- o
		wc.waiter = nil
		return
	}
	wc.delivered = &o
}

func (p *pool) notify() {
	close(p.changed)
	p.changed = make(chan struct{})
}

// ---------------------------------------------------------------- registration

// errShuttingDown refuses a worker that registers while the scheduler
// closes; the worker agent reconnects, to the scheduler's next run.
var errShuttingDown = exc.New(exc.Disconnected, "", "the scheduler is shutting down; register again once it is back")

type registrationServer struct {
	s    *Scheduler
	pool *pool
	peer *wire.Peer
}

func (r *registrationServer) Register(ctx context.Context, call schema.Registration_register) error {
	s := r.s
	args := call.Args()
	name, err := args.Name()
	if err != nil {
		return err
	}
	if err := wire.CheckName("worker name", name); err != nil {
		return exc.New(exc.Failed, "", err.Error())
	}
	capacity := int(args.Capacity())
	if capacity < 0 || capacity > core.MaxCapacity {
		return failed("capacity %d must be from 0 to %d jobs", capacity, core.MaxCapacity)
	}
	wc := &workerConn{pool: r.pool, name: name, peer: r.peer, jobs: map[uint64]*job{}, cap: args.Worker().AddRef()}
	register := func() (holder *workerConn, err error) {
		s.locked(func(st *owned) {
			if st.shutting {
				err = errShuttingDown
				return
			}
			cw, e := r.pool.core.Register(name, capacity)
			if e != nil {
				err, holder = e, r.pool.workers[name]
				return
			}
			s.departures.Add(1)
			cw.SetPayload(wc)
			wc.core = cw
			r.pool.workers[name] = wc
			// As OCluster does, a worker is active once registered unless
			// the admin paused it; it may pause itself later.
			cw.SetActive(true)
			r.pool.notify()
			s.record(st, trace.Event{Kind: trace.Register, Pool: r.pool.name, Worker: name, Capacity: capacity})
		})
		return holder, err
	}
	holder, err := register()
	if errors.Is(err, core.ErrNameTaken) && holder != nil && !s.alive(ctx, holder) {
		// A worker restarted after a crash finds its old connection still
		// open (the other end vanished without a word): it must not wait
		// for TCP to notice.
		s.log.Warn("Worker registered again and its old connection does not answer: dropping that one", "worker", name, "pool", r.pool.name)
		holder.peer.Close()
		s.workerLost(holder)
		_, err = register()
	}
	if err != nil {
		wc.cap.Release()
		if errors.Is(err, core.ErrNameTaken) {
			s.log.Warn("Worker already registered", "worker", name, "pool", r.pool.name)
			return failed("Worker %q already registered!", name)
		}
		return err
	}
	s.log.Info("Registered new worker", "worker", name, "pool", r.pool.name, "capacity", capacity, "remote", r.peer.Remote())
	go func() {
		defer s.departures.Done()
		<-r.peer.Done()
		s.workerLost(wc)
	}()
	res, err := call.AllocResults()
	if err != nil {
		return err
	}
	return res.SetQueue(wire.Guarded[schema.Queue](schema.Queue_NewServer(&queueServer{s: s, wc: wc})))
}

// alive says whether a registered worker answers a ping in time.
func (s *Scheduler) alive(ctx context.Context, wc *workerConn) bool {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.PingTimeout)
	defer cancel()
	f, release := wc.cap.Ping(ctx, nil)
	defer release()
	_, err := f.Struct()
	return err == nil
}

// workerLost releases a worker whose connection went (or who dropped its
// queue, or whose lease ran out): its queued jobs go back to the pool, and
// the jobs it was running are queued again while the policy gives them
// attempts (keeping their place), else fail, as in OCluster.
func (s *Scheduler) workerLost(wc *workerConn) {
	wc.lostOnce.Do(func() {
		s.locked(func(st *owned) {
			wc.gone = true
			p := wc.pool
			if p.workers[wc.name] == wc {
				delete(p.workers, wc.name)
			}
			for _, t := range wc.core.Release() {
				j := t.Job().Payload.(*job)
				if j.ended {
					continue
				}
				if old, ok := s.requeue(st, j, wc, true, "its worker was lost"); ok {
					old.Release()
					continue
				}
				s.finished(st, j, wc, trace.OutcomeFailed)
				j.end(st, "", exc.New(exc.Disconnected, "", fmt.Sprintf("Worker %q disconnected while running the job", wc.name)))
			}
			p.notify()
			s.record(st, trace.Event{Kind: trace.Release, Pool: p.name, Worker: wc.name})
		})
		wc.cap.Release()
		s.log.Info("Worker disconnected", "worker", wc.name, "pool", wc.pool.name)
	})
}

// keepLeases pings every connected worker a few times per lease; an
// answer renews the worker's lease, and a worker whose lease runs out (a
// machine that froze, a process that hangs) is dropped as lost, so that
// its queued and running jobs go elsewhere (OCluster #110). Each worker
// has its own ping in flight: one that does not answer must not hold up
// the renewal of the others' leases.
//
// The checks fall at whole multiples of a quarter lease from the
// trace's origin, as the simulator's fall from its start.
func (s *Scheduler) keepLeases() {
	every := s.lease / 4
	// The first check to come: before the origin too, when the origin is
	// set ahead, so that workers there at time 0 are pinged.
	next := s.origin.Add(every * (time.Since(s.origin)/every + 1))
	if time.Until(next) > every {
		next = next.Add(-every) // Duration division rounds towards zero
	}
	var pings sync.WaitGroup
	defer pings.Wait()
	for ; ; next = next.Add(every) {
		t := time.NewTimer(time.Until(next))
		select {
		case <-s.ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		// A lease is renewed from the check's own instant, not from when
		// the timer fired or the ping left: a check late by a few
		// milliseconds must not renew a lease a check on time would let
		// expire, or expire one a check on time would renew.
		sent := s.policyTime(next)
		s.locked(func(st *owned) {
			st.core.CheckLeases()
			for _, p := range s.pools {
				for _, wc := range p.workers {
					if !wc.pinging {
						wc.pinging = true
						pings.Go(func() { s.renewLease(wc, sent) })
					}
				}
			}
		})
	}
}

// renewLease pings a worker and renews its lease, from sent, if it
// answers.
func (s *Scheduler) renewLease(wc *workerConn, sent float64) {
	ok := s.alive(s.ctx, wc)
	s.locked(func(st *owned) {
		wc.pinging = false
		if ok && !wc.gone {
			wc.core.Heartbeat(sent)
		}
	})
}

// ---------------------------------------------------------------- queue

type queueServer struct {
	s  *Scheduler
	wc *workerConn
}

func (q *queueServer) Pop(ctx context.Context, call schema.Queue_pop) error {
	call.Go()
	s, wc := q.s, q.wc
	workerJob := call.Args().Job().AddRef()
	ch := make(chan popOutcome, 1)
	s.locked(func(st *owned) {
		switch {
		case wc.gone:
			ch <- popOutcome{err: core.ErrWorkerReleased}
		case wc.delivered != nil:
			ch <- *wc.delivered
			wc.delivered = nil
		case wc.core.PopPending():
			// A previous pop call gave up waiting; this one takes over.
			wc.waiter = ch
		default:
			t, err := wc.core.Pop()
			if t != nil || err != nil {
				ch <- outcomeOf(st, t, err)
			} else {
				wc.waiter = ch
			}
		}
	})
	s.log.Debug("pop", "worker", wc.name)
	var out popOutcome
	select {
	case out = <-ch:
	case <-ctx.Done():
		s.locked(func(st *owned) {
			if wc.waiter == ch {
				wc.waiter = nil
			}
			select {
			case o := <-ch:
				wc.delivered = &o // the next pop takes it
			default:
			}
		})
		workerJob.Release()
		return ctx.Err()
	}
	if out.err != nil {
		workerJob.Release()
		if errors.Is(out.err, core.ErrWorkerReleased) {
			return exc.New(exc.Disconnected, "", "this worker's registration has ended")
		}
		return out.err
	}
	j := out.t.Job().Payload.(*job)
	s.log.Debug("pop took a job", "worker", wc.name, "job", j.id)
	var kept []byte
	s.locked(func(st *owned) {
		s.dequeued(st, j)
		kept = j.descr
	})
	res, err := call.AllocResults()
	var descr schema.JobDescr
	if err == nil {
		descr, err = describe(kept)
	}
	if err == nil {
		err = res.SetDescr(descr)
	}
	if err != nil {
		// The worker cannot be told about the job: it fails here.
		s.locked(func(st *owned) {
			if j.ended || j.attempt != out.attempt {
				return // it left this worker already
			}
			s.finished(st, j, wc, trace.OutcomeFailed)
			j.end(st, "", exc.New(exc.Failed, "", "handing the job to the worker failed: "+err.Error()))
		})
		workerJob.Release()
		return err
	}
	s.started(j, wc, workerJob, out.attempt)
	return nil
}

func (q *queueServer) SetActive(ctx context.Context, call schema.Queue_setActive) error {
	var err error
	q.s.locked(func(st *owned) {
		if !q.wc.gone {
			args := call.Args()
			q.wc.pausedWhy = ""
			if !args.Active() {
				why, _ := args.Reason()
				q.wc.pausedWhy = oneLine(why, maxPauseReason)
			}
			err = q.wc.core.SetActive(args.Active())
		}
	})
	return err
}

func (q *queueServer) Pruned(ctx context.Context, call schema.Queue_pruned) error {
	list, err := call.Args().Hints()
	if err != nil {
		return err
	}
	hints := make([]string, list.Len())
	for i := range hints {
		if hints[i], err = list.At(i); err != nil {
			return err
		}
	}
	q.s.locked(func(st *owned) {
		if q.wc.gone {
			return
		}
		forgot := q.wc.core.Pruned(hints)
		if len(hints) == 0 {
			q.s.record(st, trace.Event{Kind: trace.Prune, Pool: q.wc.pool.name, Worker: q.wc.name})
		}
		q.s.log.Info("Worker pruned its caches", "worker", q.wc.name, "pool", q.wc.pool.name, "hints", len(hints), "forgotten", forgot)
	})
	return nil
}

// Shutdown runs when the worker drops its queue: it has left.
func (q *queueServer) Shutdown() {
	go q.s.workerLost(q.wc)
}

// ---------------------------------------------------------------- worker proxy

// workerProxy lets an admin reach a worker's capability; it is a local
// object, never the import itself (see guard.go).
type workerProxy struct {
	target schema.Worker
	once   sync.Once
}

func (w *workerProxy) Shutdown() { w.once.Do(w.target.Release) }

func (w *workerProxy) Metrics(ctx context.Context, call schema.Worker_metrics) error {
	call.Go()
	source := call.Args().Source()
	f, release := w.target.Metrics(ctx, func(p schema.Worker_metrics_Params) error { p.SetSource(source); return nil })
	defer release()
	r, err := f.Struct()
	if err != nil {
		return exc.New(exc.Failed, "", wire.RemoteText(err))
	}
	return copyMetrics(call.AllocResults, r.ContentType, r.Data)
}

func (w *workerProxy) AdditionalMetric(ctx context.Context, call schema.Worker_additionalMetric) error {
	call.Go()
	name, err := call.Args().Name()
	if err != nil {
		return err
	}
	f, release := w.target.AdditionalMetric(ctx, func(p schema.Worker_additionalMetric_Params) error { return p.SetName(name) })
	defer release()
	r, err := f.Struct()
	if err != nil {
		return exc.New(exc.Failed, "", wire.RemoteText(err))
	}
	return copyMetrics(call.AllocResults, r.ContentType, r.Data)
}

type metricsResults interface {
	SetContentType(string) error
	SetData(string) error
}

func copyMetrics[R metricsResults](alloc func() (R, error), contentType, data func() (string, error)) error {
	ct, err := contentType()
	if err != nil {
		return err
	}
	d, err := data()
	if err != nil {
		return err
	}
	res, err := alloc()
	if err != nil {
		return err
	}
	if err := res.SetContentType(ct); err != nil {
		return err
	}
	return res.SetData(d)
}

func (w *workerProxy) Ping(ctx context.Context, call schema.Worker_ping) error {
	call.Go()
	f, release := w.target.Ping(ctx, nil)
	defer release()
	if _, err := f.Struct(); err != nil {
		return exc.New(exc.Failed, "", wire.RemoteText(err))
	}
	return nil
}

func (w *workerProxy) SelfUpdate(ctx context.Context, call schema.Worker_selfUpdate) error {
	call.Go()
	f, release := w.target.SelfUpdate(ctx, nil)
	defer release()
	_, err := f.Struct()
	return err
}
