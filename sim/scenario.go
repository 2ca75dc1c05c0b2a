package sim

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/ocluster-go/ocluster/core"
)

// Scenario describes a simulated cluster and its workload. It is written
// in YAML (or JSON, which is YAML too); see the project README for the
// format.
type Scenario struct {
	Name        string      `yaml:"name" json:"name"`
	Description string      `yaml:"description,omitempty" json:"description,omitempty"`
	Duration    Duration    `yaml:"duration" json:"duration"`
	Drain       Duration    `yaml:"drain,omitempty" json:"drain,omitempty"`
	Costs       *CostsSpec  `yaml:"costs,omitempty" json:"costs,omitempty"`
	Sample      Duration    `yaml:"sample,omitempty" json:"sample,omitempty"`
	Window      Duration    `yaml:"window,omitempty" json:"window,omitempty"`
	HintSpaces  []HintSpace `yaml:"hint_spaces,omitempty" json:"hint_spaces,omitempty"`
	Pools       []PoolSpec  `yaml:"pools" json:"pools"`
}

// CostsSpec are the core's estimates of a cached and an uncached job.
type CostsSpec struct {
	Cached   Duration `yaml:"cached" json:"cached"`
	Uncached Duration `yaml:"uncached" json:"uncached"`
}

// HintSpace is a family of hints shaped like OCluster's
// "<repo head>-<package>-<platform>": the head changes over time, so every
// hint of the space goes cold at once.
type HintSpace struct {
	Name      string   `yaml:"name" json:"name"`
	Platforms []string `yaml:"platforms" json:"platforms"`
	HeadFirst Duration `yaml:"head_first,omitempty" json:"head_first,omitempty"`
	HeadEvery Duration `yaml:"head_every,omitempty" json:"head_every,omitempty"`
}

// PoolSpec is one pool with its workers and clients.
type PoolSpec struct {
	Name    string       `yaml:"name" json:"name"`
	Workers []WorkerSpec `yaml:"workers" json:"workers"`
	Clients []ClientSpec `yaml:"clients" json:"clients"`
}

// WorkerSpec describes one worker, or Count alike ones named NAME-1..NAME-N.
type WorkerSpec struct {
	Name     string        `yaml:"name" json:"name"`
	Count    int           `yaml:"count,omitempty" json:"count,omitempty"`
	Capacity int           `yaml:"capacity" json:"capacity"`
	Speed    float64       `yaml:"speed,omitempty" json:"speed,omitempty"`
	Cache    int           `yaml:"cache,omitempty" json:"cache,omitempty"`
	Cached   *Dist         `yaml:"cached,omitempty" json:"cached,omitempty"`
	Uncached *Dist         `yaml:"uncached,omitempty" json:"uncached,omitempty"`
	Join     Duration      `yaml:"join,omitempty" json:"join,omitempty"`
	Events   []WorkerEvent `yaml:"events,omitempty" json:"events,omitempty"`
	Failures *Failures     `yaml:"failures,omitempty" json:"failures,omitempty"`
}

// WorkerEvent is something that happens to a worker at a set time.
//
//   - disconnect: the connection drops; its running jobs fail (as in
//     OCluster) but keep its slots busy until they would have ended; it
//     reconnects after For (never if For is 0);
//   - crash: the worker dies with its running jobs; it restarts after For
//     (never if 0), its cache intact;
//   - pause: the admin pauses it, and unpauses it after For (never if 0);
//   - drain: the admin pauses it; once its running jobs end it leaves; it
//     comes back unpaused after For (never if 0);
//   - force-pause: the admin pauses it and moves its running jobs back to
//     the queue, stopping their builds (OCluster #169); unpaused after For;
//   - hang: the worker process stops for For (required): no pops, no
//     answers to pings, its builds frozen; it stays connected, so only a
//     lease tells the scheduler (OCluster #110);
//   - prune: the worker empties its build cache (as a Docker prune does)
//     and reports it; the scheduler learns of it only under a policy that
//     trusts prune reports.
type WorkerEvent struct {
	At   Duration `yaml:"at" json:"at"`
	Kind string   `yaml:"kind" json:"kind"`
	For  Duration `yaml:"for,omitempty" json:"for,omitempty"`
}

