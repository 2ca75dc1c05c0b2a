package client

import (
	"context"
	"errors"

	capnp "capnproto.org/go/capnp/v3"

	"github.com/ocluster-go/ocluster/core"
	"github.com/ocluster-go/ocluster/transport/schema"
	"github.com/ocluster-go/ocluster/transport/wire"
)

// Admin wraps the admin capability for the admin command.
type Admin struct {
	admin schema.Admin
}

// Release drops the capability.
func (a *Admin) Release() { a.admin.Release() }

func remote(err error) error {
	if err == nil {
		return nil
	}
	return errors.New(wire.RemoteText(err))
}

// AddClient registers a client and returns its capability file's text.
func (a *Admin) AddClient(ctx context.Context, id string) (string, error) {
	f, release := a.admin.AddClient(ctx, func(p schema.Admin_addClient_Params) error { return p.SetId(id) })
	defer release()
	res, err := f.Struct()
	if err != nil {
		return "", remote(err)
	}
	return res.CapFile()
}

// RemoveClient revokes a client.
func (a *Admin) RemoveClient(ctx context.Context, id string) error {
	f, release := a.admin.RemoveClient(ctx, func(p schema.Admin_removeClient_Params) error { return p.SetId(id) })
	defer release()
	_, err := f.Struct()
	return remote(err)
}

// ListClients lists the client ids.
func (a *Admin) ListClients(ctx context.Context) ([]string, error) {
	f, release := a.admin.ListClients(ctx, nil)
	defer release()
	res, err := f.Struct()
	if err != nil {
		return nil, remote(err)
	}
	return texts(res.Clients())
}

// Pools lists the pool names.
func (a *Admin) Pools(ctx context.Context) ([]string, error) {
	f, release := a.admin.Pools(ctx, nil)
	defer release()
	res, err := f.Struct()
	if err != nil {
		return nil, remote(err)
	}
	return texts(res.Names())
}

func texts(l capnp.TextList, err error) ([]string, error) {
	if err != nil {
		return nil, err
	}
	out := make([]string, l.Len())
	for i := range out {
		if out[i], err = l.At(i); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Pool wraps a pool's admin capability.
type Pool struct {
	pool schema.PoolAdmin
}

// Pool returns a pool's admin capability.
func (a *Admin) Pool(ctx context.Context, name string) (*Pool, error) {
	f, release := a.admin.Pool(ctx, func(p schema.Admin_pool_Params) error { return p.SetName(name) })
	defer release()
	res, err := f.Struct()
	if err != nil {
		return nil, remote(err)
	}
	return &Pool{pool: res.Pool().AddRef()}, nil
}

// Release drops the capability.
func (p *Pool) Release() { p.pool.Release() }

// Show is the pool's state, with each worker's running jobs.
func (p *Pool) Show(ctx context.Context) (string, error) {
	f, release := p.pool.Show(ctx, nil)
	defer release()
	res, err := f.Struct()
	if err != nil {
		return "", remote(err)
	}
	return res.State()
}

// Workers lists the pool's known workers.
func (p *Pool) Workers(ctx context.Context) ([]core.WorkerInfo, error) {
	f, release := p.pool.Workers(ctx, nil)
	defer release()
	res, err := f.Struct()
	if err != nil {
		return nil, remote(err)
	}
	l, err := res.Workers()
	if err != nil {
		return nil, err
	}
	out := make([]core.WorkerInfo, l.Len())
	for i := range out {
		w := l.At(i)
		name, err := w.Name()
		if err != nil {
			return nil, err
		}
		out[i] = core.WorkerInfo{Name: name, Active: w.Active(), Connected: w.Connected()}
	}
	return out, nil
}

// SetActive pauses or unpauses a worker (autoCreate: even one never seen).
func (p *Pool) SetActive(ctx context.Context, worker string, active, autoCreate bool) error {
	return p.setActive(ctx, worker, active, autoCreate, false)
}

// ForcePause pauses a connected worker and moves the jobs it runs back to
// the queue, ahead of later jobs; their builds are stopped.
func (p *Pool) ForcePause(ctx context.Context, worker string) error {
	return p.setActive(ctx, worker, false, false, true)
}

func (p *Pool) setActive(ctx context.Context, worker string, active, autoCreate, force bool) error {
	f, release := p.pool.SetActive(ctx, func(a schema.PoolAdmin_setActive_Params) error {
		a.SetActive(active)
		a.SetAutoCreate(autoCreate)
		a.SetForce(force)
		return a.SetWorker(worker)
	})
	defer release()
	_, err := f.Struct()
	return remote(err)
}

// progressServer relays progress reports to a function.
type progressServer struct{ report func(string) }

func (p progressServer) Report(ctx context.Context, call schema.Progress_report) error {
	status, err := call.Args().Status()
	if err != nil {
		return err
	}
	p.report(status)
	return nil
}

// Drain pauses a worker and waits for its running jobs, reporting progress.
func (p *Pool) Drain(ctx context.Context, worker string, progress func(string)) error {
	f, release := p.pool.Drain(ctx, func(a schema.PoolAdmin_drain_Params) error {
		a.SetProgress(schema.Progress_ServerToClient(progressServer{progress}))
		return a.SetWorker(worker)
	})
	defer release()
	_, err := f.Struct()
	return remote(err)
}

// Update restarts a worker on a new version, reporting progress.
func (p *Pool) Update(ctx context.Context, worker string, progress func(string)) error {
	f, release := p.pool.Update(ctx, func(a schema.PoolAdmin_update_Params) error {
		a.SetProgress(schema.Progress_ServerToClient(progressServer{progress}))
		return a.SetWorker(worker)
	})
	defer release()
	_, err := f.Struct()
	return remote(err)
}

// SetRate sets a client's rate in the pool.
func (p *Pool) SetRate(ctx context.Context, client string, rate float64) error {
	f, release := p.pool.SetRate(ctx, func(a schema.PoolAdmin_setRate_Params) error {
		a.SetRate(rate)
		return a.SetClient(client)
	})
	defer release()
	_, err := f.Struct()
	return remote(err)
}

// Forget removes a disconnected worker's record.
func (p *Pool) Forget(ctx context.Context, worker string) error {
	f, release := p.pool.Forget(ctx, func(a schema.PoolAdmin_forget_Params) error { return a.SetWorker(worker) })
	defer release()
	_, err := f.Struct()
	return remote(err)
}
