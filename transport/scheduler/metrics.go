package scheduler

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/ocluster-go/ocluster/transport/schema"
	"github.com/ocluster-go/ocluster/transport/wire"
)

// Metrics of the scheduler, with OCluster's names and labels. The gauges
// are read from the core at scrape time, under the scheduler's lock, so
// they cannot drift from what the scheduler holds.
var (
	descSubmitted = prometheus.NewDesc("ocluster_pool_jobs_submitted_total", "Number of jobs submitted to the pool", []string{"pool"}, nil)
	descCancelled = prometheus.NewDesc("ocluster_pool_jobs_cancelled_total", "Number of jobs cancelled while queued", []string{"pool"}, nil)
	descAccepted  = prometheus.NewDesc("ocluster_pool_jobs_accepted_total", "Number of jobs accepted by workers", []string{"pool"}, nil)
	descStolen    = prometheus.NewDesc("ocluster_pool_jobs_stolen_total", "Number of jobs an idle worker took from another worker's queue", []string{"pool"}, nil)
	descConnected = prometheus.NewDesc("ocluster_pool_workers_connected", "Number of connected workers", []string{"pool"}, nil)
	descCapacity  = prometheus.NewDesc("ocluster_pool_workers_capacity", "Aggregate capacity of connected workers", []string{"pool"}, nil)
	descReady     = prometheus.NewDesc("ocluster_pool_workers_ready", "Number of workers ready to accept a new job", []string{"pool"}, nil)
	descPaused    = prometheus.NewDesc("ocluster_pool_workers_paused", "Number of workers set to inactive", []string{"pool"}, nil)
	descQueue     = prometheus.NewDesc("ocluster_pool_queue_length", "Items in the queue", []string{"queue", "pool", "priority"}, nil)
	descRunning   = prometheus.NewDesc("ocluster_pool_running_jobs", "Jobs running on each connected worker", []string{"pool", "worker"}, nil)
	descClient    = prometheus.NewDesc("ocluster_scheduler_client_submitted_jobs", "Items currently queued", []string{"client", "pool", "priority"}, nil)
	// The rates are what fairness is judged against: a client's share of
	// the starts over its share of the rates.
	descRate = prometheus.NewDesc("ocluster_scheduler_client_rate", "Each client's rate (its share of the pool when busy)", []string{"pool", "client"}, nil)
)

// poolMetrics are the counters and histograms a pool feeds as jobs go.
type poolMetrics struct {
	wait        *prometheus.HistogramVec
	perClient   *prometheus.CounterVec
	finishedBy  *prometheus.CounterVec
	hinted      prometheus.Counter
	cachedStart prometheus.Counter
	pool        string
}

// metrics holds the scheduler's registry.
type metrics struct {
	registry *prometheus.Registry
	wait     *prometheus.HistogramVec
	clients  *prometheus.CounterVec
	finished *prometheus.CounterVec
	hinted   *prometheus.CounterVec
	cached   *prometheus.CounterVec
}

func priority(urgent bool) string {
	if urgent {
		return "high"
	}
	return "low"
}

func (s *Scheduler) newMetrics() *metrics {
	m := &metrics{
		registry: prometheus.NewRegistry(),
		wait: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "ocluster_scheduler_job_wait_seconds",
			Help:    "Time from a job's submission to a worker taking it",
			Buckets: prometheus.ExponentialBuckets(0.01, 2.5, 16), // 10 ms .. ~2.6 days
		}, []string{"pool", "client", "priority"}),
		clients: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ocluster_scheduler_client_jobs_submitted_total",
			Help: "Jobs submitted, per client",
		}, []string{"pool", "client"}),
		finished: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ocluster_scheduler_jobs_finished_total",
			Help: "Runs ended on a worker, by outcome (ok, failed, cancelled, requeued: lost or moved, and queued again)",
		}, []string{"pool", "outcome"}),
		hinted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ocluster_scheduler_hinted_starts_total",
			Help: "Jobs with a cache hint that a worker took",
		}, []string{"pool"}),
		cached: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ocluster_scheduler_cached_starts_total",
			Help: "Jobs with a cache hint taken by a worker stored as having it cached",
		}, []string{"pool"}),
	}
	m.registry.MustRegister(s, m.wait, m.clients, m.finished, m.hinted, m.cached,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	for _, p := range s.pools {
		p.stats = poolMetrics{
			wait:        m.wait,
			perClient:   m.clients,
			finishedBy:  m.finished,
			hinted:      m.hinted.WithLabelValues(p.name),
			cachedStart: m.cached.WithLabelValues(p.name),
		}
		p.stats.pool = p.name
	}
	return m
}

