package deploy_test

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
)

// manifest is one object of one of the YAML files under deploy/.
type manifest struct {
	file string // relative to deploy/
	obj  runtime.Object
}

func (m manifest) String() string {
	meta := m.obj.(metav1.Object)
	return m.file + ": " + m.obj.GetObjectKind().GroupVersionKind().Kind + " " + meta.GetName()
}

// strictDecoder decodes the kinds the manifests use, refusing unknown and
// duplicate fields as `kubectl apply --validate=strict` does.
func strictDecoder(t *testing.T) runtime.Decoder {
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{corev1.AddToScheme, appsv1.AddToScheme, batchv1.AddToScheme} {
		require.NoError(t, add(scheme))
	}
	return serializer.NewCodecFactory(scheme, serializer.EnableStrict).UniversalDeserializer()
}

// documents splits a multi-document YAML stream.
func documents(t *testing.T, data []byte) [][]byte {
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var docs [][]byte
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return docs
		}
		require.NoError(t, err)
		if len(bytes.TrimSpace(stripComments(doc))) > 0 {
			docs = append(docs, doc)
		}
	}
}

func stripComments(doc []byte) []byte {
	var out []byte
	for line := range bytes.Lines(doc) {
		if !bytes.HasPrefix(bytes.TrimSpace(line), []byte("#")) {
			out = append(out, line...)
		}
	}
	return out
}

// loadManifests decodes every object of every .yaml file under deploy/.
func loadManifests(t *testing.T) []manifest {
	t.Helper()
	decoder := strictDecoder(t)
	var all []manifest
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".yaml") {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for i, doc := range documents(t, data) {
			obj, _, err := decoder.Decode(doc, nil, nil)
			require.NoError(t, err, "%s, document %d", path, i+1)
			all = append(all, manifest{filepath.ToSlash(path), obj})
		}
		return nil
	})
	require.NoError(t, err)
	require.NotEmpty(t, all)
	return all
}

// find returns the one object of kind T named name.
func find[T runtime.Object](t *testing.T, all []manifest, name string) (T, string) {
	t.Helper()
	for _, m := range all {
		if obj, ok := m.obj.(T); ok && m.obj.(metav1.Object).GetName() == name {
			return obj, m.file
		}
	}
	var zero T
	require.Failf(t, "manifest missing", "no %T named %q under deploy/", zero, name)
	return zero, ""
}

func TestManifestsDecodeStrictly(t *testing.T) {
	all := loadManifests(t)
	kinds := map[string]int{}
	for _, m := range all {
		kinds[m.obj.GetObjectKind().GroupVersionKind().Kind]++
	}
	assert.Equal(t, map[string]int{"PersistentVolumeClaim": 1, "Job": 2, "Service": 1, "StatefulSet": 1, "Deployment": 1}, kinds)

	// The decoder is strict: a misspelt field is an error, not dropped.
	decoder := strictDecoder(t)
	_, _, err := decoder.Decode([]byte("apiVersion: batch/v1\nkind: Job\nmetadata: {name: x}\nspec: {completion: 3}\n"), nil, nil)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "completion")
}

