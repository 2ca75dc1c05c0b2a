package wire

import (
	"testing"

	capnp "capnproto.org/go/capnp/v3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ocluster-go/ocluster/runners"
	"github.com/ocluster-go/ocluster/transport/schema"
)

// encode writes job into a new message's root description.
func encode(t testing.TB, job *runners.Job) schema.JobDescr {
	_, seg, err := capnp.NewMessage(capnp.SingleSegment(nil))
	require.NoError(t, err)
	d, err := schema.NewRootJobDescr(seg)
	require.NoError(t, err)
	require.NoError(t, FillDescr(d, job))
	return d
}

// Every kind of job crosses the wire unchanged, and the scheduler reads
// its cache hint.
func TestDescriptionRoundTrip(t *testing.T) {
	for _, job := range []*runners.Job{
		{Hint: "opam", Repository: "https://example.org/r.git", Commits: []string{"a1", "b2"}, Estimate: 12.5,
			Secrets: []runners.Secret{{ID: "token", Value: "v"}},
			Docker: &runners.DockerBuild{DockerfilePath: "Dockerfile", PushTarget: "reg/x:v1", PushUser: "u", PushPassword: "p",
				BuildArgs: []string{"A=1"}, Squash: true, BuildKit: true, IncludeGit: true}},
		{Docker: &runners.DockerBuild{DockerfileContents: "FROM scratch\n"}},
		{Hint: "spec", OBuilder: &runners.OBuilderBuild{Spec: "((from busybox))"}},
		{Custom: &runners.Custom{Kind: "sleep", Payload: []byte{1, 2, 3}}},
	} {
		d := encode(t, job)
		hint, err := ValidateDescr(d)
		require.NoError(t, err, job.Kind())
		assert.Equal(t, job.Hint, hint)
		got, err := ReadDescr(d)
		require.NoError(t, err, job.Kind())
		if len(job.Commits) == 0 {
			job.Commits = got.Commits // nil and empty are the same list on the wire
		}
		if len(job.Secrets) == 0 {
			job.Secrets = got.Secrets
		}
		assert.Equal(t, job, got, job.Kind())
	}
}

// Whatever bytes a peer sends as a description, checking and reading it
// return an error or a job, never a panic.
func FuzzReadDescr(f *testing.F) {
	for _, job := range []*runners.Job{
		{Hint: "h", Docker: &runners.DockerBuild{DockerfileContents: "FROM scratch\n", PushTarget: "r/x:1"}},
		{OBuilder: &runners.OBuilderBuild{Spec: "((from busybox))"}},
	} {
		data, err := encode(f, job).Message().Marshal()
		require.NoError(f, err)
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		msg, err := capnp.Unmarshal(data)
		if err != nil {
			return
		}
		msg.ResetReadLimit(4 * MaxMessage)
		d, err := schema.ReadRootJobDescr(msg)
		if err != nil {
			return
		}
		if _, err := ValidateDescr(d); err != nil {
			return
		}
		_, _ = ReadDescr(d)
	})
}
