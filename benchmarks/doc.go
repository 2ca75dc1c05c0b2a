// Package benchmarks holds the project's go test benchmarks of the
// scheduling policies and of the machinery around them. Each reports
// domain units (jobs/s, B/job) with b.ReportMetric; the tables that claims
// rest on are committed beside them (see README.md here) with the command
// that produced them.
package benchmarks
