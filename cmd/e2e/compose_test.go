package e2e

import (
	"bufio"
	"context"
	"debug/elf"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/client"
	"go.yaml.in/yaml/v3"

	"github.com/ocluster-go/ocluster/runners/docker/dockertest"
)

// The testbed of docker-compose.yml: its configuration as the compose tool
// reads it, and its own services (scheduler, workers) running for real in
// containers, managed from the host through the capability files they
// write. Prometheus and Grafana are left out of the run: their images come
// from a registry.

// composeTool finds `docker compose` (v2) or `docker-compose` (v1), or
// skips the test (fails it when OCLUSTER_REQUIRE_DOCKER is set).
func composeTool(t *testing.T) []string {
	t.Helper()
	if exec.Command("docker", "compose", "version").Run() == nil {
		return []string{"docker", "compose"}
	}
	if p, err := exec.LookPath("docker-compose"); err == nil {
		return []string{p}
	}
	msg := "neither `docker compose` nor `docker-compose` is installed (apt-get install docker-compose)"
	if os.Getenv(dockertest.RequireEnv) != "" {
		t.Fatalf("%s (%s is set, so this fails instead of skipping)", msg, dockertest.RequireEnv)
	}
	t.Skipf("%s; set %s=1 to make this a failure", msg, dockertest.RequireEnv)
	return nil
}

// composeProject runs the compose tool on the repository's compose file.
type composeProject struct {
	t     *testing.T
	tool  []string
	root  string   // the repository, where docker-compose.yml is
	files []string // -f files after docker-compose.yml
	name  string   // -p, when set
	env   []string
}

func newComposeProject(t *testing.T) *composeProject {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	return &composeProject{t: t, tool: composeTool(t), root: root}
}

func (c *composeProject) command(ctx context.Context, args ...string) *exec.Cmd {
	full := append([]string{}, c.tool[1:]...)
	if c.name != "" {
		full = append(full, "-p", c.name)
	}
	full = append(full, "-f", filepath.Join(c.root, "docker-compose.yml"))
	for _, f := range c.files {
		full = append(full, "-f", f)
	}
	cmd := exec.CommandContext(ctx, c.tool[0], append(full, args...)...)
	cmd.Dir = c.root
	// What the compose file reads from the environment is what the test
	// sets, not what the caller's shell happens to have.
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "OCLUSTER_") && !strings.HasPrefix(kv, "COMPOSE_") && !strings.HasPrefix(kv, "SPEED=") {
			env = append(env, kv)
		}
	}
	cmd.Env = append(env, c.env...)
	return cmd
}

// run runs the compose tool to its end and fails the test if it fails.
func (c *composeProject) run(args ...string) string {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := c.command(ctx, args...).CombinedOutput()
	if err != nil {
		c.t.Fatalf("%s %s: %v\n%s", strings.Join(c.tool, " "), strings.Join(args, " "), err, out)
	}
	return string(out)
}

