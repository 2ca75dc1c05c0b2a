package sim

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/ocluster-go/ocluster/trace"
)

// FitTrace is one recorded trace to fit a scenario to.
type FitTrace struct {
	Name   string
	Header trace.Header
	Events []trace.Event
	// TimeScale multiplies the trace's times, as in ReplayOptions: a trace
	// a live run recorded at --speed 60 is fitted in scenario time with 60.
	// 0 means 1.
	TimeScale float64
}

// FitChoice is one fitted part of a scenario: what it models, the model
// chosen, and how well the model fits the data it came from.
type FitChoice struct {
	Subject string
	Model   string
	N       int
	// KS is the Kolmogorov–Smirnov distance between the observations and
	// the fitted distribution (NaN when the model is not a distribution
	// of the observations, as a share or a speed is not).
	KS   float64
	Note string
	// Observed and CDF let a report draw the observations against the
	// model; Unit says what the observations are.
	Observed []float64
	CDF      func(x float64) float64
	Unit     string
}

// Fitted is a scenario fitted to traces, with every choice made.
type Fitted struct {
	Scenario *Scenario
	// YAML is the scenario as written, the choices as comments on top.
	YAML    []byte
	Choices []FitChoice
}

// Thresholds of the fit's choices.
const (
	// ksFloor is the Kolmogorov–Smirnov distance a parametric model may
	// always have: real run times are never exactly lognormal, and a model
	// this close predicts queues as well as the data would.
	ksFloor = 0.05
	// ksCritical scales 1/sqrt(n) into the 1% critical distance of the
	// one-sample test: a larger distance is unlikely to be sampling error.
	ksCritical = 1.63
	// minWorkerRuns is how many runs of a kind a worker needs to get its
	// own run-time distribution rather than its pool's.
	minWorkerRuns = 200
	// minSpeedRuns is how many runs a worker needs for its speed to be
	// estimated; with fewer it keeps speed 1.
	minSpeedRuns = 5
	// periodicCV is the coefficient of variation of a client's gaps below
	// which its arrivals are taken as periodic.
	periodicCV = 0.05
	// maxEmpirical bounds the values an empirical distribution lists:
	// quantiles of the data beyond this add length, not accuracy.
	maxEmpirical = 200
	// maxHintEntries bounds the entries of a fixed hint list that weights
	// the trace's hints by use.
	maxHintEntries = 2000
	// maxRankDraws bounds the draws of each Monte Carlo sample that
	// calibrates a hint model's KS distance; fewer draws stray more, so
	// the bound errs towards keeping the model.
	maxRankDraws = 100_000
	// diurnalLevel is the significance of the likelihood-ratio test that
	// a client's rate swings over the day.
	diurnalLevel = 0.001
	// minAmplitude is the smallest daily swing worth modelling.
	minAmplitude = 0.05
	day          = 86400.0
)

// fitJob is what the traces say of one job.
type fitJob struct {
	client      *fitClient
	submitted   float64
	cancelledAt float64 // -1 unless a cancel event or a cancelled run
	cached      bool    // at its latest start
}

type fitClient struct {
	name      string
	rate      float64
	batches   [][]float64 // batch times, per trace
	sizes     []float64   // jobs per batch
	lastBatch float64
	jobs      int
	urgent    int
	hints     map[string]int
	cancelled []float64 // cancel-after times
	recorded  bool      // the trace says when each job would be cancelled
}

type fitWorker struct {
	name     string
	capacity int
	cache    int
	join     float64
	up       bool
	upSince  float64
	uptime   float64
	downAt   float64
	crash    bool
	downs    []float64 // downtime of each failure
	crashes  int
	runs     [2][]float64 // uncached, cached run times
}

type fitPool struct {
	name    string
	clients map[string]*fitClient
	workers map[string]*fitWorker
	order   []string // workers by first appearance
	corder  []string // clients by first appearance
}

