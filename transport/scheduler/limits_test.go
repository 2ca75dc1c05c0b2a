package scheduler

import (
	"context"
	"errors"
	"io"
	"net"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"capnproto.org/go/capnp/v3/exc"
	"capnproto.org/go/capnp/v3/rpc"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ocluster-go/ocluster/core"
	"github.com/ocluster-go/ocluster/runners"
	"github.com/ocluster-go/ocluster/transport/wire"
	"github.com/ocluster-go/ocluster/transport/worker"
)

// Names of clients, workers and pools end up in logs, paths and .cap
// files: the ones that would read wrongly there are refused.
func TestNamesAreChecked(t *testing.T) {
	for _, bad := range []string{"", " ", "  ", " lead", "trail ", "\tx", "a/b", `a\b`, "x/../../escaped", "a\nb", "\x7f", ".", "..", strings.Repeat("x", 201)} {
		assert.Error(t, wire.CheckName("client id", bad), "%q", bad)
	}
	for _, good := range []string{"ci", "worker-1", "a b", "ocaml.ci", "x..y", strings.Repeat("x", 200)} {
		assert.NoError(t, wire.CheckName("client id", good), "%q", good)
	}
}

func TestSchedulerRefusesABadPoolName(t *testing.T) {
	id, err := wire.LoadOrCreateIdentity(filepath.Join(t.TempDir(), "key.pem"))
	require.NoError(t, err)
	_, err = New(Config{Pools: []string{"linux", "x/../../escaped"}, Policy: "ocluster", Identity: id})
	assert.ErrorContains(t, err, `pool name "x/../../escaped" has a control character or a slash`)
}

// The wire carries a capacity in 32 bits: 4294967297 would arrive as 1.
// The agent refuses what the scheduler would not take, before it
// connects.
func TestAgentRefusesACapacityOutOfRange(t *testing.T) {
	for _, c := range []int{0, -1, core.MaxCapacity + 1, 4294967297} {
		_, err := worker.New(worker.Config{Name: "w", Capacity: c, StateDir: t.TempDir(), Runners: map[string]runners.Runner{"docker": instant{}}})
		assert.ErrorContains(t, err, "a worker runs from 1 to 1048576 jobs at a time", "capacity %d", c)
	}
}

// A description past the frame limit would make the scheduler drop the
// connection, a "broken pipe" to the client: the client refuses to send
// it, says why, and its connection goes on serving.
func TestDescriptionPastTheFrameLimitIsNotSent(t *testing.T) {
	c := startCluster(t, clusterOptions{})
	s := c.connectClient(c.addClient("client"))
	m := newMockRunner()
	c.startWorker("worker-1", 1, m, c.pools["pool"])
	huge := &runners.Job{Docker: &runners.DockerBuild{DockerfileContents: strings.Repeat("x", wire.MaxMessage+1)}}
	_, err := s.sub.Submit(context.Background(), "pool", huge, false)
	require.ErrorContains(t, err, "the job description is too large to send")
	m.set("after", "", nil)
	expect(t, "a job on the same connection", s.run(t, "after"), "Building on worker-1\nBuilding after\nJob succeeded\n")
}

// A call whose message could not be written, because the connection broke
// under it, is the worker lost, not the job failed; a failure the worker
// answered with is the job's.
func TestLostWithConnection(t *testing.T) {
	broken := &net.OpError{Op: "write", Net: "tcp", Err: syscall.EPIPE}
	for _, err := range []error{
		exc.WrapError("send message", broken),
		exc.WrapError("send message", io.ErrClosedPipe),
		exc.New(exc.Disconnected, "", "the peer went away"),
		rpc.ErrConnClosed,
	} {
		assert.True(t, lostWithConnection(err), "%v", err)
	}
	for _, err := range []error{
		exc.New(exc.Failed, "", "Build failed: exit 1"),
		errors.New("docker build: no space left on device"),
	} {
		assert.False(t, lostWithConnection(err), "%v", err)
	}
}
