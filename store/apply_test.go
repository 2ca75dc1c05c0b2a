package store

import (
	"crypto/sha256"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/ocluster-go/ocluster/core"
)

// hashOf is the secret hash a test gives a client.
func hashOf(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}

func kw(name string, paused bool) core.KnownWorker {
	return core.KnownWorker{Name: name, Paused: paused}
}
func workersOf(ws ...core.KnownWorker) []core.KnownWorker { return ws }
func entry(hint, worker string, at float64) core.CacheEntry {
	return core.CacheEntry{Hint: hint, Worker: worker, At: at}
}
func cacheOf(es ...core.CacheEntry) []core.CacheEntry { return es }
func rateOf(client string, rate float64) core.ClientRate {
	return core.ClientRate{Client: client, Rate: rate}
}
func ratesOf(rs ...core.ClientRate) []core.ClientRate { return rs }

func TestApplyKinds(t *testing.T) {
	const p = "pool"
	known := func(w string) core.Change { return core.Change{Kind: core.WorkerKnown, Pool: p, Worker: w} }
	paused := func(w string, b bool) core.Change {
		return core.Change{Kind: core.WorkerPaused, Pool: p, Worker: w, Paused: b}
	}
	cached := func(h, w string, at float64) core.Change {
		return core.Change{Kind: core.CacheAdded, Pool: p, Hint: h, Worker: w, At: at}
	}
	rate := func(c string, r float64) core.Change {
		return core.Change{Kind: core.RateSet, Pool: p, Client: c, Rate: r}
	}
	pool := func(ps core.PoolSnapshot) core.Snapshot {
		ps.Name = p
		return core.Snapshot{Pools: []core.PoolSnapshot{ps}}
	}
	for _, tc := range []struct {
		name    string
		changes []core.Change
		want    core.Snapshot
	}{
		{"nothing", nil, core.Snapshot{}},
		{"cache keeps the first time", []core.Change{cached("h", "w", 1), cached("h", "w", 2), cached("h", "v", 3)},
			pool(core.PoolSnapshot{Cache: cacheOf(entry("h", "v", 3), entry("h", "w", 1))})},
		{"rate set twice", []core.Change{rate("c", 1), rate("c", 2.5)},
			pool(core.PoolSnapshot{Rates: ratesOf(rateOf("c", 2.5))})},
		{"rate removed", []core.Change{rate("c", 1), rate("d", 2), {Kind: core.RateRemoved, Pool: p, Client: "c"}},
			pool(core.PoolSnapshot{Rates: ratesOf(rateOf("d", 2))})},
		{"last rate removed drops the pool", []core.Change{rate("c", 1), {Kind: core.RateRemoved, Pool: p, Client: "c"}},
			core.Snapshot{}},
		{"removing an absent rate", []core.Change{{Kind: core.RateRemoved, Pool: p, Client: "c"}}, core.Snapshot{}},
		{"worker known", []core.Change{known("w")}, pool(core.PoolSnapshot{Workers: workersOf(kw("w", false))})},
		{"pause flips", []core.Change{known("w"), paused("w", true), paused("w", false), paused("w", true)},
			pool(core.PoolSnapshot{Workers: workersOf(kw("w", true))})},
		{"pause of an unknown worker makes it known", []core.Change{paused("w", true)},
			pool(core.PoolSnapshot{Workers: workersOf(kw("w", true))})},
		{"forgotten keeps the cache", []core.Change{known("w"), cached("h", "w", 1), {Kind: core.WorkerForgotten, Pool: p, Worker: "w"}},
			pool(core.PoolSnapshot{Cache: cacheOf(entry("h", "w", 1))})},
		{"forgotten then known is not paused",
			[]core.Change{known("w"), paused("w", true), {Kind: core.WorkerForgotten, Pool: p, Worker: "w"}, known("w")},
			pool(core.PoolSnapshot{Workers: workersOf(kw("w", false))})},
		{"pools apart, sorted bytewise", []core.Change{
			{Kind: core.WorkerKnown, Pool: "é", Worker: "w"}, {Kind: core.WorkerKnown, Pool: "b", Worker: "w"},
			{Kind: core.WorkerKnown, Pool: "B", Worker: "a"}, {Kind: core.WorkerKnown, Pool: "B", Worker: "Z"}},
			core.Snapshot{Pools: []core.PoolSnapshot{
				{Name: "B", Workers: workersOf(kw("Z", false), kw("a", false))},
				{Name: "b", Workers: workersOf(kw("w", false))},
				{Name: "é", Workers: workersOf(kw("w", false))},
			}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := openTemp(t)
			mustApply(t, s, tc.changes...)
			checkSnapshot(t, s, tc.want)
			var ref core.Snapshot
			for _, c := range tc.changes {
				ref.Apply(c)
			}
			if !reflect.DeepEqual(ref, tc.want) {
				t.Fatalf("core.Snapshot.Apply gives %+v, the test wants %+v", ref, tc.want)
			}
		})
	}
}