func (pm *poolMetrics) submitted(client string) {
	if pm.perClient != nil {
		pm.perClient.WithLabelValues(pm.pool, client).Inc()
	}
}

func (pm *poolMetrics) started(client string, urgent bool, wait time.Duration, hinted, cached bool) {
	if pm.wait == nil {
		return
	}
	pm.wait.WithLabelValues(pm.pool, client, priority(urgent)).Observe(wait.Seconds())
	if hinted {
		pm.hinted.Inc()
		if cached {
			pm.cachedStart.Inc()
		}
	}
}

func (pm *poolMetrics) finished(outcome string) {
	if pm.finishedBy != nil {
		pm.finishedBy.WithLabelValues(pm.pool, outcome).Inc()
	}
}

// Describe implements prometheus.Collector.
func (s *Scheduler) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descSubmitted, descCancelled, descAccepted, descStolen, descConnected, descCapacity,
		descReady, descPaused, descQueue, descRunning, descClient, descRate} {
		ch <- d
	}
}

// Collect implements prometheus.Collector, reading the core.
func (s *Scheduler) Collect(ch chan<- prometheus.Metric) {
	s.locked(func(st *owned) { s.collect(st, ch) })
}

func (s *Scheduler) collect(st *owned, ch chan<- prometheus.Metric) {
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
	}
	for _, name := range s.poolList {
		p := s.pools[name]
		stats := p.core.Stats()
		counter(descSubmitted, float64(stats.Submitted), name)
		counter(descCancelled, float64(stats.Cancelled), name)
		counter(descAccepted, float64(stats.Accepted), name)
		counter(descStolen, float64(stats.Stolen), name)
		paused := 0
		for _, w := range p.core.Workers() {
			if !w.Active() {
				paused++
			}
			jobs, urgent := w.Queued()
			gauge(descQueue, float64(urgent), w.Name(), name, "high")
			gauge(descQueue, float64(jobs-urgent), w.Name(), name, "low")
			gauge(descRunning, float64(len(w.Running())), name, w.Name())
		}
		gauge(descConnected, float64(len(p.workers)), name)
		gauge(descCapacity, float64(p.core.Capacity()), name)
		gauge(descReady, float64(p.core.ReadyWorkers()), name)
		gauge(descPaused, float64(paused), name)
		jobs, urgent := p.core.Backlog()
		gauge(descQueue, float64(urgent), "incoming", name, "high")
		gauge(descQueue, float64(jobs-urgent), "incoming", name, "low")
		for _, client := range st.core.Clients() {
			gauge(descRate, p.core.Rate(client), name, client)
		}
	}
	for k, n := range st.queued {
		gauge(descClient, float64(n), k.client, k.pool, priority(k.urgent))
	}
}

// MetricsHandler serves /metrics, and each worker's own metrics, fetched
// over its connection: /pool/P/worker/W/metrics and .../host-metrics.
func (s *Scheduler) MetricsHandler() http.Handler {
	m := s.newMetrics()
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{}))
	mux.HandleFunc("/pool/{pool}/worker/{worker}/{kind}", func(w http.ResponseWriter, r *http.Request) {
		var source schema.Worker_MetricsSource
		switch r.PathValue("kind") {
		case "metrics":
			source = schema.Worker_MetricsSource_agent
		case "host-metrics":
			source = schema.Worker_MetricsSource_host
		default:
			http.NotFound(w, r)
			return
		}
		p := s.pools[r.PathValue("pool")]
		var target schema.Worker
		if p != nil {
			s.locked(func(*owned) {
				if wc := p.workers[r.PathValue("worker")]; wc != nil {
					target = wc.cap.AddRef()
				}
			})
		}
		switch {
		case p == nil:
			http.Error(w, "No such pool", http.StatusBadRequest)
			return
		case !target.IsValid():
			http.Error(w, "Worker not connected", http.StatusBadRequest)
			return
		}
		defer target.Release()
		ctx, cancel := context.WithTimeout(r.Context(), 20*time.Second)
		defer cancel()
		f, release := target.Metrics(ctx, func(p schema.Worker_metrics_Params) error { p.SetSource(source); return nil })
		defer release()
		res, err := f.Struct()
		if err != nil {
			http.Error(w, "Fetching the worker's metrics failed: "+wire.RemoteText(err), http.StatusBadGateway)
			return
		}
		ct, _ := res.ContentType()
		data, _ := res.Data()
		if ct == "" {
			ct = "text/plain; version=0.0.4"
		}
		w.Header().Set("Content-Type", ct)
		fmt.Fprint(w, data)
	})
	return mux
}
