package wire

import (
	"context"
	"testing"

	capnp "capnproto.org/go/capnp/v3"
	"capnproto.org/go/capnp/v3/server"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ocluster-go/ocluster/transport/schema"
)

// testTicket is a capability of a Lazy: cancel reports its name and
// blocks until release closes; Shutdown closes shut.
type testTicket struct {
	name      string
	cancelled chan string
	release   chan struct{}
	shut      chan struct{}
}

func newTestTicket(name string) *testTicket {
	return &testTicket{name: name, cancelled: make(chan string, 1), release: make(chan struct{}), shut: make(chan struct{})}
}

func (t *testTicket) Shutdown() { close(t.shut) }

func (t *testTicket) Job(context.Context, schema.Ticket_job) error { return nil }

func (t *testTicket) Cancel(ctx context.Context, call schema.Ticket_cancel) error {
	call.Go()
	t.cancelled <- t.name
	<-t.release
	return nil
}

func (t *testTicket) Status(context.Context, schema.Ticket_status) error { return nil }

var testLazy = NewLazy(func(t *testTicket) *server.Server { return schema.Ticket_NewServer(t) })

func TestLazyShutdownWithoutCalls(t *testing.T) {
	tk := newTestTicket("t")
	Client[schema.Ticket](testLazy, tk).Release()
	<-tk.shut
}

func TestLazyShutdownWaitsForCallsInProgress(t *testing.T) {
	tk := newTestTicket("t")
	c := Client[schema.Ticket](testLazy, tk)
	f, release := c.Cancel(context.Background(), nil)
	defer release()
	assert.Equal(t, "t", <-tk.cancelled) // the call is in progress
	c.Release()
	select {
	case <-tk.shut:
		t.Fatal("the value shut down while a call on it was in progress")
	default:
	}
	close(tk.release)
	_, err := f.Struct()
	require.NoError(t, err)
	<-tk.shut // once it has returned, it does
}

func TestLazyUnknownMethodFails(t *testing.T) {
	tk := newTestTicket("t")
	c := Client[schema.Ticket](testLazy, tk)
	defer c.Release()
	// A Ticket called as a Submission: a .cap file of the wrong kind.
	sub := schema.Submission(capnp.Client(c).AddRef())
	defer sub.Release()
	f, release := sub.Submit(context.Background(), nil)
	defer release()
	_, err := f.Struct()
	require.Error(t, err)
	assert.Contains(t, err.Error(), "this capability has no method")
}
