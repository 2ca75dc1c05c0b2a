package scheduler

import (
	"context"
	"errors"
	"fmt"
	"time"

	"capnproto.org/go/capnp/v3/exc"

	"github.com/ocluster-go/ocluster/core"
	"github.com/ocluster-go/ocluster/trace"
	"github.com/ocluster-go/ocluster/transport/schema"
	"github.com/ocluster-go/ocluster/transport/wire"
)

// UpdateTimeout bounds how long an update waits for the worker to come back.
const UpdateTimeout = 600 * time.Second

func failed(format string, args ...any) error {
	return exc.New(exc.Failed, "", fmt.Sprintf(format, args...))
}

type adminServer struct {
	s *Scheduler
}

func (a *adminServer) Pools(ctx context.Context, call schema.Admin_pools) error {
	names := a.s.poolList
	res, err := call.AllocResults()
	if err != nil {
		return err
	}
	list, err := res.NewNames(int32(len(names)))
	if err != nil {
		return err
	}
	for i, n := range names {
		list.Set(i, n)
	}
	return nil
}

func (a *adminServer) Pool(ctx context.Context, call schema.Admin_pool) error {
	name, err := call.Args().Name()
	if err != nil {
		return err
	}
	p := a.s.pools[name]
	if p == nil {
		return failed("No such pool %q (pools: %s)", name, a.s.poolNames())
	}
	res, err := call.AllocResults()
	if err != nil {
		return err
	}
	return res.SetPool(wire.Guarded[schema.PoolAdmin](schema.PoolAdmin_NewServer(&poolAdminServer{s: a.s, p: p})))
}

func (a *adminServer) AddClient(ctx context.Context, call schema.Admin_addClient) error {
	call.Go()
	id, err := call.Args().Id()
	if err != nil {
		return err
	}
	capFile, err := a.s.addClient(ctx, id)
	if err != nil {
		return err
	}
	res, err := call.AllocResults()
	if err != nil {
		return err
	}
	if err := res.SetCapFile(capFile); err != nil {
		return err
	}
	return res.SetSubmission(wire.Guarded[schema.Submission](schema.Submission_NewServer(&submissionServer{s: a.s, client: id})))
}

// addClient registers a client and returns its capability file's line.
// The secret's hash is stored before the line is handed out.
func (s *Scheduler) addClient(ctx context.Context, id string) (string, error) {
	if err := wire.CheckName("client id", id); err != nil {
		return "", failed("%s", err)
	}
	var exists bool
	s.locked(func(st *owned) { exists = st.core.HasClient(id) })
	if exists {
		return "", failed("Client %q already registered!", id)
	}
	secret := wire.NewSecret()
	h := wire.HashSecret(secret)
	if s.cfg.Store != nil {
		// A removal of an earlier client of this id may still be queued:
		// it must land before the new client does.
		if err := s.Flush(ctx); err != nil {
			return "", err
		}
		if err := s.cfg.Store.AddClient(id, h); err != nil {
			return "", failed("storing client %q: %v", id, err)
		}
	}
	var failure error
	s.locked(func(st *owned) {
		if failure = st.core.AddClient(id); failure == nil {
			st.clients[fmtHash(h)] = id
		}
	})
	if failure != nil {
		return "", failed("%v", failure)
	}
	if err := s.Flush(ctx); err != nil {
		return "", err
	}
	s.log.Info("Created new submission endpoint", "client", id)
	return s.capFor(secret), nil
}

func (a *adminServer) RemoveClient(ctx context.Context, call schema.Admin_removeClient) error {
	call.Go()
	id, err := call.Args().Id()
	if err != nil {
		return err
	}
	s := a.s
	var failure error
	s.locked(func(st *owned) {
		if err := st.core.RemoveClient(id); err != nil {
			failure = failed("Unknown client %q", id)
			return
		}
		for h, c := range st.clients {
			if c == id {
				delete(st.clients, h)
				st.revoked[h] = id
			}
		}
	})
	if failure != nil {
		return failure
	}
	// The core's ClientRemoved change revokes the secret in the store.
	if err := s.Flush(ctx); err != nil {
		return err
	}
	s.log.Info("Removed submission endpoint", "client", id)
	return nil
}

func (a *adminServer) ListClients(ctx context.Context, call schema.Admin_listClients) error {
	var ids []string
	a.s.locked(func(st *owned) { ids = st.core.Clients() })
	res, err := call.AllocResults()
	if err != nil {
		return err
	}
	list, err := res.NewClients(int32(len(ids)))
	if err != nil {
		return err
	}
	for i, id := range ids {
		list.Set(i, id)
	}
	return nil
}

