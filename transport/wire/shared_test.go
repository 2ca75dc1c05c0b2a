package wire

import (
	"context"
	"testing"

	capnp "capnproto.org/go/capnp/v3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ocluster-go/ocluster/transport/schema"
)

// testTicket is one capability of a Shared: cancel blocks until its
// release channel closes, and its Shutdown closes shut.
type testTicket struct {
	name    string
	release chan struct{}
	shut    chan struct{}
}

func (t *testTicket) Shutdown() { close(t.shut) }

// testTickets answers every testTicket's calls.
type testTickets struct{ cancelled chan string }

func (s testTickets) Job(context.Context, schema.Ticket_job) error { return nil }

func (s testTickets) Cancel(ctx context.Context, call schema.Ticket_cancel) error {
	call.Go()
	t := SharedTarget[*testTicket](ctx)
	s.cancelled <- t.name
	<-t.release
	return nil
}

func (s testTickets) Status(context.Context, schema.Ticket_status) error { return nil }

func newTestTicket(name string) *testTicket {
	return &testTicket{name: name, release: make(chan struct{}), shut: make(chan struct{})}
}

func TestSharedCallsReachTheirTarget(t *testing.T) {
	impl := testTickets{cancelled: make(chan string, 2)}
	shared := NewShared[*testTicket](schema.Ticket_NewServer(impl))
	defer shared.Close()
	a, b := newTestTicket("a"), newTestTicket("b")
	close(a.release)
	close(b.release)
	ca := Client[schema.Ticket](shared, a)
	cb := Client[schema.Ticket](shared, b)
	defer ca.Release()
	defer cb.Release()
	ctx := context.Background()
	for _, c := range []schema.Ticket{cb, ca} {
		f, release := c.Cancel(ctx, nil)
		_, err := f.Struct()
		release()
		require.NoError(t, err)
	}
	assert.Equal(t, "b", <-impl.cancelled)
	assert.Equal(t, "a", <-impl.cancelled)
}

func TestSharedShutdownWaitsForCallsInProgress(t *testing.T) {
	impl := testTickets{cancelled: make(chan string, 1)}
	shared := NewShared[*testTicket](schema.Ticket_NewServer(impl))
	defer shared.Close()
	tk := newTestTicket("t")
	c := Client[schema.Ticket](shared, tk)
	f, release := c.Cancel(context.Background(), nil)
	defer release()
	<-impl.cancelled // the call is in progress
	c.Release()
	select {
	case <-tk.shut:
		t.Fatal("the target shut down while a call on it was in progress")
	default:
	}
	close(tk.release)
	_, err := f.Struct()
	require.NoError(t, err)
	<-tk.shut // and once it has returned, it does
}

func TestSharedShutdownWithoutCalls(t *testing.T) {
	shared := NewShared[*testTicket](schema.Ticket_NewServer(testTickets{}))
	defer shared.Close()
	tk := newTestTicket("t")
	Client[schema.Ticket](shared, tk).Release()
	<-tk.shut
}

func TestSharedUnknownMethodFails(t *testing.T) {
	shared := NewShared[*testTicket](schema.Ticket_NewServer(testTickets{}))
	defer shared.Close()
	tk := newTestTicket("t")
	c := Client[schema.Ticket](shared, tk)
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

func TestSharedCallsAfterCloseFail(t *testing.T) {
	shared := NewShared[*testTicket](schema.Ticket_NewServer(testTickets{}))
	tk := newTestTicket("t")
	c := Client[schema.Ticket](shared, tk)
	shared.Close()
	f, release := c.Job(context.Background(), nil)
	_, err := f.Struct()
	release()
	require.Error(t, err)
	c.Release()
	<-tk.shut
}