// Failures are random disconnects or crashes: the time between them is
// exponential with mean MTBF, and each lasts a time drawn from Downtime.
type Failures struct {
	Kind     string   `yaml:"kind" json:"kind"`
	MTBF     Duration `yaml:"mtbf" json:"mtbf"`
	Downtime Dist     `yaml:"downtime" json:"downtime"`
}

// ClientSpec is one client: a name, a rate, and one or more streams of
// jobs. A client with a single stream may give its fields inline.
type ClientSpec struct {
	Name       string       `yaml:"name" json:"name"`
	Rate       float64      `yaml:"rate,omitempty" json:"rate,omitempty"`
	Streams    []StreamSpec `yaml:"streams,omitempty" json:"streams,omitempty"`
	StreamSpec `yaml:",inline" json:",inline"`
}

// StreamSpec is a source of jobs: when batches arrive, how many units a
// batch holds, and what hints the jobs carry.
type StreamSpec struct {
	Arrivals  *Arrivals      `yaml:"arrivals,omitempty" json:"arrivals,omitempty"`
	Batch     *Count         `yaml:"batch,omitempty" json:"batch,omitempty"`
	Urgent    float64        `yaml:"urgent,omitempty" json:"urgent,omitempty"`
	Hints     *HintSpec      `yaml:"hints,omitempty" json:"hints,omitempty"`
	Jobs      int            `yaml:"jobs,omitempty" json:"jobs,omitempty"`
	Start     Duration       `yaml:"start,omitempty" json:"start,omitempty"`
	Stop      Duration       `yaml:"stop,omitempty" json:"stop,omitempty"`
	Durations *JobDurations  `yaml:"durations,omitempty" json:"durations,omitempty"`
	Cancel    *CancelPattern `yaml:"cancel,omitempty" json:"cancel,omitempty"`
}

// Arrivals say when batches arrive.
//
//   - poisson: exponential gaps with mean Mean;
//   - periodic: every Every, the first at First;
//   - diurnal: Poisson whose rate swings over 24 h around 1/Mean by
//     Amplitude (0..1), highest at Peak (time of day);
//   - closed: a batch at First; when all its jobs are done, wait Pause,
//     then the next;
//   - head: a batch each time the head of hint space Space changes.
//
// SkipBusy skips an arrival while the stream's previous batch is unfinished
// (OCluster's ocaml-ci misses repository updates so).
type Arrivals struct {
	Process   string   `yaml:"process" json:"process"`
	Mean      Duration `yaml:"mean,omitempty" json:"mean,omitempty"`
	Every     Duration `yaml:"every,omitempty" json:"every,omitempty"`
	First     Duration `yaml:"first,omitempty" json:"first,omitempty"`
	Peak      Duration `yaml:"peak,omitempty" json:"peak,omitempty"`
	Amplitude float64  `yaml:"amplitude,omitempty" json:"amplitude,omitempty"`
	Pause     Duration `yaml:"pause,omitempty" json:"pause,omitempty"`
	Space     string   `yaml:"space,omitempty" json:"space,omitempty"`
	SkipBusy  bool     `yaml:"skip_busy,omitempty" json:"skip_busy,omitempty"`
}

// HintSpec says which cache hints a stream's jobs carry.
//
//   - none: no hint;
//   - fixed: one of Values, uniformly;
//   - uniform: one of Count hints, uniformly;
//   - zipf: one of Count hints with Zipf popularity of exponent S (> 1);
//   - hot: one hot hint takes Share of the jobs, the rest spread uniformly
//     over Count-1 others;
//   - rolling: a unit is a package of hint space Space, one job per platform
//     with hint "<head>-<package>-<platform>"; packages 0..Packages-1 are
//     picked at random, or (Pick: first) a batch of k units takes the first k.
//
// Generated hints are "<prefix>-<i>", the prefix defaulting to the client's
// name, so clients share hints only when they share a prefix.
type HintSpec struct {
	Kind     string   `yaml:"kind" json:"kind"`
	Values   []string `yaml:"values,omitempty" json:"values,omitempty"`
	Count    int      `yaml:"count,omitempty" json:"count,omitempty"`
	S        float64  `yaml:"s,omitempty" json:"s,omitempty"`
	Share    float64  `yaml:"share,omitempty" json:"share,omitempty"`
	Prefix   string   `yaml:"prefix,omitempty" json:"prefix,omitempty"`
	Space    string   `yaml:"space,omitempty" json:"space,omitempty"`
	Packages int      `yaml:"packages,omitempty" json:"packages,omitempty"`
	Pick     string   `yaml:"pick,omitempty" json:"pick,omitempty"`
}

