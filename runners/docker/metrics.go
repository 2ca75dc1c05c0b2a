package docker

import "github.com/prometheus/client_golang/prometheus"

// The runner's metrics are OCluster's worker summaries (sum and count, no
// quantiles): the agent registers any runner that is a
// prometheus.Collector.
func newPushTime() prometheus.Summary {
	return prometheus.NewSummary(prometheus.SummaryOpts{
		Name: "ocluster_worker_docker_push_time_seconds",
		Help: "Time spent pushing images to registries, retries included",
	})
}

func newPruneTime() prometheus.Summary {
	return prometheus.NewSummary(prometheus.SummaryOpts{
		Name: "ocluster_worker_docker_prune_time_seconds",
		Help: "Time spent pruning Docker's images and build cache",
	})
}

// Describe implements prometheus.Collector.
func (r *Runner) Describe(ch chan<- *prometheus.Desc) {
	r.pushTime.Describe(ch)
	r.pruneTime.Describe(ch)
}

// Collect implements prometheus.Collector.
func (r *Runner) Collect(ch chan<- prometheus.Metric) {
	r.pushTime.Collect(ch)
	r.pruneTime.Collect(ch)
}
