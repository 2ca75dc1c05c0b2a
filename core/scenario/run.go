package scenario

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/ocluster-go/ocluster/core"
)

// Options tune a run.
type Options struct {
	// Policy names the core policy of a script that does not choose its
	// own with a "policy" line; empty means the core's default.
	Policy string
	// CheckInvariants runs the core's CheckInvariants after every command
	// and checks that the reported changes add up to the core's snapshot.
	CheckInvariants bool
}

// Result is the outcome of running one script.
type Result struct {
	// Actual is the script re-rendered with the actual output below each
	// command, in the script's own format.
	Actual string
	// Match reports whether every command printed what the script expects
	// (trailing spaces aside).
	Match bool
	// Diff is a unified diff from the script to Actual when they differ.
	Diff string
}

// Run executes a script. name is used in the diff header. A script that
// cannot be run (a syntax error, an unknown command, a broken invariant) is
// an error naming the line.
func Run(name, src string, opts Options) (*Result, error) {
	s, err := parse(src)
	if err != nil {
		return nil, err
	}
	r := newRunner(opts)
	outputs := map[*command][]string{}
	for _, c := range s.commands {
		out, err := r.exec(c)
		if err != nil {
			return nil, err
		}
		if err := r.settle(c); err != nil {
			return nil, err
		}
		outputs[c] = out
	}

	var actual strings.Builder
	match := true
	for _, l := range s.lines {
		if l.kind == lineExpect {
			continue
		}
		actual.WriteString(l.text)
		actual.WriteByte('\n')
		if c := s.byLine[l.n]; c != nil {
			out := outputs[c]
			if !equalLines(out, c.expect) {
				match = false
			}
			for _, o := range renderOutput(out) {
				actual.WriteString(o)
				actual.WriteByte('\n')
			}
		}
	}
	res := &Result{Actual: actual.String(), Match: match}
	if !match {
		res.Diff = unifiedDiff(name, name+" (actual)", scriptDiff(s, outputs))
	}
	return res, nil
}

func equalLines(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if strings.TrimRight(a[i], " \t") != strings.TrimRight(b[i], " \t") {
			return false
		}
	}
	return true
}

// pop is the outcome of one pop, as "state W" reports it.
type pop struct {
	job      string
	pending  bool
	finished bool
}

func (p *pop) String() string {
	switch {
	case p.pending:
		return "pending"
	case p.finished:
		return "finished"
	}
	return p.job
}

type runner struct {
	opts   Options
	policy string        // the script's, else opts.Policy
	set    core.Override // the script's settings for the policy
	now    float64
	costs  core.Costs
	pool   string
	sched  *core.Scheduler
	p      *core.Pool
	stored core.Snapshot

	handles map[string]*core.Worker // the latest connection of each worker name
	latest  map[string]*pop         // the latest pop of each worker name
	waiting map[*core.Worker]*pop   // pops that are pending
	jobs    map[[2]string]*core.Ticket
	// paces say how many times as long as a job's takes= each worker
	// runs it, for the ideal policy's oracle; 1 when not given.
	paces map[string]float64
}

func newRunner(opts Options) *runner {
	return &runner{
		opts:   opts,
		policy: opts.Policy,
		now:    1.0,
		costs:  core.DefaultCosts,
		paces:  map[string]float64{},
	}
}

// start builds a new instance over the store; line is the command's, for
// the error of a policy or settings the core refuses.
func (r *runner) start(line int) error {
	s, err := core.New(core.Config{
		Pools:    []string{r.pool},
		Policy:   r.policy,
		Costs:    r.costs,
		Override: r.set,
		Oracle:   oracle{r},
		Clock:    func() float64 { return r.now },
	}, &r.stored)
	if err != nil {
		return fmt.Errorf("line %d: %w", line, err)
	}
	r.sched = s
	r.p, _ = s.Pool(r.pool)
	r.handles = map[string]*core.Worker{}
	r.latest = map[string]*pop{}
	r.waiting = map[*core.Worker]*pop{}
	r.jobs = map[[2]string]*core.Ticket{}
	return nil
}

// settle stores the changes the command reported and checks the core.
func (r *runner) settle(c *command) error {
	if r.sched == nil {
		return nil
	}
	rd := r.sched.Ready()
	for _, ch := range rd.Changes {
		r.stored.Apply(ch)
	}
	r.sched.Advance(core.Ready{Changes: rd.Changes})
	if !r.opts.CheckInvariants {
		return nil
	}
	if err := r.sched.CheckInvariants(); err != nil {
		return fmt.Errorf("line %d: after %q the core is inconsistent: %w", c.line, strings.Join(c.words, " "), err)
	}
	if snap := r.sched.Snapshot(); !reflect.DeepEqual(snap, r.stored) {
		return fmt.Errorf("line %d: after %q the reported changes add up to %+v but the core holds %+v",
			c.line, strings.Join(c.words, " "), r.stored, snap)
	}
	return nil
}