// TestWorkerKnownKeepsPause: a WorkerKnown for a known worker keeps its
// admin pause. The core never reports one (it reports WorkerKnown only for a
// worker it does not know); core.Snapshot.Apply would reset the pause.
func TestWorkerKnownKeepsPause(t *testing.T) {
	s := openTemp(t)
	mustApply(t, s,
		core.Change{Kind: core.WorkerKnown, Pool: "p", Worker: "w"},
		core.Change{Kind: core.WorkerPaused, Pool: "p", Worker: "w", Paused: true},
		core.Change{Kind: core.WorkerKnown, Pool: "p", Worker: "w"})
	checkSnapshot(t, s, core.Snapshot{Pools: []core.PoolSnapshot{{
		Name: "p", Workers: []core.KnownWorker{{Name: "w", Paused: true}},
	}}})
}

func TestApplyRollsBackFailedBatch(t *testing.T) {
	base := []core.Change{
		{Kind: core.WorkerKnown, Pool: "p", Worker: "w"},
		{Kind: core.RateSet, Pool: "p", Client: "c", Rate: 1},
	}
	want := core.Snapshot{Pools: []core.PoolSnapshot{{
		Name:    "p",
		Workers: []core.KnownWorker{{Name: "w"}},
		Rates:   []core.ClientRate{{Client: "c", Rate: 1}},
	}}}
	for _, tc := range []struct {
		name    string
		bad     core.Change
		wantErr []string
	}{
		{"unknown kind", core.Change{Kind: 42, Pool: "p"}, []string{"change 4 of 4", "unknown change kind 42"}},
		{"zero kind", core.Change{}, []string{"change 4 of 4", "unknown change kind 0"}},
		{"client added without AddClient", core.Change{Kind: core.ClientAdded, Client: "eve"},
			[]string{"change 4 of 4", `client-added "eve"`, "call AddClient"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := openTemp(t)
			mustApply(t, s, base...)
			batch := []core.Change{
				{Kind: core.WorkerPaused, Pool: "p", Worker: "w", Paused: true},
				{Kind: core.RateRemoved, Pool: "p", Client: "c"},
				{Kind: core.CacheAdded, Pool: "q", Hint: "h", Worker: "w", At: 1},
				tc.bad,
			}
			err := s.Apply(batch)
			if err == nil {
				t.Fatal("Apply succeeded")
			}
			for _, w := range tc.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			checkSnapshot(t, s, want)
		})
	}
}

// model generates changes as the core reports them: WorkerKnown only for a
// worker that is not known, WorkerPaused and WorkerForgotten only for a known
// one, ClientAdded only for a client that is not registered (after the
// store's AddClient), ClientRemoved only for a registered one and followed
// by RateRemoved for each of its rates. It keeps the expected snapshot of
// the changes given to the store, by core.Snapshot.Apply.
type model struct {
	rng    *rand.Rand
	want   core.Snapshot
	counts map[string]int // what was generated, to check the test covers it
	forgot map[[2]string]bool
}