func TestComposeConfig(t *testing.T) {
	c := newComposeProject(t)
	c.env = []string{"OCLUSTER_CAPNP_PORT=9000"}
	c.run("config", "-q")
	services := strings.Fields(c.run("config", "--services"))
	want := []string{"scheduler", "worker-1", "worker-2", "worker-3", "worker-4", "worker-5", "clients", "prometheus", "grafana"}
	for _, s := range want {
		if !slices.Contains(services, s) {
			t.Errorf("docker-compose.yml lacks the service %s (it has %v)", s, services)
		}
	}

	// The resolved configuration: what each service runs and mounts.
	var cfg struct {
		Services map[string]struct {
			Command     []string
			Ports       []any
			Volumes     []any
			Environment map[string]string
		}
	}
	if err := yaml.Unmarshal([]byte(c.run("config")), &cfg); err != nil {
		t.Fatal(err)
	}
	sched := strings.Join(cfg.Services["scheduler"].Command, " ")
	for _, flag := range []string{"--capnp-public-address=tcp:scheduler:9000", "--secrets-dir=/capnp-secrets", "--pools=linux-x86_64", "--listen-prometheus=9090"} {
		if !strings.Contains(sched, flag) {
			t.Errorf("the scheduler runs %q, without %s", sched, flag)
		}
	}
	capacity := 0
	for i, want := range []int{32, 64, 64, 64, 128} {
		name := fmt.Sprintf("worker-%d", i+1)
		cmd := cfg.Services[name].Command
		j := slices.Index(cmd, "--capacity")
		if j < 0 || j+1 >= len(cmd) || cmd[j+1] != strconv.Itoa(want) || !slices.Contains(cmd, name) {
			t.Errorf("%s runs %v; want --name %s --capacity %d", name, cmd, name, want)
			continue
		}
		capacity += want
	}
	if capacity != 352 {
		t.Errorf("the workers have %d slots, not OCluster's 352", capacity)
	}
	mounts := func(service string) map[string]string { // target -> source
		m := map[string]string{}
		for _, v := range cfg.Services[service].Volumes {
			switch v := v.(type) {
			case string: // v1: source:target[:mode]
				parts := strings.Split(v, ":")
				if len(parts) >= 2 {
					m[parts[1]] = parts[0]
				}
			case map[string]any: // v2: {type, source, target}
				m[fmt.Sprint(v["target"])] = fmt.Sprint(v["source"])
			}
		}
		return m
	}
	for target, source := range map[string]string{
		"/etc/grafana/provisioning":                        "stress/grafana/provisioning",
		"/var/lib/grafana/dashboards":                      "stress/grafana/dashboards",
		"/var/lib/grafana/plugins/ocluster-sim-datasource": "stress/grafana/dist",
	} {
		if got := mounts("grafana")[target]; got != filepath.Join(c.root, source) {
			t.Errorf("grafana mounts %q at %s; want %s", got, target, source)
		}
	}
	if got := mounts("prometheus")["/etc/prometheus"]; got != filepath.Join(c.root, "stress/prometheus") {
		t.Errorf("prometheus mounts %q at /etc/prometheus; want stress/prometheus", got)
	}
	grafana := cfg.Services["grafana"].Environment
	if got := grafana["GF_PLUGINS_ALLOW_LOADING_UNSIGNED_PLUGINS"]; got != "ocluster-sim-datasource" {
		t.Errorf("grafana allows the unsigned plugins %q; want ocluster-sim-datasource", got)
	}
	if home, ok := strings.CutPrefix(grafana["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"], "/var/lib/grafana/dashboards/"); !ok {
		t.Errorf("grafana's home dashboard is not one of stress/grafana/dashboards: %q", grafana["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"])
	} else if _, err := os.Stat(filepath.Join(c.root, "stress/grafana/dashboards", home)); err != nil {
		t.Errorf("grafana's home dashboard: %v", err)
	}

	// Grafana's provisioning: the dashboards provider reads the folder
	// compose mounts, and the data sources are Prometheus (as compose names
	// it) and the simulation plugin.
	var providers struct {
		Providers []struct {
			Type    string
			Options struct{ Path string }
		}
	}
	readYAML(t, filepath.Join(c.root, "stress/grafana/provisioning/dashboards"), &providers)
	if len(providers.Providers) != 1 || providers.Providers[0].Type != "file" || providers.Providers[0].Options.Path != "/var/lib/grafana/dashboards" {
		t.Errorf("dashboard providers: %+v; want one of type file at /var/lib/grafana/dashboards", providers.Providers)
	}
	var sources struct {
		Datasources []struct {
			Type, URL string
			JSONData  map[string]any `yaml:"jsonData"`
		}
	}
	readYAML(t, filepath.Join(c.root, "stress/grafana/provisioning/datasources"), &sources)
	where := map[string]string{} // type -> URL or folder
	for _, d := range sources.Datasources {
		where[d.Type] = d.URL
		if p, ok := d.JSONData["path"].(string); ok {
			where[d.Type] = p
		}
	}
	if where["prometheus"] != "http://prometheus:9090" {
		t.Errorf("the Prometheus data source points at %q; want http://prometheus:9090", where["prometheus"])
	}
	if p, ok := where["ocluster-sim-datasource"]; !ok || mounts("grafana")[p] == "" {
		t.Errorf("the ocluster-sim-datasource data source reads %q, which grafana does not mount (data sources: %v)", p, where)
	}

	if promtool, err := exec.LookPath("promtool"); err == nil {
		if out, err := exec.Command(promtool, "check", "config", filepath.Join(c.root, "stress/prometheus/prometheus.yml")).CombinedOutput(); err != nil {
			t.Errorf("promtool check config: %v\n%s", err, out)
		}
	}
}

