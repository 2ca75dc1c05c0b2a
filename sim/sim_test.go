package sim

import (
	"bytes"
	"encoding/json"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ocluster-go/ocluster/trace"
)

func mustOpen(t *testing.T, name string) *Scenario {
	t.Helper()
	sc, err := Open(name)
	if err != nil {
		t.Fatal(err)
	}
	return sc
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestSameSeedSameResult(t *testing.T) {
	for _, name := range Builtins() {
		t.Run(name, func(t *testing.T) {
			a, err := Run(mustOpen(t, name), Options{Seed: 7})
			if err != nil {
				t.Fatal(err)
			}
			b, err := Run(mustOpen(t, name), Options{Seed: 7})
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(mustJSON(t, a), mustJSON(t, b)) {
				t.Fatal("two runs with the same seed differ")
			}
			c, err := Run(mustOpen(t, name), Options{Seed: 8})
			if err != nil {
				t.Fatal(err)
			}
			if bytes.Equal(mustJSON(t, a), mustJSON(t, c)) && name != "ocluster-stress" {
				t.Fatal("two seeds gave the same run")
			}
		})
	}
}

func TestInvariantsHoldAfterEveryEvent(t *testing.T) {
	for _, name := range Builtins() {
		t.Run(name, func(t *testing.T) {
			sc := mustOpen(t, name)
			if name == "ocluster-stress" {
				// Checking costs O(state) per event: the first hours
				// exercise every client without taking minutes.
				sc.Duration = 3 * 3600
				sc.Drain = 1
			}
			if _, err := Run(sc, Options{Seed: 3, Check: true}); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// The simulator acts on everything the core asks of it, as a production
// driver must: at the end of a run nothing is left undone, and the
// durable changes it has no store for do not pile up in the core.
func TestNothingLeftForTheDriver(t *testing.T) {
	for _, policy := range []string{"ocluster", "combined"} {
		t.Run(policy, func(t *testing.T) {
			s, err := newSimulation(mustOpen(t, "failures"), Options{Policy: policy, Seed: 1}, nil)
			require.NoError(t, err)
			require.NoError(t, s.loop())
			assert.True(t, s.sched.Ready().Empty(), "left in the core: %+v", s.sched.Ready())
		})
	}
}

// A run recorded as a trace and replayed under the same policy measures
// the same. Hangs are left out of the scenarios: a scheduler cannot see a
// worker hang, so no trace records one and a replay cannot repeat it.
func TestTraceRoundTrip(t *testing.T) {
	for _, name := range Builtins() {
		t.Run(name, func(t *testing.T) {
			sc := mustOpen(t, name)
			for pi := range sc.Pools {
				for wi := range sc.Pools[pi].Workers {
					w := &sc.Pools[pi].Workers[wi]
					w.Events = slices.DeleteFunc(w.Events, func(e WorkerEvent) bool { return e.Kind == "hang" })
				}
			}
			orig, h, events := recordRun(t, sc, "combined", 5)
			replayed, err := Replay(h, events, ReplayOptions{Options: Options{Check: name != "ocluster-stress" && !testing.Short()}})
			if err != nil {
				t.Fatal(err)
			}
			orig.Events, replayed.Events = 0, 0
			orig.Seed, replayed.Seed = 0, 0
			a, b := mustJSON(t, orig), mustJSON(t, replayed)
			if !bytes.Equal(a, b) {
				t.Fatalf("replay differs from the recorded run:\n%s\n%s", firstDiff(a, b), "")
			}
		})
	}
}

// recordRun runs sc under the policy with its trace recorded, and returns
// the result and the trace read back.
func recordRun(t *testing.T, sc *Scenario, policy string, seed uint64) (*Result, trace.Header, []trace.Event) {
	t.Helper()
	var buf bytes.Buffer
	w, err := trace.NewWriter(&buf, TraceHeader(sc, policy, seed))
	if err != nil {
		t.Fatal(err)
	}
	res, err := Run(sc, Options{Policy: policy, Seed: seed, Trace: w})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	h, events, err := trace.ReadAll(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	return res, h, events
}

func firstDiff(a, b []byte) string {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			lo := max(0, i-120)
			return "recorded: ..." + string(a[lo:min(len(a), i+80)]) + "\nreplayed: ..." + string(b[lo:min(len(b), i+80)])
		}
	}
	return "lengths differ"
}

// CompareSeeds and CompareTraces put each run where Compare expects it
// (Runs[policy][sample]) and count every run in their progress.
func TestCompareSeedsAndTraces(t *testing.T) {
	sc := mustOpen(t, "small")
	policies := []Variant{{Spec: "ocluster", Policy: "ocluster"}, {Spec: "combined", Policy: "combined"}}
	var calls, total int
	c, err := CompareSeeds(sc, policies, []uint64{3, 4}, CompareOptions{Parallel: 2, Progress: func(done, n int) { calls, total = done, n }})
	require.NoError(t, err)
	assert.Equal(t, []string{"3", "4"}, c.Samples)
	assert.Equal(t, []string{"ocluster", "combined"}, c.Policies)
	assert.Equal(t, 4, calls)
	assert.Equal(t, 4, total)
	want, err := Run(sc, Options{Policy: "combined", Seed: 4})
	require.NoError(t, err)
	assert.Equal(t, mustJSON(t, want), mustJSON(t, c.Runs[1][1]))

	_, h, events := recordRun(t, sc, "combined", 4)
	c, err = CompareTraces([]TraceSample{{Name: "a", Header: h, Events: events}}, policies, 1, CompareOptions{})
	require.NoError(t, err)
	assert.Equal(t, []string{"a"}, c.Samples)
	assert.Equal(t, "small", c.Scenario)
	want, err = Replay(h, events, ReplayOptions{Options: Options{Policy: "ocluster"}})
	require.NoError(t, err)
	assert.Equal(t, mustJSON(t, want), mustJSON(t, c.Runs[0][0]))
}
