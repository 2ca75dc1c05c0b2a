// Package report renders simulation results and policy comparisons for
// people and programs: text tables, CSV, JSON, and an HTML report with
// plots. It only formats what package sim measured; it never simulates.
package report