// Fit fits a scenario named name to the traces: per client its arrivals,
// batch sizes, urgent share, cancellations and hint popularity; per
// worker its capacity, cache, join time, speed, run times and failures.
// Every choice comes with a goodness-of-fit figure.
func Fit(name string, traces []FitTrace) (*Fitted, error) {
	if len(traces) == 0 {
		return nil, errors.New("fit: no trace given")
	}
	pools := map[string]*fitPool{}
	var poolOrder []string
	pool := func(n string) *fitPool {
		p := pools[n]
		if p == nil {
			p = &fitPool{name: n, clients: map[string]*fitClient{}, workers: map[string]*fitWorker{}}
			pools[n] = p
			poolOrder = append(poolOrder, n)
		}
		return p
	}
	var spans []float64
	var window, sample float64
	for ti, tr := range traces {
		for _, n := range tr.Header.Pools {
			pool(n)
		}
		window, sample = max(window, tr.Header.Window), max(sample, tr.Header.Sample)
		events, err := scaled(tr.Events, tr.TimeScale)
		if err != nil {
			return nil, fmt.Errorf("fit: %s: %w", tr.Name, err)
		}
		jobs := map[uint64]*fitJob{}
		span, end := 0.0, 0.0
		for _, e := range events {
			end = e.T
			p := pool(e.Pool)
			switch e.Kind {
			case trace.Submit:
				c := p.client(e.Client, len(traces))
				if len(c.batches[ti]) == 0 || c.lastBatch != e.T {
					c.batches[ti] = append(c.batches[ti], e.T)
					c.sizes = append(c.sizes, 0)
					c.lastBatch = e.T
				}
				c.sizes[len(c.sizes)-1]++
				c.jobs++
				if e.Urgent {
					c.urgent++
				}
				if e.Hint != "" {
					c.hints[e.Hint]++
				}
				if e.CancelAfter > 0 {
					c.recorded = true
					c.cancelled = append(c.cancelled, e.CancelAfter)
				}
				jobs[e.Job] = &fitJob{client: c, submitted: e.T, cancelledAt: -1}
				span = e.T
			case trace.Start:
				if j := jobs[e.Job]; j != nil {
					j.cached = e.Cached
				}
			case trace.Finish:
				j := jobs[e.Job]
				if j == nil {
					continue
				}
				if e.Outcome == trace.OutcomeCancelled && j.cancelledAt < 0 {
					j.cancelledAt = e.T
				}
				d := e.Duration
				if e.Outcome != trace.OutcomeOK {
					d = e.Planned // a run cut short says only how long it would have taken
				}
				if w := p.workers[e.Worker]; w != nil && d > 0 {
					k := 0
					if j.cached {
						k = 1
					}
					w.runs[k] = append(w.runs[k], d)
				}
			case trace.Cancel:
				if j := jobs[e.Job]; j != nil && j.cancelledAt < 0 {
					j.cancelledAt = e.T
				}
			case trace.Register:
				p.register(e)
			case trace.Release:
				if w := p.workers[e.Worker]; w != nil && w.up {
					w.up = false
					w.uptime += e.T - w.upSince
					w.downAt, w.crash = e.T, e.Crash
				}
			case trace.Rate:
				p.client(e.Client, len(traces)).rate = e.Rate
			}
		}
		for _, p := range pools {
			for _, w := range p.workers {
				if w.up {
					w.uptime += end - w.upSince
				}
				// The next trace starts afresh: its first register is no
				// return from a failure of this one.
				w.up, w.downAt = false, 0
			}
		}
		for _, j := range jobs {
			if !j.client.recorded && j.cancelledAt >= 0 {
				j.client.cancelled = append(j.client.cancelled, j.cancelledAt-j.submitted)
			}
		}
		spans = append(spans, span)
	}
	f := &fitter{spans: spans}
	sc := &Scenario{Name: name, Duration: Duration(math.Ceil(slices.Max(spans)))}
	sc.Window, sc.Sample = Duration(window), Duration(sample)
	sc.Description = "Fitted by ocluster-sim fit to " + traceNames(traces) + "."
	for _, pn := range poolOrder {
		p := pools[pn]
		if len(p.clients) == 0 {
			if len(p.workers) > 0 {
				f.note("pool "+pn, "left out", "the traces show its workers but no job submitted to it")
			}
			continue
		}
		if len(p.workers) == 0 {
			return nil, fmt.Errorf("fit: pool %q has jobs but the traces register no worker in it: a scenario's pool needs workers (was the trace recorded from the start?)", pn)
		}
		ps := PoolSpec{Name: pn}
		for _, cn := range p.corder {
			ps.Clients = append(ps.Clients, f.client(pn, p.clients[cn]))
		}
		ws, err := f.workers(p)
		if err != nil {
			return nil, err
		}
		ps.Workers = ws
		sc.Pools = append(sc.Pools, ps)
	}
	if len(sc.Pools) == 0 {
		return nil, errors.New("fit: the traces have no submit event: there are no jobs to fit arrivals and run times to")
	}
	return f.finish(sc)
}

