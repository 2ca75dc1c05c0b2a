package wire

import (
	"context"
	"sync"

	capnp "capnproto.org/go/capnp/v3"
	"capnproto.org/go/capnp/v3/server"
)

// Lazy makes capabilities whose server is made at their first call, for
// kinds that come in hundreds of thousands and are mostly never called (a
// queued job's ticket): the RPC library's server.Server runs a goroutine
// and keeps a call queue from the moment it is made, some 4 KiB a
// capability. Until its first call, a capability of a Lazy is a hook of
// four words.
//
// What a client sees is what a Guarded server shows: once made, the
// server answers every call, in the order they come, and unknown methods
// fail cleanly; the value's Shutdown runs once the capability is released
// and its calls in progress have returned (at once if it had none).
type Lazy[T server.Shutdowner] struct {
	newServer func(T) *server.Server
}

// NewLazy makes capabilities served by newServer, which makes a generated
// server for a value, with the value as the server's Shutdowner (as a
// generated NewServer does).
func NewLazy[T server.Shutdowner](newServer func(T) *server.Server) *Lazy[T] {
	return &Lazy[T]{newServer: newServer}
}

// Client makes a capability for v.
func Client[C ~capnp.ClientKind, T server.Shutdowner](l *Lazy[T], v T) C {
	return C(capnp.NewClient(&lazyHook[T]{lazy: l, target: v}))
}

type lazyHook[T server.Shutdowner] struct {
	lazy   *Lazy[T]
	target T
	mu     sync.Mutex
	srv    *server.Server // made at the first call
}

func (h *lazyHook[T]) server() *server.Server {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.srv == nil {
		h.srv = h.lazy.newServer(h.target)
		guardUnknown(h.srv)
	}
	return h.srv
}

func (h *lazyHook[T]) Recv(ctx context.Context, r capnp.Recv) capnp.PipelineCaller {
	return h.server().Recv(ctx, r)
}

func (h *lazyHook[T]) Send(ctx context.Context, s capnp.Send) (*capnp.Answer, capnp.ReleaseFunc) {
	return h.server().Send(ctx, s)
}

func (h *lazyHook[T]) Brand() capnp.Brand { return capnp.Brand{Value: h} }

// Shutdown shuts the server down, which runs the value's Shutdown after
// the calls in progress, or runs it at once if there never was a call.
func (h *lazyHook[T]) Shutdown() {
	h.mu.Lock()
	srv := h.srv
	h.mu.Unlock()
	if srv != nil {
		srv.Shutdown()
		return
	}
	h.target.Shutdown()
}

func (h *lazyHook[T]) String() string { return "lazy capability" }
