// Command ocluster-sim is the policy lab: it simulates OCluster-style
// clusters over the same scheduling core production runs, compares
// policies, replays recorded traces, sweeps parameters, and runs the .scn
// scheduling scenarios.
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

// Unwrap lets a caller ask what went wrong (a missing file) beneath the
// exit code.
func (e *exitError) Unwrap() error { return e.err }

func main() {
	root := &cobra.Command{
		Use:   "ocluster-sim",
		Short: "Simulate OCluster's scheduling and compare policies",
		Long: `ocluster-sim simulates build clusters over the scheduling core that the
production scheduler runs. With no command it runs the default comparison:
every policy on the built-in scenarios, over several seeds.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Args:          cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return defaultComparison(cmd.OutOrStdout())
		},
	}
	root.AddCommand(runCommand(), compareCommand(), replayCommand(), sweepCommand(), mergeCommand(), planCommand(), fitCommand(),
		policiesCommand(), scenariosCommand(), scriptCommand())
	if err := root.Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "ocluster-sim:", err)
		var ee *exitError
		if errors.As(err, &ee) {
			os.Exit(ee.code)
		}
		os.Exit(2)
	}
}
