package e2e

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ocluster-go/ocluster/runners/docker/dockertest"
)

// A short `ocluster-stress all` run scraped by a real Prometheus: every
// query of every Prometheus panel of the provisioned dashboards returns
// data, and so does every dashboard variable.
func TestDashboardsQueryLiveMetrics(t *testing.T) {
	promBin, err := exec.LookPath("prometheus")
	if err != nil {
		msg := "no prometheus binary (apt-get install prometheus)"
		if os.Getenv(dockertest.RequireEnv) != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	dir := t.TempDir()
	metricsPort, promPort := freePort(t), freePort(t)
	// The testbed's own configuration (its job names are in the panels'
	// queries), pointed at this run and scraping every second.
	cfg, err := os.ReadFile("../../stress/prometheus/prometheus.yml")
	if err != nil {
		t.Fatal(err)
	}
	cfg = regexp.MustCompile(`(?m)^(\s*)(scrape_interval|evaluation_interval|scrape_timeout): 5s$`).ReplaceAll(cfg, []byte("${1}${2}: 1s"))
	cfg = []byte(strings.ReplaceAll(string(cfg), "scheduler:9090", fmt.Sprintf("127.0.0.1:%d", metricsPort)))
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), cfg, 0o644); err != nil {
		t.Fatal(err)
	}
	prom := exec.Command(promBin, "--config.file="+filepath.Join(dir, "prometheus.yml"),
		"--storage.tsdb.path="+filepath.Join(dir, "data"), fmt.Sprintf("--web.listen-address=127.0.0.1:%d", promPort))
	promLog, err := os.Create(filepath.Join(dir, "prometheus.log"))
	if err != nil {
		t.Fatal(err)
	}
	prom.Stdout, prom.Stderr = promLog, promLog
	if err := prom.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { prom.Process.Kill(); prom.Wait(); promLog.Close() })
	api := fmt.Sprintf("http://127.0.0.1:%d/api/v1/", promPort)

	// Two hours of the small scenario at 400x: some 18 s.
	from := time.Now()
	stress := start(t, dir, "ocluster-stress", "all", "--scenario", "small", "--speed", "400",
		"--listen-prometheus", strconv.Itoa(metricsPort), "--summary-every", "2s", "--out", "run")
	if code := stress.wait(); code != 0 {
		t.Fatalf("ocluster-stress all: exit %d\n%s", code, stress.output())
	}
	to := time.Now()
	checkLiveRun(t, dir, stress.output())

	files, err := filepath.Glob("../../stress/grafana/dashboards/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no dashboards (%v)", err)
	}
	queries := 0
	for _, file := range files {
		var d dashboard
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(data, &d); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		for _, v := range d.Templating.List {
			if v.Datasource.Type != "prometheus" {
				continue
			}
			m := labelValues.FindStringSubmatch(v.Definition)
			if m == nil {
				t.Errorf("%s: variable %s: %q is not label_values(SELECTOR, LABEL)", file, v.Name, v.Definition)
				continue
			}
			var values []string
			promGet(t, api+"label/"+m[2]+"/values?"+url.Values{"match[]": {expand(m[1])}}.Encode(), &values)
			if len(values) == 0 {
				t.Errorf("%s: variable %s has no values", file, v.Name)
			}
			queries++
		}
		for _, p := range d.Panels {
			for _, target := range p.Targets {
				if p.Datasource.Type != "prometheus" {
					continue
				}
				if !hasData(t, api, expand(target.Expr), from, to) {
					t.Errorf("%s: panel %q: query %s returned no data", file, p.Title, target.Expr)
				}
				queries++
			}
		}
	}
	if queries < 10 {
		t.Fatalf("only %d queries checked", queries)
	}
}

type dashboard struct {
	Templating struct {
		List []struct {
			Name       string
			Definition string
			Datasource struct{ Type string }
		}
	}
	Panels []struct {
		Title      string
		Datasource struct{ Type string }
		Targets    []struct{ Expr string }
	}
}

var labelValues = regexp.MustCompile(`^label_values\((.+),\s*(\w+)\)$`)

// expand gives the dashboards' variables what Grafana would: every pool
// and client, and a rate interval of a few scrapes.
func expand(expr string) string {
	return strings.NewReplacer(`"$pool"`, `".*"`, `"$client"`, `".*"`, "$__rate_interval", "10s").Replace(expr)
}

// hasData evaluates expr over the run, every second, and says whether any
// instant gave a number.
func hasData(t *testing.T, api, expr string, from, to time.Time) bool {
	var res struct {
		Result []struct {
			Values [][2]any `json:"values"`
		} `json:"result"`
	}
	q := url.Values{"query": {expr}, "start": {strconv.FormatInt(from.Unix(), 10)}, "end": {strconv.FormatInt(to.Unix()+1, 10)}, "step": {"1"}}
	promGet(t, api+"query_range?"+q.Encode(), &res)
	for _, series := range res.Result {
		for _, v := range series.Values {
			s, _ := v[1].(string)
			if x, err := strconv.ParseFloat(s, 64); err == nil && !math.IsNaN(x) && !math.IsInf(x, 0) {
				return true
			}
		}
	}
	return false
}

// promGet calls Prometheus's API, waiting for it to come up.
func promGet(t *testing.T, u string, data any) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(u)
		if err == nil {
			var body struct {
				Status string          `json:"status"`
				Error  string          `json:"error"`
				Data   json.RawMessage `json:"data"`
			}
			err = json.NewDecoder(resp.Body).Decode(&body)
			resp.Body.Close()
			if err == nil && body.Status != "success" {
				t.Fatalf("%s: %s", u, body.Error)
			}
			if err == nil {
				if err := json.Unmarshal(body.Data, data); err != nil {
					t.Fatal(err)
				}
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("Prometheus does not answer: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// checkLiveRun checks what `all --out run` wrote: the simulated and the
// live results of the same jobs, which `compare` puts side by side.
func checkLiveRun(t *testing.T, dir, output string) {
	t.Helper()
	if !regexp.MustCompile(`queued \d+, running \d+, done \d+ of \d+, wait p95 [0-9hms.]+, cache hits [0-9.]+%, utilisation [0-9.]+%`).MatchString(output) {
		t.Errorf("no summary line in:\n%s", output)
	}
	jobs := map[string]int{}
	for _, side := range []string{"sim", "live"} {
		var r struct {
			Jobs, Finished int
		}
		data, err := os.ReadFile(filepath.Join(dir, "run", side, "result.json"))
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(data, &r); err != nil {
			t.Fatal(err)
		}
		if r.Jobs == 0 || r.Finished != r.Jobs {
			t.Errorf("%s: %d jobs, %d finished", side, r.Jobs, r.Finished)
		}
		jobs[side] = r.Jobs
	}
	if jobs["sim"] != jobs["live"] {
		t.Errorf("the simulation had %d jobs, the live run %d", jobs["sim"], jobs["live"])
	}
	out, code := run(t, dir, "ocluster-stress", "compare", "run/sim/result.json", "run/live/result.json")
	if code != 0 || !regexp.MustCompile(`(?m)^\s+wait p95\s`).MatchString(out) || !strings.Contains(out, "run/live/result.json") {
		t.Errorf("compare: exit %d\n%s", code, out)
	}
}