// ---------------------------------------------------------------- pool admin

type poolAdminServer struct {
	s *Scheduler
	p *pool
}

// showQueue is how many of a queue's jobs show lists: a queue of a hundred
// thousand made one line of 324 KB.
const showQueue = 20

func (pa *poolAdminServer) Show(ctx context.Context, call schema.PoolAdmin_show) error {
	var text string
	pa.s.locked(func(*owned) {
		text = pa.p.core.Show(core.ShowOptions{Running: true, Queue: showQueue}) + pa.p.inactiveSection()
	})
	res, err := call.AllocResults()
	if err != nil {
		return err
	}
	return res.SetState(text)
}

func (pa *poolAdminServer) Workers(ctx context.Context, call schema.PoolAdmin_workers) error {
	var infos []core.WorkerInfo
	pa.s.locked(func(*owned) { infos = pa.p.core.KnownWorkers() })
	res, err := call.AllocResults()
	if err != nil {
		return err
	}
	list, err := res.NewWorkers(int32(len(infos)))
	if err != nil {
		return err
	}
	for i, info := range infos {
		w := list.At(i)
		if err := w.SetName(info.Name); err != nil {
			return err
		}
		w.SetActive(info.Active)
		w.SetConnected(info.Connected)
	}
	return nil
}

func (pa *poolAdminServer) Worker(ctx context.Context, call schema.PoolAdmin_worker) error {
	name, err := call.Args().Worker()
	if err != nil {
		return err
	}
	var target schema.Worker
	pa.s.locked(func(*owned) {
		if wc := pa.p.workers[name]; wc != nil {
			target = wc.cap.AddRef()
		}
	})
	if !target.IsValid() {
		return failed("Worker %q is not connected to pool %q", name, pa.p.name)
	}
	res, err := call.AllocResults()
	if err != nil {
		target.Release()
		return err
	}
	return res.SetWorker(wire.Guarded[schema.Worker](schema.Worker_NewServer(&workerProxy{target: target})))
}

func (pa *poolAdminServer) SetActive(ctx context.Context, call schema.PoolAdmin_setActive) error {
	call.Go()
	args := call.Args()
	name, err := args.Worker()
	if err != nil {
		return err
	}
	if args.Force() && args.Active() {
		return failed("--force applies to pause only: an unpaused worker keeps its jobs")
	}
	if err := pa.s.adminPause(pa.p, name, !args.Active(), args.AutoCreate(), args.Force()); err != nil {
		return err
	}
	return pa.s.Flush(ctx)
}

// adminPause pauses or unpauses a worker; force also moves the jobs it
// runs back to the queue, keeping their place, and stops their builds.
func (s *Scheduler) adminPause(p *pool, name string, paused, autoCreate, force bool) error {
	var failure error
	var stop []schema.Job
	s.locked(func(st *owned) {
		if err := p.core.SetAdminPause(name, paused, autoCreate); err != nil {
			if errors.Is(err, core.ErrUnknownWorker) {
				err = failed("Unknown worker %q in pool %q (use --auto-create to pause a worker before it first connects)", name, p.name)
			}
			failure = err
			return
		}
		kind := trace.Unpause
		if paused {
			kind = trace.Pause
		}
		s.record(st, trace.Event{Kind: kind, Pool: p.name, Worker: name})
		if wc := p.workers[name]; force && wc != nil {
			for _, t := range wc.core.Running() {
				j := t.Job().Payload.(*job)
				if j.ended {
					continue
				}
				// Without the worker's Job object yet, started() stops it.
				if target, ok := s.requeue(st, j, wc, false, "the admin force-paused its worker"); ok && target.IsValid() {
					stop = append(stop, target)
				}
			}
		}
	})
	for _, target := range stop {
		go func() {
			defer target.Release()
			if err := cancelOn(context.Background(), target); err != nil {
				s.log.Warn("stopping a build moved off its worker", "worker", name, "err", err)
			}
		}()
	}
	return failure
}

// running is how many jobs a connected worker runs, with the channel that
// closes on the next change, or -1 when it is not connected.
func (s *Scheduler) running(p *pool, name string) (n int, changed <-chan struct{}) {
	s.locked(func(*owned) {
		n, changed = -1, p.changed
		if wc := p.workers[name]; wc != nil {
			n = len(wc.core.Running())
		}
	})
	return n, changed
}

