package sim

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/ocluster-go/ocluster/trace"
)

func TestApplySetsPathsByIndexAndName(t *testing.T) {
	src, _ := BuiltinSource("ocluster-stress")
	sc, err := Apply("ocluster-stress", src, []Setting{
		{"pools[linux-x86_64].workers[build5].capacity", "7"},
		{"pools[0].clients[health].rate", "2.5"},
		{"pools.0.workers.0.cache", "100"},
		{"duration", "2h"},
	})
	if err != nil {
		t.Fatal(err)
	}
	p := sc.Pools[0]
	if p.Workers[4].Capacity != 7 || p.Clients[1].Rate != 2.5 || p.Workers[0].Cache != 100 || sc.Duration != 7200 {
		t.Fatalf("settings not applied: %+v %+v %v", p.Workers, p.Clients[1].Rate, sc.Duration)
	}
	for _, c := range []struct{ path, value, want string }{
		{"pools[nope].workers[0].capacity", "1", `no element named "nope"`},
		{"pools[0].workers[9].capacity", "1", "index 9 out of range"},
		{"pools[0].workers[0].capacity", "-3", "capacity: must be from 1 to"},
		{"pools[0].workers", "1", "pools[0].workers"},
	} {
		if _, err := Apply("s", src, []Setting{{c.path, c.value}}); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s=%s: got %v, want %q", c.path, c.value, err, c.want)
		}
	}
}

func TestShardsCoverEveryItemOnce(t *testing.T) {
	plan := &SweepPlan{Scenario: "small", Params: []Param{{"a", []string{"1", "2", "3"}}, {"b", []string{"x", "y"}}},
		Policies: []string{"p", "q"}, Seeds: []uint64{1, 2}}
	if plan.Items() != 24 {
		t.Fatalf("items = %d", plan.Items())
	}
	seen := map[int]int{}
	for i := 1; i <= 5; i++ {
		for k := range plan.Items() {
			if (Shard{i, 5}).Owns(k) {
				seen[k]++
			}
		}
	}
	for k := range plan.Items() {
		if seen[k] != 1 {
			t.Fatalf("item %d is in %d shards", k, seen[k])
		}
	}
	if combo, policy, seed := plan.Item(23); combo != 5 || policy != "q" || seed != 2 {
		t.Fatalf("item 23 = %d %s %d", combo, policy, seed)
	}
	for _, bad := range []string{"0/3", "4/3", "1/0", "x/2", "3"} {
		if _, err := ParseShard(bad); err == nil {
			t.Errorf("shard %q accepted", bad)
		}
	}
}

func TestMergeChecksCompletenessAndAggregates(t *testing.T) {
	src, _ := BuiltinSource("small")
	plan := &SweepPlan{Scenario: "small", Params: []Param{{"pools[0].workers[0].capacity", []string{"1", "3"}}},
		Policies: []string{"ocluster"}, Seeds: []uint64{1, 2, 3}}
	shards := []bytes.Buffer{{}, {}}
	for k := range plan.Items() {
		combo, policy, seed := plan.Item(k)
		sc, err := Apply("small", src, Grid(plan.Params)[combo])
		if err != nil {
			t.Fatal(err)
		}
		r, err := Run(sc, Options{Policy: policy, Seed: seed})
		if err != nil {
			t.Fatal(err)
		}
		json.NewEncoder(&shards[k%2]).Encode(plan.Record(k, r))
	}
	rows, err := Merge([]io.Reader{bytes.NewReader(shards[0].Bytes()), bytes.NewReader(shards[1].Bytes())})
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 || rows[0].Metrics["wait_p95_s"].N != 3 {
		t.Fatalf("rows: %+v", rows)
	}
	// One slot per worker makes waits longer than three.
	if !(rows[0].Metrics["wait_p95_s"].Mean > rows[1].Metrics["wait_p95_s"].Mean) {
		t.Fatalf("capacity 1 waits %v, capacity 3 waits %v", rows[0].Metrics["wait_p95_s"].Mean, rows[1].Metrics["wait_p95_s"].Mean)
	}
	if _, err := Merge([]io.Reader{bytes.NewReader(shards[0].Bytes())}); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Fatalf("a missing shard: %v", err)
	}
	if _, err := Merge([]io.Reader{bytes.NewReader(shards[0].Bytes()), bytes.NewReader(shards[0].Bytes()), bytes.NewReader(shards[1].Bytes())}); err == nil || !strings.Contains(err.Error(), "twice") {
		t.Fatalf("a shard merged twice: %v", err)
	}
	other := *plan
	other.Seeds = []uint64{9}
	foreign, _ := json.Marshal(SweepRecord{Sweep: other.Fingerprint(), Item: 0, Items: 2})
	if _, err := Merge([]io.Reader{bytes.NewReader(shards[0].Bytes()), bytes.NewReader(foreign)}); err == nil || !strings.Contains(err.Error(), "another sweep") {
		t.Fatalf("a foreign record: %v", err)
	}
}

func TestReplayOfAnSWFLog(t *testing.T) {
	f, err := os.Open("../trace/testdata/sample.swf")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h, events, stats, err := trace.ReadSWF(f, trace.SWFOptions{})
	if err != nil {
		t.Fatal(err)
	}
	r, err := Replay(h, events, ReplayOptions{Options: Options{Check: true}})
	if err != nil {
		t.Fatal(err)
	}
	if r.Jobs != stats.Jobs {
		t.Fatalf("replayed %d jobs, the log had %d", r.Jobs, stats.Jobs)
	}
	if r.Finished == 0 || r.Finished+r.Cancelled+r.Failed+r.Unfinished != r.Jobs {
		t.Fatalf("outcomes do not add up: %+v", r.Stats)
	}
}
