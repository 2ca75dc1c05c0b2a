package wire

import (
	"context"
	"sync"
	"sync/atomic"

	capnp "capnproto.org/go/capnp/v3"
	"capnproto.org/go/capnp/v3/exc"
	"capnproto.org/go/capnp/v3/server"
)

// Shared serves many capabilities of one kind through one generated
// server, for kinds that come in hundreds of thousands (a queued job's
// ticket): the RPC library's server.Server runs a goroutine and keeps a
// call queue from the moment it is made, some 4 KiB a capability even
// when nobody calls it. Each capability of a Shared is a small hook that
// hands its calls to the one server, tagged with the capability's own
// value of type T, which the methods read back with SharedTarget.
//
// What a client sees is what a capability of its own server would show:
// its calls start in the order they arrive, a method that does not call
// Go holds up the next call (of every capability of the kind, so methods
// should call it unless they answer at once), unknown methods fail as
// Guarded's do, and once the capability is released and its calls in
// progress have returned, its value's Shutdown runs. That Shutdown must
// not block: it runs on the goroutine that released the capability or
// returned its last call.
type Shared[T server.Shutdowner] struct {
	srv    *server.Server
	mu     sync.RWMutex
	closed bool // calls after Close fail: the server's queue is gone
}

// NewShared serves the methods of srv, made with a generated NewServer,
// for every capability Client makes.
func NewShared[T server.Shutdowner](srv *server.Server) *Shared[T] {
	guardUnknown(srv)
	return &Shared[T]{srv: srv}
}

// Close ends the server's goroutine once the calls queued have run; calls
// that arrive later fail as on a closed connection.
func (s *Shared[T]) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closed {
		s.closed = true
		s.srv.Shutdown()
	}
}

// Client makes a capability answered by the shared server whose methods
// see v as their target; v's Shutdown runs when the capability is
// released, after its calls in progress.
func Client[C ~capnp.ClientKind, T server.Shutdowner](s *Shared[T], v T) C {
	return C(capnp.NewClient(&sharedHook[T]{shared: s, target: v}))
}

type sharedTargetKey struct{}

// SharedTarget is the value of the capability a method of a Shared[T]
// was called on.
func SharedTarget[T server.Shutdowner](ctx context.Context) T {
	v, _ := ctx.Value(sharedTargetKey{}).(T)
	return v
}

// sharedHook is one capability of a Shared: a few words.
type sharedHook[T server.Shutdowner] struct {
	shared *Shared[T]
	target T
	// state counts the calls received and not yet returned, plus released
	// once the capability is: whoever brings it to exactly released runs
	// the target's Shutdown.
	state atomic.Uint64
}

const released = 1 << 32

func (h *sharedHook[T]) Recv(ctx context.Context, r capnp.Recv) capnp.PipelineCaller {
	h.state.Add(1)
	r.Returner = &countedReturner[T]{Returner: r.Returner, hook: h}
	s := h.shared
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		r.Reject(exc.New(exc.Disconnected, "", "the server is shutting down"))
		return nil
	}
	return s.srv.Recv(context.WithValue(ctx, sharedTargetKey{}, h.target), r)
}

// Send is a call made in this process, as server.Server makes it: the
// arguments go in a message of their own.
func (h *sharedHook[T]) Send(ctx context.Context, s capnp.Send) (*capnp.Answer, capnp.ReleaseFunc) {
	args := capnp.Struct{}
	if s.PlaceArgs != nil {
		_, seg, err := capnp.NewMessage(capnp.MultiSegment(nil))
		if err == nil {
			args, err = capnp.NewRootStruct(seg, s.ArgsSize)
		}
		if err == nil {
			if err = s.PlaceArgs(args); err != nil {
				args.Message().Release()
			}
		}
		if err != nil {
			return capnp.ErrorAnswer(s.Method, err), func() {}
		}
	}
	ret := new(capnp.StructReturner)
	pcaller := h.Recv(ctx, capnp.Recv{
		Method: s.Method,
		Args:   args,
		ReleaseArgs: func() {
			if msg := args.Message(); msg != nil {
				msg.Release()
				args = capnp.Struct{}
			}
		},
		Returner: ret,
	})
	return ret.Answer(s.Method, pcaller)
}

func (h *sharedHook[T]) Brand() capnp.Brand { return capnp.Brand{Value: h} }

func (h *sharedHook[T]) Shutdown() {
	if h.state.Add(released) == released {
		h.target.Shutdown()
	}
}

func (h *sharedHook[T]) String() string { return "shared capability" }

// countedReturner counts a call out of its capability once it has
// returned.
type countedReturner[T server.Shutdowner] struct {
	capnp.Returner
	hook *sharedHook[T]
}

func (r *countedReturner[T]) Return() {
	r.Returner.Return()
	if r.hook.state.Add(^uint64(0)) == released {
		r.hook.target.Shutdown()
	}
}
