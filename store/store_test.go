package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ocluster-go/ocluster/core"
)

// openTemp opens a new store in a temporary directory, closed at the end of
// the test.
func openTemp(t *testing.T) *Store {
	t.Helper()
	return openAt(t, filepath.Join(t.TempDir(), "state.db"))
}

func openAt(t *testing.T, path string) *Store {
	t.Helper()
	s, err := Open(path)
	if err != nil {
		t.Fatalf("Open(%q): %v", path, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func mustApply(t *testing.T, s *Store, changes ...core.Change) {
	t.Helper()
	if err := s.Apply(changes); err != nil {
		t.Fatalf("Apply: %v", err)
	}
}

func mustSnapshot(t *testing.T, s *Store) core.Snapshot {
	t.Helper()
	snap, err := s.Snapshot()
	if err != nil {
		t.Fatalf("Snapshot: %v", err)
	}
	return snap
}

func checkSnapshot(t *testing.T, s *Store, want core.Snapshot) {
	t.Helper()
	if got := mustSnapshot(t, s); !reflect.DeepEqual(got, want) {
		t.Fatalf("stored snapshot differs (got, want):\n%s", snapshotDiff(got, want))
	}
}

// snapshotDiff lists the parts of two snapshots that differ.
func snapshotDiff(got, want core.Snapshot) string {
	var b strings.Builder
	line := func(what string, g, w any) {
		if !reflect.DeepEqual(g, w) {
			fmt.Fprintf(&b, "%s:\n  %#v\n  %#v\n", what, g, w)
		}
	}
	line("clients", got.Clients, want.Clients)
	pools := func(s core.Snapshot) map[string]core.PoolSnapshot {
		m := map[string]core.PoolSnapshot{}
		for _, p := range s.Pools {
			m[p.Name] = p
		}
		return m
	}
	gp, wp := pools(got), pools(want)
	var names []string
	for _, p := range append(slices.Clone(got.Pools), want.Pools...) {
		names = append(names, p.Name)
	}
	slices.Sort(names)
	for _, n := range slices.Compact(names) {
		g, w := gp[n], wp[n]
		line("pool "+n+" workers", g.Workers, w.Workers)
		line("pool "+n+" rates", g.Rates, w.Rates)
		line("pool "+n+" cache", g.Cache, w.Cache)
	}
	if b.Len() == 0 { // the same parts, in another order or nil-ness
		line("pools", got.Pools, want.Pools)
	}
	return b.String()
}

func pragma(t *testing.T, db *sql.DB, name string) string {
	t.Helper()
	var v string
	if err := db.QueryRow("PRAGMA " + name).Scan(&v); err != nil {
		t.Fatalf("PRAGMA %s: %v", name, err)
	}
	return v
}

func TestOpenSettings(t *testing.T) {
	s := openTemp(t)
	for _, tc := range []struct{ pragma, want string }{
		{"journal_mode", "wal"},
		{"foreign_keys", "1"},
		{"synchronous", "1"}, // NORMAL
		{"busy_timeout", "5000"},
		{"user_version", strconv.Itoa(len(migrations))},
	} {
		if got := pragma(t, s.db, tc.pragma); got != tc.want {
			t.Errorf("PRAGMA %s = %s, want %s", tc.pragma, got, tc.want)
		}
	}
	if got := s.db.Stats().MaxOpenConnections; got != 1 {
		t.Errorf("MaxOpenConnections = %d, want 1", got)
	}
	// STRICT tables refuse a value of the wrong type.
	_, err := s.db.Exec(`INSERT INTO workers (pool, name, paused) VALUES ('p', 'w', 'yes')`)
	if err == nil {
		t.Errorf("a text pause flag was stored; want the STRICT table to refuse it")
	}
}

func TestOpenPaths(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, []byte(strings.Repeat("not an SQLite database\n", 50)), 0o600); err != nil {
		t.Fatal(err)
	}
	odd := filepath.Join(dir, "state dir #1?x=%41")
	if err := os.Mkdir(odd, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		path    string
		wantErr string // empty: opens
	}{
		{"new file", filepath.Join(dir, "state.db"), ""},
		{"characters of a URI in the path", filepath.Join(odd, "state?.db"), ""},
		{"missing parent directory", filepath.Join(dir, "missing", "state.db"), "directory " + filepath.Join(dir, "missing") + " does not exist"},
		{"parent is a file", filepath.Join(file, "state.db"), "is not a directory"},
		{"not a database", file, "not a database"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Open(tc.path)
			if tc.wantErr != "" {
				if err == nil {
					s.Close()
					t.Fatalf("Open(%q) succeeded, want an error with %q", tc.path, tc.wantErr)
				}
				if !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Open(%q) = %v, want an error with %q", tc.path, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Open(%q): %v", tc.path, err)
			}
			defer s.Close()
			if _, err := os.Stat(tc.path); err != nil {
				t.Fatalf("the database is not at the path given: %v", err)
			}
		})
	}
}