// TestManifestsValidate checks what the API server would refuse, and the
// references between parts of a manifest that it would accept but that
// would not work: names and labels, a selector that selects the pods, every
// mount's volume, every named port, every $(VAR) in a command.
func TestManifestsValidate(t *testing.T) {
	for _, m := range loadManifests(t) {
		t.Run(m.file+"/"+m.obj.(metav1.Object).GetName(), func(t *testing.T) {
			meta := m.obj.(metav1.Object)
			nameCheck := apivalidation.NameIsDNSSubdomain
			if _, ok := m.obj.(*corev1.Service); ok {
				nameCheck = apivalidation.NameIsDNS1035Label
			}
			for _, msg := range nameCheck(meta.GetName(), false) {
				t.Errorf("%s: name: %s", m, msg)
			}
			assertNoErrors(t, m, metav1validation.ValidateLabels(meta.GetLabels(), field.NewPath("metadata", "labels")))
			switch obj := m.obj.(type) {
			case *batchv1.Job:
				assert.Contains(t, []corev1.RestartPolicy{corev1.RestartPolicyNever, corev1.RestartPolicyOnFailure}, obj.Spec.Template.Spec.RestartPolicy, "%s: a Job's pods restart Never or OnFailure", m)
				require.NotNil(t, obj.Spec.Completions, "%s: completions", m)
				require.NotNil(t, obj.Spec.Parallelism, "%s: parallelism", m)
				assert.GreaterOrEqual(t, *obj.Spec.Completions, int32(1), "%s: completions", m)
				assert.True(t, *obj.Spec.Parallelism >= 1 && *obj.Spec.Parallelism <= *obj.Spec.Completions, "%s: parallelism %d not in 1..completions", m, *obj.Spec.Parallelism)
				indexed := obj.Spec.CompletionMode != nil && *obj.Spec.CompletionMode == batchv1.IndexedCompletion
				if obj.Spec.BackoffLimitPerIndex != nil {
					assert.True(t, indexed, "%s: backoffLimitPerIndex needs completionMode: Indexed", m)
				}
				validatePod(t, m, obj.Spec.Template, nil, indexed)
			case *appsv1.StatefulSet:
				validateSelector(t, m, obj.Spec.Selector, obj.Spec.Template.Labels)
				var claims []string
				for _, c := range obj.Spec.VolumeClaimTemplates {
					claims = append(claims, c.Name)
					assert.NotEmpty(t, c.Spec.AccessModes, "%s: claim %s", m, c.Name)
					assert.Contains(t, c.Spec.Resources.Requests, corev1.ResourceStorage, "%s: claim %s", m, c.Name)
				}
				validatePod(t, m, obj.Spec.Template, claims, false)
			case *appsv1.Deployment:
				validateSelector(t, m, obj.Spec.Selector, obj.Spec.Template.Labels)
				validatePod(t, m, obj.Spec.Template, nil, false)
			case *corev1.Service:
				assert.NotEmpty(t, obj.Spec.Selector, "%s: selector", m)
				for _, p := range obj.Spec.Ports {
					assert.Empty(t, validation.IsValidPortName(p.Name), "%s: port name %q", m, p.Name)
					assert.Empty(t, validation.IsValidPortNum(int(p.Port)), "%s: port %d", m, p.Port)
				}
			case *corev1.PersistentVolumeClaim:
				assert.NotEmpty(t, obj.Spec.AccessModes, "%s: accessModes", m)
				assert.Contains(t, obj.Spec.Resources.Requests, corev1.ResourceStorage, "%s: storage request", m)
			}
		})
	}
}

func assertNoErrors(t *testing.T, m manifest, errs field.ErrorList) {
	t.Helper()
	for _, err := range errs {
		t.Errorf("%s: %v", m, err)
	}
}

func validateSelector(t *testing.T, m manifest, selector *metav1.LabelSelector, podLabels map[string]string) {
	t.Helper()
	require.NotNil(t, selector, "%s: selector", m)
	s, err := metav1.LabelSelectorAsSelector(selector)
	require.NoError(t, err, "%s: selector", m)
	assert.False(t, s.Empty(), "%s: an empty selector", m)
	assert.True(t, s.Matches(labelSet(podLabels)), "%s: the selector %s does not select the pod template's labels %v", m, s, podLabels)
}

type labelSet map[string]string

func (l labelSet) Has(k string) bool              { _, ok := l[k]; return ok }
func (l labelSet) Get(k string) string            { return l[k] }
func (l labelSet) Lookup(k string) (string, bool) { v, ok := l[k]; return v, ok }

