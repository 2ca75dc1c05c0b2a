package testbed

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"github.com/ocluster-go/ocluster/transport/client"
	"github.com/ocluster-go/ocluster/transport/wire"
)

// SetUpClients registers the workload's clients with the scheduler (a
// client of an earlier run is replaced) and sets their rates; pool, when
// set, replaces the scenario's only pool. It returns their submission
// clients and what closes them.
func SetUpClients(ctx context.Context, admin wire.SturdyRef, wl *Workload, pool string, log *slog.Logger) (map[string]*client.Submission, func(), error) {
	conn, err := client.Connect(ctx, admin, log)
	if err != nil {
		return nil, nil, err
	}
	ac, err := conn.Admin(ctx)
	if err != nil {
		conn.Close()
		return nil, nil, err
	}
	subs, closeSubs, err := setUpClients(ctx, ac, wl, pool, log)
	ac.Release()
	conn.Close()
	return subs, closeSubs, err
}

func setUpClients(ctx context.Context, ac *client.Admin, wl *Workload, pool string, log *slog.Logger) (map[string]*client.Submission, func(), error) {
	subs := map[string]*client.Submission{}
	var closers []func()
	closeAll := func() {
		for _, c := range closers {
			c()
		}
	}
	earlier, err := ac.ListClients(ctx)
	if err != nil {
		return nil, nil, err
	}
	for _, name := range client.LoadClients(wl.Events) {
		sub, closeSub, err := addClient(ctx, ac, name, slices.Contains(earlier, name), log)
		if err != nil {
			closeAll()
			return nil, nil, err
		}
		closers = append(closers, closeSub)
		subs[name] = sub
	}
	for pc, rate := range wl.Rates() {
		if _, ok := subs[pc[1]]; !ok {
			continue // no job of it falls within the run
		}
		p := cmp.Or(pool, pc[0])
		pa, err := ac.Pool(ctx, p)
		if err != nil {
			closeAll()
			return nil, nil, err
		}
		err = pa.SetRate(ctx, pc[1], rate)
		pa.Release()
		if err != nil {
			closeAll()
			return nil, nil, fmt.Errorf("setting the rate of %s: %w", pc[1], err)
		}
	}
	return subs, closeAll, nil
}

// addClient (re)creates a client and connects with its capability. A
// client of an earlier run (exists) is removed first: its secret is gone
// with that run. Asking the scheduler which clients it has, rather than
// reading AddClient's refusal, keeps the refusal's text free to change.
func addClient(ctx context.Context, ac *client.Admin, name string, exists bool, log *slog.Logger) (*client.Submission, func(), error) {
	var err error
	if exists {
		err = ac.RemoveClient(ctx, name)
	}
	var text string
	if err == nil {
		text, err = ac.AddClient(ctx, name)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("adding client %s: %w", name, err)
	}
	ref, err := wire.ParseSturdyRef(strings.TrimSpace(text))
	if err != nil {
		return nil, nil, err
	}
	conn, err := client.Connect(ctx, ref, log)
	if err != nil {
		return nil, nil, err
	}
	sub, err := conn.Submission(ctx)
	if err != nil {
		conn.Close()
		return nil, nil, err
	}
	return sub, func() { sub.Release(); conn.Close() }, nil
}
