package wire

import (
	"context"
	"errors"
	"fmt"

	capnp "capnproto.org/go/capnp/v3"
	"capnproto.org/go/capnp/v3/server"
	rpccp "capnproto.org/go/capnp/v3/std/capnp/rpc"

	"github.com/ocluster-go/ocluster/transport/schema"
)

// methodKey names a method on the wire.
type methodKey struct {
	iface  uint64
	method uint16
}

// pipelinable lists, per method, the result fields that hold a capability
// a client may pipeline calls on. Anything else aimed at a pending answer
// is refused before the RPC layer sees it: at the pinned go-capnp version,
// a pipelined call whose target turns out not to be a callable capability
// panics the whole process (a nil pipeline caller in the answer queue), and
// a call aimed at its own answer does too.
var pipelinable = map[methodKey][]uint16{
	{schema.Bootstrap_TypeID, 0}:    {0}, // restore -> cap
	{schema.Registration_TypeID, 0}: {0}, // register -> queue
	{schema.Submission_TypeID, 0}:   {0}, // submit -> ticket
	{schema.Ticket_TypeID, 0}:       {0}, // job -> job
	{schema.Admin_TypeID, 1}:        {0}, // pool -> pool
	{schema.Admin_TypeID, 2}:        {0}, // addClient -> submission
	{schema.PoolAdmin_TypeID, 2}:    {0}, // worker -> worker
}

var bootstrapMethod = methodKey{method: 0xffff}

// guard checks the incoming messages of one connection. The transport
// calls it from the connection's single reader goroutine.
type guard struct {
	answers map[uint32]methodKey // questions asked of us, by id
}

var errRefused = errors.New("refused a pipelined call the RPC layer cannot handle safely")

func (g *guard) check(m *capnp.Message) error {
	msg, err := rpccp.ReadRootMessage(m)
	if err != nil {
		return err
	}
	switch msg.Which() {
	case rpccp.Message_Which_bootstrap:
		b, err := msg.Bootstrap()
		if err != nil {
			return err
		}
		g.answers[b.QuestionId()] = bootstrapMethod
	case rpccp.Message_Which_finish:
		f, err := msg.Finish()
		if err != nil {
			return err
		}
		delete(g.answers, f.QuestionId())
	case rpccp.Message_Which_call:
		call, err := msg.Call()
		if err != nil {
			return err
		}
		qid := call.QuestionId()
		target, err := call.Target()
		if err != nil {
			return err
		}
		if target.Which() == rpccp.MessageTarget_Which_promisedAnswer {
			pa, err := target.PromisedAnswer()
			if err != nil {
				return err
			}
			if pa.QuestionId() == qid {
				return fmt.Errorf("%w: call %d targets its own answer", errRefused, qid)
			}
			ops, err := pa.Transform()
			if err != nil {
				return err
			}
			if key, known := g.answers[pa.QuestionId()]; known {
				if err := allowed(key, ops); err != nil {
					return err
				}
			}
			// An unknown answer id is refused cleanly by the RPC layer.
		}
		g.answers[qid] = methodKey{call.InterfaceId(), call.MethodId()}
	}
	return nil
}

func allowed(key methodKey, ops rpccp.PromisedAnswer_Op_List) error {
	if key == bootstrapMethod {
		if ops.Len() == 0 {
			return nil
		}
		return fmt.Errorf("%w: a transform of the bootstrap answer", errRefused)
	}
	if ops.Len() != 1 || ops.At(0).Which() != rpccp.PromisedAnswer_Op_Which_getPointerField {
		return fmt.Errorf("%w: a transform of the answer of method %x.%d", errRefused, key.iface, key.method)
	}
	field := ops.At(0).GetPointerField()
	for _, ok := range pipelinable[key] {
		if ok == field {
			return nil
		}
	}
	return fmt.Errorf("%w: field %d of the answer of method %x.%d", errRefused, field, key.iface, key.method)
}

// Guarded turns a generated server into a client whose unknown methods fail
// cleanly (the library returns a nil pipeline caller for them otherwise).
func Guarded[C ~capnp.ClientKind](srv *server.Server) C {
	guardUnknown(srv)
	return C(capnp.NewClient(srv))
}

func guardUnknown(srv *server.Server) {
	srv.HandleUnknownMethod = func(m capnp.Method) *server.Method {
		return &server.Method{Method: m, Impl: func(context.Context, *server.Call) error {
			return capnp.Unimplemented("this capability has no method " + m.String() + ": is the .cap file of the right kind?")
		}}
	}
}
