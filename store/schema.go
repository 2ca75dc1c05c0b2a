package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// migration takes the schema from one version to the next, inside the
// transaction it is given.
type migration func(ctx context.Context, tx *sql.Tx) error

// migrations is the schema's history: migrations[i] takes a database from
// version i to version i+1, so this build knows version len(migrations).
// The version is kept in PRAGMA user_version (0 in a new file). To change
// the schema, append a function; never edit one that has shipped, since
// databases out there have already run it.
var migrations = []migration{createVersion1}

// createVersion1 creates the tables, each keyed as the core keys its state.
// STRICT tables (SQLite 3.37 and later) refuse a value of the wrong type.
// Rates name any client the core has a rate for, registered or not, so
// they do not reference the clients table.
func createVersion1(ctx context.Context, tx *sql.Tx) error {
	const schema = `
CREATE TABLE clients (
	id          TEXT NOT NULL PRIMARY KEY,
	secret_hash BLOB NOT NULL UNIQUE CHECK (length(secret_hash) = 32),
	created     TEXT NOT NULL
) STRICT;
CREATE TABLE revoked_secrets (
	secret_hash BLOB NOT NULL PRIMARY KEY,
	client_id   TEXT NOT NULL,
	revoked_at  TEXT NOT NULL
) STRICT;
CREATE INDEX revoked_secrets_by_client ON revoked_secrets (client_id);
CREATE TABLE rates (
	pool   TEXT NOT NULL,
	client TEXT NOT NULL,
	rate   REAL NOT NULL,
	PRIMARY KEY (pool, client)
) STRICT, WITHOUT ROWID;
CREATE INDEX rates_by_client ON rates (client);
CREATE TABLE workers (
	pool   TEXT NOT NULL,
	name   TEXT NOT NULL,
	paused INTEGER NOT NULL CHECK (paused IN (0, 1)),
	PRIMARY KEY (pool, name)
) STRICT, WITHOUT ROWID;
CREATE TABLE cache (
	pool   TEXT NOT NULL,
	hint   TEXT NOT NULL,
	worker TEXT NOT NULL,
	at     REAL NOT NULL,
	PRIMARY KEY (pool, hint, worker)
) STRICT, WITHOUT ROWID;
`
	_, err := tx.ExecContext(ctx, schema)
	return err
}

// migrate runs the migrations the database has not run yet, in order, each
// in its own transaction.
func migrate(ctx context.Context, db *sql.DB, steps []migration) error {
	for {
		current, err := migrateStep(ctx, db, steps)
		if err != nil || current {
			return err
		}
	}
}

// migrateStep runs the next migration, if one is due, in its own
// transaction, and reports whether the schema was current already. The
// transaction takes the write lock before it reads the version, so two
// processes cannot run the same step.
func migrateStep(ctx context.Context, db *sql.DB, steps []migration) (current bool, err error) {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return false, fmt.Errorf("begin schema migration: %w", err)
	}
	current, err = runNextStep(ctx, tx, steps)
	if err != nil || current {
		if rerr := tx.Rollback(); rerr != nil {
			return current, errors.Join(err, fmt.Errorf("roll back schema migration: %w", rerr))
		}
		return current, err
	}
	if err := tx.Commit(); err != nil {
		return false, fmt.Errorf("commit schema migration: %w", err)
	}
	return false, nil
}

func runNextStep(ctx context.Context, tx *sql.Tx, steps []migration) (current bool, err error) {
	var version int
	if err := tx.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil {
		return false, fmt.Errorf("read schema version: %w", err)
	}
	known := len(steps)
	switch {
	case version > known:
		return false, fmt.Errorf("the database has schema version %d, newer than version %d, the newest this build knows: run a newer build, or use another state directory", version, known)
	case version < 0:
		return false, fmt.Errorf("the database has schema version %d, which no build writes", version)
	case version == known:
		return true, nil
	}
	if err := steps[version](ctx, tx); err != nil {
		return false, fmt.Errorf("migrate schema from version %d to %d: %w", version, version+1, err)
	}
	if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", version+1)); err != nil {
		return false, fmt.Errorf("set schema version %d: %w", version+1, err)
	}
	return false, nil
}

// query names a statement that the store prepares once, when it opens.
type query int

const (
	qAddCache query = iota
	qRemoveCache
	qSetRate
	qRemoveRate
	qKnowWorker
	qPauseWorker
	qForgetWorker
	qAddClient
	qClientSecret
	qClientRevoked
	qRevokeSecret
	qDeleteClient
	qDeleteClientRates
	qActiveSecret
	qRevokedSecret
	qListClients
	qListWorkers
	qListRates
	qListCache
	numQueries
)

// queryText is the SQL of each query. ORDER BY sorts text with SQLite's
// default BINARY collation, which compares bytes as Go compares strings.
var queryText = [numQueries]string{
	qAddCache:          `INSERT INTO cache (pool, hint, worker, at) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING`,
	qRemoveCache:       `DELETE FROM cache WHERE pool = ? AND hint = ? AND worker = ?`,
	qSetRate:           `INSERT INTO rates (pool, client, rate) VALUES (?, ?, ?) ON CONFLICT (pool, client) DO UPDATE SET rate = excluded.rate`,
	qRemoveRate:        `DELETE FROM rates WHERE pool = ? AND client = ?`,
	qKnowWorker:        `INSERT INTO workers (pool, name, paused) VALUES (?, ?, 0) ON CONFLICT DO NOTHING`,
	qPauseWorker:       `INSERT INTO workers (pool, name, paused) VALUES (?, ?, ?) ON CONFLICT (pool, name) DO UPDATE SET paused = excluded.paused`,
	qForgetWorker:      `DELETE FROM workers WHERE pool = ? AND name = ?`,
	qAddClient:         `INSERT INTO clients (id, secret_hash, created) VALUES (?, ?, ?)`,
	qClientSecret:      `SELECT secret_hash FROM clients WHERE id = ?`,
	qClientRevoked:     `SELECT EXISTS (SELECT 1 FROM revoked_secrets WHERE client_id = ?)`,
	qRevokeSecret:      `INSERT INTO revoked_secrets (secret_hash, client_id, revoked_at) VALUES (?, ?, ?)`,
	qDeleteClient:      `DELETE FROM clients WHERE id = ?`,
	qDeleteClientRates: `DELETE FROM rates WHERE client = ?`,
	qActiveSecret:      `SELECT id FROM clients WHERE secret_hash = ?`,
	qRevokedSecret:     `SELECT client_id FROM revoked_secrets WHERE secret_hash = ?`,
	qListClients:       `SELECT id, secret_hash FROM clients ORDER BY id`,
	qListWorkers:       `SELECT pool, name, paused FROM workers ORDER BY pool, name`,
	qListRates:         `SELECT pool, client, rate FROM rates ORDER BY pool, client`,
	qListCache:         `SELECT pool, hint, worker, at FROM cache ORDER BY pool, hint, worker`,
}
