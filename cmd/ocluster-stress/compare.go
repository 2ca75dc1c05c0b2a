package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/ocluster-go/ocluster/sim"
)

func compareCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "compare A/result.json B/result.json",
		Short: "Put two results side by side: a simulated and a live run (all --out), or any two of ocluster-sim run --out",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			a, err := readResult(args[0])
			if err != nil {
				return err
			}
			b, err := readResult(args[1])
			if err != nil {
				return err
			}
			printComparison(os.Stdout, args[0], a, args[1], b)
			return nil
		},
	}
}

func readResult(path string) (*sim.Result, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var r sim.Result
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("%s: not a result of ocluster-sim or ocluster-stress (%v)", path, err)
	}
	return &r, nil
}

// printComparison writes the headline metrics of two results side by
// side, overall and per client, with the second's difference from the
// first.
func printComparison(w io.Writer, nameA string, a *sim.Result, nameB string, b *sim.Result) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "metric\t%s\t%s\tdifference\t\n", nameA, nameB)
	row := func(name string, x, y float64, unit string) {
		fmt.Fprintf(tw, "%s\t%.3g%s\t%.3g%s\t%+.3g%s\t\n", name, x, unit, y, unit, y-x, unit)
	}
	stats := func(prefix string, x, y sim.Stats) {
		row(prefix+"jobs", float64(x.Jobs), float64(y.Jobs), "")
		row(prefix+"finished", float64(x.Finished), float64(y.Finished), "")
		row(prefix+"failed", float64(x.Failed), float64(y.Failed), "")
		row(prefix+"wait p50", x.WaitP50S, y.WaitP50S, " s")
		row(prefix+"wait p95", x.WaitP95S, y.WaitP95S, " s")
		row(prefix+"wait p99", x.WaitP99S, y.WaitP99S, " s")
		row(prefix+"cache hit rate", 100*x.CacheHitRate, 100*y.CacheHitRate, "%")
	}
	stats("", a.Stats, b.Stats)
	row("utilisation", 100*a.Utilisation, 100*b.Utilisation, "%")
	row("fairness (Jain)", a.Jain, b.Jain, "")
	for _, ca := range a.Clients {
		for _, cb := range b.Clients {
			if ca.Pool == cb.Pool && ca.Client == cb.Client {
				stats(ca.Client+": ", ca.Stats, cb.Stats)
			}
		}
	}
	tw.Flush()
}
