package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/ocluster-go/ocluster/cmd/internal/policyflag"
	"github.com/ocluster-go/ocluster/core/scenario"
)

func scriptCommand() *cobra.Command {
	var policy string
	var print bool
	cmd := &cobra.Command{
		Use:   "script [--policy NAME] [--print] FILE...",
		Short: "Run .scn scheduling scenarios and compare their output",
		Long: `Runs each scenario file against the core (one pool, a fake clock, no
network) and compares every command's output with the "> " lines below it.
A mismatch prints a unified diff; the exit code is 1 if any file differs
and 2 if a file cannot be run. With --print, prints each file with its
actual output instead of comparing.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, files []string) error {
			if err := checkPolicy(policy); err != nil {
				return err
			}
			failed, broken := 0, 0
			for _, file := range files {
				src, err := os.ReadFile(file)
				if err != nil {
					fmt.Fprintln(os.Stderr, err)
					broken++
					continue
				}
				res, err := scenario.Run(file, string(src), scenario.Options{Policy: policy, CheckInvariants: true})
				if err != nil {
					fmt.Fprintf(os.Stderr, "%s: %v\n", file, err)
					broken++
					continue
				}
				switch {
				case print:
					fmt.Print(res.Actual)
				case !res.Match:
					fmt.Print(res.Diff)
					failed++
				}
			}
			switch {
			case broken > 0:
				return &exitError{2, fmt.Errorf("%d of %d scenario files could not be run", broken, len(files))}
			case failed > 0:
				return &exitError{1, fmt.Errorf("%d of %d scenario files differ", failed, len(files))}
			}
			return nil
		},
	}
	policyflag.AddPolicy(cmd.Flags(), &policy, "ocluster", "scheduling policy the scenarios run under")
	cmd.Flags().BoolVar(&print, "print", false, "print each file with its actual output instead of comparing")
	return cmd
}