// JobDurations override the workers' duration distributions for a stream.
type JobDurations struct {
	Cached   Dist `yaml:"cached" json:"cached"`
	Uncached Dist `yaml:"uncached" json:"uncached"`
}

// CancelPattern makes a stream cancel Share of its jobs, After their
// submission: still queued, they are cancelled; running, their build is.
type CancelPattern struct {
	Share float64 `yaml:"share" json:"share"`
	After Dist    `yaml:"after" json:"after"`
}

// Default values filled in by LoadScenario.
const (
	defaultDrain  = Duration(30 * 86400)
	defaultWindow = Duration(600)
)

// LoadScenario reads and checks a scenario. name is used in error messages
// and as the scenario's name when the file gives none. Errors name the
// line and the field.
func LoadScenario(name string, data []byte) (*Scenario, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if root.Kind == 0 {
		return nil, fmt.Errorf("%s: the file is empty", name)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var sc Scenario
	if err := dec.Decode(&sc); err != nil {
		// The decoder says "field x not found" only in words: the node
		// tree says which key, where, and what was meant.
		if e := unknownKey(&root, reflect.TypeFor[Scenario](), nil); e != nil {
			return nil, fmt.Errorf("%s:%d: %w", name, e.line, e)
		}
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if sc.Name == "" {
		sc.Name = name
	}
	if err := sc.check(); err != nil {
		var fe *fieldError
		if errors.As(err, &fe) {
			return nil, fmt.Errorf("%s:%d: %s: %s", name, lineOf(&root, fe.path), pathString(fe.path), fe.msg)
		}
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return &sc, nil
}

// fieldError is a validation failure at a path of keys and list indices.
type fieldError struct {
	path []any
	msg  string
}

func (e *fieldError) Error() string { return pathString(e.path) + ": " + e.msg }

func pathString(path []any) string {
	var b strings.Builder
	for _, p := range path {
		switch p := p.(type) {
		case int:
			b.WriteString("[" + strconv.Itoa(p) + "]")
		case string:
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			b.WriteString(p)
		}
	}
	return b.String()
}

// lineOf finds the line of the deepest node along path that the document
// has (a missing field is reported where its parent is).
func lineOf(root *yaml.Node, path []any) int {
	n := root
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	line := n.Line
	for _, p := range path {
		var next *yaml.Node
		switch p := p.(type) {
		case string:
			if n.Kind == yaml.MappingNode {
				for i := 0; i+1 < len(n.Content); i += 2 {
					if n.Content[i].Value == p {
						line = n.Content[i].Line
						next = n.Content[i+1]
					}
				}
			}
		case int:
			if n.Kind == yaml.SequenceNode && p < len(n.Content) {
				next = n.Content[p]
			}
		}
		if next == nil {
			return line
		}
		n = next
		if n.Kind != yaml.ScalarNode {
			line = n.Line
		}
	}
	return line
}

// checker accumulates the path while validating.
type checker struct{ path []any }

func (c *checker) at(p ...any) *checker {
	return &checker{path: append(slices.Clone(c.path), p...)}
}

func (c *checker) fail(format string, args ...any) error {
	return &fieldError{path: c.path, msg: fmt.Sprintf(format, args...)}
}

func finiteIn(x, lo, hi float64) bool { return !math.IsNaN(x) && x >= lo && x <= hi }

// Limits on what a scenario may ask for. Each keeps a run within the
// memory and time of one machine (a million workers, a hundred million
// jobs); a value past one is far more often a typo than a plan, and
// without them a scenario could exhaust memory before the run says a word.
const (
	maxSpan         = Duration(10 * 365 * 86400) // duration and drain
	maxWorkers      = 1_000_000                  // worker processes over all pools
	maxCapacity     = core.MaxCapacity           // slots of one worker, and entries of its cache
	maxHints        = 10_000_000                 // distinct hints of one stream
	maxBatch        = 1_000_000                  // jobs of one batch
	maxExpectedJobs = 100_000_000                // jobs the timed streams are expected to submit
)

// check validates the scenario and fills in defaults.
func (sc *Scenario) check() error {
	c := &checker{}
	if sc.Duration <= 0 {
		return c.at("duration").fail("must be more than 0 (e.g. 2h): arrivals stop then")
	}
	if sc.Duration > maxSpan {
		return c.at("duration").fail("must be at most 10 years (3650d), got %v", sc.Duration)
	}
	if sc.Drain == 0 {
		sc.Drain = defaultDrain
	}
	if sc.Drain < 0 || sc.Drain > maxSpan {
		return c.at("drain").fail("must be from 0 to 10 years (3650d), got %v", sc.Drain)
	}
	if sc.Costs != nil && (sc.Costs.Cached < 0 || sc.Costs.Uncached < 0) {
		return c.at("costs").fail("cached and uncached must be 0 or more")
	}
	if sc.Sample == 0 {
		sc.Sample = Duration(max(1, math.Round(sc.Duration.Seconds()/400)))
	}
	if sc.Window == 0 {
		sc.Window = min(defaultWindow, sc.Duration)
	}
	spaces := map[string]bool{}
	for i := range sc.HintSpaces {
		hs := &sc.HintSpaces[i]
		hc := c.at("hint_spaces", i)
		switch {
		case hs.Name == "":
			return hc.at("name").fail("is required")
		case spaces[hs.Name]:
			return hc.at("name").fail("hint space %q is defined twice", hs.Name)
		case len(hs.Platforms) == 0:
			return hc.at("platforms").fail("must list at least one platform")
		}
		spaces[hs.Name] = true
	}
	if len(sc.Pools) == 0 {
		return c.at("pools").fail("must list at least one pool")
	}
	poolNames := map[string]bool{}
	workerIDs := 0
	for i := range sc.Pools {
		p := &sc.Pools[i]
		pc := c.at("pools", i)
		if p.Name == "" {
			return pc.at("name").fail("is required")
		}
		if poolNames[p.Name] {
			return pc.at("name").fail("pool %q is defined twice", p.Name)
		}
		poolNames[p.Name] = true
		names := map[string]bool{}
		for j := range p.Workers {
			if err := p.Workers[j].check(pc.at("workers", j), names); err != nil {
				return err
			}
			workerIDs += p.Workers[j].Count
			if workerIDs > maxWorkers {
				return pc.at("workers", j, "count").fail("brings the scenario's workers past %d, the most a run may simulate", maxWorkers)
			}
		}
		if len(p.Clients) == 0 {
			return pc.at("clients").fail("must list at least one client")
		}
		clients := map[string]bool{}
		for j := range p.Clients {
			if err := p.Clients[j].check(pc.at("clients", j), clients, spaces); err != nil {
				return err
			}
		}
	}
	if workerIDs == 0 {
		return c.at("pools").fail("no pool has a worker: nothing would ever run")
	}
	if n := sc.expectedJobs(); n > maxExpectedJobs {
		return c.at("pools").fail("the streams would submit about %.3g jobs over the duration, more than a run may simulate (%d): shorten the duration or space the arrivals", n, maxExpectedJobs)
	}
	return nil
}

// expectedJobs is how many jobs the scenario's timed streams (poisson,
// periodic, diurnal) submit on average; closed and head streams follow
// the run, and a jobs limit caps a stream.
func (sc *Scenario) expectedJobs() float64 {
	total := 0.0
	for _, p := range sc.Pools {
		for _, cl := range p.Clients {
			for _, s := range cl.Streams {
				gap := s.Arrivals.Mean
				if s.Arrivals.Process == "periodic" {
					gap = s.Arrivals.Every
				}
				if gap <= 0 {
					continue
				}
				span := sc.Duration - s.Start
				if s.Stop > 0 {
					span = min(s.Stop, sc.Duration) - s.Start
				}
				n := max(0, span.Seconds()) / gap.Seconds() * s.Batch.MeanValue()
				if s.Jobs > 0 {
					n = min(n, float64(s.Jobs))
				}
				total += n
			}
		}
	}
	return total
}

var workerEventKinds = []string{"disconnect", "crash", "pause", "drain", "force-pause", "hang", "prune"}

func (w *WorkerSpec) check(c *checker, names map[string]bool) error {
	if w.Name == "" {
		return c.at("name").fail("is required")
	}
	if w.Count == 0 {
		w.Count = 1
	}
	if w.Count < 0 || w.Count > maxWorkers {
		return c.at("count").fail("must be from 1 to %d", maxWorkers)
	}
	for _, n := range w.Names() {
		if names[n] {
			return c.at("name").fail("worker %q is defined twice in the pool", n)
		}
		names[n] = true
	}
	if w.Capacity < 1 || w.Capacity > maxCapacity {
		return c.at("capacity").fail("must be from 1 to %d (jobs it runs at once)", maxCapacity)
	}
	if w.Speed == 0 {
		w.Speed = 1
	}
	if !finiteIn(w.Speed, 1e-9, math.MaxFloat64) {
		return c.at("speed").fail("must be more than 0")
	}
	if w.Cache < 0 || w.Cache > maxCapacity {
		return c.at("cache").fail("must be 0 (unbounded) or up to %d", maxCapacity)
	}
	for i, e := range w.Events {
		if !slices.Contains(workerEventKinds, e.Kind) {
			return c.at("events", i, "kind").fail("%q is not one of %s", e.Kind, strings.Join(workerEventKinds, ", "))
		}
		if e.Kind == "hang" && e.For <= 0 {
			return c.at("events", i, "for").fail("a hang needs a length: how long the worker stops")
		}
	}
	if f := w.Failures; f != nil {
		if f.Kind != "disconnect" && f.Kind != "crash" {
			return c.at("failures", "kind").fail("%q is not one of disconnect, crash", f.Kind)
		}
		if f.MTBF <= 0 {
			return c.at("failures", "mtbf").fail("must be more than 0")
		}
		if f.Downtime.Kind == "" {
			return c.at("failures", "downtime").fail("is required (e.g. 10m)")
		}
	}
	return nil
}

// Names are the names of the workers the spec makes.
func (w *WorkerSpec) Names() []string {
	if w.Count <= 1 {
		return []string{w.Name}
	}
	out := make([]string, w.Count)
	for i := range out {
		out[i] = w.Name + "-" + strconv.Itoa(i+1)
	}
	return out
}

func (cl *ClientSpec) check(c *checker, names, spaces map[string]bool) error {
	if cl.Name == "" {
		return c.at("name").fail("is required")
	}
	if names[cl.Name] {
		return c.at("name").fail("client %q is defined twice in the pool", cl.Name)
	}
	names[cl.Name] = true
	if cl.Rate == 0 {
		cl.Rate = 1
	}
	if !finiteIn(cl.Rate, core.MinRate, core.MaxRate) {
		return c.at("rate").fail("must be a number from %g to %g (rates are relative shares)", core.MinRate, core.MaxRate)
	}
	inline := cl.StreamSpec.Arrivals != nil
	switch {
	case inline && len(cl.Streams) > 0:
		return c.at("streams").fail("give either streams or one stream's fields inline, not both")
	case inline:
		cl.Streams = []StreamSpec{cl.StreamSpec}
		cl.StreamSpec = StreamSpec{}
		return cl.Streams[0].check(c, cl.Name, spaces)
	case len(cl.Streams) == 0:
		return c.at("arrivals").fail("is required (or streams)")
	}
	for i := range cl.Streams {
		if err := cl.Streams[i].check(c.at("streams", i), cl.Name, spaces); err != nil {
			return err
		}
	}
	return nil
}

var arrivalProcesses = []string{"poisson", "periodic", "diurnal", "closed", "head"}

func (s *StreamSpec) check(c *checker, client string, spaces map[string]bool) error {
	a := s.Arrivals
	ac := c.at("arrivals")
	if a == nil {
		return ac.fail("is required")
	}
	switch a.Process {
	case "poisson":
		if a.Mean <= 0 {
			return ac.at("mean").fail("must be more than 0 (the mean time between batches)")
		}
	case "periodic":
		if a.Every <= 0 {
			return ac.at("every").fail("must be more than 0")
		}
	case "diurnal":
		if a.Mean <= 0 {
			return ac.at("mean").fail("must be more than 0 (the mean time between batches)")
		}
		if !finiteIn(a.Amplitude, 0, 1) {
			return ac.at("amplitude").fail("must be between 0 and 1")
		}
	case "closed":
	case "head":
		if !spaces[a.Space] {
			return ac.at("space").fail("hint space %q is not defined in hint_spaces", a.Space)
		}
	default:
		return ac.at("process").fail("%q is not one of %s", a.Process, strings.Join(arrivalProcesses, ", "))
	}
	if s.Batch == nil {
		one := FixedCount(1)
		s.Batch = &one
	}
	if s.Batch.N > maxBatch || s.Batch.Max > maxBatch || s.Batch.Mean > maxBatch || (len(s.Batch.Values) > 0 && slices.Max(s.Batch.Values) > maxBatch) {
		return c.at("batch").fail("must hold at most %d jobs", maxBatch)
	}
	if a.Process == "closed" && a.Pause == 0 && s.Batch.canBeZero() {
		// Empty batches back to back would never let virtual time move.
		return c.at("batch").fail("a closed stream with no pause needs batches of at least one job")
	}
	if !finiteIn(s.Urgent, 0, 1) {
		return c.at("urgent").fail("must be a share between 0 and 1")
	}
	if s.Jobs < 0 {
		return c.at("jobs").fail("must be 0 (no limit) or more")
	}
	if s.Stop != 0 && s.Stop <= s.Start {
		return c.at("stop").fail("must be after start")
	}
	if s.Hints == nil {
		s.Hints = &HintSpec{Kind: "none"}
	}
	if err := s.Hints.check(c.at("hints"), client, spaces); err != nil {
		return err
	}
	if cp := s.Cancel; cp != nil {
		if !finiteIn(cp.Share, 0, 1) {
			return c.at("cancel", "share").fail("must be between 0 and 1")
		}
		if cp.After.Kind == "" {
			return c.at("cancel", "after").fail("is required (e.g. 5m)")
		}
	}
	if d := s.Durations; d != nil && (d.Cached.Kind == "" || d.Uncached.Kind == "") {
		return c.at("durations").fail("needs both cached and uncached")
	}
	return nil
}

var hintKinds = []string{"none", "fixed", "uniform", "zipf", "hot", "rolling"}

func (h *HintSpec) check(c *checker, client string, spaces map[string]bool) error {
	if h.Prefix == "" {
		h.Prefix = client
	}
	switch h.Kind {
	case "none":
	case "fixed":
		if len(h.Values) == 0 {
			return c.at("values").fail("must list at least one hint")
		}
	case "uniform", "zipf", "hot":
		if h.Count < 1 || h.Count > maxHints {
			return c.at("count").fail("must be from 1 to %d (how many distinct hints)", maxHints)
		}
		if h.Kind == "zipf" && !(h.S > 1) {
			return c.at("s").fail("the Zipf exponent must be more than 1")
		}
		if h.Kind == "hot" && !finiteIn(h.Share, 0, 1) {
			return c.at("share").fail("must be between 0 and 1 (the hot hint's share of jobs)")
		}
	case "rolling":
		if !spaces[h.Space] {
			return c.at("space").fail("hint space %q is not defined in hint_spaces", h.Space)
		}
		if h.Packages < 1 {
			return c.at("packages").fail("must be 1 or more")
		}
		if h.Pick == "" {
			h.Pick = "random"
		}
		if h.Pick != "random" && h.Pick != "first" {
			return c.at("pick").fail("%q is not one of random, first", h.Pick)
		}
	default:
		return c.at("kind").fail("%q is not one of %s", h.Kind, strings.Join(hintKinds, ", "))
	}
	return nil
}