var (
	modelPools   = []string{"linux-x86_64", "linux-arm64", "windows-x86_64", "ß-pool"}
	modelWorkers = []string{"w1", "w10", "w2", "W1", "X9", "wé", "日本"}
	modelHints   = []string{"", "img-a", "img-b", "img-c", "Img-a", "ïmg", "x/y:z", "h8"}
	modelClients = []string{"alice", "bob", "Bob", "zoë", "c-1", "c_1"}
)

func pick[T any](rng *rand.Rand, xs []T) T { return xs[rng.IntN(len(xs))] }

func (m *model) pool(name string) *core.PoolSnapshot {
	for i := range m.want.Pools {
		if m.want.Pools[i].Name == name {
			return &m.want.Pools[i]
		}
	}
	return nil
}

func (m *model) worker(pool, name string) (known, paused bool) {
	if p := m.pool(pool); p != nil {
		for _, w := range p.Workers {
			if w.Name == name {
				return true, w.Paused
			}
		}
	}
	return false, false
}

func (m *model) registered(id string) bool {
	for _, c := range m.want.Clients {
		if c == id {
			return true
		}
	}
	return false
}

// next returns the next changes, and the client that the store must add
// (AddClient) before they are applied, if any. The caller records them.
func (m *model) next(step int) (changes []core.Change, add string) {
	pool, worker, client := pick(m.rng, modelPools), pick(m.rng, modelWorkers), pick(m.rng, modelClients)
	var c core.Change
	switch r := m.rng.IntN(100); {
	case r < 30:
		c = core.Change{Kind: core.CacheAdded, Pool: pool, Hint: pick(m.rng, modelHints), Worker: worker,
			At: float64(step) + m.rng.Float64()}
	case r < 36:
		c = core.Change{Kind: core.CacheRemoved, Pool: pool, Hint: pick(m.rng, modelHints), Worker: worker}
	case r < 45:
		c = core.Change{Kind: core.RateSet, Pool: pool, Client: client, Rate: float64(1+m.rng.IntN(8)) / 2}
	case r < 52:
		c = core.Change{Kind: core.RateRemoved, Pool: pool, Client: client}
	case r < 90:
		switch known, paused := m.worker(pool, worker); {
		case !known:
			c = core.Change{Kind: core.WorkerKnown, Pool: pool, Worker: worker}
			if m.forgot[[2]string{pool, worker}] {
				m.counts["known again"]++
			}
		case m.rng.IntN(3) == 0:
			c = core.Change{Kind: core.WorkerForgotten, Pool: pool, Worker: worker}
			m.forgot[[2]string{pool, worker}] = true
		default:
			c = core.Change{Kind: core.WorkerPaused, Pool: pool, Worker: worker, Paused: !paused}
		}
	default:
		if !m.registered(client) {
			c, add = core.Change{Kind: core.ClientAdded, Client: client}, client
			break
		}
		changes = append(changes, core.Change{Kind: core.ClientRemoved, Client: client})
		for _, p := range m.want.Pools {
			for _, r := range p.Rates {
				if r.Client == client {
					changes = append(changes, core.Change{Kind: core.RateRemoved, Pool: p.Name, Client: client})
					m.counts["rate removed with client"]++
				}
			}
		}
	}
	if c.Kind != 0 {
		changes = append(changes, c)
	}
	return changes, add
}

// record adds changes that the store was given to the expected snapshot.
func (m *model) record(changes []core.Change) {
	for _, c := range changes {
		m.want.Apply(c)
		m.counts[c.Kind.String()]++
	}
}

