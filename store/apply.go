package store

import (
	"cmp"
	"database/sql"
	"errors"
	"fmt"
	"slices"

	"github.com/ocluster-go/ocluster/core"
)

// Apply stores a batch of changes, in order, in one transaction: all of them
// or, if one fails, none. Each kind does what core.Snapshot.Apply does with
// it, so that Snapshot afterwards equals what the changes add up to:
//
//   - CacheAdded adds the entry unless it is stored (the first At stays);
//     CacheRemoved deletes it;
//   - RateSet stores the rate, RateRemoved deletes it;
//   - WorkerKnown adds the worker, not paused, unless it is stored (a stored
//     admin pause stays; the core reports WorkerKnown only for a worker it
//     does not know);
//   - WorkerPaused stores the flag, adding the worker if needed;
//   - WorkerForgotten deletes the worker; its cache entries stay;
//   - ClientAdded confirms a client that AddClient stored: it does nothing
//     if the client is stored, or if it was removed since (its id has a
//     revoked secret), and is an error otherwise, since the client has no
//     secret: call AddClient before the core registers a client;
//   - ClientRemoved does what RemoveClient does (revokes the secret, deletes
//     the client and its rates in every pool; the core reports RateRemoved
//     for those rates next), and nothing if the client is not stored.
//
// A change of an unknown kind is an error that names it.
func (s *Store) Apply(changes []core.Change) error {
	if len(changes) == 0 {
		return nil
	}
	err := s.inTx(false, func(t *txn) error {
		for i, c := range changes {
			if err := t.apply(c); err != nil {
				return fmt.Errorf("change %d of %d: %w", i+1, len(changes), err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store %d changes (none stored): %w", len(changes), err)
	}
	return nil
}

func (t *txn) apply(c core.Change) error {
	var err error
	switch c.Kind {
	case core.CacheAdded:
		err = t.exec(qAddCache, c.Pool, c.Hint, c.Worker, c.At)
	case core.CacheRemoved:
		err = t.exec(qRemoveCache, c.Pool, c.Hint, c.Worker)
	case core.RateSet:
		err = t.exec(qSetRate, c.Pool, c.Client, c.Rate)
	case core.RateRemoved:
		err = t.exec(qRemoveRate, c.Pool, c.Client)
	case core.WorkerKnown:
		err = t.exec(qKnowWorker, c.Pool, c.Worker)
	case core.WorkerPaused:
		err = t.exec(qPauseWorker, c.Pool, c.Worker, c.Paused)
	case core.WorkerForgotten:
		err = t.exec(qForgetWorker, c.Pool, c.Worker)
	case core.ClientAdded:
		return t.confirmClient(c.Client)
	case core.ClientRemoved:
		_, err = t.removeClient(c.Client)
		if err != nil {
			return fmt.Errorf("%s %q: %w", c.Kind, c.Client, err)
		}
		return nil
	default:
		return fmt.Errorf("unknown change kind %d (%s)", c.Kind, c.Kind)
	}
	if err != nil {
		return fmt.Errorf("%s in pool %q: %w", c.Kind, c.Pool, err)
	}
	return nil
}

// confirmClient checks the client that a ClientAdded change names.
func (t *txn) confirmClient(id string) error {
	var hash []byte
	err := t.queryRow(qClientSecret, id).Scan(&hash)
	if err == nil {
		return nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%s %q: %w", core.ClientAdded, id, err)
	}
	var revoked bool
	if err := t.queryRow(qClientRevoked, id).Scan(&revoked); err != nil {
		return fmt.Errorf("%s %q: %w", core.ClientAdded, id, err)
	}
	if !revoked {
		return fmt.Errorf("%s %q: the client has no stored secret: call AddClient before registering the client in the core", core.ClientAdded, id)
	}
	return nil
}

// Snapshot reads the stored state, sorted as core.Snapshot says: by name,
// bytewise; an empty list is nil and a pool with nothing stored is left out.
func (s *Store) Snapshot() (core.Snapshot, error) {
	var snap core.Snapshot
	err := s.inTx(true, func(t *txn) error {
		if err := t.readClients(&snap); err != nil {
			return fmt.Errorf("clients: %w", err)
		}
		if err := t.readWorkers(&snap); err != nil {
			return fmt.Errorf("workers: %w", err)
		}
		if err := t.readRates(&snap); err != nil {
			return fmt.Errorf("rates: %w", err)
		}
		if err := t.readCache(&snap); err != nil {
			return fmt.Errorf("cache: %w", err)
		}
		return nil
	})
	if err != nil {
		return core.Snapshot{}, fmt.Errorf("read state snapshot: %w", err)
	}
	return snap, nil
}

// each runs q and calls scan for each row.
func (t *txn) each(q query, scan func(*sql.Rows) error) error {
	rows, err := t.query(q)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := scan(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}

func (t *txn) readClients(snap *core.Snapshot) error {
	return t.each(qListClients, func(rows *sql.Rows) error {
		var id string
		var hash []byte
		if err := rows.Scan(&id, &hash); err != nil {
			return err
		}
		snap.Clients = append(snap.Clients, id)
		return nil
	})
}

func (t *txn) readWorkers(snap *core.Snapshot) error {
	return t.each(qListWorkers, func(rows *sql.Rows) error {
		var pool string
		var w core.KnownWorker
		if err := rows.Scan(&pool, &w.Name, &w.Paused); err != nil {
			return err
		}
		p := poolOf(snap, pool)
		p.Workers = append(p.Workers, w)
		return nil
	})
}

func (t *txn) readRates(snap *core.Snapshot) error {
	return t.each(qListRates, func(rows *sql.Rows) error {
		var pool string
		var r core.ClientRate
		if err := rows.Scan(&pool, &r.Client, &r.Rate); err != nil {
			return err
		}
		p := poolOf(snap, pool)
		p.Rates = append(p.Rates, r)
		return nil
	})
}

func (t *txn) readCache(snap *core.Snapshot) error {
	return t.each(qListCache, func(rows *sql.Rows) error {
		var pool string
		var e core.CacheEntry
		if err := rows.Scan(&pool, &e.Hint, &e.Worker, &e.At); err != nil {
			return err
		}
		p := poolOf(snap, pool)
		p.Cache = append(p.Cache, e)
		return nil
	})
}

// poolOf returns the snapshot's pool of that name, inserted in order if it
// is not there yet.
func poolOf(snap *core.Snapshot, name string) *core.PoolSnapshot {
	i, found := slices.BinarySearchFunc(snap.Pools, name, func(p core.PoolSnapshot, n string) int {
		return cmp.Compare(p.Name, n)
	})
	if !found {
		snap.Pools = slices.Insert(snap.Pools, i, core.PoolSnapshot{Name: name})
	}
	return &snap.Pools[i]
}
