// Package source is the Grafana data source over a folder of simulation
// results and traces (package results): it answers Grafana's queries with
// data frames and its health checks with the folder's state.
//
// # Time axis
//
// Simulated time is virtual: t seconds into a run. Frames put it on
// Grafana's time axis at the Unix epoch, 1970-01-01T00:00:00Z plus t, so
// every simulated run starts at the same instant and runs overlay; view
// them in UTC over a range from the epoch (the simulated-runs dashboard
// does). A trace whose header has an origin (the wall-clock time of its
// t = 0) is placed at that origin instead, next to the live metrics of the
// same hours. The query's time range does not filter: a run is returned
// whole.
//
// # Queries
//
// The query type (Grafana's queryType) says what a query asks for; its
// JSON fields narrow it:
//
//	run       a run's name, as the runs query lists it (a result's folder,
//	          COMPARISON/POLICY/seed-N for a comparison's runs, a trace's
//	          path), or a comparison's name for the comparison query
//	metric    what to measure (see each type)
//	pool      narrow to one pool
//	client    narrow to one client (pool tells apart clients of one name)
//	priority  all (default), urgent or normal (stats only)
//	policy    keep only runs or policies of this policy
//	kind      runs only: result, trace or comparison
//
// The types:
//
//	runs        one row per run and comparison: run, kind, scenario,
//	            policy, sample, file (for dashboard variables)
//	stats       one row per run: a number of result.json (wait_p95_s,
//	            cache_hit_rate, utilisation, jain, ...: every number the
//	            result holds, by its JSON name) of the run, a pool or a client
//	series      a time series: for results, the sampled queued, running,
//	            capacity, hinted_starts, hits, and the ratios utilisation and
//	            cache_hit_rate (queued also per client or pool); for traces,
//	            queued, running, capacity, utilisation and wait_s
//	wait_cdf    the waits' percentiles (0..100) of a client, or of each
//	            client when none is set
//	comparison  one row per metric and policy of a comparison: the mean,
//	            its 95% interval, and the difference from the baseline
//
// With no run set, stats and series cover every run (of the policy, when
// set) that has the metric, pool and client asked for. A named run,
// metric, pool or client that does not exist fails the query with an
// error that lists those that do.
package source