func TestApplyMatchesSnapshotApply(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { s.Close() }()
	m := &model{rng: rand.New(rand.NewPCG(2024, 7)), counts: map[string]int{}, forgot: map[[2]string]bool{}}
	const steps = 6000
	var batch []core.Change
	batches := 0
	commit := func() {
		t.Helper()
		if err := s.Apply(batch); err != nil {
			t.Fatalf("batch %d: %v", batches, err)
		}
		batch = batch[:0]
		batches++
		if batches%50 == 0 {
			checkSnapshot(t, s, m.want)
		}
	}
	secrets := 0
	for step := range steps {
		changes, add := m.next(step)
		if add != "" {
			// The scheduler's flow: the store has the client before the
			// core reports it.
			commit()
			secrets++
			if err := s.AddClient(add, hashOf(fmt.Sprint(add, secrets))); err != nil {
				t.Fatalf("step %d: %v", step, err)
			}
		}
		batch = append(batch, changes...)
		m.record(changes)
		if m.rng.IntN(25) == 0 {
			commit()
		}
	}
	commit()
	checkSnapshot(t, s, m.want)

	for what, least := range map[string]int{
		"cache-added": 1000, "rate-set": 500, "rate-removed": 200, "worker-known": 200,
		"worker-paused": 500, "worker-forgotten": 100, "known again": 50,
		"client-added": 50, "client-removed": 50, "rate removed with client": 20,
	} {
		if m.counts[what] < least {
			t.Errorf("the sequence has %d %s, want at least %d", m.counts[what], what, least)
		}
	}
	if n := len(m.want.Pools); n != len(modelPools) {
		t.Errorf("the final state has %d pools, want all %d", n, len(modelPools))
	}
	t.Logf("%d batches: %v", batches, m.counts)

	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = Open(path)
	if err != nil {
		t.Fatal(err)
	}
	checkSnapshot(t, s, m.want)
}

// TestRestoreCore stores what a real scheduler reports and rebuilds one
// from it.
func TestRestoreCore(t *testing.T) {
	now := 1.0
	cfg := core.Config{Pools: []string{"x86_64", "arm64"}, Clock: func() float64 { return now }}
	sched, err := core.New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	s := openTemp(t)
	check := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range []string{"alice", "bob", "carol"} {
		check(s.AddClient(id, hashOf(id)))
		check(sched.AddClient(id))
	}
	x86, err := sched.Pool("x86_64")
	check(err)
	arm, err := sched.Pool("arm64")
	check(err)
	check(x86.SetRate("alice", 2))
	check(x86.SetRate("bob", 3))
	check(arm.SetRate("bob", 4))
	w1, err := x86.Register("w1", 2)
	check(err)
	check(w1.SetActive(true))
	now = 5
	_, err = x86.Submit("alice", core.Job{Label: "build", Hint: "img-a"}, false)
	check(err)
	ticket, err := w1.Pop()
	check(err)
	if ticket == nil {
		t.Fatal("the worker got no job")
	}
	_, err = x86.Submit("alice", core.Job{Label: "pruned", Hint: "img-b"}, false)
	check(err)
	if ticket, err := w1.Pop(); err != nil || ticket == nil {
		t.Fatalf("the worker got no second job: %v", err)
	}
	if w1.Pruned([]string{"img-b"}) != 1 {
		t.Fatal("the index did not forget the pruned hint")
	}
	check(x86.SetAdminPause("w1", true, false))
	w1.Release()
	check(x86.SetAdminPause("w2", true, true))
	check(arm.SetAdminPause("a1", true, true))
	check(arm.Forget("a1"))
	check(sched.RemoveClient("bob"))

	changes := sched.Ready().Changes
	kinds := map[core.ChangeKind]bool{}
	for _, c := range changes {
		kinds[c.Kind] = true
	}
	for k := core.CacheAdded; k <= core.CacheRemoved; k++ {
		if !kinds[k] {
			t.Errorf("the scheduler reported no %s change", k)
		}
	}
	mustApply(t, s, changes...)
	want := sched.Snapshot()
	checkSnapshot(t, s, want)

	snap := mustSnapshot(t, s)
	restored, err := core.New(cfg, &snap)
	check(err)
	if got := restored.Snapshot(); !reflect.DeepEqual(got, want) {
		t.Fatalf("restored scheduler:\n got %+v\nwant %+v", got, want)
	}
}
