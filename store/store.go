package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"

	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver
)

// busyTimeoutMillis bounds how long a statement waits for a lock that
// another connection to the file (another process) holds.
const busyTimeoutMillis = 5000

// Store is the scheduler's state database. Its methods are safe for
// concurrent use; they share one connection, so they run one at a time.
type Store struct {
	db       *sql.DB
	path     string
	prepared [numQueries]*sql.Stmt
}

// Open opens the database file at path, creating it if it does not exist,
// and brings its schema up to the version this build knows. The directory
// that holds it must exist. A database written by a newer build (a higher
// schema version) is refused.
//
// A committed transaction survives the process being killed; a power loss
// or an operating system crash can undo the last ones, but leaves the
// database consistent (WAL with synchronous=NORMAL, as SQLite documents at
// https://sqlite.org/pragma.html#pragma_synchronous).
func Open(path string) (*Store, error) {
	return open(path, migrations)
}

func open(path string, steps []migration) (*Store, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("open state database %q: %w", path, err)
	}
	dir := filepath.Dir(abs)
	info, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("open state database %s: directory %s does not exist: create it first or choose another state directory", abs, dir)
	case err != nil:
		return nil, fmt.Errorf("open state database %s: %w", abs, err)
	case !info.IsDir():
		return nil, fmt.Errorf("open state database %s: %s is not a directory", abs, dir)
	}
	// The database holds the clients' secret hashes: only its owner may
	// read it (SQLite gives its -wal and -shm files the same mode).
	f, err := os.OpenFile(abs, os.O_RDONLY|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open state database %s: %w", abs, err)
	}
	// A database an earlier build made 0644 is made private too.
	err = f.Chmod(0o600)
	f.Close()
	if err != nil {
		return nil, fmt.Errorf("open state database %s: %w", abs, err)
	}
	db, err := sql.Open("sqlite", dataSourceName(abs))
	if err != nil {
		return nil, fmt.Errorf("open state database %s: %w", abs, err)
	}
	// One connection: every write goes through it, so two writers of this
	// process never wait on each other's locks; the pragmas of the data
	// source name are applied again if database/sql ever replaces it.
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	s := &Store{db: db, path: abs}
	if err := s.init(steps); err != nil {
		s.Close()
		return nil, fmt.Errorf("open state database %s: %w", abs, err)
	}
	return s, nil
}

// dataSourceName is the modernc.org/sqlite data source name for the file:
// a file: URI, so that any character of the path (a '?', a '#', a '%') is
// escaped instead of read as the start of the query.
//
// journal_mode=WAL with synchronous=NORMAL: SQLite's documentation of
// PRAGMA synchronous (https://sqlite.org/pragma.html#pragma_synchronous)
// says that WAL mode is always consistent with synchronous=NORMAL, that
// transactions are durable across application crashes (such as kill -9)
// whatever the synchronous setting, and that a transaction committed in
// WAL mode with synchronous=NORMAL might roll back after a power loss or an
// operating system crash. So a commit survives the scheduler being killed;
// a power cut can lose the last commits but never corrupts the file.
//
// _txlock=immediate makes every write transaction take the write lock when
// it begins, so that it waits (busy_timeout) there rather than failing when
// it first writes.
func dataSourceName(abs string) string {
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busyTimeoutMillis))
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(NORMAL)")
	q.Set("_txlock", "immediate")
	u := url.URL{Scheme: "file", Path: abs, RawQuery: q.Encode()}
	return u.String()
}

func (s *Store) init(steps []migration) error {
	ctx := context.Background()
	var mode string
	if err := s.db.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		return fmt.Errorf("read journal mode: %w", err)
	}
	if mode != "wal" {
		return fmt.Errorf("journal mode is %q, not wal: is the file on a file system without shared memory?", mode)
	}
	if err := migrate(ctx, s.db, steps); err != nil {
		return err
	}
	for q, text := range queryText {
		st, err := s.db.PrepareContext(ctx, text)
		if err != nil {
			return fmt.Errorf("prepare %q: %w", text, err)
		}
		s.prepared[q] = st
	}
	return nil
}

// Close closes the database. The Writers of the store must be closed first.
func (s *Store) Close() error {
	var errs []error
	for i, st := range s.prepared {
		if st != nil {
			errs = append(errs, st.Close())
			s.prepared[i] = nil
		}
	}
	errs = append(errs, s.db.Close())
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("close state database %s: %w", s.path, err)
	}
	return nil
}

// txn is one transaction; it binds each prepared statement it uses to the
// transaction once.
type txn struct {
	ctx   context.Context
	s     *Store
	tx    *sql.Tx
	bound [numQueries]*sql.Stmt
}

func (t *txn) stmt(q query) *sql.Stmt {
	if t.bound[q] == nil {
		t.bound[q] = t.tx.StmtContext(t.ctx, t.s.prepared[q])
	}
	return t.bound[q]
}

func (t *txn) exec(q query, args ...any) error {
	_, err := t.stmt(q).ExecContext(t.ctx, args...)
	return err
}

func (t *txn) queryRow(q query, args ...any) *sql.Row {
	return t.stmt(q).QueryRowContext(t.ctx, args...)
}

func (t *txn) query(q query, args ...any) (*sql.Rows, error) {
	return t.stmt(q).QueryContext(t.ctx, args...)
}

// inTx runs fn in one transaction, committed if fn returns nil and rolled
// back otherwise. A read-only transaction does not take the write lock.
func (s *Store) inTx(readOnly bool, fn func(*txn) error) error {
	ctx := context.Background()
	tx, err := s.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: readOnly})
	if err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	if err := fn(&txn{ctx: ctx, s: s, tx: tx}); err != nil {
		if rerr := tx.Rollback(); rerr != nil {
			return errors.Join(err, fmt.Errorf("roll back: %w", rerr))
		}
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}
