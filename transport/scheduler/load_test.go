package scheduler

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/ocluster-go/ocluster/runners"
	"github.com/ocluster-go/ocluster/trace"
	"github.com/ocluster-go/ocluster/transport/client"
)

// loadRunner ends the load's jobs by their number: job 2 fails, job 3
// runs until cancelled, the others succeed.
type loadRunner struct{}

func (loadRunner) Run(ctx context.Context, job *runners.Job, _ string, log io.Writer) (string, error) {
	switch text := job.Docker.DockerfileContents; {
	case strings.Contains(text, " job 2\n"):
		return "", errors.New("job 2 fails")
	case strings.Contains(text, " job 3\n"):
		<-ctx.Done()
		return "", runners.ErrCancelled
	}
	return "ok", nil
}

// A workload played against a live scheduler: each job's outcome is
// counted for its client, a cancel event cancels its job, and a refused
// submission is counted, not fatal.
func TestLoad(t *testing.T) {
	c := startCluster(t, clusterOptions{})
	t.Cleanup(func() { c.checkGauges(t) })
	c.startWorker("worker-1", 2, loadRunner{}, c.pools["pool"])
	a := c.connectClient(c.addClient("a"))
	b := c.connectClient(c.addClient("b"))
	events := []trace.Event{
		{T: 0, Kind: trace.Register, Pool: "pool", Worker: "ignored", Capacity: 1},
		{T: 0.01, Kind: trace.Submit, Pool: "pool", Job: 1, Client: "a", Hint: "h1"},
		{T: 0.02, Kind: trace.Submit, Pool: "pool", Job: 2, Client: "b"},
		{T: 0.03, Kind: trace.Submit, Pool: "pool", Job: 3, Client: "a", Urgent: true},
		{T: 0.04, Kind: trace.Submit, Pool: "no-such-pool", Job: 4, Client: "b"},
		{T: 0.5, Kind: trace.Cancel, Pool: "pool", Job: 3},
	}
	counts, err := client.Load(context.Background(), client.LoadConfig{
		Clients: map[string]*client.Submission{"a": a.sub, "b": b.sub}, Events: events, Speed: 1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]client.LoadCounts{
		"a": {Submitted: 2, Finished: 1, Cancelled: 1},
		"b": {Submitted: 2, Failed: 1, Refused: 1},
	}
	for name, w := range want {
		if counts[name] != w {
			t.Errorf("client %s: %+v, want %+v", name, counts[name], w)
		}
	}

	if _, err := client.Load(context.Background(), client.LoadConfig{Clients: map[string]*client.Submission{"a": a.sub}, Events: events, Speed: 1}, nil); err == nil || !strings.Contains(err.Error(), `"b"`) {
		t.Errorf("a workload with a client lacking a capability: %v", err)
	}
	if _, err := client.Load(context.Background(), client.LoadConfig{Events: events}, nil); err == nil || !strings.Contains(err.Error(), "speed") {
		t.Errorf("speed 0: %v", err)
	}
}