func (r *runner) exec(c *command) ([]string, error) {
	name := c.words[0]
	if name == "policy" {
		return nil, r.choosePolicy(c)
	}
	if name == "pool" {
		a, err := parseArgs(c, 1, false, nil, nil)
		if err != nil {
			return nil, err
		}
		if r.sched != nil {
			return nil, fmt.Errorf("line %d: the pool is already created; a script drives one pool", c.line)
		}
		r.pool = a.pos[0]
		return nil, r.start(c.line)
	}
	if r.sched == nil {
		return nil, fmt.Errorf("line %d: %q before \"pool NAME\": a script starts by creating its pool", c.line, name)
	}
	h, ok := commands[name]
	if !ok {
		return nil, fmt.Errorf("line %d: unknown command %q (known: %s)", c.line, name, commandNames())
	}
	a, err := parseArgs(c, h.positional, h.variadic, h.keys, h.flags)
	if err != nil {
		return nil, err
	}
	return h.run(r, a)
}

type handler struct {
	positional int
	keys       []string
	flags      []string
	run        func(r *runner, a *args) ([]string, error)
	// variadic takes any number of further positional words.
	variadic bool
}

var commands map[string]handler

func init() {
	commands = map[string]handler{
		"costs":      {2, nil, nil, (*runner).costsCmd, false},
		"restart":    {0, settingKeys, nil, (*runner).restart, false},
		"register":   {1, []string{"capacity", "pace"}, nil, (*runner).register, false},
		"activate":   {1, []string{"reason"}, nil, func(r *runner, a *args) ([]string, error) { return r.setActive(a, true) }, false},
		"deactivate": {1, []string{"reason"}, nil, func(r *runner, a *args) ([]string, error) { return r.setActive(a, false) }, false},
		"shutdown":   {1, nil, nil, (*runner).shutdown, false},
		"release":    {1, nil, nil, (*runner).release, false},
		"pop":        {1, nil, nil, (*runner).pop, false},
		"finish":     {1, nil, nil, (*runner).finish, false},
		"yield":      {0, nil, nil, (*runner).yield, false},
		"client":     {1, nil, nil, (*runner).client, false},
		"rate":       {2, nil, nil, (*runner).rate, false},
		"submit":     {2, []string{"hint", "estimate", "takes"}, []string{"urgent"}, (*runner).submit, false},
		"cancel":     {2, nil, nil, (*runner).cancel, false},
		"advance":    {1, nil, nil, (*runner).advance, false},
		"state":      {1, nil, nil, (*runner).state, false},
		"flush":      {1, nil, nil, (*runner).flush, false},
		"forget":     {1, nil, nil, (*runner).forget, false},
		"show":       {0, nil, nil, (*runner).show, false},
		"heartbeat":  {1, nil, nil, (*runner).heartbeat, false},
		"expire":     {0, nil, nil, (*runner).expire, false},
		"lose":       {1, nil, nil, (*runner).lose, false},
		"requeue":    {1, nil, []string{"forced"}, (*runner).requeue, false},
		"prune":      {1, nil, nil, (*runner).prune, true},
		"job":        {2, nil, nil, (*runner).job, false},
		"stats":      {0, nil, nil, (*runner).stats, false},
	}
}

func commandNames() string {
	names := []string{"policy", "pool"}
	for n := range commands {
		names = append(names, n)
	}
	slices.Sort(names)
	return strings.Join(names, ", ")
}

func errorLine(text string) []string { return []string{"error: " + text} }

func finite(text string) (float64, bool) {
	x, err := strconv.ParseFloat(text, 64)
	return x, err == nil && !math.IsNaN(x) && !math.IsInf(x, 0)
}

func (r *runner) costsCmd(a *args) ([]string, error) {
	cached, ok1 := finite(a.pos[0])
	uncached, ok2 := finite(a.pos[1])
	if !ok1 || !ok2 {
		return nil, fmt.Errorf("line %d: costs takes two numbers of seconds, got %q %q", a.line, a.pos[0], a.pos[1])
	}
	c := core.Costs{Cached: cached, Uncached: uncached}
	if err := r.sched.SetCosts(c); err != nil {
		return nil, fmt.Errorf("line %d: %w", a.line, err)
	}
	r.costs = c
	return nil, nil
}