// validatePod checks a pod template: names, unique containers and volumes,
// every mount naming a volume (or one of claims), named ports, and every
// $(VAR) of a command naming the container's env (or JOB_COMPLETION_INDEX,
// which an Indexed Job adds).
func validatePod(t *testing.T, m manifest, tmpl corev1.PodTemplateSpec, claims []string, indexed bool) {
	t.Helper()
	assertNoErrors(t, m, metav1validation.ValidateLabels(tmpl.Labels, field.NewPath("spec", "template", "metadata", "labels")))
	spec := tmpl.Spec
	volumes := slices.Clone(claims)
	for _, v := range spec.Volumes {
		assert.Empty(t, validation.IsDNS1123Label(v.Name), "%s: volume name %q", m, v.Name)
		assert.NotContains(t, volumes, v.Name, "%s: volume %q twice", m, v.Name)
		volumes = append(volumes, v.Name)
	}
	containers := append(slices.Clone(spec.InitContainers), spec.Containers...)
	require.NotEmpty(t, spec.Containers, "%s: containers", m)
	var names []string
	for _, c := range containers {
		assert.Empty(t, validation.IsDNS1123Label(c.Name), "%s: container name %q", m, c.Name)
		assert.NotContains(t, names, c.Name, "%s: container %q twice", m, c.Name)
		names = append(names, c.Name)
		assert.NotEmpty(t, c.Image, "%s: container %s has no image", m, c.Name)
		for _, mount := range c.VolumeMounts {
			assert.Contains(t, volumes, mount.Name, "%s: container %s mounts volume %q, which the pod does not have", m, c.Name, mount.Name)
			assert.True(t, filepath.IsAbs(mount.MountPath), "%s: mount path %q", m, mount.MountPath)
		}
		env := map[string]bool{}
		if indexed {
			env["JOB_COMPLETION_INDEX"] = true
		}
		for _, e := range c.Env {
			assert.Empty(t, validation.IsEnvVarName(e.Name), "%s: env name %q", m, e.Name)
			env[e.Name] = true
		}
		ports := map[string]bool{}
		for _, p := range c.Ports {
			assert.Empty(t, validation.IsValidPortName(p.Name), "%s: port name %q", m, p.Name)
			assert.Empty(t, validation.IsValidPortNum(int(p.ContainerPort)), "%s: port %d", m, p.ContainerPort)
			ports[p.Name] = true
		}
		for _, probe := range []*corev1.Probe{c.ReadinessProbe, c.LivenessProbe, c.StartupProbe} {
			if probe != nil && probe.TCPSocket != nil && probe.TCPSocket.Port.StrVal != "" {
				assert.True(t, ports[probe.TCPSocket.Port.StrVal], "%s: a probe names port %q, which container %s does not have", m, probe.TCPSocket.Port.StrVal, c.Name)
			}
		}
		for _, arg := range append(slices.Clone(c.Command), c.Args...) {
			for _, ref := range varRef.FindAllStringSubmatch(arg, -1) {
				assert.True(t, env[ref[1]], "%s: container %s's command uses $(%s), which its env does not set", m, c.Name, ref[1])
			}
		}
	}
}

var varRef = regexp.MustCompile(`\$\(([A-Za-z_][A-Za-z0-9_]*)\)`)

// expand does what Kubernetes does to a container's command and args:
// $(NAME) becomes NAME's value when env has it, $$ becomes $, and anything
// else stays as written.
func expand(s string, env map[string]string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch {
		case strings.HasPrefix(s[i:], "$$"):
			b.WriteByte('$')
			i++
		case strings.HasPrefix(s[i:], "$("):
			end := strings.IndexByte(s[i:], ')')
			if end > 0 {
				if v, ok := env[s[i+2:i+end]]; ok {
					b.WriteString(v)
					i += end
					continue
				}
			}
			b.WriteByte(s[i])
		default:
			b.WriteByte(s[i])
		}
	}
	return b.String()
}

func TestExpandIsKubernetesExpansion(t *testing.T) {
	env := map[string]string{"A": "1", "B": "two"}
	for in, want := range map[string]string{
		"--x=$(A)":       "--x=1",
		"$(A)/$(B).json": "1/two.json",
		"$(C)":           "$(C)",
		"$$(A)":          "$(A)",
		"$(A":            "$(A",
		"plain":          "plain",
	} {
		assert.Equal(t, want, expand(in, env), in)
	}
}