// setVersion sets the schema version of the database file at path.
func setVersion(t *testing.T, path string, version int) {
	t.Helper()
	s := openAt(t, path)
	if _, err := s.db.Exec("PRAGMA user_version = " + strconv.Itoa(version)); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestOpenRefusesNewerSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	setVersion(t, path, len(migrations)+1)
	s, err := Open(path)
	if err == nil {
		s.Close()
		t.Fatal("Open of a database of a newer schema succeeded")
	}
	for _, want := range []string{
		fmt.Sprintf("schema version %d,", len(migrations)+1),
		fmt.Sprintf("newer than version %d,", len(migrations)),
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
}

func TestMigrationsRunOnceInOrder(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	var ran []int
	step := func(version int) migration {
		return func(ctx context.Context, tx *sql.Tx) error {
			ran = append(ran, version)
			_, err := tx.ExecContext(ctx, "CREATE TABLE v"+strconv.Itoa(version)+" (x INTEGER) STRICT")
			return err
		}
	}
	// A database made by version 1, with a row the later builds must keep.
	s := openAt(t, path)
	mustApply(t, s, core.Change{Kind: core.WorkerKnown, Pool: "p", Worker: "w"})
	s.Close()

	for _, tc := range []struct {
		name  string
		steps []migration
		want  []int // migrations run by this open
	}{
		{"version 2 runs", []migration{createVersion1, step(2)}, []int{2}},
		{"version 2 does not run again", []migration{createVersion1, step(2)}, nil},
		{"versions 3 and 4 run in order", []migration{createVersion1, step(2), step(3), step(4)}, []int{3, 4}},
		{"nothing left to run", []migration{createVersion1, step(2), step(3), step(4)}, nil},
	} {
		ran = nil
		s, err := open(path, tc.steps)
		if err != nil {
			t.Fatalf("%s: open: %v", tc.name, err)
		}
		if !reflect.DeepEqual(ran, tc.want) {
			t.Errorf("%s: ran migrations %v, want %v", tc.name, ran, tc.want)
		}
		if got, want := pragma(t, s.db, "user_version"), strconv.Itoa(len(tc.steps)); got != want {
			t.Errorf("%s: schema version %s, want %s", tc.name, got, want)
		}
		checkSnapshot(t, s, core.Snapshot{Pools: []core.PoolSnapshot{{Name: "p", Workers: []core.KnownWorker{{Name: "w"}}}}})
		s.Close()
	}

	// A new file runs every migration, in order.
	ran = nil
	s, err := open(filepath.Join(t.TempDir(), "new.db"), []migration{createVersion1, step(2), step(3)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if want := []int{2, 3}; !reflect.DeepEqual(ran, want) {
		t.Errorf("a new database ran migrations %v after version 1, want %v", ran, want)
	}
}

func TestFailedMigrationRollsBack(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	openAt(t, path).Close()
	boom := errors.New("boom")
	failing := func(ctx context.Context, tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, "CREATE TABLE half_done (x INTEGER)"); err != nil {
			return err
		}
		return boom
	}
	s, err := open(path, []migration{createVersion1, failing})
	if err == nil {
		s.Close()
		t.Fatal("open with a failing migration succeeded")
	}
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), "from version 1 to 2") {
		t.Fatalf("error %q does not wrap the migration's error and name the versions", err)
	}
	s = openAt(t, path)
	if got := pragma(t, s.db, "user_version"); got != "1" {
		t.Errorf("schema version after a failed migration = %s, want 1", got)
	}
	var n int
	if err := s.db.QueryRow(`SELECT count(*) FROM sqlite_schema WHERE name = 'half_done'`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("the failed migration's table exists; want its transaction rolled back")
	}
}

// The database holds the clients' secret hashes: other users of the host
// must not read it, whatever the umask.
func TestDatabaseIsPrivate(t *testing.T) {
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)
	path := filepath.Join(t.TempDir(), "scheduler.db")
	s, err := Open(path)
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	require.NoError(t, s.AddClient("c", make([]byte, 32)))
	for _, name := range []string{path, path + "-wal"} {
		info, err := os.Stat(name)
		require.NoError(t, err)
		assert.Equal(t, os.FileMode(0o600), info.Mode().Perm(), name)
	}

	// One an earlier build left readable by all is made private.
	require.NoError(t, s.Close())
	require.NoError(t, os.Chmod(path, 0o644))
	s, err = Open(path)
	require.NoError(t, err)
	info, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), info.Mode().Perm())
}