func traceNames(traces []FitTrace) string {
	var names []string
	for _, t := range traces {
		names = append(names, t.Name)
	}
	return strings.Join(names, ", ")
}

func (p *fitPool) client(name string, traces int) *fitClient {
	c := p.clients[name]
	if c == nil {
		c = &fitClient{name: name, rate: 1, batches: make([][]float64, traces), hints: map[string]int{}}
		p.clients[name] = c
		p.corder = append(p.corder, name)
	}
	return c
}

func (p *fitPool) register(e trace.Event) {
	w := p.workers[e.Worker]
	if w == nil {
		w = &fitWorker{name: e.Worker, join: e.T}
		p.workers[e.Worker] = w
		p.order = append(p.order, e.Worker)
	} else if !w.up && w.downAt > 0 {
		w.downs = append(w.downs, e.T-w.downAt)
		if w.crash {
			w.crashes++
		}
	}
	w.capacity, w.cache = max(w.capacity, e.Capacity), e.Cache
	w.up, w.upSince = true, e.T
}

// fitter accumulates the choices while it builds the scenario.
type fitter struct {
	spans   []float64
	choices []FitChoice
}

func (f *fitter) note(subject, model, note string) {
	f.choices = append(f.choices, FitChoice{Subject: subject, Model: model, KS: math.NaN(), Note: note})
}

func (f *fitter) add(c FitChoice) { f.choices = append(f.choices, c) }

// finish writes the scenario with its choices as comments, and checks that
// it loads as any scenario file does.
func (f *fitter) finish(sc *Scenario) (*Fitted, error) {
	var doc yaml.Node
	if err := doc.Encode(sc); err != nil {
		return nil, err
	}
	flowLists(&doc)
	body, err := yaml.Marshal(&doc)
	if err != nil {
		return nil, err
	}
	var b strings.Builder
	b.WriteString("# Fitted by ocluster-sim fit. KS is the Kolmogorov–Smirnov distance\n# between the trace and the model (0: identical; 1: disjoint).\n")
	for _, c := range f.choices {
		b.WriteString("#   " + c.Line() + "\n")
	}
	b.Write(body)
	out := []byte(b.String())
	loaded, err := LoadScenario(sc.Name, out)
	if err != nil {
		return nil, fmt.Errorf("fit: the fitted scenario does not load (a bug): %w", err)
	}
	return &Fitted{Scenario: loaded, YAML: out, Choices: f.choices}, nil
}

// flowLists writes lists of plain values on one line each: an empirical
// distribution's hundreds of values would otherwise take a line apiece.
func flowLists(n *yaml.Node) {
	if n.Kind == yaml.SequenceNode && len(n.Content) > 0 && n.Content[0].Kind == yaml.ScalarNode {
		n.Style = yaml.FlowStyle
	}
	for _, c := range n.Content {
		flowLists(c)
	}
}

// Line is the choice on one line, as the report and the YAML give it.
func (c FitChoice) Line() string {
	s := c.Subject + ": " + c.Model
	if c.N > 0 {
		s += fmt.Sprintf(", n=%d", c.N)
	}
	if !math.IsNaN(c.KS) {
		s += fmt.Sprintf(", KS %.3f", c.KS)
	}
	if c.Note != "" {
		s += " (" + c.Note + ")"
	}
	return s
}