// restart starts a new instance over the store, under the script's
// policy with the settings given here replacing its own.
func (r *runner) restart(a *args) ([]string, error) {
	if err := applySettings(&r.set, a); err != nil {
		return nil, err
	}
	return nil, r.start(a.line)
}

func (r *runner) register(a *args) ([]string, error) {
	text, ok := a.opts["capacity"]
	if !ok {
		return nil, fmt.Errorf("line %d: register needs capacity=N", a.line)
	}
	capacity, err := strconv.Atoi(text)
	if err != nil {
		return nil, fmt.Errorf("line %d: capacity=%q is not a whole number", a.line, text)
	}
	pace := 1.0
	if text, ok := a.opts["pace"]; ok {
		if pace, ok = finite(text); !ok || pace <= 0 {
			return nil, fmt.Errorf("line %d: pace=%q is not a number greater than 0", a.line, text)
		}
	}
	w, err := r.p.Register(a.pos[0], capacity)
	switch {
	case errors.Is(err, core.ErrNameTaken):
		return errorLine("name taken"), nil
	case errors.Is(err, core.ErrInvalidCapacity):
		return errorLine("invalid capacity"), nil
	case err != nil:
		return nil, fmt.Errorf("line %d: %w", a.line, err)
	}
	r.handles[w.Name()] = w
	r.paces[w.Name()] = pace
	return nil, nil
}

// missing explains why a worker has no connection.
func (r *runner) missing(name string) []string {
	if r.p.Known(name) {
		return errorLine("not connected")
	}
	return errorLine("unknown worker")
}

func (r *runner) setActive(a *args, active bool) ([]string, error) {
	name := a.pos[0]
	reason := a.opts["reason"]
	switch reason {
	case "", "worker":
		w := r.p.Worker(name)
		if w == nil {
			return r.missing(name), nil
		}
		return nil, w.SetActive(active)
	case "admin":
		if err := r.p.SetAdminPause(name, !active, false); errors.Is(err, core.ErrUnknownWorker) {
			return errorLine("unknown worker"), nil
		} else if err != nil {
			return nil, fmt.Errorf("line %d: %w", a.line, err)
		}
		return nil, nil
	}
	return nil, fmt.Errorf("line %d: reason=%q: the reason is worker or admin", a.line, reason)
}

func (r *runner) shutdown(a *args) ([]string, error) {
	w := r.p.Worker(a.pos[0])
	if w == nil {
		return r.missing(a.pos[0]), nil
	}
	return nil, w.Shutdown()
}

// handle is the worker's current connection, or its last one once
// released (whose pops then fail as finished).
func (r *runner) handle(name string) *core.Worker {
	if w := r.p.Worker(name); w != nil {
		return w
	}
	return r.handles[name]
}

func (r *runner) release(a *args) ([]string, error) {
	w := r.handle(a.pos[0])
	if w == nil {
		return r.missing(a.pos[0]), nil
	}
	w.Release()
	return nil, nil
}

func (r *runner) pop(a *args) ([]string, error) {
	w := r.handle(a.pos[0])
	if w == nil {
		return r.missing(a.pos[0]), nil
	}
	if w.PopPending() {
		return errorLine("pop already pending"), nil
	}
	p := &pop{}
	r.latest[w.Name()] = p
	r.record(w, p, func() (*core.Ticket, error) { return w.Pop() })
	return nil, nil
}

// record runs a pop (or a resumed one) and notes its outcome in p.
func (r *runner) record(w *core.Worker, p *pop, run func() (*core.Ticket, error)) {
	t, err := run()
	delete(r.waiting, w)
	*p = pop{}
	switch {
	case errors.Is(err, core.ErrWorkerReleased):
		p.finished = true
	case t != nil:
		p.job = t.Job().Label
	default:
		p.pending = true
		r.waiting[w] = p
	}
}

func (r *runner) finish(a *args) ([]string, error) {
	w, t, why := r.oldestRunning(a.pos[0])
	if why != nil {
		return why, nil
	}
	return nil, w.Finish(t)
}

// oldestRunning is the named worker's oldest running job, or the line that
// says why there is none.
func (r *runner) oldestRunning(name string) (*core.Worker, *core.Ticket, []string) {
	w := r.handle(name)
	if w == nil {
		return nil, nil, r.missing(name)
	}
	running := w.Running()
	if len(running) == 0 {
		return nil, nil, errorLine("nothing running")
	}
	return w, running[0], nil
}

