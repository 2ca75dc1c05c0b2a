package wire

import (
	"errors"

	"capnproto.org/go/capnp/v3/exc"
)

// RemoteText is the text a peer gave an error, without the method
// names the RPC layer wraps around it on the way.
func RemoteText(err error) string {
	var e *exc.Exception
	if !errors.As(err, &e) {
		return err.Error()
	}
	err = e
	for next := errors.Unwrap(err); next != nil; next = errors.Unwrap(err) {
		err = next
	}
	return err.Error()
}
