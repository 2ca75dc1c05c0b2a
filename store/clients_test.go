package store

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/ocluster-go/ocluster/core"
)

type lookup struct {
	id             string
	revoked, found bool
}

func mustLookup(t *testing.T, s *Store, hash []byte) lookup {
	t.Helper()
	id, revoked, found, err := s.LookupSecret(hash)
	if err != nil {
		t.Fatalf("LookupSecret: %v", err)
	}
	return lookup{id, revoked, found}
}

func TestAddClient(t *testing.T) {
	for _, tc := range []struct {
		name    string
		id      string
		hash    []byte
		wantErr string
		wantIs  error
	}{
		{"new", "carol", hashOf("carol"), "", nil},
		{"duplicate id", "alice", hashOf("another secret"), `add client "alice"`, core.ErrClientExists},
		{"empty id", "", hashOf("x"), "add client", core.ErrEmptyClientID},
		{"secret in clear", "dave", []byte("hunter2"), "7 bytes, not 32", nil},
		{"hash of another client", "dave", hashOf("alice"), `the secret of client "alice"`, nil},
		{"revoked hash", "dave", hashOf("bob"), `revoked secret of client "bob"`, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := openTemp(t)
			for _, id := range []string{"alice", "bob"} {
				if err := s.AddClient(id, hashOf(id)); err != nil {
					t.Fatal(err)
				}
			}
			if err := s.RemoveClient("bob"); err != nil {
				t.Fatal(err)
			}
			before, err := s.Clients()
			if err != nil {
				t.Fatal(err)
			}
			err = s.AddClient(tc.id, tc.hash)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("AddClient: %v", err)
				}
				if got := mustLookup(t, s, tc.hash); got != (lookup{tc.id, false, true}) {
					t.Fatalf("LookupSecret = %+v", got)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("AddClient = %v, want an error with %q", err, tc.wantErr)
			}
			if tc.wantIs != nil && !errors.Is(err, tc.wantIs) {
				t.Fatalf("AddClient = %v, want it to wrap %v", err, tc.wantIs)
			}
			after, err := s.Clients()
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(after, before) {
				t.Fatalf("a failed AddClient changed the clients: %v, was %v", after, before)
			}
		})
	}
}

func TestRemoveClient(t *testing.T) {
	s := openTemp(t)
	for _, id := range []string{"bob", "alice"} {
		if err := s.AddClient(id, hashOf(id)); err != nil {
			t.Fatal(err)
		}
	}
	mustApply(t, s,
		core.Change{Kind: core.ClientAdded, Client: "alice"},
		core.Change{Kind: core.ClientAdded, Client: "bob"},
		core.Change{Kind: core.RateSet, Pool: "p1", Client: "alice", Rate: 2},
		core.Change{Kind: core.RateSet, Pool: "p2", Client: "alice", Rate: 3},
		core.Change{Kind: core.RateSet, Pool: "p2", Client: "bob", Rate: 4},
		core.Change{Kind: core.WorkerKnown, Pool: "p1", Worker: "w"},
	)
	clients, err := s.Clients()
	if err != nil {
		t.Fatal(err)
	}
	want := []Client{{"alice", hashOf("alice")}, {"bob", hashOf("bob")}}
	if !reflect.DeepEqual(clients, want) {
		t.Fatalf("Clients = %v, want %v", clients, want)
	}

	if err := s.RemoveClient("alice"); err != nil {
		t.Fatal(err)
	}
	checkSnapshot(t, s, core.Snapshot{Clients: []string{"bob"}, Pools: []core.PoolSnapshot{
		{Name: "p1", Workers: workersOf(kw("w", false))},
		{Name: "p2", Rates: ratesOf(rateOf("bob", 4))},
	}})
	for _, tc := range []struct {
		hash []byte
		want lookup
	}{
		{hashOf("alice"), lookup{"alice", true, true}},
		{hashOf("bob"), lookup{"bob", false, true}},
		{hashOf("mallory"), lookup{}},
	} {
		if got := mustLookup(t, s, tc.hash); got != tc.want {
			t.Errorf("LookupSecret(%x) = %+v, want %+v", tc.hash[:4], got, tc.want)
		}
	}

	err = s.RemoveClient("alice")
	if !errors.Is(err, core.ErrUnknownClient) || !strings.Contains(err.Error(), `"alice"`) {
		t.Errorf("second RemoveClient = %v, want an unknown client error naming it", err)
	}

	// The id can be registered again, with a new secret; the old one stays
	// revoked.
	if err := s.AddClient("alice", hashOf("alice 2")); err != nil {
		t.Fatal(err)
	}
	if got := mustLookup(t, s, hashOf("alice")); got != (lookup{"alice", true, true}) {
		t.Errorf("old secret after re-adding: %+v", got)
	}
	if got := mustLookup(t, s, hashOf("alice 2")); got != (lookup{"alice", false, true}) {
		t.Errorf("new secret after re-adding: %+v", got)
	}
}

