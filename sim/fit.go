package sim

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
	"gonum.org/v1/gonum/optimize"
	"gonum.org/v1/gonum/stat"
	"gonum.org/v1/gonum/stat/distuv"

	"github.com/ocluster-go/ocluster/trace"
)

// FitTrace is one recorded trace to fit a scenario to.
type FitTrace struct {
	Name   string
	Header trace.Header
	Events []trace.Event
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

// ksLimit is the largest KS distance at which a parametric model of n
// observations is kept.
func ksLimit(n int) float64 { return max(ksFloor, ksCritical/math.Sqrt(float64(n))) }

// ksDistance is the one-sample Kolmogorov–Smirnov distance between sorted
// observations and a continuous CDF.
func ksDistance(sorted []float64, cdf func(float64) float64) float64 {
	n := float64(len(sorted))
	d := 0.0
	for i, x := range sorted {
		f := cdf(x)
		d = max(d, math.Abs(float64(i+1)/n-f), math.Abs(f-float64(i)/n))
	}
	return d
}

// ksDiscrete is the Kolmogorov–Smirnov distance for whole-number data:
// the largest gap between the two CDFs at the values observed.
func ksDiscrete(sorted []float64, cdf func(float64) float64) float64 {
	n := float64(len(sorted))
	d := 0.0
	for i, x := range sorted {
		if i+1 < len(sorted) && sorted[i+1] == x {
			continue
		}
		d = max(d, math.Abs(float64(i+1)/n-cdf(x)))
	}
	return d
}

// spreadQuantiles are m quantiles of the sorted values at (j+0.5)/m, or the
// values themselves when there are at most m.
func spreadQuantiles(sorted []float64, m int) []float64 {
	if len(sorted) <= m {
		return slices.Clone(sorted)
	}
	out := make([]float64, m)
	for j := range out {
		out[j] = stat.Quantile((float64(j)+0.5)/float64(m), stat.Empirical, sorted, nil)
	}
	return out
}

// seconds rounds to the millisecond, and to at least one, so that a
// written duration reads well and a positive one stays positive.
func seconds(x float64) Duration { return Duration(max(0.001, math.Round(x*1000)/1000)) }

// fitDurations fits a lognormal and an exponential to positive durations
// by maximum likelihood (gonum's Fit) and keeps the likelier, or keeps
// the durations as an empirical distribution when even that one fits
// badly.
func fitDurations(subject string, xs []float64) (Dist, FitChoice) {
	sorted := sorted(xs)
	logs := make([]float64, len(sorted))
	sumLog := 0.0
	for i, x := range sorted {
		logs[i] = math.Log(max(x, 1e-3))
		sumLog += logs[i]
	}
	var n distuv.Normal
	n.Fit(logs, nil)
	var e distuv.Exponential
	e.Fit(sorted, nil)
	c := FitChoice{Subject: subject, N: len(sorted), Observed: sorted, Unit: "seconds"}
	var d Dist
	switch {
	case len(logs) < 2 || n.Sigma == 0:
		// Every duration the same: the model is the data, KS 0 (the
		// continuous formula would count the step's own jump).
		d = FixedDist(seconds(sorted[0]))
		c.Model = fmt.Sprintf("fixed %v", d.Value)
		c.CDF = func(x float64) float64 { return step(x >= sorted[0]) }
		return d, c
	case lnLogLikelihood(n, logs, sumLog) >= logLikelihood(e, sorted):
		ln := distuv.LogNormal{Mu: n.Mu, Sigma: n.Sigma}
		d = Dist{Kind: "lognormal", Median: seconds(math.Exp(n.Mu)), Sigma: round3(n.Sigma)}
		c.Model = fmt.Sprintf("lognormal median %v sigma %.3f (maximum likelihood)", d.Median, d.Sigma)
		c.CDF = ln.CDF
	default:
		d = Dist{Kind: "exponential", Mean: seconds(1 / e.Rate)}
		c.Model = fmt.Sprintf("exponential mean %v (maximum likelihood; likelier than a lognormal)", d.Mean)
		c.CDF = e.CDF
	}
	c.KS = ksDistance(sorted, c.CDF)
	if c.KS > ksLimit(len(sorted)) {
		q := spreadQuantiles(sorted, maxEmpirical)
		d = Dist{Kind: "empirical"}
		for _, x := range q {
			d.Values = append(d.Values, seconds(x))
		}
		c.Note = fmt.Sprintf("the best parametric model, %s, fits badly (KS %.3f): kept as %d empirical quantiles", c.Model, c.KS, len(q))
		c.Model = fmt.Sprintf("empirical, %d values, median %v", len(q), seconds(stat.Quantile(0.5, stat.Empirical, sorted, nil)))
		c.CDF = empiricalCDF(q)
		c.KS = ksDistance(sorted, c.CDF)
	}
	return d, c
}

// lnLogLikelihood is the lognormal's log-likelihood of the data whose logs
// are given: the normal's of the logs, less the Jacobian Σ log x.
func lnLogLikelihood(n distuv.Normal, logs []float64, sumLog float64) float64 {
	return logLikelihood(n, logs) - sumLog
}

func logLikelihood(d interface{ LogProb(float64) float64 }, xs []float64) float64 {
	ll := 0.0
	for _, x := range xs {
		ll += d.LogProb(x)
	}
	return ll
}

func step(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func round3(x float64) float64 { return math.Round(x*1000) / 1000 }

// empiricalCDF is the CDF of drawing one of the sorted values uniformly.
func empiricalCDF(sorted []float64) func(float64) float64 {
	return func(x float64) float64 {
		i, found := slices.BinarySearch(sorted, x)
		for found && i < len(sorted) && sorted[i] == x {
			i++
		}
		return float64(i) / float64(len(sorted))
	}
}

// fitJob is what the traces say of one job.
type fitJob struct {
	client      *fitClient
	submitted   float64
	cancelAfter float64 // recorded by the simulator; 0 when unknown
	cancelledAt float64 // -1 unless a cancel event or a cancelled run
	worker      string  // of its latest start
	cached      bool
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
		jobs := map[uint64]*fitJob{}
		span, end := 0.0, 0.0
		for _, e := range tr.Events {
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
				jobs[e.Job] = &fitJob{client: c, submitted: e.T, cancelAfter: e.CancelAfter, cancelledAt: -1}
				span = e.T
			case trace.Start:
				if j := jobs[e.Job]; j != nil {
					j.worker, j.cached = e.Worker, e.Cached
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
					w.up = false
				}
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

// client fits one client's stream.
func (f *fitter) client(pool string, c *fitClient) ClientSpec {
	subject := "pool " + pool + " client " + c.name
	s := StreamSpec{Arrivals: f.arrivals(subject, c)}
	s.Batch = f.batch(subject, c.sizes)
	s.Urgent = round3(float64(c.urgent) / float64(c.jobs))
	f.note(subject+" urgent", fmt.Sprintf("share %.3f (%d of %d jobs)", s.Urgent, c.urgent, c.jobs), "")
	if len(c.cancelled) > 0 {
		share := round3(float64(len(c.cancelled)) / float64(c.jobs))
		after, ch := fitDurations(subject+" cancel after", c.cancelled)
		f.add(ch)
		note := "as the trace recorded each job's cancel time"
		if !c.recorded {
			note = "from the cancels seen: a job that ended before its client cancelled it is not, so share and times run low"
		}
		f.note(subject+" cancel", fmt.Sprintf("share %.3f", share), note)
		s.Cancel = &CancelPattern{Share: share, After: after}
	}
	s.Hints = f.hints(subject, c)
	spec := ClientSpec{Name: c.name, StreamSpec: s}
	if c.rate != 1 {
		spec.Rate = c.rate
	}
	return spec
}

// arrivals fits the times of a client's batches: periodic when the gaps
// hardly vary, else a Poisson process (rate by maximum likelihood), made
// diurnal when a likelihood-ratio test finds a daily swing.
func (f *fitter) arrivals(subject string, c *fitClient) *Arrivals {
	subject += " arrivals"
	n, total := 0, 0.0
	var gaps []float64
	for i, ts := range c.batches {
		n += len(ts)
		total += f.spans[i]
		for j := 1; j < len(ts); j++ {
			gaps = append(gaps, ts[j]-ts[j-1])
		}
	}
	total = max(total, 1)
	if len(gaps) >= 2 {
		mean, sd := stat.MeanStdDev(gaps, nil)
		if sd < periodicCV*mean {
			first := c.batches[slices.IndexFunc(c.batches, func(ts []float64) bool { return len(ts) > 0 })][0]
			a := &Arrivals{Process: "periodic", Every: seconds(stat.Quantile(0.5, stat.Empirical, sorted(gaps), nil)), First: seconds(first)}
			f.note(subject, fmt.Sprintf("periodic every %v, first at %v", a.Every, a.First), fmt.Sprintf("gaps vary by %.1f%%", 100*sd/mean))
			return a
		}
	}
	rate := float64(n) / total
	if a, ok := f.diurnal(subject, c, rate, total); ok {
		return a
	}
	// The maximum-likelihood rate is batches over the time observed,
	// which counts the time before the first batch and after the last
	// that the gaps (and gonum's Fit of them) leave out.
	e := distuv.Exponential{Rate: rate}
	ch := FitChoice{Subject: subject, N: len(gaps), KS: math.NaN(), Observed: sorted(gaps), CDF: e.CDF, Unit: "seconds between batches"}
	a := &Arrivals{Process: "poisson", Mean: seconds(1 / rate)}
	ch.Model = fmt.Sprintf("poisson, mean gap %v (rate %.4g/s, maximum likelihood)", a.Mean, rate)
	if len(gaps) > 0 {
		ch.KS = ksDistance(ch.Observed, e.CDF)
	}
	f.add(ch)
	return a
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

func sorted(xs []float64) []float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s
}

// diurnal fits rate(t) = base·(1 + a·cos ωt + b·sin ωt), ω a turn a day,
// to the batch times by maximum likelihood (gonum optimize), and keeps it
// when it beats a constant rate in a likelihood-ratio test. Its goodness
// is the KS distance of the time-rescaled gaps from a unit exponential.
func (f *fitter) diurnal(subject string, c *fitClient, rate, total float64) (*Arrivals, bool) {
	if total < day || float64(c.jobs) < 50 {
		return nil, false
	}
	w := 2 * math.Pi / day
	integral := func(a, b, T float64) float64 {
		return T + a*math.Sin(w*T)/w + b*(1-math.Cos(w*T))/w
	}
	n := 0.0
	for _, ts := range c.batches {
		n += float64(len(ts))
	}
	// With base at its optimum n / ∫(1 + a cos + b sin), the likelihood
	// depends on a and b alone.
	negLL := func(x []float64) float64 {
		a, b := x[0], x[1]
		if a*a+b*b >= 1 {
			return math.Inf(1)
		}
		sum, in := 0.0, 0.0
		for i, ts := range c.batches {
			for _, t := range ts {
				sum += math.Log(1 + a*math.Cos(w*t) + b*math.Sin(w*t))
			}
			in += integral(a, b, f.spans[i])
		}
		return -(sum + n*math.Log(n/in) - n)
	}
	res, err := optimize.Minimize(optimize.Problem{Func: negLL}, []float64{0, 0}, nil, &optimize.NelderMead{})
	if err != nil {
		return nil, false
	}
	a, b := res.X[0], res.X[1]
	amp := math.Hypot(a, b)
	lr := 2 * (negLL([]float64{0, 0}) - res.F)
	if amp < minAmplitude || lr < (distuv.ChiSquared{K: 2}).Quantile(1-diurnalLevel) {
		return nil, false
	}
	in := 0.0
	for i := range c.batches {
		in += integral(a, b, f.spans[i])
	}
	base := n / in
	peak := math.Mod(math.Atan2(b, a)/w+day, day)
	// The rescaled gaps Λ(t_j) − Λ(t_j−1) of a fitting model are unit
	// exponential.
	var rescaled []float64
	for _, ts := range c.batches {
		for j := 1; j < len(ts); j++ {
			rescaled = append(rescaled, base*(integral(a, b, ts[j])-integral(a, b, ts[j-1])))
		}
	}
	unit := distuv.Exponential{Rate: 1}
	ch := FitChoice{Subject: subject, N: len(rescaled), Observed: sorted(rescaled), CDF: unit.CDF, Unit: "time-rescaled gaps (unit exponential when the model fits)"}
	ch.KS = ksDistance(ch.Observed, unit.CDF)
	arr := &Arrivals{Process: "diurnal", Mean: seconds(1 / base), Amplitude: round3(amp), Peak: seconds(math.Round(peak))}
	ch.Model = fmt.Sprintf("diurnal, mean gap %v, amplitude %.3f, peak at %v (maximum likelihood)", arr.Mean, arr.Amplitude, arr.Peak)
	ch.Note = fmt.Sprintf("likelihood ratio %.1f against a constant rate %.4g/s", lr, rate)
	f.add(ch)
	return arr, true
}

// batch fits the sizes of a client's batches: fixed when they never vary,
// Poisson when its CDF stays close, else empirical.
func (f *fitter) batch(subject string, sizes []float64) *Count {
	subject += " batch size"
	xs := sorted(sizes)
	if xs[0] == xs[len(xs)-1] {
		c := FixedCount(int(xs[0]))
		f.note(subject, fmt.Sprintf("fixed %d", c.N), "every batch has as many jobs")
		return &c
	}
	mean := stat.Mean(xs, nil)
	pois := distuv.Poisson{Lambda: mean}
	ch := FitChoice{Subject: subject, N: len(xs), Observed: xs, CDF: pois.CDF, Unit: "jobs per batch"}
	ch.KS = ksDiscrete(xs, pois.CDF)
	if ch.KS <= ksFloor {
		ch.Model = fmt.Sprintf("poisson, mean %.3f (maximum likelihood)", mean)
		f.add(ch)
		return &Count{Kind: "poisson", Mean: round3(mean)}
	}
	c := &Count{Kind: "empirical"}
	q := spreadQuantiles(xs, maxEmpirical)
	for _, x := range q {
		c.Values = append(c.Values, int(math.Round(x)))
	}
	qs := make([]float64, len(c.Values))
	for i, v := range c.Values {
		qs[i] = float64(v)
	}
	ch.CDF = empiricalCDF(qs)
	ch.Note = fmt.Sprintf("a Poisson count fits badly (KS %.3f)", ch.KS)
	ch.KS = ksDiscrete(xs, ch.CDF)
	ch.Model = fmt.Sprintf("empirical, %d values, mean %.3f", len(q), mean)
	f.add(ch)
	return c
}

// hints fits the popularity of a client's hints, ranked by how often each
// is used: uniform when it fits, else Zipf (exponent by maximum
// likelihood, gonum optimize) or one hot hint over uniform others,
// whichever has the better Akaike score; when even that fits badly, the trace's own hints, each listed in
// proportion to its use.
func (f *fitter) hints(subject string, c *fitClient) *HintSpec {
	subject += " hints"
	if len(c.hints) == 0 {
		f.note(subject, "none", "its jobs carry no hint")
		return &HintSpec{Kind: "none"}
	}
	type used struct {
		hint string
		n    int
	}
	var list []used
	n := 0
	for h, k := range c.hints {
		list = append(list, used{h, k})
		n += k
	}
	slices.SortFunc(list, func(a, b used) int { return cmp.Or(cmp.Compare(b.n, a.n), strings.Compare(a.hint, b.hint)) })
	var note string
	if n < c.jobs {
		note = fmt.Sprintf("%d of its %d jobs carry no hint; the model gives every job one", c.jobs-n, c.jobs)
	}
	if len(list) == 1 {
		f.note(subject, "fixed "+list[0].hint, note)
		return &HintSpec{Kind: "fixed", Values: []string{list[0].hint}}
	}
	K := len(list)
	counts := make([]float64, K)
	var ranks []float64
	for i, u := range list {
		counts[i] = float64(u.n)
		for range u.n {
			ranks = append(ranks, float64(i+1))
		}
	}
	type model struct {
		spec HintSpec
		desc string
		pmf  func(r int) float64
		k    int // parameters
	}
	models := []model{{HintSpec{Kind: "uniform", Count: K}, fmt.Sprintf("uniform over %d", K), func(int) float64 { return 1 / float64(K) }, 0}}
	share := counts[0] / float64(n)
	models = append(models, model{HintSpec{Kind: "hot", Count: K, Share: round3(share)}, fmt.Sprintf("hot, share %.3f, %d others uniform", share, K-1),
		func(r int) float64 {
			if r == 1 {
				return share
			}
			return (1 - share) / float64(K-1)
		}, 1})
	if s, ok := fitZipf(counts); ok {
		h := 0.0
		for r := 1; r <= K; r++ {
			h += math.Pow(float64(r), -s)
		}
		models = append(models, model{HintSpec{Kind: "zipf", Count: K, S: round3(s)}, fmt.Sprintf("zipf over %d, exponent %.3f (maximum likelihood)", K, s),
			func(r int) float64 { return math.Pow(float64(r), -s) / h }, 1})
	}
	// Ranking hints by use makes the first look popular even when all
	// are alike, so uniform, the model with nothing to fit, is kept
	// whenever it fits; the others compete on their Akaike scores.
	best, bestAIC := 0, math.Inf(1)
	if ksDiscrete(ranks, rankCDF(models[0].pmf, K)) <= rankLimit(models[0].pmf, K, n) {
		models = models[:1]
	}
	for i, m := range models {
		ll := 0.0
		for r, k := range counts {
			ll += k * math.Log(m.pmf(r+1))
		}
		if aic := 2*float64(m.k) - 2*ll; aic < bestAIC {
			best, bestAIC = i, aic
		}
	}
	m := models[best]
	cdf := rankCDF(m.pmf, K)
	ch := FitChoice{Subject: subject, Model: m.desc, N: n, Observed: ranks, CDF: cdf, Unit: "hint rank (1: most used)", Note: note}
	ch.KS = ksDiscrete(ranks, cdf)
	limit := rankLimit(m.pmf, K, n)
	if ch.KS <= limit {
		ch.Note = strings.TrimPrefix(ch.Note+fmt.Sprintf("; ranked draws from the model itself stray up to KS %.3f", limit), "; ")
		f.add(ch)
		return &m.spec
	}
	// Every hint listed at least once, the popular ones as often as their
	// share of maxHintEntries entries says.
	spec := &HintSpec{Kind: "fixed"}
	entries := min(n, maxHintEntries)
	for _, u := range list {
		for range max(1, int(math.Round(float64(u.n*entries)/float64(n)))) {
			spec.Values = append(spec.Values, u.hint)
		}
	}
	weights := map[string]int{}
	for _, v := range spec.Values {
		weights[v]++
	}
	emp := func(x float64) float64 {
		s := 0
		for _, u := range list[:min(int(x), K)] {
			s += weights[u.hint]
		}
		return float64(s) / float64(len(spec.Values))
	}
	ch.Note = strings.TrimPrefix(ch.Note+fmt.Sprintf("; the best model, %s, fits badly (KS %.3f; its own ranked draws stray up to %.3f)", m.desc, ch.KS, limit), "; ")
	ch.Model = fmt.Sprintf("fixed: the trace's %d hints weighted by use (%d entries)", K, len(spec.Values))
	ch.CDF = emp
	ch.KS = ksDiscrete(ranks, emp)
	f.add(ch)
	return spec
}

// rankLimit is the KS distance within which hint ranks fit a model.
// Ranking hints by use orders their sampling noise too, so that even
// draws from the model itself stray from it; the limit is the largest
// distance of 19 samples of n draws from the model, ranked the same way
// (a Monte Carlo test at the 5% level), and never below ksLimit(n). The
// draws are seeded by k and n: the same trace always fits the same way.
func rankLimit(pmf func(r int) float64, k, n int) float64 {
	cum := make([]float64, k)
	total := 0.0
	for r := range cum {
		total += pmf(r + 1)
		cum[r] = total
	}
	rng := rand.New(rand.NewPCG(uint64(k), uint64(n)))
	draws := min(n, maxRankDraws)
	limit := ksLimit(n)
	counts := make([]int, k)
	for range 19 {
		clear(counts)
		for range draws {
			i, _ := slices.BinarySearch(cum, rng.Float64()*total)
			counts[min(i, k-1)]++
		}
		slices.SortFunc(counts, func(a, b int) int { return b - a })
		seen := 0
		for r, c := range counts {
			seen += c
			limit = max(limit, math.Abs(float64(seen)/float64(draws)-cum[r]/total))
		}
	}
	return limit
}

// rankCDF is the CDF over ranks 1..k of the probabilities pmf.
func rankCDF(pmf func(r int) float64, k int) func(float64) float64 {
	return func(x float64) float64 {
		s := 0.0
		for r := 1; r <= min(int(x), k); r++ {
			s += pmf(r)
		}
		return s
	}
}

// fitZipf is the maximum-likelihood exponent of a Zipf law over ranks
// 1..len(counts), counts[r-1] the uses of rank r; ok is false when the
// best exponent is not above 1, which the scenario's zipf needs.
func fitZipf(counts []float64) (s float64, ok bool) {
	n, sumLog := 0.0, 0.0
	for i, k := range counts {
		n += k
		sumLog += k * math.Log(float64(i+1))
	}
	negLL := func(x []float64) float64 {
		s := 1 + math.Exp(x[0]) // keeps s above 1
		h := 0.0
		for r := 1; r <= len(counts); r++ {
			h += math.Pow(float64(r), -s)
		}
		return s*sumLog + n*math.Log(h)
	}
	res, err := optimize.Minimize(optimize.Problem{Func: negLL}, []float64{math.Log(0.5)}, nil, &optimize.NelderMead{})
	if err != nil {
		return 0, false
	}
	s = 1 + math.Exp(res.X[0])
	return s, s > 1.001
}

// workers fits each worker of a pool: capacity, cache and join time as
// the trace registers them; speed as the ratio of the pool's geometric
// mean run time to the worker's; run times, cached and uncached, as the
// pool's distribution of speed-normalised run times, or the worker's own
// when it ran enough jobs; failures from its releases.
func (f *fitter) workers(p *fitPool) ([]WorkerSpec, error) {
	if !slices.ContainsFunc(p.order, func(wn string) bool { return len(p.workers[wn].runs[0])+len(p.workers[wn].runs[1]) > 0 }) {
		return nil, fmt.Errorf("fit: pool %q has no finished run in the traces: there are no run times to fit", p.name)
	}
	speeds := f.speeds(p)
	var norm [2][]float64
	for _, wn := range p.order {
		for k, rs := range p.workers[wn].runs {
			for _, x := range rs {
				norm[k] = append(norm[k], x*speeds[wn])
			}
		}
	}
	kinds := [2]string{"uncached", "cached"}
	var poolDist [2]Dist
	var poolCDF [2]func(float64) float64
	for k := range kinds {
		if len(norm[k]) > 0 {
			d, ch := fitDurations("pool "+p.name+" "+kinds[k]+" run time (speed 1)", norm[k])
			poolDist[k], poolCDF[k] = d, ch.CDF
			f.add(ch)
		}
	}
	for k := range kinds {
		if len(norm[k]) == 0 {
			poolDist[k] = poolDist[1-k]
			f.note("pool "+p.name+" "+kinds[k]+" run time", "as "+kinds[1-k], "the traces show no "+kinds[k]+" run")
		}
	}
	downtime := f.downtime(p)
	var specs []WorkerSpec
	for _, wn := range p.order {
		w := p.workers[wn]
		if w.capacity < 1 {
			return nil, fmt.Errorf("fit: worker %q of pool %q registers no capacity: the trace must say how many jobs it runs at once", wn, p.name)
		}
		spec := WorkerSpec{Name: wn, Capacity: w.capacity, Cache: w.cache, Speed: speeds[wn], Join: Duration(math.Round(w.join))}
		var own [2]*Dist
		for k := range kinds {
			d := poolDist[k]
			if len(w.runs[k]) >= minWorkerRuns {
				scaled := make([]float64, len(w.runs[k]))
				for i, x := range w.runs[k] {
					scaled[i] = x * speeds[wn]
				}
				// The worker gets its own model only when its runs reject
				// the pool's: otherwise sampling noise alone would set
				// alike workers apart.
				if pool := ksDistance(sorted(scaled), poolCDF[k]); pool > ksLimit(len(scaled)) {
					var ch FitChoice
					d, ch = fitDurations("pool "+p.name+" worker "+wn+" "+kinds[k]+" run time (speed 1)", scaled)
					ch.Note = strings.TrimPrefix(ch.Note+fmt.Sprintf("; the pool's model is KS %.3f from its runs", pool), "; ")
					f.add(ch)
				}
			}
			own[k] = &d
		}
		spec.Uncached, spec.Cached = own[0], own[1]
		if len(w.downs) > 0 {
			spec.Failures = f.failures(p.name, w, downtime)
		}
		specs = append(specs, spec)
	}
	return groupWorkers(specs), nil
}

// groupWorkers writes workers named NAME-1..NAME-N with the same fitted
// spec as one spec of count N, as a scenario would give them, so that
// plan --vary workers scales the fleet and not each worker.
func groupWorkers(specs []WorkerSpec) []WorkerSpec {
	byPrefix := map[string][]int{}
	for i, w := range specs {
		if j := strings.LastIndex(w.Name, "-"); j > 0 {
			byPrefix[w.Name[:j]] = append(byPrefix[w.Name[:j]], i)
		}
	}
	var out []WorkerSpec
	for _, w := range specs {
		j := strings.LastIndex(w.Name, "-")
		if j <= 0 {
			out = append(out, w)
			continue
		}
		prefix, group := w.Name[:j], byPrefix[w.Name[:j]]
		if !alike(specs, prefix, group) {
			out = append(out, w)
			continue
		}
		if w.Name == prefix+"-1" {
			w.Name, w.Count = prefix, len(group)
			out = append(out, w)
		}
	}
	return out
}

// alike says whether the specs at idx are named prefix-1..prefix-N and
// differ in nothing else.
func alike(specs []WorkerSpec, prefix string, idx []int) bool {
	if len(idx) < 2 {
		return false
	}
	first := specs[idx[0]]
	for _, i := range idx {
		w := specs[i]
		n, err := strconv.Atoi(strings.TrimPrefix(w.Name, prefix+"-"))
		if err != nil || n < 1 || n > len(idx) {
			return false
		}
		w.Name = first.Name
		if !reflect.DeepEqual(w, first) {
			return false
		}
	}
	return true
}

// speeds fits log run time = level of its kind (cached or not) − log
// speed of its worker, by least squares on the logs (the maximum
// likelihood of lognormal run times with a common sigma), alternating
// between the two until they settle; the speeds' geometric mean over the
// runs is 1. A worker with too few runs, or whose speed is within three
// standard errors of 1, keeps speed 1, so that sampling noise does not
// make a fleet of equals look uneven.
func (f *fitter) speeds(p *fitPool) map[string]float64 {
	logSpeed := map[string]float64{}
	var level [2]float64
	for range 50 {
		var sum [2]float64
		var n [2]int
		for _, w := range p.workers {
			for k, rs := range w.runs {
				for _, x := range rs {
					sum[k] += math.Log(x) + logSpeed[w.name]
				}
				n[k] += len(rs)
			}
		}
		for k := range level {
			if n[k] > 0 {
				level[k] = sum[k] / float64(n[k])
			}
		}
		total, runs := 0.0, 0
		for _, w := range p.workers {
			d, m := 0.0, 0
			for k, rs := range w.runs {
				for _, x := range rs {
					d += level[k] - math.Log(x)
				}
				m += len(rs)
			}
			if m > 0 {
				logSpeed[w.name] = d / float64(m)
				total += d
				runs += m
			}
		}
		for name := range logSpeed {
			logSpeed[name] -= total / float64(runs)
		}
	}
	speeds := map[string]float64{}
	for _, wn := range p.order {
		w := p.workers[wn]
		var resid []float64
		for k, rs := range w.runs {
			for _, x := range rs {
				resid = append(resid, level[k]-math.Log(x)-logSpeed[wn])
			}
		}
		speed, note := 1.0, fmt.Sprintf("%d runs: too few to tell, kept at 1", len(resid))
		if len(resid) >= minSpeedRuns {
			se := stat.StdDev(resid, nil) / math.Sqrt(float64(len(resid)))
			if math.Abs(logSpeed[wn]) < 3*se {
				note = fmt.Sprintf("from %d runs: %.3f is within three standard errors of 1, kept at 1", len(resid), math.Exp(logSpeed[wn]))
			} else {
				speed = round3(math.Exp(logSpeed[wn]))
				note = fmt.Sprintf("relative run time, from %d runs (least squares on log run times)", len(resid))
			}
		}
		speeds[wn] = speed
		f.note("pool "+p.name+" worker "+wn+" speed", fmt.Sprintf("%.3f", speed), note)
	}
	return speeds
}

// downtime fits how long a pool's workers stay away after a failure, over
// all its workers: exponential (gonum's maximum likelihood) unless it fits
// badly, then as run times are.
func (f *fitter) downtime(p *fitPool) Dist {
	var downs []float64
	for _, wn := range p.order {
		downs = append(downs, p.workers[wn].downs...)
	}
	if len(downs) == 0 {
		return Dist{}
	}
	subject := "pool " + p.name + " downtime"
	var e distuv.Exponential
	e.Fit(downs, nil)
	ch := FitChoice{Subject: subject, N: len(downs), Observed: sorted(downs), CDF: e.CDF, Unit: "seconds away after a failure"}
	ch.KS = ksDistance(ch.Observed, e.CDF)
	if ch.KS > ksLimit(len(downs)) {
		d, ch := fitDurations(subject, downs)
		ch.Note = strings.TrimPrefix(ch.Note+fmt.Sprintf("; an exponential fits badly (KS %.3f)", ksDistance(sorted(downs), e.CDF)), "; ")
		f.add(ch)
		return d
	}
	d := Dist{Kind: "exponential", Mean: seconds(1 / e.Rate)}
	ch.Model = fmt.Sprintf("exponential, mean %v (maximum likelihood)", d.Mean)
	f.add(ch)
	return d
}

// failures are a worker's random failures: the mean time between them is
// its time connected over its failures (the exponential's maximum
// likelihood, counting the time after the last one), the kind the one
// most of them were.
func (f *fitter) failures(pool string, w *fitWorker, downtime Dist) *Failures {
	kind := "disconnect"
	if 2*w.crashes > len(w.downs) {
		kind = "crash"
	}
	fl := &Failures{Kind: kind, MTBF: seconds(w.uptime / float64(len(w.downs))), Downtime: downtime}
	f.add(FitChoice{Subject: "pool " + pool + " worker " + w.name + " failures", Model: fmt.Sprintf("%s, mean time between %v", kind, fl.MTBF),
		N: len(w.downs), KS: math.NaN(), Note: fmt.Sprintf("%s (%d crashes) over %v connected", plural(len(w.downs), "failure"), w.crashes, Duration(math.Round(w.uptime)))})
	return fl
}
