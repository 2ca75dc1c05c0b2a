// Command ocluster-sim is the policy lab: it runs scheduling scenarios and
// simulations against the same core that production runs.
package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"
)

// exitError carries an exit code out of a command: 1 when the work failed
// (a scenario differs), 2 for bad usage or input.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }

func main() {
	root := &cobra.Command{
		Use:           "ocluster-sim",
		Short:         "Simulate OCluster's scheduling and compare policies",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(scriptCommand())
	if err := root.Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "ocluster-sim:", err)
		var ee *exitError
		if errors.As(err, &ee) {
			os.Exit(ee.code)
		}
		os.Exit(2)
	}
}
