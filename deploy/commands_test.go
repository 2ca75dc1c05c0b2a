package deploy_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
)

// testSeeds replaces the sweep Job's SEEDS when the tests run its shards:
// the one value they change, so that ten shards of ocluster-stress take
// seconds; the command and every other value are the manifest's.
const testSeeds = "5"

var binDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "deploy-test-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// buildCommands builds the commands the manifests run, once for the whole
// test run and in one go build, which links them in parallel.
var buildCommands = sync.OnceValue(func() error {
	args := []string{"build", "-o", binDir}
	for _, name := range slices.Sorted(maps.Keys(ourCommands)) {
		args = append(args, "github.com/ocluster-go/ocluster/cmd/"+name)
	}
	if out, err := exec.Command("go", args...).CombinedOutput(); err != nil {
		return fmt.Errorf("go %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return nil
})

// binary is the path of one of the project's commands, built.
func binary(t *testing.T, name string) string {
	t.Helper()
	require.True(t, ourCommands[name], "%s is not one of the commands the tests build", name)
	require.NoError(t, buildCommands())
	return filepath.Join(binDir, name)
}

// ourCommands are the images' commands the tests can run; other images
// (the Docker engine) are not the project's.
var ourCommands = map[string]bool{"ocluster-sim": true, "ocluster-scheduler": true, "ocluster-worker": true}

// containerEnv is the container's env with literal values; fieldRef
// values (the pod's name) get a stand-in.
func containerEnv(c corev1.Container) map[string]string {
	env := map[string]string{}
	for _, e := range c.Env {
		if e.ValueFrom != nil {
			env[e.Name] = "test-" + strings.ToLower(e.Name)
		} else {
			env[e.Name] = e.Value
		}
	}
	return env
}

func expandAll(args []string, env map[string]string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		out[i] = expand(a, env)
	}
	return out
}

// flagValue returns the value of --name=V or --name V in args.
func flagValue(args []string, name string) (string, bool) {
	for i, a := range args {
		if v, ok := strings.CutPrefix(a, name+"="); ok {
			return v, true
		}
		if a == name && i+1 < len(args) {
			return args[i+1], true
		}
	}
	return "", false
}

func podSpecs(all []manifest) map[string]corev1.PodSpec {
	specs := map[string]corev1.PodSpec{}
	for _, m := range all {
		switch obj := m.obj.(type) {
		case *batchv1.Job:
			specs[m.String()] = obj.Spec.Template.Spec
		case *appsv1.StatefulSet:
			specs[m.String()] = obj.Spec.Template.Spec
		case *appsv1.Deployment:
			specs[m.String()] = obj.Spec.Template.Spec
		}
	}
	return specs
}

// TestCommandsKnowTheirFlags runs every command of the project's image as
// the manifests write it, with --help added: a flag the command does not
// have, or a subcommand it does not know, fails before the help.
func TestCommandsKnowTheirFlags(t *testing.T) {
	ran := 0
	for where, spec := range podSpecs(loadManifests(t)) {
		for _, c := range append(spec.InitContainers, spec.Containers...) {
			if len(c.Command) == 0 || !ourCommands[c.Command[0]] {
				continue
			}
			require.Len(t, c.Command, 1, "%s: the command is the binary, its arguments are args", where)
			env := containerEnv(c)
			env["JOB_COMPLETION_INDEX"] = "0"
			args := append(expandAll(c.Args, env), "--help")
			out, err := exec.Command(binary(t, c.Command[0]), args...).CombinedOutput()
			require.NoError(t, err, "%s: container %s: %s %s\n%s", where, c.Name, c.Command[0], strings.Join(args, " "), out)
			ran++
		}
	}
	assert.Equal(t, 4, ran, "the sweep, the merge, the scheduler and the worker")
}

// TestSweepJobShape checks what the shards and the merge rely on beyond
// what Kubernetes validates.
func TestSweepJobShape(t *testing.T) {
	all := loadManifests(t)
	sweep, _ := find[*batchv1.Job](t, all, "ocluster-sweep")
	merge, _ := find[*batchv1.Job](t, all, "ocluster-sweep-merge")
	claim, _ := find[*corev1.PersistentVolumeClaim](t, all, "ocluster-sweep-results")

	require.NotNil(t, sweep.Spec.CompletionMode)
	assert.Equal(t, batchv1.IndexedCompletion, *sweep.Spec.CompletionMode, "each shard needs its JOB_COMPLETION_INDEX")
	completions := *sweep.Spec.Completions
	shard := sweep.Spec.Template.Spec.Containers[0]
	require.Len(t, sweep.Spec.Template.Spec.Containers, 1)
	assert.Equal(t, []string{"ocluster-sim"}, shard.Command)
	require.NotEmpty(t, shard.Args)
	assert.Equal(t, "sweep", shard.Args[0])
	assert.Contains(t, shard.Args, "--shard=env")
	env := containerEnv(shard)
	assert.Equal(t, strconv.Itoa(int(completions)), env["SHARD_COUNT"], "SHARD_COUNT must be the Job's completions, or shards are lost or repeated")
	assert.Equal(t, "1000", env["SEEDS"], "the manifest is the README's 1,000-seed sweep")

	// Each shard writes its own file in the shared volume.
	out, ok := flagValue(shard.Args, "--out")
	require.True(t, ok, "the shard's --out")
	assert.Contains(t, out, "$(JOB_COMPLETION_INDEX)", "every shard needs a file of its own")
	assert.True(t, strings.HasSuffix(out, ".jsonl"), "merge reads a folder's .jsonl files")
	resultsDir := filepath.Dir(out)
	assert.Equal(t, claim.Name, claimAt(t, sweep.Spec.Template.Spec, shard, resultsDir), "the shards write to the shared claim")

	// The merge reads that folder, on the same claim.
	require.Len(t, merge.Spec.Template.Spec.Containers, 1)
	m := merge.Spec.Template.Spec.Containers[0]
	assert.Equal(t, []string{"ocluster-sim"}, m.Command)
	require.NotEmpty(t, m.Args)
	assert.Equal(t, "merge", m.Args[0])
	folder := m.Args[len(m.Args)-1]
	assert.Equal(t, claim.Name, claimAt(t, merge.Spec.Template.Spec, m, folder), "the merge reads the shared claim")
	assert.Equal(t, resultsDir, folder, "the merge reads the folder the shards write")
	assert.Nil(t, merge.Spec.CompletionMode, "one merge, not indexed")
	assert.Equal(t, int32(1), *merge.Spec.Completions)
}

// claimAt returns the claim mounted at path in container c.
func claimAt(t *testing.T, spec corev1.PodSpec, c corev1.Container, path string) string {
	t.Helper()
	for _, mount := range c.VolumeMounts {
		if mount.MountPath == path {
			for _, v := range spec.Volumes {
				if v.Name == mount.Name && v.PersistentVolumeClaim != nil {
					return v.PersistentVolumeClaim.ClaimName
				}
			}
		}
	}
	t.Errorf("container %s mounts no claim at %s", c.Name, path)
	return ""
}

// runAsJob runs the container's exact command with the environment the
// pod would have (the container's env and extra), the folder at mountPath
// standing in for the volume mounted there.
func runAsJob(t *testing.T, c corev1.Container, extra map[string]string, mountPath, dir string) (string, error) {
	env := containerEnv(c)
	for k, v := range extra {
		env[k] = v
	}
	args := expandAll(c.Args, env)
	for i, a := range args {
		if a == mountPath {
			args[i] = dir
		} else if rest, ok := strings.CutPrefix(a, mountPath+"/"); ok {
			args[i] = dir + "/" + rest
		} else if flag, value, ok := strings.Cut(a, "="); ok && strings.HasPrefix(value, mountPath+"/") {
			args[i] = flag + "=" + dir + strings.TrimPrefix(value, mountPath)
		}
	}
	cmd := exec.Command(binary(t, c.Command[0]), args...)
	cmd.Env = []string{}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err != nil {
		err = fmt.Errorf("%s %s: %w\n%s", c.Command[0], strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String(), err
}

// TestShardCommandsRunAndMerge runs every shard of the sweep Job with its
// exact command and the environment Kubernetes gives pod i
// (JOB_COMPLETION_INDEX=i), SEEDS aside (testSeeds), then the merge Job's
// exact command over their files, as the shared volume would hold them.
func TestShardCommandsRunAndMerge(t *testing.T) {
	all := loadManifests(t)
	sweep, _ := find[*batchv1.Job](t, all, "ocluster-sweep")
	merge, _ := find[*batchv1.Job](t, all, "ocluster-sweep-merge")
	shard := sweep.Spec.Template.Spec.Containers[0]
	mergeC := merge.Spec.Template.Spec.Containers[0]
	require.NotEmpty(t, shard.VolumeMounts)
	mountPath := shard.VolumeMounts[0].MountPath
	volume := t.TempDir()

	completions := int(*sweep.Spec.Completions)
	errs := make([]error, completions)
	var wg sync.WaitGroup
	for i := range completions {
		wg.Go(func() {
			_, errs[i] = runAsJob(t, shard, map[string]string{"JOB_COMPLETION_INDEX": strconv.Itoa(i), "SEEDS": testSeeds}, mountPath, volume)
		})
	}
	wg.Wait()
	for i, err := range errs {
		require.NoError(t, err, "shard %d", i)
	}

	// One file per shard, every run of the sweep once.
	files, err := filepath.Glob(filepath.Join(volume, "*.jsonl"))
	require.NoError(t, err)
	assert.Len(t, files, completions)
	policies := strings.Split(containerEnv(shard)["POLICIES"], ",")
	seeds, _ := strconv.Atoi(testSeeds)
	items := map[int]bool{}
	for _, name := range files {
		data, err := os.ReadFile(name)
		require.NoError(t, err)
		sc := bufio.NewScanner(bytes.NewReader(data))
		for sc.Scan() {
			var rec struct {
				Item, Items int
			}
			require.NoError(t, json.Unmarshal(sc.Bytes(), &rec))
			assert.Equal(t, len(policies)*seeds, rec.Items)
			assert.False(t, items[rec.Item], "item %d twice", rec.Item)
			items[rec.Item] = true
		}
	}
	assert.Len(t, items, len(policies)*seeds)

	out, err := runAsJob(t, mergeC, nil, mergeC.VolumeMounts[0].MountPath, volume)
	require.NoError(t, err)
	for _, p := range policies {
		assert.Regexp(t, regexp.MustCompile(`(?m)^\s*`+regexp.QuoteMeta(p)+`\s`), out, "the merged table has a row for %s", p)
	}

	// Without one shard's file the merge Job fails, saying so.
	require.NoError(t, os.Remove(files[0]))
	_, err = runAsJob(t, mergeC, nil, mergeC.VolumeMounts[0].MountPath, volume)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "missing")
}

// TestClusterWiring checks the production cluster's references: the flags'
// paths are the Secrets' mounted keys, the Secrets are the ones
// deploy/README.md makes, the .cap files name the Service, the Service
// selects the scheduler and reaches its ports.
func TestClusterWiring(t *testing.T) {
	all := loadManifests(t)
	sts, _ := find[*appsv1.StatefulSet](t, all, "ocluster-scheduler")
	svc, _ := find[*corev1.Service](t, all, "ocluster-scheduler")
	workers, _ := find[*appsv1.Deployment](t, all, "ocluster-worker")
	readme, err := os.ReadFile("README.md")
	require.NoError(t, err)
	// kubectl create secret generic NAME --from-file=KEY=...
	made := map[string][]string{}
	for _, m := range regexp.MustCompile(`kubectl create secret generic (\S+) --from-file=([^=\s]+)=`).FindAllStringSubmatch(string(readme), -1) {
		made[m[1]] = append(made[m[1]], m[2])
	}

	scheduler := sts.Spec.Template.Spec.Containers[0]
	assert.Equal(t, []string{"ocluster-scheduler"}, scheduler.Command)
	keyFile, ok := flagValue(scheduler.Args, "--capnp-secret-key-file")
	require.True(t, ok)
	assertSecretFile(t, sts.Spec.Template.Spec, scheduler, keyFile, made)
	state, ok := flagValue(scheduler.Args, "--state-dir")
	require.True(t, ok)
	require.Len(t, sts.Spec.VolumeClaimTemplates, 1)
	assert.True(t, mountedAt(scheduler, state, sts.Spec.VolumeClaimTemplates[0].Name), "--state-dir %s is the claim template's volume", state)
	assert.Equal(t, int32(1), *sts.Spec.Replicas, "one scheduler owns its state")
	assert.Equal(t, svc.Name, sts.Spec.ServiceName)

	public, ok := flagValue(scheduler.Args, "--capnp-public-address")
	require.True(t, ok)
	listen, ok := flagValue(scheduler.Args, "--capnp-listen-address")
	require.True(t, ok)
	host, port, ok := strings.Cut(strings.TrimPrefix(public, "tcp:"), ":")
	require.True(t, ok, public)
	assert.Equal(t, svc.Name, host, "the .cap files name the Service")
	assert.True(t, strings.HasSuffix(listen, ":"+port))
	assert.Subset(t, sts.Spec.Template.Labels, svc.Spec.Selector, "the Service selects the scheduler's pods")
	containerPorts := map[string]int32{}
	for _, p := range scheduler.Ports {
		containerPorts[p.Name] = p.ContainerPort
	}
	var capnp bool
	for _, p := range svc.Spec.Ports {
		assert.Contains(t, containerPorts, p.TargetPort.StrVal, "Service port %s", p.Name)
		if strconv.Itoa(int(p.Port)) == port {
			capnp = true
			assert.Equal(t, port, strconv.Itoa(int(containerPorts[p.TargetPort.StrVal])), "the Service's capnp port reaches the listen port")
		}
	}
	assert.True(t, capnp, "the Service serves the port the .cap files name")
	metrics, ok := flagValue(scheduler.Args, "--listen-prometheus")
	require.True(t, ok)
	assert.Equal(t, metrics, strconv.Itoa(int(containerPorts["metrics"])))

	pools, ok := flagValue(scheduler.Args, "--pools")
	require.True(t, ok)
	worker := workers.Spec.Template.Spec.Containers[0]
	assert.Equal(t, []string{"ocluster-worker"}, worker.Command)
	capFile, ok := flagValue(worker.Args, "--connect")
	require.True(t, ok)
	assert.Equal(t, "pool-"+pools+".cap", filepath.Base(capFile), "the worker joins the scheduler's pool")
	assertSecretFile(t, workers.Spec.Template.Spec, worker, capFile, made)
	name, _ := flagValue(worker.Args, "--name")
	assert.Equal(t, "$(POD_NAME)", name, "every worker of the Deployment has its own name")
	var dockerHost string
	for _, e := range worker.Env {
		if e.Name == "POD_NAME" {
			require.NotNil(t, e.ValueFrom)
			assert.Equal(t, "metadata.name", e.ValueFrom.FieldRef.FieldPath)
		}
		if e.Name == "DOCKER_HOST" {
			dockerHost = e.Value
		}
	}
	socket, ok := strings.CutPrefix(dockerHost, "unix://")
	require.True(t, ok, "DOCKER_HOST %q", dockerHost)
	require.Len(t, workers.Spec.Template.Spec.InitContainers, 1)
	engine := workers.Spec.Template.Spec.InitContainers[0]
	require.NotNil(t, engine.RestartPolicy)
	assert.Equal(t, corev1.ContainerRestartPolicyAlways, *engine.RestartPolicy, "the engine is a sidecar")
	assert.Contains(t, engine.Args, "--host="+dockerHost)
	var shared bool
	for _, mw := range worker.VolumeMounts {
		for _, me := range engine.VolumeMounts {
			if mw.Name == me.Name && mw.MountPath == me.MountPath && filepath.Dir(socket) == mw.MountPath {
				shared = true
			}
		}
	}
	assert.True(t, shared, "the worker and the engine share the socket's folder")
}

func mountedAt(c corev1.Container, path, volume string) bool {
	for _, m := range c.VolumeMounts {
		if m.MountPath == path && m.Name == volume {
			return true
		}
	}
	return false
}

// assertSecretFile checks that path is a key of a Secret mounted in c, and
// that deploy/README.md creates that Secret with that key.
func assertSecretFile(t *testing.T, spec corev1.PodSpec, c corev1.Container, path string, made map[string][]string) {
	t.Helper()
	for _, m := range c.VolumeMounts {
		if filepath.Dir(path) != m.MountPath {
			continue
		}
		for _, v := range spec.Volumes {
			if v.Name == m.Name && v.Secret != nil {
				assert.Contains(t, made[v.Secret.SecretName], filepath.Base(path), "deploy/README.md creates Secret %s with key %s", v.Secret.SecretName, filepath.Base(path))
				assert.True(t, m.ReadOnly, "mount of Secret %s", v.Secret.SecretName)
				return
			}
		}
	}
	t.Errorf("container %s: %s is not in a mounted Secret", c.Name, path)
}