func (r *runner) yield(*args) ([]string, error) {
	for rd := r.sched.Ready(); len(rd.Woken) > 0; rd = r.sched.Ready() {
		for _, w := range rd.Woken {
			p := r.waiting[w]
			if p == nil {
				p = &pop{}
			}
			r.record(w, p, w.Resume)
		}
		r.sched.Advance(core.Ready{Woken: rd.Woken})
	}
	return nil, nil
}

func (r *runner) client(a *args) ([]string, error) {
	return nil, r.p.Touch(a.pos[0])
}

func (r *runner) rate(a *args) ([]string, error) {
	rate, ok := finite(a.pos[1])
	if !ok {
		return errorLine("invalid rate"), nil
	}
	if err := r.p.SetRate(a.pos[0], rate); errors.Is(err, core.ErrInvalidRate) {
		return errorLine("invalid rate"), nil
	} else if err != nil {
		return nil, fmt.Errorf("line %d: %w", a.line, err)
	}
	return nil, nil
}

func (r *runner) submit(a *args) ([]string, error) {
	client, job := a.pos[0], a.pos[1]
	j := core.Job{Label: job, Hint: a.opts["hint"]}
	if text, ok := a.opts["estimate"]; ok {
		if j.Estimate, ok = finite(text); !ok || j.Estimate <= 0 {
			return nil, fmt.Errorf("line %d: estimate=%q is not a number of seconds greater than 0", a.line, text)
		}
	}
	// The oracle reads a job's true run time from its payload, which the
	// core never looks at.
	if text, ok := a.opts["takes"]; ok {
		takes, ok := finite(text)
		if !ok || takes < 0 {
			return nil, fmt.Errorf("line %d: takes=%q is not a number of seconds, 0 or more", a.line, text)
		}
		j.Payload = takes
	}
	t, err := r.p.Submit(client, j, a.flags["urgent"])
	if err != nil {
		return nil, fmt.Errorf("line %d: %w", a.line, err)
	}
	r.jobs[[2]string{client, job}] = t
	return nil, nil
}

func (r *runner) cancel(a *args) ([]string, error) {
	t := r.jobs[[2]string{a.pos[0], a.pos[1]}]
	if t == nil {
		return errorLine("unknown job"), nil
	}
	switch err := r.p.Cancel(t); {
	case err == nil:
		return []string{"cancelled"}, nil
	case errors.Is(err, core.ErrNotQueued):
		return []string{"not queued"}, nil
	default:
		return nil, fmt.Errorf("line %d: %w", a.line, err)
	}
}

func (r *runner) advance(a *args) ([]string, error) {
	d, ok := finite(a.pos[0])
	if !ok || d < 0 {
		return nil, fmt.Errorf("line %d: advance takes a number of seconds, 0 or more, got %q", a.line, a.pos[0])
	}
	// Past this the clock loses the precision of a millisecond, and the
	// policies' arithmetic its meaning.
	const maxClock = 1e10 // seconds, some 300 years
	if r.now+d > maxClock {
		return nil, fmt.Errorf("line %d: advance %s takes the clock past %g seconds (some 300 years), further than a scenario may go", a.line, a.pos[0], maxClock)
	}
	r.now += d
	return nil, nil
}

func (r *runner) state(a *args) ([]string, error) {
	p := r.latest[a.pos[0]]
	if p == nil {
		return []string{"none"}, nil
	}
	return []string{p.String()}, nil
}

func (r *runner) flush(a *args) ([]string, error) {
	name := a.pos[0]
	var out []string
	for {
		w := r.handle(name)
		if w == nil {
			return append(out, r.missing(name)...), nil
		}
		if w.PopPending() {
			return append(out, errorLine("pop already pending")...), nil
		}
		p := &pop{}
		r.latest[name] = p
		r.record(w, p, w.Pop)
		if _, err := r.yield(a); err != nil {
			return nil, err
		}
		if p.pending {
			w.Release()
			return out, nil
		}
		out = append(out, "Flush "+p.String())
		if p.finished {
			return out, nil
		}
	}
}

func (r *runner) forget(a *args) ([]string, error) {
	switch err := r.p.Forget(a.pos[0]); {
	case err == nil:
		return []string{"ok"}, nil
	case errors.Is(err, core.ErrStillConnected):
		return []string{"still connected"}, nil
	case errors.Is(err, core.ErrUnknownWorker):
		return []string{"unknown worker"}, nil
	default:
		return nil, fmt.Errorf("line %d: %w", a.line, err)
	}
}

func (r *runner) show(*args) ([]string, error) {
	text := r.p.Show(core.ShowOptions{Cached: true})
	return strings.Split(strings.TrimSuffix(text, "\n"), "\n"), nil
}