func report(ctx context.Context, progress schema.Progress, status string) {
	if !progress.IsValid() {
		return
	}
	f, release := progress.Report(ctx, func(p schema.Progress_report_Params) error { return p.SetStatus(status) })
	defer release()
	f.Struct() // a progress reporter that went away does not stop the work
}

func (pa *poolAdminServer) Drain(ctx context.Context, call schema.PoolAdmin_drain) error {
	call.Go()
	name, err := call.Args().Worker()
	if err != nil {
		return err
	}
	progress := call.Args().Progress().AddRef()
	defer progress.Release()
	s, p := pa.s, pa.p
	n, _ := s.running(p, name)
	if n < 0 {
		if err := s.adminPause(p, name, true, false, false); err != nil {
			return err
		}
		report(ctx, progress, "Disconnected (nothing to drain)")
		return s.Flush(ctx)
	}
	if err := s.adminPause(p, name, true, false, false); err != nil {
		return err
	}
	if err := s.Flush(ctx); err != nil {
		return err
	}
	last := -2
	for {
		n, changed := s.running(p, name)
		if n != last {
			report(ctx, progress, fmt.Sprintf("Running jobs: %d", max(n, 0)))
			last = n
		}
		if n <= 0 {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (pa *poolAdminServer) Update(ctx context.Context, call schema.PoolAdmin_update) error {
	call.Go()
	name, err := call.Args().Worker()
	if err != nil {
		return err
	}
	progress := call.Args().Progress().AddRef()
	defer progress.Release()
	s, p := pa.s, pa.p
	var old *workerConn
	var target schema.Worker
	s.locked(func(st *owned) {
		if wc := p.workers[name]; wc != nil {
			old = wc
			target = wc.cap.AddRef()
			wc.core.Shutdown() // no new jobs
		}
	})
	if old == nil {
		return failed("Worker %q is not connected to pool %q", name, p.name)
	}
	defer target.Release()
	for last := -2; ; {
		n, changed := s.running(p, name)
		if n <= 0 {
			break
		}
		if n != last {
			report(ctx, progress, fmt.Sprintf("Running jobs: %d", n))
			last = n
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	report(ctx, progress, "Restarting")
	s.log.Info("Restarting worker", "worker", name)
	f, release := target.SelfUpdate(ctx, nil)
	_, err = f.Struct()
	release()
	if err != nil && !errors.Is(err, context.Canceled) {
		// The worker exits as it answers; a dropped connection is expected.
		s.log.Debug("selfUpdate ended", "worker", name, "err", err)
	}
	s.log.Info("Waiting for worker to reconnect after update", "worker", name)
	deadline := time.NewTimer(UpdateTimeout)
	defer deadline.Stop()
	for {
		var wc *workerConn
		var changed chan struct{}
		s.locked(func(*owned) { wc, changed = p.workers[name], p.changed })
		if wc != nil && wc != old {
			return nil
		}
		select {
		case <-changed:
		case <-deadline.C:
			return failed("Timeout waiting for worker %q to reconnect!", name)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (pa *poolAdminServer) SetRate(ctx context.Context, call schema.PoolAdmin_setRate) error {
	call.Go()
	args := call.Args()
	client, err := args.Client()
	if err != nil {
		return err
	}
	rate := args.Rate()
	s, p := pa.s, pa.p
	var failure error
	s.locked(func(st *owned) {
		switch {
		case !st.core.HasClient(client):
			failure = failed("No such user %q (see list-clients)", client)
		default:
			if err := p.core.SetRate(client, rate); errors.Is(err, core.ErrInvalidRate) {
				failure = failed("Rate %v: %v", rate, core.ErrInvalidRate)
			} else if failure = err; err == nil {
				s.record(st, trace.Event{Kind: trace.Rate, Pool: p.name, Client: client, Rate: rate})
			}
		}
	})
	if failure != nil {
		return failure
	}
	return s.Flush(ctx)
}

func (pa *poolAdminServer) Forget(ctx context.Context, call schema.PoolAdmin_forget) error {
	call.Go()
	name, err := call.Args().Worker()
	if err != nil {
		return err
	}
	s, p := pa.s, pa.p
	var failure error
	s.locked(func(st *owned) {
		switch err := p.core.Forget(name); {
		case errors.Is(err, core.ErrStillConnected):
			failure = failed("Worker %q is still connected!", name)
		case errors.Is(err, core.ErrUnknownWorker):
			failure = failed("Worker %q not known in this pool", name)
		default:
			failure = err
		}
	})
	if failure != nil {
		return failure
	}
	return s.Flush(ctx)
}
