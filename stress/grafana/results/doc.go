// Package results reads what the simulator and the scheduler leave in a
// folder: run results (result.json, from `ocluster-sim run|replay --out`),
// policy comparisons (comparison.json, from `ocluster-sim compare --out`)
// and traces (JSON Lines, from `--trace`), and lists them as a catalogue of
// named runs.
//
// It has its own small readers of those formats rather than the
// simulator's packages, so that the Grafana plugin builds as a module of
// its own. The result reader keeps every number a result holds, under its
// JSON name, so that metrics the simulator adds later are served without
// a change here.
//
// It never writes into the folder, and a file it cannot read is reported
// by name, never a panic.
package results