// readYAML decodes every .yml file of a folder into v (a folder holds one).
func readYAML(t *testing.T, dir string, v any) {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "*.yml"))
	if len(files) == 0 {
		t.Fatalf("no .yml file in %s", dir)
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := yaml.Unmarshal(data, v); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
	}
}

// staticBinaries puts static builds of the commands into dir: the image is
// `scratch`, with no C library. A binary TestMain built is used as it is
// when it is static already (no cgo); otherwise it is linked again
// statically from the compiled packages in the build cache, and only when
// that fails (no static libc) built anew without cgo.
func staticBinaries(t *testing.T, dir string, cmds ...string) {
	t.Helper()
	for _, name := range cmds {
		dst := filepath.Join(dir, name)
		if isStatic(filepath.Join(bin, name)) {
			data, err := os.ReadFile(filepath.Join(bin, name))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(dst, data, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		out, err := exec.Command("go", "build", "-ldflags=-linkmode=external -extldflags=-static", "-o", dst, "../"+name).CombinedOutput()
		if err != nil || !isStatic(dst) {
			t.Logf("linking %s statically failed (%v), building it without cgo:\n%s", name, err, out)
			cmd := exec.Command("go", "build", "-o", dst, "../"+name)
			cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("building %s: %v\n%s", name, err, out)
			}
		}
		if !isStatic(dst) {
			t.Fatalf("%s is not a static binary", dst)
		}
	}
}

// isStatic reports whether an ELF binary needs no dynamic loader.
func isStatic(path string) bool {
	f, err := elf.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return false
		}
	}
	return true
}

// prebuiltImage writes the build context and compose override that make
// the testbed's image from host-built binaries on `scratch`, which nothing
// has to pull, in place of the golang builder of ./Dockerfile.
func prebuiltImage(t *testing.T, dir string) (override string) {
	t.Helper()
	ctx := filepath.Join(dir, "image")
	binDir := filepath.Join(ctx, "rootfs/usr/local/bin")
	if err := os.MkdirAll(binDir, 0o755); err != nil {
		t.Fatal(err)
	}
	staticBinaries(t, binDir, "ocluster-scheduler", "ocluster-stress", "ocluster-admin")
	for _, d := range []string{"tmp", "capnp-secrets", "var/lib/ocluster", "var/lib/worker"} {
		p := filepath.Join(ctx, "rootfs", d)
		if err := os.MkdirAll(p, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, 0o1777); err != nil {
			t.Fatal(err)
		}
	}
	dockerfile := "FROM scratch\nCOPY rootfs/ /\nENV PATH=/usr/local/bin\nWORKDIR /var/lib/ocluster\n"
	if err := os.WriteFile(filepath.Join(ctx, "Dockerfile"), []byte(dockerfile), 0o644); err != nil {
		t.Fatal(err)
	}
	override = filepath.Join(dir, "compose.prebuilt.yml")
	yml := fmt.Sprintf("services:\n  scheduler:\n    build:\n      context: %q\n      dockerfile: Dockerfile\n", ctx)
	if err := os.WriteFile(override, []byte(yml), 0o644); err != nil {
		t.Fatal(err)
	}
	return override
}

