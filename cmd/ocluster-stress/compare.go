package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/ocluster-go/ocluster/sim"
	"github.com/ocluster-go/ocluster/sim/report"
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
			return printComparison(os.Stdout, args[0], a, args[1], b)
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
// first. Durations read as in ocluster-sim's tables, and a difference of
// two percentages is in percentage points ("pts"): 90% against 80% is
// +10 pts, not +10%.
func printComparison(w io.Writer, nameA string, a *sim.Result, nameB string, b *sim.Result) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "metric\t%s\t%s\tdifference\t\n", nameA, nameB)
	row := func(name, x, y, diff string) { fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t\n", name, x, y, diff) }
	jobs := func(name string, x, y int) {
		row(name, strconv.Itoa(x), strconv.Itoa(y), fmt.Sprintf("%+d", y-x))
	}
	duration := func(name string, x, y float64) {
		diff := report.Seconds(y - x)
		if y >= x {
			diff = "+" + diff
		}
		row(name, report.Seconds(x), report.Seconds(y), diff)
	}
	share := func(name string, x, y float64) {
		row(name, fmt.Sprintf("%.1f%%", 100*x), fmt.Sprintf("%.1f%%", 100*y), fmt.Sprintf("%+.1f pts", 100*(y-x)))
	}
	stats := func(prefix string, x, y sim.Stats) {
		jobs(prefix+"jobs", x.Jobs, y.Jobs)
		jobs(prefix+"finished", x.Finished, y.Finished)
		jobs(prefix+"failed", x.Failed, y.Failed)
		duration(prefix+"wait p50", x.WaitP50S, y.WaitP50S)
		duration(prefix+"wait p95", x.WaitP95S, y.WaitP95S)
		duration(prefix+"wait p99", x.WaitP99S, y.WaitP99S)
		share(prefix+"cache hit rate", x.CacheHitRate, y.CacheHitRate)
	}
	stats("", a.Stats, b.Stats)
	share("utilisation", a.Utilisation, b.Utilisation)
	row("fairness (Jain)", fmt.Sprintf("%.3f", a.Jain), fmt.Sprintf("%.3f", b.Jain), fmt.Sprintf("%+.3f", b.Jain-a.Jain))
	for _, ca := range a.Clients {
		for _, cb := range b.Clients {
			if ca.Pool == cb.Pool && ca.Client == cb.Client {
				stats(ca.Client+": ", ca.Stats, cb.Stats)
			}
		}
	}
	return tw.Flush()
}
