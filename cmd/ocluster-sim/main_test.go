package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/ocluster-go/ocluster/core"
	"github.com/ocluster-go/ocluster/sim"
)

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "ocluster-sim-test")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "ocluster-sim")
	if out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput(); err != nil {
		panic(string(out))
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// run executes the command and returns its stdout, stderr and exit code.
func run(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return stdout.String(), stderr.String(), code
}

func TestDefaultComparisonPrintsTables(t *testing.T) {
	out, errOut, code := run(t)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{"ocluster-stress · 10 samples · baseline ocluster", "hot-hint · 10 samples", "wait p95", "cache hit rate", "jain",
		"metric           ocluster", "combined - ocluster", "\njain            Jain's fairness index"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	// A terminal of 100 columns shows it whole, and the legend comes once.
	for line := range strings.Lines(out) {
		if n := utf8.RuneCountInString(strings.TrimSuffix(line, "\n")); n > 100 {
			t.Errorf("line of %d columns: %s", n, line)
		}
	}
	if n := strings.Count(out, "Jain's fairness index"); n != 1 {
		t.Errorf("legend printed %d times", n)
	}
}

func TestRunIsReproducibleAcrossProcesses(t *testing.T) {
	a, _, code := run(t, "run", "--scenario", "failures", "--seed", "4", "--format", "json")
	b, _, _ := run(t, "run", "--scenario", "failures", "--seed", "4", "--format", "json")
	if code != 0 || a != b {
		t.Fatalf("two runs of one seed differ (exit %d)", code)
	}
	var r sim.Result
	if err := json.Unmarshal([]byte(a), &r); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{`"jobs"`, `"wait_p50_s"`, `"wait_p95_s"`, `"wait_p99_s"`, `"makespan_s"`, `"utilisation"`, `"cache_hit_rate"`, `"jain"`, `"clients"`} {
		if !strings.Contains(a, key) {
			t.Errorf("JSON lacks %s", key)
		}
	}
	if r.Scenario != "failures" || r.Jobs == 0 || len(r.Clients) != 2 {
		t.Fatalf("result: %+v", r.Stats)
	}
	csv, _, _ := run(t, "run", "--scenario", "small", "--format", "csv")
	if lines := strings.Count(csv, "\n"); !strings.HasPrefix(csv, "scenario,policy,seed,scope") || lines != 1+3*(1+1+2) {
		t.Fatalf("CSV has %d lines:\n%s", lines, csv)
	}
}

func TestBadInputExitsTwoWithAClearMessage(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"run", "--scenario", "nope"}, `"nope" is neither a built-in scenario`},
		{[]string{"run", "--format", "xml"}, `--format "xml": want text, json or csv`},
		{[]string{"run", "--policy", "magic"}, `--policy: unknown policy "magic": choose one of ocluster, combined,`},
		{[]string{"replay", "--policy", "magic"}, `--policy: unknown policy "magic": choose one of`},
		{[]string{"script", "--policy", "magic", "x.scn"}, `--policy: unknown policy "magic": choose one of`},
		{[]string{"compare", "--policies", "ocluster,magic"}, `--policies: unknown policy "magic": choose one of`},
		{[]string{"compare", "--policies", "ocluster,magic+lease=0s"}, `--policies: magic+lease=0s: unknown policy "magic": choose one of`},
		{[]string{"replay"}, "give exactly one of --trace FILE or --swf FILE"},
		{[]string{"fit"}, "give exactly one of --trace FILE or --swf FILE"},
		{[]string{"fit", "--trace", "../../trace/testdata/sample.swf"}, "for a Standard Workload Format log, use --swf FILE"},
		{[]string{"sweep", "--set", "pools[0].workers[0].capacity=1"}, "--out FILE is required"},
		{[]string{"sweep", "--shard", "4/3", "--out", "/dev/null"}, "want i/n with 1 <= i <= n"},
		{[]string{"sweep", "--shard", "env", "--out", "/dev/null"}, "--shard env: SHARD_COUNT is not set"},
		{[]string{"merge", "."}, ". holds no .jsonl files"},
		{[]string{"scenarios", "nope"}, `no built-in scenario "nope"`},
	} {
		_, errOut, code := run(t, c.args...)
		if code != 2 || !strings.Contains(errOut, c.want) {
			t.Errorf("%v: exit %d, stderr %q; want 2 and %q", c.args, code, errOut, c.want)
		}
	}
}