// TestClientChangesThroughApply checks the contract between AddClient,
// RemoveClient and the core's ClientAdded and ClientRemoved changes.
func TestClientChangesThroughApply(t *testing.T) {
	added := core.Change{Kind: core.ClientAdded, Client: "alice"}
	removed := core.Change{Kind: core.ClientRemoved, Client: "alice"}
	rate := core.Change{Kind: core.RateSet, Pool: "p", Client: "alice", Rate: 2}
	for _, tc := range []struct {
		name    string
		run     func(*Store) error
		clients []string
		lookup  lookup // of alice's first secret
	}{
		{"added, confirmed", func(s *Store) error {
			return errors.Join(s.AddClient("alice", hashOf("alice")), s.Apply([]core.Change{added, rate}))
		}, []string{"alice"}, lookup{"alice", false, true}},
		{"removed through Apply", func(s *Store) error {
			return errors.Join(s.AddClient("alice", hashOf("alice")), s.Apply([]core.Change{added, rate, removed}))
		}, nil, lookup{"alice", true, true}},
		{"removed by RemoveClient, then the core's changes arrive", func(s *Store) error {
			return errors.Join(s.AddClient("alice", hashOf("alice")), s.Apply([]core.Change{rate}),
				s.RemoveClient("alice"), s.Apply([]core.Change{added, removed}))
		}, nil, lookup{"alice", true, true}},
		{"removed, then added again", func(s *Store) error {
			return errors.Join(s.AddClient("alice", hashOf("alice")), s.Apply([]core.Change{added, rate, removed}),
				s.AddClient("alice", hashOf("alice 2")), s.Apply([]core.Change{added}))
		}, []string{"alice"}, lookup{"alice", true, true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := openTemp(t)
			if err := tc.run(s); err != nil {
				t.Fatal(err)
			}
			snap := mustSnapshot(t, s)
			if !reflect.DeepEqual(snap.Clients, tc.clients) {
				t.Errorf("clients %v, want %v", snap.Clients, tc.clients)
			}
			if got := mustLookup(t, s, hashOf("alice")); got != tc.lookup {
				t.Errorf("LookupSecret = %+v, want %+v", got, tc.lookup)
			}
			for _, p := range snap.Pools {
				if p.Rates != nil && tc.lookup.revoked {
					t.Errorf("a removed client's rates stayed: %+v", p.Rates)
				}
			}
		})
	}
}

// dump lists the rows of every table, without the columns that record
// when a row was written.
func dump(t *testing.T, s *Store) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for table, cols := range map[string]string{
		"clients":         "id, hex(secret_hash)",
		"revoked_secrets": "client_id, hex(secret_hash)",
		"rates":           "pool, client, rate",
		"workers":         "pool, name, paused",
		"cache":           "pool, hint, worker, at",
	} {
		rows, err := s.db.Query("SELECT " + cols + " FROM " + table + " ORDER BY 1, 2")
		if err != nil {
			t.Fatal(err)
		}
		n := strings.Count(cols, ",") + 1
		for rows.Next() {
			values := make([]any, n)
			dest := make([]any, n)
			for i := range values {
				dest[i] = &values[i]
			}
			if err := rows.Scan(dest...); err != nil {
				t.Fatal(err)
			}
			out[table] = append(out[table], fmt.Sprint(values...))
		}
		if err := rows.Close(); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// TestClientRemovedLikeRemoveClient: ClientRemoved through Apply leaves the
// database as RemoveClient does.
func TestClientRemovedLikeRemoveClient(t *testing.T) {
	setup := func(t *testing.T) *Store {
		s := openTemp(t)
		for _, id := range []string{"alice", "bob"} {
			if err := s.AddClient(id, hashOf(id)); err != nil {
				t.Fatal(err)
			}
			mustApply(t, s, core.Change{Kind: core.ClientAdded, Client: id})
		}
		mustApply(t, s,
			core.Change{Kind: core.RateSet, Pool: "p1", Client: "alice", Rate: 2},
			core.Change{Kind: core.RateSet, Pool: "p2", Client: "alice", Rate: 3},
			core.Change{Kind: core.RateSet, Pool: "p2", Client: "bob", Rate: 4},
			core.Change{Kind: core.CacheAdded, Pool: "p1", Hint: "h", Worker: "w", At: 1},
		)
		return s
	}
	direct, applied := setup(t), setup(t)
	if err := direct.RemoveClient("alice"); err != nil {
		t.Fatal(err)
	}
	mustApply(t, applied, core.Change{Kind: core.ClientRemoved, Client: "alice"})
	got, want := dump(t, applied), dump(t, direct)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("after ClientRemoved:\n%v\nafter RemoveClient:\n%v", got, want)
	}
	if len(want["revoked_secrets"]) != 1 || len(want["rates"]) != 1 {
		t.Fatalf("RemoveClient left %v", want)
	}
}