// jobOutcome is what one ocluster-client submission came to.
type jobOutcome struct {
	worker string // the worker it ran on, from "Building on W"
	ok     bool   // "Job succeeded", exit 0
	lostOn string // the worker whose disconnection failed it
	out    string
}

var (
	buildingOn   = regexp.MustCompile(`(?m)^Building on (\S+)$`)
	disconnected = regexp.MustCompile(`Worker "([^"]+)" disconnected while running the job`)
)

func outcome(t *testing.T, p *process, timeout time.Duration) jobOutcome {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(timeout):
		t.Fatalf("a submission did not end in %v:\n%s", timeout, p.output())
	}
	o := jobOutcome{out: p.output()}
	if m := buildingOn.FindStringSubmatch(o.out); m != nil {
		o.worker = m[1]
	}
	code := p.cmd.ProcessState.ExitCode()
	o.ok = code == 0 && strings.HasSuffix(o.out, "Job succeeded\n")
	if m := disconnected.FindStringSubmatch(o.out); m != nil && code == 1 {
		o.lostOn = m[1]
	}
	return o
}

func TestComposeTestbed(t *testing.T) {
	if testing.Short() {
		t.Skip("starts containers (-short)")
	}
	c := newComposeProject(t)
	cli := dockertest.Engine(t)
	dir := t.TempDir()
	secrets := filepath.Join(dir, "capnp-secrets")
	if err := os.Mkdir(secrets, 0o700); err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	c.name = fmt.Sprintf("ocluster-e2e-%d-%d", os.Getpid(), time.Now().UnixNano()%1_000_000)
	image := "ocluster-go-e2e:" + c.name
	c.files = []string{prebuiltImage(t, dir)}
	c.env = []string{
		"OCLUSTER_IMAGE=" + image,
		"OCLUSTER_CAPNP_PORT=" + strconv.Itoa(port),
		"OCLUSTER_SECRETS_DIR=" + secrets,
		fmt.Sprintf("OCLUSTER_USER=%d:%d", os.Getuid(), os.Getgid()),
		// Uncached jobs take 15 min / 120 = 7.5 s: long enough to stop a
		// worker in the middle of them, short enough for a test.
		"SPEED=120",
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cli.ImageRemove(ctx, image, client.ImageRemoveOptions{Force: true, PruneChildren: true})
	})
	t.Cleanup(func() {
		if t.Failed() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			out, _ := c.command(ctx, "logs", "--no-color", "--tail", "30").CombinedOutput()
			t.Logf("the services' last logs:\n%s", out)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if out, err := c.command(ctx, "down", "-v", "--remove-orphans", "-t", "2").CombinedOutput(); err != nil {
			t.Errorf("compose down: %v\n%s", err, out)
		}
	})
	c.run("build", "scheduler")

	// The scheduler first: the workers then find their capability at once.
	c.run("up", "-d", "--no-build", "scheduler")
	waitUntil(t, 60*time.Second, "the scheduler to write admin.cap", func() bool {
		_, err := os.Stat(filepath.Join(secrets, "admin.cap"))
		return err == nil
	})
	// The host reaches the published port under the name the .cap files
	// give, as it does with the /etc/hosts line of docker-compose.yml.
	hostCap(t, filepath.Join(secrets, "admin.cap"), filepath.Join(dir, "admin.cap"), port)
	admin := func(args ...string) string {
		t.Helper()
		out, code := run(t, dir, "ocluster-admin", append([]string{"-c", "admin.cap"}, args...)...)
		if code != 0 {
			t.Fatalf("ocluster-admin %v: exit %d\n%s", args, code, out)
		}
		return out
	}
	waitUntil(t, 30*time.Second, "the scheduler to answer on the published port", func() bool {
		_, code := run(t, dir, "ocluster-admin", "-c", "admin.cap", "show")
		return code == 0
	})
	metricsAddr := strings.TrimSpace(c.run("port", "scheduler", "9090"))
	metric := func(name string) float64 {
		t.Helper()
		return scrape(t, "http://"+metricsAddr+"/metrics", name)
	}

	c.run("up", "-d", "--no-build", "worker-1", "worker-2", "worker-3", "worker-4", "worker-5")
	waitUntil(t, 60*time.Second, "five workers to connect", func() bool {
		return metric(`ocluster_pool_workers_connected{pool="linux-x86_64"}`) == 5
	})
	if got := metric(`ocluster_pool_workers_capacity{pool="linux-x86_64"}`); got != 352 {
		t.Fatalf("the pool has %v slots; want 352", got)
	}
	if out := admin("show", "linux-x86_64"); !strings.Contains(out, "worker-5") {
		t.Fatalf("show linux-x86_64:\n%s", out)
	}
	// Inside the network the .cap file works as the scheduler wrote it.
	if out := c.run("exec", "-T", "scheduler", "ocluster-admin", "-c", "/capnp-secrets/admin.cap", "show", "linux-x86_64"); !strings.Contains(out, "worker-5") {
		t.Fatalf("ocluster-admin in the scheduler's container:\n%s", out)
	}

	// A client of our own, its capability rewritten for the host too.
	if err := os.WriteFile(filepath.Join(dir, "e2e.cap.raw"), []byte(admin("add-client", "e2e")), 0o600); err != nil {
		t.Fatal(err)
	}
	hostCap(t, filepath.Join(dir, "e2e.cap.raw"), filepath.Join(dir, "e2e.cap"), port)
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM "+dockertest.BaseImage+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	submit := func(n int) []*process {
		ps := make([]*process, n)
		for i := range ps {
			ps[i] = start(t, dir, "ocluster-client", "-c", "e2e.cap", "submit-docker", "--local-dockerfile", "Dockerfile", "--pool", "linux-x86_64")
		}
		return ps
	}

	// Jobs run to completion on workers in other containers.
	used := map[string]int{}
	for _, p := range submit(10) {
		o := outcome(t, p, 90*time.Second)
		if !o.ok {
			t.Fatalf("a job failed on a healthy cluster:\n%s", o.out)
		}
		used[o.worker]++
	}
	t.Logf("10 jobs ran on %v", used)
	if got := metric(`ocluster_pool_jobs_accepted_total{pool="linux-x86_64"}`); got < 10 {
		t.Fatalf("the scheduler counts %v accepted jobs; want 10 or more", got)
	}

	// A worker is stopped in the middle of its jobs. Only worker-1 (32
	// slots) takes jobs, so of 40 it runs 32 and the other 8 wait in the
	// scheduler's queue; once it is gone the others take jobs again. A job
	// may fail only because worker-1 had it: every other one must finish.
	for _, w := range []string{"worker-2", "worker-3", "worker-4", "worker-5"} {
		admin("pause", "linux-x86_64", w)
	}
	jobs := submit(40)
	onWorker1 := func() int {
		n := 0
		for _, p := range jobs {
			if strings.Contains(p.output(), "Building on worker-1\n") {
				n++
			}
		}
		return n
	}
	waitUntil(t, 60*time.Second, "worker-1 to fill its 32 slots", func() bool { return onWorker1() >= 32 })
	// The clients start as separate processes: on a busy machine the last
	// of them may not have submitted yet when worker-1 is full.
	waitUntil(t, 30*time.Second, "a job to be queued while worker-1 is full and the others paused", func() bool {
		return metric(`ocluster_pool_queue_length{pool="linux-x86_64",priority="low",queue="incoming"}`) > 0
	})
	c.run("kill", "worker-1")
	for _, w := range []string{"worker-2", "worker-3", "worker-4", "worker-5"} {
		admin("unpause", "linux-x86_64", w)
	}
	lost, retried, finished := 0, 0, map[string]int{}
	for _, p := range jobs {
		o := outcome(t, p, 90*time.Second)
		if strings.Contains(o.out, "queued again") {
			retried++
		}
		switch {
		case o.ok:
			finished[o.worker]++
		case o.lostOn == "worker-1":
			lost++
		default:
			t.Errorf("a job was lost that the stopped worker did not have:\n%s", o.out)
		}
	}
	t.Logf("of 40 jobs, %d failed with worker-1, %d were queued again and %d finished: %v", lost, retried, 40-lost, finished)
	// The default policy queues a lost worker's jobs again (ocluster
	// would fail them): none fails, and the client sees the move.
	if lost != 0 || retried == 0 || retried > 32 {
		t.Errorf("%d jobs failed with worker-1 and %d were queued again; want none and 1 to 32 (it had 32 slots)", lost, retried)
	}
	if others := 40 - lost - finished["worker-1"]; others < 8 {
		t.Errorf("only %d jobs finished on the other workers; want the 8 queued ones at least", others)
	}
	waitUntil(t, 30*time.Second, "the scheduler to see worker-1 gone", func() bool {
		return metric(`ocluster_pool_workers_connected{pool="linux-x86_64"}`) == 4
	})

	// The clients service, when ocluster-stress has the command, plays a
	// short scenario in its own container against what is left of the
	// cluster (the default scenario, 21,000 jobs at once, is the testbed's
	// load, not a test's), and every job it submits finishes. An hour of
	// "small" (both its clients submit) passes in 6 s.
	if _, code := run(t, dir, "ocluster-stress", "clients", "--help"); code != 0 {
		t.Log("ocluster-stress has no clients command: the clients service is not run")
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	out, err := c.command(ctx, "run", "--rm", "--no-deps", "-T", "clients",
		"ocluster-stress", "clients", "--admin", "/capnp-secrets/admin.cap", "--pool", "linux-x86_64",
		"--scenario", "small", "--duration", "1h", "--speed", "600", "--out", "/capnp-secrets/clients.json").CombinedOutput()
	if err != nil {
		t.Fatalf("the clients service: %v\n%s", err, out)
	}
	data, err := os.ReadFile(filepath.Join(secrets, "clients.json"))
	if err != nil {
		t.Fatalf("the clients service wrote no summary: %v\n%s", err, out)
	}
	var summary struct {
		Total struct{ Submitted, Finished, Failed, Cancelled, Refused int }
	}
	if err := json.Unmarshal(data, &summary); err != nil {
		t.Fatalf("the clients' summary: %v\n%s", err, data)
	}
	if tot := summary.Total; tot.Submitted == 0 || tot.Finished != tot.Submitted || tot.Failed+tot.Refused != 0 {
		t.Errorf("the clients service's jobs: %+v; want all of them finished\n%s", tot, out)
	}
	t.Logf("the clients service: %+v", summary.Total)
}

// hostCap copies a .cap file that names scheduler:PORT, naming 127.0.0.1
// instead: what an /etc/hosts line does for the host.
func hostCap(t *testing.T, src, dst string, port int) {
	t.Helper()
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	in := fmt.Sprintf("@scheduler:%d/", port)
	if !strings.Contains(string(data), in) {
		t.Fatalf("%s does not name %s: %s", src, in, data)
	}
	out := strings.Replace(string(data), in, fmt.Sprintf("@127.0.0.1:%d/", port), 1)
	if err := os.WriteFile(dst, []byte(out), 0o600); err != nil {
		t.Fatal(err)
	}
}

// waitUntil polls cond until it holds, failing the test after timeout.
func waitUntil(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited %v for %s", timeout, what)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// scrape returns the value of one series (name with its labels, as the
// exposition format prints them) from a Prometheus endpoint, or -1 when the
// endpoint or the series is missing.
func scrape(t *testing.T, url, series string) float64 {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(io.LimitReader(resp.Body, 16<<20))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), series+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err == nil {
				return f
			}
		}
	}
	return -1
}
