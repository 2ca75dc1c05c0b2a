// Package cli is what the commands share about their command line: how a
// command ends (the exit code that tells a mistake in how it was called
// from a failure), connecting with a .cap file, and a clean exit on a
// signal.
package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/ocluster-go/ocluster/transport"
)

// usageError is a mistake in how a command was called: Exit ends the
// command with 2 for it, as for cobra's own complaints about flags and
// arguments.
type usageError struct{ error }

func (e usageError) Unwrap() error { return e.error }

// Usage marks err as a mistake in how the command was called.
func Usage(err error) error { return usageError{err} }

// Usagef makes a usage error.
func Usagef(format string, args ...any) error {
	return usageError{fmt.Errorf(format, args...)}
}

// ErrShown is a failure the command has already told the user about, in
// its own words on its own output: Exit exits with 1 and prints nothing.
var ErrShown = errors.New("failed (as shown)")

// Exit ends a command that returned err: it prints err and exits with 2
// for a usage error, 0 for a worker that stops to be restarted on a new
// version, 1 for anything else. A nil err returns.
func Exit(err error) {
	if err == nil {
		return
	}
	if !errors.Is(err, ErrShown) {
		fmt.Fprintln(os.Stderr, err)
	}
	switch {
	case isUsage(err):
		os.Exit(2)
	case errors.Is(err, transport.ErrSelfUpdate):
		os.Exit(0)
	}
	os.Exit(1)
}

// isUsage recognises usage errors, cobra's own among them.
func isUsage(err error) bool {
	var ue usageError
	if errors.As(err, &ue) {
		return true
	}
	for _, prefix := range []string{"required flag", "unknown flag", "unknown shorthand flag", "unknown command", "invalid argument", "bad flag syntax", "flag needs", "accepts ", "requires "} {
		if strings.HasPrefix(err.Error(), prefix) {
			return true
		}
	}
	return false
}

// Connect reads a .cap file, connects to the scheduler it names and runs
// f on the connection until f returns or the user interrupts.
func Connect(capPath string, f func(ctx context.Context, conn *transport.Conn) error) error {
	ref, err := transport.ReadCapFile(capPath)
	if err != nil {
		return Usage(err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	conn, err := transport.Connect(ctx, ref, nil)
	if err != nil {
		return err
	}
	defer conn.Close()
	return f(ctx, conn)
}

// UntilSignalled runs f with a context that ends on SIGINT or SIGTERM;
// f's ending because of the signal is a clean stop, not an error.
func UntilSignalled(f func(ctx context.Context) error) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := f(ctx)
	if ctx.Err() != nil {
		return nil
	}
	return err
}