func TestScriptExitCodes(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.scn")
	bad := filepath.Join(dir, "bad.scn")
	broken := filepath.Join(dir, "broken.scn")
	os.WriteFile(good, []byte("pool p\nforget w\n> unknown worker\n"), 0o644)
	os.WriteFile(bad, []byte("pool p\nforget w\n> ok\n"), 0o644)
	os.WriteFile(broken, []byte("pool p\nfly away\n"), 0o644)
	if _, errOut, code := run(t, "script", good); code != 0 {
		t.Fatalf("matching script: exit %d %s", code, errOut)
	}
	out, _, code := run(t, "script", good, bad)
	if code != 1 || !strings.Contains(out, "-> ok") || !strings.Contains(out, "+> unknown worker") {
		t.Fatalf("differing script: exit %d, diff:\n%s", code, out)
	}
	if _, errOut, code := run(t, "script", broken); code != 2 || !strings.Contains(errOut, `line 2: unknown command "fly"`) {
		t.Fatalf("broken script: exit %d, %s", code, errOut)
	}
	out, _, code = run(t, "script", "--print", bad)
	if code != 0 || out != "pool p\nforget w\n> unknown worker\n" {
		t.Fatalf("--print: exit %d:\n%s", code, out)
	}
}

func TestReplayOfTheSampleTraces(t *testing.T) {
	out, errOut, code := run(t, "replay", "--trace", "../../trace/testdata/small.jsonl", "--format", "json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	// The sample was recorded from `run --scenario small --seed 1`: replaying
	// it under the same policy gives the same numbers.
	orig, _, _ := run(t, "run", "--scenario", "small", "--seed", "1", "--format", "json")
	var a, b sim.Result
	json.Unmarshal([]byte(out), &a)
	json.Unmarshal([]byte(orig), &b)
	if a.Stats != b.Stats || a.Jain != b.Jain || a.Utilisation != b.Utilisation {
		t.Fatalf("replay %+v\nrun    %+v", a.Stats, b.Stats)
	}
	out, errOut, code = run(t, "replay", "--swf", "../../trace/testdata/sample.swf")
	if code != 0 || !strings.Contains(out, "policy "+core.DefaultPolicy) {
		t.Fatalf("swf replay: exit %d %s\n%s", code, errOut, out)
	}
}

// TestFitOfARecordedTrace fits the sample trace, whose run of the small
// scenario the project recorded, and runs what it wrote.
func TestFitOfARecordedTrace(t *testing.T) {
	dir := t.TempDir()
	yaml := filepath.Join(dir, "fit.yaml")
	_, errOut, code := run(t, "fit", "--trace", "../../trace/testdata/small.jsonl", "--out", yaml, "--html", filepath.Join(dir, "html"))
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{"fitted small-fit (pools: 1)", "arrivals: poisson", "run time (speed 1): ", ", KS 0."} {
		if !strings.Contains(errOut, want) {
			t.Errorf("report lacks %q:\n%s", want, errOut)
		}
	}
	for _, f := range []string{"html/fit.html", "html/scenario.yaml"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Error(err)
		}
	}
	if out, errOut, code := run(t, "run", "--scenario", yaml); code != 0 || !strings.Contains(out, "small-fit") {
		t.Fatalf("running the fitted scenario: exit %d %s\n%s", code, errOut, out)
	}
}

func TestSweepShardsMerge(t *testing.T) {
	dir := t.TempDir()
	args := []string{"sweep", "--scenario", "small", "--set", "pools[0].workers[worker].capacity=1,2", "--seeds", "2"}
	for i := 1; i <= 3; i++ {
		shard := filepath.Join(dir, "shard"+strconv.Itoa(i)+".jsonl")
		if _, errOut, code := run(t, append(args, "--shard", strconv.Itoa(i)+"/3", "--out", shard)...); code != 0 {
			t.Fatalf("shard %d: %s", i, errOut)
		}
	}
	out, errOut, code := run(t, "merge", filepath.Join(dir, "shard1.jsonl"), filepath.Join(dir, "shard2.jsonl"), filepath.Join(dir, "shard3.jsonl"))
	if code != 0 || !strings.Contains(out, "capacity=1") || !strings.Contains(out, "capacity=2") {
		t.Fatalf("merge: exit %d %s\n%s", code, errOut, out)
	}
	if _, errOut, code := run(t, "merge", filepath.Join(dir, "shard1.jsonl")); code != 2 || !strings.Contains(errOut, "missing") {
		t.Fatalf("merge of one shard: exit %d %s", code, errOut)
	}
	// A folder stands for its .jsonl files, as a Kubernetes merge Job passes the shared volume.
	if dirOut, errOut, code := run(t, "merge", dir); code != 0 || dirOut != out {
		t.Fatalf("merge of the folder: exit %d %s\n%s\nwant\n%s", code, errOut, dirOut, out)
	}
}

