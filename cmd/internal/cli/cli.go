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
	"syscall"

	"github.com/ocluster-go/ocluster/transport/client"
	"github.com/ocluster-go/ocluster/transport/wire"
	"github.com/ocluster-go/ocluster/transport/worker"
	"github.com/spf13/cobra"
)

// usageError is a mistake in how a command was called: exit ends the
// command with 2 for it, as Execute does for cobra's own complaints about
// flags and arguments.
type usageError struct{ error }

func (e usageError) Unwrap() error { return e.error }

// Usage marks err as a mistake in how the command was called.
func Usage(err error) error { return usageError{err} }

// Usagef makes a usage error.
func Usagef(format string, args ...any) error {
	return usageError{fmt.Errorf(format, args...)}
}

// ErrShown is a failure the command has already told the user about, in
// its own words on its own output: Execute exits with 1 and prints nothing.
var ErrShown = errors.New("failed (as shown)")

// exit ends a command that returned err: it prints err and exits with 2
// for a usage error, 0 for a worker that stops to be restarted on a new
// version, 1 for anything else. A nil err returns.
func exit(err error) {
	if err == nil {
		return
	}
	if !errors.Is(err, ErrShown) {
		fmt.Fprintln(os.Stderr, err)
	}
	switch {
	case isUsage(err):
		os.Exit(2)
	case errors.Is(err, worker.ErrSelfUpdate):
		os.Exit(0)
	}
	os.Exit(1)
}

func isUsage(err error) bool {
	var ue usageError
	return errors.As(err, &ue)
}

// Execute runs a command tree and ends as exit does. Whatever cobra itself
// refuses (an unknown command or flag, a bad flag value, a missing
// required flag, arguments the command does not take) is a usage error;
// an error a command returns is what that command made it.
func Execute(root *cobra.Command) { exit(execute(root)) }

func execute(root *cobra.Command) error {
	markCommandErrors(root)
	err := root.Execute()
	var ce commandError
	switch {
	case errors.As(err, &ce):
		return ce.error
	case err != nil:
		return usageError{err}
	}
	return nil
}

// commandError is an error that a command's RunE returned, told apart
// from the errors cobra returns before it runs the command.
type commandError struct{ error }

func markCommandErrors(c *cobra.Command) {
	if run := c.RunE; run != nil {
		c.RunE = func(cmd *cobra.Command, args []string) error {
			if err := run(cmd, args); err != nil {
				return commandError{err}
			}
			return nil
		}
	}
	for _, sub := range c.Commands() {
		markCommandErrors(sub)
	}
}

// Connect reads a .cap file, connects to the scheduler it names and runs
// f on the connection until f returns or the user interrupts.
func Connect(capPath string, f func(ctx context.Context, conn *client.Conn) error) error {
	ref, err := wire.ReadCapFile(capPath)
	if err != nil {
		return Usage(err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	conn, err := client.Connect(ctx, ref, nil)
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