func TestPoliciesAndScenariosListings(t *testing.T) {
	out, _, _ := run(t, "policies")
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		name, desc, ok := strings.Cut(line, "\t")
		if !ok || name == "" || desc == "" {
			t.Errorf("policy line %q is not NAME<tab>DESCRIPTION", line)
		}
	}
	out, _, _ = run(t, "scenarios")
	for _, want := range []string{"ocluster-stress", "small", "failures", "hot-hint"} {
		if !strings.Contains(out, want+"\t") {
			t.Errorf("scenarios lacks %s:\n%s", want, out)
		}
	}
	out, _, _ = run(t, "scenarios", "small")
	if !strings.HasPrefix(out, "name: small") {
		t.Errorf("scenarios small printed:\n%s", out)
	}
}

// compare takes variants of policies, to measure one setting at a time,
// and names what is wrong with a bad one.
func TestCompareVariants(t *testing.T) {
	out, errOut, code := run(t, "compare", "--scenario", "small", "--seeds", "2", "--policies", "combined,combined+max-attempts=1+steal=false")
	if code != 0 || !strings.Contains(out, "combined         combined+max-attempts=1+steal=false  difference") {
		t.Fatalf("exit %d: %s\n%s", code, errOut, out)
	}
	_, errOut, code = run(t, "compare", "--scenario", "small", "--policies", "combined+lease")
	if code != 2 || !strings.Contains(errOut, "want SETTING=VALUE") {
		t.Fatalf("a bad variant: exit %d: %s", code, errOut)
	}
}

// plan answers with the smallest fleet, says so in JSON too, writes its
// plot, exits 1 when no size up to --max meets the targets, and names
// what is wrong with a bad target or --vary.
func TestPlan(t *testing.T) {
	dir := t.TempDir()
	args := []string{"plan", "--scenario", "small", "--target", "wait_p95<5m", "--seeds", "2", "--max", "16"}
	out, errOut, code := run(t, append(args, "--out", dir)...)
	if code != 0 || !strings.Contains(out, "answer: ") || !strings.Contains(out, "deciding: wait p95 < 5m00s") {
		t.Fatalf("exit %d: %s\n%s", code, errOut, out)
	}
	for _, name := range []string{"plan.html", "plan.json"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Error(err)
		}
	}
	js, _, _ := run(t, append(args, "--format", "json")...)
	if !strings.Contains(js, `"op": "<"`) {
		t.Errorf("the JSON plan escapes the '<' of its target:\n%s", js)
	}
	var p sim.FleetPlan
	if err := json.Unmarshal([]byte(js), &p); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "answer: "+strconv.Itoa(p.Answer)+" ") || p.AtAnswer == nil || p.BelowAnswer == nil || p.AtAnswer.N != 2 {
		t.Fatalf("JSON plan %+v does not match the text:\n%s", p, out)
	}
	out, errOut, code = run(t, "plan", "--scenario", "small", "--target", "wait_p95<5m", "--seeds", "1", "--max", "2")
	if code != 1 || !strings.Contains(out, "no size up to 2 meets every target") || !strings.Contains(errOut, "no size up to --max 2") {
		t.Fatalf("unreachable target: exit %d: %s\n%s", code, errOut, out)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"plan"}, "give at least one --target"},
		{[]string{"plan", "--target", "wait_p96<5m"}, `unknown metric "wait_p96": did you mean "wait_p95"? (known: wait_mean_s`},
		{[]string{"plan", "--target", "wait_p95=5m"}, "want METRIC<VALUE or METRIC>VALUE"},
		{[]string{"plan", "--target", "wait_p95<5m", "--vary", "slots"}, "--vary \"slots\": want workers, capacity"},
		{[]string{"plan", "--target", "wait_p95<5m", "--format", "csv"}, "want text or json"},
	} {
		_, errOut, code := run(t, c.args...)
		if code != 2 || !strings.Contains(errOut, c.want) {
			t.Errorf("%v: exit %d, stderr %q; want 2 and %q", c.args, code, errOut, c.want)
		}
	}
}
